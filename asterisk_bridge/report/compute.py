"""The report's maths: grouped call rows in, :class:`~asterisk_bridge.report.figures.Figures`
parts out. Pure.

The store hands over *groups* (``calls`` rows counted per line, topic, age group and outcome,
with wait and talk sums), not individual calls: the same maths then serves one day (a few
thousand calls) and five months (a million) at the speed of one SQL ``GROUP BY``. Each group
falls in one outcome bucket (``definitions.py``); the buckets add up to the calls offered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from .definitions import AGE_GROUPS, BUCKETS, NO_TOPIC, Definitions, menu_bucket, outcome_bucket, ratio, service_level
from .figures import Catalog, Completeness, Counts, PeriodFigures, QueueFigures, Section, Share, Totals
from .period import Period, zone


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
            asa=ratio(self.wait_sum, c.answered),
            longest_wait=self.wait_max,
            avg_talk=ratio(self.talk_sum, self.talk_n),
            abandon_rate=ratio(c.abandoned_queue, c.answered + c.abandoned_queue),
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
    longest_waits: Mapping[str | None, float | None] | None = None,
) -> PeriodFigures:
    """Figures for one period from the store's groups.

    ``call_groups``: ``{line, topic, age_group, outcome, calls, within, wait_sum, wait_max,
    talk_n, talk_sum}`` over ``calls`` rows, where ``within`` counts calls whose queue wait was
    at most the service-level threshold. ``menu_groups``: ``{line, topic, age_group, result,
    calls}`` over menu sessions AMI did not see. ``hour_rows``: ``{line, hour, calls}`` with
    ``hour`` the local hour 0..23 (:func:`local_hours` makes them from UTC quarter-hours).
    ``longest_waits``: the longest wait per line, when the groups do not carry ``wait_max``.
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
        hour, calls = int(row["hour"]), int(row["calls"])
        total.hours[hour] += calls
        per_line.setdefault(_line_key(row), _Acc()).hours[hour] += calls
    for line, wait in (longest_waits or {}).items():
        if wait is None or (line or "?") not in per_line:
            continue
        for acc in (total, per_line[line or "?"]):
            if acc.wait_max is None or wait > acc.wait_max:
                acc.wait_max = float(wait)

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


def local_hours(quarter_rows: Iterable[Mapping[str, Any]], tz_name: str) -> list[dict[str, Any]]:
    """``{line, hour, calls}`` with the local hour, from ``{line, hour, quarter, calls}`` rows whose
    ``hour`` is the UTC ``YYYY-MM-DDTHH`` prefix and ``quarter`` 0..3 (quarters, because some time
    zones are 30 or 45 minutes off UTC)."""
    return [{"line": row.get("line"), "hour": _local_hour(row["hour"], int(row["quarter"]), tz_name),
             "calls": row["calls"]} for row in quarter_rows]


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


def completeness(figures: PeriodFigures, *, menu_missed: int = 0) -> Completeness:
    """Why the figures may still move; ``menu_missed``: calls that reached a queue without a menu
    session (the bridge was down, the dialplan's fallback queued them)."""
    c = figures.total.counts
    return Completeness(
        unknown_end=c.unknown_end,
        in_progress=c.in_progress,
        incomplete_records=figures.incomplete,
        ami_gap=figures.menu_only if figures.source == "mixed" else 0,
        menu_missed=menu_missed,
    )


def _section(
    line: str | None, name: str, acc: _Acc, d: Definitions, catalog: Catalog,
    topic_lines: Mapping[str, _Acc] | None = None,
) -> Section:
    offered = acc.counts.offered
    if topic_lines is None:
        topics = [
            Share(t, catalog.topic_name(line, t) if t else None, n, ratio(n, offered))
            for t, n in sorted(acc.topics.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
    else:  # all lines: a topic id is only unique within its line
        rows = [(ln, t, n) for ln, a in topic_lines.items() for t, n in a.topics.items()]
        topics = [
            Share(t, catalog.topic_name(ln, t) if t else None, n, ratio(n, offered), line=ln)
            for ln, t, n in sorted(rows, key=lambda r: (-r[2], r[0], r[1]))
        ]
    codes = [a for a in AGE_GROUPS if a != "unknown"] + sorted(set(acc.ages) - set(AGE_GROUPS)) + ["unknown"]
    ages = [Share(a, None, acc.ages.get(a, 0), ratio(acc.ages.get(a, 0), offered)) for a in codes]
    return Section(line, name, acc.counts, acc.queue(d), topics, ages, acc.hours)


def _line_key(row: Mapping[str, Any]) -> str:
    return row.get("line") or "?"


@lru_cache(maxsize=4096)
def _local_hour(utc_hour: str, quarter: int, tz_name: str) -> int:
    moment = datetime.strptime(utc_hour, "%Y-%m-%dT%H").replace(tzinfo=timezone.utc)
    moment += timedelta(minutes=15 * quarter)
    return moment.astimezone(zone(tz_name)).hour
