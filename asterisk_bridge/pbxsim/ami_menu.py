"""The menu half of a simulated call's AMI events: the call comes in, the contact-center dialplan
answers, the AGI menu runs (or FastAGI is down), and the call ends there or goes on to a queue.

Matches the captures ``tests/fixtures/asterisk/ami/ami-cc-*.raw`` event by event within each
channel; ``ami_queue.py`` continues from where this leaves the call.
"""

from __future__ import annotations

import functools

from .ami_emit import Chan, EventWriter
from .scenario import NO_QUEUE


class MenuPhases(EventWriter):
    """Origination, the contact-center dialplan, the AGI menu and the ``h`` extension."""

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
            self.newexten(c1, "contact-center", ln, 7, "NoOp", "AGI done: AGISTATUS=FAILURE IVR_QUEUE=")
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
                self.agi(c1, f"SET VARIABLE IVR_QUEUE {q}", functools.partial(self.varset, c1, "IVR_QUEUE", q))
                self.agi(c1, f"SET VARIABLE IVR_TOPIC {topic}", functools.partial(self.varset, c1, "IVR_TOPIC", topic))
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
            self.agi(c1, f"SET VARIABLE {var} {shown}", functools.partial(self.varset, c1, var, value))

    def self_service_end(self) -> None:
        """The dialplan hangs up after a self-service menu: ;1 first (by the system), then ;2."""
        sc, c2 = self.sc, self.c2
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
        if sc.menu in NO_QUEUE:
            self.cdr(c1, "h", "contact-center", "", "UserEvent", self.events[-2][1][-1][1], c1.start, c1.answer,
                     "ANSWERED", f"line={ln}")
            self.cel(c1, "HANGUP", '{"hangupcause":16,"hangupsource":"","dialstatus":""}')
            self.cel(c1, "CHAN_END")
            if sc.menu == "hangup":
                self.cel(c1, "LINKEDID_END")
            self.hangup(c1, 16)
        if sc.menu == "hangup":
            self.device(f"Local/{sc.name}@caller-sim", "NOT_INUSE")

