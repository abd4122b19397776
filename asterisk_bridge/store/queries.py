"""Read-side SQL: the figures reports and the CLI ask for.

Readers never borrow the writer's connection (it belongs to the writer thread). Given a path,
they open their own read-only connection, so a report can run while the service writes (WAL)
and a typo in a path never creates an empty database. Given a ``Database``, they use it as is.

Time bounds are half-open ``[start_utc, end_utc)``; each may be epoch seconds, an aware
``datetime`` or a ``...Z`` ISO string. Stored times are fixed-width UTC text, so the comparison
is a plain string comparison that uses the ``started_at`` indexes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from numbers import Real
from os import PathLike
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..calls.member_model import MemberPause, MemberSession
from ..calls.model import CallRecord
from ..menu.record import MenuRecord
from ..utc import parse_utc_iso, utc_iso
from .errors import StoreError
from .operator_rows import pause_from_row, session_from_row
from .rows import call_record_from_rows, menu_record_from_row

DatabaseLike = str | PathLike[str] | Database
TimeBound = float | int | datetime | str | None

#: Columns ``menu_counts`` may group by (anything else is refused: they are spliced into SQL).
GROUPABLE = ("node", "line", "topic", "result", "queue", "age_group", "ended_in", "hung_up")


def no_database(path: str | PathLike[str]) -> FileNotFoundError:
    """The one message for a database file that is not there, saying how to create it (the path
    absolute: a relative one is read from wherever the command runs, the service's is its own)."""
    return FileNotFoundError(f"database {os.path.abspath(path)} does not exist: create it with `asterisk-bridge db migrate` "
                             "(the service also creates it when it starts)")


@contextmanager
def reading(db: DatabaseLike) -> Iterator[Database]:
    """A ``Database`` to read from: the one given, or a read-only connection to the file, closed after."""
    if isinstance(db, Database):
        yield db
        return
    if not isinstance(db, (str, PathLike)):
        raise TypeError(f"expected a database path or sqlite_utils.Database, got {type(db).__name__}")
    path = Path(db)
    if not path.is_file():
        raise no_database(path)
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        database = Database(conn)
        if not database["menu_sessions"].exists():
            raise StoreError(f"{path} has no menu_sessions table: not an asterisk-bridge database")
        yield database
    finally:
        conn.close()


def time_bound(value: TimeBound, name: str = "time") -> str | None:
    """Normalise a period bound to the stored ``utc_iso`` text."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name}: {value.isoformat()} has no time zone; pass an aware datetime")
        return utc_iso(value.timestamp())
    if isinstance(value, str):
        return utc_iso(parse_utc_iso(value))
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name}: expected epoch seconds, an aware datetime or a UTC ISO string, got {value!r}")
    return utc_iso(float(value))


def period_clause(
    start_utc: TimeBound, end_utc: TimeBound, line: str | None = None, *, alias: str = "", bounded: bool = False,
) -> tuple[str, list[str]]:
    """``started_at`` in ``[start_utc, end_utc)`` (and ``line``) as SQL conditions joined by AND,
    with their parameters; ``""`` when there is no condition. ``alias`` qualifies the columns
    (``m`` -> ``m.started_at``); ``bounded`` requires both bounds (the report queries)."""
    start, end = time_bound(start_utc, "start_utc"), time_bound(end_utc, "end_utc")
    if bounded and (start is None or end is None):
        raise ValueError("report queries need both start_utc and end_utc")
    if start is not None and end is not None and end < start:
        raise ValueError(f"end_utc {end} is before start_utc {start}")
    p = f"{alias}." if alias else ""
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{p}started_at >= ?")
        params.append(start)
    if end is not None:
        clauses.append(f"{p}started_at < ?")
        params.append(end)
    if line is not None:
        clauses.append(f"{p}line = ?")
        params.append(line)
    return " AND ".join(clauses), params


def _period(start_utc: TimeBound, end_utc: TimeBound, line: str | None = None) -> tuple[str, list[str]]:
    clause, params = period_clause(start_utc, end_utc, line)
    return (" WHERE " + clause) if clause else "", params


def menu_counts(
    db: DatabaseLike,
    start_utc: TimeBound = None,
    end_utc: TimeBound = None,
    *,
    by: Sequence[str] = ("line", "topic", "result"),
) -> list[dict[str, Any]]:
    """Menu sessions per ``by`` group in the period: ``[{line, topic, result, calls}, ...]``.

    This needs only the IVR half of the data, so it answers "calls per line, per topic, per age
    group" (``by=("line", "age_group")``) even with AMI off.
    """
    columns = list(by)
    unknown = [c for c in columns if c not in GROUPABLE]
    if unknown or not columns:
        raise ValueError(f"menu_counts(by=...): {unknown or 'nothing'} not among {list(GROUPABLE)}")
    where, params = _period(start_utc, end_utc)
    group = ", ".join(columns)
    sql = (
        f"SELECT {group}, COUNT(*) AS calls FROM menu_sessions{where} "
        f"GROUP BY {group} ORDER BY {group}"
    )
    with reading(db) as database:
        return [dict(row) for row in _rows(database, sql, params)]


def menu_sessions(
    db: DatabaseLike,
    start_utc: TimeBound = None,
    end_utc: TimeBound = None,
    *,
    line: str | None = None,
    steps: bool = False,
) -> Iterator[dict[str, Any]]:
    """Sessions in start order, one dict per row (``hung_up`` as bool); ``steps=True`` adds ``steps``."""
    where, params = _period(start_utc, end_utc, line)
    sql = f"SELECT * FROM menu_sessions{where} ORDER BY started_at, session_id"
    with reading(db) as database:
        for row in _rows(database, sql, params):
            session = dict(row)
            session["hung_up"] = bool(session["hung_up"])
            if steps:
                session["steps"] = menu_steps(database, session["session_id"])
            yield session


def menu_steps(db: DatabaseLike, session_id: str) -> list[dict[str, Any]]:
    """The steps of one session in order: ``[{seq, at, kind, menu, prompt, key}, ...]``."""
    sql = "SELECT seq, at, kind, menu, prompt, key FROM menu_steps WHERE session_id = ? ORDER BY seq"
    with reading(db) as database:
        return list(_rows(database, sql, [session_id]))


def _rows(database: Database, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
    return database.query(sql, params)


# -- call records (AMI) ---------------------------------------------------------------------------


def calls(
    db: DatabaseLike,
    start_utc: TimeBound = None,
    end_utc: TimeBound = None,
    line: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Call records started in the period, in start order; each dict has its ``legs`` (in order).

    ``complete`` reads as bool. Calls still in progress are included (``outcome`` None).
    """
    where, params = _period(start_utc, end_utc, line)
    sql = f"SELECT * FROM calls{where} ORDER BY started_at, linkedid"
    with reading(db) as database:
        yield from _with_legs(database, _rows(database, sql, params))


def open_calls(db: DatabaseLike) -> list[dict[str, Any]]:
    """Calls in progress when the writer last wrote them (not complete and no end): after a
    restart they are followed again or closed as ``unknown_end``."""
    sql = "SELECT * FROM calls WHERE complete = 0 AND ended_at IS NULL ORDER BY started_at, linkedid"
    with reading(db) as database:
        return list(_with_legs(database, _rows(database, sql, [])))


def call(db: DatabaseLike, linkedid: str) -> dict[str, Any] | None:
    """One stored call with its ``legs``, or None."""
    with reading(db) as database:
        rows = list(_rows(database, "SELECT * FROM calls WHERE linkedid = ?", [linkedid]))
        found = list(_with_legs(database, iter(rows)))
    return found[0] if found else None


def open_call_records(db: DatabaseLike) -> list[CallRecord]:
    """:func:`open_calls` as ``CallRecord`` objects (with their ring attempts), to follow them
    again after a restart."""
    with reading(db) as database:
        return [call_record_from_rows(row, row["legs"], ring_attempts(database, row["linkedid"]))
                for row in open_calls(database)]


def call_record(db: DatabaseLike, linkedid: str) -> CallRecord | None:
    """:func:`call` as a ``CallRecord`` (with its ring attempts), or None."""
    with reading(db) as database:
        row = call(database, linkedid)
        return call_record_from_rows(row, row["legs"], ring_attempts(database, linkedid)) if row is not None else None


def ring_attempts(db: DatabaseLike, linkedid: str) -> list[dict[str, Any]]:
    """Every ring of a call's queue legs, in order: ``[{leg, seq, queue, member, interface, called_at,
    ring_seconds, result}, ...]``."""
    sql = ("SELECT leg, seq, queue, member, interface, called_at, ring_seconds, result FROM ring_attempts "
           "WHERE linkedid = ? ORDER BY leg, seq")
    with reading(db) as database:
        if not database["ring_attempts"].exists():
            return []
        return list(_rows(database, sql, [linkedid]))


def call_states(db: DatabaseLike, linkedids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{linkedid: {complete, outcome, source, ended_at}}`` for those of ``linkedids`` stored."""
    ids = list(dict.fromkeys(linkedids))
    found: dict[str, dict[str, Any]] = {}
    with reading(db) as database:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = (
                "SELECT linkedid, complete, outcome, source, ended_at FROM calls "
                f"WHERE linkedid IN ({', '.join('?' * len(chunk))})"
            )
            for row in _rows(database, sql, chunk):
                row = dict(row)
                row["complete"] = bool(row["complete"])
                found[row.pop("linkedid")] = row
    return found


def queue_log_menu_sessions(db: DatabaseLike, callids: Sequence[str]) -> list[MenuRecord]:
    """The menu sessions that tell which call each queue_log callid is and what its menu decided,
    oldest first: those that ran on the channels whose Uniqueids are ``callids`` (a Local half's
    session names the call's Linkedid), every session of the calls those name, and those of calls
    whose Linkedid is a callid. One statement per 300 callids, each part through the ``uniqueid``
    or ``linkedid`` index. The rule that picks the call and its session is in
    ``calls/queue_log.py``."""
    ids = list(dict.fromkeys(callids))
    found: dict[str, MenuRecord] = {}
    with reading(db) as database:
        for i in range(0, len(ids), 300):
            chunk = ids[i : i + 300]
            marks = ", ".join("?" * len(chunk))
            sql = (f"SELECT * FROM menu_sessions WHERE uniqueid IN ({marks}) OR linkedid IN ({marks}) "
                   f"OR linkedid IN (SELECT linkedid FROM menu_sessions WHERE uniqueid IN ({marks}))")
            for row in _rows(database, sql, chunk * 3):
                found.setdefault(row["session_id"], menu_record_from_row(row))
    return sorted(found.values(), key=lambda s: (s.started_at, s.session_id))


def latest_call_start(db: DatabaseLike) -> str | None:
    """``started_at`` of the newest stored call (where reading Asterisk's queue_log resumes)."""
    with reading(db) as database:
        rows = list(_rows(database, "SELECT MAX(started_at) AS latest FROM calls", []))
    return rows[0]["latest"] if rows else None


def open_operator_sessions(db: DatabaseLike) -> list[MemberSession]:
    """Operators' sessions not logged out when the bridge last wrote them (followed again after a restart)."""
    with reading(db) as database:
        if not database["operator_sessions"].exists():
            return []
        sql = "SELECT * FROM operator_sessions WHERE logged_out_at IS NULL ORDER BY logged_in_at, interface, queue"
        return [session_from_row(row) for row in _rows(database, sql, [])]


def open_operator_pauses(db: DatabaseLike) -> list[MemberPause]:
    """Operators' pauses not ended when the bridge last wrote them."""
    with reading(db) as database:
        if not database["operator_pauses"].exists():
            return []
        sql = "SELECT * FROM operator_pauses WHERE ended_at IS NULL ORDER BY started_at, interface, queue"
        return [pause_from_row(row) for row in _rows(database, sql, [])]


def last_activity(db: DatabaseLike) -> float | None:
    """The newest moment the store knows of (a call's last event, a session or pause begun or
    ended): after a restart, what ended while the bridge was stopped ended after it, no later."""
    parts = ["SELECT MAX(updated_at) AS t FROM calls"]
    with reading(db) as database:
        if database["operator_sessions"].exists():
            parts += ["SELECT MAX(logged_in_at) FROM operator_sessions", "SELECT MAX(logged_out_at) FROM operator_sessions",
                      "SELECT MAX(started_at) FROM operator_pauses", "SELECT MAX(ended_at) FROM operator_pauses"]
        times = [row[0] for part in parts for row in database.execute(part).fetchall() if row[0]]
    return parse_utc_iso(max(times)) if times else None


def operator_inputs(db: DatabaseLike, linkedid: str | None = None) -> list[dict[str, Any]]:
    """Operator inputs kept because their call was not stored yet."""
    where, params = (" WHERE linkedid = ?", [linkedid]) if linkedid is not None else ("", [])
    sql = f"SELECT linkedid, at, age_group, resolution FROM operator_inputs{where} ORDER BY at, rowid"
    with reading(db) as database:
        return list(_rows(database, sql, params))


def _with_legs(database: Database, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    leg_sql = "SELECT * FROM queue_legs WHERE linkedid = ? ORDER BY seq"
    for row in list(rows):
        call = dict(row)
        call["complete"] = bool(call["complete"])
        legs = []
        for leg in _rows(database, leg_sql, [call["linkedid"]]):
            leg = dict(leg)
            leg["abandoned"] = bool(leg["abandoned"])
            legs.append(leg)
        call["legs"] = legs
        yield call
