"""Records as the store keeps them: a ``MenuRecord`` -> its ``menu_sessions`` and ``menu_steps``
rows, a ``CallRecord`` -> its ``calls``, ``queue_legs`` and ``ring_attempts`` rows, an operator's
input -> its row, and stored call rows -> a ``CallRecord`` again (to follow a call after a
restart). An operator's sessions and pauses: ``operator_rows.py``.

Rows are built when a record is handed in, not when it is written: the writer retries a failed
write until the database takes it, so a record that could never be written (a bad type, an
outcome outside ``calls.model.OUTCOMES``) is refused at the caller, where the bug is, instead of
blocking the queue; and later tracking cannot change what gets written. (A ``MenuRecord`` checks
itself when it is built.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..calls.model import HANGUP_BY, OUTCOMES, SOURCES, CallRecord, QueueLeg, RingAttempt
from ..menu.record import MenuRecord
from ..utc import is_epoch, parse_utc_iso, utc_iso
from .errors import RecordError

# -- menu sessions --------------------------------------------------------------------------------

SESSION_COLUMNS = (
    "session_id", "node", "line", "caller_number", "caller_name", "channel", "uniqueid", "linkedid",
    "agi_script", "started_at", "ended_at", "duration_ms", "result", "topic", "queue", "age_group",
    "ended_in", "hung_up", "error", "step_count",
)
STEP_COLUMNS = ("session_id", "seq", "at", "kind", "menu", "prompt", "key")


def session_row(record: MenuRecord) -> dict[str, Any]:
    """The ``menu_sessions`` row for ``record`` (times as UTC ISO text)."""
    return {
        "session_id": record.session_id,
        "node": record.node,
        "line": record.line,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "channel": record.channel,
        "uniqueid": record.uniqueid,
        "linkedid": record.linkedid,
        "agi_script": record.agi_script,
        "started_at": utc_iso(record.started_at),
        "ended_at": utc_iso(record.ended_at),
        "duration_ms": record.duration_ms,
        "result": record.result,
        "topic": record.topic,
        "queue": record.queue,
        "age_group": record.age_group,
        "ended_in": record.ended_in,
        "hung_up": int(record.hung_up),
        "error": record.error,
        "step_count": len(record.steps),
    }


def session_values(record: MenuRecord) -> tuple:
    """``session_row`` as a tuple in ``SESSION_COLUMNS`` order (the writer's hot path)."""
    return (
        record.session_id, record.node, record.line, record.caller_number, record.caller_name,
        record.channel, record.uniqueid, record.linkedid, record.agi_script, utc_iso(record.started_at),
        utc_iso(record.ended_at), record.duration_ms, record.result, record.topic, record.queue,
        record.age_group, record.ended_in, int(record.hung_up), record.error, len(record.steps),
    )


def menu_record_from_row(row: dict[str, Any]) -> MenuRecord:
    """A ``menu_sessions`` row as a ``MenuRecord`` again, without its steps (what the session
    decided, for a call rebuilt from queue_log: ``calls/backfill.py``)."""
    return MenuRecord(
        session_id=row["session_id"], node=row["node"], line=row["line"], caller_number=row["caller_number"],
        caller_name=row["caller_name"], channel=row["channel"], uniqueid=row["uniqueid"], linkedid=row["linkedid"],
        agi_script=row["agi_script"], started_at=parse_utc_iso(row["started_at"]),
        ended_at=parse_utc_iso(row["ended_at"]), result=row["result"], topic=row["topic"], queue=row["queue"],
        age_group=row["age_group"], ended_in=row["ended_in"], hung_up=bool(row["hung_up"]), error=row["error"],
    )


def step_rows(record: MenuRecord) -> list[tuple]:
    """The ``menu_steps`` rows for ``record``, numbered from 0 in the order they happened."""
    return [
        (record.session_id, seq, utc_iso(step.at), step.kind, step.menu, step.prompt, step.key)
        for seq, step in enumerate(record.steps)
    ]


# -- call records (AMI) ---------------------------------------------------------------------------

CALL_COLUMNS = (
    "linkedid", "uniqueid", "node", "channel", "line", "caller_number", "caller_name", "started_at",
    "ended_at", "ivr_result", "topic", "ivr_queue", "age_group", "resolution", "agi_status", "queue",
    "queued_seconds", "answered_at", "operator", "operator_interface", "talk_seconds", "hangup_by",
    "hangup_cause", "hangup_cause_text", "outcome", "complete", "source", "updated_at",
)
LEG_COLUMNS = (
    "linkedid", "seq", "queue", "joined_at", "left_at", "position", "wait_seconds", "answered_by",
    "answered_interface", "answered_at", "talk_seconds", "completed_by", "abandoned", "left_reason",
    "ring_attempts",
)
ATTEMPT_COLUMNS = (
    "linkedid", "leg", "seq", "queue", "member", "interface", "called_at", "ring_seconds", "result",
)
_RING_RESULTS = ("answered", "noanswer")


@dataclass(frozen=True)
class CallRows:
    """One call ready for the writer: its ``calls`` row, its ``queue_legs`` rows and the
    ``ring_attempts`` of those legs.

    Built from a tracker ``CallRecord`` on the event loop (``call_rows``), so a record that can
    never be written is refused at the caller and the rows no longer share state with the tracker.
    """

    linkedid: str
    call: dict[str, Any]
    legs: tuple[dict[str, Any], ...]
    attempts: tuple[tuple[Any, ...], ...] = ()  # in ATTEMPT_COLUMNS order


@dataclass(frozen=True)
class OperatorInputRow:
    """An operator's age group / resolution for a call (AMI ``UserEvent: ContactCenter``)."""

    linkedid: str
    at: str
    age_group: str | None
    resolution: str | None


def _epoch(where: str, value: Any) -> None:
    if not is_epoch(value):
        raise RecordError(f"{where}: expected epoch seconds (a finite number), got {value!r}")


def iso_or_none(where: str, value: Any) -> str | None:
    if value is None:
        return None
    _epoch(where, value)
    return utc_iso(value)


def _seconds_or_none(where: str, value: Any) -> float | None:
    if value is None:
        return None
    _epoch(where, value)
    return float(value)


def text_or_none(where: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RecordError(f"{where}: expected text, got {type(value).__name__}: {value!r}")
    return value


def call_rows(record: CallRecord, node: str | None) -> CallRows:
    """A ``CallRecord`` -> the rows the store keeps.

    ``updated_at`` is the time of the newest event the record reflects (not the wall clock),
    so replaying the same events writes exactly the same rows.
    """
    linkedid = getattr(record, "linkedid", None)
    if not isinstance(linkedid, str) or not linkedid:
        raise RecordError(f"CallRecord.linkedid: expected non-empty text, got {linkedid!r}")
    where = f"call {linkedid}"
    if record.outcome is not None and record.outcome not in OUTCOMES:
        raise RecordError(f"{where}: outcome {record.outcome!r} is not one of {sorted(OUTCOMES)}")
    if record.hangup_by is not None and record.hangup_by not in HANGUP_BY:
        raise RecordError(f"{where}: hangup_by {record.hangup_by!r} is not one of {sorted(HANGUP_BY)}")
    if record.source not in SOURCES:
        raise RecordError(f"{where}: source {record.source!r} is not one of {sorted(SOURCES)}")
    cause = record.hangup_cause
    if cause is not None and (isinstance(cause, bool) or not isinstance(cause, int)):
        raise RecordError(f"{where}: hangup_cause must be an integer, got {cause!r}")
    for name in ("uniqueid", "channel", "line", "caller_number", "caller_name", "ivr_result", "ivr_topic",
                 "ivr_queue", "age_group", "resolution", "agi_status", "queue", "operator",
                 "operator_interface", "hangup_cause_text"):
        text_or_none(f"{where}.{name}", getattr(record, name))
    newest = max(
        [t for t in (record.started_at, record.ended_at, getattr(record, "last_event_at", None)) if t is not None]
    )
    call = {
        "linkedid": linkedid,
        "uniqueid": record.uniqueid,
        "node": node,
        "channel": record.channel,
        "line": record.line,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "started_at": iso_or_none(f"{where}.started_at", record.started_at),
        "ended_at": iso_or_none(f"{where}.ended_at", record.ended_at),
        "ivr_result": record.ivr_result,
        "topic": record.ivr_topic,
        "ivr_queue": record.ivr_queue,
        "age_group": record.age_group or "unknown",
        "resolution": record.resolution,
        "agi_status": record.agi_status,
        "queue": record.queue,
        "queued_seconds": _seconds_or_none(f"{where}.queued_seconds", record.queued_seconds),
        "answered_at": iso_or_none(f"{where}.answered_at", record.answered_at),
        "operator": record.operator,
        "operator_interface": record.operator_interface,
        "talk_seconds": _seconds_or_none(f"{where}.talk_seconds", record.talk_seconds),
        "hangup_by": record.hangup_by,
        "hangup_cause": cause,
        "hangup_cause_text": record.hangup_cause_text,
        "outcome": record.outcome,
        "complete": int(bool(record.complete)),
        "source": record.source,
        "updated_at": iso_or_none(f"{where}.updated_at", newest),
    }
    legs = []
    attempts: list[tuple[Any, ...]] = []
    for seq, leg in enumerate(record.legs):
        lw = f"{where}.legs[{seq}]"
        for n, attempt in enumerate(leg.attempts):
            aw = f"{lw}.attempts[{n}]"
            if attempt.result is not None and attempt.result not in _RING_RESULTS:
                raise RecordError(f"{aw}: result {attempt.result!r} is not one of {list(_RING_RESULTS)}")
            attempts.append((
                linkedid, seq, n, leg.queue, text_or_none(f"{aw}.member", attempt.member) or None,
                text_or_none(f"{aw}.interface", attempt.interface) or None,
                iso_or_none(f"{aw}.called_at", attempt.called_at),
                _seconds_or_none(f"{aw}.ring_seconds", attempt.ring_seconds), attempt.result,
            ))
        legs.append({
            "linkedid": linkedid,
            "seq": seq,
            "queue": text_or_none(f"{lw}.queue", leg.queue),
            "joined_at": iso_or_none(f"{lw}.joined_at", leg.joined_at),
            "left_at": iso_or_none(f"{lw}.left_at", leg.left_at),
            "position": leg.position,
            "wait_seconds": _seconds_or_none(f"{lw}.wait_seconds", leg.wait_seconds),
            "answered_by": text_or_none(f"{lw}.answered_by", leg.answered_by),
            "answered_interface": text_or_none(f"{lw}.answered_interface", leg.answered_interface),
            "answered_at": iso_or_none(f"{lw}.answered_at", leg.answered_at),
            "talk_seconds": _seconds_or_none(f"{lw}.talk_seconds", leg.talk_seconds),
            "completed_by": text_or_none(f"{lw}.completed_by", leg.completed_by),
            "abandoned": int(bool(leg.abandoned)),
            "left_reason": text_or_none(f"{lw}.left_reason", leg.left_reason),
            "ring_attempts": len(leg.attempts),
        })
    return CallRows(linkedid, call, tuple(legs), tuple(attempts))


def operator_input_row(linkedid: str, at: float, age_group: str | None, resolution: str | None) -> OperatorInputRow:
    """Check and convert an operator input; empty strings count as "not given"."""
    if not isinstance(linkedid, str) or not linkedid:
        raise RecordError(f"operator input: linkedid must be non-empty text, got {linkedid!r}")
    _epoch(f"operator input for call {linkedid}: at", at)
    age_group = text_or_none(f"operator input for call {linkedid}: age_group", age_group) or None
    resolution = text_or_none(f"operator input for call {linkedid}: resolution", resolution) or None
    if age_group is None and resolution is None:
        raise RecordError(f"operator input for call {linkedid}: neither age_group nor resolution given")
    return OperatorInputRow(linkedid, utc_iso(at), age_group, resolution)


def call_record_from_rows(call: dict[str, Any], legs: list[dict[str, Any]],
                          attempts: list[dict[str, Any]] | None = None) -> CallRecord:
    """Rows of a stored call -> a tracker ``CallRecord``, to follow it again after a restart.

    What the schema does not keep (each ring's member channel, Asterisk's own HoldTime/TalkTime)
    stays unknown; a leg whose rings were stored before ``ring_attempts`` existed keeps its count
    as that many anonymous attempts, so it is written back unchanged.
    """

    def epoch(value: str | None) -> float | None:
        return None if value is None else parse_utc_iso(value)

    started = epoch(call["started_at"])
    record = CallRecord(linkedid=call["linkedid"], uniqueid=call["uniqueid"] or call["linkedid"],
                        started_at=started if started is not None else 0.0)
    for name in ("channel", "line", "caller_number", "caller_name", "ivr_result", "ivr_queue", "resolution",
                 "agi_status", "hangup_by", "hangup_cause", "hangup_cause_text", "outcome", "source"):
        setattr(record, name, call[name])
    record.ivr_topic = call["topic"]
    record.ended_at = epoch(call["ended_at"])
    record.complete = bool(call["complete"])
    age = call["age_group"]
    record.age_group = record.ivr_age_group = None if age in (None, "unknown") else age
    times = [t for t in (started,) if t is not None]
    for row in legs:
        leg = QueueLeg(queue=row["queue"] or "", joined_at=epoch(row["joined_at"]) or 0.0, position=row["position"])
        leg.left_at = epoch(row["left_at"])
        leg.wait_seconds = row["wait_seconds"]
        leg.answered_by = row["answered_by"]
        leg.answered_interface = row["answered_interface"]
        leg.answered_at = epoch(row["answered_at"])
        leg.talk_seconds = row["talk_seconds"]
        leg.completed_by = row["completed_by"]
        leg.abandoned = bool(row["abandoned"])
        leg.left_reason = row["left_reason"]
        if leg.answered_at is not None and leg.talk_seconds is not None and leg.completed_by is not None:
            leg.completed_at = leg.answered_at + leg.talk_seconds
        rings = [a for a in attempts or () if a["leg"] == row["seq"]]
        leg.attempts = [RingAttempt(member=a["member"] or "", interface=a["interface"] or "", channel="",
                                    called_at=epoch(a["called_at"]) or leg.joined_at, ring_seconds=a["ring_seconds"],
                                    result=a["result"]) for a in sorted(rings, key=lambda a: a["seq"])]
        if not rings:
            leg.attempts = [RingAttempt(member="", interface="", channel="", called_at=leg.joined_at)
                            for _ in range(row["ring_attempts"] or 0)]
        record.legs.append(leg)
        times.extend(t for t in (leg.joined_at, leg.left_at, leg.answered_at, leg.completed_at) if t is not None)
    record.queue = call["queue"]
    record.queued_seconds = call["queued_seconds"]
    record.answered_at = epoch(call["answered_at"])
    record.operator = call["operator"]
    record.operator_interface = call["operator_interface"]
    record.talk_seconds = call["talk_seconds"]
    updated = epoch(call["updated_at"])
    if updated is not None:
        times.append(updated)
    record.last_event_at = max(times) if times else 0.0
    return record

