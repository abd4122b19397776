"""The operators' side of the call domain: who is logged in to which queue, who is paused and why,
and what each operator is doing now. Types and value sets only; the tracker that fills them from
AMI is ``members.py``. Pure: no I/O.

An operator is identified by the queue member's interface (``PJSIP/1001``,
``Local/1001@operators/n``): the same person in several queues is one operator, with one session
per queue. The member name (``MemberName``) is what people read; the latest one seen wins.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``MemberSession.membership`` values, as Asterisk reports them (``Membership``): ``static``
#: (``member =>`` in queues.conf), ``dynamic`` (logged in at run time: ``AddQueueMember`` in the
#: dialplan, AMI ``QueueAdd`` or ``queue add member`` on the CLI; AMI does not tell them apart),
#: ``realtime`` (a realtime queue_members table).
MEMBERSHIPS = ("static", "dynamic", "realtime")

#: ``OperatorView.state`` values, in the order a wallboard shows them.
OPERATOR_STATES = ("available", "ringing", "on_call", "paused", "unavailable", "logged_out")

#: The ``PausedReason`` Asterisk 22 gives a member it paused after a ring-out (app_queue ``rna()``,
#: the queue's ``autopause``).
AUTO_PAUSE_REASON = "Auto-Pause"

#: ``MemberUpdate.kind`` values: a session or a pause to store, or an operator's live state.
MEMBER_UPDATE_KINDS = ("session", "pause", "state")


@dataclass
class MemberSession:
    """One operator logged in to one queue, from the login to the logout. Times are epoch seconds.

    ``login_seen``: the ``QueueMemberAdded`` was seen; False when the session was found already
    running in a ``QueueStatus`` (its start is then Asterisk's ``LoginTime``, whole seconds).
    ``logout_seen``: the ``QueueMemberRemoved`` was seen; False when the member was gone at a later
    ``QueueStatus`` (the end is then the last moment the bridge knew it logged in: the link loss).
    """

    interface: str
    queue: str
    member_name: str
    logged_in_at: float
    membership: str = "dynamic"
    login_seen: bool = True
    logged_out_at: float | None = None
    logout_seen: bool = False

    @property
    def key(self) -> tuple[str, str, float]:
        return (self.interface, self.queue, self.logged_in_at)


@dataclass
class MemberPause:
    """One pause of one operator in one queue. ``reason`` is ``PausedReason`` ("" when none was
    given); ``auto``: Asterisk paused the member after a ring-out (``AUTO_PAUSE_REASON``).
    ``start_seen`` / ``end_seen`` as for sessions: False when a ``QueueStatus`` told (the start is
    then ``LastPause``, the end the link loss)."""

    interface: str
    queue: str
    member_name: str
    started_at: float
    reason: str = ""
    auto: bool = False
    start_seen: bool = True
    ended_at: float | None = None
    end_seen: bool = False

    @property
    def key(self) -> tuple[str, str, float]:
        return (self.interface, self.queue, self.started_at)


@dataclass(frozen=True)
class QueueMembership:
    """An operator in one queue now: paused there or not, and why."""

    queue: str
    paused: bool
    reason: str | None
    since: float  # logged in, or paused, since


@dataclass(frozen=True)
class OperatorView:
    """What one operator is doing now (``state`` one of ``OPERATOR_STATES``), since when, and in
    which queues. ``reason``: the pause reason when ``state`` is ``paused``."""

    interface: str
    name: str
    state: str
    since: float
    reason: str | None = None
    queues: tuple[QueueMembership, ...] = ()

    def available_in(self, queue: str) -> bool:
        """Could the queue ring this operator now?"""
        return self.state == "available" and any(m.queue == queue and not m.paused for m in self.queues)

    def paused_in(self, queue: str) -> bool:
        return any(m.queue == queue and m.paused for m in self.queues)


@dataclass(frozen=True)
class MemberUpdate:
    """Something the member tracker learned: ``kind`` is one of ``MEMBER_UPDATE_KINDS``; a session
    or a pause (copies, safe to hand to the store) or an operator's new live state."""

    kind: str
    session: MemberSession | None = None
    pause: MemberPause | None = None
    operator: OperatorView | None = None
