"""The member tracker: AMI queue-member events in, operator sessions, pauses and live states out.

Pure logic, like the call tracker (``tracker.py``): the follower (``follower.py``) feeds it every
AMI event and a ``QueueStatus`` snapshot after every login, and persists what it hands out. Facts
from the captures in tests/fixtures/asterisk/ami/members/ (README there) this code depends on:

* ``QueueMemberAdded`` / ``QueueMemberRemoved`` / ``QueueMemberPause`` / ``QueueMemberStatus`` come
  once per queue, each with the member's whole state (``Membership``, ``LoginTime``, ``Paused``,
  ``PausedReason``, ``LastPause``, ``Status``): a member added paused says so in its
  ``QueueMemberAdded`` and no ``QueueMemberPause`` follows; a pause without a queue (or
  ``autopause = all``) is one ``QueueMemberPause`` per queue.
* An auto-pause after a ring-out is an ordinary ``QueueMemberPause`` right after the
  ``AgentRingNoAnswer``, with ``PausedReason: Auto-Pause``.
* ``QueueMemberStatus`` ``Status`` is the device state (a Local member shows 2 while ringing,
  fixtures README M10) and ``InCall`` stayed 0 during a call: ringing and talking are read from
  ``AgentCalled`` .. ``AgentRingNoAnswer`` / ``AgentConnect`` .. ``AgentComplete`` instead, with
  the member channel's ``DialEnd`` / ``Hangup`` ending a ring or a call whose Agent event never came.
* The ``QueueStatus`` list items (``QueueMember``: ``Name``, ``Location``) carry no ``Timestamp``;
  ``LoginTime`` and ``LastPause`` (whole epoch seconds) say when a session or a pause began.

After a cut link or a restart a snapshot decides: a session or pause the snapshot still shows
(same ``LoginTime`` / ``LastPause``) goes on; one it no longer shows ended while the bridge was
blind, at the moment it lost sight (``lost_at``: the link loss, or the last activity stored before
a restart), marked not seen; one the snapshot shows that the bridge did not know began at
``LoginTime`` / ``LastPause``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping

from .fields import Get, reader, to_float, to_int
from .member_model import (
    AUTO_PAUSE_REASON,
    MEMBERSHIPS,
    MemberPause,
    MemberSession,
    MemberUpdate,
    OperatorView,
    QueueMembership,
)

log = logging.getLogger(__name__)

#: device states (``Status``) in which a logged-in member cannot be rung: AST_DEVICE_INVALID, _UNAVAILABLE
_UNREACHABLE = frozenset({4, 5})
#: ``LoginTime`` / ``LastPause`` are whole seconds, event times are not: this close is the same moment
_SAME_SECOND = 1.5

_MEMBER_EVENTS = frozenset({"queuememberadded", "queuememberremoved", "queuememberpause", "queuememberstatus"})
_AGENT_EVENTS = frozenset({"agentcalled", "agentringnoanswer", "agentconnect", "agentcomplete"})
_WANTED = frozenset(name.encode() for name in (*_MEMBER_EVENTS, *_AGENT_EVENTS, "dialend", "hangup"))


class _Operator:
    __slots__ = ("interface", "name", "sessions", "pauses", "ringing", "on_call", "device", "since", "view",
                 "last_call")

    def __init__(self, interface: str, name: str, since: float):
        self.interface = interface
        self.name = name
        self.sessions: dict[str, MemberSession] = {}  # queue -> open session
        self.pauses: dict[str, MemberPause] = {}  # queue -> open pause
        self.ringing: set[str] = set()  # member channels ringing now
        self.on_call: set[str] = set()  # member channels talking now
        self.device: int | None = None
        self.since = since
        self.view: OperatorView | None = None
        self.last_call = 0.0  # when the member's last queue call ended (``LastCall``), 0: none yet


class MemberTracker:
    """Operators and their queues; see the module docstring. Every method returns the updates to
    persist or publish (copies: the caller may keep them while tracking goes on)."""

    def __init__(self) -> None:
        self._operators: dict[str, _Operator] = {}
        self._channels: dict[str, str] = {}  # member channel -> interface, while ringing or talking
        self.lost_at: float | None = None  # when the bridge last lost sight of Asterisk

    # ------------------------------------------------------------------ feed

    @staticmethod
    def wants(event: bytes) -> bool:
        """Whether ``feed`` reads events of this name (``Event`` as raw bytes; see CallTracker.wants)."""
        return event.lower() in _WANTED

    def feed(self, event: Mapping[str, str], received_at: float) -> list[MemberUpdate]:
        """Apply one AMI message; return what changed (often nothing)."""
        get = reader(event)
        name = (get("Event") or "").lower()
        if name in _MEMBER_EVENTS:
            handle = self._member_event
        elif name in _AGENT_EVENTS:
            handle = self._agent_event
        elif name in ("dialend", "hangup"):
            channel = get("DestChannel") if name == "dialend" else get("Channel")
            if channel not in self._channels or (name == "dialend" and get("DialStatus") == "ANSWER"):
                return []
            handle = self._channel_gone
        else:
            return []
        at = to_float(get("Timestamp")) or received_at
        out: list[MemberUpdate] = []
        operator = handle(name, get, at, out)
        if operator is not None:
            self._state(operator, at, out)
        return out

    def _member_event(self, name: str, get: Get, at: float, out: list[MemberUpdate]) -> _Operator | None:
        interface, queue = get("Interface"), get("Queue")
        if not interface or not queue:
            return None
        operator = self._operator(interface, get("MemberName"), at)
        operator.device = to_int(get("Status"))
        operator.last_call = max(operator.last_call, to_float(get("LastCall")) or 0.0)
        if name == "queuememberremoved":
            session = operator.sessions.pop(queue, None)
            pause = operator.pauses.pop(queue, None)
            if pause is not None:
                self._end_pause(pause, at, True, out)
            if session is None:
                log.debug("%s logged out of %s, never seen logged in", interface, queue)
                return operator
            session.logged_out_at, session.logout_seen = at, True
            out.append(MemberUpdate("session", session=copy.copy(session)))
            return operator
        login = to_float(get("LoginTime"))
        session = operator.sessions.get(queue)
        if session is not None and name == "queuememberadded" and _differs(session.logged_in_at, login):
            self._end_session(operator, queue, at, False, out)  # removed and added again unseen
            session = None
        if session is None:
            seen = name == "queuememberadded"
            started = at if seen or not login else login
            session = MemberSession(interface, queue, operator.name, started, _membership(get("Membership")), seen)
            operator.sessions[queue] = session
            out.append(MemberUpdate("session", session=copy.copy(session)))
        paused = get("Paused") == "1"
        reason = get("PausedReason") or ""
        pause = operator.pauses.get(queue)
        if paused and (pause is None or (name == "queuememberpause" and pause.reason != reason)):
            if pause is not None:
                self._end_pause(operator.pauses.pop(queue), at, True, out)
            began = at
            if name == "queuememberstatus":  # a pause we missed: its start is LastPause
                began = _close_to(to_float(get("LastPause")), at)
            self._start_pause(operator, queue, began, reason, name != "queuememberstatus", out)
        elif not paused and pause is not None:
            self._end_pause(operator.pauses.pop(queue), at, True, out)
        return operator

    def _agent_event(self, name: str, get: Get, at: float, out: list[MemberUpdate]) -> _Operator | None:
        interface = get("Interface")
        if not interface:
            return None
        operator = self._operator(interface, get("MemberName"), at)
        channel = get("DestChannel") or ""
        if name == "agentcalled":
            operator.ringing.add(channel)
            self._channels[channel] = interface
        elif name == "agentringnoanswer":
            operator.ringing.discard(channel)
            self._channels.pop(channel, None)
        elif name == "agentconnect":
            operator.ringing.discard(channel)
            operator.on_call.add(channel)
            self._channels[channel] = interface
        elif operator.on_call:  # agentcomplete; without the member channel (it was gone), or for a
            # call adopted after a cut (its channel unknown), the oldest call the operator is on ends
            gone = channel if channel in operator.on_call else sorted(operator.on_call)[0]
            operator.on_call.discard(gone)
            self._channels.pop(gone, None)
        return operator

    def _channel_gone(self, name: str, get: Get, at: float, out: list[MemberUpdate]) -> _Operator | None:
        channel = get("DestChannel") if name == "dialend" else get("Channel")
        interface = self._channels.get(channel or "")
        operator = self._operators.get(interface or "")
        if operator is None or channel is None:
            return None
        operator.ringing.discard(channel)
        if name == "hangup":
            operator.on_call.discard(channel)
            del self._channels[channel]
        return operator

    # ------------------------------------------------------------------ reconcile and restore

    def link_lost(self, at: float) -> None:
        """The AMI link went down at ``at``: what ends unseen from now on ends there. Rings in
        flight are forgotten (their end will not be seen)."""
        self.lost_at = at
        for operator in self._operators.values():
            for channel in operator.ringing:
                self._channels.pop(channel, None)
            operator.ringing.clear()

    def restore(self, sessions: Iterable[MemberSession], pauses: Iterable[MemberPause], last_seen: float) -> int:
        """Open sessions and pauses stored before a restart: followed again until the next
        snapshot confirms or ends them (at ``last_seen``, the last activity the store holds)."""
        count = 0
        for session in sessions:
            operator = self._operator(session.interface, session.member_name, session.logged_in_at)
            operator.sessions.setdefault(session.queue, session)
            count += 1
        for pause in pauses:
            operator = self._operator(pause.interface, pause.member_name, pause.started_at)
            operator.pauses.setdefault(pause.queue, pause)
        self.lost_at = last_seen if self.lost_at is None else self.lost_at
        return count

    def reconcile(self, members: Iterable[Mapping[str, str]], now: float,
                  on_call: Mapping[str, Iterable[str]] | None = None) -> list[MemberUpdate]:
        """After a login: align with the ``QueueStatus`` ``QueueMember`` items (see the module
        docstring). ``on_call``: interface -> the member channels of the calls it is answering now,
        from the call tracker ("" when unknown): an AgentComplete missed while blind must not leave
        an operator talking for ever."""
        ended_at = self.lost_at if self.lost_at is not None else now
        out: list[MemberUpdate] = []
        seen: set[tuple[str, str]] = set()
        touched: set[str] = set()
        for item in members:
            get = reader(item)
            interface, queue = get("Location") or get("Interface"), get("Queue")
            if not interface or not queue:
                continue
            seen.add((interface, queue))
            touched.add(interface)
            operator = self._operator(interface, get("Name") or get("MemberName"), now)
            operator.device = to_int(get("Status"))
            operator.last_call = max(operator.last_call, to_float(get("LastCall")) or 0.0)
            login = to_float(get("LoginTime"))
            session = operator.sessions.get(queue)
            if session is not None and _differs(session.logged_in_at, login):
                self._end_session(operator, queue, ended_at, False, out)  # logged out and in again unseen
                session = None
            if session is None:
                session = MemberSession(interface, queue, operator.name, _close_to(login, now),
                                        _membership(get("Membership")), False)
                operator.sessions[queue] = session
                out.append(MemberUpdate("session", session=copy.copy(session)))
            pause = operator.pauses.get(queue)
            if get("Paused") == "1":
                began = to_float(get("LastPause"))
                if pause is not None and _differs(pause.started_at, began):
                    self._end_pause(operator.pauses.pop(queue), ended_at, False, out)  # paused again unseen
                    pause = None
                if pause is None:
                    self._start_pause(operator, queue, _close_to(began, now), get("PausedReason") or "", False, out)
            elif pause is not None:
                self._end_pause(operator.pauses.pop(queue), ended_at, False, out)
        for operator in self._operators.values():
            for queue in [q for q in operator.sessions if (operator.interface, q) not in seen]:
                self._end_session(operator, queue, ended_at, False, out)
                touched.add(operator.interface)
            talking = set((on_call or {}).get(operator.interface, ()))
            if operator.on_call != talking:
                operator.on_call = talking
                touched.add(operator.interface)
            operator.ringing.clear()
        self.lost_at = None
        for interface in sorted(touched):
            self._state(self._operators[interface], now, out)
        return out

    # ------------------------------------------------------------------ views

    def operators(self) -> list[OperatorView]:
        """Every operator seen, logged out ones too, in interface order."""
        return [op.view for op in sorted(self._operators.values(), key=lambda o: o.interface) if op.view is not None]

    def queue_counts(self) -> dict[str, tuple[int, int]]:
        """queue -> (operators available now, operators paused now)."""
        counts: dict[str, list[int]] = {}
        for view in self.operators():
            for membership in view.queues:
                pair = counts.setdefault(membership.queue, [0, 0])
                pair[0] += view.available_in(membership.queue)
                pair[1] += membership.paused
        return {queue: (pair[0], pair[1]) for queue, pair in counts.items()}

    # ------------------------------------------------------------------ helpers

    def _operator(self, interface: str, name: str | None, at: float) -> _Operator:
        operator = self._operators.get(interface)
        if operator is None:
            operator = self._operators[interface] = _Operator(interface, name or interface, at)
        elif name and name != operator.name:
            operator.name = name
        return operator

    def _start_pause(self, operator: _Operator, queue: str, at: float, reason: str, seen: bool,
                     out: list[MemberUpdate]) -> None:
        pause = MemberPause(operator.interface, queue, operator.name, at, reason, reason == AUTO_PAUSE_REASON, seen)
        operator.pauses[queue] = pause
        out.append(MemberUpdate("pause", pause=copy.copy(pause)))

    @staticmethod
    def _end_pause(pause: MemberPause, at: float, seen: bool, out: list[MemberUpdate]) -> None:
        pause.ended_at, pause.end_seen = max(at, pause.started_at), seen
        out.append(MemberUpdate("pause", pause=copy.copy(pause)))

    def _end_session(self, operator: _Operator, queue: str, at: float, seen: bool, out: list[MemberUpdate]) -> None:
        session = operator.sessions.pop(queue)
        pause = operator.pauses.pop(queue, None)
        if pause is not None:
            self._end_pause(pause, at, seen, out)
        session.logged_out_at, session.logout_seen = max(at, session.logged_in_at), seen
        out.append(MemberUpdate("session", session=copy.copy(session)))

    def _state(self, operator: _Operator, at: float, out: list[MemberUpdate]) -> None:
        """Recompute the operator's live state; an update when it changed."""
        queues = tuple(
            QueueMembership(queue, queue in operator.pauses, operator.pauses[queue].reason or None
                            if queue in operator.pauses else None,
                            operator.pauses[queue].started_at if queue in operator.pauses else session.logged_in_at)
            for queue, session in sorted(operator.sessions.items())
        )
        reason = None
        if not queues:
            state = "logged_out"
        elif operator.on_call:
            state = "on_call"
        elif operator.ringing:
            state = "ringing"
        elif all(m.paused for m in queues):
            state = "paused"
            reason = max(operator.pauses.values(), key=lambda p: p.started_at).reason or None
        elif operator.device in _UNREACHABLE:
            state = "unavailable"
        else:
            state = "available"
        old = operator.view
        if old is not None and (old.state, old.reason, old.queues, old.name) == (state, reason, queues, operator.name):
            return
        if old is None:  # first seen (a snapshot, a restart): since when, as far as Asterisk tells
            operator.since = _since(operator, state, at)
        elif (old.state, old.reason) != (state, reason):
            operator.since = at
        operator.view = OperatorView(operator.interface, operator.name, state, operator.since, reason, queues)
        out.append(MemberUpdate("state", operator=operator.view))


def _since(operator: _Operator, state: str, at: float) -> float:
    """When an operator's state began, for one first seen in it: a pause at its start, an operator
    free since the later of the login and the end of the last call; otherwise ``at``."""
    if state == "paused" and operator.pauses:
        return min(at, max(p.started_at for p in operator.pauses.values()))
    if state in ("available", "unavailable") and operator.sessions:
        return min(at, max([operator.last_call, *(s.logged_in_at for s in operator.sessions.values())]))
    return at


def _membership(value: str | None) -> str:
    return value if value in MEMBERSHIPS else "dynamic"


def _differs(known: float, reported: float | None) -> bool:
    """Is ``reported`` (``LoginTime`` / ``LastPause``) another moment than ``known``? Unknown (0) is not."""
    return bool(reported) and reported is not None and reported > 0 and abs(known - reported) > _SAME_SECOND


def _close_to(epoch: float | None, fallback: float) -> float:
    """``LoginTime`` / ``LastPause``: 0 or missing means unknown (then ``fallback``, the moment
    the bridge learned it); a time after ``fallback`` cannot be (clocks agree to the second)."""
    if not epoch or epoch <= 0:
        return fallback
    return min(epoch, fallback)
