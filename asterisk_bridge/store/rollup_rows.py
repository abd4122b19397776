"""What one row of ``calls``, ``queue_legs`` or ``ring_attempts`` adds to the rollups, as SQL
the triggers of ``rollup_ddl.py`` run with the trigger row (NEW or OLD) or that row's legs and
rings: add (sign 1), take out (-1), or the changed sums in place when the row's group stayed.
Taking out never lowers a longest wait: the ``*_max*`` statements read that day's maximum again
from the rows when the row that held it went or shrank."""

from __future__ import annotations

from .rollup_sql import COUNTED_ROWS, SHORT, THRESHOLD, adding, day_of, hour_of, keep_max, micros, row_source

# ------------------------------------------------------------------------------- a call's own row

def _missed(r: str) -> str:
    return f"({r}.queue IS NOT NULL AND NOT EXISTS (SELECT 1 FROM menu_sessions m WHERE m.linkedid = {r}.linkedid))"


def _call_src(r: str) -> str:
    return f"(SELECT {day_of(f'{r}.started_at')} AS day) k"


def _call_key(r: str) -> str:
    return (f"k.day, COALESCE({r}.line, ''), COALESCE({r}.queue, ''), COALESCE({r}.topic, ''), {r}.age_group, "
            f"'call', COALESCE({r}.outcome, '')")


def _call_measures(r: str) -> tuple[str, ...]:
    """within, wait_us, talk_n, talk_us, incomplete of calls row ``r``."""
    return (f"(COALESCE({r}.queued_seconds, 0) <= {THRESHOLD})", micros(f"COALESCE({r}.queued_seconds, 0)"),
            f"({r}.talk_seconds IS NOT NULL)", micros(f"COALESCE({r}.talk_seconds, 0)"), f"({r}.complete = 0)")


_MEASURES = ("within", "wait_us", "talk_n", "talk_us", "incomplete")


def call_group(r: str, sign: int) -> list[str]:
    """Add (``sign`` 1) or take out (-1) calls row ``r`` (NEW or OLD) in its ``rollup_calls`` group."""
    s, src, key = sign, _call_src(r), _call_key(r)
    measures = ", ".join(f"{s} * {m}" for m in _call_measures(r))
    statements = [f"""INSERT INTO rollup_calls (day, line, queue, topic, age_group, source, outcome, calls, within,
            wait_us, talk_n, talk_us, incomplete)
        SELECT {key}, {s}, {measures} FROM {src} WHERE k.day IS NOT NULL
        ON CONFLICT DO UPDATE SET {adding('calls', *_MEASURES)}"""]
    if s < 0:
        statements.append(f"""DELETE FROM rollup_calls WHERE calls = 0
            AND (day, line, queue, topic, age_group, source, outcome) IN (SELECT {key} FROM {src})""")
    return statements


def call_group_delta() -> str:
    """A call whose group stayed: its changed sums, in place (the common update)."""
    deltas = ", ".join(f"{c} = {c} + {new} - {old}" for c, new, old in
                       zip(_MEASURES, _call_measures("NEW"), _call_measures("OLD"), strict=True))
    src = _call_src("NEW")
    return f"""UPDATE rollup_calls SET {deltas}
        WHERE (day, line, queue, topic, age_group, source, outcome) IN (SELECT {_call_key('NEW')} FROM {src})"""


def call_hour(r: str, sign: int) -> list[str]:
    s, src = sign, _call_src(r)
    key = f"k.day, COALESCE({r}.line, ''), {hour_of(f'{r}.started_at')}"
    statements = [f"""INSERT INTO rollup_hours (day, line, hour, calls)
        SELECT {key}, {s} FROM {src} WHERE k.day IS NOT NULL ON CONFLICT DO UPDATE SET {adding('calls')}"""]
    if s < 0:
        statements.append(f"DELETE FROM rollup_hours WHERE calls = 0 AND (day, line, hour) IN (SELECT {key} FROM {src})")
    return statements


def call_month(r: str, sign: int) -> list[str]:
    s, src = sign, _call_src(r)
    key = f"substr(k.day, 1, 7), COALESCE({r}.line, ''), 'call', COALESCE({r}.outcome, '')"
    statements = [f"""INSERT INTO rollup_months (month, line, source, outcome, calls)
        SELECT {key}, {s} FROM {src} WHERE k.day IS NOT NULL ON CONFLICT DO UPDATE SET {adding('calls')}"""]
    if s < 0:
        statements.append(f"""DELETE FROM rollup_months WHERE calls = 0 AND (month, line, source, outcome) IN
            (SELECT {key} FROM {src})""")
    return statements


def call_line(r: str, sign: int) -> list[str]:
    """The call's ``missed`` and (adding) its wait in the line's longest; taking out leaves the
    longest wait to :func:`call_max`."""
    return [f"""INSERT INTO rollup_lines (day, line, wait_max, missed)
        SELECT k.day, COALESCE({r}.line, ''), {f'{r}.queued_seconds' if sign > 0 else 'NULL'}, {sign} * {_missed(r)}
        FROM {_call_src(r)} WHERE k.day IS NOT NULL
        ON CONFLICT DO UPDATE SET missed = missed + excluded.missed, {keep_max('wait_max')}"""]


def call_row(r: str, sign: int) -> list[str]:
    """Add or take out the whole contribution of calls row ``r``: group, hour, month and line."""
    return [*call_group(r, sign), *call_hour(r, sign), *call_month(r, sign), *call_line(r, sign)]


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

LEG_FIELDS = ("linkedid", "queue", "answered_at", "abandoned", "left_reason", "left_at", "wait_seconds",
               "answered_interface", "answered_by", "talk_seconds")
RING_FIELDS = ("linkedid", "queue", "interface", "member", "result", "ring_seconds")



def _leg_x(legs: str, alias: str = "x") -> str:
    """The legs of ``legs`` (alias ``l``) with their call's day and end, as stored now."""
    return (f"(SELECT l.*, {day_of('c.started_at')} AS day, c.hangup_by AS hangup_by, c.complete AS complete "
            f"FROM {legs} JOIN calls c ON c.linkedid = l.linkedid) {alias}")


def _leg_counts(x: str) -> tuple[str, ...]:
    """answered, abandoned, short_abandon, unknown, answered_within, abandoned_within, wait_us of
    leg ``x`` (its call's ``hangup_by`` and ``complete`` beside it), as ``operator_queries`` counts."""
    gave_up = (f"({x}.answered_at IS NULL AND ({x}.abandoned IS 1 OR ({x}.left_reason IS 'ended' "
               f"AND {x}.hangup_by IS 'caller')))")
    unknown = (f"({x}.answered_at IS NULL AND NOT {gave_up} AND ({x}.left_at IS NULL OR "
               f"({x}.left_reason IS 'ended' AND {x}.complete IS 0)))")
    w = f"COALESCE({x}.wait_seconds, 0)"
    return (f"({x}.answered_at IS NOT NULL)", f"({gave_up} AND {w} > {SHORT})", f"({gave_up} AND {w} <= {SHORT})",
            unknown, f"({x}.answered_at IS NOT NULL AND {w} <= {THRESHOLD})",
            f"({gave_up} AND {w} > {SHORT} AND {w} <= {THRESHOLD})",
            f"(CASE WHEN {x}.answered_at IS NOT NULL THEN {micros(w)} ELSE 0 END)")


_QUEUE_COUNTS = ("answered", "abandoned", "short_abandon", "unknown", "answered_within", "abandoned_within", "wait_us")


def leg_queue_rows(legs: str, sign: int) -> list[str]:
    """Add or take out the queue contributions of the legs in ``legs`` (a table expression with the
    ``queue_legs`` columns, alias ``l``), each with its call as stored now; taking out leaves the
    longest wait to :func:`leg_max`."""
    s = sign
    counts = ", ".join(f"{s} * {c}" for c in _leg_counts("x"))
    return [f"""INSERT INTO rollup_queues (day, queue, offered, answered, abandoned, short_abandon, unknown,
            answered_within, abandoned_within, wait_us, wait_max)
        SELECT x.day, COALESCE(x.queue, ''), {s}, {counts}, {'x.wait_seconds' if s > 0 else 'NULL'}
        FROM {_leg_x(legs)} WHERE x.day IS NOT NULL
        ON CONFLICT DO UPDATE SET {adding('offered', *_QUEUE_COUNTS)}, {keep_max('wait_max')}"""]


def leg_queue_delta() -> list[str]:
    """A leg that stayed in its queue: its changed counts in place, then its longest wait."""
    new, old = _leg_x(row_source("NEW", LEG_FIELDS) + " l"), _leg_x(row_source("OLD", LEG_FIELDS) + " l", "y")
    deltas = ", ".join(f"{c} = rollup_queues.{c} + {n} - {o}" for c, n, o in
                       zip(_QUEUE_COUNTS, _leg_counts("x"), _leg_counts("y"), strict=True))
    return [f"""UPDATE rollup_queues SET {deltas},
            wait_max = CASE WHEN x.wait_seconds IS NOT NULL
                                 AND (rollup_queues.wait_max IS NULL OR x.wait_seconds > rollup_queues.wait_max)
                            THEN x.wait_seconds ELSE rollup_queues.wait_max END
        FROM {new}, {old} WHERE rollup_queues.day = x.day AND rollup_queues.queue = COALESCE(x.queue, '')""",
            leg_max("OLD", shrank=True)]


def leg_operator_rows(legs: str, sign: int) -> list[str]:
    """Add or take out the answers of the legs in ``legs`` to their operators."""
    s = sign
    x = _leg_x(legs)
    key = "x.day, COALESCE(x.answered_interface, ''), COALESCE(x.answered_by, ''), COALESCE(x.queue, '')"
    statements = [f"""INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings,
            ring_outs, ring_n, ring_us)
        SELECT {key}, {s}, {s} * (x.talk_seconds IS NOT NULL), {s} * {micros('COALESCE(x.talk_seconds, 0)')}, 0, 0, 0, 0
        FROM {x} WHERE x.day IS NOT NULL AND x.answered_at IS NOT NULL
        ON CONFLICT DO UPDATE SET {adding('answered', 'talk_n', 'talk_us')}"""]
    if s < 0:
        statements.append(f"""DELETE FROM rollup_operators WHERE answered = 0 AND rings = 0
            AND (day, interface, name, queue) IN (SELECT {key} FROM {x} WHERE x.answered_at IS NOT NULL)""")
    return statements


def leg_rows(legs: str, sign: int) -> list[str]:
    return [*leg_queue_rows(legs, sign), *leg_operator_rows(legs, sign)]


def queue_max_again(where: str) -> str:
    """Read the longest leg wait of the ``rollup_queues`` rows matching ``where`` again."""
    return f"""UPDATE rollup_queues SET wait_max = (
        SELECT MAX(l.wait_seconds) FROM rollup_calendar k
        JOIN calls c ON c.started_at >= k.start_utc AND c.started_at < k.end_utc
        JOIN queue_legs l ON l.linkedid = c.linkedid
        WHERE k.day = rollup_queues.day AND l.queue IS NULLIF(rollup_queues.queue, '') AND {COUNTED_ROWS})
        WHERE {where}"""


def leg_max(old: str, *, shrank: bool = False) -> str:
    """After leg ``old`` left (``shrank``: became NEW, in the same queue): if it held its queue's
    longest wait that day and NEW does not hold as much, read it again."""
    day = f"(SELECT {day_of('c.started_at')} FROM calls c WHERE c.linkedid = {old}.linkedid)"
    less = f" AND (NEW.wait_seconds IS NULL OR NEW.wait_seconds < {old}.wait_seconds)" if shrank else ""
    return queue_max_again(f"day = {day} AND queue = COALESCE({old}.queue, '') "
                           f"AND {old}.wait_seconds IS NOT NULL AND wait_max <= {old}.wait_seconds{less}")


def _ring_counts(x: str) -> tuple[str, ...]:
    """ring_outs, ring_n, ring_us of ring ``x``."""
    return (f"({x}.result IS 'noanswer')", f"({x}.result IS 'answered' AND {x}.ring_seconds IS NOT NULL)",
            f"(CASE WHEN {x}.result IS 'answered' THEN {micros(f'COALESCE({x}.ring_seconds, 0)')} ELSE 0 END)")


def ring_delta() -> str:
    """A ring of the same operator and queue whose outcome changed: its counts in place."""
    deltas = ", ".join(f"{c} = rollup_operators.{c} + {n} - {o}" for c, n, o in
                       zip(("ring_outs", "ring_n", "ring_us"), _ring_counts("NEW"), _ring_counts("OLD"), strict=True))
    return f"""UPDATE rollup_operators SET {deltas}
        FROM (SELECT {day_of('c.started_at')} AS day FROM calls c WHERE c.linkedid = NEW.linkedid) x
        WHERE rollup_operators.day = x.day AND rollup_operators.interface = COALESCE(NEW.interface, '')
          AND rollup_operators.name = COALESCE(NEW.member, '') AND rollup_operators.queue = COALESCE(NEW.queue, '')"""


def ring_rows(rings: str, sign: int) -> list[str]:
    """Add or take out the operator contributions of the rings in ``rings`` (alias ``a``)."""
    s = sign
    x = (f"(SELECT a.*, {day_of('c.started_at')} AS day FROM {rings} JOIN calls c ON c.linkedid = a.linkedid) x")
    key = "x.day, COALESCE(x.interface, ''), COALESCE(x.member, ''), COALESCE(x.queue, '')"
    statements = [
        f"""INSERT INTO rollup_operators (day, interface, name, queue, answered, talk_n, talk_us, rings, ring_outs,
                ring_n, ring_us)
            SELECT {key}, 0, 0, 0, {s}, {', '.join(f'{s} * {c}' for c in _ring_counts('x'))}
            FROM {x} WHERE x.day IS NOT NULL
            ON CONFLICT DO UPDATE SET {adding('rings', 'ring_outs', 'ring_n', 'ring_us')}""",
    ]
    if s < 0:
        statements.append(
            f"""DELETE FROM rollup_operators WHERE answered = 0 AND rings = 0 AND (day, interface, name, queue) IN
                (SELECT {key} FROM {x})""")
    return statements
