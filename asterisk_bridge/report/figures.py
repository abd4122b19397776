"""Contact-center figures from grouped call rows: pure KPI maths, no I/O.

The store hands over *groups* (``calls`` rows counted per line, topic, age group and outcome,
with wait and talk sums), not individual calls: the same maths then serves one day (a few
thousand calls) and five months (a million) at the speed of one SQL ``GROUP BY``. A single call
is simply a group of one.

Every product computes "service level" differently (Asterisk's ``ServiceLevelPerf`` divides by
the calls answered, others by the calls offered, with or without the abandons within the
threshold), so the exact definitions live here, in :data:`DEFINITIONS`, and the summary footer
prints them.

Outcome buckets partition the calls offered: every call falls in exactly one, so
``offered == sum(buckets)`` always holds (tests check it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ..calls.model import OUTCOMES, UNANSWERED_OUTCOMES
from .period import Period, zone

ABANDON_TREATMENTS = ("ignored", "against", "for")

#: Outcome buckets, in the order reports show them.
BUCKETS = (
    "answered", "abandoned_menu", "abandoned_queue", "short_abandon", "selfservice",
    "unanswered", "failed", "unknown_end", "in_progress", "no_ami",
)

#: calls.outcome -> bucket: each outcome is its own bucket, except queue_timeout/full/empty (the
#: call wanted an operator and the queue let it go without one), which are "unanswered".
_OUTCOME_BUCKET = {outcome: "unanswered" if outcome in UNANSWERED_OUTCOMES else outcome for outcome in OUTCOMES}

#: Age group codes of the contract, in display order; other codes a line configures follow.
AGE_GROUPS = ("under-30", "30-40", "40-60", "over-60", "unknown")

NO_TOPIC = ""  # the topic key for calls that chose none (hung up, operator key, timeout)

DEFINITIONS = {
    "offered": "every call that reached a line in the period (by its start time): calls seen by AMI, "
    "plus menu sessions AMI did not see",
    "answered": "an operator answered the call",
    "abandoned_menu": "the caller hung up in the voice menu, before any queue",
    "abandoned_queue": "the caller hung up while waiting in a queue, after the short-abandon threshold",
    "short_abandon": "the caller hung up within the short-abandon threshold of joining the queue; "
    "left out of service level and abandon rate",
    "selfservice": "the information message answered the question; the call ended without an operator",
    "unanswered": "the queue let the call go unanswered (queue timeout, queue full, no operators)",
    "failed": "Asterisk reported a failure, or an outcome this version does not know",
    "unknown_end": "the end of the call was never seen (AMI link lost); counted, never guessed",
    "in_progress": "the call had not ended when the figures were taken",
    "no_ami": "known only from the voice menu (AMI off or a gap): sent to a queue, fate unknown",
    "queued": "answered + abandoned_queue + unanswered (calls that waited for an operator; "
    "short abandons excluded)",
    "service_level.ignored": "answered within T / (queued - abandoned within T)",
    "service_level.against": "answered within T / queued (every abandon counts as a failure)",
    "service_level.for": "(answered within T + abandoned within T) / queued",
    "asa": "average speed of answer: total queue wait of answered calls / answered calls",
    "longest_wait": "the longest queue wait of any call in the period",
    "avg_talk": "total talk time / answered calls with a known talk time",
    "abandon_rate": "abandoned_queue / (answered + abandoned_queue)",
    "selfservice_rate": "selfservice / offered (true containment: the message was heard to the end)",
    "share": "share of the calls offered on that line (or in total)",
}


def outcome_bucket(outcome: str | None) -> str:
    if outcome is None:
        return "in_progress"
    return _OUTCOME_BUCKET.get(outcome, "failed")


def menu_bucket(result: str | None) -> str:
    """A menu session AMI never saw: only the menu can say what happened."""
    if result == "hangup":
        return "abandoned_menu"
    if result == "selfservice":
        return "selfservice"
    return "no_ami"


@dataclass(frozen=True)
class Definitions:
    """The thresholds the figures were computed with (printed in the footer)."""

    service_level_seconds: float = 20.0
    abandons: str = "against"
    short_abandon_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.abandons not in ABANDON_TREATMENTS:
            raise ValueError(f"abandons={self.abandons!r}: expected one of {', '.join(ABANDON_TREATMENTS)}")
        if self.service_level_seconds <= 0:
            raise ValueError(f"service_level_seconds={self.service_level_seconds!r}: must be > 0")

    @property
    def service_level_formula(self) -> str:
        return DEFINITIONS[f"service_level.{self.abandons}"]


@dataclass(frozen=True)
class Catalog:
    """Display names from the configuration: line number -> name, (line, topic id) -> name."""

    lines: Mapping[str, str] = field(default_factory=dict)
    topics: Mapping[tuple[str, str], str] = field(default_factory=dict)

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
        return _ratio(self.selfservice, self.offered)

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

    @property
    def complete(self) -> bool:
        return not (self.unknown_end or self.in_progress or self.incomplete_records or self.ami_gap)

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
        }


# ------------------------------------------------------------------------------- maths


class _Acc:
    """Running sums for one section."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.ami_calls = 0
        self.answered_within = 0
        self.abandoned_within = 0
        self.wait_sum = 0.0
        self.wait_max: float | None = None
        self.talk_n = 0
        self.talk_sum = 0.0
        self.topics: dict[str, int] = {}
        self.ages: dict[str, int] = {}
        self.hours = [0] * 24

    def add_call_group(self, g: Mapping[str, Any], bucket: str) -> None:
        calls = int(g["calls"])
        self.counts.add(bucket, calls)
        self.ami_calls += calls
        within = int(g.get("within") or 0)
        if bucket == "answered":
            self.answered_within += within
            self.wait_sum += float(g.get("wait_sum") or 0.0)
            self.talk_n += int(g.get("talk_n") or 0)
            self.talk_sum += float(g.get("talk_sum") or 0.0)
        elif bucket == "abandoned_queue":
            self.abandoned_within += within
        wait_max = g.get("wait_max")
        if wait_max is not None and (self.wait_max is None or wait_max > self.wait_max):
            self.wait_max = float(wait_max)
        self._add_mix(g, calls)

    def add_menu_group(self, g: Mapping[str, Any], bucket: str) -> None:
        calls = int(g["calls"])
        self.counts.add(bucket, calls)
        self._add_mix(g, calls)

    def _add_mix(self, g: Mapping[str, Any], calls: int) -> None:
        topic = g.get("topic") or NO_TOPIC
        self.topics[topic] = self.topics.get(topic, 0) + calls
        age = g.get("age_group") or "unknown"
        self.ages[age] = self.ages.get(age, 0) + calls

    def queue(self, d: Definitions) -> QueueFigures | None:
        if not self.ami_calls:
            return None
        c = self.counts
        queued = c.queued
        sl = service_level(self.answered_within, self.abandoned_within, queued, d.abandons)
        return QueueFigures(
            queued=queued,
            answered_within=self.answered_within,
            abandoned_within=self.abandoned_within,
            service_level=sl,
            asa=_ratio(self.wait_sum, c.answered),
            longest_wait=self.wait_max,
            avg_talk=_ratio(self.talk_sum, self.talk_n),
            abandon_rate=_ratio(c.abandoned_queue, c.answered + c.abandoned_queue),
        )


def compute_period(
    period: Period,
    call_groups: Iterable[Mapping[str, Any]],
    menu_groups: Iterable[Mapping[str, Any]],
    hour_rows: Iterable[Mapping[str, Any]],
    definitions: Definitions,
    catalog: Catalog,
    *,
    incomplete: int = 0,
) -> PeriodFigures:
    """Figures for one period from the store's groups.

    ``call_groups``: ``{line, topic, age_group, outcome, calls, within, wait_sum, wait_max,
    talk_n, talk_sum}`` over ``calls`` rows, where ``within`` counts calls whose queue wait was
    at most the service-level threshold. ``menu_groups``: ``{line, topic, age_group, result,
    calls}`` over menu sessions AMI did not see. ``hour_rows``: ``{line, hour, quarter, calls}``
    with ``hour`` the UTC ``YYYY-MM-DDTHH`` prefix and ``quarter`` 0..3 (quarters, because some
    time zones are 30 or 45 minutes off UTC).
    """
    total, per_line = _Acc(), dict[str, _Acc]()
    seen_calls, menu_only = False, 0
    for g in call_groups:
        seen_calls = True
        bucket = outcome_bucket(g.get("outcome"))
        for acc in (total, per_line.setdefault(_line_key(g), _Acc())):
            acc.add_call_group(g, bucket)
    for g in menu_groups:
        menu_only += int(g["calls"])
        bucket = menu_bucket(g.get("result"))
        for acc in (total, per_line.setdefault(_line_key(g), _Acc())):
            acc.add_menu_group(g, bucket)
    for row in hour_rows:
        hour = _local_hour(row["hour"], int(row["quarter"]), period.timezone)
        calls = int(row["calls"])
        total.hours[hour] += calls
        per_line.setdefault(_line_key(row), _Acc()).hours[hour] += calls

    seen_menu = menu_only > 0
    source = "mixed" if seen_calls and seen_menu else "calls" if seen_calls else "menu" if seen_menu else "none"
    ordered = [n for n in catalog.lines if n in per_line] + sorted(n for n in per_line if n not in catalog.lines)
    lines = [_section(n, catalog.line_name(n), per_line[n], definitions, catalog) for n in ordered]
    return PeriodFigures(
        period=period,
        total=_section(None, "", total, definitions, catalog, topic_lines=per_line),
        lines=lines,
        source=source,
        incomplete=incomplete,
        menu_only=menu_only,
    )


def compute_totals(period: Period, bucket_rows: Iterable[Mapping[str, Any]]) -> Totals:
    """Headline counts from ``{line, bucket, calls}`` rows (see :func:`outcome_bucket`)."""
    total, lines = Counts(), dict[str, Counts]()
    for row in bucket_rows:
        if row["bucket"] not in BUCKETS:
            raise ValueError(f"unknown outcome bucket {row['bucket']!r} (expected one of {', '.join(BUCKETS)})")
        calls = int(row["calls"])
        total.add(row["bucket"], calls)
        lines.setdefault(_line_key(row), Counts()).add(row["bucket"], calls)
    return Totals(period, total, dict(sorted(lines.items())))


def completeness(figures: PeriodFigures) -> Completeness:
    c = figures.total.counts
    return Completeness(
        unknown_end=c.unknown_end,
        in_progress=c.in_progress,
        incomplete_records=figures.incomplete,
        ami_gap=figures.menu_only if figures.source == "mixed" else 0,
    )


def _section(
    line: str | None, name: str, acc: _Acc, d: Definitions, catalog: Catalog,
    topic_lines: Mapping[str, _Acc] | None = None,
) -> Section:
    offered = acc.counts.offered
    if topic_lines is None:
        topics = [
            Share(t, catalog.topic_name(line, t) if t else None, n, _ratio(n, offered))
            for t, n in sorted(acc.topics.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
    else:  # all lines: a topic id is only unique within its line
        rows = [(ln, t, n) for ln, a in topic_lines.items() for t, n in a.topics.items()]
        topics = [
            Share(t, catalog.topic_name(ln, t) if t else None, n, _ratio(n, offered), line=ln)
            for ln, t, n in sorted(rows, key=lambda r: (-r[2], r[0], r[1]))
        ]
    codes = [a for a in AGE_GROUPS if a != "unknown"] + sorted(set(acc.ages) - set(AGE_GROUPS)) + ["unknown"]
    ages = [Share(a, None, acc.ages.get(a, 0), _ratio(acc.ages.get(a, 0), offered)) for a in codes]
    return Section(line, name, acc.counts, acc.queue(d), topics, ages, acc.hours)


def _line_key(row: Mapping[str, Any]) -> str:
    return row.get("line") or "?"


@lru_cache(maxsize=4096)
def _local_hour(utc_hour: str, quarter: int, tz_name: str) -> int:
    moment = datetime.strptime(utc_hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
    moment += timedelta(minutes=15 * quarter)
    return moment.astimezone(zone(tz_name)).hour


def service_level(answered_within: int, abandoned_within: int, queued: int, abandons: str) -> float | None:
    """The one definition of service level, shared by the summary and the live MQTT gauges.

    ``ignored``: answered within T / (queued - abandoned within T); ``against``: answered within
    T / queued; ``for``: (answered + abandoned within T) / queued. None when nothing was queued.
    """
    if abandons == "ignored":
        return _ratio(answered_within, queued - abandoned_within)
    if abandons == "against":
        return _ratio(answered_within, queued)
    if abandons == "for":
        return _ratio(answered_within + abandoned_within, queued)
    raise ValueError(f"abandons={abandons!r}: expected one of {', '.join(ABANDON_TREATMENTS)}")


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


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
