"""A call's stays in queues, from AMI's queue events; pure, part of the tracker (``tracker.py``).

Each ``on_*`` function applies one event to a call's record and says whether anything changed.
Facts from the captures this code depends on (tests/fixtures/asterisk/README.md, M10):

* ``QueueCallerLeave`` comes *before* ``AgentConnect``: a leave alone decides nothing; the leg's
  fate is settled by AgentConnect / QueueCallerAbandon / QUEUESTATUS, or at the end of the call.
* ``RingTime`` is milliseconds in ``AgentRingNoAnswer`` and seconds in ``AgentConnect``.
* ``HoldTime`` is the wait up to the answer (or the abandon), ``TalkTime`` the talk: both whole
  seconds. They rebuild a leg whose join was missed (a call adopted after a restart or an outage).
"""

from __future__ import annotations

from .fields import Get, to_int
from .model import QUEUE_STATUS_OUTCOMES, CallRecord, QueueLeg, RingAttempt

# QUEUESTATUS -> why the last leg was left, when Queue() gave up by itself
_LEFT_REASONS = {"TIMEOUT": "timeout", "FULL": "full"}


def last_leg(rec: CallRecord, queue: str | None) -> QueueLeg | None:
    """The newest leg in ``queue`` (any queue when None)."""
    for leg in reversed(rec.legs):
        if queue is None or leg.queue == queue:
            return leg
    return None


def _inferred_leg(rec: CallRecord, get: Get, at: float, talk: int = 0) -> QueueLeg | None:
    """The leg of a queue event, or one rebuilt from the event's own fields when the join was
    missed (a call adopted after a restart or an AMI outage).

    HoldTime is the wait up to the answer (or the abandon). AgentComplete comes at the end of the
    talk, so its join is ``at - TalkTime - HoldTime`` (``talk``); AgentConnect and
    QueueCallerAbandon come when the wait ends, so theirs is ``at - HoldTime``. A call cannot have
    started after it joined a queue: its start moves back to the join.
    """
    queue = get("Queue")
    leg = last_leg(rec, queue)
    if leg is None and queue:
        hold = to_int(get("HoldTime"))
        if hold is None:
            return None
        leg = QueueLeg(queue=queue, joined_at=at - talk - hold)
        rec.legs.append(leg)
        if leg.joined_at < rec.started_at:
            rec.started_at = leg.joined_at
    return leg


def on_join(rec: CallRecord, get: Get, at: float) -> bool:
    queue = get("Queue") or ""
    for leg in rec.legs:
        if leg.queue == queue and (leg.joined_at == at or leg.left_at is None):
            return False  # a replay, or the leg is still open
    rec.legs.append(QueueLeg(queue=queue, joined_at=at, position=to_int(get("Position"))))
    return True


def on_leave(rec: CallRecord, get: Get, at: float) -> bool:
    # Comes before AgentConnect: record the time, decide nothing.
    leg = last_leg(rec, get("Queue"))
    if leg is None or leg.left_at is not None:
        return False
    leg.left_at = at
    leg.wait_seconds = at - leg.joined_at
    return True


def on_abandon(rec: CallRecord, get: Get, at: float) -> bool:
    leg = _inferred_leg(rec, get, at)
    if leg is None or leg.abandoned or leg.answered_at is not None:
        return False
    leg.abandoned = True
    leg.left_reason = "abandoned"
    leg.hold_time = to_int(get("HoldTime"))
    leg.abandon_position = to_int(get("Position"))
    leg.original_position = to_int(get("OriginalPosition"))
    if leg.left_at is None:
        leg.left_at = at
        leg.wait_seconds = at - leg.joined_at
    return True


def _attempt(leg: QueueLeg, get: Get) -> RingAttempt | None:
    dest = get("DestChannel")
    member = get("MemberName")
    for attempt in reversed(leg.attempts):
        if dest and attempt.channel == dest:
            return attempt
    if not dest:
        for attempt in reversed(leg.attempts):
            if attempt.member == member and attempt.result is None:
                return attempt
    return None


def on_agent_called(rec: CallRecord, get: Get, at: float) -> bool:
    leg = last_leg(rec, get("Queue"))
    if leg is None or _attempt(leg, get) is not None:
        return False
    leg.attempts.append(
        RingAttempt(
            member=get("MemberName") or "",
            interface=get("Interface") or "",
            channel=get("DestChannel") or "",
            called_at=at,
        )
    )
    return True


def on_ring_noanswer(rec: CallRecord, get: Get, at: float) -> bool:
    leg = last_leg(rec, get("Queue"))
    if leg is None:
        return False
    attempt = _attempt(leg, get)
    if attempt is None or attempt.result is not None:
        return False
    attempt.result = "noanswer"
    ring_ms = to_int(get("RingTime"))  # milliseconds here
    attempt.ring_seconds = ring_ms / 1000.0 if ring_ms is not None else at - attempt.called_at
    return True


def on_connect(rec: CallRecord, get: Get, at: float) -> bool:
    leg = _inferred_leg(rec, get, at)
    if leg is None or leg.answered_at is not None:
        return False
    ring = to_int(get("RingTime"))  # seconds here
    leg.answered_by = get("MemberName")
    leg.answered_interface = get("Interface")
    leg.answered_at = at
    leg.ring_time = ring
    leg.hold_time = to_int(get("HoldTime"))
    leg.left_reason = "answered"
    leg.abandoned = False
    if leg.left_at is None:
        leg.left_at = at
        leg.wait_seconds = at - leg.joined_at
    attempt = _attempt(leg, get)
    if attempt is None:
        attempt = RingAttempt(
            member=leg.answered_by or "",
            interface=leg.answered_interface or "",
            channel=get("DestChannel") or "",
            called_at=at - (ring or 0),
        )
        leg.attempts.append(attempt)
    attempt.result = "answered"
    if attempt.ring_seconds is None and ring is not None:
        attempt.ring_seconds = float(ring)
    return True


def on_complete(rec: CallRecord, get: Get, at: float) -> bool:
    talk = to_int(get("TalkTime"))
    leg = _inferred_leg(rec, get, at, talk or 0)
    if leg is None or leg.completed_at is not None:
        return False
    if leg.answered_at is None:  # AgentConnect was missed
        leg.answered_by = get("MemberName")
        leg.answered_interface = get("Interface")
        leg.answered_at = at - (talk or 0)
        leg.left_reason = "answered"
        leg.hold_time = to_int(get("HoldTime"))
        if leg.left_at is None:
            leg.left_at = leg.answered_at
            leg.wait_seconds = leg.answered_at - leg.joined_at
    leg.completed_at = at
    leg.talk_time = talk
    leg.talk_seconds = at - leg.answered_at
    leg.completed_by = get("Reason")
    return True


def close_legs(rec: CallRecord) -> None:
    """The call ended: a leg still open was left at the end; a leg left without a known reason was
    left because Queue() gave up (the last leg, per QUEUESTATUS) or the dialplan moved on; a talk
    whose AgentComplete never came lasted until the end (when the end was seen)."""
    end = rec.ended_at if rec.ended_at is not None else rec.last_event_at
    status = (rec.queue_status or "").upper()
    last = rec.legs[-1] if rec.legs else None
    for leg in rec.legs:
        if leg.left_at is None:
            leg.left_at = end
            leg.wait_seconds = end - leg.joined_at
            leg.left_reason = "ended"
        elif leg.left_reason is None:
            if leg is last and status in QUEUE_STATUS_OUTCOMES:
                leg.left_reason = _LEFT_REASONS.get(status, "empty")
            else:
                leg.left_reason = "exit"
        if leg.answered_at is not None and leg.completed_at is None and rec.complete:
            leg.talk_seconds = end - leg.answered_at
