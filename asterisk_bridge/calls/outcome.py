"""The one rule that decides how a call ended and how long it waited; pure.

Both sources of a call's queue part go through here: the tracker (AMI events) and the queue_log
filler (Asterisk's own log, for calls AMI missed). So a call gets the same outcome whichever of
the two told us about it, and a rule changed here changes both.

**The wait.** A call's wait (``queued_seconds``) is the sum of its legs' waits. A leg's wait is
the one measured from event times (``wait_seconds``: join to leave, sub-second), and Asterisk's
own ``HoldTime`` only when nothing was measured. Measured first, because:

- it is the figure stored as ``queued_seconds`` and used for the service level and the longest
  wait, so an abandon is called short by the same number a report shows for it;
- ``HoldTime`` is the difference of two whole-second clock readings (app_queue's
  ``time(NULL) - qe->start``), off by up to a second either way: a caller who waited 5.9 s can
  show ``HoldTime: 5`` and count as a short abandon against a 5 s threshold while the report
  says 5.9 s;
- where only ``HoldTime`` is known the leg's measured wait is made from it anyway: a leg rebuilt
  from an AgentConnect / AgentComplete / QueueCallerAbandon whose join was missed, and every
  queue_log leg (queue_log times are whole seconds and its ABANDON / CONNECT carry the hold
  time), so for them the two orders give the same result.

**The outcome** (one of ``model.OUTCOMES``), first match wins:

1. the end was not seen (``complete`` False): ``unknown_end``, never guessed;
2. an operator answered any leg: ``answered``;
3. the last leg was abandoned, or it was still open when the caller hung up: ``short_abandon``
   when its wait is at most ``short_abandon`` seconds, else ``abandoned_queue``;
4. Queue() gave up by itself (QUEUESTATUS TIMEOUT / FULL / JOINEMPTY ...): ``queue_*``;
5. the menu answered the question (IVR_RESULT selfservice): ``selfservice``;
6. the caller hung up before any queue: ``abandoned_menu``;
7. anything else: ``failed``.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import QUEUE_STATUS_OUTCOMES, CallRecord, QueueLeg


def leg_wait(leg: QueueLeg) -> float | None:
    """How long the caller waited in this leg: measured from event times, else Asterisk's HoldTime."""
    return leg.wait_seconds if leg.wait_seconds is not None else leg.hold_time


def decide_outcome(
    legs: Sequence[QueueLeg],
    *,
    complete: bool,
    queue_status: str | None,
    short_abandon: float,
    ivr_result: str | None = None,
    hangup_by: str | None = None,
) -> str:
    """The outcome of a call that ended (see the module docstring for the order)."""
    if not complete:
        return "unknown_end"
    if any(leg.answered_at is not None for leg in legs):
        return "answered"
    last = legs[-1] if legs else None
    if last is not None and (last.abandoned or (last.left_reason == "ended" and hangup_by == "caller")):
        wait = leg_wait(last)
        if wait is not None and wait <= short_abandon:
            return "short_abandon"
        return "abandoned_queue"
    status = (queue_status or "").upper()
    if status in QUEUE_STATUS_OUTCOMES:
        return QUEUE_STATUS_OUTCOMES[status]
    if (ivr_result or "").lower() == "selfservice":
        return "selfservice"
    if last is None and (hangup_by == "caller" or (ivr_result or "").lower() == "hangup"):
        return "abandoned_menu"
    return "failed"


def record_outcome(record: CallRecord, short_abandon: float) -> str:
    """:func:`decide_outcome` for an ended record."""
    return decide_outcome(record.legs, complete=record.complete, queue_status=record.queue_status,
                          short_abandon=short_abandon, ivr_result=record.ivr_result, hangup_by=record.hangup_by)


def summarize(record: CallRecord, *, first_request: str | None = None) -> None:
    """Derive a record's totals from its legs: the queue, the wait, the answer, the operator, the
    talk time, the age group and who hung up. ``first_request`` is who asked the caller channel to
    hang up first (the tracker sees it in HangupRequest / SoftHangupRequest), when known.

    The queue is the one that answered, else the last one joined; the operator is the first who
    answered; waits and talk times add up over the legs.
    """
    legs = record.legs
    answered = [leg for leg in legs if leg.answered_at is not None]
    first = answered[0] if answered else None
    record.queue = first.queue if first else (legs[-1].queue if legs else None)
    waits = [leg.wait_seconds for leg in legs if leg.wait_seconds is not None]
    record.queued_seconds = sum(waits) if waits else None
    record.answered_at = first.answered_at if first else None
    record.operator = first.answered_by if first else None
    record.operator_interface = first.answered_interface if first else None
    talks = [leg.talk_seconds for leg in answered if leg.talk_seconds is not None]
    record.talk_seconds = sum(talks) if talks else None
    record.age_group = record.operator_age_group or record.ivr_age_group
    record.hangup_by = hangup_by(record, first_request)


def hangup_by(record: CallRecord, first_request: str | None = None) -> str | None:
    """Who ended the call: the operator or caller AgentComplete names, a hang-up in the menu
    (AGISTATUS HANGUP), else the first hang-up request on the caller channel, else what the record
    already says."""
    for leg in reversed(record.legs):
        if leg.completed_by == "caller":
            return "caller"
        if leg.completed_by == "agent":
            return "operator"
    if (record.agi_status or "").upper() == "HANGUP":
        return "caller"
    if first_request is not None:
        return first_request
    return record.hangup_by
