"""Asterisk's side of planned calls against a bridge: menu over FastAGI, then the PBX over AMI.

One call: at its planned moment a FastAGI session runs the menu with the caller's reactions;
the variables the bridge set decide what the dialplan does next (``scenario_for``); a queued
call gets its operator, wait and talk from the queue model; then the call's AMI events are
played on the simulator's AMI server. ``demo`` (bridge and simulator in one process, simulated
clock) and ``simulate`` (a running bridge, its FastAGI address) both drive calls with
``drive_calls``.

The queue model decides from the planned times, in plan order, so with one seed every caller
meets the same queue, operator and wait in every run however late the event loop ran. Beside the
calls, the operators' day plays out (``members.py``): logins, breaks and logouts at their moment.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import Config, Line
from .ami_calls import EventSink, call_events, play_call
from .ami_emit import Ids
from .errors import ScenarioError
from .fastagi_client import AGICallResult, Caller, SimulatedChannel, run_agi_call
from .members import day_plan, play_day, register_static
from .queues import QueueDecision, QueueModel
from .scenario import CallScenario
from .sounds import PromptLengths
from .tally import Tally
from .traffic import PlannedCall

IDS_PER_CALL = 64  # Uniqueids and Local channel numbers reserved for one call's channels
FIRST_ID = 6

Progress = Callable[[int, int, float], None]  # (calls done, calls in all, simulated second of the day)


@dataclass
class DriveResult:
    """The tally of the calls driven, and with ``keep`` every call's menu result, scenario and queue
    decision (the demo and the tests look at each call; a long ``simulate`` run keeps only the tally)."""

    results: list[AGICallResult]
    scenarios: dict[str, CallScenario] = field(default_factory=dict)   # linkedid -> what the PBX did
    decisions: dict[str, QueueDecision] = field(default_factory=dict)  # linkedid -> queue model's decision
    tally: Tally = field(default_factory=Tally)


def scenario_for(line: Line, call: PlannedCall, result: AGICallResult) -> CallScenario:
    """What the dialplan does after the menu, from the variables the bridge set (no queue yet).

    A queued call gets a placeholder abandon so that the menu part of its events can be built
    (and the moment it joins the queue known) before the queue model decides."""
    v = result.variables
    ivr_result = v.get("IVR_RESULT", "")
    common: dict[str, Any] = dict(name=line.number, line=line.number, caller_number=call.caller_number,
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
    for t, headers in call_events(scenario, start, ids_from(base)):
        if headers[0] == ("Event", "QueueCallerJoin"):
            return t
    raise ScenarioError(f"scenario {scenario.name!r} ({scenario.menu}) never joins a queue")


def with_decision(scenario: CallScenario, d: QueueDecision) -> CallScenario:
    if d.operator is None:
        return replace(scenario, abandon_after=d.wait)
    return replace(scenario, abandon_after=None, operator=d.operator, no_answer=d.no_answer, hold=d.hold,
                   answer_after=d.ring, talk=d.talk, hangup_by=d.hangup_by, auto_pause=d.auto_pause)


def ids_from(base: int) -> Ids:
    return Ids(seq=itertools.count(base), local=itertools.count(base))


async def drive_calls(
    calls: Iterable[PlannedCall],
    *,
    config: Config,
    pbx: EventSink,
    queues: QueueModel,
    fastagi: tuple[str, int],
    speed: float,
    clock: Callable[[], float],
    day_start: float = 0.0,
    first_index: int = 0,
    progress: Progress | None = None,
    prompt_ms: PromptLengths = None,
    keep: bool = True,
    total: int | None = None,
    share: tuple[int, int] = (0, 1),
    started: float | None = None,
    ami_speed: float | None = None,
    tally: Tally | None = None,
    operators_day: bool = True,
) -> DriveResult:
    """Play ``calls`` (in arrival order; a list or a stream) against the bridge; returns when every
    call ended.

    ``call.at / speed`` wall seconds after ``started`` (a ``time.monotonic()``, default now), a
    call's menu begins; its simulated start is ``clock()`` then (the AGI uniqueid and the AMI events'
    times come from it). ``day_start + call.at`` is the planned time the queue model decides from.
    ``first_index`` numbers the calls (ids, queue model keys) after those of earlier days. ``share``
    ``(k, n)``: only the calls whose number is k modulo n are played (worker k of n; the others
    play the rest). ``prompt_ms`` gives how long each prompt plays (``sounds.prompt_lengths_from_files``);
    without it every prompt lasts 2 s. ``speed`` paces the arrivals and the menus, ``ami_speed``
    (default ``speed``) each call's AMI events. Calls are taken from ``calls`` as their moment comes, and a
    call is dropped once it ended unless ``keep``: memory follows the calls in progress, not the run.
    ``total`` (the number of calls, when known) is for ``progress``. ``operators_day``: the
    operators' logins, breaks and logouts play out beside the calls (``members.py``)."""
    host, port = fastagi
    worker, workers = share
    loop = asyncio.get_running_loop()
    if operators_day:
        register_static(pbx, queues, clock())  # no-op when the operators on duty round the clock are in already
    started = time.monotonic() if started is None else started
    ami_speed = speed if ami_speed is None else ami_speed
    tally = tally if tally is not None else Tally()
    result = DriveResult(results=[], tally=tally)
    in_menu: deque[tuple[int, PlannedCall, float, asyncio.Future[AGICallResult]]] = deque()
    arrived = asyncio.Event()
    running: set[asyncio.Task[Any]] = set()
    planned_all = False
    done = 0

    def tap(_line: str, seconds: float) -> None:
        tally.turnaround.add(seconds)

    async def menu(index: int, call: PlannedCall, began: float, finished: asyncio.Future[AGICallResult]) -> None:
        nonlocal done
        base = FIRST_ID + index * IDS_PER_CALL
        channel = SimulatedChannel.for_call(call.line, sequence=base, uniqueid=f"{int(began)}.{base}")
        caller = Caller(number=call.caller_number, reactions=call.reactions)
        try:
            outcome = await run_agi_call(host, port, channel, caller, speed=speed, prompt_ms=prompt_ms,
                                         on_command=tap)
        except BaseException as exc:
            finished.set_exception(exc)
            raise
        finished.set_result(outcome)
        done += 1
        if progress is not None and total and (done == total or done % max(1, total // 40) == 0):
            progress(done, total, call.at)

    async def arrivals() -> None:
        """Each call at its moment; late calls start at once (the lag is tallied)."""
        nonlocal planned_all
        for offset, call in enumerate(calls):
            index = first_index + offset
            if index % workers != worker:
                continue
            delay = call.at / speed - (time.monotonic() - started)
            await asyncio.sleep(max(0.0, delay))
            began = clock()
            tally.began(time.time(), max(0.0, -delay))
            finished: asyncio.Future[AGICallResult] = loop.create_future()
            in_menu.append((index, call, began, finished))
            arrived.set()
            _spawn(running, menu(index, call, began, finished))
        planned_all = True
        arrived.set()

    async def pbx_side() -> None:
        """In plan order (so the queue model is deterministic), play each call's AMI events."""
        while True:
            if not in_menu:
                if planned_all:
                    return
                arrived.clear()
                await arrived.wait()
                continue
            index, call, start, finished = in_menu[0]
            outcome = await finished
            in_menu.popleft()
            base = FIRST_ID + index * IDS_PER_CALL
            linkedid = f"{int(start)}.{base}"
            tally.menu_ended(call.line, outcome.agistatus, outcome.variables.get("IVR_RESULT"), outcome.connect_error)
            scenario = scenario_for(config.lines[call.line], call, outcome)
            if scenario.queue_joined is not None:
                joined = joins_queue_at(scenario, day_start + call.at, base) - day_start
                decision = queues.decide(f"{call.line}:{index}", scenario.queue_joined, joined)
                scenario = with_decision(scenario, decision)
                tally.queue_ended(call.line, decision.answered)
                if keep:
                    result.decisions[linkedid] = decision
            if keep:
                result.results.append(outcome)
                result.scenarios[linkedid] = scenario
            _spawn(running, play_call(pbx, scenario, start, speed=ami_speed, ids=ids_from(base)))

    day = asyncio.create_task(play_day(pbx, day_plan(queues), speed=speed, clock=clock)) if operators_day else None
    await asyncio.gather(arrivals(), pbx_side())
    while running:
        await asyncio.gather(*list(running))
    if day is not None:
        await day
    return result


def _spawn(running: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(coro)
    running.add(task)
    task.add_done_callback(running.discard)


def print_progress(done: int, total: int, at: float) -> None:
    width = 40
    filled = int(width * done / total) if total else width
    clock = time.strftime("%H:%M", time.gmtime(at))
    sys.stderr.write(f"\r  simulated {clock}  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls")
    sys.stderr.flush()
