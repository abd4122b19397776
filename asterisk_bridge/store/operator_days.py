"""Each operator's logged-in and paused time per local day (``rollup_operator_days``, ``_queues``,
``_pauses``): written by the store when a session or pause is written, read by the report.

The time of a day comes from the sweep of ``calls/operator_time.py`` over the operator's sessions
and pauses that overlap it, in every queue; a moment depends only on the intervals that contain
it, so a period's time is the sum of its days. A session or pause still open counts to the end of
the day. That is right for a day that has ended, and such a day only changes when one of its
intervals is written again, which recomputes every day the interval covers (before and after the
write). Two gaps: a day an open interval spans without any write at all (a static member, logged in for
months, on a day without pauses), and a day written while an interval was open that later ended
before it. :func:`settle` writes every day again once it is over; ``rollup_state.operators_settled`` says through which day every operator's days are right,
and the report sweeps the rows of the days after it (normally today) itself.

Kept for operators whose interface the build has passed (``rollup_state.operators_through``,
NULL when built); the build (``rollups.py``) writes the others' days, interface by interface.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ..calls.operator_time import SAME_PAUSE_MS, OperatorTime, ms, operator_time
from ..utc import utc_iso
from .operator_rows import OPERATOR_TABLES, OperatorRow

#: (day, start_utc, end_utc) of a local day, from ``rollup_calendar``
Day = tuple[str, str, str]

_SESSION_SQL = ("SELECT queue, member_name, logged_in_at, logged_out_at FROM operator_sessions WHERE interface = ? "
                "AND (logged_out_at > ? OR logged_out_at IS NULL) AND logged_in_at < ?")
_PAUSE_SQL = ("SELECT queue, member_name, started_at, ended_at, reason, auto FROM operator_pauses WHERE interface = ? "
              "AND (ended_at > ? OR ended_at IS NULL OR started_at >= ?) AND started_at < ?")


def _state(conn: sqlite3.Connection) -> tuple[str | None, str | None, str | None]:
    """``(timezone, operators_through, operators_settled)``."""
    row = conn.execute("SELECT timezone, operators_through, operators_settled FROM rollup_state WHERE id = 1").fetchone()
    return (row[0], row[1], row[2]) if row else (None, "", None)


def kept(through: str | None, interface: str) -> bool:
    """The build has passed ``interface``: its days are kept as its rows are written."""
    return through is None or interface <= through


def days_between(conn: sqlite3.Connection, first: str | None, last: str | None) -> list[Day]:
    """The calendar days ``first``..``last`` (ISO dates; None = unbounded), in order."""
    return conn.execute("SELECT day, start_utc, end_utc FROM rollup_calendar WHERE day >= ? AND day <= ? ORDER BY day",
                        [first or "", last or "9999"]).fetchall()


def day_of(conn: sqlite3.Connection, at: str) -> str | None:
    row = conn.execute("SELECT day FROM rollup_calendar WHERE start_utc <= ? AND end_utc > ? "
                       "ORDER BY start_utc DESC LIMIT 1", [at, at]).fetchone()
    return row[0] if row else None


def day_times(conn: sqlite3.Connection, interface: str, days: Sequence[Day], *,
              cut_ms: int | None = None) -> dict[str, OperatorTime]:
    """The operator's time on each of ``days`` (one read of his rows for all of them); ``cut_ms``:
    nothing after this moment counts (now, for a day not over yet)."""
    if not days:
        return {}
    start, stop = days[0][1], days[-1][2]
    sessions = [_row(r, ("queue", "member_name", "logged_in_at", "logged_out_at")) for r in
                conn.execute(_SESSION_SQL, [interface, start, stop])]
    lead = utc_iso(ms(start) / 1000 - SAME_PAUSE_MS / 1000)
    pauses = [_row(r, ("queue", "member_name", "started_at", "ended_at", "reason", "auto")) for r in
              conn.execute(_PAUSE_SQL, [interface, start, lead, stop])]
    out = {}
    for day, day_start, day_end in days:
        begin, end = ms(day_start), ms(day_end)
        if cut_ms is not None:
            end = min(end, cut_ms)
        if begin >= end:
            continue
        spent = operator_time(_overlapping(sessions, "logged_in_at", "logged_out_at", day_start, day_end),
                              _overlapping(pauses, "started_at", "ended_at", day_start, day_end, lead_ms=SAME_PAUSE_MS),
                              begin, end)
        if spent.seen:
            out[day] = spent
    return out


def _row(values: Iterable[Any], names: tuple[str, ...]) -> dict[str, Any]:
    return dict(zip(names, values, strict=True))


def _overlapping(rows: list[dict[str, Any]], begin: str, end: str, start: str, stop: str, *,
                 lead_ms: int = 0) -> list[dict[str, Any]]:
    lead = utc_iso(ms(start) / 1000 - lead_ms / 1000) if lead_ms else start
    return [r for r in rows if r[begin] < stop and (r[end] is None or r[end] > start or r[begin] >= lead)]


def refresh(conn: sqlite3.Connection, interface: str, days: Sequence[Day]) -> None:
    """Write the operator's kept time for ``days`` again from his rows."""
    if not days:
        return
    first, last = days[0][0], days[-1][0]
    for table in ("rollup_operator_days", "rollup_operator_queues", "rollup_operator_pauses"):
        conn.execute(f"DELETE FROM {table} WHERE interface = ? AND day >= ? AND day <= ?", [interface, first, last])
    store_times(conn, interface, day_times(conn, interface, days))


def store_times(conn: sqlite3.Connection, interface: str, times: dict[str, OperatorTime]) -> None:
    for day, spent in times.items():
        tier, at, queue = spent.name_key
        conn.execute("INSERT INTO rollup_operator_days (day, interface, logged_in_ms, paused_ms, name, name_tier, "
                     "name_at, name_queue) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     [day, interface, spent.logged_in_ms, spent.paused_ms, spent.name, tier, at, queue])
        conn.executemany("INSERT INTO rollup_operator_queues (day, interface, queue) VALUES (?, ?, ?)",
                         [(day, interface, q) for q in sorted(spent.queues)])
        conn.executemany("INSERT INTO rollup_operator_pauses (day, interface, reason, auto, paused_ms, pauses) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         [(day, interface, reason, int(auto), spent_ms, count)
                          for (reason, auto), (spent_ms, count) in spent.reasons.items()])


def write(conn: sqlite3.Connection, row: OperatorRow, upsert: str) -> None:
    """Write a session or pause (``upsert``: its statement) and keep the operator's days right:
    every day the interval covered before the write and covers after it is computed again."""
    interface, queue, begin = row.values[0], row.values[1], row.values[2]
    table = row.table
    end_column = "logged_out_at" if table == "operator_sessions" else "ended_at"
    begin_column = OPERATOR_TABLES[table][2]
    old = conn.execute(f"SELECT {begin_column}, {end_column} FROM {table} WHERE interface = ? AND queue = ? "
                       f"AND {begin_column} = ?", [interface, queue, begin]).fetchone()
    conn.execute(upsert, row.values)
    timezone, through, settled = _state(conn)
    if timezone is None or not kept(through, interface):
        return
    end = row.values[OPERATOR_TABLES[table].index(end_column)]
    spans = [(begin, end)] + ([(old[0], old[1])] if old else [])
    covered = [(first, _last_day(conn, b, e, settled)) for b, e in spans if (first := day_of(conn, b)) is not None]
    if covered:
        refresh(conn, interface, days_between(conn, min(c[0] for c in covered), max(c[1] for c in covered)))


def _last_day(conn: sqlite3.Connection, begin: str, end: str | None, settled: str | None) -> str:
    """The last day an interval covers; an open one, every settled day after its start too."""
    start_day = day_of(conn, begin) or ""
    if end is not None:
        return max(start_day, day_of(conn, utc_iso(ms(end) / 1000 - 0.001)) or start_day)
    return max(start_day, settled or "")


def interfaces_between(conn: sqlite3.Connection, start: str, end: str) -> list[str]:
    """Operators with a session or pause overlapping ``[start, end)``."""
    rows = conn.execute(
        "SELECT interface FROM operator_sessions WHERE (logged_out_at > ? OR logged_out_at IS NULL) AND logged_in_at < ? "
        "UNION SELECT interface FROM operator_pauses WHERE (ended_at > ? OR ended_at IS NULL) AND started_at < ? "
        "ORDER BY 1", [start, end, start, end]).fetchall()
    return [r[0] for r in rows]


def settle(conn: sqlite3.Connection, through: str) -> int:
    """Keep every operator's days up to local day ``through`` (one that has ended): the days after
    ``operators_settled`` are written again for every operator working on them (a day written
    while one of his intervals was still open may count it past the end it got later); returns
    the operator-days written."""
    timezone, built, settled = _state(conn)
    if timezone is None or built is not None or (settled is not None and settled >= through):
        return 0
    days = days_between(conn, _next_day(conn, settled), through)
    written = 0
    if days:
        for interface in interfaces_between(conn, days[0][1], days[-1][2]):
            refresh(conn, interface, days)
            written += len(days)
    conn.execute("UPDATE rollup_state SET operators_settled = ? WHERE id = 1", [through])
    return written


def _next_day(conn: sqlite3.Connection, day: str | None) -> str | None:
    if day is None:
        return None
    row = conn.execute("SELECT MIN(day) FROM rollup_calendar WHERE day > ?", [day]).fetchone()
    return row[0]


def build(conn: sqlite3.Connection, interfaces: Sequence[str], settled: str) -> None:
    """Write every day of these operators, from their first interval through ``settled`` (and to
    the end of the intervals that ended later), as the build does."""
    for interface in interfaces:
        row = conn.execute(
            "SELECT MIN(b), MAX(e), MAX(o) FROM ("
            "SELECT MIN(logged_in_at) AS b, MAX(logged_out_at) AS e, MAX(logged_out_at IS NULL) AS o "
            "FROM operator_sessions WHERE interface = ? UNION ALL "
            "SELECT MIN(started_at), MAX(ended_at), MAX(ended_at IS NULL) FROM operator_pauses WHERE interface = ?)",
            [interface, interface]).fetchone()
        if not row or row[0] is None:
            continue
        first = day_of(conn, row[0])
        last = max(_last_day(conn, row[0], row[1], None) if row[1] else "", settled if row[2] else "")
        days = days_between(conn, first, last)
        for i in range(0, len(days), 366):  # a year of rows read at a time
            store_times(conn, interface, day_times(conn, interface, days[i:i + 366]))


def interfaces_after(conn: sqlite3.Connection, after: str, limit: int) -> list[str]:
    """The next ``limit`` operators (interfaces in order) after ``after``."""
    rows = conn.execute("SELECT interface FROM (SELECT interface FROM operator_sessions WHERE interface > ? "
                        "UNION SELECT interface FROM operator_pauses WHERE interface > ?) ORDER BY 1 LIMIT ?",
                        [after, after, limit]).fetchall()
    return [r[0] for r in rows]
