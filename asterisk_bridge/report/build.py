"""Assemble :class:`~asterisk_bridge.report.figures.Figures` for a period: store queries in, figures out.

The only place where the report touches the database (through ``store.report_queries``) and
the configuration; the maths stays in ``compute.py``, the wording in the templates.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from pathlib import Path

from asterisk_bridge.config import Config, Menu
from asterisk_bridge.privacy import mask_name, mask_number, name_is_number
from asterisk_bridge.store import operator_queries as oq
from asterisk_bridge.store import report_queries as rq
from asterisk_bridge.store.maintenance import retention_removed
from asterisk_bridge.store.queries import reading
from asterisk_bridge.utc import parse_utc_iso

from .compute import completeness, compute_period, compute_totals
from .definitions import Definitions
from .figures import CallLine, Catalog, Figures, PeriodFigures
from .operators import OperatorFigures, QueueRow, operator_figures, queue_rows
from .period import Period, local_day, local_period, month_to_date, zone


def catalog_from_config(config: Config) -> Catalog:
    """Line and topic display names, nested menus included."""
    topics: dict[tuple[str, str], str] = {}

    def walk(number: str, menu: Menu) -> None:
        for topic in menu.topics.values():
            topics[(number, topic.id)] = topic.name
            if topic.menu is not None:
                walk(number, topic.menu)

    for number, line in config.lines.items():
        walk(number, line.menu)
    lines_of = config.lines_of_queues()
    queues = {queue: (config.queues.get(queue, queue), lines) for queue, lines in lines_of.items()}
    return Catalog(lines={n: line.name for n, line in config.lines.items()}, topics=topics, queues=queues)


def definitions_from_config(config: Config) -> Definitions:
    return Definitions(
        service_level_seconds=config.summary.service_level_seconds,
        abandons=config.summary.abandons,
        short_abandon_seconds=config.ami.short_abandon,
    )


def period_figures(db_path: str | Path, config: Config, period: Period, *, line: str | None = None) -> PeriodFigures:
    d = definitions_from_config(config)
    with reading(db_path) as db:
        groups = rq.call_groups(db, period.start_utc, period.end_utc, threshold=d.service_level_seconds, line=line)
        menu = rq.menu_only_groups(db, period.start_utc, period.end_utc, line=line)
        hours = rq.hour_counts(db, period.start_utc, period.end_utc, line=line)
    incomplete = sum(int(g["incomplete"] or 0) for g in groups)
    return compute_period(period, groups, menu, hours, d, catalog_from_config(config), incomplete=incomplete)


def build_figures(
    db_path: str | Path,
    config: Config,
    first: date,
    last: date,
    *,
    line: str | None = None,
    context: bool = True,
    now: float | None = None,
    notable: int = 5,
) -> Figures:
    """Figures for local days ``first``..``last``.

    ``context``: add the previous day and the same weekday a week before (single-day periods),
    month-to-date and since-first-record totals — what the daily summary shows.
    """
    now = time.time() if now is None else now
    tz = config.timezone
    main = period_figures(db_path, config, local_period(first, last, tz), line=line)
    missed = rq.menu_missed(db_path, main.period.start_utc, main.period.end_utc, line=line)
    figures = Figures(main=main, definitions=definitions_from_config(config),
                      completeness=completeness(main, menu_missed=missed))
    figures.operators, figures.queues = operators_and_queues(db_path, config, main.period, line=line, now=now)
    if notable:
        figures.calls = _notable(db_path, config, main.period, line, notable)
    if not context:
        return figures
    with reading(db_path) as database:
        figures.retention = retention_removed(database, main.period.start_utc, main.period.end_utc)
    if main.period.single_day:
        figures.previous_day = period_figures(db_path, config, local_day(last - timedelta(days=1), tz), line=line)
        figures.week_before = period_figures(db_path, config, local_day(last - timedelta(days=7), tz), line=line)
    mtd = month_to_date(last, tz)
    mtd_rows = rq.bucket_totals(db_path, mtd.start_utc, mtd.end_utc, line=line)
    figures.month_to_date = compute_totals(mtd, mtd_rows)
    first_iso = rq.first_record(db_path)
    if first_iso is not None:
        first_day = datetime.fromtimestamp(parse_utc_iso(first_iso), zone(tz)).date()
        figures.first_record = first_day
        if first_day <= last:
            months = _whole_months(first_day, mtd.first, tz)
            rows = rq.month_totals(db_path, tz, months, now=now) if line is None else [
                r for m in months for r in rq.bucket_totals(db_path, m[1], m[2], line=line)]
            figures.since_first_record = compute_totals(local_period(first_day, last, tz), rows + mtd_rows)
    return figures


def operators_and_queues(db_path: str | Path, config: Config, period: Period, *, line: str | None = None,
                         now: float | None = None) -> tuple[list[OperatorFigures], list[QueueRow]]:
    """Per-operator and per-queue figures of ``period`` (``line``: only its queues and their calls);
    sessions and pauses still open count up to ``now``."""
    now = time.time() if now is None else now
    catalog = catalog_from_config(config).queues
    queues = None if line is None else [q for q, (_, lines) in catalog.items() if line in lines]
    if queues is not None:
        catalog = {q: catalog[q] for q in queues}
    start, end = period.start_utc, period.end_utc
    d = definitions_from_config(config)
    with reading(db_path) as db:
        groups = oq.queue_groups(db, start, end, threshold=d.service_level_seconds,
                                 short_abandon=d.short_abandon_seconds, queues=queues)
        answers = oq.operator_answers(db, start, end, queues=queues)
        rings = oq.operator_rings(db, start, end, queues=queues)
        sessions = oq.operator_sessions(db, start, end, queues=queues)
        pauses = oq.operator_pauses(db, start, end, queues=queues)
    operators = operator_figures(answers, rings, sessions, pauses, start=parse_utc_iso(start),
                                 end=min(parse_utc_iso(end), now))
    return operators, queue_rows(groups, catalog, d)


def _whole_months(first_day: date, month_start: date, tz: str) -> list[tuple[str, str, str]]:
    """``(YYYY-MM, start_utc, end_utc)`` for each local month from ``first_day``'s to before ``month_start``."""
    months, cursor = [], first_day.replace(day=1)
    while cursor < month_start:
        following = (cursor + timedelta(days=32)).replace(day=1)
        p = local_period(cursor, following - timedelta(days=1), tz)
        months.append((cursor.strftime("%Y-%m"), p.start_utc, p.end_utc))
        cursor = following
    return months


def _notable(db_path: str | Path, config: Config, period: Period, line: str | None, limit: int) -> list[CallLine]:
    tz = zone(config.timezone)
    mask = config.privacy.mask_callers
    out = []
    for r in rq.notable_calls(db_path, period.start_utc, period.end_utc, limit=limit, line=line):
        number = r["caller_number"] or ""
        name = None if name_is_number(r["caller_name"], number) else r["caller_name"]
        out.append(CallLine(
            started_local=datetime.fromtimestamp(parse_utc_iso(r["started_at"]), tz),
            line=r["line"] or "?",
            caller=mask_number(number) if mask else number,
            caller_name=(mask_name(name) if mask else name) or None,
            topic=r["topic"],
            outcome=r["outcome"],
            wait=r["queued_seconds"],
        ))
    return out
