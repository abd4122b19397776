"""``asterisk-bridge simulate``: the traffic model against a running bridge, to rehearse a configuration.

The simulator plays Asterisk: every planned call runs the menu over FastAGI at the bridge's
address, then the call's AMI events (queue, operator, hang-up) go out on an AMI server the
simulator offers, for the bridge's ``[ami]`` to connect to. The per-call driving is
``driver.drive_calls``, the same as ``demo``'s.

Times: the bridge keeps its own clock (the wall clock), so a call starts now: its AGI uniqueid and
its first AMI event carry the wall-clock moment its menu began. Arrivals follow the day's profile
compressed into ``day_seconds``, and within a call the AMI ``Timestamp`` s advance by the simulated
durations (a 5-minute talk is stored as 5 minutes, though it is played in a fraction of a second
at the default speed). With ``day_seconds = 86400`` everything is in real time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..config import Config
from .ami_server import AMIServer
from .driver import DriveResult, Progress, drive_calls
from .fastagi_client import AGICallResult
from .queues import QueueDecision, QueueModel
from .scenario import CallScenario
from .traffic import PlannedCall, TrafficModel

DAY = 86400.0


@dataclass
class SimulationResult:
    calls: list[PlannedCall] = field(default_factory=list)
    results: list[AGICallResult] = field(default_factory=list)
    scenarios: dict[str, CallScenario] = field(default_factory=dict)
    decisions: dict[str, QueueDecision] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, calls: list[PlannedCall], driven: DriveResult) -> None:
        self.calls += calls
        self.results += driven.results
        self.scenarios.update(driven.scenarios)
        self.decisions.update(driven.decisions)


async def wait_for_bridge(pbx: AMIServer, timeout: float) -> bool:
    """True once a client (the bridge) has logged in to the simulator's AMI and had time to reconcile."""
    try:
        async with asyncio.timeout(timeout):
            while not pbx.connections:
                await asyncio.sleep(0.05)
    except TimeoutError:
        return False
    await asyncio.sleep(0.2)
    return True


async def run_simulation(
    config: Config,
    pbx: AMIServer,
    fastagi: tuple[str, int],
    *,
    seed: int = 1,
    days: int = 1,
    calls_per_day: Mapping[str, int] | None = None,
    day_seconds: float = 60.0,
    progress: Progress | None = None,
    day_done=None,
    prompt_ms: Mapping[str, int] | None = None,
) -> SimulationResult:
    """Drive ``days`` simulated days of calls from the traffic model against the bridge at ``fastagi``.

    ``prompt_ms`` (``sounds.prompt_lengths_from_files``): prompts play as long as their files and
    callers wait to hear their key; other prompts last 2 s."""
    speed = DAY / day_seconds
    model = TrafficModel(config, seed=seed, prompt_ms=prompt_ms)
    if calls_per_day is not None:
        model.calls_per_day = dict(calls_per_day)
    out = SimulationResult()
    started = time.monotonic()
    for day_index in range(days):
        calls = model.day(day_index)
        queues = QueueModel(config.queues, seed=seed, day_index=day_index)
        driven = await drive_calls(calls, config=config, pbx=pbx, queues=queues, fastagi=fastagi, speed=speed,
                                   clock=time.time, first_index=len(out.calls), progress=progress,
                                   prompt_ms=prompt_ms)
        out.add(calls, driven)
        if day_done is not None:
            day_done(day_index, calls, driven)
    out.seconds = time.monotonic() - started
    return out


def format_simulation(result: SimulationResult) -> str:
    """Per line: calls driven, how the menu ended (IVR_RESULT as the bridge set it) and the queue's part."""
    out = [f"{'line':<6}{'calls':>7}{'topic':>7}{'operator':>10}{'self-serv':>11}{'timeout':>9}{'error':>7}"
           f"{'hang-up':>9}{'no result':>11}{'answered':>10}{'abandoned':>11}"]
    by_line: dict[str, list[tuple[PlannedCall, AGICallResult]]] = {}
    for call, res in zip(result.calls, result.results, strict=True):
        by_line.setdefault(call.line, []).append((call, res))
    answered = Counter(s.line for s in result.scenarios.values() if s.operator is not None)
    abandoned = Counter(s.line for s in result.scenarios.values()
                        if s.queue_joined is not None and s.operator is None)
    for line in sorted(by_line):
        rows = by_line[line]
        menu = Counter("hangup" if r.agistatus == "HANGUP" else (r.variables.get("IVR_RESULT") or "-")
                       for _, r in rows)
        out.append(f"{line:<6}{len(rows):>7}{menu['topic']:>7}{menu['operator']:>10}{menu['selfservice']:>11}"
                   f"{menu['timeout']:>9}{menu['error']:>7}{menu['hangup']:>9}{menu['-']:>11}"
                   f"{answered[line]:>10}{abandoned[line]:>11}")
    return "\n".join(out)
