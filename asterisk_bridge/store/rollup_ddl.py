"""The rollup tables and the triggers that keep them, as migration m008 creates them (``schema.py``).

Released with m008 (with ``rollup_rows.py`` and ``rollup_sql.py``): never edited. A change is a
new migration that drops and recreates what it changes.

**What is kept.** Per local day (``rollup_calendar``, the days of ``rollup_state.timezone``):

- ``rollup_calls``: calls per line x queue (the call's last) x topic x age group x source x
  outcome. ``source`` is ``call`` (a row of ``calls``) or ``menu`` (a menu session AMI never saw,
  one per linkedid: its first session; ``outcome`` is then the menu's result). Sums: calls, calls
  waiting at most the service-level threshold (``within``), wait and talk in microseconds, talks
  known, records not complete.
- ``rollup_hours``: calls per line and local hour; ``rollup_months``: calls per local month, line,
  source and outcome (for "since the first record").
- ``rollup_lines``: per line the longest wait and the calls that reached a queue without a menu
  session (``missed``).
- ``rollup_queues``: queue legs per queue, counted as ``store/operator_queries.py`` counts them
  (the short-abandon threshold of ``rollup_state``); ``rollup_operators``: answered legs and rings
  per operator (interface, member name) and queue.

Operators' logged-in and paused time per day is written by the store itself
(``store/operator_days.py``): it needs the sweep of ``calls/operator_time.py``.

**How they stay right.** Every trigger below runs inside the statement that changes a row, so a
rollup can never disagree with the rows it sums, whoever writes them: a changed row takes out its
old contribution (``BEFORE UPDATE`` / ``DELETE``) and adds its new one (``AFTER``). No ``BEFORE
INSERT`` trigger: an upsert runs those even when the insert turns into an update. A row counts only
once the build has passed its call id (``rollup_state.calls_through``, NULL when built): the build
(``store/rollups.py``) adds the older rows chunk by chunk, in the transaction that moves the
cursor. The longest wait is a maximum: when the row holding it goes or shrinks, that day's
maximum is read again from the rows (one day of one line or queue).

What a call, leg or ring adds is in ``rollup_rows.py``; the shared SQL pieces in ``rollup_sql.py``;
the menu sessions AMI never saw are here.
"""

from __future__ import annotations

from .rollup_rows import (
    LEG_FIELDS, RING_FIELDS, call_group, call_group_delta, call_hour, call_line, call_max, call_month, call_row,
    leg_max, leg_operator_rows, leg_queue_delta, leg_queue_rows, leg_rows, queue_max_again, ring_delta, ring_rows,
)
from .rollup_sql import UNLINKED_COUNTED, adding, changed, counted, day_of, hour_of, row_source, trigger

# ------------------------------------------------------------------------------- tables

TABLES = """
CREATE TABLE rollup_state (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    timezone              TEXT,
    zone_signature        TEXT,
    service_level_seconds REAL,
    short_abandon_seconds REAL,
    calls_through         TEXT,
    unlinked_done         INTEGER NOT NULL DEFAULT 0 CHECK (unlinked_done IN (0, 1)),
    operators_through     TEXT,
    operators_settled     TEXT,
    build_started_at      TEXT,
    build_finished_at     TEXT,
    calls_total           INTEGER,
    calls_done            INTEGER
) STRICT;
INSERT INTO rollup_state (id, calls_through, operators_through) VALUES (1, '', '');
CREATE TABLE rollup_calendar (
    day       TEXT PRIMARY KEY NOT NULL,
    start_utc TEXT NOT NULL UNIQUE,
    end_utc   TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_zone (
    since_utc      TEXT PRIMARY KEY NOT NULL,
    offset_seconds INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_calls (
    day        TEXT NOT NULL,
    line       TEXT NOT NULL,
    queue      TEXT NOT NULL,
    topic      TEXT NOT NULL,
    age_group  TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('call', 'menu')),
    outcome    TEXT NOT NULL,
    calls      INTEGER NOT NULL,
    within     INTEGER NOT NULL,
    wait_us    INTEGER NOT NULL,
    talk_n     INTEGER NOT NULL,
    talk_us    INTEGER NOT NULL,
    incomplete INTEGER NOT NULL,
    PRIMARY KEY (day, line, queue, topic, age_group, source, outcome)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_hours (
    day   TEXT NOT NULL,
    line  TEXT NOT NULL,
    hour  INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (day, line, hour)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_months (
    month   TEXT NOT NULL,
    line    TEXT NOT NULL,
    source  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    calls   INTEGER NOT NULL,
    PRIMARY KEY (month, line, source, outcome)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_lines (
    day      TEXT NOT NULL,
    line     TEXT NOT NULL,
    wait_max REAL,
    missed   INTEGER NOT NULL,
    PRIMARY KEY (day, line)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_queues (
    day              TEXT NOT NULL,
    queue            TEXT NOT NULL,
    offered          INTEGER NOT NULL,
    answered         INTEGER NOT NULL,
    abandoned        INTEGER NOT NULL,
    short_abandon    INTEGER NOT NULL,
    unknown          INTEGER NOT NULL,
    answered_within  INTEGER NOT NULL,
    abandoned_within INTEGER NOT NULL,
    wait_us          INTEGER NOT NULL,
    wait_max         REAL,
    PRIMARY KEY (day, queue)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_operators (
    day       TEXT NOT NULL,
    interface TEXT NOT NULL,
    name      TEXT NOT NULL,
    queue     TEXT NOT NULL,
    answered  INTEGER NOT NULL,
    talk_n    INTEGER NOT NULL,
    talk_us   INTEGER NOT NULL,
    rings     INTEGER NOT NULL,
    ring_outs INTEGER NOT NULL,
    ring_n    INTEGER NOT NULL,
    ring_us   INTEGER NOT NULL,
    PRIMARY KEY (day, interface, name, queue)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_operator_days (
    day          TEXT NOT NULL,
    interface    TEXT NOT NULL,
    logged_in_ms INTEGER NOT NULL,
    paused_ms    INTEGER NOT NULL,
    name         TEXT,
    name_tier    INTEGER NOT NULL,
    name_at      TEXT NOT NULL,
    name_queue   TEXT NOT NULL,
    PRIMARY KEY (day, interface)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_operator_queues (
    day       TEXT NOT NULL,
    interface TEXT NOT NULL,
    queue     TEXT NOT NULL,
    PRIMARY KEY (day, interface, queue)
) STRICT, WITHOUT ROWID;
CREATE TABLE rollup_operator_pauses (
    day       TEXT NOT NULL,
    interface TEXT NOT NULL,
    reason    TEXT NOT NULL,
    auto      INTEGER NOT NULL,
    paused_ms INTEGER NOT NULL,
    pauses    INTEGER NOT NULL,
    PRIMARY KEY (day, interface, reason, auto)
) STRICT, WITHOUT ROWID;
"""


# ------------------------------------------------------------------------------- menu sessions AMI never saw

_SESSION_FIELDS = ("line", "queue", "topic", "age_group", "result", "started_at")


def menu_row(session: str, sign: int) -> list[str]:
    """Add or take out the call a menu session stands for (``session``: a table expression with
    the ``menu_sessions`` columns, alias ``m``; no rows = nothing)."""
    s = sign
    x = f"(SELECT m.*, {day_of('m.started_at')} AS day FROM {session}) x"
    key = ("x.day, x.line, COALESCE(x.queue, ''), COALESCE(x.topic, ''), x.age_group, 'menu', x.result")
    statements = [
        f"""INSERT INTO rollup_calls (day, line, queue, topic, age_group, source, outcome, calls, within, wait_us,
                talk_n, talk_us, incomplete)
            SELECT {key}, {s}, 0, 0, 0, 0, 0 FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {adding('calls')}""",
        f"""INSERT INTO rollup_hours (day, line, hour, calls)
            SELECT x.day, x.line, {hour_of('x.started_at')}, {s} FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {adding('calls')}""",
        f"""INSERT INTO rollup_months (month, line, source, outcome, calls)
            SELECT substr(x.day, 1, 7), x.line, 'menu', x.result, {s} FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {adding('calls')}""",
    ]
    if s < 0:
        statements += [
            f"""DELETE FROM rollup_calls WHERE calls = 0 AND (day, line, queue, topic, age_group, source, outcome) IN
                (SELECT {key} FROM {x})""",
            f"""DELETE FROM rollup_hours WHERE calls = 0 AND (day, line, hour) IN
                (SELECT x.day, x.line, {hour_of('x.started_at')} FROM {x})""",
            f"""DELETE FROM rollup_months WHERE calls = 0 AND (month, line, source, outcome) IN
                (SELECT substr(x.day, 1, 7), x.line, 'menu', x.result FROM {x})""",
        ]
    return statements


def first_session(linkedid: str, *, besides: str | None = None) -> str:
    """The session that stands for call ``linkedid``: its first (by start, then session id),
    leaving out the row whose rowid is ``besides``."""
    other = f" AND m.rowid != {besides}" if besides else ""
    return (f"(SELECT * FROM menu_sessions m WHERE m.linkedid = {linkedid}{other} "
            "ORDER BY m.started_at, m.session_id LIMIT 1) m")


def _only(table: str, condition: str) -> str:
    """``table`` (alias ``m``) where ``condition`` holds, as a table expression."""
    return f"(SELECT * FROM {table} WHERE {condition}) m"


def _no_call(linkedid: str) -> str:
    return f"NOT EXISTS (SELECT 1 FROM calls WHERE linkedid = {linkedid})"


def _before(r: str, linkedid: str) -> str:
    """Another session of ``linkedid`` sorts before session ``r``."""
    return (f"EXISTS (SELECT 1 FROM menu_sessions o WHERE o.linkedid = {linkedid} AND o.rowid != {r}.rowid "
            f"AND (o.started_at, o.session_id) < ({r}.started_at, {r}.session_id))")


def _others(r: str) -> str:
    return f"EXISTS (SELECT 1 FROM menu_sessions o WHERE o.linkedid = {r}.linkedid AND o.rowid != {r}.rowid)"


def _missed_change(r: str, delta: int) -> str:
    """The call of session ``r``'s linkedid, when it reached a queue, gains or loses ``missed``."""
    return f"""UPDATE rollup_lines SET missed = missed + ({delta})
        WHERE (day, line) = (SELECT {day_of('c.started_at')}, COALESCE(c.line, '') FROM calls c
                             WHERE c.linkedid = {r}.linkedid AND c.queue IS NOT NULL)"""


def session_triggers(prefix: str, when: str, r: str, sign: int, extra: str = "") -> list[str]:
    """Session ``r`` comes in (``sign`` 1: AFTER INSERT / UPDATE) or goes (-1: AFTER DELETE /
    BEFORE UPDATE). A session without a linkedid is a call of its own. Otherwise it stands for its
    call when it is the call's first session and AMI has no row for the call: it then takes the
    place of (or gives it back to) the session that stood for the call before. A call AMI saw
    that reached a queue counts as ``missed`` while it has no session at all."""
    extra = f" AND {extra}" if extra else ""
    linked = f"{r}.linkedid IS NOT NULL AND {counted(f'{r}.linkedid')}{extra}"
    rep = f"NOT {_before(r, f'{r}.linkedid')} AND {_no_call(f'{r}.linkedid')}"
    own = row_source(r, _SESSION_FIELDS)
    other = first_session(f"{r}.linkedid", besides=f"{r}.rowid")
    return [
        trigger(f"{prefix}_alone", when, "menu_sessions", f"{r}.linkedid IS NULL AND {UNLINKED_COUNTED}{extra}",
                menu_row(_only(own, "1"), sign)),
        trigger(f"{prefix}_only", when, "menu_sessions", f"{linked} AND NOT {_others(r)} AND {_no_call(f'{r}.linkedid')}",
                menu_row(_only(own, "1"), sign)),
        trigger(f"{prefix}_missed", when, "menu_sessions",
                f"{linked} AND NOT {_others(r)} AND EXISTS (SELECT 1 FROM calls c WHERE c.linkedid = {r}.linkedid "
                "AND c.queue IS NOT NULL)", [_missed_change(r, -sign)]),
        trigger(f"{prefix}_more", when, "menu_sessions", f"{linked} AND {_others(r)}", [
            *menu_row(_only(other, rep), -sign), *menu_row(_only(own, rep), sign)]),
    ]


# ------------------------------------------------------------------------------- triggers


def triggers() -> list[str]:
    legs_of = {r: f"(SELECT * FROM queue_legs WHERE linkedid = {r}.linkedid) l" for r in ("NEW", "OLD")}
    rings_of = {r: f"(SELECT * FROM ring_attempts WHERE linkedid = {r}.linkedid) a" for r in ("NEW", "OLD")}
    group_moved = changed(("started_at", "line", "queue", "topic", "age_group", "outcome"))
    sums_changed = changed(("queued_seconds", "talk_seconds", "complete"))
    hour_moved = changed(("started_at", "line"))
    month_moved = changed(("started_at", "line", "outcome"))
    line_moved = changed(("started_at", "line", "queue", "queued_seconds"))
    legs_changed = changed(("started_at", "hangup_by", "complete"))
    answered = "(OLD.answered_at IS NULL) IS NOT (NEW.answered_at IS NULL)"
    leg_moved = changed(("linkedid", "queue"))
    leg_counts_changed = (f"({changed(('abandoned', 'left_reason', 'wait_seconds'))} OR {answered} "
                          "OR (OLD.left_at IS NULL) IS NOT (NEW.left_at IS NULL))")
    answer_changed = f"({changed(('linkedid', 'queue', 'answered_interface', 'answered_by', 'talk_seconds'))} OR {answered})"
    ring_moved = changed(("linkedid", "queue", "interface", "member"))
    leg = {r: row_source(r, LEG_FIELDS) + " l" for r in ("NEW", "OLD")}
    ring = {r: row_source(r, RING_FIELDS) + " a" for r in ("NEW", "OLD")}
    moved = "OLD.started_at IS NOT NEW.started_at"
    session_changed = changed(("session_id", "linkedid", "started_at", "line", "topic", "age_group", "result",
                                "queue"))
    rep_of = {r: _only(first_session(f"{r}.linkedid"), "1") for r in ("NEW", "OLD")}
    return [
        # calls: each rollup only when what it counts by changed; sums of a group that stayed in place
        trigger("rollup_call_in", "AFTER INSERT", "calls", counted("NEW.linkedid"), call_row("NEW", 1)),
        trigger("rollup_call_in_legs", "AFTER INSERT", "calls",
                f"{counted('NEW.linkedid')} AND (EXISTS (SELECT 1 FROM queue_legs WHERE linkedid = NEW.linkedid) "
                "OR EXISTS (SELECT 1 FROM ring_attempts WHERE linkedid = NEW.linkedid))",
                [*leg_rows(legs_of["NEW"], 1), *ring_rows(rings_of["NEW"], 1)]),
        trigger("rollup_call_in_menu", "AFTER INSERT", "calls",
                f"{counted('NEW.linkedid')} AND EXISTS (SELECT 1 FROM menu_sessions WHERE linkedid = NEW.linkedid)",
                menu_row(rep_of["NEW"], -1)),
        trigger("rollup_call_key", "BEFORE UPDATE", "calls", "OLD.linkedid IS NOT NEW.linkedid", [
            "SELECT RAISE(ABORT, 'calls.linkedid cannot change: the rollups count calls by it')"]),
        trigger("rollup_call_group_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {group_moved}",
                call_group("OLD", -1)),
        trigger("rollup_call_group_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {group_moved}",
                call_group("NEW", 1)),
        trigger("rollup_call_group_sums", "AFTER UPDATE", "calls",
                f"{counted('NEW.linkedid')} AND NOT {group_moved} AND {sums_changed}", [call_group_delta()]),
        trigger("rollup_call_hour_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {hour_moved}",
                call_hour("OLD", -1)),
        trigger("rollup_call_hour_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {hour_moved}",
                call_hour("NEW", 1)),
        trigger("rollup_call_month_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {month_moved}",
                call_month("OLD", -1)),
        trigger("rollup_call_month_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {month_moved}",
                call_month("NEW", 1)),
        trigger("rollup_call_line_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {line_moved}",
                call_line("OLD", -1)),
        trigger("rollup_call_line_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {line_moved}",
                [call_max("OLD", "NEW"), *call_line("NEW", 1)]),
        trigger("rollup_call_legs_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {legs_changed}",
                leg_queue_rows(legs_of["OLD"], -1)),
        trigger("rollup_call_legs_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {legs_changed}", [
            queue_max_again(f"{moved} AND day = {day_of('OLD.started_at')} AND queue IN "
                            "(SELECT COALESCE(queue, '') FROM queue_legs WHERE linkedid = NEW.linkedid)"),
            *leg_queue_rows(legs_of["NEW"], 1)]),
        trigger("rollup_call_answers_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {moved}",
                [*leg_operator_rows(legs_of["OLD"], -1), *ring_rows(rings_of["OLD"], -1)]),
        trigger("rollup_call_answers_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {moved}",
                [*leg_operator_rows(legs_of["NEW"], 1), *ring_rows(rings_of["NEW"], 1)]),
        trigger("rollup_call_gone", "BEFORE DELETE", "calls", counted("OLD.linkedid"), [
            *call_row("OLD", -1), *leg_rows(legs_of["OLD"], -1), *ring_rows(rings_of["OLD"], -1)]),
        trigger("rollup_call_gone_after", "AFTER DELETE", "calls", counted("OLD.linkedid"), [
            call_max("OLD", None), queue_max_again(f"day = {day_of('OLD.started_at')}"),
            *menu_row(rep_of["OLD"], 1)]),
        # queue legs: the queue's counts in place while the leg stays in its queue
        trigger("rollup_leg_in", "AFTER INSERT", "queue_legs", counted("NEW.linkedid"), leg_rows(leg["NEW"], 1)),
        trigger("rollup_leg_gone", "AFTER DELETE", "queue_legs", counted("OLD.linkedid"),
                [*leg_rows(leg["OLD"], -1), leg_max("OLD")]),
        trigger("rollup_leg_queue_old", "BEFORE UPDATE", "queue_legs", f"{counted('OLD.linkedid')} AND {leg_moved}",
                leg_queue_rows(leg["OLD"], -1)),
        trigger("rollup_leg_queue_max", "AFTER UPDATE", "queue_legs", f"{counted('OLD.linkedid')} AND {leg_moved}",
                [leg_max("OLD")]),
        trigger("rollup_leg_queue_new", "AFTER UPDATE", "queue_legs", f"{counted('NEW.linkedid')} AND {leg_moved}",
                leg_queue_rows(leg["NEW"], 1)),
        trigger("rollup_leg_queue_sums", "AFTER UPDATE", "queue_legs",
                f"{counted('NEW.linkedid')} AND NOT {leg_moved} AND {leg_counts_changed}", leg_queue_delta()),
        trigger("rollup_leg_answer_old", "BEFORE UPDATE", "queue_legs",
                f"{counted('OLD.linkedid')} AND OLD.answered_at IS NOT NULL AND {answer_changed}",
                leg_operator_rows(leg["OLD"], -1)),
        trigger("rollup_leg_answer_new", "AFTER UPDATE", "queue_legs",
                f"{counted('NEW.linkedid')} AND NEW.answered_at IS NOT NULL AND {answer_changed}",
                leg_operator_rows(leg["NEW"], 1)),
        # ring attempts
        trigger("rollup_ring_in", "AFTER INSERT", "ring_attempts", counted("NEW.linkedid"), ring_rows(ring["NEW"], 1)),
        trigger("rollup_ring_gone", "AFTER DELETE", "ring_attempts", counted("OLD.linkedid"),
                ring_rows(ring["OLD"], -1)),
        trigger("rollup_ring_old", "BEFORE UPDATE", "ring_attempts", f"{counted('OLD.linkedid')} AND {ring_moved}",
                ring_rows(ring["OLD"], -1)),
        trigger("rollup_ring_new", "AFTER UPDATE", "ring_attempts", f"{counted('NEW.linkedid')} AND {ring_moved}",
                ring_rows(ring["NEW"], 1)),
        trigger("rollup_ring_sums", "AFTER UPDATE", "ring_attempts",
                f"{counted('NEW.linkedid')} AND NOT {ring_moved} AND {changed(('result', 'ring_seconds'))}",
                [ring_delta()]),
        # menu sessions
        *session_triggers("rollup_session_in", "AFTER INSERT", "NEW", 1),
        *session_triggers("rollup_session_gone", "AFTER DELETE", "OLD", -1),
        *session_triggers("rollup_session_old", "BEFORE UPDATE", "OLD", -1, session_changed),
        *session_triggers("rollup_session_new", "AFTER UPDATE", "NEW", 1, session_changed),
    ]
