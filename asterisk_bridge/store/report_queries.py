"""SQL for the summary and ``stats``: grouped figures over a UTC half-open range, and the send log.

Why grouped and not row by row: the maths (report/compute.py) needs sums per line, topic, age
group and outcome, and SQLite computes them while it walks the ``(started_at)`` /
``(line, started_at)`` indexes, so five months cost one index range scan instead of a million
Python dicts. Bounds are ``utc_iso`` strings compared as text (the stored format sorts like time).

A menu session counts as a call of its own only when AMI never recorded that call
(``menu_sessions.linkedid`` not in ``calls``): with AMI off that is every session, with AMI on
it is a gap in the AMI data. A call is counted once however many menu sessions it had: its first
(by start, then session id) stands for it, and the call belongs to the day that session began.

These are the figures from the rows; the report reads the same figures from the rollups
(``rollup_queries.py``) once they are built, and a test holds the two equal. Wait and talk sums
are added as whole microseconds, as the rollups add them, so the two agree to the last digit.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..calls.model import OUTCOMES, UNANSWERED_OUTCOMES
from ..utc import utc_iso
from .queries import DatabaseLike, TimeBound, no_database, period_clause, reading


def _sql_list(values: Iterable[str]) -> str:
    """Known value names (no quotes inside) as an SQL list of string literals."""
    return ", ".join(f"'{value}'" for value in values)


# Mirrors report.definitions.outcome_bucket / menu_bucket (a test checks they agree); the outcomes
# come from the one list in calls/model.py.
CALL_BUCKET_SQL = f"""CASE
    WHEN outcome IS NULL THEN 'in_progress'
    WHEN outcome IN ({_sql_list(o for o in OUTCOMES if o not in UNANSWERED_OUTCOMES)}) THEN outcome
    WHEN outcome IN ({_sql_list(o for o in OUTCOMES if o in UNANSWERED_OUTCOMES)}) THEN 'unanswered'
    ELSE 'failed' END"""
MENU_BUCKET_SQL = """CASE result
    WHEN 'hangup' THEN 'abandoned_menu' WHEN 'selfservice' THEN 'selfservice' ELSE 'no_ami' END"""
#: every value MENU_BUCKET_SQL gives
MENU_BUCKETS = ("abandoned_menu", "selfservice", "no_ami")

# The session that stands for its call: none of the call's other sessions began before it; ``m``
# is menu_sessions.
_FIRST_SESSION = ("NOT EXISTS (SELECT 1 FROM menu_sessions o WHERE o.linkedid = m.linkedid AND o.rowid != m.rowid "
                  "AND (o.started_at, o.session_id) < (m.started_at, m.session_id))")
# ... of a call AMI did not see.
_MENU_ONLY = f"(m.linkedid IS NULL OR (NOT EXISTS (SELECT 1 FROM calls c WHERE c.linkedid = m.linkedid) AND {_FIRST_SESSION}))"


def _micros(column: str) -> str:
    """``column`` (seconds) summed as whole microseconds, back in seconds."""
    return f"SUM(CAST(round({column} * 1000000) AS INTEGER)) / 1000000.0"

#: Columns of the day's CSV export, in order (caller_number is masked by the caller of day_calls).
CSV_COLUMNS = (
    "started_at", "line", "caller_number", "caller_name", "ivr_result", "topic", "age_group", "queue",
    "queued_seconds", "answered_at", "operator", "talk_seconds", "outcome", "hangup_by", "ended_at",
    "complete", "linkedid",
)


def has_calls(db: Database) -> bool:
    """False for a database whose ``calls`` table does not exist (AMI half not migrated yet)."""
    return db["calls"].exists()


def call_groups(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, threshold: float, line: str | None = None,
) -> list[dict[str, Any]]:
    """``calls`` counted per (line, topic, age_group, outcome) with wait and talk sums.

    ``within``: calls whose queue wait (NULL = never waited = 0) was at most ``threshold`` s.
    """
    with reading(db) as database:
        if not has_calls(database):
            return []
        where, params = period_clause(start_utc, end_utc, line, bounded=True)
        sql = f"""
            SELECT line, topic, age_group, outcome, COUNT(*) AS calls,
                   SUM(COALESCE(queued_seconds, 0) <= ?) AS within,
                   {_micros("COALESCE(queued_seconds, 0)")} AS wait_sum,
                   MAX(queued_seconds) AS wait_max,
                   COUNT(talk_seconds) AS talk_n,
                   {_micros("COALESCE(talk_seconds, 0)")} AS talk_sum,
                   SUM(complete = 0) AS incomplete
            FROM calls WHERE {where}
            GROUP BY line, topic, age_group, outcome"""
        return [dict(r) for r in database.query(sql, [threshold, *params])]


def menu_only_groups(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, line: str | None = None,
) -> list[dict[str, Any]]:
    """Menu sessions AMI did not see, per (line, topic, age_group, result); one call per linkedid."""
    with reading(db) as database:
        where, params = period_clause(start_utc, end_utc, line, alias="m", bounded=True)
        only = _menu_only(database)
        sql = f"""
            SELECT m.line AS line, m.topic AS topic, m.age_group AS age_group, m.result AS result,
                   COUNT(*) AS calls
            FROM menu_sessions m WHERE {where}{only}
            GROUP BY m.line, m.topic, m.age_group, m.result"""
        return [dict(r) for r in database.query(sql, params)]


def hour_counts(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, line: str | None = None,
) -> list[dict[str, Any]]:
    """Calls per line and UTC quarter-hour (``hour`` = ``YYYY-MM-DDTHH``, ``quarter`` 0..3)."""
    bucket = "substr({p}started_at, 1, 13) AS hour, CAST(substr({p}started_at, 15, 2) AS INTEGER) / 15 AS quarter"
    return _calls_and_menu_only(db, start_utc, end_utc, line, bucket.format(p=""), bucket.format(p="m."),
                                "hour, quarter")


def bucket_totals(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, line: str | None = None,
) -> list[dict[str, Any]]:
    """Calls per (line, outcome bucket), calls and menu-only sessions together: for long spans."""
    return _calls_and_menu_only(db, start_utc, end_utc, line, f"{CALL_BUCKET_SQL} AS bucket",
                                f"{MENU_BUCKET_SQL} AS bucket", "bucket")


def _calls_and_menu_only(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, line: str | None,
    call_columns: str, menu_columns: str, group: str,
) -> list[dict[str, Any]]:
    """Counts grouped by line and ``group``: rows of ``calls``, then menu sessions AMI never saw
    (one call per linkedid) — so a period mixing AMI data and gaps counts every call once."""
    with reading(db) as database:
        rows: list[dict[str, Any]] = []
        with_calls = has_calls(database)
        if with_calls:
            where, params = period_clause(start_utc, end_utc, line, bounded=True)
            sql = f"SELECT line, {call_columns}, COUNT(*) AS calls FROM calls WHERE {where} GROUP BY line, {group}"
            rows += [dict(r) for r in database.query(sql, params)]
        where, params = period_clause(start_utc, end_utc, line, alias="m", bounded=True)
        only = _menu_only(database)
        sql = (f"SELECT m.line AS line, {menu_columns}, COUNT(*) AS calls "
               f"FROM menu_sessions m WHERE {where}{only} GROUP BY m.line, {group}")
        rows += [dict(r) for r in database.query(sql, params)]
        return rows


def _menu_only(database: Database) -> str:
    """The condition for sessions that are calls of their own (with AMI's table, or without it)."""
    return f" AND {_MENU_ONLY}" if has_calls(database) else f" AND (m.linkedid IS NULL OR {_FIRST_SESSION})"


def first_record(db: DatabaseLike) -> str | None:
    """The earliest ``started_at`` of any call or menu session (two index lookups)."""
    with reading(db) as database:
        firsts = [r["first"] for r in database.query("SELECT MIN(started_at) AS first FROM menu_sessions")]
        if has_calls(database):
            firsts += [r["first"] for r in database.query("SELECT MIN(started_at) AS first FROM calls")]
        known = [f for f in firsts if f is not None]
        return min(known) if known else None


def menu_missed(db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, line: str | None = None) -> int:
    """Calls that reached a queue with no menu session: the menu did not run for them (the bridge
    was down and the dialplan's fallback queued them, or they are known only from queue_log)."""
    with reading(db) as database:
        if not has_calls(database):
            return 0
        where, params = period_clause(start_utc, end_utc, line, alias="c", bounded=True)
        sql = (f"SELECT COUNT(*) FROM calls c WHERE {where} AND c.queue IS NOT NULL AND NOT EXISTS "
               "(SELECT 1 FROM menu_sessions m WHERE m.linkedid = c.linkedid)")
        return int(database.execute(sql, params).fetchone()[0])


def notable_calls(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, limit: int = 5, line: str | None = None,
) -> list[dict[str, Any]]:
    """Calls a manager may want to look at: the longest waits, then calls whose end is unknown."""
    with reading(db) as database:
        if not has_calls(database):
            return []
        where, params = period_clause(start_utc, end_utc, line, bounded=True)
        cols = "linkedid, started_at, line, caller_number, caller_name, topic, outcome, queued_seconds"
        longest = list(database.query(
            f"SELECT {cols} FROM calls WHERE {where} AND queued_seconds IS NOT NULL "
            "ORDER BY queued_seconds DESC, started_at LIMIT ?", [*params, limit]))
        unknown = list(database.query(
            f"SELECT {cols} FROM calls WHERE {where} AND (outcome = 'unknown_end' OR outcome IS NULL) "
            "ORDER BY started_at LIMIT ?", [*params, limit]))
        seen = {r["linkedid"] for r in longest}
        return [dict(r) for r in longest] + [dict(r) for r in unknown if r["linkedid"] not in seen]


def recorded_lines(db: DatabaseLike) -> list[str]:
    """Every line with menu sessions or calls, sorted: one index seek per line on
    ``(line, started_at)`` (a loose index scan), not a pass over millions of rows."""
    found: set[str] = set()
    with reading(db) as database:
        for table in ("menu_sessions", "calls"):
            if not database[table].exists():
                continue
            last = ""
            while (row := database.execute(f"SELECT MIN(line) FROM {table} WHERE line > ?", [last]).fetchone())[0]:
                last = row[0]
                found.add(last)
    return sorted(found)


def day_calls(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, line: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The calls of a period in start order, :data:`CSV_COLUMNS` only (for the CSV export)."""
    with reading(db) as database:
        if not has_calls(database):
            return
        where, params = period_clause(start_utc, end_utc, line, bounded=True)
        sql = f"SELECT {', '.join(CSV_COLUMNS)} FROM calls WHERE {where} ORDER BY started_at, linkedid"
        yield from database.query(sql, params)


# ------------------------------------------------------------------------------- send log


def _writable(path: str | Path, timeout: float = 10.0) -> Database:
    path = Path(path)
    if not path.is_file():
        raise no_database(path)
    return Database(sqlite3.connect(str(path), timeout=timeout))


def summary_sent(db: DatabaseLike, day: str) -> dict[str, Any] | None:
    """The first recorded send of the summary for local day ``day`` (``YYYY-MM-DD``), if any."""
    with reading(db) as database:
        rows = list(database.query(
            "SELECT day, sent_at, recipients, subject, forced FROM summaries WHERE day = ? "
            "ORDER BY sent_at LIMIT 1", [day]))
        return rows[0] if rows else None


def record_summary(
    path: str | Path, day: str, *, sent_at: float, recipients: list[str], subject: str, forced: bool,
    html: str | None = None, text: str | None = None,
) -> None:
    """Log one successful send with the copy mailed (a separate short write; the writer thread
    owns only call records)."""
    database = _writable(path)
    try:
        with database.conn:
            database.execute(
                "INSERT INTO summaries (day, sent_at, recipients, subject, forced, html, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [day, utc_iso(sent_at), ", ".join(recipients), subject, int(forced), html, text])
    finally:
        database.conn.close()


def summary_log(db: DatabaseLike, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` sends, newest first: ``{id, day, sent_at, recipients, subject, forced}``."""
    with reading(db) as database:
        return [dict(r, forced=bool(r["forced"])) for r in database.query(
            "SELECT id, day, sent_at, recipients, subject, forced FROM summaries ORDER BY id DESC LIMIT ?", [limit])]


def summary_copy(db: DatabaseLike, day: str) -> dict[str, Any] | None:
    """The latest send of local day ``day`` with the copy mailed (``html`` / ``text``, None for
    sends recorded before copies were kept), or None when the day was never mailed."""
    with reading(db) as database:
        rows = list(database.query(
            "SELECT id, day, sent_at, recipients, subject, forced, html, text FROM summaries WHERE day = ? "
            "ORDER BY id DESC LIMIT 1", [day]))
    return dict(rows[0], forced=bool(rows[0]["forced"])) if rows else None
