#!/usr/bin/env python3
"""Load bench: the highest new-call rate `asterisk-bridge run` sustains, found with
`asterisk-bridge simulate --rate R --workers N` (a stepping search, every step printed).

    .venv/bin/python bench/load_bench.py                        # 20 s steps from 25 calls/s up
    .venv/bin/python bench/load_bench.py --rates 50,100,200     # these steps only

Each step is one fresh bridge (`asterisk-bridge run` as a process, the example configuration on
loopback ports and a new database) and one `simulate` run against it: R new calls a second for
--seconds, callers and their choices from the traffic model, every prompt 2 s (menus of about
10 s, so R x 10 calls are in the menu at once), each call's AMI events (about 200 per call: the
menu's dialplan, the queue, the operator, the hang-up) on the simulator's AMI server that the
bridge logs in to. A step passes when the bridge answered with p99 command turnaround under
--p99-ms, no call failed, the simulator kept to its schedule (offered >= 95 % of R) and every
call has its menu session and its finished call record in the database. The search goes up by
--factor while steps pass, then halves the gap between the last pass and the first failure
--refine times. The figure is the highest rate that passed.

Both processes share the machine: the simulator's CPU counts against the bridge's. The bridge's
CPU per call (from /proc/PID/stat over the step, start and tail included) and the simulator's
(its workers' included, from its exit status) are printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from agi_bench import proc_cpu_seconds, proc_peak_rss_mb  # noqa: E402

CLI = [sys.executable, "-m", "asterisk_bridge.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(work: Path, fastagi_port: int, ami_port: int) -> Path:
    """The shipped example on loopback ports, AMI to the simulator, a database in ``work``."""
    from asterisk_bridge.resources import example_config

    secret = work / "ami.secret"
    secret.write_text("load-bench-secret\n")
    secret.chmod(0o600)
    text = example_config().read_text(encoding="utf-8")
    for old, new in (("/etc/asterisk-bridge/ami.secret", str(secret)),
                     ("/var/lib/asterisk-bridge/calls.db", str(work / "calls.db")),
                     ("port = 4573", f"port = {fastagi_port}"), ("port = 5038", f"port = {ami_port}"),
                     ('host = "smtp.example.ru"', 'host = ""')):
        if old not in text:
            raise SystemExit(f"the example configuration no longer has {old!r}; update bench/load_bench.py")
        text = text.replace(old, new)
    path = work / "asterisk-bridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


_TURN = re.compile(r"FastAGI turnaround .*?: ([\d,]+) commands, p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms")
_CALLS = re.compile(r"^(\d+) calls in ([\d.]+) s \(([\d.]+) new calls a second; the latest began (\d+) ms", re.M)
_FAILED = re.compile(r"(\d+) call\(s\) ended with AGISTATUS=FAILURE")


def step(rate: float, seconds: float, workers: int, loop: str, p99_ms: float, keep_dir: bool = False) -> dict:
    """One fresh bridge, one simulate run at ``rate``; the figures of the step."""
    work = Path(tempfile.mkdtemp(prefix="load-bench-"))
    fastagi_port, ami_port = free_port(), free_port()
    config = write_config(work, fastagi_port, ami_port)
    log = open(work / "bridge.log", "wb")
    bridge = subprocess.Popen([*CLI, "run", "-c", str(config), "--loop", loop], stdout=log, stderr=log)
    out: dict = {"rate": rate, "seconds": seconds, "workers": workers}
    try:
        sim = subprocess.Popen([*CLI, "simulate", "-c", str(config), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}",
                                "--workers", str(workers), "--ami-wait", "30", "--no-progress", "--loop", loop],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        cpu0 = None
        t0 = time.monotonic()
        while True:  # wait4, not poll: the simulator's CPU (its workers' included) comes with its exit
            pid, status, usage = os.wait4(sim.pid, os.WNOHANG)
            if pid:
                sim.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.2)
            if cpu0 is None and time.monotonic() - t0 > 3.0:  # both started, the bridge logged in
                cpu0, c0 = proc_cpu_seconds(bridge.pid), time.monotonic()
        cpu1, c1 = proc_cpu_seconds(bridge.pid), time.monotonic()
        out["simulator_cpu_s"] = usage.ru_utime + usage.ru_stime
        text = sim.stdout.read()
        out["simulate_exit"] = sim.returncode
        out["bridge_cpu_pct"] = 100 * (cpu1 - cpu0) / (c1 - c0) if cpu0 is not None else float("nan")
        out["bridge_rss_mb"] = proc_peak_rss_mb(bridge.pid)
        calls = _CALLS.search(text)
        turn = _TURN.search(text)
        failed = _FAILED.search(text)
        if calls is None or turn is None:
            out.update(error=f"simulate printed no figures (exit {sim.returncode}): {text[-600:]}")
            return out
        out["calls"] = int(calls[1])
        out["offered_per_s"] = float(calls[3])
        out["late_ms"] = int(calls[4])
        out["commands"] = int(turn[1].replace(",", ""))
        out["p50"], out["p99"], out["max"] = float(turn[2]), float(turn[3]), float(turn[4])
        out["failed"] = int(failed[1]) if failed else 0
        out["bridge_cpu_us_per_call"] = (cpu1 - cpu0) / (out["offered_per_s"] * (c1 - c0)) * 1e6 if cpu0 else 0
        out["simulator_us_per_call"] = out["simulator_cpu_s"] / out["calls"] * 1e6 if out["calls"] else 0
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(60)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait()
        log.close()
    try:
        with sqlite3.connect(work / "calls.db") as db:
            out["menu_rows"] = db.execute("SELECT count(*) FROM menu_sessions").fetchone()[0]
            out["call_rows"] = db.execute("SELECT count(*) FROM calls WHERE outcome IS NOT NULL").fetchone()[0]
    except sqlite3.Error as exc:
        out["error"] = f"database: {exc}"
    missing = max(0, out.get("calls", 0) - out.get("menu_rows", 0)) + max(0, out.get("calls", 0) - out.get("call_rows", 0))
    out["missing_rows"] = missing
    out["errors"] = out.get("failed", 0) + missing + (1 if "error" in out else 0)
    out["passed"] = ("error" not in out and out["errors"] == 0 and out["p99"] < p99_ms
                     and out["offered_per_s"] >= 0.95 * rate)
    if keep_dir or "error" in out:
        out["work"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return out


def format_step(r: dict) -> str:
    if "p99" not in r:
        return f"  {r['rate']:>6g} calls/s: ERROR {r.get('error', '?')}"
    verdict = "pass" if r["passed"] else "FAIL"
    return (f"  {r['rate']:>6g} calls/s offered {r['offered_per_s']:7.1f}/s, {r['calls']:>6,} calls, "
            f"p50 {r['p50']:.2f} / p99 {r['p99']:.2f} / max {r['max']:.1f} ms, errors {r['errors']} "
            f"(failed {r.get('failed', 0)}, rows missing {r['missing_rows']}), simulator late by up to "
            f"{r['late_ms']} ms (its CPU {r['simulator_us_per_call']:,.0f} us/call), bridge CPU "
            f"{r['bridge_cpu_pct']:.0f} % ({r['bridge_cpu_us_per_call']:,.0f} us/call), RSS {r['bridge_rss_mb']:.0f} MB: "
            f"{verdict}")


def search(args) -> tuple[float | None, list[dict]]:
    steps: list[dict] = []

    def run(rate: float) -> bool:
        r = step(rate, args.seconds, args.workers, args.loop, args.p99_ms)
        steps.append(r)
        print(format_step(r), file=sys.stderr, flush=True)
        return bool(r.get("passed"))

    if args.rates:
        for rate in [float(x) for x in args.rates.split(",") if x]:
            run(rate)
        best = max((s["rate"] for s in steps if s.get("passed")), default=None)
        return best, steps
    good, bad = None, None
    rate = args.start
    while rate <= args.max_rate:
        if run(rate):
            good = rate
            rate = round(rate * args.factor)
        else:
            bad = rate
            break
    for _ in range(args.refine if good is not None and bad is not None else 0):
        middle = round((good + bad) / 2)
        if middle in (good, bad):
            break
        if run(middle):
            good = middle
        else:
            bad = middle
    return good, steps


def bench(seconds: float = 20.0, workers: int = 2, loop: str = "auto", p99_ms: float = 10.0, start: float = 25.0,
          factor: float = 2.0, refine: int = 2, max_rate: float = 2000.0, rates: str | None = None) -> dict:
    args = argparse.Namespace(seconds=seconds, workers=workers, loop=loop, p99_ms=p99_ms, start=start, factor=factor,
                              refine=refine, max_rate=max_rate, rates=rates)
    t0 = time.monotonic()
    best, steps = search(args)
    return {"best": best, "steps": steps, "seconds": seconds, "workers": workers, "p99_ms": p99_ms,
            "elapsed": time.monotonic() - t0}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="seconds each step offers calls")
    p.add_argument("--workers", type=int, default=2, help="simulate --workers")
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="both processes' loop")
    p.add_argument("--p99-ms", type=float, default=10.0, help="a step passes below this p99 command turnaround")
    p.add_argument("--start", type=float, default=25.0, help="first rate (new calls/s)")
    p.add_argument("--factor", type=float, default=2.0, help="rate multiplier while steps pass")
    p.add_argument("--refine", type=int, default=2, help="bisection steps between the last pass and the first failure")
    p.add_argument("--max-rate", type=float, default=2000.0, help="stop going up here")
    p.add_argument("--rates", help="comma-separated rates to run instead of the search")
    p.add_argument("--json", metavar="FILE", help="also write the steps as JSON")
    args = p.parse_args(argv)
    result = bench(args.seconds, args.workers, args.loop, args.p99_ms, args.start, args.factor, args.refine,
                   args.max_rate, args.rates)
    best = result["best"]
    print(f"\nLoad: `simulate --workers {args.workers} --rate R --seconds {args.seconds:g}` against `run` "
          f"({result['elapsed']:.0f} s in all)")
    for r in result["steps"]:
        print(format_step(r))
    print(f"highest sustained: {best:g} new calls/s (p99 < {args.p99_ms:g} ms, 0 errors)" if best is not None
          else "no step passed")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
