"""The call tracker and the queue_log parser against the real Asterisk 22 captures."""

from __future__ import annotations

import json
import random

import pytest
from helpers import FIXTURES, read_transcript

from asterisk_bridge.ami.frames import Frame, FrameParser, parse_frames
from asterisk_bridge.calls.errors import QueueLogError
from asterisk_bridge.calls.queue_log import (
    fill_record,
    parse_line,
    parse_queue_log,
    queue_log_calls,
    record_from_queue_log,
)
from asterisk_bridge.calls.model import CallRecord
from asterisk_bridge.calls.members import MemberTracker
from asterisk_bridge.calls.tracker import CallTracker

AMI = FIXTURES / "ami"
BASE = 1795699000.0  # transcript seconds are relative; any epoch works for durations


def stamped_from_transcript(name: str) -> list[tuple[Frame, float]]:
    """Messages of a .txt capture, each with the time its last line was read."""
    parser = FrameParser()
    out = []
    for rec in read_transcript(AMI / name).records:
        if rec.direction == "<":
            out.extend((frame, BASE + rec.t) for frame in parser.feed(rec.payload.encode()))
    return out


def stamped_from_raw(path, start=BASE, step=0.001) -> list[tuple[Frame, float]]:
    return [(f, start + i * step) for i, f in enumerate(parse_frames(path.read_bytes()))]


def run(stamped, tracker=None):
    tracker = tracker or CallTracker()
    updates = []
    for frame, at in stamped:
        updates.extend(tracker.feed(frame, at))
    finished = {u.record.linkedid: u.record for u in updates if u.kind == "finished"}
    return tracker, updates, finished


def time_of(stamped, event, *, nth=0, **match) -> float:
    """When the nth message `event` whose keys match arrived (Timestamp if it has one)."""
    hits = []
    for frame, at in stamped:
        if frame.get("Event") == event and all(frame.get(k) == v for k, v in match.items()):
            hits.append(float(frame["Timestamp"]) if "Timestamp" in frame else at)
    return hits[nth]


# ------------------------------------------------------------------ frames


def test_frames_split_anywhere_and_keep_utf8():
    data = (AMI / "ami-cc-topic2.raw").read_bytes()
    whole = parse_frames(data)
    rng = random.Random(7)
    parser = FrameParser()
    pieces = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 300)
        pieces.extend(parser.feed(data[pos : pos + step]))
        pos += step
    assert [f.pairs for f in pieces] == [f.pairs for f in whole]
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert whole[0]["response"] == "Success"
    names = {f.get("CallerIDName") for f in whole}
    assert "Иван Петров" in names


def test_frames_repeated_keys_and_empty_values():
    data = (AMI / "ami-actions.raw").read_bytes()
    frames = parse_frames(data)
    command = next(f for f in frames if len(f.getall("Output")) > 1)
    assert command["output"] == "\n".join(command.getall("OUTPUT"))
    empty = next(f for f in frames if "AccountCode" in f)
    assert empty["accountcode"] == ""
    assert list(empty)[0] in ("Event", "Response")


def test_frames_bad_utf8_never_raises():
    frames = parse_frames(b"Asterisk Call Manager/11.0.0\r\nEvent: X\r\nCallerIDName: \xff\xfe\r\n\r\n")
    assert frames[0]["CallerIDName"] == "\ufffd\ufffd"


# --------------------------------------------------------- single captures


def test_topic2_with_timestamps_field_by_field():
    stamped = stamped_from_raw(AMI / "timestamps" / "ami-cc-topic2.raw")
    tracker, updates, finished = run(stamped)
    assert list(finished) == ["1795700358.0"]
    rec = finished["1795700358.0"]
    assert rec.uniqueid == "1795700358.0"
    assert rec.channel == "Local/topic2@caller-sim-00000000;1"
    assert rec.line == "122"
    assert (rec.caller_number, rec.caller_name) == ("79161234567", "Иван Петров")
    assert rec.started_at == 1795700358.471911  # Newchannel of ;1
    assert rec.ended_at == 1795700380.941409  # Hangup of ;1
    assert (rec.ivr_queue, rec.ivr_topic, rec.agi_status) == ("housing", "2", "SUCCESS")
    assert len(rec.legs) == 1
    leg = rec.legs[0]
    assert leg.queue == "housing" and leg.position == 1
    assert leg.joined_at == 1795700362.162090
    # QueueCallerLeave 1795700370.168085 comes before AgentConnect 1795700370.168120
    assert leg.left_at == 1795700370.168085
    assert leg.answered_at == 1795700370.168120
    assert round(leg.wait_seconds) == 8 and leg.hold_time == 8
    assert leg.operators_tried == ["Оператор 2001 (не отвечает)", "Оператор 1002"]
    assert [a.result for a in leg.attempts] == ["noanswer", "answered"]
    assert leg.attempts[0].ring_seconds == 5.0  # RingTime 5000 ms
    assert leg.attempts[1].ring_seconds == 2.0 and leg.ring_time == 2  # RingTime 2 s
    assert (leg.answered_by, leg.answered_interface) == ("Оператор 1002", "Local/1002@agents/n")
    assert leg.talk_time == 10 and leg.completed_by == "caller"
    assert leg.talk_seconds == pytest.approx(1795700380.940797 - 1795700370.168120)
    assert rec.queue == "housing"
    assert rec.operator == "Оператор 1002"
    assert rec.operator_interface == "Local/1002@agents/n"
    assert round(rec.queued_seconds) == 8 and round(rec.talk_seconds) == 11
    assert rec.answered_at == 1795700370.168120
    assert (rec.hangup_by, rec.hangup_cause, rec.hangup_cause_text) == ("caller", 16, "Normal Clearing")
    assert rec.outcome == "answered" and rec.complete
    kinds = [u.kind for u in updates]
    assert kinds[0] == "started" and kinds.count("started") == 1 and kinds.count("finished") == 1
    assert tracker.active() == []


def test_abandon_with_timestamps():
    stamped = stamped_from_raw(AMI / "timestamps" / "ami-cc-abandon.raw")
    _, _, finished = run(stamped)
    rec = finished["1795700382.6"]
    leg = rec.legs[0]
    assert leg.queue == "social" and leg.abandoned and leg.left_reason == "abandoned"
    assert leg.wait_seconds == pytest.approx(1795700395.412090 - 1795700386.643840)
    assert leg.hold_time == 9 and (leg.abandon_position, leg.original_position) == (1, 1)
    assert leg.operators_tried == ["Оператор 2002 (не отвечает)"] * 2
    assert [a.result for a in leg.attempts] == ["noanswer", None]  # 2nd ring cut by the abandon
    assert rec.answered_at is None and rec.operator is None and rec.talk_seconds is None
    assert rec.outcome == "abandoned_queue"
    assert rec.hangup_by == "caller" and rec.hangup_cause == 16
    # the same call with a 10 s threshold counts as a short abandon
    _, _, finished = run(stamped, CallTracker(short_abandon=10.0))
    assert finished["1795700382.6"].outcome == "short_abandon"


@pytest.mark.parametrize(
    "name, linkedid, line, queue, operator, outcome, hangup_by, extra",
    [
        ("ami-cc-topic2.txt", "1795699537.6", "122", "housing", "Оператор 1002", "answered", "caller",
         {"ivr_topic": "2", "agi_status": "SUCCESS"}),
        ("ami-cc-invalid-then-valid.txt", "1795699561.12", "117", "gov", "Оператор 1001", "answered", "operator",
         {"ivr_topic": "1", "ivr_queue": "gov"}),
        ("ami-cc-timeout.txt", "1795699582.16", "122", "default", "Оператор 1000", "answered", "operator",
         {"ivr_queue": None, "ivr_topic": None}),
        ("ami-cc-hangup-in-menu.txt", "1795699609.20", "122", None, None, "abandoned_menu", "caller",
         {"ivr_result": "hangup", "agi_status": "HANGUP"}),
        ("ami-cc-abandon.txt", "1795699613.22", "122", "social", None, "abandoned_queue", "caller",
         {"ivr_queue": "social"}),
        ("ami-cc-bridge-down.txt", "1795699739.58", "122", "default", "Оператор 1000", "answered", "operator",
         {"agi_status": "FAILURE", "ivr_queue": None}),
    ],
)
def test_capture_records(name, linkedid, line, queue, operator, outcome, hangup_by, extra):
    stamped = stamped_from_transcript(name)
    tracker, updates, finished = run(stamped)
    assert list(finished) == [linkedid]  # one call, never the Local halves or members
    rec = finished[linkedid]
    assert rec.uniqueid == linkedid and rec.channel.endswith(";1")
    assert (rec.line, rec.queue, rec.operator, rec.outcome, rec.hangup_by) == (line, queue, operator, outcome, hangup_by)
    assert (rec.caller_number, rec.caller_name) == ("79161234567", "Иван Петров")
    assert (rec.hangup_cause, rec.hangup_cause_text) == (16, "Normal Clearing")
    for key, value in extra.items():
        assert getattr(rec, key) == value, key
    assert rec.ended_at == time_of(stamped, "Hangup", Uniqueid=linkedid)
    assert rec.complete and tracker.active() == []
    if queue is None:
        assert rec.legs == [] and rec.queued_seconds is None
        return
    (leg,) = rec.legs
    joined = time_of(stamped, "QueueCallerJoin", Uniqueid=linkedid)
    left = time_of(stamped, "QueueCallerLeave", Uniqueid=linkedid)
    if operator is not None:
        connect = [f for f, _ in stamped if f.get("Event") == "AgentConnect"][0]
        complete = [f for f, _ in stamped if f.get("Event") == "AgentComplete"][0]
        assert leg.wait_seconds == pytest.approx(left - joined)
        assert abs(leg.wait_seconds - int(connect["HoldTime"])) < 1
        assert leg.answered_interface == connect["Interface"]
        answered = time_of(stamped, "AgentConnect", Uniqueid=linkedid)
        done = time_of(stamped, "AgentComplete", Uniqueid=linkedid)
        assert rec.talk_seconds == pytest.approx(done - answered)
        assert abs(rec.talk_seconds - int(complete["TalkTime"])) < 1
        assert leg.completed_by == {"caller": "caller", "operator": "agent"}[hangup_by]
    else:
        abandoned = time_of(stamped, "QueueCallerAbandon", Uniqueid=linkedid)
        assert leg.abandoned and leg.wait_seconds == pytest.approx(abandoned - joined)
        assert abs(leg.wait_seconds - leg.hold_time) < 1


def test_bridge_down_line_from_exten_before_fallback():
    # No IVR_LINE there: the line comes from the Exten the caller entered with
    # (later events show Exten=bridge-down and h).
    stamped = [(f, t) for f, t in stamped_from_transcript("ami-cc-bridge-down.txt")
               if f.get("UserEvent") not in ("BridgeDown", "ContactCenterCall")]
    _, _, finished = run(stamped)
    assert finished["1795699739.58"].line == "122"


# -------------------------------------------------------------- concurrent


def test_eight_interleaved_calls_match_calls_json_and_queue_log():
    stamped = stamped_from_raw(AMI / "concurrent" / "ami-8-calls.raw")
    tracker, updates, finished = run(stamped)
    expected = json.loads((AMI / "concurrent" / "calls-8.json").read_text())
    assert sorted(finished) == sorted(c["linkedid"] for c in expected)
    assert sum(u.kind == "started" for u in updates) == 8
    log_calls = queue_log_calls(parse_queue_log((AMI / "concurrent" / "queue_log-8-calls").read_text()))
    for call in expected:
        rec = finished[call["linkedid"]]
        assert rec.channel == call["caller_channel"]
        assert rec.line == call["line"]
        assert rec.ivr_result == call["ivr_variables"]["IVR_RESULT"]
        assert rec.ivr_queue == call["ivr_variables"]["IVR_QUEUE"]
        assert rec.queue == call["queue"]
        assert (rec.outcome == "answered") == call["answered"]
        assert (rec.outcome in ("abandoned_queue", "short_abandon")) == call["abandoned"]
        if call["queue"] is None:
            assert rec.outcome == "abandoned_menu" and rec.legs == []
            assert call["linkedid"] not in log_calls
            continue
        ql = log_calls[call["linkedid"]]
        (leg,) = rec.legs
        (ql_leg,) = ql.legs
        assert leg.queue == ql_leg.queue
        assert abs(leg.joined_at - ql_leg.joined_at) < 1
        assert abs(leg.wait_seconds - ql_leg.wait_seconds) < 1
        if call["answered"]:
            assert leg.answered_by == ql_leg.answered_by
            assert abs(leg.talk_seconds - ql_leg.talk_seconds) < 1
            assert leg.completed_by == ql_leg.completed_by == "caller"
        assert rec.outcome == ql.outcome(tracker.short_abandon)
    # the abandon waited 4 s (queue_log ABANDON waittime 4): a short abandon at the default 5 s
    assert finished["1795700593.10"].outcome == "short_abandon"


def test_replay_twice_gives_equal_records():
    stamped = stamped_from_raw(AMI / "concurrent" / "ami-8-calls.raw")
    tracker, _, first = run(stamped)
    _, again, _ = run(stamped, tracker)
    assert again == []  # nothing new: no second call, no second leg
    _, _, fresh = run(stamped)
    assert fresh == first
    # duplicated delivery of each event on a live stream changes nothing either
    doubled = [x for pair in zip(stamped, stamped, strict=True) for x in pair]
    _, _, twice = run(doubled)
    assert twice == first


# ---------------------------------------------------------------- robustness


def test_unknown_events_missing_keys_and_plain_dicts():
    tracker = CallTracker()
    junk = [
        {}, {"Event": ""}, {"Event": "NoSuchEvent", "Linkedid": "1.1"}, {"Response": "Success"},
        {"Event": "QueueCallerJoin"}, {"Event": "Hangup", "Uniqueid": "9.9"},
        {"Event": "VarSet", "Uniqueid": "none", "Linkedid": "none", "Channel": "none"},
        {"event": "agentconnect", "linkedid": "2.2", "uniqueid": "2.2"},
        {"Event": "Newchannel", "Linkedid": "3.3", "Uniqueid": "3.3", "Timestamp": "garbage"},
        {"Event": "Cdr", "UniqueID": "3.3", "Disposition": "ANSWERED"},
    ]
    for event in junk:
        assert tracker.feed(event, 1.0) == []
    with pytest.raises(TypeError, match="must be a mapping"):
        tracker.feed(["Event", "Hangup"], 1.0)  # type: ignore[arg-type]
    # plain dicts with any key case work like Frames
    events = [
        {"event": "Newchannel", "LINKEDID": "5.5", "uniqueid": "5.5", "Context": "contact-center",
         "Exten": "117", "CallerIDNum": "73952000000", "CallerIDName": "<unknown>", "Channel": "SIP/x-1"},
        {"Event": "HangupRequest", "Linkedid": "5.5", "Uniqueid": "5.5"},
        {"Event": "Hangup", "Linkedid": "5.5", "Uniqueid": "5.5", "Cause": "16", "Cause-txt": "Normal Clearing"},
    ]
    updates = [u for e in events for u in tracker.feed(e, 10.0)]
    assert [u.kind for u in updates] == ["started", "finished"]
    rec = updates[-1].record
    assert (rec.line, rec.caller_number, rec.caller_name, rec.outcome) == ("117", "73952000000", None, "abandoned_menu")


def test_non_contact_center_calls_are_not_counted():
    tracker = CallTracker()
    events = [
        {"Event": "Newchannel", "Linkedid": "7.1", "Uniqueid": "7.1", "Context": "internal", "Exten": "1001"},
        {"Event": "Hangup", "Linkedid": "7.1", "Uniqueid": "7.1", "Cause": "16"},
    ]
    assert [u for e in events for u in tracker.feed(e, 1.0)] == []
    assert tracker.active() == [] and tracker.expire(10**10) == []


def test_operator_input_known_late_and_orphan():
    stamped = stamped_from_transcript("ami-cc-topic2.txt")
    tracker, _, finished = run(stamped)
    end = finished["1795699537.6"].ended_at
    ue = Frame([("Event", "UserEvent"), ("UserEvent", "ContactCenter"), ("Linkedid", "1795699537.6"),
                ("AgeGroup", "40-60"), ("Resolution", "consulted")])
    (update,) = tracker.feed(ue, end + 30)  # after hangup, within the grace window
    assert update.kind == "changed" and update.record.complete
    assert (update.record.age_group, update.record.resolution) == ("40-60", "consulted")
    assert update.record.outcome == "answered"
    (orphan,) = tracker.operator_input("1795600000.1", age_group="over-60")
    assert orphan.kind == "orphan_input" and orphan.record is None
    assert (orphan.orphan.linkedid, orphan.orphan.age_group, orphan.orphan.resolution) == ("1795600000.1", "over-60", None)
    tracker.expire(end + tracker.late_grace + 1)  # grace over: the call is forgotten
    (late,) = tracker.operator_input("1795699537.6", resolution="callback")
    assert late.kind == "orphan_input"


def test_ivr_age_group_and_queue_status_outcomes():
    def call(linkedid, *extra):
        base = [
            {"Event": "Newchannel", "Linkedid": linkedid, "Uniqueid": linkedid, "Context": "contact-center", "Exten": "122"},
            *extra,
            {"Event": "SoftHangupRequest", "Linkedid": linkedid, "Uniqueid": linkedid},
            {"Event": "Hangup", "Linkedid": linkedid, "Uniqueid": linkedid, "Cause": "16"},
        ]
        tracker = CallTracker()
        return [u for i, e in enumerate(base) for u in tracker.feed(e, 100.0 + i)][-1].record

    def var(linkedid, name, value):
        return {"Event": "VarSet", "Linkedid": linkedid, "Uniqueid": linkedid, "Variable": name, "Value": value}

    rec = call("1.1", var("1.1", "IVR_RESULT", "selfservice"), var("1.1", "IVR_AGE_GROUP", "30-40"))
    assert (rec.outcome, rec.age_group, rec.hangup_by) == ("selfservice", "30-40", "system")
    rec = call("1.2", var("1.2", "QUEUESTATUS", "JOINEMPTY"))
    assert rec.outcome == "queue_empty" and rec.legs == []
    rec = call("1.3", var("1.3", "QUEUESTATUS", "FULL"))
    assert rec.outcome == "queue_full"
    join = {"Event": "QueueCallerJoin", "Linkedid": "1.4", "Uniqueid": "1.4", "Queue": "gov", "Position": "1"}
    leave = {"Event": "QueueCallerLeave", "Linkedid": "1.4", "Uniqueid": "1.4", "Queue": "gov"}
    rec = call("1.4", join, leave, var("1.4", "QUEUESTATUS", "TIMEOUT"))
    assert rec.outcome == "queue_timeout" and rec.legs[0].left_reason == "timeout"
    rec = call("1.5", var("1.5", "IVR_RESULT", "error"))
    assert rec.outcome == "failed"


def test_requeue_adds_a_leg_not_a_call():
    lid = "4.4"
    def ev(name, **kw):
        return {"Event": name, "Linkedid": lid, "Uniqueid": lid, **kw}
    events = [
        ev("Newchannel", Context="contact-center", Exten="122"),
        ev("QueueCallerJoin", Queue="default", Position="1"),
        ev("QueueCallerLeave", Queue="default"),
        ev("AgentConnect", Queue="default", MemberName="Op A", Interface="Local/1000@agents/n",
           RingTime="1", HoldTime="2", DestChannel="Local/1000@agents-1;1"),
        ev("AgentComplete", Queue="default", TalkTime="10", Reason="transfer", MemberName="Op A"),
        ev("QueueCallerJoin", Queue="housing", Position="1"),
        ev("QueueCallerLeave", Queue="housing"),
        ev("AgentConnect", Queue="housing", MemberName="Op B", Interface="Local/1002@agents/n",
           RingTime="2", HoldTime="3", DestChannel="Local/1002@agents-2;1"),
        ev("AgentComplete", Queue="housing", TalkTime="20", Reason="agent", MemberName="Op B"),
        ev("Hangup", Cause="16"),
    ]
    tracker = CallTracker()
    ups = [u for i, e in enumerate(events) for u in tracker.feed(e, 100.0 + 10 * i)]
    assert sum(u.kind == "finished" for u in ups) == 1
    rec = ups[-1].record
    assert [leg.queue for leg in rec.legs] == ["default", "housing"]
    assert (rec.operator, rec.queue, rec.outcome, rec.hangup_by) == ("Op A", "default", "answered", "operator")
    assert rec.queued_seconds == 20.0 and rec.talk_seconds == 20.0



# AgentComplete as Asterisk 22.10.1 sent it once the caller channel was gone (several calls at once,
# tests/test_real_asterisk.py), key for key: with the operator channel's Dest* fields, and without
# any channel fields when the operator channel was gone too
_AGENT_GONE = {"Event": "AgentComplete", "Privilege": "agent,all", "Timestamp": "1795947351.875751",
               "Queue": "cc-117-conditions", "Interface": "Local/1013@operators/n", "MemberName": "Оператор 1013",
               "HoldTime": "1", "TalkTime": "3", "Reason": "agent"}
_AGENT_DEST = {
    "DestChannel": "Local/1013@operators-0000000f;1", "DestChannelState": "6", "DestChannelStateDesc": "Up",
    "DestCallerIDNum": "79160000021", "DestCallerIDName": "Иван Петров", "DestConnectedLineNum": "79160000021",
    "DestConnectedLineName": "Иван Петров", "DestLanguage": "en", "DestAccountCode": "", "DestContext": "operators",
    "DestExten": "117", "DestPriority": "1", "DestUniqueid": "1795947347.30", "DestLinkedid": "1795947344.14"}


@pytest.mark.parametrize("complete", [
    pytest.param({**_AGENT_GONE, **_AGENT_DEST}, id="operator-fields-only"),
    pytest.param(_AGENT_GONE, id="no-channel-fields"),
])
def test_agent_complete_after_the_caller_channel_is_gone(complete):
    lid = "1795947344.14"
    caller = {"Linkedid": lid, "Uniqueid": lid, "Channel": "Local/hold@callers-00000007;1"}
    events = [
        {"Event": "Newchannel", **caller, "Context": "contact-center", "Exten": "117", "Timestamp": "1795947344.40"},
        {"Event": "QueueCallerJoin", **caller, "Queue": "cc-117-conditions", "Position": "1", "Timestamp": "1795947347.36"},
        {"Event": "QueueCallerLeave", **caller, "Queue": "cc-117-conditions", "Timestamp": "1795947348.371769"},
        {"Event": "AgentConnect", **caller, "Queue": "cc-117-conditions", "MemberName": "Оператор 1013",
         "Interface": "Local/1013@operators/n", "HoldTime": "1", "RingTime": "1",
         "DestChannel": "Local/1013@operators-0000000f;1", "Timestamp": "1795947348.371828"},
        {"Event": "SoftHangupRequest", **caller, "Cause": "16", "Timestamp": "1795947351.875674"},
        {"Event": "Hangup", **caller, "Cause": "16", "Cause-txt": "Normal Clearing", "Timestamp": "1795947351.875730"},
        complete,
    ]
    tracker = CallTracker()
    updates = [u for e in events for u in tracker.feed(e, 0.0)]
    record = updates[-1].record
    assert record.outcome == "answered"
    assert (record.legs[0].completed_by, record.hangup_by, record.legs[0].talk_time) == ("agent", "operator", 3)

def test_expire_closes_silent_calls_as_unknown_end():
    tracker = CallTracker(unknown_end_after=100.0)
    stamped = stamped_from_transcript("ami-cc-abandon.txt")
    cut = next(i for i, (f, _) in enumerate(stamped) if f.get("Event") == "QueueCallerJoin") + 1
    run(stamped[:cut], tracker)
    (active,) = tracker.active()
    assert active.outcome is None and active.legs[0].left_at is None
    last = active.last_event_at
    assert tracker.expire(last + 99) == []
    (closed,) = tracker.expire(last + 100)
    assert (closed.outcome, closed.complete, closed.ended_at) == ("unknown_end", False, last)
    assert tracker.active() == []


def test_linkedid_end_without_caller_hangup_closes_after_grace():
    stamped = stamped_from_transcript("ami-cc-hangup-in-menu.txt")
    without_hangup = [(f, t) for f, t in stamped if not (f.get("Event") == "Hangup" and f.get("Uniqueid") == "1795699609.20")]
    tracker, _, finished = run(without_hangup)
    assert finished == {}
    end = time_of(stamped, "CEL", EventName="LINKEDID_END")
    assert tracker.expire(end + 1) == []
    (rec,) = tracker.expire(end + tracker.linkedid_end_grace)
    assert (rec.outcome, rec.complete, rec.ended_at) == ("abandoned_menu", True, end)
    # LINKEDID_END arrived before the AGISTATUS VarSet and the caller's Hangup:
    # with the Hangup present the call ends on it, not on the CEL event.
    _, ups, finished = run(stamped)
    rec = finished["1795699609.20"]
    assert (rec.agi_status, rec.hangup_cause) == ("HANGUP", 16)
    assert rec.ended_at == time_of(stamped, "Hangup", Uniqueid="1795699609.20")
    assert [u.kind for u in ups].count("finished") == 1 and ups[-1].kind == "finished"


def test_reconcile_closes_gone_calls_and_adopts_live_ones():
    stamped = stamped_from_transcript("ami-cc-abandon.txt")
    cut = next(i for i, (f, _) in enumerate(stamped) if f.get("Event") == "QueueCallerJoin") + 1
    tracker, _, _ = run(stamped[:cut])
    live = [f for f, _ in stamped if f.get("Event") == "CoreShowChannel"]
    assert tracker.reconcile(live) == []  # still up
    (closed,) = tracker.reconcile([])
    assert (closed.linkedid, closed.outcome, closed.complete) == ("1795699613.22", "unknown_end", False)
    # a fresh tracker (restart) adopts the live call and follows it to its end
    fresh = CallTracker()
    assert fresh.reconcile(live, now=BASE + 10) == []
    (adopted,) = fresh.active()
    assert (adopted.linkedid, adopted.line, adopted.started_at) == ("1795699613.22", "122", BASE + 5)
    rest = stamped[cut:]
    _, ups, finished = run(rest, fresh)
    assert ups[0].kind == "started"
    assert finished["1795699613.22"].outcome == "abandoned_queue"


# ---------------------------------------------------------------- queue_log


def test_queue_log_parse_and_outcomes():
    entries = parse_queue_log((FIXTURES / "queue_log" / "queue_log").read_text())
    assert entries[0].event == "QUEUESTART" and entries[0].callid == "NONE"
    pause = next(e for e in entries if e.event == "PAUSE")
    assert (pause.agent, pause.field(1)) == ("Оператор 1001", "обед")
    calls = queue_log_calls(entries)
    assert "NONE" not in calls and "MANAGER" not in calls
    topic2 = calls["1795699537.6"]
    (leg,) = topic2.legs
    assert (leg.queue, leg.hold_time, leg.talk_time, leg.answered_by) == ("housing", 8, 11, "Оператор 1002")
    assert leg.attempts[0].result == "noanswer" and leg.attempts[0].ring_seconds == 5.0
    assert topic2.caller_number == "79161234567" and topic2.outcome() == "answered"
    abandon = calls["1795699613.22"]
    assert abandon.legs[0].abandoned and abandon.legs[0].wait_seconds == 9.0
    assert abandon.outcome() == "abandoned_queue"
    assert calls["1795700493.16"].outcome() == "short_abandon"  # waited 3 s
    assert calls["1795700493.16"].outcome(short_abandon=2.0) == "abandoned_queue"


def test_queue_log_completes_a_leg_ami_saw_answered_but_not_ended():
    """The AMI link went down during the talk: AMI's leg keeps its answer (sub-second times,
    the interface), and queue_log's COMPLETE line gives the end, the talk time and who hung up."""
    stamped = stamped_from_transcript("ami-cc-topic2.txt")
    cut = next(i for i, (f, _) in enumerate(stamped) if f.get("Event") == "AgentConnect") + 1
    tracker, _, _ = run(stamped[:cut])
    (rec,) = tracker.reconcile([])
    leg = rec.legs[-1]
    assert (rec.outcome, leg.answered_by, leg.completed_at, rec.talk_seconds) == (
        "unknown_end", "Оператор 1002", None, None)
    answered_at = leg.answered_at
    entries = parse_queue_log((FIXTURES / "queue_log" / "queue_log").read_text())
    logged = queue_log_calls(entries, callids=[rec.linkedid])[rec.linkedid]
    assert fill_record(rec, logged)
    leg = rec.legs[-1]
    assert (rec.outcome, leg.answered_at, leg.completed_by, leg.talk_time) == ("answered", answered_at, "caller", 11)
    assert (rec.talk_seconds, rec.hangup_by) == (11.0, "caller")
    assert not fill_record(rec, logged)  # idempotent


def test_the_h_extension_summary_fills_the_menu_outcome_the_varsets_did_not_tell():
    """A call adopted after a reconnect missed its IVR_* VarSets; the dialplan's h extension
    reports them again in UserEvent(ContactCenterCall). What the VarSets told stays."""
    lid = "1795950000.1"
    caller = {"Linkedid": lid, "Uniqueid": lid, "Channel": "Local/hold@callers-00000001;1"}
    summary = {"Event": "UserEvent", **caller, "UserEvent": "ContactCenterCall", "Line": "122",
               "Topic": "social", "Queue": "cc-122-default", "IvrQueue": "cc-122-social", "Result": "topic",
               "AgeGroup": "40-60", "AgiStatus": "SUCCESS", "QueueStatus": "", "Cause": "16"}
    tracker = CallTracker()
    tracker.reconcile([{"Uniqueid": lid, "Linkedid": lid, "Context": "contact-center", "Exten": "122",
                        "Channel": caller["Channel"], "Duration": "00:00:20"}], now=1795950020.0)
    updates = tracker.feed({**summary, "Timestamp": "1795950030.0"}, 0.0)
    updates += tracker.feed({"Event": "Hangup", **caller, "Cause": "16", "Timestamp": "1795950030.1"}, 0.0)
    rec = updates[-1].record
    assert (rec.ivr_result, rec.ivr_topic, rec.ivr_queue, rec.age_group, rec.agi_status) == (
        "topic", "social", "cc-122-social", "40-60", "SUCCESS")
    # a call whose VarSets were seen keeps them: the summary only fills what is missing
    tracker = CallTracker()
    tracker.feed({"Event": "Newchannel", **caller, "Context": "contact-center", "Exten": "122"}, 1.0)
    tracker.feed({"Event": "VarSet", **caller, "Variable": "IVR_TOPIC", "Value": "housing"}, 2.0)
    rec = tracker.feed(summary, 3.0)[-1].record
    assert (rec.ivr_topic, rec.ivr_result, rec.ivr_queue) == ("housing", "topic", "cc-122-social")


def test_queue_log_bad_lines():
    with pytest.raises(QueueLogError, match="line 2: time 'x'"):
        parse_queue_log("1|a|q|NONE|ENTERQUEUE||1|1\nx|a|q|NONE|ABANDON|1|1|3\n", strict=True)
    with pytest.raises(QueueLogError, match="expected epoch"):
        parse_line("1795700000|only|three")
    assert len(parse_queue_log("1|a|q|NONE|ENTERQUEUE||1|1\n1795700|trunc")) == 1


def test_queue_log_fills_a_call_missed_by_ami():
    entries = parse_queue_log((FIXTURES / "queue_log" / "queue_log").read_text())
    # AMI saw the call start and then the link dropped: closed as unknown_end
    stamped = stamped_from_transcript("ami-cc-topic2.txt")
    cut = next(i for i, (f, _) in enumerate(stamped) if f.get("Variable") == "AGISTATUS")
    tracker, _, _ = run(stamped[:cut])
    (rec,) = tracker.reconcile([])
    assert rec.outcome == "unknown_end" and rec.legs == []
    calls = queue_log_calls(entries, callids=[rec.linkedid])
    assert list(calls) == ["1795699537.6"]
    assert fill_record(rec, calls[rec.linkedid])
    assert (rec.outcome, rec.queue, rec.operator, rec.queued_seconds, rec.talk_seconds) == (
        "answered", "housing", "Оператор 1002", 8.0, 11.0)
    assert rec.hangup_by == "caller"
    assert not fill_record(rec, calls[rec.linkedid])  # idempotent
    # a call AMI never saw at all
    whole = record_from_queue_log(queue_log_calls(entries)["1795699301.22"])
    assert isinstance(whole, CallRecord)
    assert (whole.source, whole.outcome, whole.queue, whole.complete) == ("queue_log", "abandoned_queue", "social", True)
    assert whole.started_at == 1795699304 and whole.ended_at == 1795699313


# --------------------------------------------------------------- throughput


def test_eight_interleaved_calls_are_all_followed_to_their_end():
    """Bytes -> frames -> tracker on the 8-call capture: every event read, no call left open. (How
    fast this runs is measured by bench/ami_bench.py, never asserted here.)"""
    data = (AMI / "concurrent" / "ami-8-calls.raw").read_bytes()
    tracker = CallTracker()
    count = 0
    for i, frame in enumerate(parse_frames(data)):
        tracker.feed(frame, BASE + i)
        count += 1
    assert count == 1604 and len(tracker.active()) == 0


def test_a_call_first_seen_at_agent_complete_gets_its_times_from_the_event():
    # After a restart or an AMI outage the first queue event seen for a call can be AgentComplete,
    # which comes at the END of the talk: joined = at - TalkTime - HoldTime, answered = at - TalkTime.
    from test_calls import split_after

    frames = parse_frames((AMI / "timestamps" / "ami-cc-topic2.raw").read_bytes())
    events = [(float(f["Timestamp"]), f) for f in frames if "Timestamp" in f]
    _, _, whole = run([(f, t) for t, f in events])
    seen = whole["1795700358.0"]
    _, after_connect = split_after(events, "AgentConnect", "1795700358.0")
    _, _, finished = run([(f, t) for t, f in after_connect])
    rec = finished["1795700358.0"]
    (leg,) = rec.legs
    complete_at = next(t for t, f in after_connect if f.get("Event") == "AgentComplete")
    assert (leg.hold_time, leg.talk_time) == (8, 10)
    assert leg.joined_at == pytest.approx(complete_at - 10 - 8, abs=1e-6)
    assert leg.answered_at == leg.left_at == pytest.approx(complete_at - 10, abs=1e-6)
    assert rec.started_at <= leg.joined_at < leg.answered_at < leg.completed_at
    assert leg.wait_seconds == rec.queued_seconds == 8.0
    assert rec.queued_seconds == pytest.approx(seen.queued_seconds, abs=1.0)  # HoldTime is whole seconds
    assert rec.answered_at == pytest.approx(seen.answered_at, abs=1.0)
    assert rec.talk_seconds == pytest.approx(seen.talk_seconds, abs=1.0)
    assert (rec.outcome, rec.operator, rec.queue) == ("answered", "Оператор 1002", "housing")


def test_the_tracker_names_the_events_it_reads_so_the_client_can_leave_the_rest_unparsed():
    tracker = CallTracker()
    assert all(tracker.wants(name) for name in (b"VarSet", b"Newexten", b"Hangup", b"AgentComplete", b"userevent"))
    assert not any(tracker.wants(name) for name in (b"Cdr", b"DeviceStateChange", b"DialBegin", b"BridgeEnter"))
    assert MemberTracker.wants(b"QueueMemberPause") and MemberTracker.wants(b"DialEnd")
    assert not MemberTracker.wants(b"VarSet")
    # an event it does not want changes nothing when fed
    assert tracker.feed({"Event": "DialBegin", "Linkedid": "1.1", "Uniqueid": "1.1", "Context": "contact-center"},
                        1.0) == []
    assert tracker.active() == []


@pytest.mark.parametrize("capture", sorted(str(p.relative_to(FIXTURES / "ami"))
                                           for p in (FIXTURES / "ami").rglob("*.raw")))
def test_the_events_the_trackers_leave_unread_change_nothing_on_every_capture(capture):
    """What AMIClient.event_filter drops (neither tracker wants the event's name) would have changed
    nothing: both trackers give the same updates from the captures with and without those events."""
    frames = parse_frames((FIXTURES / "ami" / capture).read_bytes())
    assert frames

    def updates(keep) -> tuple[list, list]:
        calls, members = CallTracker(), MemberTracker()
        out_calls, out_members = [], []
        for frame in frames:
            name = (frame.get("Event") or "").encode()
            if keep(name):
                out_calls += calls.feed(frame, 1795699537.0)
                out_members += members.feed(frame, 1795699537.0)
        return out_calls, out_members

    every = updates(lambda name: True)
    read = updates(lambda name: not name or CallTracker().wants(name) or MemberTracker.wants(name))
    assert read == every
