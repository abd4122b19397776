"""SQL for the operator and queue figures of the summary and ``stats`` (the maths is in
``report/operators.py``).

A call belongs to the period its ``started_at`` falls in (as for every other figure), and so do
its queue legs and ring attempts; an operator's sessions and pauses are the intervals that overlap
the period, cut to it by the report. Bounds are ``utc_iso`` strings compared as text. Sums of
seconds are added as whole microseconds, as the rollups (``rollup_queries.py``) add them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..calls.operator_time import SAME_PAUSE_MS
from ..utc import parse_utc_iso, utc_iso
from .queries import DatabaseLike, TimeBound, period_clause, reading, time_bound

#: a leg the caller left by hanging up: abandoned (QueueCallerAbandon / ABANDON), or still open when
#: the caller hung up (``calls/outcome.py`` calls both an abandon); ``c`` is calls, ``l`` queue_legs.
#: ``IS`` rather than ``=``: a NULL column compares false, never NULL, so the sums below stay exact.
_GAVE_UP = "(l.answered_at IS NULL AND (l.abandoned IS 1 OR (l.left_reason IS 'ended' AND c.hangup_by IS 'caller')))"
#: a leg whose fate is unknown: still waiting, or cut off by an AMI gap with the end never seen
_UNKNOWN = ("(l.answered_at IS NULL AND NOT " + _GAVE_UP + " AND (l.left_at IS NULL OR "
            "(l.left_reason IS 'ended' AND c.complete IS 0)))")
_WAIT = "COALESCE(l.wait_seconds, 0)"


def _queues_clause(queues: Sequence[str] | None, column: str) -> tuple[str, list[str]]:
    if queues is None:
        return "", []
    return f" AND {column} IN ({', '.join('?' * len(queues))})" if queues else " AND 0", list(queues)


def queue_groups(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, threshold: float, short_abandon: float,
    queues: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Queue legs of the calls started in the period, per queue: ``offered`` (legs), ``answered``,
    ``abandoned`` (gave up after ``short_abandon`` s), ``short_abandon``, ``unknown`` (still waiting,
    or cut off by an AMI gap), ``answered_within`` / ``abandoned_within`` (wait <= ``threshold``),
    ``wait_sum`` (answered legs), ``wait_max``. ``queues``: only these queues."""
    with reading(db) as database:
        where, params = period_clause(start_utc, end_utc, alias="c", bounded=True)
        only, names = _queues_clause(queues, "l.queue")
        sql = f"""
            WITH p (short, threshold) AS (SELECT ?, ?)
            SELECT l.queue AS queue, COUNT(*) AS offered,
                   SUM(l.answered_at IS NOT NULL) AS answered,
                   SUM({_GAVE_UP} AND {_WAIT} > p.short) AS abandoned,
                   SUM({_GAVE_UP} AND {_WAIT} <= p.short) AS short_abandon,
                   SUM({_UNKNOWN}) AS unknown,
                   SUM(l.answered_at IS NOT NULL AND {_WAIT} <= p.threshold) AS answered_within,
                   SUM({_GAVE_UP} AND {_WAIT} > p.short AND {_WAIT} <= p.threshold) AS abandoned_within,
                   SUM(CASE WHEN l.answered_at IS NOT NULL THEN CAST(round({_WAIT} * 1000000) AS INTEGER) ELSE 0 END)
                       / 1000000.0 AS wait_sum,
                   MAX(l.wait_seconds) AS wait_max
            FROM p, calls c JOIN queue_legs l ON l.linkedid = c.linkedid
            WHERE {where}{only}
            GROUP BY l.queue"""
        return [dict(r) for r in database.query(sql, [short_abandon, threshold, *params, *names])]


def operator_answers(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, queues: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Answered queue legs of the calls started in the period, per operator (interface and member
    name): ``answered``, ``talk_n`` (legs with a known talk time), ``talk_sum``."""
    with reading(db) as database:
        where, params = period_clause(start_utc, end_utc, alias="c", bounded=True)
        only, names = _queues_clause(queues, "l.queue")
        sql = f"""
            SELECT l.answered_interface AS interface, l.answered_by AS name, COUNT(*) AS answered,
                   COUNT(l.talk_seconds) AS talk_n,
                   SUM(CAST(round(COALESCE(l.talk_seconds, 0) * 1000000) AS INTEGER)) / 1000000.0 AS talk_sum
            FROM calls c JOIN queue_legs l ON l.linkedid = c.linkedid
            WHERE {where} AND l.answered_at IS NOT NULL{only}
            GROUP BY l.answered_interface, l.answered_by"""
        return [dict(r) for r in database.query(sql, [*params, *names])]


def operator_rings(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, queues: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Rings of queue members for the calls started in the period, per operator: ``ring_outs``
    (rang until the queue gave up on them), ``ring_n`` / ``ring_sum`` (rings that were answered)."""
    with reading(db) as database:
        if not database["ring_attempts"].exists():
            return []
        where, params = period_clause(start_utc, end_utc, alias="c", bounded=True)
        only, names = _queues_clause(queues, "a.queue")
        sql = f"""
            SELECT a.interface AS interface, a.member AS name,
                   SUM(a.result = 'noanswer') AS ring_outs,
                   SUM(a.result = 'answered' AND a.ring_seconds IS NOT NULL) AS ring_n,
                   SUM(CASE WHEN a.result = 'answered' THEN CAST(round(COALESCE(a.ring_seconds, 0) * 1000000)
                       AS INTEGER) ELSE 0 END) / 1000000.0 AS ring_sum
            FROM calls c JOIN ring_attempts a ON a.linkedid = c.linkedid
            WHERE {where}{only}
            GROUP BY a.interface, a.member"""
        return [dict(r) for r in database.query(sql, [*params, *names])]


def operator_sessions(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, queues: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Sessions (``interface, queue, member_name, logged_in_at, logged_out_at``) that overlap the period."""
    return _intervals(db, "operator_sessions", "logged_in_at", "logged_out_at",
                      "interface, queue, member_name, logged_in_at, logged_out_at", start_utc, end_utc, queues)


def operator_pauses(
    db: DatabaseLike, start_utc: TimeBound, end_utc: TimeBound, *, queues: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Pauses (``interface, queue, member_name, started_at, ended_at, reason, auto``) that overlap the
    period, and those that began up to ``calls.operator_time.SAME_PAUSE_MS`` before it (they tell
    whether a pause at the start of the period is one already counted in another queue)."""
    return _intervals(db, "operator_pauses", "started_at", "ended_at",
                      "interface, queue, member_name, started_at, ended_at, reason, auto", start_utc, end_utc, queues,
                      lead_ms=SAME_PAUSE_MS)


def _intervals(db: DatabaseLike, table: str, begin: str, end: str, columns: str, start_utc: TimeBound,
               end_utc: TimeBound, queues: Sequence[str] | None, lead_ms: int = 0) -> list[dict[str, Any]]:
    """Rows of ``table`` whose [begin, end) overlaps the period (an open one, end NULL, from its begin
    on), or that began up to ``lead_ms`` before it. Ended ones are found through the index on their
    end, open ones through the same index (NULL)."""
    start, stop = time_bound(start_utc, "start_utc"), time_bound(end_utc, "end_utc")
    assert start is not None and stop is not None
    with reading(db) as database:
        if not database[table].exists():
            return []
        only, names = _queues_clause(queues, "queue")
        lead = utc_iso(parse_utc_iso(start) - lead_ms / 1000)
        sql = (f"SELECT {columns} FROM {table} WHERE ({end} > ? OR {end} IS NULL OR {begin} >= ?) AND {begin} < ?"
               f"{only} ORDER BY interface, {begin}, queue")
        return [dict(r) for r in database.query(sql, [start, lead, stop, *names])]
