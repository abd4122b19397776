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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..config import Config
from .ami_calls import EventSink
from .ami_server import AMIServer
from .driver import DriveResult, Progress, drive_calls
from .fastagi_client import AGICallResult
from .queues import QueueDecision, QueueModel
from .scenario import CallScenario
from .tally import Tally, format_tally
from .traffic import PlannedCall, TrafficModel

DAY = 86400.0


@dataclass
class SimulationResult:
    """The run's tally; with ``keep`` also every call, its menu result, scenario and queue decision."""

    tally: Tally = field(default_factory=Tally)
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


@dataclass(frozen=True)
class Plan:
    """Which calls a simulation plays: ``days`` of the traffic model, each compressed into
    ``day_seconds``, or with ``rate`` a flat ``rate`` new calls a second for ``seconds`` (a load
    test: menus play in real time, the queue and talk after them ``LOAD_AMI_SPEED`` times faster;
    the operators are those on duty round the clock, no day shift logs in)."""

    seed: int = 1
    days: int = 1
    calls_per_day: Mapping[str, int] | None = None
    day_seconds: float = 60.0
    rate: float | None = None
    seconds: float = 60.0
    prompt_ms: Mapping[str, int] | None = None

    def model(self, config: Config) -> TrafficModel:
        model = TrafficModel(config, seed=self.seed, prompt_ms=self.prompt_ms)
        if self.calls_per_day is not None:
            model.calls_per_day = dict(self.calls_per_day)
        return model

    def periods(self, config: Config) -> Iterator[tuple[int, Iterable[PlannedCall], int, float, float]]:
        """(day index, its calls as a stream, how many, speed of arrivals and menus, speed of AMI)."""
        model = self.model(config)
        if self.rate is not None:
            count = int(self.rate * self.seconds)
            yield 0, model.at_rate(self.rate, self.seconds), count, 1.0, LOAD_AMI_SPEED
            return
        speed = DAY / self.day_seconds
        per_day = sum(model.calls_per_day.get(line, 0) for line in config.lines)
        for day_index in range(self.days):
            yield day_index, model.stream(day_index), per_day, speed, speed


#: how much faster than real time a load test (``Plan.rate``) plays each call's queue and talk
LOAD_AMI_SPEED = 600.0


async def run_simulation(
    config: Config,
    pbx: EventSink,
    fastagi: tuple[str, int],
    *,
    seed: int = 1,
    days: int = 1,
    calls_per_day: Mapping[str, int] | None = None,
    day_seconds: float = 60.0,
    progress: Progress | None = None,
    day_done=None,
    prompt_ms: Mapping[str, int] | None = None,
    plan: Plan | None = None,
    keep: bool = True,
    share: tuple[int, int] = (0, 1),
    started: float | None = None,
) -> SimulationResult:
    """Drive the simulated calls of ``plan`` (or of ``days`` simulated days of the traffic model)
    against the bridge at ``fastagi``.

    ``prompt_ms`` (``sounds.prompt_lengths_from_files``): prompts play as long as their files and
    callers wait to hear their key; other prompts last 2 s. ``keep``: keep every call in the result
    (else only the tally). ``share`` and ``started``: a worker's part of the calls and the common
    start (``workers.py``)."""
    if plan is None:
        plan = Plan(seed=seed, days=days, calls_per_day=calls_per_day, day_seconds=day_seconds, prompt_ms=prompt_ms)
    out = SimulationResult()
    began = time.monotonic()
    index = 0
    for day_index, calls, count, speed, ami_speed in plan.periods(config):
        queues = QueueModel(config.queues, seed=plan.seed, day_index=day_index,
                            first_exten=QueueModel.first_exten + share[0] * WORKER_EXTENS)
        kept: list[PlannedCall] = []
        stream = _keeping(calls, kept) if keep else calls
        driven = await drive_calls(stream, config=config, pbx=pbx, queues=queues, fastagi=fastagi, speed=speed,
                                   clock=time.time, first_index=index, progress=progress, prompt_ms=plan.prompt_ms,
                                   keep=keep, total=count, share=share, started=started, ami_speed=ami_speed,
                                   tally=out.tally, operators_day=plan.rate is None)
        index += count
        started = None  # later days start when the one before has ended
        if keep:
            out.add(kept, driven)
        if day_done is not None:
            day_done(day_index, count, driven)
    out.seconds = time.monotonic() - began
    return out


#: a worker's operators are numbered from 1001 + its number x this, so no two workers share one
WORKER_EXTENS = 1000


def _keeping(calls: Iterable[PlannedCall], kept: list[PlannedCall]) -> Iterator[PlannedCall]:
    for call in calls:
        kept.append(call)
        yield call


def format_simulation(result: SimulationResult) -> str:
    """Per line: calls driven, how the menu ended (IVR_RESULT as the bridge set it) and the queue's part."""
    return format_tally(result.tally)
