"""The call domain's types and value sets: one record per contact-center call, its queue legs and
ring attempts, an operator's input, and the updates the tracker hands out.

The value sets below are the one list of each: the tracker and queue_log decide with them, the
store refuses a record outside them, the reports bucket by them and MQTT publishes them. A new
outcome is added here and nowhere else (``report/definitions.py`` and ``store/report_queries.py``
derive their buckets from :data:`OUTCOMES`). Pure: no I/O.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

#: ``CallRecord.outcome`` values, in the order the README lists them; ``None`` while in progress.
OUTCOMES = (
    "answered",
    "abandoned_menu",
    "abandoned_queue",
    "short_abandon",
    "selfservice",
    "queue_timeout",
    "queue_full",
    "queue_empty",
    "failed",
    "unknown_end",
)

#: QUEUESTATUS (set by Queue() only when it gives up by itself) -> outcome
QUEUE_STATUS_OUTCOMES = {
    "TIMEOUT": "queue_timeout",
    "FULL": "queue_full",
    "JOINEMPTY": "queue_empty",
    "LEAVEEMPTY": "queue_empty",
    "JOINUNAVAIL": "queue_empty",
    "LEAVEUNAVAIL": "queue_empty",
}

#: Outcomes where the caller wanted an operator and the queue let the call go without one.
UNANSWERED_OUTCOMES = frozenset(QUEUE_STATUS_OUTCOMES.values())

#: ``CallRecord.hangup_by`` values: who ended the call.
HANGUP_BY = ("caller", "operator", "system")

#: ``CallRecord.source`` values: AMI saw the call, or only Asterisk's queue_log told of it.
SOURCES = ("ami", "queue_log")

#: ``CallUpdate.kind`` values.
UPDATE_KINDS = ("started", "changed", "finished", "orphan_input")


@dataclass
class RingAttempt:
    """One ring of one queue member (AgentCalled, then RingNoAnswer or Connect)."""

    member: str
    interface: str
    channel: str  # the member channel; identifies the attempt (dedupes replays)
    called_at: float
    ring_seconds: float | None = None
    result: str | None = None  # "noanswer" | "answered"; None = cut short (abandon, other member won)


@dataclass
class QueueLeg:
    """One stay in one queue: QueueCallerJoin .. QueueCallerLeave and what followed."""

    queue: str
    joined_at: float
    position: int | None = None
    left_at: float | None = None
    left_reason: str | None = None  # answered | abandoned | timeout | full | empty | exit | ended
    wait_seconds: float | None = None  # from event times
    hold_time: int | None = None  # Asterisk's own HoldTime (whole seconds)
    attempts: list[RingAttempt] = field(default_factory=list)
    answered_by: str | None = None  # member name
    answered_interface: str | None = None
    answered_at: float | None = None
    ring_time: int | None = None  # AgentConnect RingTime, seconds
    completed_at: float | None = None
    talk_seconds: float | None = None  # from event times
    talk_time: int | None = None  # AgentComplete TalkTime (whole seconds)
    completed_by: str | None = None  # AgentComplete Reason: caller | agent | transfer
    abandoned: bool = False
    abandon_position: int | None = None
    original_position: int | None = None

    @property
    def operators_tried(self) -> list[str]:
        return [a.member for a in self.attempts]


@dataclass
class CallRecord:
    """Everything known about one call. Times are epoch seconds (UTC)."""

    linkedid: str
    uniqueid: str
    started_at: float
    channel: str | None = None
    line: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    ended_at: float | None = None
    ivr_result: str | None = None
    ivr_topic: str | None = None
    ivr_queue: str | None = None
    ivr_age_group: str | None = None
    agi_status: str | None = None
    queue_status: str | None = None
    legs: list[QueueLeg] = field(default_factory=list)
    # derived by calls.outcome.summarize()
    queue: str | None = None
    queued_seconds: float | None = None
    answered_at: float | None = None
    operator: str | None = None
    operator_interface: str | None = None
    talk_seconds: float | None = None
    hangup_by: str | None = None  # one of HANGUP_BY
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    outcome: str | None = None  # one of OUTCOMES once ended
    complete: bool = False  # True when the end was seen (not guessed)
    age_group: str | None = None  # operator's input, else the IVR's answer
    resolution: str | None = None
    operator_age_group: str | None = None
    source: str = "ami"  # one of SOURCES
    last_event_at: float = 0.0

    def snapshot(self) -> CallRecord:
        """A copy safe to hand to another thread while tracking goes on."""
        rec = copy.copy(self)
        legs = []
        for leg in self.legs:
            leg_copy = copy.copy(leg)
            leg_copy.attempts = [copy.copy(a) for a in leg.attempts]
            legs.append(leg_copy)
        rec.legs = legs
        return rec


@dataclass(frozen=True)
class OperatorInput:
    """Age group / resolution an operator sent for a call (UserEvent ContactCenter)."""

    linkedid: str
    age_group: str | None
    resolution: str | None
    at: float


@dataclass(frozen=True)
class CallUpdate:
    """Something to persist: ``kind`` is one of :data:`UPDATE_KINDS`."""

    kind: str
    record: CallRecord | None = None
    orphan: OperatorInput | None = None
