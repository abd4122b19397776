#!/usr/bin/env python3
"""Run every benchmark under bench/ with modest sizes and print ONE table of figures and ratios.

Every ratio is against a baseline measured in the same run: the bare stdlib FastAGI server (on
asyncio's default loop, and on uvloop), panoramisk's bare AMI parsing, raw sqlite3 executemany;
see each bench's --help for the method. Then the figures without a baseline, each against its
target: the report timings (bench/report_bench.py, small database: the rollups' backfill, then the
summary and stats from the rollups against the rows), the web console's page times
(bench/web_bench.py, against its stylesheet from the same server), 1,000 paced sessions open at
100 new calls a second (bench/scale_bench.py: p99 turnaround and the RSS at 1,000 open calls), the
RSS over many sessions (bench/rss_bench.py) and the highest sustained new-call rate found with
`simulate --workers` against `run` (bench/load_bench.py). About 12 minutes on 2 cores.
``make bench`` calls this.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agi_bench  # noqa: E402
import ami_bench  # noqa: E402
import load_bench  # noqa: E402
import report_bench  # noqa: E402
import rss_bench  # noqa: E402
import scale_bench  # noqa: E402
import store_bench  # noqa: E402
import web_bench  # noqa: E402

AMI_TARGET = 50_000  # events/s through client -> tracker -> store (issue 15)
STORE_TARGET = 10_000  # durable menu records/s, store burst (issue 15)


def machine() -> str:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop
        uv = f"uvloop {uvloop.__version__}"
    except ImportError:
        uv = "no uvloop"
    return (f"{os.cpu_count()} CPU ({model}), Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"{uv}, {platform.system()} {platform.release()}")


def report_timings(calls: int, keep: Path | None) -> dict:
    """bench/report_bench.py's figures for one generated database of ``calls`` calls (kept in
    ``keep`` and reused when given): the backfill (s), then ms from the rollups and the rows."""
    import shutil
    import tempfile

    work = keep or Path(tempfile.mkdtemp(prefix="report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        path, _ = report_bench.database(work, calls)
        cfg_path, cfg = report_bench.config(work, path)
        backfill = report_bench.backfill(path, cfg)
        out = report_bench.measure(path, cfg_path, cfg)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return {**out, "backfill": backfill}


def _rollup_cost(ami_rows: list[dict], ami_info: dict, store_rows: list[dict]) -> str:
    """What keeping the rollups costs the writer, from the with/without variants of the same run."""
    ami = {r["variant"]: r for r in ami_rows}
    store = {r["variant"]: r for r in store_rows}
    parts = []
    kept, bare = ami.get("client + tracker + Store"), ami.get("client + tracker + Store, no rollups")
    if kept and bare:
        per_call = (kept["us_per_event"] - bare["us_per_event"]) * ami_info["events"] / ami_info["calls"]
        parts.append(f"AMI chain {per_call:,.0f} us CPU per call ({kept['events_per_s'] / bare['events_per_s']:.2f}x "
                     "the events/s without)")
    kept, bare = store.get("Store burst"), store.get("Store burst, no rollups")
    if kept and bare:
        parts.append(f"menu records {kept['cpu_us'] - bare['cpu_us']:,.0f} us CPU per record "
                     f"({kept['records_per_s'] / bare['records_per_s']:.2f}x the records/s without)")
    return "; ".join(parts)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="repetitions of every bench (medians printed)")
    p.add_argument("--agi-conc", default="100,1000", help="FastAGI concurrencies, replies at once (saturation)")
    p.add_argument("--agi-seconds", type=float, default=4.0, help="length of each saturated FastAGI run")
    p.add_argument("--ami-calls", type=int, default=250, help="calls in the AMI stream")
    p.add_argument("--store-records", type=int, default=10000, help="menu records per store variant")
    p.add_argument("--report-calls", type=int, default=100000, help="calls in the report bench's database (0: skip)")
    p.add_argument("--web-calls", type=int, default=100000, help="calls in the web bench's database (0: skip)")
    p.add_argument("--web-requests", type=int, default=10, help="timed requests per page of the web bench")
    p.add_argument("--keep", type=Path, help="directory to keep (and reuse) the report and web databases in "
                   "(make bench: ~/.cache/asterisk-bridge-bench)")
    p.add_argument("--target-seconds", type=float, default=60.0,
                   help="measured seconds of the paced run, 1,000 open at 100 new calls/s (0: skip)")
    p.add_argument("--target-rate", type=float, default=100.0, help="new calls a second of the paced run")
    p.add_argument("--target-open", type=int, default=1000, help="sessions open at once in the paced run")
    p.add_argument("--rss-sessions", type=int, default=100_000,
                   help="menu sessions of the RSS growth run (the issue's 1,000,000 takes about ten minutes; 0: skip)")
    p.add_argument("--load-seconds", type=float, default=20.0, help="seconds of each load search step (0: skip)")
    p.add_argument("--load-workers", type=int, default=2, help="simulate --workers of the load search")
    p.add_argument("--load-rates", help="comma-separated rates to step through instead of the search")
    args = p.parse_args(argv)
    started = time.monotonic()
    gen = "uvloop" if agi_bench.use_uvloop() else "asyncio"
    load_before = os.getloadavg()

    print("FastAGI, saturation ...", file=sys.stderr)
    sat_args = agi_bench.parse_args(["--conc", args.agi_conc, "--seconds", str(args.agi_seconds),
                                     "--reps", str(args.reps), "--uvloop"])
    saturation = agi_bench.run(sat_args)
    import asyncio

    asyncio.set_event_loop_policy(None)  # AMI and store benches run on the default loop, as standalone
    print("AMI ...", file=sys.stderr)
    ami_rows, ami_info = ami_bench.bench(args.ami_calls, args.reps, verbose=False)
    print("Store ...", file=sys.stderr)
    store_rows = store_bench.bench(args.store_records, args.reps, verbose=False)
    report = None
    if args.report_calls:
        print("Report ...", file=sys.stderr)
        report = report_timings(args.report_calls, args.keep)
    web = None
    if args.web_calls:
        print("Web console ...", file=sys.stderr)
        web = web_bench.bench(args.web_calls, args.web_requests, args.keep)[0]
    scale_target = None
    if args.target_seconds:
        print("Paced: 1,000 open, 100 new calls/s ...", file=sys.stderr)
        if gen == "uvloop":
            agi_bench.use_uvloop()
        scale_target = scale_bench.bench(args.target_seconds, args.target_rate, args.target_open, verbose=False)
    rss = None
    if args.rss_sessions:
        print(f"RSS over {args.rss_sessions:,} sessions ...", file=sys.stderr)
        rss = rss_bench.bench(args.rss_sessions, verbose=False)
    asyncio.set_event_loop_policy(None)
    load = None
    if args.load_seconds:
        print("Load search (simulate --workers against run) ...", file=sys.stderr)
        load = load_bench.bench(args.load_seconds, args.load_workers, rates=args.load_rates)
    load_after = os.getloadavg()

    lines = [
        f"Machine: {machine()}",
        f"Command: python bench/run_all.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
        f"Load average before / after: {load_before[0]:.2f} / {load_after[0]:.2f} (2 cores shared with others)",
        f"Medians of {args.reps} interleaved repetitions; ratios against the baseline of the same run; "
        f"FastAGI server CPU from /proc/PID/stat; load generator on {gen}.",
        "",
        "| bench | case | variant | figure | ratio vs baseline | p50 / p99 / max turnaround ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    title = f"FastAGI saturated ({args.agi_seconds:g} s runs, `python bench/agi_bench.py --uvloop`)"
    for r in saturation:
        ratio = f"{r['ratio']:.2f} vs bare (asyncio)"
        if r["server"].endswith("+uvloop"):
            ratio += f", {r['ratio_same_loop']:.2f} vs bare+uvloop"
        if r["server"] == "bridge+uvloop":
            ratio += f" (target <= 1.0 vs bare: {'met' if r['ratio'] <= 1.0 else 'NOT met'})"
        lines.append(
            f"| {title} | conc {r['conc']}, replies at once | {r['server']} | {r['cpu_us']:,.0f} us CPU/session, "
            f"{r['calls_per_s']:,.0f} calls/s | {ratio} | {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.1f} "
            f"| {r['errors']} |")
    for r in ami_rows:
        target = ""
        if r["variant"] == "client + tracker + Store":
            target = f" (target {AMI_TARGET // 1000}k: {'met' if r['events_per_s'] >= AMI_TARGET else 'NOT met'})"
        lines.append(f"| AMI ({ami_info['calls']} calls, {ami_info['events']:,} events, `python bench/ami_bench.py`) "
                     f"| parse/track/store | {r['variant']} | {r['events_per_s']:,.0f} events/s{target} "
                     f"| {r['ratio']:.2f} | | {r['errors']} |")
    for r in store_rows:
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}"
        target = ""
        if r["variant"] == "Store burst":
            target = f" (target {STORE_TARGET // 1000}k: {'met' if r['records_per_s'] >= STORE_TARGET else 'NOT met'})"
        lines.append(f"| Store ({args.store_records:,} records, {r['steps']} steps each, `python bench/store_bench.py`) "
                     f"| menu records | {r['variant']} | {r['records_per_s']:,.0f} records/s{target}, "
                     f"{r['cpu_us']:,.0f} us CPU/record | {ratio} | | {r['errors']} |")
    cost = _rollup_cost(ami_rows, ami_info, store_rows)
    if cost:
        lines.append(f"| Rollups' write cost (same runs) | kept in the writer's transaction | with - without their "
                     f"triggers | {cost} | | | 0 |")
    if report is not None:
        title = f"Report ({args.report_calls:,} calls, `python bench/report_bench.py --sizes {args.report_calls}`)"
        took = report["backfill"]
        lines.append(f"| {title} | backfill of an existing database | rollups.build (as db migrate) | {took:,.1f} s "
                     f"(target <= 300 s: {'met' if took <= 300 else 'NOT met'}) | | | 0 |")
        for name, case, target in (("summary", "daily summary", report_bench.SUMMARY_TARGET_MS),
                                   ("stats", "stats, 5 months", report_bench.STATS_TARGET_MS)):
            (first, warm), (rows_first, rows_warm) = report[name], report[name + "_rows"]
            verdict = "met" if max(first, warm) <= target else "NOT met"
            lines.append(f"| {title} | {case} | build_figures from the rollups | {first:,.1f} ms first (new process), "
                         f"{warm:,.1f} ms warm (target <= {target:g} ms: {verdict}) | {rows_warm / warm:,.0f}x faster "
                         f"than the rows | | {0 if report['same'] else 1} |")
            lines.append(f"| {title} | {case} | build_figures from the rows (baseline) | {rows_first:,.1f} ms first, "
                         f"{rows_warm:,.1f} ms warm | 1.00 | | 0 |")
        lines.append(f"| {title} | daily summary | render | {report['render']:,.1f} ms warm | | | 0 |")
    for r in web or ():
        target = "" if r is web[0] else (" (target 100 ms: met)" if r["p95"] <= web_bench.TARGET_MS
                                         else " (target 100 ms: NOT met)")
        lines.append(f"| Web console ({args.web_calls:,} calls) | {r['what']} | GET {r['path']} | "
                     f"p50 {r['p50']:,.1f} ms, p95 {r['p95']:,.1f} ms{target} | {r['ratio']:.1f} | | {r['errors']} |")
    if scale_target is not None:
        t = scale_target
        lines.append(
            f"| Paced, `python bench/scale_bench.py` ({t['seconds']:.0f} s measured) | {t['conc']:,} open, "
            f"{t['rate']:g} new calls/s, media {t['media_ms']:,.0f} ms | {t['server']} | "
            f"{t['new_calls_per_s']:,.1f} new calls/s, {t['open_mean']:,.0f} open, server CPU {t['server_cpu_pct']:.0f} %; "
            f"p99 < 2 ms: {'met' if t['met_2ms'] else 'NOT met'}; RSS at {t['conc']:,} open {t['peak_rss_mb']:.0f} MB "
            f"(target <= 150 MB: {'met' if t['peak_rss_mb'] <= 150 else 'NOT met'}) "
            f"| | {t['p50']:.2f} / {t['p99']:.2f} / {t['max']:.1f} | {t['errors']} |")
    if rss is not None:
        lines.append(
            f"| RSS growth, `python bench/rss_bench.py --sessions {args.rss_sessions}` | {rss['sessions']:,} sessions, "
            f"{rss['conc']} at a time | {rss['server']} | {rss['rss_warm_mb']:.1f} MB after the first tenth, "
            f"{rss['rss_end_mb']:.1f} MB at the end: {rss['growth_pct']:+.1f} % (target <= 10 %: "
            f"{'met' if rss['growth_pct'] <= 10 else 'NOT met'}), {rss['sessions'] / rss['seconds']:,.0f} sessions/s "
            f"| | | {rss['errors']} |")
    if load is not None:
        for st in load["steps"]:
            if "p99" not in st:
                lines.append(f"| Load search, `python bench/load_bench.py --seconds {args.load_seconds:g} --workers "
                             f"{args.load_workers}` | {st['rate']:g} new calls/s | run + simulate | ERROR "
                             f"{st.get('error', '?')[:80]} | | | 1 |")
                continue
            lines.append(
                f"| Load search, `python bench/load_bench.py --seconds {args.load_seconds:g} --workers "
                f"{args.load_workers}` | {st['rate']:g} new calls/s offered | run + simulate | {st['offered_per_s']:.1f} "
                f"new calls/s, bridge CPU {st['bridge_cpu_pct']:.0f} %, simulator {st['simulator_us_per_call']:,.0f} us "
                f"CPU/call, RSS {st['bridge_rss_mb']:.0f} MB: "
                f"{'pass' if st['passed'] else 'FAIL'} | | {st['p50']:.2f} / {st['p99']:.2f} / {st['max']:.1f} "
                f"| {st['errors']} |")
        best = load["best"]
        lines.append(f"| Load search | highest sustained (p99 < 10 ms, 0 errors) | run + simulate | "
                     f"{'%g new calls/s' % best if best is not None else 'no step passed'} | | | |")
    lines.append("")
    lines.append(f"Total run time {time.monotonic() - started:.0f} s.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
