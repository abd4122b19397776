#!/usr/bin/env python3
"""Memory bench: does the bridge's resident memory stay flat over many menu sessions?

    .venv/bin/python bench/rss_bench.py                       # 100,000 sessions (about a minute)
    .venv/bin/python bench/rss_bench.py --sessions 1000000    # the issue's million (about ten minutes)

The bridge is the product as `run` serves it (Service: FastAGI, IVR, menu, SQLite store, INFO log
to a file, on the loop `run` uses) in its own process; bench/agi_bench.py's load generator plays
--conc sessions at a time of the capture's caller, replies at once (the most sessions per second).
Resident memory (VmRSS of /proc/PID/status) is read after every tenth of the sessions; growth is
the last reading against the one after the first tenth (the warm-up: caches, the SQLite page cache
and the first WAL pages filled). Every session must end with its row in the database (errors).
The RSS at 1,000 open calls is bench/scale_bench.py's peak RSS (1,000 paced sessions open).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agi_bench  # noqa: E402
from agi_bench import Generator, ServerProcess, capture_env, learn_script  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def drive(server: ServerProcess, env: dict[str, str], script: list[bytes], sessions: int,
                conc: int) -> tuple[list[tuple[int, float, float]], int, dict[str, int]]:
    """Run ``sessions`` sessions ``conc`` at a time; (sessions done, seconds, RSS MB) after every tenth."""
    gen = Generator(server.port, env, script, 0.0)
    stats = gen.stats
    marks: list[tuple[int, float, float]] = []
    step = max(1, sessions // 10)
    t0 = time.monotonic()
    done = 0

    async def slot() -> None:
        nonlocal done
        while done < sessions:
            done += 1
            await gen.one()
            if stats.sessions_total >= step * (len(marks) + 1) and len(marks) < 10:
                marks.append((stats.sessions_total, time.monotonic() - t0, rss_mb(server.proc.pid)))

    await asyncio.gather(*(slot() for _ in range(conc)))
    if len(marks) < 10:
        marks.append((stats.sessions_total, time.monotonic() - t0, rss_mb(server.proc.pid)))
    return marks, stats.errors, dict(stats.error_kinds)


def bench(sessions: int = 100_000, conc: int = 100, server_loop: str = "uvloop", verbose: bool = True) -> dict:
    agi_bench.raise_fd_limit()
    env = capture_env()
    work = tempfile.mkdtemp(prefix="rss-bench-")
    script_path = os.path.join(work, "script.json")
    Path(script_path).write_text("[]")
    if server_loop == "uvloop" and not agi_bench.uvloop_installed():
        server_loop = "asyncio"
    server = ServerProcess.start("bridge", server_loop, script_path, "info")
    try:
        script = asyncio.run(learn_script(server.port, env))
        if verbose:
            print(f"rss: {sessions:,} sessions, {conc} at a time, bridge on {server_loop} ...", file=sys.stderr, flush=True)
        marks, errors, kinds = asyncio.run(drive(server, env, script, sessions, conc))
        done = server.stop()
        errors += done.get("failed", 0)
        missing = server.rows_missing(marks[-1][0])
        if missing:
            errors += missing
            kinds["database rows missing"] = missing
    finally:
        server.discard()
        os.unlink(script_path)
        os.rmdir(work)
    warm, last = marks[0][2], marks[-1][2]
    return {"sessions": marks[-1][0], "conc": conc, "seconds": marks[-1][1], "marks": marks, "rss_warm_mb": warm,
            "rss_end_mb": last, "growth_pct": 100 * (last - warm) / warm, "errors": errors, "error_kinds": kinds,
            "server": server.name}


def format_result(r: dict) -> str:
    series = ", ".join(f"{n:,}: {mb:.1f}" for n, _, mb in r["marks"])
    return (f"{r['sessions']:,} sessions in {r['seconds']:.0f} s ({r['sessions'] / r['seconds']:,.0f}/s), "
            f"{r['server']}: RSS {r['rss_warm_mb']:.1f} MB after the first tenth, {r['rss_end_mb']:.1f} MB at the end, "
            f"growth {r['growth_pct']:+.1f} % (target <= 10 %); errors {r['errors']}"
            + (f" {r['error_kinds']}" if r["errors"] else "") + f"\n  RSS MB by sessions done: {series}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sessions", type=int, default=100_000, help="menu sessions in all")
    p.add_argument("--conc", type=int, default=100, help="sessions at a time")
    p.add_argument("--server-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the bridge's loop (uvloop: as `run` runs; falls back to asyncio when missing)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = p.parse_args(argv)
    agi_bench.use_uvloop()
    r = bench(args.sessions, args.conc, args.server_loop)
    print(format_result(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
