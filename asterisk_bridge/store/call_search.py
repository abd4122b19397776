"""SQL for the console's call list and call timeline.

The list is every call of a period, newest first: rows of ``calls`` (AMI) and the menu sessions
AMI never saw (with AMI off, that is every call), filtered and paged by a keyset cursor
(``started_at``, call id) instead of an offset, so page 200 costs what page 1 costs. Each half
walks its ``started_at`` index backwards and stops at the page size; the menu-only half is only
read within the time window the calls half's page covers, so a long period with few AMI gaps
does not scan every session of it.

A search by line, topic, queue or outcome over a long period asks the rollups first
(``rollup_queries.call_windows``: the per-day counts of ``rollup_calls``) which days hold a call
that matches, and reads the rows of those days only: a rare line and outcome over five months
reads a few days, not the period. The rows still decide what is listed; the rollups only say
where to look (when they cannot say, every day is read). The menu-only half is left out when the
outcome asked for is one a menu session never has (``MENU_BUCKETS``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from .queries import DatabaseLike, period_clause, reading
from .report_queries import CALL_BUCKET_SQL, MENU_BUCKET_SQL, MENU_BUCKETS, has_calls
from .rollup_queries import call_windows
from .schema import CALLER_TAIL as TAIL

#: Columns every listed call has (menu-only calls fill the AMI ones with NULL).
LIST_COLUMNS = (
    "id", "started_at", "ended_at", "line", "caller_number", "caller_name", "topic", "queue",
    "queued_seconds", "operator", "talk_seconds", "outcome", "bucket", "source",
)
_CALL_SELECT = f"""SELECT linkedid AS id, started_at, ended_at, line, caller_number, caller_name, topic, queue,
    queued_seconds, operator, talk_seconds, outcome, {CALL_BUCKET_SQL} AS bucket, 'ami' AS source FROM calls"""
_MENU_ID = "COALESCE(m.linkedid, m.session_id)"
_MENU_SELECT = f"""SELECT {_MENU_ID} AS id, m.started_at, m.ended_at, m.line, m.caller_number, m.caller_name,
    m.topic, m.queue, NULL AS queued_seconds, NULL AS operator, NULL AS talk_seconds, NULL AS outcome,
    {MENU_BUCKET_SQL} AS bucket, 'menu' AS source FROM menu_sessions m"""
_MENU_ONLY = "(m.linkedid IS NULL OR NOT EXISTS (SELECT 1 FROM calls c WHERE c.linkedid = m.linkedid))"


@dataclass(frozen=True)
class CallerMatch:
    """How to find a caller: exact stored values (a number, its retention hash), or the parts a
    masked number keeps (first four and last four digits; or the last two and the length).

    Every form that knows a value's last four characters names them as ``substr(column, -4)``, the
    expression the caller-tail indexes of ``store/schema.py`` (m009) hold with ``started_at``: a
    search then reads the few calls of that tail in the period instead of every call of it. Only a
    short number's mask (the last two digits) has no tail to look up and reads the period.
    """

    exact: tuple[str, ...] = ()
    prefix: str | None = None
    suffix: str | None = None
    length: int | None = None

    def sql(self, column: str) -> tuple[str, list[Any]]:
        tail = f"substr({column}, -{TAIL})"
        if self.exact:
            tails = sorted({value[-TAIL:] for value in self.exact})
            # "+column": one exact value would otherwise be an equality SQLite propagates into the
            # tail term, leaving nothing for the index to look up
            return (f"{tail} IN ({', '.join('?' * len(tails))}) AND +{column} IN ({', '.join('?' * len(self.exact))})",
                    [*tails, *self.exact])
        clauses, params = [f"{column} IS NOT NULL"], []
        if self.suffix is not None and len(self.suffix) >= TAIL:
            clauses.append(f"{tail} = ?")
            params.append(self.suffix[-TAIL:])
        if self.prefix is not None:
            clauses += [f"length({column}) > 6", f"substr({column}, 1, {len(self.prefix)}) = ?"]
            params.append(self.prefix)
        if self.length is not None:
            clauses.append(f"length({column}) = {int(self.length)}")
        if self.suffix is not None:
            clauses.append(f"substr({column}, -{len(self.suffix)}) = ?")
            params.append(self.suffix)
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class Cursor:
    """The last call of the previous page: the next page starts below it."""

    started_at: str
    id: str


@dataclass(frozen=True)
class CallFilter:
    start_utc: str
    end_utc: str
    line: str | None = None
    topic: str | None = None
    queue: str | None = None
    bucket: str | None = None  # an outcome bucket of report/figures.py
    operator: str | None = None  # a part of the operator's name, any case
    caller: CallerMatch | None = None


def search_calls(db: DatabaseLike, f: CallFilter, *, before: Cursor | None = None,
                 limit: int = 50) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of calls, newest first, and the cursor of the next page (None on the last page)."""
    with reading(db) as database:
        conn = database.conn
        conn.create_function("ab_fold", 1, lambda s: s.casefold() if isinstance(s, str) else s, deterministic=True)
        rows: list[dict[str, Any]] = []
        window_start = f.start_utc
        with_calls = has_calls(database)
        if with_calls:
            called: list[dict[str, Any]] = []
            for start, end in _call_windows(conn, f):
                called += _page(conn, _CALL_SELECT, "", f, before, limit - len(called), menu=False,
                                window=(start, end))
                if len(called) > limit:
                    break
            if len(called) > limit:
                window_start = called[limit]["started_at"]
            rows += called
        if f.operator is None and (f.bucket is None or f.bucket in MENU_BUCKETS):  # a menu session has neither
            only = f" AND {_MENU_ONLY}" if with_calls else ""
            rows += _page(conn, _MENU_SELECT, only, f, before, limit, menu=True, window_start=window_start)
    rows.sort(key=lambda r: (r["started_at"], r["id"]), reverse=True)
    page = rows[:limit]
    more = len(rows) > limit
    return page, Cursor(page[-1]["started_at"], page[-1]["id"]) if more and page else None


def _call_windows(conn: sqlite3.Connection, f: CallFilter) -> list[tuple[str, str]]:
    """The parts of the period whose ``calls`` rows may match ``f``, newest first."""
    equal = [(column, value) for column, value in (("line", f.line), ("topic", f.topic), ("queue", f.queue))
             if value is not None]
    if equal or f.bucket is not None:
        windows = call_windows(conn, f.start_utc, f.end_utc, equal,
                               None if f.bucket is None else (CALL_BUCKET_SQL, f.bucket))
        if windows is not None:
            return windows
    return [(f.start_utc, f.end_utc)]


def _page(conn: sqlite3.Connection, select: str, extra: str, f: CallFilter, before: Cursor | None, limit: int,
          *, menu: bool, window_start: str | None = None,
          window: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """Up to ``limit + 1`` rows of ``f`` (within ``window`` of its period when given), newest first."""
    p = "m." if menu else ""
    start, end = window if window else (window_start or f.start_utc, f.end_utc)
    period, bounds = period_clause(start, end, f.line, alias=p[:-1], bounded=True)
    clauses = [period]
    params: list[Any] = list(bounds)
    for column, value in (("topic", f.topic), ("queue", f.queue)):
        if value is not None:
            clauses.append(f"{p}{column} = ?")
            params.append(value)
    if f.bucket is not None:
        clauses.append(f"({MENU_BUCKET_SQL if menu else CALL_BUCKET_SQL}) = ?")
        params.append(f.bucket)
    if f.operator is not None and not menu:
        clauses.append("instr(ab_fold(operator), ?) > 0")
        params.append(f.operator.casefold())
    if f.caller is not None:
        sql, values = f.caller.sql(f"{p}caller_number")
        clauses.append(sql)
        params += values
    if before is not None:
        ident = _MENU_ID if menu else "linkedid"
        clauses.append(f"({p}started_at, {ident}) < (?, ?)")
        params += [before.started_at, before.id]
    order = f"ORDER BY {p}started_at DESC, {_MENU_ID if menu else 'linkedid'} DESC"
    sql = f"{select} WHERE {' AND '.join(clauses)}{extra} {order} LIMIT ?"
    cursor = conn.execute(sql, [*params, limit + 1])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def call_timeline(db: DatabaseLike, call_id: str) -> dict[str, Any] | None:
    """Everything stored about one call: ``call`` (the ``calls`` row with its ``legs``, or None when
    AMI never saw it) and ``sessions`` (its menu sessions, each with its ``steps``); None when
    neither exists. ``call_id`` is a Linkedid, or the session id of a menu session without one."""
    with reading(db) as database:
        call = None
        if has_calls(database):
            found = list(database.query("SELECT * FROM calls WHERE linkedid = ?", [call_id]))
            if found:
                call = dict(found[0])
                call["complete"] = bool(call["complete"])
                call["legs"] = [dict(r, abandoned=bool(r["abandoned"])) for r in database.query(
                    "SELECT * FROM queue_legs WHERE linkedid = ? ORDER BY seq", [call_id])]
        sessions = [dict(r, hung_up=bool(r["hung_up"])) for r in database.query(
            "SELECT * FROM menu_sessions WHERE linkedid = ? OR (linkedid IS NULL AND session_id = ?) "
            "ORDER BY started_at, session_id", [call_id, call_id])]
        for session in sessions:
            session["steps"] = list(database.query(
                "SELECT seq, at, kind, menu, prompt, key FROM menu_steps WHERE session_id = ? ORDER BY seq",
                [session["session_id"]]))
    if call is None and not sessions:
        return None
    return {"call": call, "sessions": sessions}
