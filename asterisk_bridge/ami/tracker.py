"""The call tracker: AMI events in, one record per contact-center call out.

Pure logic (no sockets, no clock, no SQL) so the captures in
tests/fixtures/asterisk drive it directly. A call is keyed by ``Linkedid``:
Local-channel halves and queue-member channels share the caller's Linkedid
(README M8), so they can never become calls of their own. The caller channel
is the one whose ``Uniqueid == Linkedid``; the call ends on *its* ``Hangup``.

Facts from the captures this code depends on (README M6-M12):

* ``QueueCallerLeave`` comes *before* ``AgentConnect``: a leave alone decides
  nothing; the leg's fate is settled by AgentConnect / QueueCallerAbandon /
  QUEUESTATUS, or at the end of the call.
* ``RingTime`` is milliseconds in ``AgentRingNoAnswer`` and seconds in
  ``AgentConnect``.
* CEL ``LINKEDID_END`` can arrive *before* the caller's own ``Hangup``, its
  ``AGISTATUS`` VarSet and the ``h``-extension UserEvent (ami-cc-hangup-in-menu,
  the abandon of ami-8-calls). So it only ends a call whose caller Hangup we
  never get, after ``linkedid_end_grace`` (see ``expire``).
* ``Cdr`` events are several per call and carry no Linkedid: ignored.
* A call counts only once its channels reach a contact-center context (or the
  dialplan names its line); other traffic on the PBX is not a contact-center call.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

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

# QUEUESTATUS (set by Queue() only when it gives up by itself, M10) -> outcome
QUEUE_STATUS_OUTCOMES = {
    "TIMEOUT": "queue_timeout",
    "FULL": "queue_full",
    "JOINEMPTY": "queue_empty",
    "LEAVEEMPTY": "queue_empty",
    "JOINUNAVAIL": "queue_empty",
    "LEAVEUNAVAIL": "queue_empty",
}
_LEFT_REASONS = {"TIMEOUT": "timeout", "FULL": "full"}

_IVR_VARIABLES = {
    "IVR_RESULT": "ivr_result",
    "IVR_TOPIC": "ivr_topic",
    "IVR_QUEUE": "ivr_queue",
    "IVR_AGE_GROUP": "ivr_age_group",
    "AGISTATUS": "agi_status",
    "QUEUESTATUS": "queue_status",
}
_NO_CALLER_ID = ("", "<unknown>")


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
    # derived by summarize()
    queue: str | None = None
    queued_seconds: float | None = None
    answered_at: float | None = None
    operator: str | None = None
    operator_interface: str | None = None
    talk_seconds: float | None = None
    hangup_by: str | None = None  # caller | operator | system
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    outcome: str | None = None  # one of OUTCOMES once ended
    complete: bool = False  # True when the end was seen (not guessed)
    age_group: str | None = None  # operator's input, else the IVR's answer
    resolution: str | None = None
    operator_age_group: str | None = None
    source: str = "ami"  # "ami" | "queue_log"
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
    """Something to persist: kind is started | changed | finished | orphan_input."""

    kind: str
    record: CallRecord | None = None
    orphan: OperatorInput | None = None


class _State:
    """Tracker-private bookkeeping around a record."""

    __slots__ = (
        "record", "qualified", "announced", "ended", "dirty", "first_request",
        "linkedid_end_at", "ivr_uniqueids", "finish_reported",
    )

    def __init__(self, record: CallRecord):
        self.record = record
        self.qualified = False  # reached a contact-center context / named its line
        self.announced = False  # a "started" update went out
        self.ended = False
        self.finish_reported = False
        self.dirty = False
        self.first_request: str | None = None  # HangupRequest / SoftHangupRequest on the caller
        self.linkedid_end_at: float | None = None
        self.ivr_uniqueids: set[str] = {record.uniqueid}


class _Lowered(dict):
    """A plain dict event with lower-cased keys, read through ``get``."""

    __slots__ = ()

    def get(self, key, default=None):  # type: ignore[override]
        return dict.get(self, key.lower(), default)


def _reader(event: Mapping[str, str]):
    # Plain dicts are case-sensitive: lower their keys once (a shallow pass).
    # Frame and panoramisk Message already look keys up case-insensitively.
    if type(event) is dict:
        return _Lowered({k.lower(): v for k, v in event.items() if isinstance(k, str)}).get
    if not isinstance(event, Mapping):
        raise TypeError(f"an AMI event must be a mapping, got {type(event).__name__}")
    return event.get


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _duration(value: str | None) -> float | None:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> seconds."""
    if not value:
        return None
    parts = value.split(":")
    try:
        seconds = 0
        for part in parts:
            seconds = seconds * 60 + int(part)
    except ValueError:
        return None
    return float(seconds)


class CallTracker:
    """Follows calls through menu and queues; see the module docstring.

    ``feed`` returns the updates to persist. Records in updates are snapshots,
    so the store may keep them while tracking continues.
    """

    def __init__(
        self,
        *,
        short_abandon: float = 5.0,
        unknown_end_after: float = 14400.0,
        contact_center_contexts: Iterable[str] = ("contact-center",),
        late_grace: float = 600.0,
        linkedid_end_grace: float = 30.0,
    ):
        if short_abandon < 0 or unknown_end_after <= 0 or late_grace < 0 or linkedid_end_grace < 0:
            raise ValueError(
                "short_abandon, late_grace and linkedid_end_grace must be >= 0 and "
                f"unknown_end_after > 0 (got {short_abandon}, {late_grace}, "
                f"{linkedid_end_grace}, {unknown_end_after})"
            )
        self.short_abandon = short_abandon
        self.unknown_end_after = unknown_end_after
        self.late_grace = late_grace
        self.linkedid_end_grace = linkedid_end_grace
        self.contexts = frozenset(contact_center_contexts)
        self._active: dict[str, _State] = {}
        self._ended: dict[str, _State] = {}  # kept late_grace seconds for late events
        self._handlers = {
            "newchannel": self._on_channel,
            "newexten": self._on_channel,
            "newstate": self._on_channel,
            "newcallerid": self._on_callerid,
            "varset": self._on_varset,
            "queuecallerjoin": self._on_join,
            "queuecallerleave": self._on_leave,
            "queuecallerabandon": self._on_abandon,
            "agentcalled": self._on_agent_called,
            "agentringnoanswer": self._on_ring_noanswer,
            "agentconnect": self._on_connect,
            "agentcomplete": self._on_complete,
            "hanguprequest": self._on_hangup_request,
            "softhanguprequest": self._on_hangup_request,
            "hangup": self._on_hangup,
            "userevent": self._on_userevent,
            "cel": self._on_cel,
        }
        # events an ended call still accepts (they may trail the caller's Hangup)
        self._late_ok = frozenset({"agentcomplete", "userevent", "varset", "hangup"})

    # ------------------------------------------------------------------ feed

    def feed(self, event: Mapping[str, str], received_at: float) -> list[CallUpdate]:
        """Apply one AMI message; return the updates it caused (often none)."""
        get = _reader(event)
        name = get("Event")
        if not name:
            return []  # a Response, not an event (do not classify by Response, M6)
        lname = name.lower()
        handler = self._handlers.get(lname)
        if handler is None:
            return []
        if lname == "userevent" and (get("UserEvent") or "").lower() == "contactcenter":
            return self._operator_event(get, received_at)
        linkedid = get("Linkedid")
        if not linkedid:
            return []
        uniqueid = get("Uniqueid")
        ts = get("Timestamp")
        at = received_at
        if ts:
            parsed = _float(ts)
            if parsed is not None:
                at = parsed
        state = self._active.get(linkedid)
        if state is None:
            state = self._ended.get(linkedid)
            if state is not None:
                if lname not in self._late_ok:
                    return []
            elif uniqueid == linkedid and lname not in ("hangup", "hanguprequest", "softhanguprequest", "cel"):
                state = _State(CallRecord(linkedid=linkedid, uniqueid=linkedid, started_at=at))
                self._active[linkedid] = state
            else:
                return []  # member channel of a call we do not follow
        rec = state.record
        if at > rec.last_event_at:
            rec.last_event_at = at
        if uniqueid == linkedid:
            self._caller_seen(state, get)
        handler(state, get, at, uniqueid)
        return self._updates(state)

    def _updates(self, state: _State) -> list[CallUpdate]:
        if not state.dirty or not state.qualified:
            return []
        state.dirty = False
        rec = state.record
        self._summarize(state)
        if state.ended and not state.finish_reported:
            state.finish_reported = state.announced = True
            kind = "finished"
            log.debug(  # the INFO line per call is the CallFollower's (caller number masked)
                "call %s line %s: %s (queue %s, operator %s, hangup by %s)",
                rec.linkedid, rec.line, rec.outcome, rec.queue, rec.operator, rec.hangup_by,
            )
        elif not state.announced:
            state.announced = True
            kind = "started"
        else:
            kind = "changed"
        return [CallUpdate(kind, rec.snapshot())]

    # ------------------------------------------------------------ public API

    def operator_input(
        self,
        linkedid: str,
        age_group: str | None = None,
        resolution: str | None = None,
        *,
        at: float = 0.0,
    ) -> list[CallUpdate]:
        """Attach an operator's age group / resolution to a call.

        A call we do not hold (unknown, or ended longer ago than ``late_grace``)
        gives an ``orphan_input`` update instead of an error: the store may
        still have that call and can attach it there.
        """
        age_group = age_group or None
        resolution = resolution or None
        if not linkedid or (age_group is None and resolution is None):
            return []
        state = self._active.get(linkedid) or self._ended.get(linkedid)
        if state is None or not state.qualified:
            log.debug("operator input for unknown call %s", linkedid)
            return [CallUpdate("orphan_input", orphan=OperatorInput(linkedid, age_group, resolution, at))]
        rec = state.record
        if age_group is not None and rec.operator_age_group != age_group:
            rec.operator_age_group = age_group
            state.dirty = True
        if resolution is not None and rec.resolution != resolution:
            rec.resolution = resolution
            state.dirty = True
        return self._updates(state)

    def expire(self, now: float) -> list[CallRecord]:
        """Close calls whose end we missed; forget ended calls past ``late_grace``.

        A call whose Linkedid ended (CEL) without its caller's Hangup closes
        after ``linkedid_end_grace`` as complete; a call silent for
        ``unknown_end_after`` closes as ``unknown_end`` (complete=False,
        ended_at = the last event we saw).
        """
        closed: list[CallRecord] = []
        for linkedid, state in list(self._active.items()):
            rec = state.record
            if state.linkedid_end_at is not None and now - state.linkedid_end_at >= self.linkedid_end_grace:
                rec.ended_at = state.linkedid_end_at
                rec.complete = True
            elif now - rec.last_event_at >= self.unknown_end_after:
                rec.ended_at = rec.last_event_at
                rec.complete = False
            else:
                continue
            closed.extend(u.record for u in self._finish(state) if u.record is not None)
        for linkedid, state in list(self._ended.items()):
            if now - (state.record.ended_at or 0.0) >= self.late_grace:
                del self._ended[linkedid]
        return closed

    def reconcile(self, live_channels: Iterable[Mapping[str, str]], now: float | None = None) -> list[CallRecord]:
        """After a reconnect: compare with the ``CoreShowChannel`` items.

        Calls we track whose caller channel is gone ended while we were blind:
        closed as ``unknown_end`` (complete=False). Contact-center calls that
        are up but unknown to us (they began while AMI was down) are adopted;
        their ``started`` update goes out with their next event.
        """
        live: set[str] = set()
        roots = []
        for item in live_channels:
            get = _reader(item)
            uniqueid = get("Uniqueid")
            if not uniqueid:
                continue
            live.add(uniqueid)
            if uniqueid == get("Linkedid"):
                roots.append((uniqueid, get))
        closed: list[CallRecord] = []
        for linkedid, state in list(self._active.items()):
            if linkedid in live:
                continue
            rec = state.record
            rec.ended_at = rec.last_event_at
            rec.complete = False
            closed.extend(u.record for u in self._finish(state) if u.record is not None)
        for uniqueid, get in roots:
            if uniqueid in self._active or uniqueid in self._ended:
                continue
            if get("Context") not in self.contexts:
                continue
            when = now if now is not None else 0.0
            age = _duration(get("Duration"))
            state = _State(CallRecord(linkedid=uniqueid, uniqueid=uniqueid, started_at=when - (age or 0.0)))
            state.record.last_event_at = when
            self._active[uniqueid] = state
            self._caller_seen(state, get)
            self._entered(state, get, uniqueid)
        return closed

    def restore(self, record: CallRecord) -> bool:
        """Follow a stored, unfinished call again (after a restart of the bridge).

        Its data is kept; the next ``reconcile`` closes it as ``unknown_end`` if its caller
        channel is gone, or its next events carry it on. False if the call is already held.
        """
        if record.linkedid in self._active or record.linkedid in self._ended:
            return False
        record.outcome = None
        state = _State(record)
        state.qualified = state.announced = True
        self._active[record.linkedid] = state
        return True

    def active(self) -> list[CallRecord]:
        """Snapshots of the contact-center calls in progress."""
        out = []
        for state in self._active.values():
            if state.qualified:
                self._summarize(state)
                out.append(state.record.snapshot())
        return out

    # -------------------------------------------------------------- handlers

    def _caller_seen(self, state: _State, get) -> None:
        rec = state.record
        channel = get("Channel")
        if channel and channel != rec.channel:
            rec.channel = channel
        if rec.caller_number is None:
            number = get("CallerIDNum")
            if number not in _NO_CALLER_ID and number is not None:
                rec.caller_number = number
                state.dirty = True
        if rec.caller_name is None:
            name = get("CallerIDName")
            if name not in _NO_CALLER_ID and name is not None:
                rec.caller_name = name
                state.dirty = True
        if get("Context") in self.contexts:
            self._entered(state, get, rec.uniqueid)

    def _entered(self, state: _State, get, uniqueid: str | None) -> None:
        """A channel of the call runs in a contact-center context."""
        if uniqueid:
            state.ivr_uniqueids.add(uniqueid)
        if not state.qualified:
            state.qualified = True
            state.dirty = True
        rec = state.record
        if rec.line is None:
            exten = get("Exten")
            if exten and exten not in _SPECIAL_EXTENS:
                rec.line = exten
                state.dirty = True

    def _on_channel(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        # A non-caller channel entering the contact center (the caller dialled a
        # Local channel that runs the menu) carries the menu's variables.
        if uniqueid != state.record.uniqueid and uniqueid not in state.ivr_uniqueids:
            if get("Context") in self.contexts:
                self._entered(state, get, uniqueid)

    def _on_callerid(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        if uniqueid != state.record.uniqueid:
            return
        rec = state.record
        number, name = get("CallerIDNum"), get("CallerIDName")
        if number and number not in _NO_CALLER_ID and number != rec.caller_number:
            rec.caller_number = number
            state.dirty = True
        if name and name not in _NO_CALLER_ID and name != rec.caller_name:
            rec.caller_name = name
            state.dirty = True

    def _on_varset(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        if uniqueid not in state.ivr_uniqueids:
            return
        variable = get("Variable")
        if not variable:
            return
        variable = variable.lstrip("_").upper()
        rec = state.record
        value = get("Value") or None
        if variable == "IVR_LINE":
            if value and value != rec.line and not (state.ended and rec.line):
                rec.line = value
                state.qualified = True
                state.dirty = True
            return
        attr = _IVR_VARIABLES.get(variable)
        if attr is None:
            return
        current = getattr(rec, attr)
        if current == value or (state.ended and current is not None):
            return
        setattr(rec, attr, value)
        state.dirty = True

    def _last_leg(self, rec: CallRecord, queue: str | None) -> QueueLeg | None:
        for leg in reversed(rec.legs):
            if queue is None or leg.queue == queue:
                return leg
        return None

    def _inferred_leg(self, state: _State, get, at: float, talk: int = 0) -> QueueLeg | None:
        """The leg of a queue event, or one rebuilt from the event's own fields when the join
        was missed (a call adopted after a restart or an AMI outage).

        HoldTime is the wait up to the answer (or the abandon). AgentComplete comes at the end
        of the talk, so its join is ``at - TalkTime - HoldTime`` (``talk``); AgentConnect and
        QueueCallerAbandon come when the wait ends, so theirs is ``at - HoldTime``. A call cannot
        have started after it joined a queue: its start moves back to the join.
        """
        queue = get("Queue")
        rec = state.record
        leg = self._last_leg(rec, queue)
        if leg is None and queue:
            hold = _int(get("HoldTime"))
            if hold is None:
                return None
            leg = QueueLeg(queue=queue, joined_at=at - talk - hold)
            rec.legs.append(leg)
            if leg.joined_at < rec.started_at:
                rec.started_at = leg.joined_at
        return leg

    def _on_join(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        queue = get("Queue") or ""
        rec = state.record
        for leg in rec.legs:
            if leg.queue == queue and (leg.joined_at == at or leg.left_at is None):
                return  # a replay, or the leg is still open
        rec.legs.append(QueueLeg(queue=queue, joined_at=at, position=_int(get("Position"))))
        state.dirty = True

    def _on_leave(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        # Comes before AgentConnect (M10): record the time, decide nothing.
        leg = self._last_leg(state.record, get("Queue"))
        if leg is None or leg.left_at is not None:
            return
        leg.left_at = at
        leg.wait_seconds = at - leg.joined_at
        state.dirty = True

    def _on_abandon(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        leg = self._inferred_leg(state, get, at)
        if leg is None or leg.abandoned or leg.answered_at is not None:
            return
        leg.abandoned = True
        leg.left_reason = "abandoned"
        leg.hold_time = _int(get("HoldTime"))
        leg.abandon_position = _int(get("Position"))
        leg.original_position = _int(get("OriginalPosition"))
        if leg.left_at is None:
            leg.left_at = at
            leg.wait_seconds = at - leg.joined_at
        state.dirty = True

    def _attempt(self, leg: QueueLeg, get) -> RingAttempt | None:
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

    def _on_agent_called(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        leg = self._last_leg(state.record, get("Queue"))
        if leg is None or self._attempt(leg, get) is not None:
            return
        leg.attempts.append(
            RingAttempt(
                member=get("MemberName") or "",
                interface=get("Interface") or "",
                channel=get("DestChannel") or "",
                called_at=at,
            )
        )
        state.dirty = True

    def _on_ring_noanswer(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        leg = self._last_leg(state.record, get("Queue"))
        if leg is None:
            return
        attempt = self._attempt(leg, get)
        if attempt is None or attempt.result is not None:
            return
        attempt.result = "noanswer"
        ring_ms = _int(get("RingTime"))  # milliseconds here (M10)
        attempt.ring_seconds = ring_ms / 1000.0 if ring_ms is not None else at - attempt.called_at
        state.dirty = True

    def _on_connect(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        leg = self._inferred_leg(state, get, at)
        if leg is None or leg.answered_at is not None:
            return
        ring = _int(get("RingTime"))  # seconds here (M10)
        leg.answered_by = get("MemberName")
        leg.answered_interface = get("Interface")
        leg.answered_at = at
        leg.ring_time = ring
        leg.hold_time = _int(get("HoldTime"))
        leg.left_reason = "answered"
        leg.abandoned = False
        if leg.left_at is None:
            leg.left_at = at
            leg.wait_seconds = at - leg.joined_at
        attempt = self._attempt(leg, get)
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
        state.dirty = True

    def _on_complete(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        talk = _int(get("TalkTime"))
        leg = self._inferred_leg(state, get, at, talk or 0)
        if leg is None or leg.completed_at is not None:
            return
        if leg.answered_at is None:  # AgentConnect was missed
            leg.answered_by = get("MemberName")
            leg.answered_interface = get("Interface")
            leg.answered_at = at - (talk or 0)
            leg.left_reason = "answered"
            leg.hold_time = _int(get("HoldTime"))
            if leg.left_at is None:
                leg.left_at = leg.answered_at
                leg.wait_seconds = leg.answered_at - leg.joined_at
        leg.completed_at = at
        leg.talk_time = talk
        leg.talk_seconds = at - leg.answered_at
        leg.completed_by = get("Reason")
        state.dirty = True

    def _on_hangup_request(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        # The first request on the caller channel says who ended it: the far end
        # (HangupRequest, queued by the channel driver) or Asterisk itself
        # (SoftHangupRequest: dialplan end, bridge partner gone).
        if uniqueid == state.record.uniqueid and state.first_request is None:
            state.first_request = "caller" if get("Event").lower() == "hanguprequest" else "system"

    def _on_hangup(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        if uniqueid != state.record.uniqueid:
            return
        rec = state.record
        if state.ended:
            # the end was guessed (CEL / expire); the real Hangup fills the cause
            if rec.hangup_cause is None:
                rec.hangup_cause = _int(get("Cause"))
                rec.hangup_cause_text = get("Cause-txt")
                state.dirty = True
            return
        rec.hangup_cause = _int(get("Cause"))
        rec.hangup_cause_text = get("Cause-txt")
        rec.ended_at = at
        rec.complete = True
        self._end(state)

    def _on_userevent(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        kind = (get("UserEvent") or "").lower()
        if kind not in ("contactcentercall", "bridgedown"):
            return
        rec = state.record
        line = get("Line")
        if line and rec.line != line and not (state.ended and rec.line):
            rec.line = line
            state.dirty = True
        if not state.qualified and line:
            state.qualified = True
            state.dirty = True
        for key, attr in (("AgiStatus", "agi_status"), ("QueueStatus", "queue_status")):
            value = get(key)
            if value and getattr(rec, attr) is None:
                setattr(rec, attr, value)
                state.dirty = True

    def _on_cel(self, state: _State, get, at: float, uniqueid: str | None) -> None:
        if get("EventName") == "LINKEDID_END" and state.linkedid_end_at is None:
            state.linkedid_end_at = at

    def _operator_event(self, get, received_at: float) -> list[CallUpdate]:
        at = _float(get("Timestamp")) or received_at
        return self.operator_input(get("Linkedid") or "", get("AgeGroup"), get("Resolution"), at=at)

    # ------------------------------------------------------------ endings

    def _end(self, state: _State) -> None:
        rec = state.record
        state.ended = True
        state.dirty = True
        self._active.pop(rec.linkedid, None)
        if not state.qualified:
            return  # not a contact-center call: forget it
        self._ended[rec.linkedid] = state
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

    def _finish(self, state: _State) -> list[CallUpdate]:
        self._end(state)
        return self._updates(state)

    def _summarize(self, state_or_rec) -> None:
        state = state_or_rec if isinstance(state_or_rec, _State) else None
        rec = state.record if state is not None else state_or_rec
        legs = rec.legs
        answered = [leg for leg in legs if leg.answered_at is not None]
        first = answered[0] if answered else None
        rec.queue = first.queue if first else (legs[-1].queue if legs else None)
        waits = [leg.wait_seconds for leg in legs if leg.wait_seconds is not None]
        rec.queued_seconds = sum(waits) if waits else None
        rec.answered_at = first.answered_at if first else None
        rec.operator = first.answered_by if first else None
        rec.operator_interface = first.answered_interface if first else None
        talks = [leg.talk_seconds for leg in answered if leg.talk_seconds is not None]
        rec.talk_seconds = sum(talks) if talks else None
        rec.age_group = rec.operator_age_group or rec.ivr_age_group
        rec.hangup_by = self._hangup_by(rec, state)
        rec.outcome = self._outcome(rec) if rec.ended_at is not None and (state is None or state.ended) else None

    @staticmethod
    def _hangup_by(rec: CallRecord, state: _State | None) -> str | None:
        for leg in reversed(rec.legs):
            if leg.completed_by == "caller":
                return "caller"
            if leg.completed_by == "agent":
                return "operator"
        if (rec.agi_status or "").upper() == "HANGUP":
            return "caller"
        if state is not None and state.first_request is not None:
            return state.first_request
        return rec.hangup_by

    def _outcome(self, rec: CallRecord) -> str:
        if not rec.complete:
            return "unknown_end"
        legs = rec.legs
        if any(leg.answered_at is not None for leg in legs):
            return "answered"
        last = legs[-1] if legs else None
        if last is not None and (last.abandoned or (last.left_reason == "ended" and rec.hangup_by == "caller")):
            wait = last.wait_seconds if last.wait_seconds is not None else last.hold_time
            if wait is not None and wait <= self.short_abandon:
                return "short_abandon"
            return "abandoned_queue"
        status = (rec.queue_status or "").upper()
        if status in QUEUE_STATUS_OUTCOMES:
            return QUEUE_STATUS_OUTCOMES[status]
        if (rec.ivr_result or "").lower() == "selfservice":
            return "selfservice"
        if last is None and (rec.hangup_by == "caller" or (rec.ivr_result or "").lower() == "hangup"):
            return "abandoned_menu"
        return "failed"


_SPECIAL_EXTENS = frozenset({"h", "i", "t", "s", "e", "o", "a", "T", "failed"})
