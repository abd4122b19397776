"""What a simulation came to, counted as its calls end: per line how the menu ended and how the
queues went, connection failures, and how fast the bridge answered.

Why counters and not the calls themselves: ``simulate`` may drive millions of calls (a load test
offers hundreds a second for minutes), and keeping every call's transcript grew it to gigabytes.
A tally is a few hundred numbers whatever the run's length, merges across worker processes, and
pickles small. Pure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: turnaround histogram resolution: 10 us buckets (a second is 100,000 of them)
_BUCKETS_PER_SECOND = 100_000


@dataclass
class Turnaround:
    """Seconds from the simulator's bytes to the bridge's next command, as a histogram."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    worst: float = 0.0

    def add(self, seconds: float) -> None:
        self.buckets[int(seconds * _BUCKETS_PER_SECOND)] += 1
        self.count += 1
        if seconds > self.worst:
            self.worst = seconds

    def merge(self, other: Turnaround) -> None:
        self.buckets.update(other.buckets)
        self.count += other.count
        self.worst = max(self.worst, other.worst)

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) in milliseconds, to the bucket's upper edge; NaN when empty."""
        if not self.count:
            return float("nan")
        rank = min(self.count - 1, int(q * self.count))
        seen = 0
        for bucket in sorted(self.buckets):
            seen += self.buckets[bucket]
            if seen > rank:
                return (bucket + 1) * 1000 / _BUCKETS_PER_SECOND
        return self.worst * 1000

    def over(self, seconds: float) -> int:
        """How many answers took longer than ``seconds``."""
        edge = int(seconds * _BUCKETS_PER_SECOND)
        return sum(n for bucket, n in self.buckets.items() if bucket >= edge)


@dataclass
class Tally:
    """Per line (``lines[line]``): ``calls``, the menu's ending (``topic``, ``operator``,
    ``selfservice``, ``timeout``, ``error``, ``hangup``, ``-`` when the bridge never set
    IVR_RESULT), ``answered`` and ``abandoned`` in the queues; ``failures`` by reason (a menu
    that ended with AGISTATUS=FAILURE: the bridge unreachable, or it closed early)."""

    lines: dict[str, Counter[str]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    turnaround: Turnaround = field(default_factory=Turnaround)
    started: int = 0  # calls whose menu began
    late_max: float = 0.0  # the latest a call began after its planned moment (s): the simulator's own lag
    first_began: float | None = None  # epoch seconds the first and the last call began
    last_began: float | None = None

    def began(self, at: float, late: float) -> None:
        """A call's menu began at ``at`` (epoch seconds), ``late`` seconds after its planned moment."""
        self.started += 1
        self.late_max = max(self.late_max, late)
        if self.first_began is None or at < self.first_began:
            self.first_began = at
        if self.last_began is None or at > self.last_began:
            self.last_began = at

    @property
    def offered_per_second(self) -> float:
        """New calls a second between the first call and the last (NaN with fewer than two)."""
        if self.started < 2 or self.first_began is None or self.last_began is None:
            return float("nan")
        return (self.started - 1) / max(self.last_began - self.first_began, 1e-9)

    def menu_ended(self, line: str, agistatus: str, ivr_result: str | None, failure: str | None) -> None:
        counts = self.lines.setdefault(line, Counter())
        counts["calls"] += 1
        counts["hangup" if agistatus == "HANGUP" else (ivr_result or "-")] += 1
        if agistatus == "FAILURE":
            self.failures[failure or "AGISTATUS=FAILURE"] += 1

    def queue_ended(self, line: str, answered: bool) -> None:
        self.lines.setdefault(line, Counter())["answered" if answered else "abandoned"] += 1

    @property
    def calls(self) -> int:
        return sum(c["calls"] for c in self.lines.values())

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def merge(self, other: Tally) -> None:
        for line, counts in other.lines.items():
            self.lines.setdefault(line, Counter()).update(counts)
        self.failures.update(other.failures)
        self.turnaround.merge(other.turnaround)
        self.started += other.started
        self.late_max = max(self.late_max, other.late_max)
        for at in (other.first_began, other.last_began):
            if at is not None:
                self.first_began = at if self.first_began is None else min(self.first_began, at)
                self.last_began = at if self.last_began is None else max(self.last_began, at)


def format_tally(tally: Tally) -> str:
    """Per line: calls driven, how the menu ended (IVR_RESULT as the bridge set it) and the queue's part."""
    out = [f"{'line':<6}{'calls':>7}{'topic':>7}{'operator':>10}{'self-serv':>11}{'timeout':>9}{'error':>7}"
           f"{'hang-up':>9}{'no result':>11}{'answered':>10}{'abandoned':>11}"]
    for line in sorted(tally.lines):
        c = tally.lines[line]
        out.append(f"{line:<6}{c['calls']:>7}{c['topic']:>7}{c['operator']:>10}{c['selfservice']:>11}"
                   f"{c['timeout']:>9}{c['error']:>7}{c['hangup']:>9}{c['-']:>11}"
                   f"{c['answered']:>10}{c['abandoned']:>11}")
    return "\n".join(out)


def format_turnaround(tally: Tally) -> str:
    """One line: how fast the bridge answered the simulator's FastAGI replies."""
    t = tally.turnaround
    if not t.count:
        return "FastAGI turnaround: no commands answered"
    return (f"FastAGI turnaround (the bridge's next command after each reply): {t.count:,} commands, "
            f"p50 {t.percentile_ms(0.50):.2f} ms, p99 {t.percentile_ms(0.99):.2f} ms, max {t.worst * 1000:.1f} ms, "
            f"{t.over(0.010):,} over 10 ms")
