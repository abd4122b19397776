"""Web console page times on a large generated database (the report bench's generator).

    .venv/bin/python bench/web_bench.py                          # quick: 100k calls
    .venv/bin/python bench/web_bench.py --sizes 10000000 --keep /tmp/bench   # the issue-16 target size

The console runs as in ``asterisk-bridge run`` (aiohttp on a loopback port, its own database
readers) and an HTTP client on the same machine fetches each page ``--requests`` times, one at a
time, after one warm-up request. "Today" is a day inside the generated span (2025-03-12). The
baseline is the stylesheet from the same server (the HTTP round trip alone); each page's ratio is
its median over the baseline's. The target (issue 16): every page within 100 ms at 10 million
calls. The rollups are built first when they are not (as ``run`` builds them at start): /stats
reads them, and a /calls search by line or outcome reads only the days they say hold a match.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import aiohttp  # noqa: E402

import report_bench  # noqa: E402
from asterisk_bridge import health  # noqa: E402
from asterisk_bridge.config import load_config  # noqa: E402
from asterisk_bridge.mqtt.gauges import Gauges  # noqa: E402
from asterisk_bridge.web.console import Console  # noqa: E402
from asterisk_bridge.web.metrics import BridgeMetrics  # noqa: E402
from asterisk_bridge.web.server import WebServer  # noqa: E402

TARGET_MS = 100.0
DAY = "2025-03-12"
#: (what, path): the pages a supervisor, a manager and an admin open.
PAGES = [
    ("stylesheet (baseline)", "/static/console.css"),
    ("wallboard", "/"),
    ("figures, today", "/stats"),
    ("figures, 5 months", "/stats?from=2025-01-01&to=2025-05-31"),
    ("figures JSON, today", "/stats.json"),
    ("calls, today", "/calls"),
    ("calls, 5 months, page 1", "/calls?from=2025-01-01&to=2025-05-31"),
    ("calls, 5 months, line 117 abandoned", "/calls?from=2025-01-01&to=2025-05-31&line=117&outcome=abandoned_queue"),
    ("calls, a month, masked caller", "/calls?from=2025-03-01&to=2025-03-31&caller=7916***0042"),
    ("one call's timeline", "/calls/{call}"),
    ("summaries", "/summaries"),
    ("yesterday's summary", "/summaries/2025-03-11"),
    ("yesterday's summary email, rendered now", "/summaries/2025-03-11.html"),
    ("stats CSV, 5 months", "/stats.csv?from=2025-01-01&to=2025-05-31"),
    ("status", "/status"),
    ("metrics", "/metrics"),
]


def console_for(path: Path, workdir: Path) -> Console:
    from report_fixture import write_config

    config = load_config(write_config(workdir, path))
    # any free loopback port: 8122 may be a running console's (the bench would fail to bind)
    config = dataclasses.replace(config, web=dataclasses.replace(config.web, port=0))
    noon = datetime.fromisoformat(f"{DAY}T12:00:00").replace(tzinfo=ZoneInfo(config.timezone)).timestamp()

    async def status() -> dict:
        """What the service reports, with today's counts read from the database as it does."""
        base = {"schema": 1, "pid": 1, "node": config.node, "state": "running", "started_at": noon,
                "written_at": time.time(), "fastagi": {"listen": "127.0.0.1:4573", "active": 0},
                "ami": {"enabled": False}, "mqtt": {"enabled": False},
                "store": {"path": str(path), "pending": 0, "last_error": None},
                "summary": {"enabled": False}}
        return await asyncio.to_thread(health.with_records, base, config, noon)

    return Console(config, str(path), Gauges.from_config(config), status=status, clock=lambda: noon,
                   metrics=BridgeMetrics(config.node, "bench", ami=False, mqtt=False))


async def measure(console: Console, requests: int, call_id: str) -> list[dict]:
    server = WebServer(console)
    await server.start()
    out = []
    try:
        base = server.url.rstrip("/")
        async with aiohttp.ClientSession() as http:
            for what, path in PAGES:
                url = base + path.format(call=call_id)
                times, errors = [], 0
                for n in range(requests + 1):
                    t0 = time.perf_counter()
                    async with http.get(url) as response:
                        await response.read()
                        errors += response.status != 200
                    if n:  # the first request warms the page cache and Jinja's template cache
                        times.append((time.perf_counter() - t0) * 1000)
                times.sort()
                out.append({"what": what, "path": path, "p50": statistics.median(times),
                            "p95": times[max(0, round(0.95 * len(times)) - 1)], "max": times[-1], "errors": errors})
    finally:
        await server.stop()
    base_ms = out[0]["p50"]
    for row in out:
        row["ratio"] = row["p50"] / base_ms if base_ms else float("nan")
    return out


def bench(size: int, requests: int, keep: Path | None = None) -> tuple[list[dict], float]:
    """Rows for one database of ``size`` calls, and the seconds its generation took (0: reused)."""
    workdir = keep or Path(tempfile.mkdtemp(prefix="web-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        path, fill_s = report_bench.database(workdir, size)
        cfg_dir = workdir / f"web-cfg-{size}"
        cfg_dir.mkdir(exist_ok=True)
        console = console_for(path, cfg_dir)
        report_bench.backfill(path, console.config, again=False)  # as `run` builds them at start
        rows = asyncio.run(measure(console, requests, call_id=f"L{size // 2}"))
    finally:
        if keep is None:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return rows, fill_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000", help="comma-separated call counts (default 100000; target 10000000)")
    ap.add_argument("--requests", type=int, default=20, help="timed requests per page (after one warm-up)")
    ap.add_argument("--keep", type=Path, help="directory to keep (and reuse) the databases in")
    args = ap.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        rows, fill_s = bench(size, args.requests, args.keep)
        print(f"\n{size:,} calls" + (f" (generated in {fill_s:.0f} s)" if fill_s else "") +
              f", {args.requests} requests per page; ratio = median / the stylesheet's median")
        print(f"{'page':<42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ratio':>7}  target {TARGET_MS:g} ms")
        for r in rows:
            verdict = "" if r is rows[0] else ("met" if r["p95"] <= TARGET_MS else "NOT met")
            errors = f"  {r['errors']} errors" if r["errors"] else ""
            print(f"{r['what']:<42} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['max']:>8.1f} {r['ratio']:>7.1f}  "
                  f"{verdict}{errors}")


if __name__ == "__main__":
    main()
