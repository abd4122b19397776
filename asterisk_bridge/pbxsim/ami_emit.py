"""The event writer of the AMI simulator: one call's events, header for header as Asterisk 22 writes them.

The emitters reproduce the captures ``tests/fixtures/asterisk/ami/ami-cc-*.raw``: the same event
names, keys and key order per channel (the channel snapshot block, CEL and Cdr records, AGI
exec events, queue member status, the queue's channel variables). The call phases that use them
are in ``ami_menu.py`` and ``ami_queue.py``; ``ami_calls.call_events`` runs a whole call.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .scenario import CallScenario, Operator

Headers = list[tuple[str, str]]
SNAP_KEYS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
             "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid")
_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


@dataclass
class Chan:
    """Mutable channel snapshot (the M3 block) plus what CEL needs."""

    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    state: int = 0
    cid_num: str = "<unknown>"
    cid_name: str = "<unknown>"
    conn_num: str = "<unknown>"
    conn_name: str = "<unknown>"
    language: str = "en"
    priority: int = 1
    app: str = ""
    appdata: str = ""
    start: float = 0.0
    answer: float | None = None

    def snap(self, prefix: str = "") -> Headers:
        vals = (self.name, str(self.state), _STATE_DESC[self.state], self.cid_num, self.cid_name, self.conn_num,
                self.conn_name, self.language, "", self.context, self.exten, str(self.priority), self.uniqueid,
                self.linkedid)
        return [(prefix + k, v) for k, v in zip(SNAP_KEYS, vals, strict=True)]


@dataclass
class Ids:
    """Uniqueid sequence and Local channel hex counter shared by all calls of one PBX."""

    seq: itertools.count = field(default_factory=lambda: itertools.count(6))
    local: itertools.count = field(default_factory=lambda: itertools.count(3))
    command: itertools.count = field(default_factory=lambda: itertools.count(100000001, 7919))

    def uniqueid(self, t: float) -> str:
        return f"{int(t)}.{next(self.seq)}"

    def local_pair(self, exten: str, context: str, t: float, linkedid: str | None = None) -> tuple[Chan, Chan]:
        hexid = f"{next(self.local):08x}"
        u1 = self.uniqueid(t)
        u2 = self.uniqueid(t)
        link = linkedid or u1
        base = f"Local/{exten}@{context}-{hexid}"
        one = Chan(f"{base};1", u1, link, context, exten, state=0, start=t)
        two = Chan(f"{base};2", u2, link, context, exten, state=4, start=t)
        return one, two


def fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))



def member_event(name: str, queue: str, op: Operator, *, paused: bool, reason: str = "", status: int = 1) -> Headers:
    """QueueMemberAdded / Removed / Pause as Asterisk 22 writes them (captures in
    tests/fixtures/asterisk/ami/members/). The member's other state (LoginTime, Membership,
    LastPause) is the server's to fill in when it emits the event (``ami_lists.member_headers``)."""
    return [("Event", name), ("Privilege", "agent,all"), ("Queue", queue), ("MemberName", op.name),
            ("Interface", op.interface), ("StateInterface", op.interface), ("Membership", "dynamic"), ("Penalty", "0"),
            ("CallsTaken", "0"), ("LastCall", "0"), ("LastPause", "0"), ("LoginTime", "0"), ("InCall", "0"),
            ("Status", str(status)), ("Paused", "1" if paused else "0"), ("PausedReason", reason), ("Ringinuse", "0"),
            ("Wrapuptime", "0")]


class EventWriter:
    """Writes the events of one call in order; ``t`` is the simulated clock (epoch seconds).

    The state the call phases share lives here: the caller's two Local channel halves (``c1``,
    the ``;1`` half that runs the contact-center dialplan, and ``c2``), what the menu set, and
    where the dialplan goes to queue.
    """

    c1: Chan
    c2: Chan
    queue_exten: tuple[str, int]  # (extension, priority) of the Queue() step

    def __init__(self, sc: CallScenario, start: float, ids: Ids):
        self.sc = sc
        self.t = start
        self.ids = ids
        self.events: list[tuple[float, Headers]] = []
        self.later: list[tuple[float, Headers]] = []  # events of this call due after others (``merge_later``)
        self.caller_ctx_prio = 1  # the caller-sim side's dialplan priority
        self.agi_status = "SUCCESS"
        self.ivr_queue = ""
        self.ivr_topic = ""
        self.caller_wait = "60"  # the caller-sim side's Wait() while queued

    def emit(self, name: str, priv: str, *parts: Headers | tuple[str, str]) -> None:
        h: Headers = [("Event", name), ("Privilege", priv)]
        for p in parts:
            if isinstance(p, tuple):
                h.append(p)
            else:
                h.extend(p)
        self.events.append((self.t, h))

    def at(self, when: float, write: Callable[[], None]) -> None:
        """Write events with ``write`` as of ``when`` (later than now), kept aside until ``merge_later``."""
        now, mark = self.t, len(self.events)
        self.t = when
        write()
        self.later += self.events[mark:]
        del self.events[mark:]
        self.t = now

    def merge_later(self) -> None:
        """Put the events written with ``at`` among the others, in time order (after those at the same time)."""
        for when, headers in self.later:
            index = len(self.events)
            while index and self.events[index - 1][0] > when:
                index -= 1
            self.events.insert(index, (when, headers))
        self.later = []

    def chan_ev(self, name: str, c: Chan, *extra: tuple[str, str], priv: str = "call,all") -> None:
        self.emit(name, priv, c.snap(), *extra)

    def newexten(self, c: Chan, context: str, exten: str, prio: int, app: str, data: str) -> None:
        c.context, c.exten, c.priority, c.app, c.appdata = context, exten, prio, app, data
        self.emit("Newexten", "dialplan,all", c.snap(), ("Extension", exten), ("Application", app),
                  ("AppData", data))

    def varset(self, c: Chan, var: str, value: str) -> None:
        self.emit("VarSet", "dialplan,all", c.snap(), ("Variable", var), ("Value", value))

    def cel(self, c: Chan, event: str, extra: str = "", app: str | None = None, appdata: str | None = None) -> None:
        if event in ("HANGUP", "CHAN_END", "LINKEDID_END") and c.name.endswith(";2"):
            app = appdata = ""  # the ;2 half's dialplan app has returned by then
        self.emit("CEL", "call,all", ("EventName", event), ("AccountCode", ""),
                  ("CallerIDnum", c.cid_num if c.cid_num != "<unknown>" else ""),
                  ("CallerIDname", c.cid_name if c.cid_name != "<unknown>" else ""), ("CallerIDani", ""),
                  ("CallerIDrdnis", ""), ("CallerIDdnid", ""), ("Exten", c.exten), ("Context", c.context),
                  ("Channel", c.name), ("Application", c.app if app is None else app),
                  ("AppData", c.appdata if appdata is None else appdata), ("EventTime", fmt_time(self.t)),
                  ("AMAFlags", "DOCUMENTATION"), ("UniqueID", c.uniqueid), ("LinkedID", c.linkedid),
                  ("Userfield", ""), ("Peer", ""), ("PeerAccount", ""), ("Extra", extra))

    def cdr(self, c: Chan, dest: str, dest_ctx: str, dest_chan: str, app: str, data: str, start: float,
            answer: float | None, disposition: str, userfield: str = "") -> None:
        dur = int(self.t - start)
        bill = int(self.t - answer) if answer is not None else 0
        self.emit("Cdr", "cdr,all", ("AccountCode", ""), ("Source", self.sc.caller_number),
                  ("Destination", dest), ("DestinationContext", dest_ctx),
                  ("CallerID", f'"{self.sc.caller_name}" <{self.sc.caller_number}>'), ("Channel", c.name),
                  ("DestinationChannel", dest_chan), ("LastApplication", app), ("LastData", data),
                  ("StartTime", fmt_time(start)), ("AnswerTime", fmt_time(answer) if answer else ""),
                  ("EndTime", fmt_time(self.t)), ("Duration", str(dur)), ("BillableSeconds", str(bill)),
                  ("Disposition", disposition), ("AMAFlags", "DOCUMENTATION"), ("UniqueID", c.uniqueid),
                  ("UserField", userfield))

    def hangup(self, c: Chan, cause: int) -> None:
        self.chan_ev("Hangup", c, ("Cause", str(cause)), ("Cause-txt", "Normal Clearing" if cause == 16 else "Unknown"))

    def device(self, device: str, state: str) -> None:
        self.emit("DeviceStateChange", "call,all", ("Device", device), ("State", state))

    def agi(self, c: Chan, command: str, inner: Callable[[], None] | None = None) -> None:
        cid = str(next(self.ids.command) % 2147483647)
        self.emit("AGIExecStart", "agi,all", c.snap(), ("CommandId", cid), ("Command", command))
        if inner:
            inner()
        self.emit("AGIExecEnd", "agi,all", c.snap(), ("CommandId", cid), ("Command", command),
                  ("ResultCode", "200"), ("Result", "Success"))

    def local_bridge(self, one: Chan, two: Chan, context: str, exten: str) -> None:
        self.emit("LocalBridge", "call,all", one.snap("LocalOne"), two.snap("LocalTwo"), ("Context", context),
                  ("Exten", exten), ("LocalOptimization", "No"))

    def member_event(self, name: str, queue: str, op: Operator, *, paused: bool, reason: str = "",
                     status: int = 1) -> None:
        self.events.append((self.t, member_event(name, queue, op, paused=paused, reason=reason, status=status)))

    def member_status(self, queue: str, op: Operator, status: int, calls: int = 0, last: int = 0) -> None:
        self.emit("QueueMemberStatus", "agent,all", ("Queue", queue), ("MemberName", op.name),
                  ("Interface", op.interface), ("StateInterface", op.interface), ("Membership", "static"),
                  ("Penalty", "0"), ("CallsTaken", str(calls)), ("LastCall", str(last)), ("LastPause", "0"),
                  ("LoginTime", "1795699524"), ("InCall", "0"), ("Status", str(status)), ("Paused", "0"),
                  ("PausedReason", ""), ("Ringinuse", "0"), ("Wrapuptime", "0"))

    def queue_vars(self, c: Chan, queue: str, calls: int, hold: int, talk: int, completed: int, abandoned: int) -> None:
        perf = "100.0" if completed else "0.0"
        for var, val in (("QUEUENAME", queue), ("QUEUEMAX", "0"), ("QUEUESTRATEGY", "linear"),
                         ("QUEUECALLS", str(calls)), ("QUEUEHOLDTIME", str(hold)), ("QUEUETALKTIME", str(talk)),
                         ("QUEUECOMPLETED", str(completed)), ("QUEUEABANDONED", str(abandoned)),
                         ("QUEUESRVLEVEL", "60"), ("QUEUESRVLEVELPERF", perf)):
            self.varset(c, var, val)
