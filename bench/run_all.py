#!/usr/bin/env python3
"""Run every benchmark under bench/ with modest sizes and print ONE table of figures and ratios.

Every ratio is against a baseline measured in the same run (bare FastAGI server, panoramisk's
bare AMI parsing, raw sqlite3 executemany); see each bench's --help for the method. Then the report
timings (bench/report_bench.py, small database), the web console's page times
(bench/web_bench.py, against its stylesheet from the same server) and the scale target of issue 6 (bench/scale_bench.py:
1,000 open menu sessions, 100 new calls a second, 60 s measured), which have no baseline. The whole
run takes about 6-7 minutes on 2 cores. ``make bench`` calls this.
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
import report_bench  # noqa: E402
import scale_bench  # noqa: E402
import store_bench  # noqa: E402
import web_bench  # noqa: E402


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


def report_timings(calls: int) -> dict:
    """bench/report_bench.py's figures for one generated database of ``calls`` calls (ms)."""
    import shutil
    import tempfile
    from datetime import date

    from asterisk_bridge.config import load_config
    from asterisk_bridge.report.build import build_figures
    from asterisk_bridge.report.render import render_summary

    sys.path.insert(0, str(report_bench.CONFIG.parent))
    from report_fixture import write_config

    work = Path(tempfile.mkdtemp(prefix="report-bench-"))
    try:
        path = work / "calls.db"
        report_bench.fill(path, calls)
        cfg = load_config(write_config(work, path))
        day = date(2025, 3, 12)
        summary = report_bench.timed(lambda: build_figures(path, cfg, day, day))
        figures = build_figures(path, cfg, day, day)
        render = report_bench.timed(lambda: render_summary(figures, cfg))[1]
        stats = report_bench.timed(lambda: build_figures(path, cfg, date(2025, 1, 1), date(2025, 5, 31),
                                                         context=False, notable=0))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"summary": summary, "render": render, "stats": stats}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="repetitions of every bench (medians printed)")
    p.add_argument("--agi-conc", default="1,100,1000", help="FastAGI concurrencies, replies at once (saturation)")
    p.add_argument("--agi-seconds", type=float, default=4.0, help="length of each saturated FastAGI run")
    p.add_argument("--scale-conc", type=int, default=1000, help="concurrent sessions of the paced scale run (0: skip)")
    p.add_argument("--scale-media-ms", type=float, default=1000.0, help="prompt pacing of the scale run")
    p.add_argument("--scale-seconds", type=float, default=12.0, help="length of each paced scale run")
    p.add_argument("--ami-calls", type=int, default=250, help="calls in the AMI stream")
    p.add_argument("--store-records", type=int, default=10000, help="menu records per store variant")
    p.add_argument("--report-calls", type=int, default=100000, help="calls in the report bench's database (0: skip)")
    p.add_argument("--web-calls", type=int, default=100000, help="calls in the web bench's database (0: skip)")
    p.add_argument("--web-requests", type=int, default=10, help="timed requests per page of the web bench")
    p.add_argument("--target-seconds", type=float, default=60.0,
                   help="measured seconds of the issue 6 scale target run (0: skip)")
    p.add_argument("--target-rate", type=float, default=100.0, help="new calls a second of the scale target run")
    p.add_argument("--target-open", type=int, default=1000, help="sessions open at once in the scale target run")
    args = p.parse_args(argv)
    started = time.monotonic()
    if agi_bench.use_uvloop():
        gen = "uvloop"
    else:
        gen = "asyncio"

    print("FastAGI, saturation ...", file=sys.stderr)
    sat_args = agi_bench.parse_args(["--conc", args.agi_conc, "--seconds", str(args.agi_seconds),
                                     "--reps", str(args.reps)])
    saturation = agi_bench.run(sat_args)
    scale = []
    if args.scale_conc:
        print("FastAGI, paced scale run ...", file=sys.stderr)
        scale_args = agi_bench.parse_args(["--conc", str(args.scale_conc), "--seconds", str(args.scale_seconds),
                                           "--media-ms", str(args.scale_media_ms), "--reps", str(args.reps)])
        scale = agi_bench.run(scale_args)
    import asyncio

    asyncio.set_event_loop_policy(None)  # AMI and store benches run on the default loop, as standalone
    print("AMI ...", file=sys.stderr)
    ami_rows, ami_info = ami_bench.bench(args.ami_calls, args.reps, verbose=False)
    print("Store ...", file=sys.stderr)
    store_rows = store_bench.bench(args.store_records, args.reps, verbose=False)
    report = None
    if args.report_calls:
        print("Report ...", file=sys.stderr)
        report = report_timings(args.report_calls)
    web = None
    if args.web_calls:
        print("Web console ...", file=sys.stderr)
        web = web_bench.bench(args.web_calls, args.web_requests)[0]
    scale_target = None
    if args.target_seconds:
        if gen == "uvloop":
            agi_bench.use_uvloop()
        scale_target = scale_bench.bench(args.target_seconds, args.target_rate, args.target_open)
        asyncio.set_event_loop_policy(None)

    lines = [
        f"Machine: {machine()}",
        f"Command: python bench/run_all.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
        f"Medians of {args.reps} interleaved repetitions; ratios against the baseline of the same run; "
        f"FastAGI server CPU from /proc/PID/stat; load generator on {gen}.",
        "",
        "| bench | case | variant | figure | ratio vs baseline | p50 / p99 / max turnaround ms | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for title, rows, label in ((f"FastAGI saturated ({args.agi_seconds:g} s runs)", saturation, "replies at once"),
                               (f"FastAGI paced ({args.scale_seconds:g} s runs)", scale,
                                f"media {args.scale_media_ms:g} ms")):
        for r in rows:
            lines.append(
                f"| {title} | conc {r['conc']}, {label} | {r['server']} | {r['cpu_us']:,.0f} us CPU/session, "
                f"{r['calls_per_s']:,.0f} calls/s | {r['ratio']:.2f} (CPU/session) "
                f"| {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.1f} | {r['errors']} |")
    for r in ami_rows:
        target = "" if r["target"] is None else (" (target 20k: met)" if r["target"] else " (target 20k: NOT met)")
        lines.append(f"| AMI ({ami_info['calls']} calls, {ami_info['events']:,} events) | parse/track/store | "
                     f"{r['variant']} | {r['events_per_s']:,.0f} events/s{target} | {r['ratio']:.2f} | | {r['errors']} |")
    for r in store_rows:
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}"
        lines.append(f"| Store ({args.store_records:,} records, {r['steps']} steps each) | menu records | "
                     f"{r['variant']} | {r['records_per_s']:,.0f} records/s, {r['cpu_us']:,.0f} us CPU/record "
                     f"| {ratio} | | {r['errors']} |")
    if report is not None:
        for case, (first, warm) in (("daily summary", report["summary"]), ("stats, 5 months", report["stats"])):
            lines.append(f"| Report ({args.report_calls:,} calls) | {case} | build_figures | "
                         f"{first:,.1f} ms first, {warm:,.1f} ms warm | | | 0 |")
        lines.append(f"| Report ({args.report_calls:,} calls) | daily summary | render | "
                     f"{report['render']:,.1f} ms warm | | | 0 |")
    for r in web or ():
        target = "" if r is web[0] else (" (target 100 ms: met)" if r["p95"] <= web_bench.TARGET_MS
                                         else " (target 100 ms: NOT met)")
        lines.append(f"| Web console ({args.web_calls:,} calls) | {r['what']} | GET {r['path']} | "
                     f"p50 {r['p50']:,.1f} ms, p95 {r['p95']:,.1f} ms{target} | {r['ratio']:.1f} | | {r['errors']} |")
    if scale_target is not None:
        verdict = "met" if scale_target["met"] else "NOT met"
        lines.append(f"| Scale target, issue 6 ({scale_target['seconds']:.0f} s measured) | {scale_target['conc']:,} open, "
                     f"{scale_target['rate']:g} new calls/s, media {scale_target['media_ms']:,.0f} ms | {scale_target['server']} | "
                     f"{scale_target['new_calls_per_s']:,.1f} new calls/s, {scale_target['open_mean']:,.0f} open, "
                     f"server CPU {scale_target['server_cpu_pct']:.0f} %; target {verdict} | "
                     f"| {scale_target['p50']:.2f} / {scale_target['p99']:.2f} / {scale_target['max']:.1f} | {scale_target['errors']} |")
    lines.append("")
    lines.append(f"Total run time {time.monotonic() - started:.0f} s.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
