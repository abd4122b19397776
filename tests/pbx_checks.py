"""Three views of one call on the real PBX, and the check that they agree.

- What the dialplan saw: the shipped ``h`` extension's ``UserEvent(ContactCenterCall,...)``
  (Line, Topic, Queue, Result, AgeGroup, AgiStatus), read on the tests' own AMI connection.
- What the bridge stored: its menu session and its call record with the queue legs.
- What Asterisk itself logged: queue_log (queues entered, operator, wait, talk, how it ended),
  read by the tests' own parser in ``pbx_calls.py``, never the bridge's.

Waits and talk times in queue_log are whole seconds cut from Asterisk's clock, the bridge's come
from AMI event timestamps: they agree within a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pbx_bridge import call_row, menu_session, operator_pauses, operator_sessions, ring_attempts
from pbx_calls import Call, QueueLogLine

SHORT_ABANDON = 5.0  # the example configuration's [ami] short_abandon
#: the variables the bridge sets for the dialplan -> their keys in the h extension's ContactCenterCall
IVR_VARIABLES = {"IVR_RESULT": "Result", "IVR_TOPIC": "Topic", "IVR_QUEUE": "IvrQueue", "IVR_AGE_GROUP": "AgeGroup"}


@dataclass
class QueueLogCall:
    """One call as queue_log tells it."""

    callid: str
    entered: list[str] = field(default_factory=list)  # the queues it waited in (ENTERQUEUE); a queue that
    # refused the caller (nobody logged in) writes no line at all
    agent: str | None = None
    wait: int | None = None  # CONNECT holdtime or ABANDON/EXIT* wait
    talk: int | None = None
    ended_by: str | None = None  # caller | operator (COMPLETECALLER / COMPLETEAGENT)
    abandoned: bool = False
    exited: str | None = None  # queue_timeout (EXITWITHTIMEOUT) | queue_empty (EXITEMPTY)

    @property
    def outcome(self) -> str | None:
        """The bridge's outcome name for the queue part; None when the call never waited in a queue."""
        if self.agent is not None:
            return "answered"
        if self.abandoned:
            return "short_abandon" if self.wait is not None and self.wait <= SHORT_ABANDON else "abandoned_queue"
        return self.exited

    @property
    def line(self) -> str:
        """The line a contact-center queue belongs to (``cc-<line>-...``)."""
        return self.entered[0].split("-")[1] if self.entered else ""


def queue_log_call(callid: str, lines: list[QueueLogLine]) -> QueueLogCall:
    call = QueueLogCall(callid)
    for line in (x for x in lines if x.callid == callid):
        if line.event == "ENTERQUEUE":
            call.entered.append(line.queue)
        elif line.event == "CONNECT":
            call.agent, call.wait = line.agent, int(line.data[0])
        elif line.event in ("COMPLETECALLER", "COMPLETEAGENT"):
            call.talk = int(line.data[1])
            call.ended_by = "caller" if line.event == "COMPLETECALLER" else "operator"
        elif line.event == "ABANDON":
            call.abandoned, call.wait = True, int(line.data[2])
        elif line.event in ("EXITWITHTIMEOUT", "EXITEMPTY"):
            call.exited = "queue_timeout" if line.event == "EXITWITHTIMEOUT" else "queue_empty"
            call.wait = int(line.data[2])
    return call


def dialplan_saw(call: Call) -> dict[str, str]:
    seen = call.user_event("ContactCenterCall")
    assert seen is not None, f"{call.name}: the h extension reported nothing (no ContactCenterCall UserEvent)"
    return seen


def dialplan_queues(call: Call) -> list[str]:
    """The queues the dialplan sent the call to, in order (CC_QUEUE before each Queue())."""
    return [e["Value"] for e in call.named("VarSet", Variable="CC_QUEUE", Uniqueid=call.menu_uniqueid) if e["Value"]]


def ending(call: Call) -> list[tuple[str, str, str]]:
    """How the call ended on AMI, in order: (event, channel, timestamp), for failure messages."""
    names = {"AgentComplete", "HangupRequest", "SoftHangupRequest", "Hangup", "BridgeLeave"}
    return [(e["Event"], e.get("Channel") or e.get("DestChannel", ""), e.get("Timestamp", "")) for e in call.ami.events
            if e.get("Event") in names and call.linkedid in (e.get("Linkedid"), e.get("DestLinkedid"))]


def assert_agree(call: Call, session: dict | None, row: dict | None, lines: list[QueueLogLine]) -> QueueLogCall:
    """The dialplan, the bridge and queue_log tell the same story of ``call``; returns queue_log's."""
    name = call.name
    seen = dialplan_saw(call)
    logged = queue_log_call(call.callid, lines)
    # the IVR_* variables on AMI (the last VarSet of each on the channel that ran the dialplan) are
    # what the h extension reported
    variables = {variable: call.final_variable(variable) or "" for variable in IVR_VARIABLES}
    assert variables == {variable: seen[key] for variable, key in IVR_VARIABLES.items()}, (
        f"{name}: {variables} vs {seen}")
    assert row is not None, f"{name}: the bridge stored no call record for {call.linkedid}"
    # the dialplan saw what the menu decided
    if session is not None:
        assert (session["linkedid"], session["line"], session["caller_number"]) == (
            call.linkedid, call.line, call.caller_number), f"{name}: menu session {session}"
        assert (seen["Result"], seen["Topic"], seen["AgeGroup"]) == (
            session["result"], session["topic"] or "", session["age_group"]), f"{name}: dialplan {seen} vs menu"
        if session["queue"] and seen["Result"] != "hangup":
            assert dialplan_queues(call)[:1] == [session["queue"]], f"{name}: the menu chose {session['queue']}"
    # the call record says what the dialplan saw
    assert seen["Line"] == call.line, f"{name}: the dialplan's line {seen['Line']}"
    assert row["line"] == call.line, f"{name}: stored line {row['line']!r}"
    assert row["caller_number"] == call.caller_number, name
    if row["source"] == "ami":
        assert (row["agi_status"] or "") == seen["AgiStatus"], f"{name}: AGISTATUS {row['agi_status']} vs {seen}"
    if row["source"] == "ami" or session is not None:  # rebuilt from queue_log: its menu session tells
        assert (row["ivr_result"] or "", row["topic"] or "", row["ivr_queue"] or "", row["age_group"]) == (
            seen["Result"], seen["Topic"], seen["IvrQueue"], seen["AgeGroup"] or "unknown"), (
            f"{name}: stored {row} vs {seen}")
    # the queues Asterisk logged are the bridge's queue legs and the dialplan's last queue
    assert [leg["queue"] for leg in row["legs"]] == logged.entered, f"{name}: legs vs queue_log {logged.entered}"
    assert row["queue"] == (logged.entered[-1] if logged.entered else None), name
    assert set(logged.entered) <= set(dialplan_queues(call)), f"{name}: {logged.entered} vs the dialplan's"
    if logged.entered:
        assert seen["Queue"] == logged.entered[-1], f"{name}: the dialplan queued on {seen['Queue']}"
    # outcome, operator, wait and talk
    if logged.outcome is not None:
        assert row["outcome"] == logged.outcome, f"{name}: stored {row['outcome']}, queue_log says {logged.outcome}"
        assert row["queued_seconds"] is not None and abs(row["queued_seconds"] - logged.wait) <= 1.0, (
            f"{name}: waited {row['queued_seconds']} s, queue_log {logged.wait} s")
    if logged.agent is not None:
        connects = call.named("AgentConnect")
        assert connects and connects[-1]["MemberName"] == logged.agent, f"{name}: AMI AgentConnect {connects}"
        answered = [leg for leg in row["legs"] if leg["answered_at"]]
        assert row["operator"] == logged.agent and [leg["answered_by"] for leg in answered] == [logged.agent], name
        assert row["talk_seconds"] is not None and abs(row["talk_seconds"] - logged.talk) <= 1.0, (
            f"{name}: talked {row['talk_seconds']} s, queue_log {logged.talk} s")
        assert row["hangup_by"] == logged.ended_by, (
            f"{name}: hangup_by {row['hangup_by']}, queue_log {logged.ended_by}; AMI: {ending(call)}")
        completed = [leg["completed_by"] for leg in answered]
        assert completed == [{"caller": "caller", "operator": "agent"}[logged.ended_by]], (
            f"{name}: the leg completed by {completed}, queue_log {logged.ended_by}")
    else:
        assert row["operator"] is None and row["talk_seconds"] is None, name
    return logged


@dataclass
class Played:
    """Calls that were played, with the bridge's database and their queue_log lines."""

    calls: dict[str, Call]
    db: Path
    lines: list[QueueLogLine]
    bridge_log: str

    def session(self, name: str) -> dict | None:
        return menu_session(self.db, self.calls[name].linkedid)

    def row(self, name: str) -> dict | None:
        return call_row(self.db, self.calls[name].linkedid)

    def operator_sessions(self) -> list[dict]:
        """Every operator session the bridge stored."""
        return operator_sessions(self.db)

    def pauses(self, interface: str) -> list[dict]:
        """The operator's pauses the bridge stored, oldest first."""
        return operator_pauses(self.db, interface)

    def attempts(self, name: str) -> list[dict]:
        """Every ring of the call's queue legs the bridge stored."""
        return ring_attempts(self.db, self.calls[name].linkedid)

    def logged(self, name: str) -> QueueLogCall:
        return queue_log_call(self.calls[name].callid, self.lines)

    def view(self, name: str) -> tuple[Call, dict | None, dict, QueueLogCall]:
        """The call as the dialplan (AMI), the bridge (menu session, call record) and queue_log saw it."""
        return self.calls[name], self.session(name), self.row(name), self.logged(name)

    def agree(self, name: str) -> None:
        """The three views agree."""
        assert_agree(self.calls[name], self.session(name), self.row(name), self.lines)
