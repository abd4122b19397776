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
import itertools
import logging
import secrets
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .config import Config, Line, parse_config
from .pbxsim.agi_caller import AGICallResult, Caller, SimulatedChannel, run_agi_call
from .pbxsim.ami_calls import CallScenario, Ids, call_events, play_call
from .pbxsim.ami_server import AMIServer
from .pbxsim.queues import QueueDecision, QueueModel
from .pbxsim.traffic import PlannedCall, TrafficModel
from .report.schedule import write_summary_files
from .resources import example_config
from .service import Service
from .store import queries

log = logging.getLogger(__name__)

DAY = 86400.0
AMI_USER = "asterisk-bridge"
IDS_PER_CALL = 64  # Uniqueids and Local channel numbers reserved for one call's channels


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
                ami_secret: str | None = None) -> Config:
    """The example configuration, pointed at ``out`` and at loopback ports chosen by the OS.

    With ``ami_port`` the bridge follows calls over AMI at that loopback port (literal secret:
    the simulator's, made up for this run)."""
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
    return parse_config(data, source=str(source))


def _fresh_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def simulated_day(config: Config, day: date | None = None) -> tuple[date, float]:
    """The local date to simulate (yesterday by default) and its midnight as epoch seconds."""
    tz = ZoneInfo(config.timezone)
    day = day or (datetime.now(tz).date() - timedelta(days=1))
    return day, datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def scenario_for(line: Line, call: PlannedCall, result: AGICallResult) -> CallScenario:
    """What the dialplan does after the menu, from the variables the bridge set (no queue yet).

    A queued call gets a placeholder abandon so that the menu part of its events can be built
    (and the moment it joins the queue known) before the queue model decides."""
    v = result.variables
    ivr_result = v.get("IVR_RESULT", "")
    common = dict(name=line.number, line=line.number, caller_number=call.caller_number,
                  caller_name=call.caller_number, topic=v.get("IVR_TOPIC") or None,
                  age_group=v.get("IVR_AGE_GROUP") or None, result=ivr_result)
    if result.agistatus == "HANGUP" or ivr_result == "hangup":
        return CallScenario(menu="hangup", **{**common, "result": "hangup"})
    if ivr_result == "selfservice":
        return CallScenario(menu="selfservice", **common)
    queue = v.get("IVR_QUEUE") or line.default_queue
    if ivr_result in ("topic", "operator"):
        return CallScenario(menu="queue", queue=queue, abandon_after=1.0, **common)
    if ivr_result in ("timeout", "error"):
        return CallScenario(menu="timeout", queue=queue, default_queue=queue, abandon_after=1.0, **common)
    # the bridge never set IVR_RESULT: the dialplan's bridge-down branch, default queue
    return CallScenario(menu="bridge-down", default_queue=line.default_queue, abandon_after=1.0,
                        **{**common, "result": None, "topic": None, "age_group": None})


def joins_queue_at(scenario: CallScenario, start: float, base: int) -> float:
    """Simulated time the caller joins the queue: the menu's events decide it."""
    for t, headers in call_events(scenario, start, _ids(base)):
        if headers[0] == ("Event", "QueueCallerJoin"):
            return t
    raise ValueError(f"scenario {scenario.name!r} ({scenario.menu}) never joins a queue")


def with_decision(scenario: CallScenario, d: QueueDecision) -> CallScenario:
    if d.operator is None:
        return replace(scenario, abandon_after=d.wait)
    return replace(scenario, abandon_after=None, operator=d.operator, no_answer=d.no_answer, hold=d.hold,
                   answer_after=d.ring, talk=d.talk, hangup_by=d.hangup_by)


def _ids(base: int) -> Ids:
    return Ids(seq=itertools.count(base), local=itertools.count(base))


async def run_demo(
    out: Path,
    *,
    seed: int = 1,
    day_seconds: float = 20.0,
    calls_per_day: dict[str, int] | None = None,
    progress: bool = True,
    day: date | None = None,
) -> DemoResult:
    out.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(16)
    speed = DAY / day_seconds
    started = time.monotonic()
    midnight = 0.0

    def clock() -> float:
        return midnight + min((time.monotonic() - started) * speed, DAY - 0.001)

    async with AMIServer(username=AMI_USER, secret=secret, timestampevents=True, login_delay=0.05,
                         clock=clock) as pbx:
        config = demo_config(out, ami_port=pbx.port, ami_secret=secret)
        day, midnight = simulated_day(config, day)
        _fresh_database(Path(config.database.path))
        model = TrafficModel(config, seed=seed)
        if calls_per_day is not None:
            model.calls_per_day = calls_per_day
        calls = model.day()
        queues = QueueModel(config.queues, seed=seed)
        scenarios: dict[str, CallScenario] = {}
        decisions: dict[str, QueueDecision] = {}
        async with Service(config, clock=clock) as service:
            await _wait_for_ami(service, pbx)
            started = time.monotonic()
            port = service.fastagi.port
            done = 0
            menus: list[asyncio.Future[AGICallResult]] = [asyncio.get_running_loop().create_future() for _ in calls]
            began: list[float] = [0.0] * len(calls)  # simulated time each menu began

            async def menu(index: int, call: PlannedCall) -> AGICallResult:
                nonlocal done
                delay = call.at / speed - (time.monotonic() - started)
                if delay > 0:
                    await asyncio.sleep(delay)
                base = 6 + index * IDS_PER_CALL
                began[index] = clock()
                channel = SimulatedChannel.for_call(call.line, sequence=base, uniqueid=f"{int(began[index])}.{base}")
                caller = Caller(number=call.caller_number, reactions=call.reactions)
                result = await run_agi_call("127.0.0.1", port, channel, caller, speed=speed)
                menus[index].set_result(result)
                done += 1
                if progress and (done == len(calls) or done % max(1, len(calls) // 40) == 0):
                    _progress(done, len(calls), call.at)
                return result

            async def pbx_side() -> None:
                """In plan order (so the queue model is deterministic), play each call's AMI events."""
                plays = []
                for index, call in enumerate(calls):
                    result = await menus[index]
                    base = 6 + index * IDS_PER_CALL
                    start = began[index]
                    linkedid = f"{int(start)}.{base}"
                    scenario = scenario_for(config.line_for(call.line), call, result)
                    if scenario.queue_joined is not None:
                        planned = midnight + call.at
                        joined = joins_queue_at(scenario, planned, base) - midnight
                        decision = queues.decide(f"{call.line}:{index}", scenario.queue_joined, joined)
                        decisions[linkedid] = decision
                        scenario = with_decision(scenario, decision)
                    scenarios[linkedid] = scenario
                    plays.append(asyncio.create_task(play_call(pbx, scenario, start, speed=speed, ids=_ids(base))))
                await asyncio.gather(*plays)

            results, _ = await asyncio.gather(asyncio.gather(*(menu(i, c) for i, c in enumerate(calls))), pbx_side())
            rows = await _all_calls_written(service, set(scenarios))
    if progress:
        sys.stderr.write("\n")
    counts = queries.menu_counts(config.database.path)
    summary = write_summary_files(config, config.database.path, day, out)
    return DemoResult(config, Path(config.database.path), calls, list(results), counts,
                      time.monotonic() - started, day, scenarios, decisions, rows, summary)


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


def _progress(done: int, total: int, at: float) -> None:
    width = 40
    filled = int(width * done / total) if total else width
    clock = time.strftime("%H:%M", time.gmtime(at))
    sys.stderr.write(f"\r  simulated {clock}  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls")
    sys.stderr.flush()


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
