"""The call tracker: AMI events in, one record per contact-center call out.

Pure logic (no sockets, no clock, no SQL) so the captures in
tests/fixtures/asterisk drive it directly. A call is keyed by ``Linkedid``:
Local-channel halves and queue-member channels share the caller's Linkedid
(tests/fixtures/asterisk/README.md, M8), so they can never become calls of their
own. The caller channel is the one whose ``Uniqueid == Linkedid``; the call ends
on *its* ``Hangup``. Channel, variable and hang-up events are handled here; queue
events in ``queue_legs.py``; the outcome and the totals are decided by
``outcome.py``.

Facts from the captures this code depends on (same README, M6-M12):

* CEL ``LINKEDID_END`` can arrive *before* the caller's own ``Hangup``, its
  ``AGISTATUS`` VarSet and the ``h``-extension UserEvent (ami-cc-hangup-in-menu,
  the abandon of ami-8-calls). So it only ends a call whose caller Hangup we
  never get, after ``linkedid_end_grace`` (see ``expire``).
* ``Cdr`` events are several per call and carry no Linkedid: ignored.
* A call counts only once its channels reach a contact-center context (or the
  dialplan names its line); other traffic on the PBX is not a contact-center call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from . import queue_legs
from .channel_events import ChannelEvents
from .fields import Get, duration, reader, to_float, to_int
from .model import CallRecord, CallUpdate, OperatorInput
from .outcome import record_outcome, summarize

log = logging.getLogger(__name__)

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


Handler = Callable[["_State", Get, float, "str | None"], None]


def _on_leg(apply: Callable[[CallRecord, Get, float], bool]) -> Handler:
    """A queue event handler of ``queue_legs`` as a tracker handler: a change marks the call dirty."""

    def handle(state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        if apply(state.record, get, at):
            state.dirty = True

    return handle


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
        self._channels = ChannelEvents(self.contexts)
        self._active: dict[str, _State] = {}
        self._ended: dict[str, _State] = {}  # kept late_grace seconds for late events
        self._handlers: dict[str, Handler] = {
            "newchannel": self._channels.on_channel,
            "newexten": self._channels.on_channel,
            "newstate": self._channels.on_channel,
            "newcallerid": self._channels.on_callerid,
            "varset": self._channels.on_varset,
            "queuecallerjoin": _on_leg(queue_legs.on_join),
            "queuecallerleave": _on_leg(queue_legs.on_leave),
            "queuecallerabandon": _on_leg(queue_legs.on_abandon),
            "agentcalled": _on_leg(queue_legs.on_agent_called),
            "agentringnoanswer": _on_leg(queue_legs.on_ring_noanswer),
            "agentconnect": _on_leg(queue_legs.on_connect),
            "agentcomplete": _on_leg(queue_legs.on_complete),
            "hanguprequest": self._channels.on_hangup_request,
            "softhanguprequest": self._channels.on_hangup_request,
            "hangup": self._on_hangup,
            "userevent": self._channels.on_userevent,
            "cel": self._on_cel,
        }
        # events an ended call still accepts (they may trail the caller's Hangup)
        self._late_ok = frozenset({"agentcomplete", "userevent", "varset", "hangup"})
        self._wanted = frozenset(name.encode() for name in self._handlers)

    def wants(self, event: bytes) -> bool:
        """Whether ``feed`` does anything with an event of this name (``Event`` as raw bytes): the AMI
        client leaves the others unparsed (a quarter of Asterisk's stream: DeviceStateChange, Cdr,
        AGIExec*, Dial*, Bridge*, ...). ``feed`` drops them unread all the same."""
        return event.lower() in self._wanted

    # ------------------------------------------------------------------ feed

    def feed(self, event: Mapping[str, str], received_at: float) -> list[CallUpdate]:
        """Apply one AMI message; return the updates it caused (often none)."""
        get = reader(event)
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
            if lname != "agentcomplete":
                return []
            linkedid = get("DestLinkedid") or self._talking_with(get("Queue"), get("Interface"))
            if not linkedid:
                return []
        uniqueid = get("Uniqueid")
        ts = get("Timestamp")
        at = received_at
        if ts:
            parsed = to_float(ts)
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
            self._channels.caller_seen(state, get)
        handler(state, get, at, uniqueid)
        return self._updates(state)

    def _talking_with(self, queue: str | None, interface: str | None) -> str | None:
        """The call whose leg in ``queue`` the member at ``interface`` answered and has not completed.

        Asterisk publishes ``AgentComplete`` once the bridge ends; when the caller channel is gone
        by then the event carries no caller fields, only the operator channel's ``Dest*`` ones or,
        when that is gone too, none at all (seen on Asterisk 22.10.1 with several calls at once).
        The member is on one call at a time, so its open answered leg names the call; the most
        recent answer wins if a lost event left an older one open."""
        if not queue or not interface:
            return None
        best: tuple[float, str] | None = None
        for states in (self._active, self._ended):
            for linkedid, state in states.items():
                for leg in state.record.legs:
                    if (leg.queue == queue and leg.answered_interface == interface and leg.answered_at is not None
                            and leg.completed_at is None and (best is None or leg.answered_at > best[0])):
                        best = (leg.answered_at, linkedid)
        return best[1] if best is not None else None

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
        for state in list(self._active.values()):
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
            get = reader(item)
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
            age = duration(get("Duration"))
            state = _State(CallRecord(linkedid=uniqueid, uniqueid=uniqueid, started_at=when - (age or 0.0)))
            state.record.last_event_at = when
            self._active[uniqueid] = state
            self._channels.caller_seen(state, get)
            self._channels.entered(state, get, uniqueid)
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

    def knows(self, linkedid: str) -> bool:
        """Is ``linkedid`` a call followed now or just ended (a Linkedid, not some channel's)?"""
        return linkedid in self._active or linkedid in self._ended

    def active(self) -> list[CallRecord]:
        """Snapshots of the contact-center calls in progress."""
        out = []
        for state in self._active.values():
            if state.qualified:
                self._summarize(state)
                out.append(state.record.snapshot())
        return out

    # ------------------------------------------------- the end: Hangup and CEL

    def _on_hangup(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        if uniqueid != state.record.uniqueid:
            return
        rec = state.record
        if state.ended:
            # the end was guessed (CEL / expire); the real Hangup fills the cause
            if rec.hangup_cause is None:
                rec.hangup_cause = to_int(get("Cause"))
                rec.hangup_cause_text = get("Cause-txt")
                state.dirty = True
            return
        rec.hangup_cause = to_int(get("Cause"))
        rec.hangup_cause_text = get("Cause-txt")
        rec.ended_at = at
        rec.complete = True
        self._end(state)

    def _on_cel(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        if get("EventName") == "LINKEDID_END" and state.linkedid_end_at is None:
            state.linkedid_end_at = at

    def _operator_event(self, get: Get, received_at: float) -> list[CallUpdate]:
        at = to_float(get("Timestamp")) or received_at
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
        queue_legs.close_legs(rec)

    def _finish(self, state: _State) -> list[CallUpdate]:
        self._end(state)
        return self._updates(state)

    def _summarize(self, state: _State) -> None:
        rec = state.record
        summarize(rec, first_request=state.first_request)
        rec.outcome = record_outcome(rec, self.short_abandon) if rec.ended_at is not None and state.ended else None
