"""The queue half of a simulated call's AMI events: joining the queue, ringing members who do not
answer, the operator who answers and the talk, or the caller who gives up.

Matches the captures ``tests/fixtures/asterisk/ami/ami-cc-*.raw`` event by event within each
channel (``QueueCallerLeave`` before ``AgentConnect``, ``RingTime`` in ms for
``AgentRingNoAnswer`` and in s for ``AgentConnect``, one ``Cdr`` per ring-out), and, with the
shipped template's auto-pause, ``tests/fixtures/asterisk/ami/members/auto-pause-ring-out.raw``: a
``QueueMemberPause`` (``Auto-Pause``) right after the ring-out, the unpause when the operator notices.
"""

from __future__ import annotations

import uuid

from .ami_emit import Chan
from .ami_menu import MenuPhases
from .scenario import Operator


class QueuePhases(MenuPhases):
    """The caller in the queue: members rung, answered and talked to, or abandoned."""

    def queue_call(self, queue: str) -> None:
        sc, c1 = self.sc, self.c1
        ctx_exten, prio = self.queue_exten
        self.newexten(c1, "contact-center", ctx_exten, prio, "Queue", f"{queue},,,,300")
        if sc.menu == "queue":
            self.caller_step("Wait", self.caller_wait)
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
        if self.sc.auto_pause > 0:  # the queue pauses him at once; he unpauses when he notices
            self.device(f"Queue:{queue}_pause_{op.interface}", "INUSE")
            self.member_event("QueueMemberPause", queue, op, paused=True, reason="Auto-Pause", status=2)

            def unpause() -> None:
                self.device(f"Queue:{queue}_pause_{op.interface}", "NOT_INUSE")
                self.member_event("QueueMemberPause", queue, op, paused=False)

            self.at(self.t + self.sc.auto_pause, unpause)
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

