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
from asterisk_bridge.store import report_queries as rq
from asterisk_bridge.store.maintenance import retention_removed
from asterisk_bridge.store.queries import DatabaseLike, reading
from asterisk_bridge.store.rollups import RollupSettings
from asterisk_bridge.utc import parse_utc_iso

from .compute import completeness, compute_period, compute_totals
from .definitions import Definitions
from .figures import CallLine, Catalog, Figures, PeriodFigures
from .operators import OperatorFigures, QueueRow, operator_figures, queue_rows
from .period import Period, local_day, local_period, month_to_date, zone
from .sources import PeriodInputs, RollupSource, RowSource


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


def rollup_settings(config: Config) -> RollupSettings:
    """What the rollups must be cut with to serve this configuration."""
    return RollupSettings(config.timezone, config.summary.service_level_seconds, config.ami.short_abandon)


def period_figures(source: RowSource, config: Config, period: Period, *, line: str | None = None) -> PeriodFigures:
    return _period_figures(source, config, period, source.period(period, line))


def _period_figures(source: RowSource, config: Config, period: Period, inputs: PeriodInputs) -> PeriodFigures:
    return compute_period(period, inputs.groups, inputs.menu, inputs.hours, definitions_from_config(config),
                          catalog_from_config(config), incomplete=inputs.incomplete, longest_waits=inputs.longest)


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
    rows: bool = False,
) -> Figures:
    """Figures for local days ``first``..``last``.

    ``context``: add the previous day and the same weekday a week before (single-day periods),
    month-to-date and since-first-record totals — what the daily summary shows. The numbers come
    from the rollups wherever they serve (``sources.py``); ``rows``: from the rows only (the
    slower path, for comparison).
    """
    with reading(db_path) as db:  # "now" once the database is open: opening it parses the rollups' triggers
        now = time.time() if now is None else now
        source = (RowSource if rows else RollupSource)(db, rollup_settings(config))
        return _figures(source, config, first, last, line=line, context=context, now=now, notable=notable)


def _figures(source: RowSource, config: Config, first: date, last: date, *, line: str | None, context: bool,
             now: float, notable: int) -> Figures:
    tz = config.timezone
    period = local_period(first, last, tz)
    inputs = source.period(period, line)
    main = _period_figures(source, config, period, inputs)
    figures = Figures(main=main, definitions=definitions_from_config(config),
                      completeness=completeness(main, menu_missed=inputs.missed))
    figures.operators, figures.queues = _operators_and_queues(source, config, period, line=line, now=now)
    if notable:
        figures.calls = _notable(source.db, config, period, line, notable)
    if not context:
        return figures
    figures.retention = retention_removed(source.db, period.start_utc, period.end_utc)
    if period.single_day:
        figures.previous_day = period_figures(source, config, local_day(last - timedelta(days=1), tz), line=line)
        figures.week_before = period_figures(source, config, local_day(last - timedelta(days=7), tz), line=line)
    mtd = month_to_date(last, tz)
    figures.month_to_date = compute_totals(mtd, source.buckets(mtd, line))
    first_iso = rq.first_record(source.db)
    if first_iso is not None:
        first_day = datetime.fromtimestamp(parse_utc_iso(first_iso), zone(tz)).date()
        figures.first_record = first_day
        if first_day <= last:
            span = local_period(first_day, last, tz)
            figures.since_first_record = compute_totals(span, source.buckets(span, line))
    return figures


def _operators_and_queues(source: RowSource, config: Config, period: Period, *, line: str | None,
                          now: float) -> tuple[list[OperatorFigures], list[QueueRow]]:
    catalog = catalog_from_config(config).queues
    queues = None if line is None else [q for q, (_, lines) in catalog.items() if line in lines]
    if queues is not None:
        catalog = {q: catalog[q] for q in queues}
    operators = operator_figures(source.operator_answers(period, queues), source.operator_rings(period, queues),
                                 source.operator_times(period, queues, now))
    return operators, queue_rows(source.queue_groups(period, queues), catalog, definitions_from_config(config))


def _notable(db_path: DatabaseLike, config: Config, period: Period, line: str | None, limit: int) -> list[CallLine]:
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
