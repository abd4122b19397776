"""The rollup tables and the triggers that keep them, as migration m008 creates them (``schema.py``).

Released with m008: never edited. A change is a new migration that drops and recreates what it
changes.

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
"""

from __future__ import annotations

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

# ------------------------------------------------------------------------------- expressions


def _state(column: str) -> str:
    return f"(SELECT {column} FROM rollup_state WHERE id = 1)"


def counted(call_id: str) -> str:
    """True when the build has passed ``call_id`` (so its rows are counted)."""
    return f"(SELECT calls_through IS NULL OR {call_id} <= calls_through FROM rollup_state WHERE id = 1)"


UNLINKED_COUNTED = _state("unlinked_done")
THRESHOLD = _state("service_level_seconds")
SHORT = _state("short_abandon_seconds")
#: rows a day's maximum is read again from: those the build has passed (``c`` is calls)
COUNTED_ROWS = f"c.linkedid <= COALESCE({_state('calls_through')}, c.linkedid)"


def day_of(t: str) -> str:
    """The local day (``YYYY-MM-DD``) of UTC ISO time ``t``; NULL outside the calendar."""
    return (f"(SELECT day FROM rollup_calendar WHERE start_utc <= {t} AND end_utc > {t} "
            "ORDER BY start_utc DESC LIMIT 1)")


def hour_of(t: str) -> str:
    offset = f"(SELECT offset_seconds FROM rollup_zone WHERE since_utc <= {t} ORDER BY since_utc DESC LIMIT 1)"
    return f"CAST(strftime('%H', {t}, {offset} || ' seconds') AS INTEGER)"


def micros(x: str) -> str:
    return f"CAST(round({x} * 1000000) AS INTEGER)"


def _keep_max(column: str) -> str:
    return (f"{column} = CASE WHEN excluded.{column} IS NULL THEN {column} "
            f"WHEN {column} IS NULL OR excluded.{column} > {column} THEN excluded.{column} ELSE {column} END")


def _adding(*columns: str) -> str:
    return ", ".join(f"{c} = {c} + excluded.{c}" for c in columns)


# ------------------------------------------------------------------------------- a call's own row

_CALL_COLUMNS = ("started_at", "line", "queue", "topic", "age_group", "outcome", "queued_seconds",
                 "talk_seconds", "complete")


def _missed(r: str) -> str:
    return f"({r}.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM menu_sessions m WHERE m.linkedid = {r}.linkedid))"


def call_row(r: str, sign: int) -> list[str]:
    """Add (``sign`` 1) or take out (-1) the contribution of calls row ``r`` (NEW or OLD): its
    group, hour, month and line; taking out leaves the longest wait to :func:`call_max`."""
    s = sign
    src = f"(SELECT {day_of(f'{r}.started_at')} AS day) k"
    key = (f"k.day, COALESCE({r}.line, ''), COALESCE({r}.queue, ''), COALESCE({r}.topic, ''), {r}.age_group, "
           f"'call', COALESCE({r}.outcome, '')")
    statements = [
        f"""INSERT INTO rollup_calls (day, line, queue, topic, age_group, source, outcome, calls, within, wait_us,
                talk_n, talk_us, incomplete)
            SELECT {key}, {s}, {s} * (COALESCE({r}.queued_seconds, 0) <= {THRESHOLD}),
                   {s} * {micros(f'COALESCE({r}.queued_seconds, 0)')}, {s} * ({r}.talk_seconds IS NOT NULL),
                   {s} * {micros(f'COALESCE({r}.talk_seconds, 0)')}, {s} * ({r}.complete = 0)
            FROM {src} WHERE k.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('calls', 'within', 'wait_us', 'talk_n', 'talk_us', 'incomplete')}""",
        f"""INSERT INTO rollup_hours (day, line, hour, calls)
            SELECT k.day, COALESCE({r}.line, ''), {hour_of(f'{r}.started_at')}, {s} FROM {src} WHERE k.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('calls')}""",
        f"""INSERT INTO rollup_months (month, line, source, outcome, calls)
            SELECT substr(k.day, 1, 7), COALESCE({r}.line, ''), 'call', COALESCE({r}.outcome, ''), {s}
            FROM {src} WHERE k.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('calls')}""",
        f"""INSERT INTO rollup_lines (day, line, wait_max, missed)
            SELECT k.day, COALESCE({r}.line, ''), {f'{r}.queued_seconds' if s > 0 else 'NULL'}, {s} * {_missed(r)}
            FROM {src} WHERE k.day IS NOT NULL
            ON CONFLICT DO UPDATE SET missed = missed + excluded.missed, {_keep_max('wait_max')}""",
    ]
    if s < 0:
        statements += [
            f"""DELETE FROM rollup_calls WHERE calls = 0 AND (day, line, queue, topic, age_group, source, outcome) IN
                (SELECT {key} FROM {src})""",
            f"""DELETE FROM rollup_hours WHERE calls = 0 AND (day, line, hour) IN
                (SELECT k.day, COALESCE({r}.line, ''), {hour_of(f'{r}.started_at')} FROM {src})""",
            f"""DELETE FROM rollup_months WHERE calls = 0 AND (month, line, source, outcome) IN
                (SELECT substr(k.day, 1, 7), COALESCE({r}.line, ''), 'call', COALESCE({r}.outcome, '') FROM {src})""",
        ]
    return statements


def line_max_again(where: str) -> str:
    """Read the longest wait of the ``rollup_lines`` rows matching ``where`` again from the calls."""
    return f"""UPDATE rollup_lines SET wait_max = (
        SELECT MAX(c.queued_seconds) FROM rollup_calendar k
        JOIN calls c ON c.started_at >= k.start_utc AND c.started_at < k.end_utc
        WHERE k.day = rollup_lines.day AND c.line IS NULLIF(rollup_lines.line, '') AND {COUNTED_ROWS})
        WHERE {where}"""


def call_max(old: str, new: str | None) -> str:
    """After ``old`` left (or became ``new``): if it held its day's longest wait and the new row
    does not hold at least as much in the same day and line, read that maximum again."""
    kept = "" if new is None else (
        f" AND NOT ({old}.started_at IS {new}.started_at AND {old}.line IS {new}.line "
        f"AND {new}.queued_seconds >= {old}.queued_seconds)")
    return line_max_again(
        f"day = {day_of(f'{old}.started_at')} AND line = COALESCE({old}.line, '') "
        f"AND {old}.queued_seconds IS NOT NULL AND wait_max <= {old}.queued_seconds{kept}")


# ------------------------------------------------------------------------------- queue legs and rings

_LEG_FIELDS = ("linkedid", "queue", "answered_at", "abandoned", "left_reason", "left_at", "wait_seconds",
               "answered_interface", "answered_by", "talk_seconds")
_RING_FIELDS = ("linkedid", "queue", "interface", "member", "result", "ring_seconds")


def row_source(r: str, fields: tuple[str, ...]) -> str:
    """Trigger row ``r`` (NEW or OLD) as a one-row table."""
    return "(SELECT " + ", ".join(f"{r}.{f} AS {f}" for f in fields) + ")"


def leg_rows(legs: str, sign: int) -> list[str]:
    """Add or take out the queue and operator contributions of the legs in ``legs`` (a table
    expression with the ``queue_legs`` columns, alias ``l``), each with its call as stored now."""
    s = sign
    x = (f"(SELECT l.*, {day_of('c.started_at')} AS day, c.hangup_by AS hangup_by, c.complete AS complete "
         f"FROM {legs} JOIN calls c ON c.linkedid = l.linkedid) x")
    gave_up = ("(x.answered_at IS NULL AND (x.abandoned IS 1 OR (x.left_reason IS 'ended' "
               "AND x.hangup_by IS 'caller')))")
    unknown = (f"(x.answered_at IS NULL AND NOT {gave_up} AND (x.left_at IS NULL OR "
               "(x.left_reason IS 'ended' AND x.complete IS 0)))")
    w = "COALESCE(x.wait_seconds, 0)"
    op_key = "x.day, COALESCE(x.answered_interface, ''), COALESCE(x.answered_by, ''), COALESCE(x.queue, '')"
    statements = [
        f"""INSERT INTO rollup_queues (day, queue, offered, answered, abandoned, short_abandon, unknown,
                answered_within, abandoned_within, wait_us, wait_max)
            SELECT x.day, COALESCE(x.queue, ''), {s}, {s} * (x.answered_at IS NOT NULL),
                   {s} * ({gave_up} AND {w} > {SHORT}), {s} * ({gave_up} AND {w} <= {SHORT}), {s} * {unknown},
                   {s} * (x.answered_at IS NOT NULL AND {w} <= {THRESHOLD}),
                   {s} * ({gave_up} AND {w} > {SHORT} AND {w} <= {THRESHOLD}),
                   {s} * (CASE WHEN x.answered_at IS NOT NULL THEN {micros(w)} ELSE 0 END),
                   {'x.wait_seconds' if s > 0 else 'NULL'}
            FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('offered', 'answered', 'abandoned', 'short_abandon', 'unknown',
                                               'answered_within', 'abandoned_within', 'wait_us')},
                                      {_keep_max('wait_max')}""",
        f"""INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings, ring_outs,
                ring_n, ring_us)
            SELECT {op_key}, {s}, {s} * (x.talk_seconds IS NOT NULL), {s} * {micros('COALESCE(x.talk_seconds, 0)')},
                   0, 0, 0, 0
            FROM {x} WHERE x.day IS NOT NULL AND x.answered_at IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('answered', 'talk_n', 'talk_us')}""",
    ]
    if s < 0:
        statements.append(
            f"""DELETE FROM rollup_operators WHERE answered = 0 AND rings = 0 AND (day, interface, name, queue) IN
                (SELECT {op_key} FROM {x} WHERE x.answered_at IS NOT NULL)""")
    return statements


def queue_max_again(where: str) -> str:
    """Read the longest leg wait of the ``rollup_queues`` rows matching ``where`` again."""
    return f"""UPDATE rollup_queues SET wait_max = (
        SELECT MAX(l.wait_seconds) FROM rollup_calendar k
        JOIN calls c ON c.started_at >= k.start_utc AND c.started_at < k.end_utc
        JOIN queue_legs l ON l.linkedid = c.linkedid
        WHERE k.day = rollup_queues.day AND l.queue IS NULLIF(rollup_queues.queue, '') AND {COUNTED_ROWS})
        WHERE {where}"""


def leg_max(old: str) -> str:
    """After leg ``old`` left: if it held its queue's longest wait that day, read it again."""
    day = f"(SELECT {day_of('c.started_at')} FROM calls c WHERE c.linkedid = {old}.linkedid)"
    return queue_max_again(f"day = {day} AND queue = COALESCE({old}.queue, '') "
                           f"AND {old}.wait_seconds IS NOT NULL AND wait_max <= {old}.wait_seconds")


def ring_rows(rings: str, sign: int) -> list[str]:
    """Add or take out the operator contributions of the rings in ``rings`` (alias ``a``)."""
    s = sign
    x = (f"(SELECT a.*, {day_of('c.started_at')} AS day FROM {rings} JOIN calls c ON c.linkedid = a.linkedid) x")
    key = "x.day, COALESCE(x.interface, ''), COALESCE(x.member, ''), COALESCE(x.queue, '')"
    statements = [
        f"""INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings, ring_outs,
                ring_n, ring_us)
            SELECT {key}, 0, 0, 0, {s}, {s} * (x.result IS 'noanswer'),
                   {s} * (x.result IS 'answered' AND x.ring_seconds IS NOT NULL),
                   {s} * (CASE WHEN x.result IS 'answered' THEN {micros('COALESCE(x.ring_seconds, 0)')} ELSE 0 END)
            FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('rings', 'ring_outs', 'ring_n', 'ring_us')}""",
    ]
    if s < 0:
        statements.append(
            f"""DELETE FROM rollup_operators WHERE answered = 0 AND rings = 0 AND (day, interface, name, queue) IN
                (SELECT {key} FROM {x})""")
    return statements


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
            ON CONFLICT DO UPDATE SET {_adding('calls')}""",
        f"""INSERT INTO rollup_hours (day, line, hour, calls)
            SELECT x.day, x.line, {hour_of('x.started_at')}, {s} FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('calls')}""",
        f"""INSERT INTO rollup_months (month, line, source, outcome, calls)
            SELECT substr(x.day, 1, 7), x.line, 'menu', x.result, {s} FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {_adding('calls')}""",
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
        _trigger(f"{prefix}_alone", when, "menu_sessions", f"{r}.linkedid IS NULL AND {UNLINKED_COUNTED}{extra}",
                 menu_row(_only(own, "1"), sign)),
        _trigger(f"{prefix}_only", when, "menu_sessions", f"{linked} AND NOT {_others(r)}", [
            *menu_row(_only(own, _no_call(f"{r}.linkedid")), sign), _missed_change(r, -sign)]),
        _trigger(f"{prefix}_more", when, "menu_sessions", f"{linked} AND {_others(r)}", [
            *menu_row(_only(other, rep), -sign), *menu_row(_only(own, rep), sign)]),
    ]


# ------------------------------------------------------------------------------- triggers


def _trigger(name: str, when: str, table: str, condition: str, statements: list[str]) -> str:
    body = ";\n".join(statements)
    guard = f" WHEN {condition}" if condition else ""
    return f"CREATE TRIGGER {name} {when} ON {table}{guard} BEGIN\n{body};\nEND"


def _changed(columns: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns) + ")"


def triggers() -> list[str]:
    legs_of = {r: f"(SELECT * FROM queue_legs WHERE linkedid = {r}.linkedid) l" for r in ("NEW", "OLD")}
    rings_of = {r: f"(SELECT * FROM ring_attempts WHERE linkedid = {r}.linkedid) a" for r in ("NEW", "OLD")}
    call_changed = _changed(_CALL_COLUMNS)
    legs_changed = _changed(("started_at", "hangup_by", "complete"))
    moved = "OLD.started_at IS NOT NEW.started_at"
    session_changed = _changed(("session_id", "linkedid", "started_at", "line", "topic", "age_group", "result",
                                "queue"))
    rep_of = {r: _only(first_session(f"{r}.linkedid"), "1") for r in ("NEW", "OLD")}
    return [
        # calls
        _trigger("rollup_call_in", "AFTER INSERT", "calls", counted("NEW.linkedid"), [
            *call_row("NEW", 1), *leg_rows(legs_of["NEW"], 1), *ring_rows(rings_of["NEW"], 1),
            *menu_row(rep_of["NEW"], -1)]),
        _trigger("rollup_call_key", "BEFORE UPDATE", "calls", "OLD.linkedid IS NOT NEW.linkedid", [
            "SELECT RAISE(ABORT, 'calls.linkedid cannot change: the rollups count calls by it')"]),
        _trigger("rollup_call_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {call_changed}",
                 call_row("OLD", -1)),
        _trigger("rollup_call_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {call_changed}",
                 [call_max("OLD", "NEW"), *call_row("NEW", 1)]),
        _trigger("rollup_call_legs_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {legs_changed}",
                 leg_rows(legs_of["OLD"], -1)),
        _trigger("rollup_call_legs_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {legs_changed}", [
            queue_max_again(f"{moved} AND day = {day_of('OLD.started_at')} AND queue IN "
                            "(SELECT COALESCE(queue, '') FROM queue_legs WHERE linkedid = NEW.linkedid)"),
            *leg_rows(legs_of["NEW"], 1)]),
        _trigger("rollup_call_rings_old", "BEFORE UPDATE", "calls", f"{counted('OLD.linkedid')} AND {moved}",
                 ring_rows(rings_of["OLD"], -1)),
        _trigger("rollup_call_rings_new", "AFTER UPDATE", "calls", f"{counted('NEW.linkedid')} AND {moved}",
                 ring_rows(rings_of["NEW"], 1)),
        _trigger("rollup_call_gone", "BEFORE DELETE", "calls", counted("OLD.linkedid"), [
            *call_row("OLD", -1), *leg_rows(legs_of["OLD"], -1), *ring_rows(rings_of["OLD"], -1)]),
        _trigger("rollup_call_gone_after", "AFTER DELETE", "calls", counted("OLD.linkedid"), [
            call_max("OLD", None), queue_max_again(f"day = {day_of('OLD.started_at')}"),
            *menu_row(rep_of["OLD"], 1)]),
        # queue legs
        _trigger("rollup_leg_in", "AFTER INSERT", "queue_legs", counted("NEW.linkedid"),
                 leg_rows(row_source("NEW", _LEG_FIELDS) + " l", 1)),
        _trigger("rollup_leg_gone", "AFTER DELETE", "queue_legs", counted("OLD.linkedid"),
                 [*leg_rows(row_source("OLD", _LEG_FIELDS) + " l", -1), leg_max("OLD")]),
        _trigger("rollup_leg_old", "BEFORE UPDATE", "queue_legs", counted("OLD.linkedid"),
                 leg_rows(row_source("OLD", _LEG_FIELDS) + " l", -1)),
        _trigger("rollup_leg_old_max", "AFTER UPDATE", "queue_legs", counted("OLD.linkedid"), [leg_max("OLD")]),
        _trigger("rollup_leg_new", "AFTER UPDATE", "queue_legs", counted("NEW.linkedid"),
                 leg_rows(row_source("NEW", _LEG_FIELDS) + " l", 1)),
        # ring attempts
        _trigger("rollup_ring_in", "AFTER INSERT", "ring_attempts", counted("NEW.linkedid"),
                 ring_rows(row_source("NEW", _RING_FIELDS) + " a", 1)),
        _trigger("rollup_ring_gone", "AFTER DELETE", "ring_attempts", counted("OLD.linkedid"),
                 ring_rows(row_source("OLD", _RING_FIELDS) + " a", -1)),
        _trigger("rollup_ring_old", "BEFORE UPDATE", "ring_attempts", counted("OLD.linkedid"),
                 ring_rows(row_source("OLD", _RING_FIELDS) + " a", -1)),
        _trigger("rollup_ring_new", "AFTER UPDATE", "ring_attempts", counted("NEW.linkedid"),
                 ring_rows(row_source("NEW", _RING_FIELDS) + " a", 1)),
        # menu sessions
        *session_triggers("rollup_session_in", "AFTER INSERT", "NEW", 1),
        *session_triggers("rollup_session_gone", "AFTER DELETE", "OLD", -1),
        *session_triggers("rollup_session_old", "BEFORE UPDATE", "OLD", -1, session_changed),
        *session_triggers("rollup_session_new", "AFTER UPDATE", "NEW", 1, session_changed),
    ]
