"""AMIClient against a loopback AMI server (tests/ami_fake.py) and the real Asterisk captures."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from ami_fake import FakeAMI, Session, block
from helpers import FIXTURES, read_transcript

from asterisk_bridge.ami.client import AMIClient
from asterisk_bridge.ami.errors import AMIActionError, AMIActionTimeout, AMIAuthError, AMIBadAction, AMINotConnected
from asterisk_bridge.ami.frames import Frame, read_message
from asterisk_bridge.ami.protocol import response_message

CAPTURES = sorted((FIXTURES / "ami").rglob("*.raw"))
FAST = dict(ping_interval=30.0, action_timeout=0.5, reconnect_min=0.05, reconnect_max=0.4)


def client_for(server: FakeAMI, **kw) -> AMIClient:
    return AMIClient("127.0.0.1", server.port, server.username, server.secret, **{**FAST, **kw})


def expected_blocks(stream: bytes) -> list[list[tuple[str, object]]]:
    """Reference framing, independent of the client: split on CRLFCRLF, decode each block as UTF-8,
    "Key: Value" lines in order, a repeated key becomes a list (as panoramisk's Message keeps it)."""
    out = []
    for raw in stream.split(b"\r\n\r\n")[:-1]:
        headers: dict[str, object] = {}
        for line in raw.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(": ")
            if key in headers:
                old = headers[key]
                headers[key] = (old if isinstance(old, list) else [old]) + [value]
            else:
                headers[key] = value
        out.append(list(headers.items()))
    return out


def expected_event_pairs(stream: bytes, skip: list[list[tuple[str, object]]] = ()) -> list[list[tuple[str, str]]]:
    """Events (blocks with an Event key, minus ``skip``) as raw "Key: Value" pairs in order, repeats
    kept: what an event Frame's ``pairs`` must hold (its lookups and ``getall`` derive from them)."""
    out = []
    for raw, grouped in zip(stream.split(b"\r\n\r\n")[:-1], expected_blocks(stream), strict=True):
        if "Event" in dict(grouped) and grouped not in skip:
            out.append([line.partition(": ")[::2] for line in raw.decode("utf-8").split("\r\n")])
    return out


def chunks(data: bytes, rng: random.Random):
    """Random chunk sizes, many tiny ones so that multi-byte UTF-8 characters get split."""
    i = 0
    while i < len(data):
        n = rng.choice((1, 1, 2, 3, 5, 7, 13, 64, 333, 1500, 4096))
        yield data[i:i + n]
        i += n


async def wait_until(predicate, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: str(p.relative_to(FIXTURES / "ami")))
async def test_capture_replayed_in_random_chunks_gives_the_same_events(capture):
    # How the capture is served: the fake sends the capture's own banner line, answers our Login
    # itself (our ActionID, no extra FullyBooted), then streams the REST of the capture unchanged
    # in random chunks. The capture's own responses (to the recorder's Login, QueueStatus, ...) carry
    # ActionIDs we never sent, so the client must drop them; its events must all come through.
    data = capture.read_bytes()
    banner_end = data.index(b"\r\n") + 2
    banner, stream = data[:banner_end], data[banner_end:]
    rng = random.Random(capture.name)
    done = asyncio.Event()

    async def replay(session: Session) -> None:
        for n, piece in enumerate(chunks(stream, rng)):
            session.writer.write(piece)
            if n % 8 == 0:
                await session.writer.drain()
                await asyncio.sleep(0)
        await session.writer.drain()
        done.set()

    expected = expected_event_pairs(stream)
    got = []
    async with FakeAMI(banner=banner, fully_booted=False, after_login=replay) as server:
        async with client_for(server) as client:
            client.on_event(got.append)
            await client.wait_connected(3)
            await asyncio.wait_for(done.wait(), 10)
            await wait_until(lambda: len(got) >= len(expected), 5)
            await asyncio.sleep(0.02)
    assert [m.pairs for m in got] == expected
    assert all(isinstance(m, Frame) and isinstance(m.received_at, float) for m in got)
    if "cc-topic2" in capture.name:
        assert any(m.get("CallerIDName") == "Иван Петров" for m in got)
    if capture.name == "ami-actions.raw":  # M6: events that carry ActionID and Response keys
        assert {m["Response"] for m in got if m["Event"] == "OriginateResponse"} == {"Success", "Failure"}
        assert any("ActionID" in m for m in got if m["Event"] == "UserEvent")
    if "8-calls" in capture.name:
        assert any(m.get("MemberName") == "Оператор 1001" for m in got)


async def test_stream_one_byte_at_a_time_keeps_cyrillic():
    events = [
        block(("Event", "Newchannel"), ("Privilege", "call,all"), ("Channel", "Local/s@caller-sim-0001;1"),
              ("CallerIDNum", "79161234567"), ("CallerIDName", "Иван Петров"), ("Uniqueid", "1795699224.6")),
        block(("Event", "AgentCalled"), ("MemberName", "Оператор 1001"), ("Queue", "gov")),
        block(("Event", "QueueMemberPause"), ("PausedReason", "обед — 30 мин ✓"), ("AccountCode", "")),
    ]
    stream = b"".join(events)

    async def trickle(session: Session) -> None:
        for i in range(len(stream)):
            session.writer.write(stream[i:i + 1])
            await asyncio.sleep(0)

    got, reads = [], []
    async with FakeAMI(after_login=trickle, fully_booted=False) as server:
        server.banner_step = 1
        async with client_for(server) as client:
            client.on_event(got.append)
            await client.wait_connected(3)
            protocol = client._manager.protocol
            original = protocol.data_received
            protocol.data_received = lambda data: (reads.append(len(data)), original(data))
            await wait_until(lambda: len(got) == 3)
    assert protocol.version == "11.0.0"
    ends = [sum(reads[:i + 1]) for i in range(len(reads))]
    split_inside = [e for e in ends if e < len(stream) and 0x80 <= stream[e] <= 0xBF]
    assert len(reads) > len(stream) // 4 and split_inside, "no read ended inside a UTF-8 character"
    assert got[0]["calleridname"] == "Иван Петров"
    assert got[1]["MemberName"] == "Оператор 1001"
    assert got[2]["PausedReason"] == "обед — 30 мин ✓"
    assert got[2]["AccountCode"] == ""  # empty value on the last line is kept (panoramisk drops it)
    assert [m.pairs for m in got] == expected_event_pairs(stream)


async def test_server_drop_and_return_reconnects_and_logs_in_again():
    async def one_event(session: Session) -> None:
        n = len(session.server.sessions)
        await session.send(block(("Event", "UserEvent"), ("UserEvent", f"Marker{n}"), ("Line", "122")))

    server = FakeAMI(after_login=one_event, fully_booted=False)
    await server.start()
    states, got = [], []
    async with client_for(server) as client:
        client.on_connection(states.append)
        client.on_event(got.append)
        await client.wait_connected(3)
        since = client.connected_since
        await wait_until(lambda: len(got) == 1)
        await server.stop()  # Asterisk restart: connections dropped, port closed for a while
        await wait_until(lambda: states == [True, False])
        assert not client.connected and client.connected_since is None
        with pytest.raises(AMINotConnected, match="CoreStatus not sent"):
            await client.action({"Action": "CoreStatus"})
        await asyncio.sleep(0.2)
        await server.start(server.port)
        await client.wait_connected(3)
        await wait_until(lambda: len(got) == 2)
        assert client.connected_since > since
    await server.stop()
    assert states == [True, False, True, False]  # the last False is close()
    assert [m["UserEvent"] for m in got] == ["Marker1", f"Marker{len(server.sessions)}"]
    assert [ok for _, _, ok in server.logins] == [True, True]


async def test_a_deliberate_close_is_not_reported_as_a_lost_connection(caplog):
    server = FakeAMI()
    await server.start()
    caplog.set_level(logging.INFO, logger="asterisk_bridge.ami.client")
    states = []
    async with client_for(server) as client:
        client.on_connection(states.append)
        await client.wait_connected(3)
    await server.stop()
    assert states == [True, False]
    assert "closed" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_watchdog_aborts_a_hung_server_and_reconnects(caplog):
    server = FakeAMI()
    server.answer_pings = False  # Asterisk accepts bytes but answers nothing (deadlocked)
    states = []
    async with server:
        async with client_for(server, ping_interval=0.1, action_timeout=0.2) as client:
            client.on_connection(states.append)
            await client.wait_connected(3)
            await server.wait_session(2, 3)
            server.answer_pings = True
            await wait_until(lambda: states[:3] == [True, False, True])
            assert client.connected
            await asyncio.sleep(0.4)  # pings answered now: the connection stays up
            assert len(server.sessions) == 2
    assert any(a.get("action") == "Ping" for a in server.sessions[0].actions)
    assert "did not answer Ping" in caplog.text


async def test_wrong_password_is_reported_and_retries_back_off(caplog):
    caplog.set_level(logging.DEBUG)
    server = FakeAMI(auth_delay=0.02)  # Asterisk waits 1 s (M2); shortened here
    async with server:
        client = AMIClient("127.0.0.1", server.port, "bridge", "wrong-Секрет", **FAST)
        async with client:
            with pytest.raises(AMIAuthError) as info:
                await client.wait_connected(2)
            assert "'bridge'" in str(info.value) and "Authentication failed" in str(info.value)
            assert "wrong-Секрет" not in str(info.value)
            assert not client.connected
            await asyncio.sleep(1.3)
    times = [t for t, _, ok in server.logins]
    assert not any(ok for _, _, ok in server.logins)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # Backoff 0.05, 0.1, 0.2, 0.4 (cap), 0.4 ... plus the auth delay: ~6 attempts, not ~20.
    assert 4 <= len(times) <= 8, gaps
    assert gaps[2] > 1.6 * gaps[0] and max(gaps) < 0.4 + 0.2
    assert "wrong-Секрет" not in caplog.text
    assert "rejected login for user 'bridge'" in caplog.text


async def test_secret_never_reaches_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    async with FakeAMI() as server:
        async with client_for(server) as client:
            await client.wait_connected(3)
            assert server.actions[0]["secret"] == server.secret  # it was sent...
            # ...and panoramisk's own logger (the Manager logs whole actions when a send fails).
            client._manager.log.debug("Fail to send %r", {"Action": "Login", "Secret": server.secret})
            client._manager.log.info("Adding action to awaiting list: Secret: %s", server.secret)
            await client.action({"Action": "Ping"})
    assert "Fail to send" in caplog.text and "********" in caplog.text
    assert server.secret not in caplog.text


async def test_close_during_pending_reconnect_stops_all_attempts(caplog):
    server = FakeAMI()
    await server.start()
    port = server.port
    await server.stop()  # nothing listens: connects are refused and retried
    client = AMIClient("127.0.0.1", port, "bridge", "x", ping_interval=30, action_timeout=0.5,
                       reconnect_min=0.15, reconnect_max=0.3)
    await client.start()
    await wait_until(lambda: "cannot connect to AMI" in caplog.text)
    await client.close()
    logged = caplog.text.count("cannot connect to AMI")
    await server.start(port)
    await asyncio.sleep(0.7)
    await server.stop()
    assert server.sessions == []
    assert caplog.text.count("cannot connect to AMI") == logged


async def test_action_without_response_times_out_and_client_keeps_working():
    async with FakeAMI() as server:  # no responder for CoreStatus: it is never answered
        async with client_for(server, action_timeout=0.2) as client:
            await client.wait_connected(3)
            started = time.monotonic()
            with pytest.raises(AMIActionTimeout, match="CoreStatus"):
                await client.action({"Action": "CoreStatus"})
            assert 0.15 < time.monotonic() - started < 1.0
            pong = await client.action({"Action": "Ping"})
            assert pong["Ping"] == "Pong"
            assert client._manager.protocol.responses == {}


async def test_originate_in_flight_is_not_resent_after_reconnect():
    async def drop_on_originate(session: Session, action: dict) -> None:
        session.abort()  # the connection dies before Asterisk answers

    server = FakeAMI()
    server.responders["originate"] = drop_on_originate
    async with server:
        async with client_for(server) as client:
            await client.wait_connected(3)
            with pytest.raises(AMINotConnected, match="Originate; not re-sent"):
                await client.action({"Action": "Originate", "Channel": "Local/122@contact-center",
                                     "Exten": "122", "Context": "contact-center", "Priority": "1", "Async": "true"})
            await client.wait_connected(3)
            await client.action({"Action": "Ping"})  # the new connection is in use
            await asyncio.sleep(0.1)
    sent = [[a["action"] for a in s.actions] for s in server.sessions]
    assert sent[0] == ["Login", "Originate"]
    assert "Originate" not in sent[1] and sent[1][0] == "Login"


async def test_bad_input_is_delivered_or_skipped_with_a_log_line(caplog):
    big = "x" * (1024 * 1024)
    stream = [
        b"this is garbage\r\nno headers here\r\n\r\n",
        block(("Event", "VarSet"), ("Variable", "IVR_QUEUE")) [:-2] + b"broken line without colon\r\n\r\n",
        block(("Event", "Huge"), ("Data", big)),
        block(("Event", "Hangup")),  # missing every key the tracker wants
        block(("Event", "SomethingNewInAsterisk23"), ("Foo", "bar")),
        b"Event: BadBytes\r\nCallerIDName: \xd0\x98\xff\r\n\r\n",
        b"\r\n\r\n",
        block(("Event", "ChanVars"), ("ChanVariable", "A=1"), ("chanvariable", "B=2")),
        block(("Event", "Last")),
    ]

    async def send_bad(session: Session) -> None:
        for piece in stream:
            await session.send(piece)

    got = []
    async with FakeAMI(after_login=send_bad, fully_booted=False) as server:
        async with client_for(server) as client:
            client.on_event(got.append)
            client.on_event(lambda m: 1 / 0 if m["Event"] == "Hangup" else None)  # a broken consumer
            await client.wait_connected(3)
            await wait_until(lambda: got and got[-1]["Event"] == "Last", 5)
            assert client.connected and len(server.sessions) == 1
    names = [m["Event"] for m in got]
    assert names == ["VarSet", "Huge", "Hangup", "SomethingNewInAsterisk23", "BadBytes", "ChanVars", "Last"]
    assert len(got[1]["Data"]) == len(big)
    assert got[4]["CallerIDName"] == "И\ufffd"
    assert got[5].getall("ChanVariable") == ["A=1", "B=2"]
    assert got[5]["chanvariable"] == "A=1\nB=2"  # a Frame joins a repeated key's values
    assert "neither Event nor Response" in caplog.text
    assert "malformed line" in caplog.text
    assert "not valid UTF-8" in caplog.text
    assert "event callback" in caplog.text and "ZeroDivisionError" in caplog.text


async def test_events_with_actionid_and_response_keys_stay_events():
    # M6: async Originate answers "successfully queued"; OriginateResponse (an Event with Response
    # and the Originate's ActionID) comes later. UserEvent carries its action's ActionID, here even
    # before the action's response.
    async def originate(session: Session, action: dict) -> None:
        aid = ("ActionID", action["actionid"])
        await session.send(block(("Response", "Success"), aid, ("Message", "Originate successfully queued")))
        await asyncio.sleep(0.05)
        await session.send(block(("Event", "OriginateResponse"), ("Privilege", "call,all"), aid,
                                 ("Response", "Failure"), ("Channel", "Local/x@caller-sim"), ("Reason", "0"),
                                 ("Uniqueid", "<unknown>")))

    async def user_event(session: Session, action: dict) -> None:
        aid = ("ActionID", action["actionid"])
        await session.send(block(("Event", "UserEvent"), ("Privilege", "user,all"), aid,
                                 ("UserEvent", action["userevent"])))
        await session.send(block(("Response", "Success"), aid))

    server = FakeAMI(fully_booted=False)
    server.responders.update(originate=originate, userevent=user_event)
    got = []
    async with server:
        async with client_for(server) as client:
            client.on_event(got.append)
            await client.wait_connected(3)
            response = await client.action({"Action": "Originate", "Channel": "Local/x@caller-sim",
                                            "Application": "Wait", "Data": "1", "Async": "true"})
            assert response["Message"] == "Originate successfully queued"
            ue = await client.action({"Action": "UserEvent", "UserEvent": "BridgeHello"})
            assert ue["Response"] == "Success" and "Event" not in ue
            await wait_until(lambda: len(got) == 2)
    by_name = {m["Event"]: m for m in got}
    assert by_name["OriginateResponse"]["Response"] == "Failure"
    assert by_name["OriginateResponse"]["ActionID"] == response["ActionID"]
    assert by_name["UserEvent"]["ActionID"] == ue["ActionID"]


async def test_list_action_collects_items_while_events_keep_flowing():
    async def queue_status(session: Session, action: dict) -> None:
        aid = ("ActionID", action["actionid"])
        await session.send(block(("Response", "Success"), aid, ("EventList", "start"),
                                 ("Message", "Queue status will follow")))
        await session.send(block(("Event", "QueueParams"), ("Queue", "gov"), ("Calls", "1"), aid))
        await session.send(block(("Event", "Newexten"), ("Privilege", "dialplan,all"), ("Exten", "122")))
        await session.send(block(("Event", "QueueMember"), ("Queue", "gov"), ("Name", "Оператор 1001"), aid))
        await session.send(block(("Event", "QueueStatusComplete"), aid, ("EventList", "Complete"),
                                 ("ListItems", "2")))

    async def command(session: Session, action: dict) -> None:
        await session.send(block(("Response", "Error"), ("ActionID", action["actionid"]),
                                 ("Message", "Command output follows"),
                                 ("Output", "No such command 'bogus' (type 'core show help bogus' for other"
                                            " possible commands)")))

    server = FakeAMI(fully_booted=False)
    server.responders.update(queuestatus=queue_status, command=command)
    got = []
    async with server:
        async with client_for(server) as client:
            client.on_event(got.append)
            await client.wait_connected(3)
            items = await client.action({"Action": "QueueStatus", "Queue": "gov"})
            with pytest.raises(AMIActionError, match="Command failed: Error: Command output follows") as info:
                await client.action({"Action": "Command", "Command": "bogus"})
            assert "No such command" in info.value.response["Output"]
    assert [m.get("Event") or m["Response"] for m in items] == [
        "Success", "QueueParams", "QueueMember", "QueueStatusComplete"]
    assert items[2]["Name"] == "Оператор 1001"
    assert [m["Event"] for m in got] == ["Newexten"]


async def test_malformed_actions_are_refused_before_sending():
    async with FakeAMI() as server:
        async with client_for(server) as client:
            await client.wait_connected(3)
            with pytest.raises(AMIBadAction, match="no 'Action' key"):
                await client.action({"Channel": "Local/1@x"})
            with pytest.raises(AMIBadAction, match="CR/LF in header 'Data'"):
                await client.action({"Action": "Originate", "Data": "1\r\nAction: Logoff"})
    assert [a["action"] for a in server.actions] == ["Login"]


def test_read_message_keeps_what_asterisk_sent():
    message, bad = read_message(b"Event: AsyncAGIExec\r\nCommandId: 7\r\nResult: 200%20result%3D0%0A\r\nValue: ")
    assert bad == []
    assert dict(message) == {"Event": "AsyncAGIExec", "CommandId": "7", "Result": "200%20result%3D0%0A", "Value": ""}
    assert message["commandid"] == "7"
    assert read_message(b"Foo: bar") == (None, [])
    # a response handed to panoramisk's futures keeps the same, repeated keys as a list
    response = response_message(message)
    assert dict(response) == {"Event": "AsyncAGIExec", "CommandId": "7", "Result": "200%20result%3D0%0A", "Value": ""}
    repeated, _ = read_message(b"Response: Error\r\nOutput: a\r\noutput: b")
    assert dict(response_message(repeated)) == {"Response": "Error", "Output": ["a", "b"]}


def conversation(path: str) -> tuple[bytes, list[tuple[dict[str, str], bytes]]]:
    """A transcript as (banner, [(action sent, bytes Asterisk sent until the next action)])."""
    banner, steps, action = b"", [], None
    for record in read_transcript(path).records:
        if record.direction == ">":
            if action is None or action.get("_done"):
                action = {}
                steps.append((action, bytearray()))
            if record.payload == "\r\n":
                action["_done"] = "1"
            else:
                key, _, value = record.payload[:-2].partition(": ")
                action[key] = value
        elif record.direction == "<":
            if steps:
                steps[-1][1].extend(record.payload.encode())
            else:
                banner += record.payload.encode()
    return banner, [({k: v for k, v in a.items() if k != "_done"}, bytes(b)) for a, b in steps]


def expected_answer(stream: bytes, action_id: str) -> list[list[tuple[str, object]]]:
    """M4 from the spec: the response with this ActionID, plus its EventList items up to Complete."""
    blocks = [dict(b) for b in expected_blocks(stream)]
    response = next(b for b in blocks if b.get("ActionID") == action_id and "Event" not in b)
    answer = [response]
    if response.get("EventList") == "start":
        for b in blocks:
            if "Event" in b and b.get("ActionID") == action_id:
                answer.append(b)
                if b.get("EventList") == "Complete":
                    break
    return [list(b.items()) for b in answer]


@pytest.mark.parametrize("path", ["ami/ami-actions.txt", "ami/ami-cc-abandon.txt",
                                  "ami/timestamps/ami-cc-abandon.txt", "ami/ami-async-agi.txt"])
async def test_recorded_conversation_correlates_responses_and_keeps_events(path):
    # The client re-sends the recorder's actions (same ActionIDs); for the n-th action the fake
    # sends, unchanged and in random chunks, exactly what Asterisk sent after it until the next
    # action. Login is answered by the fake (our ActionID); the captured login reply that follows
    # is dropped as unmatched. Logoff is not sent (Asterisk would close the connection).
    banner, steps = conversation(path)
    (login, after_login), steps = steps[0], [s for s in steps[1:] if header(s[0], "action").lower() != "logoff"]
    assert header(login, "action") == "Login"
    rng = random.Random(path)
    replies = iter(reply for _, reply in steps)

    async def send(session: Session, data: bytes) -> None:
        for piece in chunks(data, rng):
            session.writer.write(piece)
        await session.writer.drain()

    async def stream_login_tail(session: Session) -> None:
        await send(session, after_login)

    async def script(session: Session, action: dict) -> None:
        await send(session, next(replies))

    server = FakeAMI(banner=banner, fully_booted=False, after_login=stream_login_tail)
    server.script = script
    got, answers = [], {}
    async with server:
        async with client_for(server) as client:
            client.on_event(got.append)
            await client.wait_connected(3)
            for action, _ in steps:
                action_id = header(action, "actionid")
                if action_id is None:  # Asterisk's answer carries no ActionID: nothing to match
                    with pytest.raises(AMIActionTimeout):
                        await client.action(action, timeout=0.1)
                    continue
                try:
                    result = await client.action(action)
                except AMIActionError as exc:
                    result = exc.response
                answers[action_id] = result
            await asyncio.sleep(0.05)
    stream = after_login + b"".join(reply for _, reply in steps)
    list_items = []
    for action_id, result in answers.items():
        expected = expected_answer(stream, action_id)
        result = result if isinstance(result, list) else [result]
        assert [list(m.items()) for m in result] == expected, action_id
        list_items += expected[1:]
    assert [m.pairs for m in got] == expected_event_pairs(stream, skip=list_items)
    assert len(got) > 50


def header(action: dict[str, str], name: str) -> str | None:
    return next((v for k, v in action.items() if k.lower() == name), None)


async def test_login_never_answered_drops_the_connection_and_retries(caplog):
    accepted = []

    async def mute(reader, writer):  # accepts TCP, sends the banner, then never answers anything
        accepted.append(writer)
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        try:
            await reader.read()
        finally:
            writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with AMIClient("127.0.0.1", port, "bridge", "x", **FAST, login_timeout=0.15) as client:
        with pytest.raises(AMINotConnected, match="not logged in"):
            await client.wait_connected(0.6)
    await asyncio.sleep(0.05)  # the client's close reaches the handlers, which then finish
    server.close()
    await server.wait_closed()
    assert len(accepted) >= 2
    assert "no answer to Login" in caplog.text


async def test_events_the_filter_rejects_are_not_dispatched_but_list_items_of_our_actions_are():
    async def queue_status(session: Session, action: dict) -> None:
        aid = ("ActionID", action["actionid"])
        await session.send(block(("Response", "Success"), aid, ("EventList", "start"),
                                 ("Message", "Queue status will follow")))
        await session.send(block(("Event", "QueueEntry"), ("Queue", "gov"), ("Uniqueid", "1.1"), aid))
        await session.send(block(("Event", "DeviceStateChange"), ("Device", "Local/1001@agents"), ("State", "INUSE")))
        await session.send(block(("Event", "Newexten"), ("Privilege", "dialplan,all"), ("Exten", "122")))
        await session.send(block(("Event", "QueueStatusComplete"), aid, ("EventList", "Complete"),
                                 ("ListItems", "1")))

    server = FakeAMI(fully_booted=False)
    server.responders.update(queuestatus=queue_status)
    got, asked = [], []
    async with server:
        async with client_for(server) as client:
            client.event_filter = lambda name: asked.append(name) or name.lower() in (b"newexten", b"queuestatuscomplete")
            client.on_event(got.append)
            await client.wait_connected(3)
            items = await client.action({"Action": "QueueStatus", "Queue": "gov"})
    assert [m.get("Event") or m["Response"] for m in items] == ["Success", "QueueEntry", "QueueStatusComplete"]
    assert [m["Event"] for m in got] == ["Newexten"]
    assert b"DeviceStateChange" in asked and b"QueueEntry" in asked  # asked by name, as raw bytes
