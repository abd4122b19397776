"""Contact-center figures: the tree of numbers a summary, ``stats`` and the CSV export show
(counts, queue figures, shares per line, topic, age group and hour), and its JSON. Pure.

What each figure means (the outcome buckets, service level, the definitions the footer prints)
is ``definitions.py``; the maths that fills the tree from grouped call rows is ``compute.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from .definitions import BUCKETS, Definitions, ratio
from .operators import OperatorFigures, QueueRow
from .period import Period


@dataclass(frozen=True)
class Catalog:
    """Display names from the configuration: line number -> name, (line, topic id) -> name, queue ->
    (description, the lines that use it)."""

    lines: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[tuple[str, str], str] = field(default_factory=dict)
    queues: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def line_name(self, line: str) -> str:
        return self.lines.get(line, line)

    def topic_name(self, line: str | None, topic: str) -> str | None:
        return self.topics.get((line, topic)) if line is not None else None


# ------------------------------------------------------------------------------- the tree


@dataclass
class Counts:
    offered: int = 0
    answered: int = 0
    abandoned_menu: int = 0
    abandoned_queue: int = 0
    short_abandon: int = 0
    selfservice: int = 0
    unanswered: int = 0
    failed: int = 0
    unknown_end: int = 0
    in_progress: int = 0
    no_ami: int = 0

    def add(self, bucket: str, calls: int) -> None:
        setattr(self, bucket, getattr(self, bucket) + calls)
        self.offered += calls

    def merge(self, other: Counts) -> None:
        for name in ("offered", *BUCKETS):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def queued(self) -> int:
        return self.answered + self.abandoned_queue + self.unanswered

    @property
    def selfservice_rate(self) -> float | None:
        return ratio(self.selfservice, self.offered)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["selfservice_rate"] = _round(self.selfservice_rate, 4)
        return data


@dataclass
class QueueFigures:
    """Queue KPIs; only calls seen by AMI contribute (menu-only calls have no queue data)."""

    queued: int
    answered_within: int
    abandoned_within: int
    service_level: float | None
    asa: float | None
    longest_wait: float | None
    avg_talk: float | None
    abandon_rate: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "queued": self.queued,
            "answered_within": self.answered_within,
            "abandoned_within": self.abandoned_within,
            "service_level": _round(self.service_level, 4),
            "asa_seconds": _round(self.asa, 1),
            "longest_wait_seconds": _round(self.longest_wait, 1),
            "avg_talk_seconds": _round(self.avg_talk, 1),
            "abandon_rate": _round(self.abandon_rate, 4),
        }


@dataclass(frozen=True)
class Share:
    key: str  # topic id ("" = no topic) or age group code
    name: str | None
    calls: int
    share: float | None
    line: str | None = None  # set in the all-lines topic list

    def to_json(self) -> dict[str, Any]:
        data = {"key": self.key, "name": self.name, "calls": self.calls, "share": _round(self.share, 4)}
        if self.line is not None:
            data["line"] = self.line
        return data


@dataclass
class Section:
    """The figures of one line, or of all lines (``line`` is None)."""

    line: str | None
    name: str
    counts: Counts
    queue: QueueFigures | None  # None: no AMI data for these calls
    topics: list[Share]
    ages: list[Share]
    hours: list[int]  # 24 local hours

    @property
    def ami_data(self) -> bool:
        return self.queue is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "counts": self.counts.to_json(),
            "ami_data": self.ami_data,
            "queue": self.queue.to_json() if self.queue else None,
            "topics": [t.to_json() for t in self.topics],
            "age_groups": [a.to_json() for a in self.ages],
            "hours": list(self.hours),
        }


@dataclass
class PeriodFigures:
    period: Period
    total: Section
    lines: list[Section]
    source: str  # calls | menu | mixed | none
    incomplete: int  # calls rows with complete = 0
    menu_only: int  # calls known only from a menu session (AMI did not see them)

    def to_json(self) -> dict[str, Any]:
        return {
            "period": _period_json(self.period),
            "source": self.source,
            "total": self.total.to_json(),
            "lines": [s.to_json() for s in self.lines],
        }


@dataclass
class Totals:
    """Headline counts for a longer span (month to date, since the first record)."""

    period: Period
    total: Counts
    lines: dict[str, Counts]

    def to_json(self) -> dict[str, Any]:
        return {
            "period": _period_json(self.period),
            "total": self.total.to_json(),
            "lines": {line: c.to_json() for line, c in self.lines.items()},
        }


@dataclass(frozen=True)
class Completeness:
    """Why the day's figures may move later; the email says so when ``complete`` is false."""

    unknown_end: int
    in_progress: int
    incomplete_records: int
    ami_gap: int  # menu sessions AMI did not see, on a day AMI saw other calls
    menu_missed: int = 0  # calls that reached a queue with no menu session: the menu did not run

    @property
    def complete(self) -> bool:
        return not (self.unknown_end or self.in_progress or self.incomplete_records or self.ami_gap
                    or self.menu_missed)

    def to_json(self) -> dict[str, Any]:
        return {"complete": self.complete, **asdict(self)}


@dataclass(frozen=True)
class CallLine:
    """One call listed in the report (longest waits, unknown ends); the number is already masked."""

    started_local: datetime
    line: str
    caller: str
    caller_name: str | None
    topic: str | None
    outcome: str | None
    wait: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_local.isoformat(timespec="seconds"),
            "line": self.line, "caller": self.caller, "caller_name": self.caller_name,
            "topic": self.topic, "outcome": self.outcome, "wait_seconds": _round(self.wait, 1),
        }


@dataclass
class Figures:
    """Everything a summary or ``stats`` shows; :meth:`to_json` keys are stable (README)."""

    main: PeriodFigures
    definitions: Definitions
    completeness: Completeness
    previous_day: PeriodFigures | None = None
    week_before: PeriodFigures | None = None
    month_to_date: Totals | None = None
    since_first_record: Totals | None = None
    first_record: date | None = None
    calls: list[CallLine] = field(default_factory=list)
    retention: dict[str, int] | None = None  # what privacy retention changed that day (email only)
    operators: list[OperatorFigures] = field(default_factory=list)  # sorted by calls answered
    queues: list[QueueRow] = field(default_factory=list)  # every configured queue, then others

    def to_json(self) -> dict[str, Any]:
        d = self.definitions
        return {
            "schema": 1,
            "period": _period_json(self.main.period),
            "source": self.main.source,
            "definitions": {
                "service_level_seconds": d.service_level_seconds,
                "abandons": d.abandons,
                "service_level_formula": d.service_level_formula,
                "short_abandon_seconds": d.short_abandon_seconds,
            },
            "completeness": self.completeness.to_json(),
            "total": self.main.total.to_json(),
            "lines": [s.to_json() for s in self.main.lines],
            "comparison": {
                "previous_day": _headline(self.previous_day),
                "week_before": _headline(self.week_before),
            },
            "month_to_date": self.month_to_date.to_json() if self.month_to_date else None,
            "since_first_record": self.since_first_record.to_json() if self.since_first_record else None,
            "first_record": self.first_record.isoformat() if self.first_record else None,
            "calls": [c.to_json() for c in self.calls],
            "operators": [o.to_json() for o in self.operators],
            "queues": [q.to_json() for q in self.queues],
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _period_json(p: Period) -> dict[str, Any]:
    return {"from": p.first.isoformat(), "to": p.last.isoformat(), "timezone": p.timezone,
            "start_utc": p.start_utc, "end_utc": p.end_utc, "days": p.days}


def _headline(f: PeriodFigures | None) -> dict[str, Any] | None:
    if f is None:
        return None
    q = f.total.queue
    return {
        "period": _period_json(f.period),
        "counts": f.total.counts.to_json(),
        "service_level": _round(q.service_level, 4) if q else None,
        "asa_seconds": _round(q.asa, 1) if q else None,
    }
