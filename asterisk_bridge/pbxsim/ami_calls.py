"""Per-call AMI event generator: the events Asterisk 22 emits for one contact-center call.

Why: the tracker, demo and benchmarks need realistic AMI streams at any speed. The
templates here reproduce the lab captures (tests/fixtures/asterisk/ami/ami-cc-*.raw):
same event names, keys and key order per channel, with values (Channel, Uniqueid,
Linkedid, Queue, Interface, MemberName, HoldTime, TalkTime, RingTime, Cause, IVR_* ...)
derived from the scenario and a simulated clock. Cross-channel interleaving in Asterisk
depends on thread timing (two recordings of one scenario differ), so only the order
within each channel is a contract. Pure: `call_events` does no I/O; `play_call` sends.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import ScenarioError

if TYPE_CHECKING:
    from .ami_server import AMIServer

Headers = list[tuple[str, str]]
SNAP_KEYS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
             "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid")
_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}
MENU_RESULTS = ("queue", "timeout", "hangup", "bridge-down", "selfservice")
_NO_QUEUE = ("hangup", "selfservice")  # menu results that never reach a queue


@dataclass(frozen=True)
class Operator:
    """A queue member: Local/<exten>@agents/n named `name` in the queue."""

    exten: str
    name: str

    @property
    def interface(self) -> str:
        return f"Local/{self.exten}@agents/n"


@dataclass(frozen=True)
class CallScenario:
    """One caller's path. Times are simulated seconds.

    menu: "queue" (a key chose a topic queue), "timeout" (no valid key: default queue),
    "hangup" (caller hangs up in the menu), "bridge-down" (FastAGI unreachable:
    AGISTATUS=FAILURE, BridgeDown UserEvent, default queue), "selfservice" (a key chose a
    self-service topic: the information message, then the dialplan hangs up; no queue).
    keys: digits pressed at successive GET DATA prompts; invalid ones are those not in
    `valid_keys`. A "queue" or "selfservice" caller whose keys hold no valid one presses
    `valid_keys[0]` at the last attempt: the menu must have chosen the topic that the
    scenario names, or IVR_TOPIC/IVR_QUEUE would never be set.
    result: IVR_RESULT as asterisk-bridge sets it. None replays the lab IVR (which sets only
    IVR_QUEUE/IVR_TOPIC, from `queue` and `topic` or the key); given, the menu ends the way
    the bridge ends it: IVR_TOPIC, IVR_QUEUE, IVR_AGE_GROUP, IVR_RESULT from `topic`,
    `queue`, `age_group`, `result` ("" for None).
    hold: seconds in the queue before any member is free to ring (all busy). no_answer: members rung 5 s each without answer before `operator`.
    Without `operator` the caller abandons after `abandon_after` s in the queue.
    """

    name: str  # caller-sim extension (lab scenario name)
    line: str = "122"
    caller_number: str = "79161234567"
    caller_name: str = "Иван Петров"
    menu: str = "queue"
    keys: tuple[str, ...] = ()
    valid_keys: tuple[str, ...] = ("1", "2", "3", "4", "5")
    queue: str | None = None  # IVR_QUEUE for menu="queue"
    topic: str | None = None  # IVR_TOPIC
    default_queue: str = "default"
    no_answer: tuple[Operator, ...] = ()
    operator: Operator | None = None
    answer_after: float = 2.0  # member answers after ringing this long
    talk: float = 5.0
    hangup_by: str = "agent"  # caller | agent
    abandon_after: float | None = None
    menu_hangup_after: float = 2.0
    attempts: int = 2
    result: str | None = None
    age_group: str | None = None
    hold: float = 0.0

    def __post_init__(self) -> None:
        if self.menu not in MENU_RESULTS:
            raise ScenarioError(f"menu must be one of {MENU_RESULTS}, got {self.menu!r}")
        if self.hangup_by not in ("caller", "agent"):
            raise ScenarioError(f"hangup_by must be 'caller' or 'agent', got {self.hangup_by!r}")
        if self.menu == "queue" and not self.queue:
            raise ScenarioError("menu='queue' needs the topic queue name in `queue`")
        if self.menu in ("queue", "selfservice") and not self.valid_keys:
            raise ScenarioError(f"menu={self.menu!r} needs at least one valid key")
        if self.hold < 0:
            raise ScenarioError(f"hold must be >= 0, got {self.hold!r}")
        if self.menu in _NO_QUEUE:
            if self.operator is not None or self.abandon_after is not None:
                raise ScenarioError(f"menu={self.menu!r} never reaches a queue: no `operator` or `abandon_after`")
        elif self.operator is None and self.abandon_after is None:
            raise ScenarioError("a queued call needs an `operator` who answers or `abandon_after`")
        if self.operator is not None and self.abandon_after is not None:
            raise ScenarioError("give either `operator` or `abandon_after`, not both")

    @property
    def queue_joined(self) -> str | None:
        if self.menu in _NO_QUEUE:
            return None
        return self.queue if self.menu == "queue" else self.default_queue


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
        return [(prefix + k, v) for k, v in zip(SNAP_KEYS, vals)]


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


def _fmt_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


class _Call:
    """Builds the event list of one call; `t` is the simulated clock (epoch seconds)."""

    def __init__(self, sc: CallScenario, start: float, ids: Ids):
        self.sc = sc
        self.t = start
        self.ids = ids
        self.events: list[tuple[float, Headers]] = []

    # emitters ---------------------------------------------------------------------
    def emit(self, name: str, priv: str, *parts: Headers | tuple[str, str]) -> None:
        h: Headers = [("Event", name), ("Privilege", priv)]
        for p in parts:
            if isinstance(p, tuple):
                h.append(p)
            else:
                h.extend(p)
        self.events.append((self.t, h))

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
                  ("AppData", c.appdata if appdata is None else appdata), ("EventTime", _fmt_time(self.t)),
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
                  ("StartTime", _fmt_time(start)), ("AnswerTime", _fmt_time(answer) if answer else ""),
                  ("EndTime", _fmt_time(self.t)), ("Duration", str(dur)), ("BillableSeconds", str(bill)),
                  ("Disposition", disposition), ("AMAFlags", "DOCUMENTATION"), ("UniqueID", c.uniqueid),
                  ("UserField", userfield))

    def hangup(self, c: Chan, cause: int) -> None:
        self.chan_ev("Hangup", c, ("Cause", str(cause)), ("Cause-txt", "Normal Clearing" if cause == 16 else "Unknown"))

    def device(self, device: str, state: str) -> None:
        self.emit("DeviceStateChange", "call,all", ("Device", device), ("State", state))

    def agi(self, c: Chan, command: str, inner=None) -> None:
        cid = str(next(self.ids.command) % 2147483647)
        self.emit("AGIExecStart", "agi,all", c.snap(), ("CommandId", cid), ("Command", command))
        if inner:
            inner()
        self.emit("AGIExecEnd", "agi,all", c.snap(), ("CommandId", cid), ("Command", command),
                  ("ResultCode", "200"), ("Result", "Success"))

    def local_bridge(self, one: Chan, two: Chan, context: str, exten: str) -> None:
        self.emit("LocalBridge", "call,all", one.snap("LocalOne"), two.snap("LocalTwo"), ("Context", context),
                  ("Exten", exten), ("LocalOptimization", "No"))

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

    # the call ---------------------------------------------------------------------
    def build(self) -> list[tuple[float, Headers]]:
        sc = self.sc
        c1, c2 = self.ids.local_pair(sc.name, "caller-sim", self.t)
        self.c1, self.c2 = c1, c2
        self.caller_ctx_prio = 1
        self.originate(c1, c2)
        self.agi_status = "SUCCESS"
        self.ivr_queue = ""
        self.ivr_topic = ""
        self.contact_center(c1)
        if sc.menu == "hangup":
            self.h_extension()
            return self.events
        if sc.menu == "selfservice":
            self.self_service_end()
            return self.events
        queue = sc.queue_joined or ""
        self.queue_call(queue)
        return self.events

    def originate(self, c1: Chan, c2: Chan) -> None:
        sc = self.sc
        self.chan_ev("Newchannel", c1)
        self.cel(c1, "CHAN_START", app="", appdata="")
        self.chan_ev("Newchannel", c2)
        self.newexten(c1, "caller-sim", sc.name, 1, "AppDial2", "(Outgoing Line)")
        self.varset(c1, "SCENARIO", sc.name)
        c1.cid_num, c1.cid_name = sc.caller_number, sc.caller_name
        self.chan_ev("NewCallerid", c1, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        c1.conn_num, c1.conn_name = sc.caller_number, sc.caller_name
        self.chan_ev("NewConnectedLine", c1)
        self.varset(c2, "SCENARIO", sc.name)
        c2.cid_num, c2.cid_name = sc.caller_number, sc.caller_name
        c2.conn_num, c2.conn_name = sc.caller_number, sc.caller_name
        self.chan_ev("NewCallerid", c2, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        self.chan_ev("NewConnectedLine", c2)
        self.cel(c2, "CHAN_START", app="", appdata="")
        self.cel(c2, "ANSWER", app="Answer", appdata="")
        self.cel(c1, "ANSWER")
        self.local_bridge(c1, c2, "caller-sim", sc.name)
        self.newexten(c2, "caller-sim", sc.name, 1, "Answer", "")
        c2.state = 6
        c2.answer = self.t
        self.chan_ev("Newstate", c2)
        self.emit("DialBegin", "call,all", c1.snap("Dest"), ("DialString", f"{sc.name}@caller-sim/n"))
        c1.state = 6
        c1.answer = self.t
        self.chan_ev("Newstate", c1)
        self.emit("DialEnd", "call,all", c1.snap("Dest"), ("DialStatus", "ANSWER"))
        self.device(f"Local/{sc.name}@caller-sim", "INUSE")
        self.device(f"Local/{sc.name}@caller-sim", "INUSE")

    def caller_step(self, app: str, data: str) -> None:
        self.caller_ctx_prio += 1
        self.newexten(self.c2, "caller-sim", self.sc.name, self.caller_ctx_prio, app, data)

    def contact_center(self, c1: Chan) -> None:
        sc = self.sc
        ln = sc.line
        self.t += 0.01
        self.newexten(c1, "contact-center", ln, 1, "NoOp",
                      f'Contact center line {ln}: call from "{sc.caller_name}" <{sc.caller_number}>')
        self.newexten(c1, "contact-center", ln, 2, "Answer", "")
        self.newexten(c1, "contact-center", ln, 3, "Set", "CHANNEL(language)=ru")
        c1.language = self.c2.language = "ru"
        self.newexten(c1, "contact-center", ln, 4, "Set", f"__CC_LINE={ln}")
        self.varset(c1, "__CC_LINE", ln)
        self.newexten(c1, "contact-center", ln, 5, "Set", f"CDR(userfield)=line={ln}")
        agi_url = f"agi://127.0.0.1:4573/ivr?line={ln}"
        self.newexten(c1, "contact-center", ln, 6, "AGI", agi_url)
        if sc.menu == "bridge-down":
            self.agi_status = "FAILURE"
            self.varset(c1, "AGISTATUS", "FAILURE")
            self.newexten(c1, "contact-center", ln, 7, "NoOp", f"AGI done: AGISTATUS=FAILURE IVR_QUEUE=")
            self.newexten(c1, "contact-center", ln, 8, "GotoIf", "1?bridge-down,1")
            self.newexten(c1, "contact-center", "bridge-down", 1, "NoOp",
                          f"Bridge down on line {ln}: AGISTATUS=FAILURE")
            self.newexten(c1, "contact-center", "bridge-down", 2, "UserEvent",
                          f"BridgeDown,Line: {ln},AgiStatus: FAILURE")
            self.emit("UserEvent", "user,all", c1.snap(), ("UserEvent", "BridgeDown"), ("Line", ln),
                      ("AgiStatus", "FAILURE"))
            self.newexten(c1, "contact-center", "bridge-down", 3, "Playback", "one-moment-please")
            self.cel(c1, "STREAM_BEGIN", '{"sound":"one-moment-please","format":"gsm","language":"ru"}')
            self.caller_step("Wait", "30")
            self.t += 1.5
            self.cel(c1, "STREAM_END")
            self.varset(c1, "PLAYBACKSTATUS", "SUCCESS")
            self.queue_exten = ("bridge-down", 4)
            return
        self.ivr(c1)
        if sc.menu == "hangup":
            return
        self.varset(c1, "AGISTATUS", "SUCCESS")
        self.newexten(c1, "contact-center", ln, 7, "NoOp", f"AGI done: AGISTATUS=SUCCESS IVR_QUEUE={self.ivr_queue}")
        self.newexten(c1, "contact-center", ln, 8, "GotoIf", "0?bridge-down,1")
        if sc.menu == "selfservice":
            self.newexten(c1, "contact-center", ln, 9, "GotoIf", "1?selfservice")
            self.newexten(c1, "contact-center", ln, 10, "Hangup", "")
            return
        if self.ivr_queue:
            self.newexten(c1, "contact-center", ln, 9, "GotoIf", "0?default-queue")
            self.queue_exten = (ln, 10)
        else:
            self.newexten(c1, "contact-center", ln, 9, "GotoIf", "1?default-queue")
            self.queue_exten = (ln, 12)

    def stream(self, c1: Chan, prompt: str, escape: str, seconds: float) -> None:
        def inner() -> None:
            self.t += seconds
            self.cel(c1, "STREAM_END")
            self.varset(c1, "PLAYBACKSTATUS", "SUCCESS")
        self.agi(c1, f"STREAM FILE {prompt} {escape}", inner)

    def ivr(self, c1: Chan) -> None:
        sc = self.sc
        ln = sc.line
        for cmd in ("ANSWER", "GET VARIABLE SCENARIO", "GET FULL VARIABLE ${CALLERID(num)}"):
            self.agi(c1, cmd)
        self.agi(c1, f"SET VARIABLE IVR_LINE {ln}", lambda: self.varset(c1, "IVR_LINE", ln))
        keys = list(sc.keys)
        if sc.menu in ("queue", "selfservice") and not any(k in sc.valid_keys for k in keys[:sc.attempts]):
            keys = [*keys[:sc.attempts - 1], sc.valid_keys[0]]

        def greeting() -> None:
            self.caller_step("Wait", "2" if keys or sc.menu == "hangup" else "60")
            self.t += 2.0
            self.cel(c1, "STREAM_END")
            self.varset(c1, "PLAYBACKSTATUS", "SUCCESS")
        self.agi(c1, 'STREAM FILE dir-welcome "0123456789*#"', greeting)
        for attempt in range(1, sc.attempts + 1):
            key = keys.pop(0) if keys else None
            hung = sc.menu == "hangup" and key is None

            def get_data(key=key, hung=hung) -> None:
                if hung:
                    self.t += sc.menu_hangup_after
                    self.caller_hangup_in_menu()
                    self.cel(c1, "STREAM_END")
                    return
                if key is None:
                    self.t += 4.0 + 2.0
                    self.cel(c1, "STREAM_END")
                    return
                self.t += 0.5
                self.caller_step("SendDTMF", key)
                self.chan_ev("DTMFBegin", c1, ("Digit", key), ("Direction", "Received"), priv="dtmf,all")
                self.t += 0.1
                self.chan_ev("DTMFEnd", c1, ("Digit", key), ("DurationMs", "100"), ("Direction", "Received"),
                             priv="dtmf,all")
                self.cel(c1, "DTMF", f'{{"digit":"{key}","duration_ms":100}}')
                self.cel(c1, "STREAM_END")
            self.cel(c1, "STREAM_BEGIN", '{"sound":"vm-enter-num-to-call","format":"gsm","language":"ru"}')
            self.agi(c1, "GET DATA vm-enter-num-to-call 4000 1", get_data)
            if hung:
                self.agi(c1, f'VERBOSE "IVR: caller hung up in menu (attempt {attempt})" 1')
                if sc.result is not None:
                    self.bridge_variables(c1)
                else:
                    self.agi(c1, "SET VARIABLE IVR_RESULT hangup",
                             lambda: self.varset(c1, "IVR_RESULT", "hangup"))
                self.agi_status = "HANGUP"
                return
            if key is not None and key in sc.valid_keys and sc.result is not None:
                self.bridge_variables(c1)
                self.stream(c1, "one-moment-please", '""', 1.0)
                self.caller_wait = {"caller": "20", "agent": "60"}[sc.hangup_by] if sc.operator else "10"
                return
            if key is not None and key in sc.valid_keys:
                q, topic = sc.queue or "", sc.topic or key
                self.ivr_queue, self.ivr_topic = q, topic
                self.agi(c1, f"SET VARIABLE IVR_QUEUE {q}", lambda: self.varset(c1, "IVR_QUEUE", q))
                self.agi(c1, f"SET VARIABLE IVR_TOPIC {topic}", lambda: self.varset(c1, "IVR_TOPIC", topic))
                self.agi(c1, f'VERBOSE "IVR: line {ln} topic {topic} -> queue {q}" 1')
                wait = {"caller": "20", "agent": "60"}[sc.hangup_by] if sc.operator else "10"
                self.stream(c1, "one-moment-please", '""', 1.0)
                self.caller_wait = wait
                return
            if key is not None:
                self.agi(c1, f'VERBOSE "IVR: invalid choice {key}" 1')
                self.stream(c1, "pbx-invalid", '""', 1.0)
                self.caller_step("Wait", "7")
            else:
                self.stream(c1, "please-try-again", '""', 1.0)
        self.agi(c1, 'VERBOSE "IVR: no valid choice, default queue" 1')
        if sc.result is not None:
            self.bridge_variables(c1)

    def bridge_variables(self, c1: Chan) -> None:
        """The end of an asterisk-bridge menu: IVR_RESULT goes last (see ivr.py)."""
        sc = self.sc
        self.ivr_topic, self.ivr_queue = sc.topic or "", sc.queue or ""
        for var, value in (("IVR_TOPIC", self.ivr_topic), ("IVR_QUEUE", self.ivr_queue),
                           ("IVR_AGE_GROUP", sc.age_group or ""), ("IVR_RESULT", sc.result or "")):
            shown = value or '""'
            self.agi(c1, f"SET VARIABLE {var} {shown}", lambda var=var, value=value: self.varset(c1, var, value))

    def self_service_end(self) -> None:
        """The dialplan hangs up after a self-service menu: ;1 first (by the system), then ;2."""
        sc, c1, c2 = self.sc, self.c1, self.c2
        self.h_extension()
        self.cel(c2, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
        self.cel(c2, "CHAN_END")
        self.cel(c2, "LINKEDID_END")
        self.cdr(c2, sc.name, "caller-sim", "", "Wait", "60", c2.start, c2.answer, "ANSWERED")
        self.chan_ev("HangupRequest", c2, ("Cause", "16"))
        self.hangup(c2, 16)
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")

    def caller_hangup_in_menu(self) -> None:
        c1, c2 = self.c1, self.c2
        self.caller_step("Hangup", "")
        self.cel(c2, "HANGUP", '{"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":""}')
        self.cel(c2, "CHAN_END")
        self.chan_ev("SoftHangupRequest", c2, ("Cause", "16"))
        self.chan_ev("HangupRequest", c1, ("Cause", "16"))
        self.hangup(c2, 16)
        self.cdr(c2, self.sc.name, "caller-sim", "", "Hangup", "", c2.start, c2.answer, "ANSWERED")
        self.device(f"Local/{self.sc.name}@caller-sim", "NOT_INUSE")

    def h_extension(self) -> None:
        """h runs on ;1 after the call; the ContactCenterCall UserEvent is the per-call summary."""
        sc, c1 = self.sc, self.c1
        ln = sc.line
        queue = self.ivr_queue
        if sc.menu == "hangup":
            self.varset(c1, "AGISTATUS", "HANGUP")
        self.chan_ev("SoftHangupRequest", c1, ("Cause", "16"))
        self.newexten(c1, "contact-center", "h", 1, "NoOp",
                      f"Hangup on line {ln}: AGISTATUS={self.agi_status} QUEUESTATUS=")
        self.newexten(c1, "contact-center", "h", 2, "UserEvent",
                      f"ContactCenterCall,Line: {ln},Queue: {queue},Topic: {self.ivr_topic},"
                      f"AgiStatus: {self.agi_status},QueueStatus: ,Cause: 16")
        self.emit("UserEvent", "user,all", c1.snap(), ("UserEvent", "ContactCenterCall"), ("Line", ln),
                  ("Queue", queue), ("Topic", self.ivr_topic), ("AgiStatus", self.agi_status),
                  ("QueueStatus", ""), ("Cause", "16"))
        if sc.menu in _NO_QUEUE:
            self.cdr(c1, "h", "contact-center", "", "UserEvent", self.events[-2][1][-1][1], c1.start, c1.answer,
                     "ANSWERED", f"line={ln}")
            self.cel(c1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
            self.cel(c1, "CHAN_END")
            if sc.menu == "hangup":
                self.cel(c1, "LINKEDID_END")
            self.hangup(c1, 16)
        if sc.menu == "hangup":
            self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")

    # queue ------------------------------------------------------------------------
    def queue_call(self, queue: str) -> None:
        sc, c1 = self.sc, self.c1
        ctx_exten, prio = self.queue_exten
        self.newexten(c1, "contact-center", ctx_exten, prio, "Queue", f"{queue},,,,300")
        if sc.menu == "queue":
            self.caller_step("Wait", getattr(self, "caller_wait", "60"))
        for var in ("ANSWEREDTIME", "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "QUEUEWAIT", "QUEUEWAIT_MS"):
            self.varset(c1, var, "")
        self.device(f"Queue:{queue}", "RINGING")
        self.chan_ev("QueueCallerJoin", c1, ("Queue", queue), ("Position", "1"), ("Count", "1"), priv="agent,all")
        self.chan_ev("MusicOnHoldStart", c1, ("Class", "default"))
        self.cel(c1, "STREAM_BEGIN", '{"class":"default"}')
        joined = self.t
        if sc.operator is None:
            self.abandon(queue, joined)  # rings the no-answer members itself until the caller gives up
            return
        self.t += sc.hold  # every member busy: the caller hears music only
        for op in sc.no_answer:
            m1, m2 = self.ring(queue, op, answers=False)
            self.t += 5.0
            self.ring_no_answer(queue, op, m1, m2)
            self.t += 1.0
        m1, m2 = self.ring(queue, sc.operator, answers=True)
        self.t += sc.answer_after
        self.connect(queue, sc.operator, m1, m2, joined)

    def ring(self, queue: str, op: Operator, answers: bool) -> tuple[Chan, Chan]:
        sc, c1 = self.sc, self.c1
        m1, m2 = self.ids.local_pair(op.exten, "agents", self.t, linkedid=c1.linkedid)
        self.cel(m1, "CHAN_START", app="", appdata="")
        self.chan_ev("Newchannel", m1)
        self.chan_ev("Newchannel", m2)
        for m in (m1, m2):
            m.cid_num, m.cid_name = sc.caller_number, sc.caller_name
        self.newexten(m1, "agents", op.exten, 1, "AppQueue", "(Outgoing Line)")
        self.chan_ev("NewCallerid", m1, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        self.varset(m1, "__CC_LINE", sc.line)
        self.varset(m1, "DIALEDPEERNUMBER", f"{op.exten}@agents/n")
        self.varset(m2, "DIALEDPEERNUMBER", f"{op.exten}@agents/n")
        self.varset(m2, "__CC_LINE", sc.line)
        m2.conn_num, m2.conn_name = sc.caller_number, sc.caller_name
        self.chan_ev("NewCallerid", m2, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))
        self.chan_ev("NewConnectedLine", m2)
        self.local_bridge(m1, m2, "agents", op.exten)
        m1.conn_num, m1.conn_name = sc.caller_number, sc.caller_name
        agent_dest = m1.snap("Dest")
        agent_dest[10] = ("DestExten", c1.exten)
        self.emit("AgentCalled", "agent,all", c1.snap(), agent_dest, ("Queue", queue), ("Interface", op.interface),
                  ("MemberName", op.name))
        dial_dest = m1.snap("Dest")
        dial_dest[5:7] = [("DestConnectedLineNum", "<unknown>"), ("DestConnectedLineName", "<unknown>")]
        self.emit("DialBegin", "call,all", c1.snap(), dial_dest, ("DialString", op.interface))
        note = "rung (queue member)" if answers else "rung but never answers"
        self.newexten(m2, "agents", op.exten, 1, "NoOp", f"Agent {op.exten} {note}")
        self.newexten(m2, "agents", op.exten, 2, "Ringing", "")
        m1.state = 5
        m1.exten = c1.exten
        self.chan_ev("Newstate", m1)
        self.newexten(m1, "agents", c1.exten, 1, "AppQueue", "(Outgoing Line)")
        self.chan_ev("NewConnectedLine", m1)
        self.newexten(m2, "agents", op.exten, 3, "Wait", "2" if answers else "120")
        self.cel(m2, "CHAN_START", app="", appdata="")
        self.member_status(queue, op, 2)
        self.device(f"Queue:{queue}_avail", "NOT_INUSE")
        self.device(f"Local/{op.exten}@agents", "INUSE")
        self.emit("DialState", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "RINGING"))
        return m1, m2

    def member_gone(self, m1: Chan, m2: Chan, op: Operator) -> None:
        self.chan_ev("HangupRequest", m2, ("Cause", "0"))
        self.chan_ev("SoftHangupRequest", m2, ("Cause", "16"))
        self.cdr(m2, op.exten, "agents", "", "Wait", "120", m2.start, None, "FAILED")
        for m in (m1, m2):
            self.cel(m, "HANGUP", '{"hangupcause":0,"hangupsource":"","dialstatus":""}')
            self.cel(m, "CHAN_END")
        self.hangup(m1, 0)
        self.hangup(m2, 0)

    def ring_no_answer(self, queue: str, op: Operator, m1: Chan, m2: Chan) -> None:
        c1 = self.c1
        self.emit("AgentRingNoAnswer", "agent,all", c1.snap(), m1.snap("Dest"), ("Queue", queue),
                  ("Interface", op.interface), ("MemberName", op.name), ("RingTime", "5000"))
        self.emit("DialEnd", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "NOANSWER"))
        self.emit("DialEnd", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "CANCEL"))
        self.member_gone(m1, m2, op)
        self.member_status(queue, op, 1)
        self.device(f"Local/{op.exten}@agents", "NOT_INUSE")
        self.device(f"Local/{op.exten}@agents", "NOT_INUSE")

    def connect(self, queue: str, op: Operator, m1: Chan, m2: Chan, joined: float) -> None:
        sc, c1, c2 = self.sc, self.c1, self.c2
        self.newexten(m2, "agents", op.exten, 4, "Answer", "")
        self.cel(m2, "ANSWER")
        m2.state = m1.state = 6
        m2.answer = m1.answer = self.t
        self.chan_ev("Newstate", m2)
        self.chan_ev("Newstate", m1)
        self.emit("DialEnd", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "ANSWER"))
        self.chan_ev("MusicOnHoldStop", c1)
        hold = int(self.t - joined)
        for c in (c1, m1):
            for var, val in (("MEMBERINTERFACE", op.interface), ("MEMBERNAME", op.name), ("MEMBERCALLS", "0"),
                             ("MEMBERLASTCALL", "0"), ("MEMBERPENALTY", "0"), ("MEMBERDYNAMIC", "0"),
                             ("MEMBERREALTIME", "0")):
                self.varset(c, var, val)
        for c in (c1, m1):
            self.varset(c, "QEHOLDTIME", str(hold))
            self.varset(c, "QEORIGINALPOS", "1")
        for c in (c1, m1):
            self.queue_vars(c, queue, 1, hold, 0, 0, 0)
        self.cel(m1, "ANSWER")
        self.cel(c1, "STREAM_END")
        self.device(f"Queue:{queue}", "NOT_INUSE")
        self.chan_ev("QueueCallerLeave", c1, ("Queue", queue), ("Position", "1"), ("Count", "0"), priv="agent,all")
        self.varset(c1, "QUEUEPOSITION", "1")
        self.device(f"Local/{op.exten}@agents", "INUSE")
        self.device(f"Local/{op.exten}@agents", "INUSE")
        self.varset(c1, "QUEUEWAIT", str(hold))
        self.varset(c1, "QUEUEWAIT_MS", str(int((self.t - joined) * 1000)))
        ring = int(sc.answer_after)
        self.emit("AgentConnect", "agent,all", c1.snap(), m1.snap("Dest"), ("Queue", queue),
                  ("Interface", op.interface), ("MemberName", op.name), ("HoldTime", str(hold)),
                  ("RingTime", str(ring)))
        bridge = str(uuid.UUID(int=int(self.t * 1000) << 64 | int(c1.uniqueid.split(".")[1])))
        bh = [("BridgeUniqueid", bridge), ("BridgeType", "basic"), ("BridgeTechnology", "simple_bridge"),
              ("BridgeCreator", "<unknown>"), ("BridgeName", "<unknown>")]

        def bridge_ev(name: str, n: int, c: Chan | None = None) -> None:
            self.emit(name, "call,all", bh, ("BridgeNumChannels", str(n)), ("BridgeVideoSourceMode", "none"),
                      c.snap() if c else [])
        bridge_ev("BridgeCreate", 0)
        bridge_ev("BridgeEnter", 0, m1)
        bridge_ev("BridgeEnter", 1, c1)
        self.varset(m1, "BRIDGEPEER", c1.name)
        self.varset(c1, "BRIDGEPEER", m1.name)
        extra = f'{{"bridge_id":"{bridge}","bridge_technology":"simple_bridge"}}'
        self.cel(m1, "BRIDGE_ENTER", extra)
        self.cel(c1, "BRIDGE_ENTER", extra)
        long_talk = sc.hangup_by == "caller"
        self.newexten(m2, "agents", op.exten, 5, "GotoIf", f"{int(long_talk)}?long")
        answered_at = self.t
        self.t += sc.talk
        talk = int(self.t - answered_at)
        q_after = (queue, 0, hold, talk if not long_talk else 0, 1 if not long_talk else 0, 0)
        if long_talk:
            self.newexten(m2, "agents", op.exten, 8, "Wait", "60")
            self.caller_step("Hangup", "")
            self.chan_ev("SoftHangupRequest", c2, ("Cause", "16"))
            self.chan_ev("HangupRequest", c1, ("Cause", "16"))
            self.varset(c1, "BRIDGEPEER", "")
            self.varset(m1, "BRIDGEPEER", "")
            bridge_ev("BridgeLeave", 1, c1)
            self.after_queue_vars(q_after, answered_at, joined)
            self.cel(c1, "BRIDGE_EXIT", extra)
            self.h_extension()
            bridge_ev("BridgeLeave", 0, m1)
            bridge_ev("BridgeDestroy", 0)
            self.cel(m1, "BRIDGE_EXIT", extra)
            self.cdr(c2, sc.name, "caller-sim", "", "Hangup", "", c2.start, c2.answer, "ANSWERED")
            self.cel(c2, "HANGUP", '{"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":""}')
            self.cel(c2, "CHAN_END")
            self.agent_complete(queue, op, m1, hold, talk, "caller")
            self.hangup(c2, 16)
            self.caller_cdrs(m1, queue)
            self.cel(c1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":"ANSWER"}')
            self.cel(c1, "CHAN_END")
            self.hangup(c1, 16)
            self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")
            self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")
            self.cdr(m2, op.exten, "agents", "", "Wait", "60", m2.start, m2.answer, "ANSWERED")
            self.cel(m1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
            self.cel(m1, "CHAN_END")
            self.cel(m2, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
            self.cel(m2, "CHAN_END")
            self.cel(m2, "LINKEDID_END")
            self.chan_ev("HangupRequest", m2, ("Cause", "16"))
            self.hangup(m1, 16)
            self.chan_ev("SoftHangupRequest", m2, ("Cause", "16"))
            self.hangup(m2, 16)
            self.device(f"Local/{op.exten}@agents", "NOT_INUSE")
            self.device(f"Local/{op.exten}@agents", "NOT_INUSE")
            self.member_status(queue, op, 1, 1, int(self.t))
            return
        self.newexten(m2, "agents", op.exten, 6, "Wait", str(int(sc.talk)))
        self.newexten(m2, "agents", op.exten, 7, "Hangup", "")
        self.chan_ev("SoftHangupRequest", m2, ("Cause", "16"))
        self.chan_ev("HangupRequest", m1, ("Cause", "16"))
        self.agent_complete(queue, op, m1, hold, talk, "agent")
        self.varset(m1, "BRIDGEPEER", "")
        self.cel(m2, "HANGUP", '{"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":""}')
        self.cel(m2, "CHAN_END")
        self.hangup(m2, 16)
        self.cdr(m2, op.exten, "agents", "", "Hangup", "", m2.start, m2.answer, "ANSWERED")
        self.varset(c1, "BRIDGEPEER", "")
        bridge_ev("BridgeLeave", 1, m1)
        self.cel(m1, "BRIDGE_EXIT", extra)
        self.cel(c1, "BRIDGE_EXIT", extra)
        self.cel(m1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
        self.cel(m1, "CHAN_END")
        bridge_ev("BridgeLeave", 0, c1)
        self.hangup(m1, 16)
        bridge_ev("BridgeDestroy", 0)
        self.after_queue_vars(q_after, answered_at, joined)
        self.device(f"Local/{op.exten}@agents", "NOT_INUSE")
        self.device(f"Local/{op.exten}@agents", "NOT_INUSE")
        self.member_status(queue, op, 1, 1, int(self.t))
        self.device(f"Queue:{queue}_avail", "NOT_INUSE")
        self.cel(c1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":"ANSWER"}')
        self.cel(c1, "CHAN_END")
        self.cel(c2, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
        self.cel(c2, "CHAN_END")
        self.cel(c2, "LINKEDID_END")
        self.caller_cdrs(m1, queue)
        self.h_extension()
        self.cdr(c2, sc.name, "caller-sim", "", "Wait", self.c2.appdata, c2.start, c2.answer, "ANSWERED")
        self.chan_ev("HangupRequest", c2, ("Cause", "16"))
        self.hangup(c1, 16)
        self.chan_ev("SoftHangupRequest", c2, ("Cause", "16"))
        self.hangup(c2, 16)
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")

    def after_queue_vars(self, q_after, answered_at: float, joined: float) -> None:
        c1 = self.c1
        self.queue_vars(c1, *q_after)
        ans_ms = int((self.t - answered_at) * 1000)
        dial_ms = int((self.t - joined) * 1000)
        self.varset(c1, "ANSWEREDTIME", str(ans_ms // 1000))
        self.varset(c1, "ANSWEREDTIME_MS", str(ans_ms))
        self.varset(c1, "DIALEDTIME", str(dial_ms // 1000))
        self.varset(c1, "DIALEDTIME_MS", str(dial_ms))
        self.queue_vars(c1, *q_after)

    def agent_complete(self, queue: str, op: Operator, m1: Chan, hold: int, talk: int, reason: str) -> None:
        self.emit("AgentComplete", "agent,all", self.c1.snap(), m1.snap("Dest"), ("Queue", queue),
                  ("Interface", op.interface), ("MemberName", op.name), ("HoldTime", str(hold)),
                  ("TalkTime", str(talk)), ("Reason", reason))

    def caller_cdrs(self, m1: Chan | None, queue: str, rings: int | None = None) -> None:
        """One Cdr per ring-out of the caller leg, then the h segment (M11)."""
        sc, c1 = self.sc, self.c1
        exten, _ = self.queue_exten
        uf = f"line={sc.line}"
        for _ in range(len(sc.no_answer) if rings is None else rings):
            self.cdr(c1, exten, "contact-center", "", "Queue", f"{queue},,,,300", c1.start, c1.answer,
                     "NO ANSWER", uf)
        if m1 is not None:
            self.cdr(c1, exten, "contact-center", m1.name, "Queue", f"{queue},,,,300", c1.start, c1.answer,
                     "ANSWERED", uf)
        self.cdr(c1, "h", "contact-center", "", "UserEvent", "", c1.start, c1.answer, "ANSWERED", uf)

    def abandon(self, queue: str, joined: float) -> None:
        sc, c1, c2 = self.sc, self.c1, self.c2
        assert sc.abandon_after is not None
        end = joined + sc.abandon_after
        rung = 0
        while True:
            op = sc.no_answer[rung % len(sc.no_answer)] if sc.no_answer else None
            if op is None:
                break
            m1, m2 = self.ring(queue, op, answers=False)
            rung += 1
            if self.t + 5.0 >= end:
                break
            self.t += 5.0
            self.ring_no_answer(queue, op, m1, m2)
            self.t += 1.0
        self.t = max(self.t, end)
        self.caller_step("Hangup", "")
        self.cel(c2, "HANGUP", '{"hangupcause":16,"hangupsource":"dialplan/builtin","dialstatus":""}')
        self.cdr(c2, sc.name, "caller-sim", "", "Hangup", "", c2.start, c2.answer, "ANSWERED")
        self.chan_ev("SoftHangupRequest", c2, ("Cause", "16"))
        self.cel(c2, "CHAN_END")
        self.chan_ev("HangupRequest", c1, ("Cause", "16"))
        self.chan_ev("MusicOnHoldStop", c1)
        if op is not None:
            self.emit("DialEnd", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "CANCEL"))
            self.emit("DialEnd", "call,all", c1.snap(), m1.snap("Dest"), ("DialStatus", "CANCEL"))
        self.hangup(c2, 16)
        self.cel(c1, "STREAM_END")
        if op is not None:
            self.cel(m1, "HANGUP", '{"hangupcause":0,"hangupsource":"","dialstatus":""}')
            self.cel(m1, "CHAN_END")
            self.chan_ev("HangupRequest", m2, ("Cause", "0"))
            self.hangup(m1, 0)
        self.cel(c1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
        self.cel(c1, "CHAN_END")
        hold = int(self.t - joined)
        dial_ms = int((self.t - joined) * 1000)
        self.varset(c1, "QUEUEWAIT", str(hold))
        self.varset(c1, "QUEUEWAIT_MS", str(hold * 1000))
        self.varset(c1, "DIALEDTIME", str(dial_ms // 1000))
        self.varset(c1, "DIALEDTIME_MS", str(dial_ms))
        self.varset(c1, "ANSWEREDTIME", "0")
        self.varset(c1, "ANSWEREDTIME_MS", "0")
        self.varset(c1, "ABANDONED", "TRUE")
        self.queue_vars(c1, queue, 1, 0, 0, 0, 0)
        self.chan_ev("QueueCallerAbandon", c1, ("Queue", queue), ("Position", "1"), ("OriginalPosition", "1"),
                     ("HoldTime", str(hold)), priv="agent,all")
        self.queue_vars(c1, queue, 1, 0, 0, 0, 1)
        self.device(f"Queue:{queue}", "NOT_INUSE")
        self.chan_ev("QueueCallerLeave", c1, ("Queue", queue), ("Position", "1"), ("Count", "0"), priv="agent,all")
        self.varset(c1, "QUEUEPOSITION", "1")
        self.h_extension()
        self.hangup(c1, 16)
        self.caller_cdrs(None, queue, rung)
        if op is not None:
            self.cel(m2, "HANGUP", '{"hangupcause":0,"hangupsource":"","dialstatus":""}')
            self.cel(m2, "CHAN_END")
            self.cel(m2, "LINKEDID_END")
            self.chan_ev("SoftHangupRequest", m2, ("Cause", "16"))
            self.hangup(m2, 0)
            self.cdr(m2, op.exten, "agents", "", "Wait", "120", m2.start, None, "FAILED")
            self.member_status(queue, op, 1)
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")
        self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")


def call_events(scenario: CallScenario, start_time: float, ids: Ids | None = None) -> list[tuple[float, Headers]]:
    """All AMI events of one call as (simulated epoch time, ordered headers). Pure."""
    return _Call(scenario, start_time, ids or Ids()).build()


async def play_call(server: AMIServer, scenario: CallScenario, start_time: float, speed: float = 1.0,
                    ids: Ids | None = None) -> int:
    """Broadcast a call's events; waits (simulated gap / speed) between them.

    speed=float('inf') sends everything at once. The Timestamp header (timestampevents)
    carries the simulated time, so a day compresses into seconds. Returns events sent.
    """
    if speed <= 0:
        raise ScenarioError(f"speed must be > 0, got {speed!r}")
    events = call_events(scenario, start_time, ids)
    await play_events(server, events, speed, since=start_time)
    return len(events)


async def play_events(server: AMIServer, events: list[tuple[float, Headers]], speed: float = 1.0, *,
                      since: float | None = None) -> int:
    """Broadcast events built by ``call_events`` (or part of them), paced like ``play_call``; the
    first waits from ``since`` (simulated time), if given.

    Returns how many deliveries were made (events x logged-in sessions that received them).
    """
    if speed <= 0:
        raise ScenarioError(f"speed must be > 0, got {speed!r}")
    delivered = 0
    prev = since if since is not None else events[0][0] if events else 0.0
    for t, headers in events:
        gap = (t - prev) / speed
        if gap > 0.0005:
            await server.drain()
            await asyncio.sleep(gap)
        prev = t
        delivered += server.broadcast(headers, timestamp=t)
    await server.drain()
    return delivered
