"""``asterisk-bridge demo``: the bridge and the PBX simulator on loopback for a simulated day.

The bridge runs exactly as under systemd (FastAGI server, menu, store); the simulator plays
Asterisk's side of every call with the traffic model, compressed so a day takes seconds.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .config import Config, parse_config
from .pbxsim.agi_caller import AGICallResult, Caller, SimulatedChannel, run_agi_call
from .pbxsim.traffic import PlannedCall, TrafficModel
from .resources import example_config
from .service import Service
from .store import queries

DAY = 86400.0


@dataclass
class DemoResult:
    config: Config
    database: Path
    calls: list[PlannedCall]
    results: list[AGICallResult]
    counts: list[dict]
    seconds: float


def demo_config(out: Path, source: Path | None = None) -> Config:
    """The example configuration, pointed at ``out`` and at loopback ports chosen by the OS."""
    source = source or example_config()
    with open(source, "rb") as f:
        data = tomllib.load(f)
    data["database"] = {"path": str(out / "asterisk-bridge.db")}
    data["fastagi"] = {**data.get("fastagi", {}), "host": "127.0.0.1", "port": 0, "allow": []}
    data["ami"] = {"enabled": False}
    data["mqtt"] = {"enabled": False}
    return parse_config(data, source=str(source))


def _fresh_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def run_demo(
    out: Path,
    *,
    seed: int = 1,
    day_seconds: float = 20.0,
    calls_per_day: dict[str, int] | None = None,
    progress: bool = True,
) -> DemoResult:
    out.mkdir(parents=True, exist_ok=True)
    config = demo_config(out)
    _fresh_database(Path(config.database.path))
    model = TrafficModel(config, seed=seed)
    if calls_per_day is not None:
        model.calls_per_day = calls_per_day
    calls = model.day()
    speed = DAY / day_seconds
    started = time.monotonic()
    async with Service(config) as service:
        port = service.fastagi.port
        done = 0

        async def one(index: int, call: PlannedCall) -> AGICallResult:
            nonlocal done
            delay = call.at / speed - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            channel = SimulatedChannel.for_call(call.line, sequence=index)
            caller = Caller(number=call.caller_number, reactions=call.reactions)
            result = await run_agi_call("127.0.0.1", port, channel, caller, speed=speed)
            done += 1
            if progress and (done == len(calls) or done % max(1, len(calls) // 40) == 0):
                _progress(done, len(calls), call.at)
            return result

        results = await asyncio.gather(*(one(i, c) for i, c in enumerate(calls)))
        await service.store.flush(10.0)
    if progress:
        sys.stderr.write("\n")
    counts = queries.menu_counts(config.database.path)
    return DemoResult(config, Path(config.database.path), calls, list(results), counts, time.monotonic() - started)


def _progress(done: int, total: int, at: float) -> None:
    width = 40
    filled = int(width * done / total) if total else width
    clock = time.strftime("%H:%M", time.gmtime(at))
    sys.stderr.write(f"\r  simulated {clock}  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls")
    sys.stderr.flush()


def format_counts(config: Config, counts: list[dict]) -> str:
    """Calls per line, then per topic and menu result, as the database holds them."""
    lines: list[str] = []
    by_line: Counter[str] = Counter()
    by_topic: dict[str, Counter[str]] = {}
    by_result: dict[str, Counter[str]] = {}
    for row in counts:
        by_line[row["line"]] += row["calls"]
        if row["topic"]:
            by_topic.setdefault(row["line"], Counter())[row["topic"]] += row["calls"]
        by_result.setdefault(row["line"], Counter())[row["result"]] += row["calls"]
    for number, total in sorted(by_line.items()):
        line = config.line_for(number)
        lines.append(f"Line {number} ({line.name if line else '?'}): {total} calls")
        results = by_result.get(number, Counter())
        lines.append("  menu results: " + ", ".join(f"{r} {n}" for r, n in results.most_common()))
        for topic, n in by_topic.get(number, Counter()).most_common():
            lines.append(f"  {topic:<24} {n:>5}  {100 * n / total:5.1f} %")
    return "\n".join(lines)
