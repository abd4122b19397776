"""``asterisk-bridge demo``: the bridge and the PBX simulator on loopback for a simulated day.

The bridge runs exactly as under systemd (FastAGI server, menu, AMI call tracker, store); the
simulator plays Asterisk's side of every call with the traffic model, compressed so a day takes
seconds: the menu over FastAGI, then what the dialplan does with the menu's outcome (queue,
operator, hang-up) as AMI events from the queue model.

One timeline: the simulated day is yesterday in the configured time zone, so the summary for
that local date covers it. The bridge gets a clock that runs through that day at the demo's
speed (the menu sessions' times come from it), and every AMI event carries a ``Timestamp`` in
the same day (the call records' times come from those). A call's AMI events start at its
simulated moment its menu began (the bridge's clock at that instant), so a menu session and its
call record start within a few simulated seconds of each other, however late the event loop
ran. The queue model decides from the planned times instead, so with one seed every caller
meets the same queue, operator and wait in every run. The clock stops a millisecond before
midnight, so late calls stay in the day.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Config, parse_config
from .menu.prompts import PromptError, ToolMissingError, build
from .pbxsim.ami_server import AMIServer
from .pbxsim.driver import drive_calls, print_progress
from .pbxsim.fastagi_client import AGICallResult
from .pbxsim.members import register_static
from .pbxsim.queues import QueueDecision, QueueModel
from .pbxsim.scenario import CallScenario
from .pbxsim.sounds import prompt_lengths_from_files
from .pbxsim.traffic import PlannedCall, TrafficModel
from .report.schedule import write_summary_files
from .resources import example_config
from .service import Service
from .store import maintenance, queries

log = logging.getLogger(__name__)

DAY = 86400.0
AMI_USER = "asterisk-bridge"


@dataclass
class DemoResult:
    config: Config
    database: Path
    calls: list[PlannedCall]
    results: list[AGICallResult]
    counts: list[dict]
    seconds: float
    day: date | None = None
    scenarios: dict[str, CallScenario] = field(default_factory=dict)    # linkedid -> what the PBX did
    decisions: dict[str, QueueDecision] = field(default_factory=dict)   # linkedid -> queue model's decision
    call_rows: list[dict] = field(default_factory=list)                 # calls table, read back
    summary_files: list[Path] = field(default_factory=list)             # the day's summary (html, txt)


def demo_config(out: Path, source: Path | None = None, *, ami_port: int | None = None,
                ami_secret: str | None = None, web_port: int | None = None) -> Config:
    """The example configuration, pointed at ``out`` and at loopback ports chosen by the OS.

    With ``ami_port`` the bridge follows calls over AMI at that loopback port (literal secret:
    the simulator's, made up for this run). The web console is on only with ``web_port``
    (loopback, no login)."""
    source = source or example_config()
    with open(source, "rb") as f:
        data = tomllib.load(f)
    data["database"] = {"path": str(out / "asterisk-bridge.db")}
    data["fastagi"] = {**data.get("fastagi", {}), "host": "127.0.0.1", "port": 0, "allow": []}
    if ami_port is None:
        data["ami"] = {"enabled": False}
    else:
        ami = {k: v for k, v in data.get("ami", {}).items() if k not in ("secret_file", "secret_env", "queue_log")}
        data["ami"] = {**ami, "enabled": True, "host": "127.0.0.1", "port": ami_port, "username": AMI_USER,
                       "secret": ami_secret or "", "reconnect_max": 1.0}
    data["mqtt"] = {"enabled": False}
    data["web"] = ({"enabled": True, "host": "127.0.0.1", "port": web_port, "language": data.get("web", {}).get(
        "language", "ru")} if web_port is not None else {"enabled": False})
    return parse_config(data, source=str(source))


def render_demo_prompts(out: Path, language: str = "ru") -> tuple[dict[str, int], str]:
    """The example's prompts rendered into ``out/sounds`` (only new or changed texts), and their lengths.

    Returns (prompt name -> ms, a line saying what happened). Without espeak-ng or sox the files
    already there still count and every other prompt plays the simulator's default 2 s."""
    sounds = out / "sounds"
    config = demo_config(out)
    try:
        report = build(config, sounds, language)
        done = (f"{report.counts['rendered']} rendered with espeak-ng now, {report.seconds:.1f} s"
                if report.counts["rendered"] else "none changed")
    except ToolMissingError as exc:
        done = f"{exc}: nothing rendered"
    except PromptError as exc:
        done = f"not rendered: {exc}"
    lengths = prompt_lengths_from_files(config, sounds, language)
    if not lengths:
        return lengths, f"Prompts: {done}; every prompt plays 2 s"
    return lengths, (f"Prompts: {len(lengths)} sound files in {sounds / language} ({done}); "
                     f"each plays as long as its file")


def _fresh_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def simulated_day(config: Config, day: date | None = None) -> tuple[date, float]:
    """The local date to simulate (yesterday by default) and its midnight as epoch seconds."""
    tz = ZoneInfo(config.timezone)
    day = day or (datetime.now(tz).date() - timedelta(days=1))
    return day, datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


async def run_demo(
    out: Path,
    *,
    seed: int = 1,
    day_seconds: float = 20.0,
    calls_per_day: dict[str, int] | None = None,
    progress: bool = True,
    day: date | None = None,
    prompt_ms: dict[str, int] | None = None,
    web_port: int | None = None,
    announce: Callable[[Service], None] | None = None,
    hold: Callable[[DemoResult], Awaitable[None]] | None = None,
) -> DemoResult:
    """Play one day; ``prompt_ms`` (``render_demo_prompts``) makes prompts play as long as their
    files. With ``web_port`` the web console serves the demo database from the start
    (``announce`` gets the running service, whose ``web.url`` it is) and, once the day is written,
    ``hold`` runs with the result while the bridge and its console keep running (``demo --serve``
    waits there for Ctrl-C)."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(16)
    speed = DAY / day_seconds
    started = time.monotonic()
    midnight = 0.0

    def clock() -> float:
        return midnight + min((time.monotonic() - started) * speed, DAY - 0.001)

    async with AMIServer(username=AMI_USER, secret=secret, timestampevents=True, login_delay=0.05,
                         clock=clock) as pbx:
        config = demo_config(out, ami_port=pbx.port, ami_secret=secret, web_port=web_port)
        day, midnight = simulated_day(config, day)
        _fresh_database(Path(config.database.path))
        model = TrafficModel(config, seed=seed, prompt_ms=prompt_ms)
        if calls_per_day is not None:
            model.calls_per_day = calls_per_day
        calls = model.day()
        queues = QueueModel(config.queues, seed=seed)
        register_static(pbx, queues, midnight - 3600.0)  # in the queues since Asterisk started, before the day
        async with Service(config, clock=clock) as service:
            if web_port is not None:
                if service.web is None or not service.web.listening:
                    raise OSError(f"the web console could not start: {service.web_error}")
                if announce is not None:
                    announce(service)
            await _wait_for_ami(service, pbx)
            started = time.monotonic()
            driven = await drive_calls(calls, config=config, pbx=pbx, queues=queues,
                                       fastagi=("127.0.0.1", service.fastagi.port), speed=speed, clock=clock,
                                       day_start=midnight, progress=print_progress if progress else None,
                                       prompt_ms=prompt_ms)
            scenarios, decisions, results = driven.scenarios, driven.decisions, driven.results
            rows = await _all_calls_written(service, set(scenarios))
            seconds = time.monotonic() - started
            if progress:
                sys.stderr.write("\n")
            # Read while the writer is still open: the last connection to close checkpoints the
            # WAL and removes -wal/-shm, and read-only readers cannot (they would leave them).
            counts = await asyncio.to_thread(queries.menu_counts, config.database.path)
            summary = await asyncio.to_thread(write_summary_files, config, config.database.path, day, out)
            result = DemoResult(config, Path(config.database.path), calls, list(results), counts, seconds, day,
                                scenarios, decisions, rows, summary)
            if hold is not None:
                await hold(result)
    await asyncio.to_thread(maintenance.fold_wal, config.database.path)
    return result


async def _wait_for_ami(service: Service, pbx: AMIServer, timeout: float = 5.0) -> None:
    """Calls start only once the bridge follows AMI (and has reconciled after its login)."""
    async with asyncio.timeout(timeout):
        while not (service.calls is not None and service.calls.connected and pbx.connections):
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)


async def _all_calls_written(service: Service, linkedids: set[str], timeout: float = 10.0) -> list[dict]:
    """The follower may still be digesting the last events: wait until every call is stored finished."""
    path = service.config.database.path
    rows: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                await service.store.flush(timeout)
                rows = await asyncio.to_thread(lambda: list(queries.calls(path)))
                finished = {r["linkedid"] for r in rows if r["outcome"] is not None}
                if linkedids <= finished:
                    return rows
                await asyncio.sleep(0.05)
    except TimeoutError:
        missing = len(linkedids - {r["linkedid"] for r in rows if r["outcome"] is not None})
        log.warning("%d call(s) not stored as finished after %.0f s", missing, timeout)
        return rows


def format_calls(config: Config, counts: list[dict], rows: list[dict]) -> str:
    """Per line: calls and how they ended, with wait and talk averages, from the database."""
    menus: Counter[str] = Counter()
    for row in counts:
        menus[row["line"]] += row["calls"]
    by_line: dict[str, list[dict]] = {}
    for row in rows:
        by_line.setdefault(row["line"] or "?", []).append(row)
    out = [f"{'line':<6}{'calls':>7}{'answered':>10}{'abandoned':>11}{'short':>7}{'in menu':>9}"
           f"{'self-serv':>11}{'avg wait':>10}{'avg talk':>10}"]
    for number in sorted(set(menus) | set(by_line)):
        line_rows = by_line.get(number, [])
        outcome = Counter(r["outcome"] for r in line_rows)
        answered = [r for r in line_rows if r["outcome"] == "answered"]
        waits = [r["queued_seconds"] for r in answered if r["queued_seconds"] is not None]
        talks = [r["talk_seconds"] for r in answered if r["talk_seconds"] is not None]
        out.append(f"{number:<6}{menus.get(number, len(line_rows)):>7}{outcome['answered']:>10}"
                   f"{outcome['abandoned_queue']:>11}{outcome['short_abandon']:>7}{outcome['abandoned_menu']:>9}"
                   f"{outcome['selfservice']:>11}{_mmss(waits):>10}{_mmss(talks):>10}")
    return "\n".join(out)


def _mmss(values: list[float]) -> str:
    if not values:
        return "-"
    mean = sum(values) / len(values)
    return f"{int(mean // 60)}:{int(mean % 60):02d}"
