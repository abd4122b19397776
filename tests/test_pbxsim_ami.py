"""pbxsim AMI server + per-call generator, checked against the real Asterisk 22 captures.

Call comparison rule (why not a plain sequence diff): Asterisk publishes AMI events from
several threads, so the interleaving *between* channels differs between two recordings of
the same scenario (ami-cc-topic2 vs timestamps/ami-cc-topic2). What is stable, and what a
tracker can rely on, is each channel's own event sequence. So we compare:
- per channel (Local pair half, by role: caller ;1/;2, each member attempt ;1/;2): the
  ordered list of (event name, key list in order, selected values), except `VarSet
  BRIDGEPEER` (set by the bridge thread, racing the queue thread's AgentComplete);
- CEL and Cdr events (separate stasis topics, their order floats) and AgentComplete (sent
  by the queue thread, racing BridgeLeave: the two topic2 recordings disagree) as a
  multiset per call;
- channel-less events (QueueMemberStatus, Bridge*) as a multiset; DeviceStateChange is
  skipped (the device-state cache coalesces them, their count varies run to run).
Excluded on purpose: the recorder's own traffic — Login response, FullyBooted,
SuccessfulAuth, the Originate response and OriginateResponse event (the simulator starts
callers itself), and list events of its mid-call actions (any event carrying ActionID:
QueueParams/QueueMember/QueueEntry/CoreShowChannel/Status/*Complete in ami-cc-abandon).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import re
import time

import pytest
from helpers import FIXTURES, read_transcript

from asterisk_bridge.pbxsim.ami_calls import (
    CallScenario,
    Ids,
    Operator,
    ScenarioError,
    call_events,
    play_call,
    play_events,
)
from asterisk_bridge.pbxsim.ami_lists import ChannelState, lab_queues
from asterisk_bridge.pbxsim.ami_server import AMIServer, AMIServerError

AMI = FIXTURES / "ami"
O = Operator
SCENARIOS = {
    "topic2": CallScenario("topic2", keys=("2",), queue="housing", topic="2",
                           no_answer=(O("2001", "Оператор 2001 (не отвечает)"),),
                           operator=O("1002", "Оператор 1002"), hangup_by="caller", talk=11),
    "invalid-then-valid": CallScenario("invalid-then-valid", line="117", keys=("9", "1"), queue="gov", topic="1",
                                       operator=O("1001", "Оператор 1001")),
    "timeout": CallScenario("timeout", menu="timeout", operator=O("1000", "Оператор 1000")),
    "hangup-in-menu": CallScenario("hangup-in-menu", menu="hangup"),
    "abandon": CallScenario("abandon", keys=("3",), queue="social", topic="3",
                            no_answer=(O("2002", "Оператор 2002 (не отвечает)"),), abandon_after=9),
    "bridge-down": CallScenario("wait30", menu="bridge-down", operator=O("1000", "Оператор 1000")),
}
# keys compared by value; everything else (ids, times, hex suffixes, CommandIds) by presence/order only
VALUE_KEYS = {"Event", "Context", "Exten", "Queue", "ChannelStateDesc", "Cause", "Reason", "Variable", "Application",
              "DialStatus", "Interface", "MemberName", "Position", "Count", "Digit", "UserEvent", "Line", "Topic",
              "AgiStatus", "DestContext", "DestExten", "Status", "RingTime"}
CEL_VALUES = {"Event", "EventName"}
CDR_VALUES = {"Event", "Disposition", "Destination", "DestinationContext"}
RECORDER_EVENTS = {"FullyBooted", "SuccessfulAuth", "OriginateResponse"}


def parse_stream(data: bytes) -> list[list[tuple[str, str]]]:
    assert data.startswith(b"Asterisk Call Manager/11.0.0\r\n")
    out = []
    for block in data.split(b"\r\n", 1)[1].split(b"\r\n\r\n"):
        if block:
            out.append([tuple(line.split(": ", 1)) for line in block.decode().split("\r\n")])
    return out


def _sig(h):
    ev = h[0][1]
    keep = CEL_VALUES if ev == "CEL" else CDR_VALUES if ev == "Cdr" else VALUE_KEYS
    if ev == "AgentComplete":  # caller snapshot is 122 or h depending on the race with the h extension
        keep = keep - {"Context", "Exten"}
    return tuple((k, v if k in keep else None) for k, v in h)


def channel_groups(messages) -> dict[tuple[str, str], list]:
    hexes: dict[tuple[str, str], dict[str, int]] = {}
    groups = collections.defaultdict(list)
    for h in messages:
        d = dict(h)
        name = d.get("Event")
        if not name or "ActionID" in d or name in RECORDER_EVENTS or name == "DeviceStateChange":
            continue
        if name == "VarSet" and d.get("Variable") == "BRIDGEPEER":
            continue
        if name in ("CEL", "Cdr", "AgentComplete"):
            groups[("call", name)].append(_sig(h))
            continue
        ch = d.get("Channel") or d.get("DestChannel") or d.get("LocalOneChannel") or ""
        m = re.match(r"Local/([^@]+)@([\w-]+)-([0-9a-f]{8});(\d)$", ch)
        if not m:
            groups[("none", name)].append(_sig(h))
            continue
        per = hexes.setdefault((m[1], m[2]), {})
        nth = per.setdefault(m[3], len(per))
        role = "caller" if m[2] == "caller-sim" else f"member {m[1]}"
        groups[(f"{role} #{nth};{m[4]}", "ami")].append(_sig(h))
    return {k: (sorted(v) if k[0] in ("call", "none") else v) for k, v in groups.items()}


def assert_same_calls(real, generated):
    a, b = channel_groups(real), channel_groups(generated)
    assert sorted(a) == sorted(b)
    for key in a:
        for i, (x, y) in enumerate(itertools.zip_longest(a[key], b[key])):
            assert x == y, f"{key} event #{i}:\n real {x}\n  gen {y}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_call_matches_capture(name):
    real = parse_stream((AMI / f"ami-cc-{name}.raw").read_bytes())
    events = call_events(SCENARIOS[name], 1795699537.0)
    assert_same_calls(real, [h for _, h in events])
    # Local pair ids (M8): ;2 = ;1 + 1, Linkedid = caller ;1 Uniqueid everywhere
    first = dict(events[0][1])
    u1 = first["Uniqueid"]
    for _, h in events:
        d = dict(h)
        if "Linkedid" in d:
            assert d["Linkedid"] == u1
    times = [t for t, _ in events]
    assert times == sorted(times)


@pytest.mark.parametrize("name", ["topic2", "abandon"])
def test_call_matches_timestamped_capture(name):
    real = parse_stream((AMI / "timestamps" / f"ami-cc-{name}.raw").read_bytes())
    real = [[kv for kv in h if kv[0] != "Timestamp"] for h in real]
    assert_same_calls(real, [h for _, h in call_events(SCENARIOS[name], 1795699537.0)])


def test_tracking_values_are_consistent():
    ev = [dict(h) for _, h in call_events(SCENARIOS["topic2"], 1000.0)]
    by = collections.defaultdict(list)
    for d in ev:
        by[d["Event"]].append(d)
    assert by["AgentRingNoAnswer"][0]["RingTime"] == "5000"
    conn = by["AgentConnect"][0]
    assert conn["HoldTime"] == "8" and conn["RingTime"] == "2" and conn["MemberName"] == "Оператор 1002"
    done = by["AgentComplete"][0]
    assert (done["HoldTime"], done["TalkTime"], done["Reason"]) == ("8", "11", "caller")
    assert by["QueueCallerJoin"][0]["Queue"] == "housing"
    ivr = {d["Variable"]: d["Value"] for d in by["VarSet"] if d["Variable"].startswith("IVR_")}
    assert ivr == {"IVR_LINE": "122", "IVR_QUEUE": "housing", "IVR_TOPIC": "2"}
    assert by["UserEvent"][-1]["Queue"] == "housing"
    ab = [dict(h) for _, h in call_events(SCENARIOS["abandon"], 1000.0)]
    abandon = next(d for d in ab if d["Event"] == "QueueCallerAbandon")
    assert abandon["HoldTime"] == "9"


def test_shared_ids_keep_calls_apart():
    ids = Ids()
    a = call_events(SCENARIOS["timeout"], 1000.0, ids)
    b = call_events(SCENARIOS["timeout"], 1000.5, ids)
    ua = {dict(h)["Linkedid"] for _, h in a if "Linkedid" in dict(h)}
    ub = {dict(h)["Linkedid"] for _, h in b if "Linkedid" in dict(h)}
    assert len(ua) == len(ub) == 1 and ua != ub


def test_bad_scenarios_are_rejected():
    with pytest.raises(ScenarioError, match="menu must be one of"):
        CallScenario("x", menu="nope")
    with pytest.raises(ScenarioError, match="needs the topic queue"):
        CallScenario("x", menu="queue", operator=O("1", "a"))
    with pytest.raises(ScenarioError, match="operator"):
        CallScenario("x", menu="timeout")
    with pytest.raises(ScenarioError, match="hangup_by"):
        CallScenario("x", menu="timeout", operator=O("1", "a"), hangup_by="nobody")


# ---- server -----------------------------------------------------------------------


class Client:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        c = cls(r, w)
        c.banner = await asyncio.wait_for(r.readline(), 2)
        return c

    async def send(self, text: str):
        self.writer.write(text.replace("\n", "\r\n").encode() + b"\r\n")
        await self.writer.drain()

    async def read(self):
        block = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 3)
        return [tuple(line.split(": ", 1)) for line in block[:-4].decode().split("\r\n")]

    async def login(self, events="on"):
        await self.send(f"Action: Login\nActionID: login\nUsername: bridge\nSecret: bridge-secret\nEvents: {events}\n")
        msgs = [await self.read()]
        if events == "on":
            msgs += [await self.read(), await self.read()]
        return msgs

    def close(self):
        self.writer.close()


def shape(msg):
    return [k for k, _ in msg]


def capture_messages(name, direction="<"):
    t = read_transcript(f"ami/{name}")
    data = "".join(r.payload for r in t.records if r.direction == direction)
    blocks = [b for b in data.split("\r\n\r\n") if b]
    return [[tuple(line.split(": ", 1)) for line in b.split("\r\n") if line] for b in blocks]


async def test_login_ping_logoff_like_capture():
    real = capture_messages("ami-actions.txt")
    async with AMIServer(secret="bridge-secret") as srv:
        c = await Client.connect(srv.port)
        assert c.banner == b"Asterisk Call Manager/11.0.0\r\n"
        ok, booted, auth = await c.login()
        assert ok == [kv for kv in real[0] if not kv[0].startswith("Asterisk")][-3:]
        assert shape(booted) == shape(real[1]) and booted[0] == ("Event", "FullyBooted")
        assert shape(auth) == shape(real[2])
        await c.send("Action: Ping\nActionID: ping-1\n")
        ping = await c.read()
        assert shape(ping) == ["Response", "ActionID", "Ping", "Timestamp"]
        assert re.fullmatch(r"\d+\.\d{6}", dict(ping)["Timestamp"])
        await c.send("Action: Ping\n")
        assert shape(await c.read()) == ["Response", "Ping", "Timestamp"]
        await c.send("action: ping\nactionid: lowercase-keys\n")
        assert (await c.read())[1] == ("ActionID", "lowercase-keys")
        await c.send("Action: Queues\nActionID: queues\n")
        err = await c.read()
        assert err == [("Response", "Error"), ("ActionID", "queues"),
                       ("Message", "Invalid/unknown command: Queues. Use Action: ListCommands to show available commands.")]
        await c.send("Action: Logoff\nActionID: logoff\n")
        assert await c.read() == [("Response", "Goodbye"), ("ActionID", "logoff"), ("Message", "Thanks for all the fish.")]
        assert await asyncio.wait_for(c.reader.read(), 2) == b""


async def test_failed_login_waits_then_closes():
    async with AMIServer(secret="right", login_delay=0.2) as srv:
        c = await Client.connect(srv.port)
        await c.send("Action: Ping\nActionID: ping-before-login\n")
        assert await c.read() == [("Response", "Error"), ("ActionID", "ping-before-login"),
                                  ("Message", "Permission denied")]
        t0 = time.monotonic()
        await c.send("Action: Login\nActionID: login-bad\nUsername: bridge\nSecret: wrong\n")
        assert await c.read() == [("Response", "Error"), ("ActionID", "login-bad"),
                                  ("Message", "Authentication failed")]
        assert time.monotonic() - t0 >= 0.19
        assert await asyncio.wait_for(c.reader.read(), 2) == b""


async def test_queue_status_and_channels_lists():
    real = capture_messages("ami-actions.txt")
    real_housing = [m for m in real if ("ActionID", "qstat-housing") in m]
    async with AMIServer() as srv:
        srv.queues = lab_queues([("housing", [("Оператор 2001 (не отвечает)", "Local/2001@agents/n"),
                                              ("Оператор 1002", "Local/1002@agents/n")])])
        c = await Client.connect(srv.port)
        await c.login()
        await c.send("Action: QueueStatus\nActionID: qstat-housing\nQueue: housing\n")
        got = [await c.read() for _ in range(len(real_housing))]
        assert [shape(m) for m in got] == [shape(m) for m in real_housing]
        assert got[-1][-1] == ("ListItems", "3")
        await c.send("Action: QueueStatus\nActionID: q2\nQueue: no-such-queue\n")
        await c.read()
        assert await c.read() == [("Event", "QueueStatusComplete"), ("ActionID", "q2"), ("EventList", "Complete"),
                                  ("ListItems", "0")]
        ab = parse_stream((AMI / "ami-cc-abandon.raw").read_bytes())
        real_csc = next(m for m in ab if m[0] == ("Event", "CoreShowChannel"))
        snap = real_csc[2:16]
        srv.channels["x"] = ChannelState(snapshot=snap, application="Queue", application_data="social,,,,300",
                                         started_at=time.time() - 5)
        await c.send("Action: CoreShowChannels\nActionID: csc-mid\n")
        start = await c.read()
        assert shape(start) == ["Response", "ActionID", "EventList", "Message"]
        item = await c.read()
        assert shape(item) == shape(real_csc)
        done = await c.read()
        assert done == [("Event", "CoreShowChannelsComplete"), ("ActionID", "csc-mid"), ("EventList", "Complete"),
                        ("ListItems", "1")]


async def test_events_broadcast_timestamps_and_events_off():
    sc = SCENARIOS["hangup-in-menu"]
    async with AMIServer(timestampevents=True) as srv:
        on = await Client.connect(srv.port)
        off = await Client.connect(srv.port)
        _, booted, _ = await on.login()
        assert "Timestamp" not in dict(booted)
        await off.login(events="off")
        n = await play_call(srv, sc, 1795699537.0, speed=float("inf"))
        got = [await on.read() for _ in range(n)]
        expected = call_events(sc, 1795699537.0)
        assert [m[0] for m in got] == [h[0] for _, h in expected]
        for m, (t, _) in zip(got, expected, strict=True):
            assert m[1][0] == "Privilege" and m[2] == ("Timestamp", f"{t:.6f}")
        await off.send("Action: Ping\nActionID: p\n")
        assert (await off.read())[0] == ("Response", "Success")  # nothing queued before the answer
        await on.send("Action: Events\nActionID: e\nEventMask: off\n")
        assert await on.read() == [("Response", "Success"), ("ActionID", "e"), ("Events", "Off")]
        srv.broadcast([("Event", "Test"), ("Privilege", "user,all")])
        await on.send("Action: Ping\nActionID: p2\n")
        assert (await on.read())[1] == ("ActionID", "p2")


async def test_timestamp_position_matches_capture():
    real = parse_stream((AMI / "timestamps" / "ami-cc-topic2.raw").read_bytes())
    with_ts = [m for m in real if any(k == "Timestamp" for k, _ in m)]
    assert all(m[2][0] == "Timestamp" and m[1][0] == "Privilege" for m in with_ts)
    async with AMIServer(timestampevents=True) as srv:
        c = await Client.connect(srv.port)
        await c.login()
        srv.broadcast([("Event", "Hangup"), ("Privilege", "call,all"), ("Cause", "16")], timestamp=12.5)
        assert await c.read() == [("Event", "Hangup"), ("Privilege", "call,all"), ("Timestamp", "12.500000"),
                                  ("Cause", "16")]


async def test_play_call_paces_by_simulated_time():
    sc = SCENARIOS["hangup-in-menu"]
    events = call_events(sc, 0.0)
    span = events[-1][0] - events[0][0]
    async with AMIServer() as srv:
        c = await Client.connect(srv.port)
        await c.login()
        t0 = time.monotonic()
        n = await play_call(srv, sc, 0.0, speed=span / 0.3)
        elapsed = time.monotonic() - t0
        assert n == len(events)
        assert 0.25 <= elapsed < 2.0
    with pytest.raises(ScenarioError):
        await play_call(srv, sc, 0.0, speed=0)


async def test_channel_and_queue_lists_follow_the_calls_played():
    """CoreShowChannels and QueueStatus answer from lists the played events keep, as Asterisk's do."""
    sc = SCENARIOS["abandon"]
    events = call_events(sc, 1795699537.0)
    caller = "1795699537.6"
    join = next(i for i, (_, h) in enumerate(events) if dict(h)["Event"] == "QueueCallerJoin") + 1
    async with AMIServer(clock=lambda: 1795699537.0 + 20) as srv:
        await play_events(srv, events[:join], speed=float("inf"))
        up = srv.channels[caller]
        assert dict(up.snapshot)["Context"] == "contact-center" and dict(up.snapshot)["Linkedid"] == caller
        assert (up.application, up.application_data) == ("Queue", "social,,,,300")
        assert [e[1] for e in srv.queues["social"].entries] == [caller]
        assert {dict(ch.snapshot)["Linkedid"] for ch in srv.channels.values()} == {caller}  # ;1, ;2 halves
        c = await Client.connect(srv.port)
        await c.login()
        await c.send("Action: CoreShowChannels\nActionID: csc\n")
        items = [await c.read() for _ in range(len(srv.channels) + 2)]
        listed = [dict(m) for m in items if ("Event", "CoreShowChannel") in m]
        assert {m["Uniqueid"] for m in listed} == set(srv.channels)
        assert next(m for m in listed if m["Uniqueid"] == caller)["Application"] == "Queue"
        await play_events(srv, events[join:], speed=float("inf"))
        assert srv.channels == {} and srv.queues["social"].entries == []
        # a play cut off by cancelling it leaves no call behind that nobody will end
        task = asyncio.create_task(play_events(srv, call_events(SCENARIOS["topic2"], 1795699600.0), speed=1.0))
        while not srv.channels:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert srv.channels == {} and all(not q.entries for q in srv.queues.values())


async def test_fault_injection_drop_and_pause():
    async with AMIServer() as srv:
        with pytest.raises(AMIServerError):
            _ = AMIServer().port
        c = await Client.connect(srv.port)
        await c.login()
        assert srv.connections == 1
        srv.pause()
        await c.send("Action: Ping\nActionID: hung\n")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 0.3)
        srv.resume()
        assert (await c.read())[1] == ("ActionID", "hung")
        srv.drop_connections()
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            data = await asyncio.wait_for(c.reader.read(), 2)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
        c2 = await Client.connect(srv.port)  # server still accepts after a drop
        await c2.login()
        c2.close()


# ------------------------------------------------------------------ queue members (members/ captures)

def _capture_member_events(name: str) -> list:
    from asterisk_bridge.ami.frames import parse_frames

    return parse_frames((AMI / "members" / name).read_bytes())


async def test_member_events_and_the_login_snapshot_match_the_member_captures():
    """The simulator's member events, as the bridge receives them, have the captures' keys in the
    captures' order; the server fills each event with the member's state, and QueueStatus lists
    the members as Asterisk does."""
    from asterisk_bridge.ami.frames import FrameParser
    from asterisk_bridge.pbxsim.members import MemberStep, play_day

    captured = _capture_member_events("queue-add-remove.raw") + _capture_member_events("auto-pause-ring-out.raw")
    keys = {f["Event"]: [k for k, _ in f.pairs] for f in captured
            if f.get("Event") in ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "QueueMember")}
    op = O("1205", "Оператор 1205")
    async with AMIServer(username="u", secret="s", timestampevents=True, clock=lambda: 1795953566.5) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=2**22)
        await reader.readline()
        writer.write(b"Action: Login\r\nUsername: u\r\nSecret: s\r\n\r\n")
        await reader.readuntil(b"Event: SuccessfulAuth")
        steps = [MemberStep(0.0, "QueueMemberAdded", "cc-117-default", op),
                 MemberStep(0.0, "QueueMemberPause", "cc-117-default", op, True, "обед")]
        await play_day(server, steps, speed=1e9, clock=lambda: 1795953566.5)
        # a call whose first operator lets it ring out: auto-paused, and back 120 s later
        sc = CallScenario("starved", line="117", menu="bridge-down", default_queue="cc-117-default",
                          no_answer=(op,), operator=O("1206", "Оператор 1206"), auto_pause=120.0)
        events = call_events(sc, 1795953600.0)
        await play_events(server, events, speed=1e9)
        writer.write(b"Action: QueueStatus\r\nActionID: qs\r\n\r\n")
        await writer.drain()
        data = await reader.readuntil(b"Event: QueueStatusComplete")
        writer.close()
    frames = FrameParser().feed(data)
    members = [f for f in frames if f.get("Event", "").startswith("QueueMember")]
    added = next(f for f in members if f["Event"] == "QueueMemberAdded")
    assert [k for k, _ in added.pairs] == keys["QueueMemberAdded"]
    assert (added["LoginTime"], added["Membership"], added["Paused"]) == ("1795953566", "dynamic", "0")
    pauses = [f for f in members if f["Event"] == "QueueMemberPause"]
    assert all([k for k, _ in f.pairs] == keys["QueueMemberPause"] for f in pauses)
    assert [(f["Paused"], f["PausedReason"], f["LastPause"]) for f in pauses] == [
        ("1", "обед", "1795953566"), ("1", "Auto-Pause", str(int(float(pauses[1]["Timestamp"])))),
        ("0", "", str(int(float(pauses[1]["Timestamp"]))))]
    assert float(pauses[2]["Timestamp"]) - float(pauses[1]["Timestamp"]) == pytest.approx(120.0)
    # the auto-pause comes right after the ring-out, as on the real PBX
    names = [f.get("Event") for f in frames]
    ring_out = names.index("AgentRingNoAnswer")
    assert names[ring_out + 1:ring_out + 3] == ["DeviceStateChange", "QueueMemberPause"]
    # the member status events carry the member's state (logged in since the QueueMemberAdded)
    status = [f for f in members if f["Event"] == "QueueMemberStatus" and f["Interface"] == op.interface]
    assert status and all(f["LoginTime"] == "1795953566" for f in status)
    [listed] = [f for f in frames if f.get("Event") == "QueueMember"]
    assert [k for k, _ in listed.pairs] == keys["QueueMember"]
    assert (listed["Name"], listed["Paused"], listed["Membership"]) == ("Оператор 1205", "0", "dynamic")
