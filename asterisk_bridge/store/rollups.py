"""Building the rollups (``rollup_ddl.py``): for a database that holds calls from before them, and
again whenever the time zone or a threshold they depend on changes.

**What they depend on.** ``rollup_state`` records the time zone they are cut in (its name and a
signature of its days and offsets, ``localdays.signature``), the service-level threshold (the
``within`` counts) and the short-abandon threshold (queue legs abandoned vs short). The triggers
read them from there, never from a configuration, so a process with another configuration cannot
mix two kinds of figures. A configuration that differs (:func:`differs`) makes :func:`reset`
start over: every rollup row goes, the calendar and offsets of the zone are written, and the
figures are read from the call rows until the build is done.

**The build** walks the calls in the order of their id (Linkedid) in chunks, each chunk one
transaction that adds the chunk's calls (with their queue legs, rings and menu sessions) and moves
``calls_through`` past them; the triggers count a row once the cursor has passed its call id. So
the service can write calls meanwhile, a build that is killed continues where it stopped, and
after the last chunk every row is counted once. Then the menu sessions without a linkedid, then
each operator's days (``operator_days.py``), interface by interface.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import localdays
from ..utc import utc_iso
from . import operator_days
from .rollup_sql import day_of, hour_of, micros

#: calls per build transaction (a fraction of a second each, so the service's writes wait little)
CHUNK = 20_000
#: operators per build transaction
OPERATOR_CHUNK = 50
#: why a build with the right settings goes on
UNFINISHED = "a build was left unfinished"


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``): what a step reads is what it
    counts, whatever the service writes on another connection."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass(frozen=True)
class RollupSettings:
    """What the rollups are cut with: from the configuration (``timezone``,
    ``summary.service_level_seconds``, ``ami.short_abandon``)."""

    timezone: str
    service_level_seconds: float
    short_abandon_seconds: float


@dataclass(frozen=True)
class RollupState:
    """``rollup_state`` as read."""

    timezone: str | None
    zone_signature: str | None
    service_level_seconds: float | None
    short_abandon_seconds: float | None
    calls_through: str | None
    unlinked_done: bool
    operators_through: str | None
    operators_settled: str | None
    build_started_at: str | None
    build_finished_at: str | None
    calls_total: int | None
    calls_done: int | None

    @property
    def built(self) -> bool:
        return (self.timezone is not None and self.calls_through is None and self.unlinked_done
                and self.operators_through is None)

    def serves(self, settings: RollupSettings) -> bool:
        """Built, and with these settings: the report may read them."""
        return (self.built and self.timezone == settings.timezone
                and self.service_level_seconds == float(settings.service_level_seconds)
                and self.short_abandon_seconds == float(settings.short_abandon_seconds))


def read_state(conn: sqlite3.Connection) -> RollupState | None:
    """The rollups' state, or None for a database from before them."""
    try:
        row = conn.execute(
            "SELECT timezone, zone_signature, service_level_seconds, short_abandon_seconds, calls_through, "
            "unlinked_done, operators_through, operators_settled, build_started_at, build_finished_at, "
            "calls_total, calls_done FROM rollup_state WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    return RollupState(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], row[8], row[9],
                       row[10], row[11])


def differs(state: RollupState | None, settings: RollupSettings, *, signature: bool = True) -> str | None:
    """Why rollups cut with ``state`` do not fit ``settings`` (None: they fit). ``signature``: also
    compare the zone's days and offsets with this Python's tzdata (costs about 0.2 s once)."""
    if state is None:
        return "the database has no rollups yet (run `asterisk-bridge db migrate`)"
    if state.timezone is None:
        return "the rollups were never built"
    if state.timezone != settings.timezone:
        return f"the time zone changed from {state.timezone} to {settings.timezone}"
    if state.service_level_seconds != float(settings.service_level_seconds):
        return (f"the service-level threshold changed from {state.service_level_seconds:g} s "
                f"to {settings.service_level_seconds:g} s")
    if state.short_abandon_seconds != float(settings.short_abandon_seconds):
        return (f"the short-abandon threshold changed from {state.short_abandon_seconds:g} s "
                f"to {settings.short_abandon_seconds:g} s")
    if signature and state.zone_signature != localdays.signature(settings.timezone):
        return f"the time zone data of {settings.timezone} changed (a tzdata update)"
    return None


def reset(conn: sqlite3.Connection, settings: RollupSettings, *, now: float | None = None) -> None:
    """Start the rollups over for ``settings`` (one transaction): nothing counted until built."""
    now = time.time() if now is None else now
    with transaction(conn):
        for table in ("rollup_calls", "rollup_hours", "rollup_months", "rollup_lines", "rollup_queues",
                      "rollup_operators", "rollup_operator_days", "rollup_operator_queues", "rollup_operator_pauses",
                      "rollup_calendar", "rollup_zone"):
            conn.execute(f"DELETE FROM {table}")
        conn.executemany("INSERT INTO rollup_calendar (day, start_utc, end_utc) VALUES (?, ?, ?)",
                         localdays.calendar(settings.timezone))
        conn.executemany("INSERT INTO rollup_zone (since_utc, offset_seconds) VALUES (?, ?)",
                         localdays.offsets(settings.timezone))
        total = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
        conn.execute(
            "UPDATE rollup_state SET timezone = ?, zone_signature = ?, service_level_seconds = ?, "
            "short_abandon_seconds = ?, calls_through = '', unlinked_done = 0, operators_through = '', "
            "operators_settled = NULL, build_started_at = ?, build_finished_at = NULL, calls_total = ?, "
            "calls_done = 0 WHERE id = 1",
            [settings.timezone, localdays.signature(settings.timezone), float(settings.service_level_seconds),
             float(settings.short_abandon_seconds), utc_iso(now), total])


@dataclass(frozen=True)
class Progress:
    """Where a build is: ``calls_done`` of ``calls_total`` (calls stored when it began), ``phase``
    (``calls``, ``menu``, ``operators``, ``done``)."""

    phase: str
    calls_done: int
    calls_total: int

    @property
    def done(self) -> bool:
        return self.phase == "done"

    def describe(self) -> str:
        share = f" ({100.0 * self.calls_done / self.calls_total:.0f} %)" if self.calls_total else ""
        return f"{self.calls_done:,} of {self.calls_total:,} calls{share}"


def step(conn: sqlite3.Connection, *, chunk: int = CHUNK, now: float | None = None) -> Progress:
    """One transaction of the build; returns where it is (``done`` when there is nothing left).
    The state is read inside the transaction, so two processes building at once take turns."""
    with transaction(conn):
        state = read_state(conn)
        if state is None or state.timezone is None:
            raise ValueError("the rollups have no time zone yet: reset them first")
        total = state.calls_total or 0
        if state.calls_through is not None:
            return Progress("calls", _calls_chunk(conn, state.calls_through, chunk), total)
        if not state.unlinked_done:
            _count_sessions(conn, "m.linkedid IS NULL", [])
            conn.execute("UPDATE rollup_state SET unlinked_done = 1 WHERE id = 1")
            return Progress("menu", state.calls_done or 0, total)
        now = time.time() if now is None else now
        if state.operators_through is not None:
            settled = _yesterday(state.timezone, now)
            interfaces = operator_days.interfaces_after(conn, state.operators_through, OPERATOR_CHUNK)
            operator_days.build(conn, interfaces, settled)
            conn.execute("UPDATE rollup_state SET operators_through = ?, operators_settled = ? WHERE id = 1",
                         [interfaces[-1] if interfaces else None, settled])
            if interfaces:
                return Progress("operators", state.calls_done or 0, total)
            conn.execute("UPDATE rollup_state SET build_finished_at = ? WHERE id = 1", [utc_iso(now)])
        return Progress("done", state.calls_done or 0, total)


def why_build(state: RollupState | None, settings: RollupSettings, *, signature: bool = True) -> str | None:
    """Why :func:`build` has work to do for ``settings`` (None: the rollups serve them)."""
    reason = differs(state, settings, signature=signature)
    if reason is None and state is not None and not state.built:
        return UNFINISHED
    return reason


def build(conn: sqlite3.Connection, settings: RollupSettings, *, progress: Callable[[Progress], None] | None = None,
          every: float = 2.0, now: Callable[[], float] = time.time, chunk: int = CHUNK,
          signature: bool = True) -> Progress | None:
    """Bring the rollups to ``settings``: start over when they differ (:func:`differs`), then build
    to the end (``progress`` is told where it is every ``every`` seconds and at the end). Returns
    the last progress, or None when there was nothing to do."""
    state = read_state(conn)
    if differs(state, settings, signature=signature) is not None:
        reset(conn, settings, now=now())
    elif state is not None and state.built:
        return None
    told = time.monotonic()
    while True:
        where = step(conn, chunk=chunk, now=now())
        if where.done or (progress is not None and time.monotonic() - told >= every):
            if progress is not None:
                progress(where)
            told = time.monotonic()
        if where.done:
            return where


def _yesterday(tz_name: str, now: float) -> str:
    return (datetime.fromtimestamp(now, localdays.zone(tz_name)).date() - timedelta(days=1)).isoformat()


def settle(conn: sqlite3.Connection, now: float) -> int:
    """Keep every operator's days through the last local day that has ended at ``now``
    (``operator_days.settle``), in one transaction; returns the operator-days written."""
    with transaction(conn):
        state = read_state(conn)
        if state is None or state.timezone is None:
            return 0
        return operator_days.settle(conn, _yesterday(state.timezone, now))


# ------------------------------------------------------------------------------- one chunk


def _calls_chunk(conn: sqlite3.Connection, after: str, size: int) -> int:
    """Count the calls (and sessions) with ids in (``after``, the next cut]; returns calls done so far."""
    cut_calls = conn.execute("SELECT linkedid FROM calls WHERE linkedid > ? ORDER BY linkedid LIMIT 1 OFFSET ?",
                             [after, size - 1]).fetchone()
    cut_menus = conn.execute("SELECT linkedid FROM menu_sessions WHERE linkedid > ? ORDER BY linkedid "
                             "LIMIT 1 OFFSET ?", [after, size - 1]).fetchone()
    cuts = [c[0] for c in (cut_calls, cut_menus) if c is not None]
    upto = min(cuts) if cuts else None  # None: everything after ``after``
    bounds = "linkedid > ?" + (" AND linkedid <= ?" if upto is not None else "")
    params = [after] + ([upto] if upto is not None else [])
    conn.execute("DROP TABLE IF EXISTS temp.rollup_chunk")
    conn.execute("CREATE TEMP TABLE rollup_chunk AS SELECT c.linkedid, c.line, c.queue, c.topic, c.age_group, "
                 "c.outcome, c.queued_seconds, c.talk_seconds, c.complete, c.hangup_by, "
                 f"{day_of('c.started_at')} AS day, {hour_of('c.started_at')} AS hour FROM calls c WHERE c.{bounds}",
                 params)
    _count_calls(conn)
    _count_sessions(conn, "m." + bounds.replace(" AND linkedid", " AND m.linkedid"), params)
    added = conn.execute("SELECT COUNT(*) FROM temp.rollup_chunk").fetchone()[0]
    conn.execute("DROP TABLE temp.rollup_chunk")
    conn.execute("UPDATE rollup_state SET calls_through = ?, calls_done = calls_done + ? WHERE id = 1", [upto, added])
    return int(conn.execute("SELECT calls_done FROM rollup_state WHERE id = 1").fetchone()[0])


_T = "(SELECT service_level_seconds FROM rollup_state WHERE id = 1)"
_SHORT = "(SELECT short_abandon_seconds FROM rollup_state WHERE id = 1)"


def _count_calls(conn: sqlite3.Connection) -> None:
    """Add the calls of ``temp.rollup_chunk`` with their legs and rings, as the triggers would one by one."""
    key = ("c.day, COALESCE(c.line, ''), COALESCE(c.queue, ''), COALESCE(c.topic, ''), c.age_group, 'call', "
           "COALESCE(c.outcome, '')")
    conn.execute(f"""
        INSERT INTO rollup_calls (day, line, queue, topic, age_group, source, outcome, calls, within, wait_us,
            talk_n, talk_us, incomplete)
        SELECT {key}, COUNT(*), SUM(COALESCE(c.queued_seconds, 0) <= {_T}),
               SUM({micros('COALESCE(c.queued_seconds, 0)')}), COUNT(c.talk_seconds),
               SUM({micros('COALESCE(c.talk_seconds, 0)')}), SUM(c.complete = 0)
        FROM temp.rollup_chunk c WHERE c.day IS NOT NULL GROUP BY {key}
        ON CONFLICT DO UPDATE SET calls = calls + excluded.calls, within = within + excluded.within,
            wait_us = wait_us + excluded.wait_us, talk_n = talk_n + excluded.talk_n,
            talk_us = talk_us + excluded.talk_us, incomplete = incomplete + excluded.incomplete""")
    conn.execute("""
        INSERT INTO rollup_hours (day, line, hour, calls)
        SELECT c.day, COALESCE(c.line, ''), c.hour, COUNT(*) FROM temp.rollup_chunk c WHERE c.day IS NOT NULL
        GROUP BY 1, 2, 3 ON CONFLICT DO UPDATE SET calls = calls + excluded.calls""")
    conn.execute("""
        INSERT INTO rollup_months (month, line, source, outcome, calls)
        SELECT substr(c.day, 1, 7), COALESCE(c.line, ''), 'call', COALESCE(c.outcome, ''), COUNT(*)
        FROM temp.rollup_chunk c WHERE c.day IS NOT NULL
        GROUP BY 1, 2, 3, 4 ON CONFLICT DO UPDATE SET calls = calls + excluded.calls""")
    conn.execute("""
        INSERT INTO rollup_lines (day, line, wait_max, missed)
        SELECT c.day, COALESCE(c.line, ''), MAX(c.queued_seconds),
               SUM(c.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM menu_sessions m WHERE m.linkedid = c.linkedid))
        FROM temp.rollup_chunk c WHERE c.day IS NOT NULL GROUP BY 1, 2
        ON CONFLICT DO UPDATE SET missed = missed + excluded.missed, wait_max = CASE
            WHEN excluded.wait_max IS NULL THEN wait_max
            WHEN wait_max IS NULL OR excluded.wait_max > wait_max THEN excluded.wait_max ELSE wait_max END""")
    gave_up = ("(l.answered_at IS NULL AND (l.abandoned IS 1 OR (l.left_reason IS 'ended' "
               "AND c.hangup_by IS 'caller')))")
    unknown = (f"(l.answered_at IS NULL AND NOT {gave_up} AND (l.left_at IS NULL OR "
               "(l.left_reason IS 'ended' AND c.complete IS 0)))")
    w = "COALESCE(l.wait_seconds, 0)"
    conn.execute(f"""
        INSERT INTO rollup_queues (day, queue, offered, answered, abandoned, short_abandon, unknown, answered_within,
            abandoned_within, wait_us, wait_max)
        SELECT c.day, COALESCE(l.queue, ''), COUNT(*), SUM(l.answered_at IS NOT NULL),
               SUM({gave_up} AND {w} > {_SHORT}), SUM({gave_up} AND {w} <= {_SHORT}), SUM({unknown}),
               SUM(l.answered_at IS NOT NULL AND {w} <= {_T}), SUM({gave_up} AND {w} > {_SHORT} AND {w} <= {_T}),
               SUM(CASE WHEN l.answered_at IS NOT NULL THEN {micros(w)} ELSE 0 END), MAX(l.wait_seconds)
        FROM temp.rollup_chunk c JOIN queue_legs l ON l.linkedid = c.linkedid WHERE c.day IS NOT NULL
        GROUP BY 1, 2
        ON CONFLICT DO UPDATE SET offered = offered + excluded.offered, answered = answered + excluded.answered,
            abandoned = abandoned + excluded.abandoned, short_abandon = short_abandon + excluded.short_abandon,
            unknown = unknown + excluded.unknown, answered_within = answered_within + excluded.answered_within,
            abandoned_within = abandoned_within + excluded.abandoned_within, wait_us = wait_us + excluded.wait_us,
            wait_max = CASE WHEN excluded.wait_max IS NULL THEN wait_max
                WHEN wait_max IS NULL OR excluded.wait_max > wait_max THEN excluded.wait_max ELSE wait_max END""")
    conn.execute(f"""
        INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings, ring_outs,
            ring_n, ring_us)
        SELECT c.day, COALESCE(l.answered_interface, ''), COALESCE(l.answered_by, ''), COALESCE(l.queue, ''),
               COUNT(*), COUNT(l.talk_seconds), SUM({micros('COALESCE(l.talk_seconds, 0)')}), 0, 0, 0, 0
        FROM temp.rollup_chunk c JOIN queue_legs l ON l.linkedid = c.linkedid
        WHERE c.day IS NOT NULL AND l.answered_at IS NOT NULL GROUP BY 1, 2, 3, 4
        ON CONFLICT DO UPDATE SET answered = answered + excluded.answered, talk_n = talk_n + excluded.talk_n,
            talk_us = talk_us + excluded.talk_us""")
    conn.execute(f"""
        INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings, ring_outs,
            ring_n, ring_us)
        SELECT c.day, COALESCE(a.interface, ''), COALESCE(a.member, ''), COALESCE(a.queue, ''), 0, 0, 0, COUNT(*),
               SUM(a.result IS 'noanswer'), SUM(a.result IS 'answered' AND a.ring_seconds IS NOT NULL),
               SUM(CASE WHEN a.result IS 'answered' THEN {micros('COALESCE(a.ring_seconds, 0)')} ELSE 0 END)
        FROM temp.rollup_chunk c JOIN ring_attempts a ON a.linkedid = c.linkedid WHERE c.day IS NOT NULL
        GROUP BY 1, 2, 3, 4
        ON CONFLICT DO UPDATE SET rings = rings + excluded.rings, ring_outs = ring_outs + excluded.ring_outs,
            ring_n = ring_n + excluded.ring_n, ring_us = ring_us + excluded.ring_us""")


def _count_sessions(conn: sqlite3.Connection, where: str, params: list[str]) -> None:
    """Add the menu sessions matching ``where`` (alias ``m``) that stand for a call AMI never saw:
    one without a linkedid, or the first of its linkedid when ``calls`` has no row for it."""
    sql = f"""
        SELECT m.line, COALESCE(m.queue, '') AS queue, COALESCE(m.topic, '') AS topic, m.age_group, m.result,
               {day_of('m.started_at')} AS day, {hour_of('m.started_at')} AS hour
        FROM menu_sessions m WHERE {where}
          AND (m.linkedid IS NULL OR (NOT EXISTS (SELECT 1 FROM calls c WHERE c.linkedid = m.linkedid)
               AND NOT EXISTS (SELECT 1 FROM menu_sessions o WHERE o.linkedid = m.linkedid AND o.rowid != m.rowid
                               AND (o.started_at, o.session_id) < (m.started_at, m.session_id))))"""
    conn.execute("DROP TABLE IF EXISTS temp.rollup_menu")
    conn.execute(f"CREATE TEMP TABLE rollup_menu AS {sql}", params)
    conn.execute("""
        INSERT INTO rollup_calls (day, line, queue, topic, age_group, source, outcome, calls, within, wait_us,
            talk_n, talk_us, incomplete)
        SELECT day, line, queue, topic, age_group, 'menu', result, COUNT(*), 0, 0, 0, 0, 0
        FROM temp.rollup_menu WHERE day IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 7
        ON CONFLICT DO UPDATE SET calls = calls + excluded.calls""")
    conn.execute("""
        INSERT INTO rollup_hours (day, line, hour, calls)
        SELECT day, line, hour, COUNT(*) FROM temp.rollup_menu WHERE day IS NOT NULL GROUP BY 1, 2, 3
        ON CONFLICT DO UPDATE SET calls = calls + excluded.calls""")
    conn.execute("""
        INSERT INTO rollup_months (month, line, source, outcome, calls)
        SELECT substr(day, 1, 7), line, 'menu', result, COUNT(*) FROM temp.rollup_menu WHERE day IS NOT NULL
        GROUP BY 1, 2, 3, 4 ON CONFLICT DO UPDATE SET calls = calls + excluded.calls""")
    conn.execute("DROP TABLE temp.rollup_menu")
