"""Reading the rollups (``rollup_ddl.py``): the figures of a period of local days in the shapes the
row queries give (``report_queries.py``, ``operator_queries.py``), so the report's maths is the
same whichever it read. A period costs a few rows per day (and per month for the long totals),
whatever the number of calls.

:func:`serves` says whether the rollups may answer for a period: built with the configuration's
time zone and thresholds, and cut in the days and offsets this Python's zoneinfo gives for every
day read (a tzdata update that moved them since the build is caught here, and the service's next
start builds them again).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from .. import localdays
from ..calls.operator_time import OperatorTime
from . import operator_days
from .rollups import RollupSettings, read_state


def serves(conn: sqlite3.Connection, settings: RollupSettings, first: date, last: date, *,
           hours: bool = True) -> bool:
    """The rollups hold the days ``first``..``last`` as ``settings`` and zoneinfo cut them
    (``hours``: the local hours too)."""
    state = read_state(conn)
    if state is None or not state.serves(settings):
        return False
    if first < localdays.FIRST_DAY or last > localdays.LAST_DAY:
        return False
    kept = conn.execute("SELECT day, start_utc, end_utc FROM rollup_calendar WHERE day >= ? AND day <= ? ORDER BY day",
                        [first.isoformat(), last.isoformat()]).fetchall()
    if kept != list(localdays.calendar(settings.timezone, first, last)):
        return False
    if hours:
        start, end = kept[0][1], kept[-1][2]
        stored = conn.execute("SELECT since_utc, offset_seconds FROM rollup_zone ORDER BY since_utc").fetchall()
        wanted = localdays.offsets(settings.timezone, first, last)  # the changes around the period only
        return _within(stored, start, end) == _within(list(wanted), start, end)
    return True


def _within(changes: Sequence[tuple[str, int]], start: str, end: str) -> list[tuple[str, int]]:
    """The offset in force at ``start`` and every change before ``end``."""
    out: list[tuple[str, int]] = []
    for since, offset in changes:
        if since <= start:
            out = [("", offset)]
        elif since < end:
            out.append((since, offset))
    return out


def _days(first: date, last: date, line: str | None) -> tuple[str, list[Any]]:
    clause, params = "day >= ? AND day <= ?", [first.isoformat(), last.isoformat()]
    if line is not None:
        clause += " AND line = ?"
        params.append(line)
    return clause, params


def _none(value: str) -> str | None:
    return value or None


def call_groups(conn: sqlite3.Connection, first: date, last: date, *, line: str | None = None) -> list[dict[str, Any]]:
    """As ``report_queries.call_groups`` (``wait_max``: see :func:`line_figures`)."""
    where, params = _days(first, last, line)
    rows = conn.execute(
        f"SELECT line, topic, age_group, outcome, SUM(calls), SUM(within), SUM(wait_us), SUM(talk_n), SUM(talk_us), "
        f"SUM(incomplete) FROM rollup_calls WHERE {where} AND source = 'call' "
        "GROUP BY line, topic, age_group, outcome", params).fetchall()
    return [{"line": _none(r[0]), "topic": _none(r[1]), "age_group": r[2], "outcome": _none(r[3]), "calls": r[4],
             "within": r[5], "wait_sum": r[6] / 1e6, "wait_max": None, "talk_n": r[7], "talk_sum": r[8] / 1e6,
             "incomplete": r[9]} for r in rows]


def menu_only_groups(conn: sqlite3.Connection, first: date, last: date, *,
                     line: str | None = None) -> list[dict[str, Any]]:
    """As ``report_queries.menu_only_groups``."""
    where, params = _days(first, last, line)
    rows = conn.execute(f"SELECT line, topic, age_group, outcome, SUM(calls) FROM rollup_calls WHERE {where} "
                        "AND source = 'menu' GROUP BY line, topic, age_group, outcome", params).fetchall()
    return [{"line": _none(r[0]), "topic": _none(r[1]), "age_group": r[2], "result": r[3], "calls": r[4]}
            for r in rows]


def local_hours(conn: sqlite3.Connection, first: date, last: date, *, line: str | None = None) -> list[dict[str, Any]]:
    """Calls per line and local hour: ``{line, hour, calls}``."""
    where, params = _days(first, last, line)
    rows = conn.execute(f"SELECT line, hour, SUM(calls) FROM rollup_hours WHERE {where} GROUP BY line, hour",
                        params).fetchall()
    return [{"line": _none(r[0]), "hour": r[1], "calls": r[2]} for r in rows if r[2]]


def line_figures(conn: sqlite3.Connection, first: date, last: date, *,
                 line: str | None = None) -> tuple[dict[str | None, float | None], int]:
    """The longest wait per line and the calls that reached a queue without a menu session."""
    where, params = _days(first, last, line)
    rows = conn.execute(f"SELECT line, MAX(wait_max), SUM(missed) FROM rollup_lines WHERE {where} GROUP BY line",
                        params).fetchall()
    return {_none(r[0]): r[1] for r in rows}, sum(int(r[2] or 0) for r in rows)


def bucket_rows(conn: sqlite3.Connection, first: date, last: date, *, line: str | None = None) -> list[dict[str, Any]]:
    """``{line, source, outcome, calls}`` for days ``first``..``last``: the months wholly inside from
    ``rollup_months``, the days around them from ``rollup_calls``."""
    months_from = first if first.day == 1 else _next_month(first)
    months_to = _next_month(last) if _next_month(last) == last + timedelta(days=1) else last.replace(day=1)
    spans = [(first, last)]
    out: list[dict[str, Any]] = []
    if months_from < months_to:
        clause, params = "month >= ? AND month < ?", [months_from.isoformat()[:7], months_to.isoformat()[:7]]
        if line is not None:
            clause += " AND line = ?"
            params.append(line)
        out += [{"line": _none(r[0]), "source": r[1], "outcome": r[2], "calls": r[3]} for r in conn.execute(
            f"SELECT line, source, outcome, SUM(calls) FROM rollup_months WHERE {clause} "
            "GROUP BY line, source, outcome", params)]
        spans = [(first, months_from - timedelta(days=1)), (months_to, last)]
    for a, b in spans:
        if a > b:
            continue
        where, params = _days(a, b, line)
        out += [{"line": _none(r[0]), "source": r[1], "outcome": r[2], "calls": r[3]} for r in conn.execute(
            f"SELECT line, source, outcome, SUM(calls) FROM rollup_calls WHERE {where} "
            "GROUP BY line, source, outcome", params)]
    return out


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


# ------------------------------------------------------------------------------- queues and operators


def _queues(column: str, queues: Sequence[str] | None) -> tuple[str, list[str]]:
    if queues is None:
        return "", []
    return (f" AND {column} IN ({', '.join('?' * len(queues))})" if queues else " AND 0"), list(queues)


def queue_groups(conn: sqlite3.Connection, first: date, last: date, *,
                 queues: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """As ``operator_queries.queue_groups``."""
    only, names = _queues("queue", queues)
    rows = conn.execute(
        "SELECT queue, SUM(offered), SUM(answered), SUM(abandoned), SUM(short_abandon), SUM(unknown), "
        "SUM(answered_within), SUM(abandoned_within), SUM(wait_us), MAX(wait_max) FROM rollup_queues "
        f"WHERE day >= ? AND day <= ?{only} GROUP BY queue HAVING SUM(offered) > 0",
        [first.isoformat(), last.isoformat(), *names]).fetchall()
    keys = ("queue", "offered", "answered", "abandoned", "short_abandon", "unknown", "answered_within",
            "abandoned_within")
    out = []
    for r in rows:
        row = dict(zip(keys, r[:8], strict=True))
        row.update(queue=_none(r[0]), wait_sum=r[8] / 1e6, wait_max=r[9])
        out.append(row)
    return out


def operator_answers(conn: sqlite3.Connection, first: date, last: date, *,
                     queues: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """As ``operator_queries.operator_answers``."""
    only, names = _queues("queue", queues)
    rows = conn.execute(
        "SELECT interface, name, SUM(answered), SUM(talk_n), SUM(talk_us) FROM rollup_operators "
        f"WHERE day >= ? AND day <= ?{only} GROUP BY interface, name HAVING SUM(answered) > 0",
        [first.isoformat(), last.isoformat(), *names]).fetchall()
    return [{"interface": _none(r[0]), "name": _none(r[1]), "answered": r[2], "talk_n": r[3],
             "talk_sum": r[4] / 1e6} for r in rows]


def operator_rings(conn: sqlite3.Connection, first: date, last: date, *,
                   queues: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """As ``operator_queries.operator_rings``."""
    only, names = _queues("queue", queues)
    rows = conn.execute(
        "SELECT interface, name, SUM(ring_outs), SUM(ring_n), SUM(ring_us) FROM rollup_operators "
        f"WHERE day >= ? AND day <= ?{only} GROUP BY interface, name HAVING SUM(rings) > 0",
        [first.isoformat(), last.isoformat(), *names]).fetchall()
    return [{"interface": _none(r[0]), "name": _none(r[1]), "ring_outs": r[2], "ring_n": r[3],
             "ring_sum": r[4] / 1e6} for r in rows]


def operator_times(conn: sqlite3.Connection, first: date, last: date, *, now: float) -> dict[str, OperatorTime]:
    """Every operator's time in the days ``first``..``last`` (all queues), up to ``now``: the days
    kept (through ``rollup_state.operators_settled``) summed, the later ones swept from the rows."""
    state = read_state(conn)
    settled = state.operators_settled if state is not None else None
    times: dict[str, OperatorTime] = {}
    kept_last = min(last.isoformat(), settled) if settled else None
    if kept_last is not None and kept_last >= first.isoformat():
        bounds = [first.isoformat(), kept_last]
        for interface, logged, paused in conn.execute(
                "SELECT interface, SUM(logged_in_ms), SUM(paused_ms) FROM rollup_operator_days "
                "WHERE day >= ? AND day <= ? GROUP BY interface", bounds):
            times[interface] = OperatorTime(logged_in_ms=logged, paused_ms=paused, seen=True)
        for interface, name, tier, at, queue in conn.execute(
                "SELECT interface, name, name_tier, name_at, name_queue FROM rollup_operator_days "
                "WHERE day >= ? AND day <= ?", bounds):
            times[interface].see_name(name, (tier, at, queue))
        for interface, queue in conn.execute(
                "SELECT DISTINCT interface, queue FROM rollup_operator_queues WHERE day >= ? AND day <= ?", bounds):
            times[interface].queues.add(queue)
        for interface, reason, auto, paused, count in conn.execute(
                "SELECT interface, reason, auto, SUM(paused_ms), SUM(pauses) FROM rollup_operator_pauses "
                "WHERE day >= ? AND day <= ? GROUP BY interface, reason, auto", bounds):
            times[interface].add_reason(reason, bool(auto), paused, count)
        rest_first = max(first.isoformat(), _after(conn, kept_last) or "9999")
    else:
        rest_first = first.isoformat()
    rest = operator_days.days_between(conn, rest_first, last.isoformat()) if rest_first <= last.isoformat() else []
    if rest:
        cut = round(now * 1000)
        for interface in operator_days.interfaces_between(conn, rest[0][1], rest[-1][2]):
            for spent in operator_days.day_times(conn, interface, rest, cut_ms=cut).values():
                times.setdefault(interface, OperatorTime()).merge(spent)
    return times


def _after(conn: sqlite3.Connection, day: str) -> str | None:
    return conn.execute("SELECT MIN(day) FROM rollup_calendar WHERE day > ?", [day]).fetchone()[0]


def call_windows(conn: sqlite3.Connection, start_utc: str, end_utc: str, equal: Sequence[tuple[str, str]],
                 bucket: tuple[str, str] | None) -> list[tuple[str, str]] | None:
    """The parts of ``[start_utc, end_utc)`` (newest first, each within one local day of the
    rollups' zone) where ``calls`` has rows with the values ``equal`` (column, value: line, topic
    or queue) and, with ``bucket`` (its SQL over ``outcome``, the value), in that outcome bucket.
    None when the rollups cannot say (not built, or the period leaves their calendar): then every
    row of the period must be read. Any zone serves: a day's UTC bounds are the calendar's."""
    state = read_state(conn)
    if state is None or not state.built:
        return None
    covered = conn.execute("SELECT MIN(start_utc) <= ? AND MAX(end_utc) >= ? FROM rollup_calendar",
                           [start_utc, end_utc]).fetchone()[0]
    if not covered:
        return None
    clauses = ["g.source = 'call'"]
    params: list[Any] = [start_utc, end_utc, start_utc]  # the day holding start_utc, then to end_utc
    for column, value in equal:
        clauses.append(f"g.{column} = ?")
        params.append(value)
    if bucket is not None:
        clauses.append(f"({bucket[0]}) = ?")
        params.append(bucket[1])
    rows = conn.execute(
        f"""SELECT k.start_utc, k.end_utc FROM rollup_calendar k
            WHERE k.start_utc >= COALESCE((SELECT MAX(start_utc) FROM rollup_calendar WHERE start_utc <= ?), '')
              AND k.start_utc < ? AND k.end_utc > ? AND EXISTS (
                SELECT 1 FROM (SELECT source, line, topic, queue, NULLIF(outcome, '') AS outcome FROM rollup_calls
                               WHERE day = k.day) g
                WHERE {' AND '.join(clauses)})
            ORDER BY k.start_utc DESC""", params).fetchall()
    return [(max(start, start_utc), min(end, end_utc)) for start, end in rows]
