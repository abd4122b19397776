"""What the simulated PBX has up right now: its channels and who waits in which queue.

Asterisk answers ``CoreShowChannels`` from its channel table and ``QueueStatus`` from its queues;
both change exactly as its events say. So the simulator keeps its lists from the events it emits
(``AMIServer.emit``, used by ``ami_calls.play_call``): a bridge that reconnects in the middle of
a simulation is told the truth about the calls still up, as it would be by a real PBX.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .ami_emit import SNAP_KEYS

Message = Sequence[tuple[str, str]]  # ordered headers, keys may repeat (M1)


@dataclass
class QueueMemberState:
    """A queue member as QueueStatus reports it."""

    name: str
    interface: str  # Local/1002@agents/n
    status: int = 1  # 1 NOT_INUSE, 2 INUSE (Local members never report 6, M10)
    calls_taken: int = 0
    last_call: int = 0
    login_time: int = 1795699524
    paused: bool = False
    paused_reason: str = ""
    membership: str = "static"
    last_pause: int = 0


@dataclass
class QueueState:
    """One queue for QueueStatus: params, members and waiting callers."""

    name: str
    members: list[QueueMemberState] = field(default_factory=list)
    strategy: str = "linear"
    completed: int = 0
    abandoned: int = 0
    holdtime: int = 0
    talktime: int = 0
    # waiting callers: (channel, uniqueid, number, name, joined_at epoch)
    entries: list[tuple[str, str, str, str, float]] = field(default_factory=list)


@dataclass
class ChannelState:
    """One live channel for CoreShowChannels (snapshot block of M3)."""

    snapshot: list[tuple[str, str]]  # Channel .. Linkedid, 14 keys in order
    application: str = ""
    application_data: str = ""
    started_at: float = 0.0
    bridge_id: str = ""


def track(channels: dict[str, ChannelState], queues: dict[str, QueueState], headers: Message, at: float) -> None:
    """Update the lists from one event the PBX emits at ``at`` (simulated epoch seconds).

    Channels are keyed by Uniqueid: ``Newchannel`` adds one, ``Hangup`` removes it (and its place
    in any queue), every event that carries a channel's snapshot block refreshes it, ``Newexten``
    sets the application it runs and ``BridgeEnter``/``BridgeLeave`` its bridge. A caller joins
    a queue's waiting list at ``QueueCallerJoin`` and leaves it at ``QueueCallerLeave`` or
    ``QueueCallerAbandon``.
    """
    h: dict[str, str] = {}
    for key, value in headers:
        h.setdefault(key, value)
    event = h.get("Event")
    if event in _MEMBER_EVENTS:
        _track_member(queues, event, h, at)
        return
    uniqueid = h.get("Uniqueid")
    if not event or not uniqueid:
        return
    if event == "Newchannel":
        channels[uniqueid] = ChannelState(snapshot=_snapshot(h), started_at=at)
        return
    if event == "Hangup":
        channels.pop(uniqueid, None)
        _leave_queues(queues, {uniqueid})
        return
    channel = channels.get(uniqueid)
    if channel is not None:
        if all(key in h for key in SNAP_KEYS):
            channel.snapshot = _snapshot(h)
        if event == "Newexten":
            channel.application, channel.application_data = h.get("Application", ""), h.get("AppData", "")
        elif event == "BridgeEnter":
            channel.bridge_id = h.get("BridgeUniqueid", "")
        elif event == "BridgeLeave":
            channel.bridge_id = ""
    queue = h.get("Queue")
    if event == "QueueCallerJoin" and queue:
        entry = (h.get("Channel", ""), uniqueid, h.get("CallerIDNum", ""), h.get("CallerIDName", ""), at)
        queues.setdefault(queue, QueueState(queue)).entries.append(entry)
    elif event in ("QueueCallerLeave", "QueueCallerAbandon") and queue in queues:
        _leave_queues({queue: queues[queue]}, {uniqueid})


_MEMBER_EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMemberStatus")
#: the member's state the server writes into the member events it emits (as Asterisk does)
_STATE_KEYS = ("Membership", "LastPause", "LoginTime")


def _member(queues: dict[str, QueueState], h: Mapping[str, str]) -> QueueMemberState | None:
    queue = queues.get(h.get("Queue", ""))
    return next((m for m in queue.members if m.interface == h.get("Interface")), None) if queue else None


def member_headers(queues: dict[str, QueueState], headers: Message, at: float) -> Message:
    """A member event as Asterisk writes it: its state fields from the member the server keeps
    (a ``QueueMemberAdded`` logs in at ``at``; a ``QueueMemberPause`` that pauses sets LastPause)."""
    if not headers or headers[0][0] != "Event" or headers[0][1] not in _MEMBER_EVENTS:
        return headers
    h = dict(headers)
    event, member = h["Event"], _member(queues, h)
    state: dict[str, str] = {}
    if event == "QueueMemberAdded":
        state = {"LoginTime": str(int(at)), "LastPause": str(int(at)) if h.get("Paused") == "1" else "0"}
    elif member is not None:
        state = {"Membership": member.membership, "LoginTime": str(member.login_time),
                 "LastPause": str(int(at) if event == "QueueMemberPause" and h.get("Paused") == "1"
                                  else member.last_pause)}
        if event == "QueueMemberStatus":
            state.update(Paused="1" if member.paused else "0", PausedReason=member.paused_reason)
    return [(key, state.get(key, value)) for key, value in headers]


def _track_member(queues: dict[str, QueueState], event: str, h: Mapping[str, str], at: float) -> None:
    queue = h.get("Queue", "")
    member = _member(queues, h)
    if event == "QueueMemberAdded" and member is None:
        queues.setdefault(queue, QueueState(queue)).members.append(QueueMemberState(
            h.get("MemberName", ""), h.get("Interface", ""), int(h.get("Status") or 1), login_time=int(at),
            paused=h.get("Paused") == "1", paused_reason=h.get("PausedReason", ""),
            membership=h.get("Membership") or "dynamic", last_pause=int(at) if h.get("Paused") == "1" else 0))
    elif member is None:
        return
    elif event == "QueueMemberRemoved":
        queues[queue].members.remove(member)
    elif event == "QueueMemberPause":
        member.paused, member.paused_reason = h.get("Paused") == "1", h.get("PausedReason", "")
        if member.paused:
            member.last_pause = int(at)
    elif event == "QueueMemberStatus":
        member.status = int(h.get("Status") or member.status)


def forget_calls(channels: dict[str, ChannelState], queues: dict[str, QueueState], linkedids: Collection[str]) -> None:
    """Drop the calls ``linkedids`` from the lists without any event (their play was cut off)."""
    gone = {uid for uid, ch in channels.items() if dict(ch.snapshot).get("Linkedid") in linkedids}
    for uid in gone:
        del channels[uid]
    _leave_queues(queues, gone)


def _snapshot(h: dict[str, str]) -> list[tuple[str, str]]:
    return [(key, h.get(key, "")) for key in SNAP_KEYS]


def _leave_queues(queues: dict[str, QueueState], uniqueids: Collection[str]) -> None:
    for q in queues.values():
        if any(entry[1] in uniqueids for entry in q.entries):
            q.entries = [entry for entry in q.entries if entry[1] not in uniqueids]


def merge_lists(parts: Iterable[tuple[dict[str, ChannelState], dict[str, QueueState]]]
                ) -> tuple[dict[str, ChannelState], dict[str, QueueState]]:
    """One PBX's lists from the lists of several event sources (``simulate --workers``: each worker
    process keeps the lists of its own calls; their Uniqueids never clash). A queue's members and
    waiting callers are put together, its counters added."""
    channels: dict[str, ChannelState] = {}
    queues: dict[str, QueueState] = {}
    for part_channels, part_queues in parts:
        channels.update(part_channels)
        for name, q in part_queues.items():
            merged = queues.setdefault(name, QueueState(name, strategy=q.strategy))
            known = {m.interface for m in merged.members}  # the parent lists static members too
            merged.members += [m for m in q.members if m.interface not in known]
            merged.entries += q.entries
            merged.completed += q.completed
            merged.abandoned += q.abandoned
            merged.holdtime = max(merged.holdtime, q.holdtime)
            merged.talktime = max(merged.talktime, q.talktime)
    for q in queues.values():
        q.entries.sort(key=lambda entry: entry[4])
    return channels, queues


def lab_queues(names: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> dict[str, QueueState]:
    """Build queue states from (queue, [(member name, interface), ...])."""
    return {q: QueueState(q, [QueueMemberState(n, i) for n, i in members]) for q, members in names}
