"""The simulator's queues: operators, their shifts and handling times, and callers' patience.

Why: the menu says which queue a caller joins; what happens there (how long they wait, who
answers, whether they give up) decides the figures the summary is about. Pure and
deterministic for a seed: each caller's draws come from a generator keyed by the call, so a
decision never depends on how other calls' menus happened to be timed.

Callers are served first come, first served by the operator of the queue who is free (and on
shift, and not paused) first; an operator who answers is busy for the talk time plus after-call
work. Ringing an operator who does not pick up costs 6 s (5 s ring + 1 s retry, as the queues are
set up), and the queue auto-pauses him (the shipped template's ``autopause``) until he notices, a
few minutes later. One operator per queue is on duty round the clock (a static member, always
logged in); the others log in for a day shift and take a lunch and two short breaks in it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from .scenario import Operator
from .errors import QueueModelError

NO_ANSWER_COST = 6.0  # ring timeout 5 s + retry 1 s


@dataclass(frozen=True)
class Handling:
    """Distributions, in seconds and probabilities."""

    talk_median: float = 210.0        # lognormal talk time, ~3.5 min
    talk_sigma: float = 0.55
    talk_min: float = 20.0
    talk_max: float = 1800.0
    wrap_up: tuple[float, float] = (20.0, 90.0)  # after-call work, uniform
    ring: tuple[float, float] = (2.0, 9.0)       # an operator picks up after ringing this long
    no_answer: float = 0.08                      # first operator rung does not pick up
    patience_min: float = 10.0                   # the others give the queue at least this long
    patience_mean: float = 150.0                 # beyond patience_min, exponential
    short_patience: float = 0.04                 # hang up within 1-4.5 s of joining
    caller_hangs_up: float = 0.6                 # at the end of the talk (else the operator)
    auto_pause: tuple[float, float] = (120.0, 600.0)  # an auto-paused operator notices after this long
    lunch: tuple[float, float] = (1800.0, 2700.0)     # a day-shift operator's lunch, uniform
    short_break: tuple[float, float] = (600.0, 900.0)  # and two short breaks

#: pause reasons the simulated operators give (QueuePause Reason)
LUNCH, BREAK = "обед", "перерыв"
#: Asterisk's reason for a pause after a ring-out (app_queue rna())
AUTO_PAUSE = "Auto-Pause"


@dataclass
class QueueOperator:
    operator: Operator
    shift: tuple[float, float]  # seconds of the day on duty [start, end)
    free_at: float = 0.0
    taken: int = 0
    pauses: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, reason), seconds of the day

    @property
    def static(self) -> bool:
        """On duty round the clock: a ``member =>`` of queues.conf, never logged in or out."""
        return self.shift == (0.0, 86400.0)


@dataclass(frozen=True)
class QueueDecision:
    """What happens to one caller in one queue. Times in seconds of the simulated day."""

    key: str
    queue: str
    joined_at: float
    wait: float                        # in the queue until answered or given up
    operator: Operator | None          # None: the caller abandoned
    no_answer: tuple[Operator, ...] = ()
    hold: float = 0.0                  # all busy, before the first ring
    ring: float = 0.0                  # the answering operator's ring time
    talk: float = 0.0
    hangup_by: str = "caller"          # caller | agent
    auto_pause: float = 0.0            # how long the queue keeps each no_answer operator auto-paused

    @property
    def answered(self) -> bool:
        return self.operator is not None


@dataclass
class QueueModel:
    """Operators per queue and their day. ``decide`` keeps each operator's busy-until time, so
    calls should come in order of joining (``decide_all`` sorts a batch); one decided a little
    out of order is still served, only first-come-first-served is then approximate."""

    queues: Iterable[str]
    seed: int = 1
    day_index: int = 0
    handling: Handling = field(default_factory=Handling)
    first_exten: int = 1001
    operators: dict[str, list[QueueOperator]] = field(init=False)

    def __post_init__(self) -> None:
        self.operators = {}
        exten = self.first_exten
        for queue in self.queues:
            rng = random.Random(f"{self.seed}:staff:{queue}")
            count = rng.randint(3, 4) if queue.endswith("-default") else rng.randint(2, 4)
            staff = []
            for i in range(count):
                # one operator on duty round the clock (the line runs 24/7), the rest by day
                shift = (0.0, 86400.0) if i == 0 else _day_shift(rng)
                name = f"Оператор {exten}"
                member = QueueOperator(Operator(str(exten), name), shift)
                if i:
                    member.pauses = _breaks(random.Random(f"{self.seed}:{self.day_index}:breaks:{exten}"),
                                            shift, self.handling)
                staff.append(member)
                exten += 1
            self.operators[queue] = staff

    def staff(self, queue: str) -> tuple[Operator, ...]:
        return tuple(o.operator for o in self._queue(queue))

    def _queue(self, queue: str) -> list[QueueOperator]:
        try:
            return self.operators[queue]
        except KeyError:
            raise QueueModelError(f"queue {queue!r} has no operators in the model "
                                  f"(known: {', '.join(sorted(self.operators))})") from None

    def decide(self, key: str, queue: str, joined_at: float) -> QueueDecision:
        staff = self._queue(queue)
        h = self.handling
        rng = random.Random(f"{self.seed}:{self.day_index}:call:{key}")
        patience = (rng.uniform(1.0, 4.5) if rng.random() < h.short_patience
                    else h.patience_min + rng.expovariate(1.0 / h.patience_mean))
        ring = rng.uniform(*h.ring)
        refuses = rng.random() < h.no_answer
        talk = min(h.talk_max, max(h.talk_min, rng.lognormvariate(math.log(h.talk_median), h.talk_sigma)))
        wrap = rng.uniform(*h.wrap_up)
        hangup_by = "caller" if rng.random() < h.caller_hangs_up else "agent"

        ready = sorted(((_available(o, joined_at), i) for i, o in enumerate(staff)))
        at, index = ready[0]
        no_answer: tuple[Operator, ...] = ()
        refused = staff[index]
        if refuses and len(ready) > 1 and ready[1][0] <= at:
            # the first operator rung does not pick up; the next free one does
            no_answer = (refused.operator,)
            index = ready[1][1]
        hold = at - joined_at
        wait = hold + NO_ANSWER_COST * len(no_answer) + ring
        if wait > patience or math.isinf(at):
            return QueueDecision(key, queue, joined_at, patience, None, hangup_by="caller")
        paused = 0.0
        if no_answer:  # let it ring out: the queue pauses him until he notices
            paused = rng.uniform(*h.auto_pause)
            rang_out = at + NO_ANSWER_COST - 1.0
            refused.pauses = sorted([*refused.pauses, (rang_out, rang_out + paused, AUTO_PAUSE)])
        chosen = staff[index]
        chosen.free_at = joined_at + wait + talk + wrap
        chosen.taken += 1
        return QueueDecision(key, queue, joined_at, wait, chosen.operator, no_answer, hold, ring, talk, hangup_by,
                             paused)

    def decide_all(self, calls: Iterable[tuple[str, str, float]]) -> dict[str, QueueDecision]:
        """(key, queue, joined_at) for every call that reaches a queue -> decision by key."""
        ordered = sorted(calls, key=lambda c: (c[2], c[0]))
        return {key: self.decide(key, queue, at) for key, queue, at in ordered}


def _day_shift(rng: random.Random) -> tuple[float, float]:
    start = rng.choice((8, 9, 10, 12))
    return start * 3600.0, (start + rng.choice((8, 9))) * 3600.0


def _breaks(rng: random.Random, shift: tuple[float, float], h: Handling) -> list[tuple[float, float, str]]:
    """A day shift's lunch in its middle and a short break in each half."""
    start, end = shift
    middle = (start + end) / 2 + rng.uniform(-1800.0, 1800.0)
    lunch = rng.uniform(*h.lunch)
    out = [(middle - lunch / 2, middle + lunch / 2, LUNCH)]
    for at in (start + (middle - start) / 2, middle + (end - middle) / 2):
        begin = at + rng.uniform(-900.0, 900.0)
        out.append((begin, begin + rng.uniform(*h.short_break), BREAK))
    return sorted(out)


def _available(op: QueueOperator, at: float) -> float:
    """When the operator can first be rung for a caller joining at ``at`` (inf: not today):
    on shift, free, and not paused."""
    start, end = op.shift
    t = max(at, op.free_at, start)
    for begin, stop, _ in op.pauses:
        if begin <= t < stop:
            t = stop
    return t if t < end else math.inf
