"""What the report's figures mean, in one place: the outcome buckets, the age groups, service level
and the definitions the summary footer prints. Pure.

Every product computes "service level" differently (Asterisk's ``ServiceLevelPerf`` divides by
the calls answered, others by the calls offered, with or without the abandons within the
threshold), so the exact definitions live here, in :data:`DEFINITIONS`, and the summary footer
prints them. Outcome buckets partition the calls offered: every call falls in exactly one, so
``offered == sum(buckets)`` always holds (tests check it). The outcomes come from the one list in
``calls/model.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..calls.model import OUTCOMES, UNANSWERED_OUTCOMES

ABANDON_TREATMENTS = ("ignored", "against", "for")

#: Outcome buckets, in the order reports show them.
BUCKETS = (
    "answered", "abandoned_menu", "abandoned_queue", "short_abandon", "selfservice",
    "unanswered", "failed", "unknown_end", "in_progress", "no_ami",
)

#: calls.outcome -> bucket: each outcome is its own bucket, except queue_timeout/full/empty (the
#: call wanted an operator and the queue let it go without one), which are "unanswered".
_OUTCOME_BUCKET = {outcome: "unanswered" if outcome in UNANSWERED_OUTCOMES else outcome for outcome in OUTCOMES}

#: Age group codes of the contract, in display order; other codes a line configures follow.
AGE_GROUPS = ("under-30", "30-40", "40-60", "over-60", "unknown")

NO_TOPIC = ""  # the topic key for calls that chose none (hung up, operator key, timeout)

DEFINITIONS = {
    "offered": "every call that reached a line in the period (by its start time): calls seen by AMI, "
    "plus menu sessions AMI did not see",
    "answered": "an operator answered the call",
    "abandoned_menu": "the caller hung up in the voice menu, before any queue",
    "abandoned_queue": "the caller hung up while waiting in a queue, after the short-abandon threshold",
    "short_abandon": "the caller hung up within the short-abandon threshold of joining the queue; "
    "left out of service level and abandon rate",
    "selfservice": "the information message answered the question; the call ended without an operator",
    "unanswered": "the queue let the call go unanswered (queue timeout, queue full, no operators)",
    "failed": "Asterisk reported a failure, or an outcome this version does not know",
    "unknown_end": "the end of the call was never seen (AMI link lost); counted, never guessed",
    "in_progress": "the call had not ended when the figures were taken",
    "no_ami": "known only from the voice menu (AMI off or a gap): sent to a queue, fate unknown",
    "queued": "answered + abandoned_queue + unanswered (calls that waited for an operator; "
    "short abandons excluded)",
    "service_level.ignored": "answered within T / (queued - abandoned within T)",
    "service_level.against": "answered within T / queued (every abandon counts as a failure)",
    "service_level.for": "(answered within T + abandoned within T) / queued",
    "asa": "average speed of answer: total queue wait of answered calls / answered calls",
    "longest_wait": "the longest queue wait of any call in the period",
    "avg_talk": "total talk time / answered calls with a known talk time",
    "abandon_rate": "abandoned_queue / (answered + abandoned_queue)",
    "selfservice_rate": "selfservice / offered (true containment: the message was heard to the end)",
    "share": "share of the calls offered on that line (or in total)",
    "queue.offered": "stays of calls in the queue (a call moved on to another queue is offered to both)",
    "queue.service_level": "as for the lines, over the queue's stays",
    "operator.answered": "queue calls the operator answered (a call answered in two queues counts for each operator)",
    "operator.talk": "talk time of those calls: total, and average per call with a known talk time",
    "operator.ring": "average ring time before the operator answered",
    "operator.ring_outs": "calls that rang the operator until the queue gave up on them (a ring-out)",
    "operator.logged_in": "time logged in to at least one queue, within the period (an open session up to now)",
    "operator.paused": "time paused in every queue the operator was logged in to; by the reason of the latest pause",
    "operator.occupancy": "total talk / (logged in - paused)",
}


def outcome_bucket(outcome: str | None) -> str:
    if outcome is None:
        return "in_progress"
    return _OUTCOME_BUCKET.get(outcome, "failed")


def menu_bucket(result: str | None) -> str:
    """A menu session AMI never saw: only the menu can say what happened."""
    if result == "hangup":
        return "abandoned_menu"
    if result == "selfservice":
        return "selfservice"
    return "no_ami"


@dataclass(frozen=True)
class Definitions:
    """The thresholds the figures were computed with (printed in the footer)."""

    service_level_seconds: float = 20.0
    abandons: str = "against"
    short_abandon_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.abandons not in ABANDON_TREATMENTS:
            raise ValueError(f"abandons={self.abandons!r}: expected one of {', '.join(ABANDON_TREATMENTS)}")
        if self.service_level_seconds <= 0:
            raise ValueError(f"service_level_seconds={self.service_level_seconds!r}: must be > 0")

    @property
    def service_level_formula(self) -> str:
        return DEFINITIONS[f"service_level.{self.abandons}"]


def service_level(answered_within: int, abandoned_within: int, queued: int, abandons: str) -> float | None:
    """The one definition of service level, shared by the summary and the live MQTT gauges.

    ``ignored``: answered within T / (queued - abandoned within T); ``against``: answered within
    T / queued; ``for``: (answered + abandoned within T) / queued. None when nothing was queued.
    """
    if abandons == "ignored":
        return ratio(answered_within, queued - abandoned_within)
    if abandons == "against":
        return ratio(answered_within, queued)
    if abandons == "for":
        return ratio(answered_within + abandoned_within, queued)
    raise ValueError(f"abandons={abandons!r}: expected one of {', '.join(ABANDON_TREATMENTS)}")


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None
