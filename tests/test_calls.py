"""CallFollower: AMI over real loopback TCP -> tracker -> rows in a real SQLite file.

The captures are replayed unchanged (after the fake answers our own Login) and the rows are
checked field by field; wait and talk times are checked to the second against the captures'
own ``Timestamp`` headers where Asterisk sent them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import pytest
from ami_fake import FakeAMI, Late, Session, block
from helpers import FIXTURES

from asterisk_bridge import config as cfg
from asterisk_bridge.ami.frames import parse_frames
from asterisk_bridge.calls.follower import CallFollower
from asterisk_bridge.calls.queue_log import parse_queue_log, queue_log_calls
from asterisk_bridge.pbxsim.ami_calls import CallScenario, Ids, Operator, call_events, play_call
from asterisk_bridge.pbxsim.ami_server import AMIServer, ChannelState
from asterisk_bridge.store import Store, queries
from asterisk_bridge.utc import parse_utc_iso, utc_iso

AMI = FIXTURES / "ami"
CALLER = ("79161234567", "Иван Петров")
SECRET = "s3cret-Пароль"


def make_config(port: int, *, username: str = "bridge", secret: str = SECRET, queue_log: str | None = None,
                **ami) -> cfg.Config:
    return cfg.Config(
        node="pbx1", timezone="UTC", fastagi=cfg.FastAGISettings(),
        ami=cfg.AMISettings(enabled=True, port=port, username=username, secret=secret, action_timeout=1.0,
                            ping_interval=30.0, reconnect_max=0.5, queue_log=queue_log, **ami),
        database=cfg.DatabaseSettings(), mqtt=cfg.MQTTSettings(), smtp=cfg.SMTPSettings(),
        summary=cfg.SummarySettings(), privacy=cfg.PrivacySettings(), web=cfg.WebSettings(enabled=False),
        queues={}, lines={},
    )


def follower(config, store, **kw) -> CallFollower:
    return CallFollower(config, store, **{"expire_interval": 3600.0, "reconnect_min": 0.05, **kw})


async def wait_until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def stored(store: Store) -> dict[str, dict]:
    await store.flush(5)
    return {row["linkedid"]: row for row in queries.calls(store.path)}


async def wait_rows(store: Store, predicate, timeout: float = 5.0) -> dict[str, dict]:
    async with asyncio.timeout(timeout):
        while True:
            rows = await stored(store)
            if predicate(rows):
                return rows
            await asyncio.sleep(0.02)


async def empty_list(session: Session, action: dict[str, str]) -> None:
    """CoreShowChannels / QueueStatus with nothing to list (M4)."""
    aid = ("ActionID", action["actionid"])
    name = {"coreshowchannels": ("Channels", "CoreShowChannelsComplete"),
            "queuestatus": ("Queue status", "QueueStatusComplete")}[action["action"].lower()]
    await session.send(block(("Response", "Success"), aid, ("EventList", "start"),
                             ("Message", f"{name[0]} will follow")))
    await session.send(block(("Event", name[1]), aid, ("EventList", "Complete"), ("ListItems", "0")))


def replaying_fake(data: bytes, *, upto: int | None = None) -> tuple[FakeAMI, asyncio.Event]:
    """A fake Asterisk that, after answering our Login, streams the capture (from after its banner)
    unchanged; with ``upto`` only that many bytes on the first connection, nothing on later ones."""
    banner_end = data.index(b"\r\n") + 2
    stream = data[banner_end:upto]
    done = asyncio.Event()

    async def replay(session: Session) -> None:
        if len(fake.sessions) == 1:
            for i in range(0, len(stream), 4096):
                session.writer.write(stream[i:i + 4096])
                await session.writer.drain()
        done.set()

    fake = FakeAMI(banner=data[:banner_end], fully_booted=False, after_login=replay)
    fake.responders["coreshowchannels"] = empty_list
    fake.responders["queuestatus"] = empty_list
    return fake, done


def timestamps(data: bytes) -> dict[str, dict[str, float]]:
    """First Timestamp of each queue/hangup event per caller channel (Uniqueid == Linkedid)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for f in parse_frames(data):
        uid = f.get("Uniqueid")
        if uid and uid == f.get("Linkedid") and "Timestamp" in f:
            out[uid].setdefault(f["Event"], float(f["Timestamp"]))
            if f["Event"] in ("AgentConnect", "AgentComplete", "QueueCallerAbandon"):
                out[uid].setdefault(f["Event"] + ":frame", f)
    return out


async def replay_capture(tmp_path: Path, data: bytes, expected_calls: int) -> dict[str, dict]:
    fake, done = replaying_fake(data)
    async with fake, Store(tmp_path / "calls.db") as store:
        follow = follower(make_config(fake.port), store)
        async with follow:
            await asyncio.wait_for(done.wait(), 5)
            await wait_until(lambda: follow.connected)
            rows = await wait_rows(store, lambda r: len(r) == expected_calls and all(x["complete"] for x in r.values()))
            assert follow.active_calls == []
    return rows


# ------------------------------------------------------------------ every capture, field by field

CAPTURES = [
    # file, linkedid, line, queue, operator, outcome, hangup_by, ivr_queue, agi_status
    ("ami-cc-topic2.raw", "1795699537.6", "122", "housing", "Оператор 1002", "answered", "caller", "housing", "SUCCESS"),
    ("ami-cc-invalid-then-valid.raw", "1795699561.12", "117", "gov", "Оператор 1001", "answered", "operator", "gov",
     "SUCCESS"),
    ("ami-cc-timeout.raw", "1795699582.16", "122", "default", "Оператор 1000", "answered", "operator", None, "SUCCESS"),
    ("ami-cc-hangup-in-menu.raw", "1795699609.20", "122", None, None, "abandoned_menu", "caller", None, "HANGUP"),
    ("ami-cc-abandon.raw", "1795699613.22", "122", "social", None, "abandoned_queue", "caller", "social", "SUCCESS"),
    ("ami-cc-bridge-down.raw", "1795699739.58", "122", "default", "Оператор 1000", "answered", "operator", None,
     "FAILURE"),
    ("timestamps/ami-cc-topic2.raw", "1795700358.0", "122", "housing", "Оператор 1002", "answered", "caller", "housing",
     "SUCCESS"),
    ("timestamps/ami-cc-abandon.raw", "1795700382.6", "122", "social", None, "abandoned_queue", "caller", "social",
     "SUCCESS"),
]


@pytest.mark.parametrize("name, linkedid, line, queue, operator, outcome, hangup_by, ivr_queue, agi_status", CAPTURES,
                         ids=[c[0] for c in CAPTURES])
async def test_capture_gives_one_row_field_by_field(tmp_path, name, linkedid, line, queue, operator, outcome,
                                                    hangup_by, ivr_queue, agi_status):
    data = (AMI / name).read_bytes()
    rows = await replay_capture(tmp_path, data, 1)
    row = rows[linkedid]  # one row: never the Local halves or the member channels
    assert (row["uniqueid"], row["node"], row["line"]) == (linkedid, "pbx1", line)
    assert row["channel"].startswith("Local/") and row["channel"].endswith(";1")
    assert (row["caller_number"], row["caller_name"]) == CALLER
    ts = timestamps(data).get(linkedid)
    if outcome == "abandoned_queue" and not ts:
        # no Timestamp headers: the wait is measured on receipt, and the replay is fast
        outcome = "short_abandon" if row["queued_seconds"] <= 5.0 else "abandoned_queue"
    assert (row["queue"], row["operator"], row["outcome"], row["hangup_by"]) == (queue, operator, outcome, hangup_by)
    assert (row["ivr_queue"], row["agi_status"]) == (ivr_queue, agi_status)
    assert (row["hangup_cause"], row["hangup_cause_text"]) == (16, "Normal Clearing")
    assert row["complete"] is True and row["source"] == "ami" and row["age_group"] == "unknown"
    assert row["started_at"] <= row["ended_at"]
    if queue is None:
        assert row["legs"] == [] and row["queued_seconds"] is None and row["answered_at"] is None
        return
    (leg,) = row["legs"]
    assert (leg["linkedid"], leg["seq"], leg["queue"], leg["position"]) == (linkedid, 0, queue, 1)
    assert leg["wait_seconds"] == row["queued_seconds"] >= 0
    if operator is not None:
        assert leg["answered_by"] == operator and leg["answered_interface"] == row["operator_interface"]
        assert row["operator_interface"].startswith("Local/1") and row["operator_interface"].endswith("@agents/n")
        assert row["talk_seconds"] is not None and row["answered_at"] is not None
        assert leg["completed_by"] == {"caller": "caller", "operator": "agent"}[hangup_by]
        assert (leg["abandoned"], leg["left_reason"]) == (False, "answered")
    else:
        assert (leg["abandoned"], leg["left_reason"], leg["answered_by"]) == (True, "abandoned", None)
        assert row["talk_seconds"] is None and row["operator"] is None
    if not ts:
        return  # no Timestamp headers in this capture: times are receipt times
    # to the second, from the capture's own Timestamps, and within 1 s of Asterisk's integers
    assert parse_utc_iso(row["started_at"]) == pytest.approx(ts["Newchannel"], abs=0.001)
    assert parse_utc_iso(row["ended_at"]) == pytest.approx(ts["Hangup"], abs=0.001)
    assert parse_utc_iso(leg["joined_at"]) == pytest.approx(ts["QueueCallerJoin"], abs=0.001)
    if operator is not None:
        assert round(row["queued_seconds"]) == round(ts["QueueCallerLeave"] - ts["QueueCallerJoin"])
        assert round(row["talk_seconds"]) == round(ts["AgentComplete"] - ts["AgentConnect"])
        assert abs(row["queued_seconds"] - int(ts["AgentConnect:frame"]["HoldTime"])) < 1
        assert abs(row["talk_seconds"] - int(ts["AgentComplete:frame"]["TalkTime"])) < 1
        assert parse_utc_iso(row["answered_at"]) == pytest.approx(ts["AgentConnect"], abs=0.001)
    else:
        assert round(row["queued_seconds"]) == round(ts["QueueCallerAbandon"] - ts["QueueCallerJoin"])
        assert abs(row["queued_seconds"] - int(ts["QueueCallerAbandon:frame"]["HoldTime"])) < 1


async def test_eight_concurrent_calls_give_eight_rows_matching_calls_json(tmp_path):
    data = (AMI / "concurrent" / "ami-8-calls.raw").read_bytes()
    rows = await replay_capture(tmp_path, data, 8)
    expected = json.loads((AMI / "concurrent" / "calls-8.json").read_text())
    assert sorted(rows) == sorted(c["linkedid"] for c in expected)
    ql = queue_log_calls(parse_queue_log((AMI / "concurrent" / "queue_log-8-calls").read_text()))
    ts = timestamps(data)
    for call in expected:
        row = rows[call["linkedid"]]
        assert row["channel"] == call["caller_channel"] and row["line"] == call["line"]
        assert (row["ivr_result"], row["ivr_queue"]) == (call["ivr_variables"]["IVR_RESULT"],
                                                         call["ivr_variables"]["IVR_QUEUE"])
        assert row["queue"] == call["queue"]
        assert (row["outcome"] == "answered") == call["answered"]
        assert (row["outcome"] in ("abandoned_queue", "short_abandon")) == call["abandoned"]
        assert (row["caller_number"], row["caller_name"], row["complete"]) == (*CALLER, True)
        if call["queue"] is None:
            assert row["outcome"] == "abandoned_menu" and row["legs"] == []
            continue
        t = ts[call["linkedid"]]
        left = t.get("QueueCallerAbandon", t["QueueCallerLeave"])
        assert round(row["queued_seconds"]) == round(left - t["QueueCallerJoin"])
        assert abs(row["queued_seconds"] - ql[call["linkedid"]].legs[0].wait_seconds) <= 1
        if call["answered"]:
            assert row["operator"] == ql[call["linkedid"]].legs[0].answered_by
            assert round(row["talk_seconds"]) == round(t["AgentComplete"] - t["AgentConnect"])
            assert row["hangup_by"] == "caller"
    assert rows["1795700593.10"]["outcome"] == "short_abandon"  # waited 4 s (queue_log ABANDON 4)


async def test_replaying_the_same_capture_twice_gives_the_same_rows(tmp_path):
    data = (AMI / "concurrent" / "ami-8-calls.raw").read_bytes()
    first = await replay_capture(tmp_path, data, 8)
    again = await replay_capture(tmp_path, data, 8)  # same database, a new follower
    assert again == first


# ------------------------------------------------------------------ the package's simulator

OP_1002 = Operator("1002", "Оператор 1002")
OP_2002 = Operator("2002", "Оператор 2002 (не отвечает)")


def pbx(**kw) -> AMIServer:
    return AMIServer(username="bridge", secret=SECRET, login_delay=0.0, timestampevents=True, **kw)


def first_ts(events, name: str, uid: str) -> float:
    return next(t for t, h in events if dict(h).get("Event") == name and dict(h).get("Uniqueid") == uid)


async def test_simulated_calls_answered_abandoned_and_hung_up_in_menu(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="asterisk_bridge.calls")
    scenarios = [
        CallScenario("topic2", queue="housing", topic="2", keys=("2",), no_answer=(Operator("2001", "Оп 2001"),),
                     operator=OP_1002, talk=11.0, hangup_by="caller"),
        CallScenario("abandon", queue="social", topic="3", keys=("3",), no_answer=(OP_2002,), abandon_after=9.0),
        CallScenario("menu-hangup", menu="hangup", line="117"),
    ]
    starts = [1795699537.0, 1795699613.0, 1795699609.0]
    seqs = [6, 22, 20]
    async with pbx() as server, Store(tmp_path / "calls.db") as store:
        async with follower(make_config(server.port), store) as follow:
            await wait_until(lambda: follow.connected and server.connections == 1)
            await asyncio.sleep(0.05)  # the reconcile after login
            for sc, start, seq in zip(scenarios, starts, seqs, strict=True):
                await play_call(server, sc, start, speed=float("inf"), ids=Ids(seq=itertools.count(seq)))
            rows = await wait_rows(store, lambda r: len(r) == 3 and all(x["complete"] for x in r.values()))
    answered, abandoned, menu = (rows[f"{int(s)}.{q}"] for s, q in zip(starts, seqs, strict=True))
    ev = call_events(scenarios[0], starts[0], Ids(seq=itertools.count(6)))
    uid = "1795699537.6"
    assert (answered["line"], answered["queue"], answered["operator"], answered["outcome"]) == (
        "122", "housing", "Оператор 1002", "answered")
    assert (answered["caller_number"], answered["caller_name"], answered["hangup_by"]) == (*CALLER, "caller")
    assert round(answered["queued_seconds"]) == round(first_ts(ev, "AgentConnect", uid) - first_ts(ev, "QueueCallerJoin", uid))
    assert round(answered["talk_seconds"]) == 11
    assert answered["legs"][0]["ring_attempts"] == 2
    assert (abandoned["queue"], abandoned["outcome"], abandoned["operator"]) == ("social", "abandoned_queue", None)
    assert round(abandoned["queued_seconds"]) == 9 and abandoned["legs"][0]["abandoned"] is True
    assert (menu["line"], menu["outcome"], menu["queue"], menu["legs"]) == ("117", "abandoned_menu", None, [])
    assert all(r["hangup_cause"] == 16 and r["complete"] for r in rows.values())
    lines = [r.getMessage() for r in caplog.records if r.name == "asterisk_bridge.calls" and r.levelno == logging.INFO
             and r.getMessage().startswith("call ")]
    assert len(lines) == 3
    assert all("7916***4567" in line and "79161234567" not in line for line in lines)
    assert any("answered" in line and "Оператор 1002" in line and "housing" not in line.split("topic")[0]
               for line in lines)


def caller_channel_state(events, uid: str) -> ChannelState:
    """What CoreShowChannels would list for the caller channel of a call in the queue."""
    new = next(dict(h) for _, h in events if dict(h).get("Event") == "Newchannel" and dict(h).get("Uniqueid") == uid)
    snap = [(k, new[k]) for k in ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
                                  "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode")]
    snap += [("Context", "contact-center"), ("Exten", "122"), ("Priority", "1"), ("Uniqueid", uid), ("Linkedid", uid)]
    return ChannelState(snapshot=snap, application="Queue", application_data="housing,,,,300",
                        started_at=first_ts(events, "Newchannel", uid))


def split_after(events, name: str, uid: str):
    """The events up to and including the caller's first ``name`` event, and the rest."""
    cut = next(i for i, (_, h) in enumerate(events)
               if dict(h).get("Event") == name and dict(h).get("Uniqueid") == uid) + 1
    return events[:cut], events[cut:]


def gone_and_live():
    """Two calls waiting in the housing queue: "gone" ends while we are blind, "live" stays up.
    Returns (the live call's events, their ids, both calls' events up to the join, the live rest)."""
    gone = CallScenario("gone", queue="housing", topic="2", keys=("2",), operator=OP_1002)
    live = CallScenario("live", queue="housing", topic="2", operator=OP_1002, talk=3.0)
    ev_gone = call_events(gone, 1795700000.0, Ids(seq=itertools.count(6), local=itertools.count(3)))
    ev_live = call_events(live, 1795700001.0, Ids(seq=itertools.count(40), local=itertools.count(30)))
    gone_id, live_id = "1795700000.6", "1795700001.40"
    gone_head, _ = split_after(ev_gone, "QueueCallerJoin", gone_id)
    live_head, live_tail = split_after(ev_live, "QueueCallerJoin", live_id)
    return ev_live, (gone_id, live_id), (gone_head, live_head), live_tail


def send(server: AMIServer, events) -> None:
    for t, headers in events:
        server.broadcast(headers, timestamp=t)


async def test_server_drops_mid_call_reconcile_closes_the_ended_call_and_keeps_the_live_one(tmp_path):
    ev_live, (gone_id, live_id), (gone_head, live_head), live_tail = gone_and_live()
    async with pbx() as server, Store(tmp_path / "calls.db") as store:
        async with follower(make_config(server.port), store) as follow:
            await wait_until(lambda: follow.connected)
            await asyncio.sleep(0.05)
            send(server, gone_head + live_head)
            await wait_until(lambda: len(follow.active_calls) == 2)
            since = follow.connected_since
            server.channels["live"] = caller_channel_state(ev_live, live_id)  # only this one is still up
            server.drop_connections()  # the rest of "gone" happens while we are blind
            await wait_until(lambda: not follow.connected)
            await wait_until(lambda: follow.connected and follow.connected_since != since)
            rows = await wait_rows(store, lambda r: r.get(gone_id, {}).get("outcome") == "unknown_end")
            assert [c.linkedid for c in follow.active_calls] == [live_id]
            g = rows[gone_id]
            assert (g["complete"], g["line"], g["queue"], g["caller_number"]) == (False, "122", "housing", CALLER[0])
            assert g["ended_at"] == g["updated_at"] and g["legs"][0]["left_reason"] == "ended"
            assert parse_utc_iso(g["ended_at"]) == pytest.approx(gone_head[-1][0], abs=0.001)
            assert rows[live_id]["outcome"] is None and rows[live_id]["complete"] is False
            send(server, live_tail)
            rows = await wait_rows(store, lambda r: r[live_id]["complete"])
    row = rows[live_id]
    assert (row["outcome"], row["operator"], round(row["talk_seconds"])) == ("answered", "Оператор 1002", 3)


async def test_restart_reloads_open_calls_closes_the_gone_and_follows_the_live(tmp_path):
    ev_live, (gone_id, live_id), (gone_head, live_head), live_tail = gone_and_live()
    path = tmp_path / "calls.db"
    async with pbx() as server:
        async with Store(path) as store:  # first run: stops (or crashes) with two calls open
            async with follower(make_config(server.port), store) as follow:
                await wait_until(lambda: follow.connected)
                await asyncio.sleep(0.05)
                send(server, gone_head + live_head)
                await wait_until(lambda: len(follow.active_calls) == 2)
            await store.flush(5)
        assert sorted(r["linkedid"] for r in queries.open_calls(path)) == [gone_id, live_id]
        server.channels["live"] = caller_channel_state(ev_live, live_id)
        async with Store(path) as store:  # second run
            follow = follower(make_config(server.port), store)
            async with follow:
                assert sorted(c.linkedid for c in follow.active_calls) == [gone_id, live_id]
                rows = await wait_rows(store, lambda r: r[gone_id]["outcome"] == "unknown_end")
                assert [c.linkedid for c in follow.active_calls] == [live_id]
                send(server, live_tail)
                rows = await wait_rows(store, lambda r: r[live_id]["complete"])
    g = rows[gone_id]  # its data is kept
    assert (g["complete"], g["line"], g["queue"], g["ivr_queue"], g["caller_name"]) == (
        False, "122", "housing", "housing", CALLER[1])
    assert len(g["legs"]) == 1 and g["legs"][0]["queue"] == "housing"
    row = rows[live_id]
    assert (row["outcome"], row["complete"], row["operator"], row["line"]) == ("answered", True, "Оператор 1002", "122")
    assert parse_utc_iso(row["started_at"]) == pytest.approx(first_ts(ev_live, "Newchannel", live_id), abs=0.001)
    assert queries.open_calls(path) == []


async def store_open_call(path: Path, linkedid: str) -> None:
    """A call waiting in the housing queue when the bridge stopped (an open row in the store)."""
    from asterisk_bridge.calls.model import CallRecord, QueueLeg

    record = CallRecord(linkedid=linkedid, uniqueid=linkedid, started_at=1795700000.0, line="122",
                        caller_number=CALLER[0], last_event_at=1795700005.0)
    record.legs.append(QueueLeg(queue="housing", joined_at=1795700005.0))
    async with Store(path) as store:
        await store.save_call(record, timeout=5)


async def test_a_reconcile_not_answered_in_time_is_retried_while_the_connection_stays_up(tmp_path):
    # Asterisk takes longer than action_timeout to list its channels: the reconcile after the login
    # fails, and must be tried again (with backoff) until one succeeds, not left until the next
    # reconnect or unknown_end_after (hours) while the call that ended meanwhile stays open.
    path, lid = tmp_path / "calls.db", "1795700000.6"
    await store_open_call(path, lid)
    channels = Late(empty_list, delay=1.5)  # action_timeout is 1.0 s
    fake = FakeAMI(fully_booted=False)
    fake.responders.update(coreshowchannels=channels, queuestatus=empty_list)
    async with fake, Store(path) as store:
        async with follower(make_config(fake.port), store) as follow:
            await wait_until(lambda: follow.connected)
            await wait_until(lambda: channels.calls == 2, 5)  # the first list went unanswered in time
            assert follow.reconcile_pending and [c.linkedid for c in follow.active_calls] == [lid]
            channels.delay = 0
            rows = await wait_rows(store, lambda r: r[lid]["outcome"] == "unknown_end", 10)
            assert not follow.reconcile_pending and follow.active_calls == []
    assert len(fake.sessions) == 1  # the connection stayed up all along
    assert (rows[lid]["complete"], rows[lid]["queue"]) == (False, "housing")


async def test_status_shows_reconcile_pending_until_one_succeeds(tmp_path):
    from dataclasses import replace

    from asterisk_bridge import health
    from asterisk_bridge.demo import AMI_USER, demo_config
    from asterisk_bridge.service import Service

    channels = Late(empty_list, delay=3600.0)
    fake = FakeAMI(username=AMI_USER, secret=SECRET, fully_booted=False)
    fake.responders.update(coreshowchannels=channels, queuestatus=empty_list)
    async with fake:
        config = demo_config(tmp_path, ami_port=fake.port, ami_secret=SECRET)
        config = replace(config, ami=replace(config.ami, action_timeout=0.3))
        status_file = health.status_path(config)

        def shown() -> str:
            return health.format_status(health.read_status(status_file), time.time(), config.timezone)

        async with Service(config):
            await wait_until(lambda: status_file.exists() and "reconcile pending" in shown(), 10)
            assert "AMI      connected since" in shown() and channels.calls >= 1
            channels.delay = 0
            await wait_until(lambda: "reconcile pending" not in shown(), 10)
            assert "AMI      connected since" in shown()


def user_event(linkedid: str, age: str | None = None, resolution: str | None = None):
    headers = [("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", "ContactCenter"), ("Linkedid", linkedid)]
    if age:
        headers.append(("AgeGroup", age))
    if resolution:
        headers.append(("Resolution", resolution))
    return headers


async def test_operator_input_for_unknown_call_is_kept_and_applied_and_reaches_finished_calls(tmp_path):
    sc = CallScenario("topic2", queue="housing", topic="2", operator=OP_1002, talk=2.0)
    ev = call_events(sc, 1795700000.0, Ids(seq=itertools.count(6)))
    lid = "1795700000.6"
    path = tmp_path / "calls.db"
    async with pbx() as server:
        async with Store(path) as store:
            async with follower(make_config(server.port), store) as follow:
                await wait_until(lambda: follow.connected)
                await asyncio.sleep(0.05)
                server.broadcast(user_event(lid, "30-40"), timestamp=1795699999.0)  # before the call exists
                await store.flush(5)
                await wait_until(lambda: queries.operator_inputs(path, lid) != [])
                assert queries.operator_inputs(path) == [
                    {"linkedid": lid, "at": utc_iso(1795699999.0), "age_group": "30-40", "resolution": None}]
                send(server, ev)
                rows = await wait_rows(store, lambda r: lid in r and r[lid]["complete"])
                assert rows[lid]["age_group"] == "30-40" and queries.operator_inputs(path) == []
                # after the hangup: the resolution still reaches the call
                server.broadcast(user_event(lid, resolution="consulted"), timestamp=ev[-1][0] + 20)
                rows = await wait_rows(store, lambda r: r[lid]["resolution"] == "consulted")
                assert (rows[lid]["age_group"], rows[lid]["outcome"]) == ("30-40", "answered")
        async with Store(path) as store:  # a restart: the tracker no longer knows the call
            async with follower(make_config(server.port), store) as follow:
                await wait_until(lambda: follow.connected)
                server.broadcast(user_event(lid, "40-60", "callback"), timestamp=ev[-1][0] + 3600)
                rows = await wait_rows(store, lambda r: r[lid]["resolution"] == "callback")
    assert (rows[lid]["age_group"], rows[lid]["outcome"], rows[lid]["complete"]) == ("40-60", "answered", True)
    assert rows[lid]["updated_at"] == utc_iso(ev[-1][0] + 3600)  # the input's own time
    assert queries.operator_inputs(path) == []


# ------------------------------------------------------------------ queue_log fills the gap


def lab_lines(config: cfg.Config, gov: tuple[str, ...]) -> cfg.Config:
    """The lab's queues (fixtures README "Lab topology") on lines 122 and 117; ``gov`` says which
    lines send calls to the ``gov`` queue."""
    def line(number: str) -> dict:
        topics = [{"key": "1", "id": "gov", "name": "gov", "queue": "gov"}] if number in gov else []
        return {"number": number, "default_queue": "default", "menu_prompt": "cc/m", "invalid_prompt": "cc/i",
                "topics": [*topics, {"key": "2", "id": f"t{number}", "name": "t", "queue": f"q{number}"}]}

    parsed = cfg.parse_config({"node": "pbx1", "queues": {q: q for q in ("default", "gov", "q122", "q117")},
                               "lines": [line("122"), line("117")]})
    return replace(config, queues=parsed.queues, lines=parsed.lines)


@pytest.mark.parametrize("gov, line", [(("122", "117"), None), (("122",), "122")],
                         ids=["queue of two lines: line unknown", "queue of one line: its line"])
async def test_queue_log_fills_calls_missed_while_ami_was_down(tmp_path, gov, line):
    data = (AMI / "concurrent" / "ami-8-calls.raw").read_bytes()
    frames_end = [i + 4 for i in range(len(data)) if data.startswith(b"\r\n\r\n", i)]
    cut_ts = 1795700595.9
    # the stream up to the first event stamped at or after cut_ts
    stamped = [(end, f) for end, f in zip(frames_end, parse_frames(data), strict=True)]
    cut = next(prev for (prev, _), (_, f) in zip(stamped, stamped[1:], strict=False)
               if "Timestamp" in f and float(f["Timestamp"]) >= cut_ts)
    fake, done = replaying_fake(data, upto=cut)
    log_lines = (AMI / "concurrent" / "queue_log-8-calls").read_text().splitlines(keepends=True)
    queue_log = tmp_path / "queue_log"
    queue_log.write_text("".join(line for line in log_lines if int(line.split("|")[0]) < int(cut_ts)))
    now = [1795700500.0]
    async with fake, Store(tmp_path / "calls.db") as store:
        follow = follower(lab_lines(make_config(fake.port, queue_log=str(queue_log)), gov), store,
                          clock=lambda: now[0], reconnect_min=0.3)
        async with follow:
            await asyncio.wait_for(done.wait(), 5)
            await wait_until(lambda: follow.connected)
            await wait_until(lambda: len(follow.active_calls) == 6)  # .8 hung up in the menu, .24 not begun
            now[0] = cut_ts
            fake.sessions[0].abort()
            await wait_until(lambda: not follow.connected)
            # while AMI is down Asterisk keeps writing queue_log (a partial last line too)
            rest = "".join(line for line in log_lines if int(line.split("|")[0]) >= int(cut_ts))
            with queue_log.open("a") as f:
                f.write(rest + "1795700611|1795700592.6|defa")
            now[0] = 1795700620.0
            await wait_until(lambda: follow.connected, 3)
            rows = await wait_rows(store, lambda r: len(r) == 8 and all(x["outcome"] for x in r.values())
                                   and r["1795700592.6"]["outcome"] == "answered")
            await follow.tick()  # reading again changes nothing
            assert await stored(store) == rows
    ql = queue_log_calls(parse_queue_log("".join(log_lines)))
    assert rows["1795700593.8"]["outcome"] == "abandoned_menu" and rows["1795700593.8"]["complete"]
    for lid in ("1795700591.0", "1795700591.4", "1795700592.6", "1795700594.16", "1795700595.20"):
        row, call = rows[lid], ql[lid]
        assert (row["outcome"], row["complete"], row["source"]) == ("answered", False, "ami"), lid
        assert (row["queue"], row["operator"]) == (call.legs[0].queue, call.legs[0].answered_by), lid
        assert row["queued_seconds"] == call.legs[0].hold_time and row["talk_seconds"] == call.legs[0].talk_time
        assert row["line"] in ("122", "117") and row["caller_name"] == CALLER[1]  # AMI's part is kept
        assert parse_utc_iso(row["ended_at"]) == call.last_at
    assert rows["1795700591.0"]["queued_seconds"] == 8 and rows["1795700591.0"]["operator"] == "Оператор 1002"
    assert (rows["1795700593.10"]["outcome"], rows["1795700593.10"]["queued_seconds"]) == ("short_abandon", 4)
    unseen = rows["1795700596.24"]  # began while AMI was down: known from queue_log alone
    assert (unseen["source"], unseen["outcome"], unseen["queue"], unseen["operator"]) == (
        "queue_log", "answered", "gov", "Оператор 1001")
    # its line is the line of the queue it joined, when the configuration gives that queue one line
    assert (unseen["line"], unseen["caller_number"], unseen["complete"]) == (line, CALLER[0], True)


# Asterisk 22.10.1's queue_log for a call placed while the bridge was stopped, answered, and still
# talking when the bridge came back (tests/test_real_asterisk_outages.py); Asterisk then published
# its AgentComplete with no caller and no operator fields, so AMI ended it without a queue leg.
ADOPTED_QUEUE_LOG = """\
1795959599|1795959598.4|cc-122-default|NONE|ENTERQUEUE||79160000002|1
1795959600|1795959598.4|cc-122-default|Оператор 3021|CONNECT|1|1795959599.6|1
1795959607|1795959598.4|cc-122-default|Оператор 3021|COMPLETECALLER|1|7|1
"""


@pytest.mark.parametrize("adopted", [True, False], ids=["adopted after the outage", "followed from its start"])
async def test_a_call_adopted_after_an_outage_and_ended_without_a_queue_leg_takes_queue_logs(tmp_path, adopted):
    from asterisk_bridge.calls.backfill import QueueLogBackfill
    from asterisk_bridge.calls.model import CallRecord
    from asterisk_bridge.calls.tracker import CallTracker

    queue_log = tmp_path / "queue_log"
    queue_log.write_text(ADOPTED_QUEUE_LOG)
    lid, path = "1795959598.4", tmp_path / "calls.db"
    async with Store(path) as store:
        backfill = QueueLogBackfill(str(queue_log), store, CallTracker(), "pbx1", {"cc-122-default": "122"})
        backfill.blind_since(1795959590.0)
        backfill.link_back(1795959598.0 if not adopted else 1795959604.9)
        record = CallRecord(linkedid=lid, uniqueid=lid, started_at=1795959598.853, line="122")
        record.ended_at, record.complete, record.outcome, record.agi_status = 1795959607.839, True, "abandoned_menu", "FAILURE"
        store.submit_call(record)
        backfill.call_ended(record)
        await backfill.read()
        await store.flush(5)
    row = queries.call(path, lid)
    if adopted:  # queue_log tells what AMI could not: answered by 3021 after a second's wait
        assert (row["outcome"], row["operator"], row["queue"], row["queued_seconds"], row["talk_seconds"]) == (
            "answered", "Оператор 3021", "cc-122-default", 1, 7)
        assert (row["complete"], row["source"], parse_utc_iso(row["ended_at"])) == (1, "ami", 1795959607.839)
    else:  # AMI saw the whole call: its own outcome stands
        assert (row["outcome"], row["queue"]) == ("abandoned_menu", None)


# Asterisk 22.10.1's queue_log for the caller of tests/test_real_asterisk.py whose inbound context
# dials Local/117@contact-center: the menu and the queue ran on the Local half 1795968993.31, so
# queue_log names that half; the call's Linkedid is 1795968993.28 (its menu session says so).
LOCAL_QUEUE_LOG = """\
1795968997|1795968993.31|cc-117-conditions|NONE|ENTERQUEUE||79160000028|1
1795968998|1795968993.31|cc-117-conditions|Оператор 1011|CONNECT|1|1795968997.40|1
1795969002|1795968993.31|cc-117-conditions|Оператор 1011|COMPLETEAGENT|1|4|1
"""
LOCAL_HALF, LOCAL_LINKEDID = "1795968993.31", "1795968993.28"


def local_menu_session():
    from asterisk_bridge.menu import MenuRecord

    return MenuRecord(session_id="18551d06ab564b37abc57b1dc62d59ad", node="pbx1", line="117",
                      caller_number="79160000028", caller_name=CALLER[1], channel="Local/117@contact-center-0000000f;2",
                      uniqueid=LOCAL_HALF, linkedid=LOCAL_LINKEDID, agi_script="ivr?line=117",
                      started_at=1795968994.176, ended_at=1795968997.527, result="topic", topic="conditions",
                      queue="cc-117-conditions", age_group="unknown", ended_in="info:conditions", hung_up=False)


@pytest.mark.parametrize("seen", [False, True], ids=["the whole call while AMI was down",
                                                     "followed until AMI went down before its queue"])
async def test_a_call_through_a_local_channel_filled_from_queue_log_is_one_call_under_its_linkedid(tmp_path, seen,
                                                                                                    monkeypatch):
    """queue_log's callid is the Local half; the menu session on that half names the call's Linkedid:
    the queue part belongs to that call, never to a call of its own. Rebuilt from queue_log alone,
    the call keeps what its menu decided (the topic the day's figures count it under)."""
    from asterisk_bridge.calls.backfill import QueueLogBackfill
    from asterisk_bridge.calls.model import CallRecord
    from asterisk_bridge.calls.tracker import CallTracker
    from asterisk_bridge.store import report_queries

    looked_up: list[list[str]] = []
    look_up = queries.queue_log_menu_sessions
    monkeypatch.setattr(queries, "queue_log_menu_sessions",
                        lambda db, ids: looked_up.append(list(ids)) or look_up(db, ids))
    queue_log = tmp_path / "queue_log"
    lines = LOCAL_QUEUE_LOG.splitlines(keepends=True)
    queue_log.write_text("".join(lines[:2]))  # the call is talking
    path = tmp_path / "calls.db"
    async with Store(path) as store:
        backfill = QueueLogBackfill(str(queue_log), store, CallTracker(), "pbx1", {"cc-117-conditions": "117"})
        store.submit_menu(replace(local_menu_session(), age_group="40-60"))  # the caller answered the age question
        if seen:  # AMI saw the call up to the menu, the link went down, the reconcile closed it
            backfill.blind_since(1795968990.0)
            backfill.link_back(1795968993.0)
            backfill.link_lost(1795968995.0)
            record = CallRecord(linkedid=LOCAL_LINKEDID, uniqueid=LOCAL_LINKEDID, started_at=1795968993.671,
                                line="117", caller_number="79160000028", last_event_at=1795968994.9)
            record.ended_at, record.outcome, record.agi_status = 1795968994.9, "unknown_end", None
            backfill.link_back(1795969010.0)
            store.submit_call(record)
            backfill.call_ended(record)
        else:  # the menu ran, AMI was down from before the call to after it
            backfill.blind_since(1795968990.0)
        await backfill.read()
        await store.flush(5)
        with queue_log.open("a") as f:  # the talk ends: a later line of the same half needs no second lookup
            f.write(lines[2])
        await backfill.read()
        await store.flush(5)
        await backfill.read()  # reading again changes nothing
        await store.flush(5)
    assert looked_up == [[LOCAL_HALF]]
    assert [row["linkedid"] for row in queries.calls(path)] == [LOCAL_LINKEDID]
    row = queries.call(path, LOCAL_LINKEDID)
    assert (row["line"], row["outcome"], row["queue"], row["operator"]) == (
        "117", "answered", "cc-117-conditions", "Оператор 1011")
    assert (row["queued_seconds"], row["talk_seconds"], row["hangup_by"]) == (1, 4, "operator")
    assert (row["source"], row["complete"]) == (("ami", 0) if seen else ("queue_log", 1))
    # counted once: the menu session belongs to the stored call, not to a call of its own
    day = (1795968000.0, 1795968000.0 + 86400)
    period = report_queries.bucket_totals(path, *day)
    assert period == [{"line": "117", "bucket": "answered", "calls": 1}]
    # what the menu decided, from its session: AMI saw none of it (lost before the menu ended)
    menu = (row["ivr_result"], row["topic"], row["ivr_queue"], row["age_group"], row["caller_name"])
    assert menu == ("topic", "conditions", "cc-117-conditions", "40-60", CALLER[1])
    groups = [(g["line"], g["topic"], g["age_group"], g["outcome"], g["calls"])
              for g in report_queries.call_groups(path, *day, threshold=20)]
    assert groups == [("117", "conditions", "40-60", "answered", 1)]


# Two callers whose own channels ran the menu and queued (queue_log's callid is the Linkedid), both
# followed by AMI until the link went down while they were in the menu (ADOPTED_QUEUE_LOG's call and
# one more, abandoned).
SEEN_QUEUE_LOG = ADOPTED_QUEUE_LOG + """\
1795959601|1795959599.9|cc-122-default|NONE|ENTERQUEUE||79160000003|1
1795959620|1795959599.9|cc-122-default|NONE|ABANDON|1|1|19
"""


async def test_a_call_ami_lost_in_its_menu_takes_what_ami_missed_from_its_menu_session(tmp_path, monkeypatch):
    """The IVR_* VarSets went by while AMI was blind; the menu sessions (one lookup for every such
    call) give what the record lacks, never what AMI gave, but for the IVR_RESULT=error (and default
    IVR_QUEUE) every menu session sets first: AMI saw the menu start, the session tells its end."""
    from asterisk_bridge.calls.backfill import QueueLogBackfill
    from asterisk_bridge.calls.model import CallRecord
    from asterisk_bridge.calls.tracker import CallTracker
    from asterisk_bridge.store import report_queries

    looked_up: list[list[str]] = []
    look_up = queries.queue_log_menu_sessions
    monkeypatch.setattr(queries, "queue_log_menu_sessions",
                        lambda db, ids: looked_up.append(sorted(ids)) or look_up(db, ids))
    answered, abandoned = "1795959598.4", "1795959599.9"
    queue_log, path = tmp_path / "queue_log", tmp_path / "calls.db"
    queue_log.write_text(SEEN_QUEUE_LOG)
    session = replace(local_menu_session(), line="122", uniqueid=answered, linkedid=answered,
                      channel="PJSIP/trunk-00000004", topic="housing", queue="cc-122-housing", age_group="over-60",
                      started_at=1795959598.9, ended_at=1795959599.0)
    async with Store(path) as store:
        backfill = QueueLogBackfill(str(queue_log), store, CallTracker(), "pbx1", {"cc-122-default": "122"})
        backfill.blind_since(1795959590.0)
        backfill.link_back(1795959598.0)
        backfill.link_lost(1795959599.95)
        store.submit_menu(session)
        store.submit_menu(replace(session, session_id="2", uniqueid=abandoned, linkedid=abandoned,
                                  caller_name=None, started_at=1795959600.0, ended_at=1795959600.9))
        first = CallRecord(linkedid=answered, uniqueid=answered, started_at=1795959598.853, line="122",
                           caller_number="79160000002", caller_name="Ivan P", last_event_at=1795959599.0,
                           ivr_result="error", ivr_queue="cc-122-default")  # the menu's first act
        # AMI saw the first session's result and topic before the link went down; they stand
        second = CallRecord(linkedid=abandoned, uniqueid=abandoned, started_at=1795959599.9, line="122",
                            ivr_result="topic", ivr_topic="conditions", last_event_at=1795959600.0)
        backfill.link_back(1795959700.0)
        for record in (first, second):
            record.ended_at, record.outcome = record.last_event_at, "unknown_end"
            store.submit_call(record)
            backfill.call_ended(record)
        await backfill.read()
        await store.flush(5)
        await backfill.read()  # reading again looks up nothing
        await store.flush(5)
    assert looked_up == [[answered, abandoned]]
    rows = {row["linkedid"]: row for row in queries.calls(path)}
    menu = ("line", "outcome", "ivr_result", "topic", "ivr_queue", "age_group", "caller_name", "source")
    assert tuple(rows[answered][k] for k in menu) == (
        "122", "answered", "topic", "housing", "cc-122-housing", "over-60", "Ivan P", "ami")
    assert tuple(rows[abandoned][k] for k in menu) == (
        "122", "abandoned_queue", "topic", "conditions", "cc-122-housing", "over-60", None, "ami")
    topics = {(g["topic"], g["outcome"]) for g in
              report_queries.call_groups(path, 1795958400.0, 1795958400.0 + 86400, threshold=20)}
    assert topics == {("housing", "answered"), ("conditions", "abandoned_queue")}


async def test_a_call_closed_unknown_end_without_queue_log_takes_its_menu_from_its_menu_session(tmp_path, monkeypatch):
    """No queue_log configured: the read after the close (the follower reads after each reconcile)
    still gives the call what its menu decided; a call no menu session knows stays as AMI left it,
    and neither is looked up twice."""
    from asterisk_bridge.calls.backfill import QueueLogBackfill
    from asterisk_bridge.calls.model import CallRecord
    from asterisk_bridge.calls.tracker import CallTracker

    looked_up: list[list[str]] = []
    look_up = queries.queue_log_menu_sessions
    monkeypatch.setattr(queries, "queue_log_menu_sessions",
                        lambda db, ids: looked_up.append(sorted(ids)) or look_up(db, ids))
    in_menu, no_menu, path = "1795959598.4", "1795959599.9", tmp_path / "calls.db"
    async with Store(path) as store:
        backfill = QueueLogBackfill(None, store, CallTracker(), "pbx1")
        backfill.blind_since(1795959590.0)
        backfill.link_back(1795959598.0)
        backfill.link_lost(1795959599.95)
        store.submit_menu(replace(local_menu_session(), uniqueid=in_menu, linkedid=in_menu, line="122",
                                  started_at=1795959598.9, ended_at=1795959610.0, age_group="30-40"))
        backfill.link_back(1795959700.0)
        for lid in (in_menu, no_menu):
            record = CallRecord(linkedid=lid, uniqueid=lid, started_at=float(lid), line="122",
                                caller_name="Ivan P", last_event_at=float(lid) + 0.5)
            record.ended_at, record.outcome = record.last_event_at, "unknown_end"
            store.submit_call(record)
            backfill.call_ended(record)
        await backfill.read()
        await store.flush(5)
        await backfill.read()
        backfill.forget(1795959000.0)  # both still fillable: nothing forgotten, nothing looked up again
        await backfill.read()
        await store.flush(5)
    assert looked_up == [[in_menu, no_menu]]
    rows = {row["linkedid"]: row for row in queries.calls(path)}
    menu = ("outcome", "complete", "ivr_result", "topic", "ivr_queue", "age_group", "caller_name")
    assert tuple(rows[in_menu][k] for k in menu) == (
        "unknown_end", 0, "topic", "conditions", "cc-117-conditions", "30-40", "Ivan P")
    assert tuple(rows[no_menu][k] for k in menu) == ("unknown_end", 0, None, None, None, "unknown", "Ivan P")


def test_the_call_of_a_queue_log_callid():
    from asterisk_bridge.calls.queue_log import call_linkedid

    assert call_linkedid(LOCAL_HALF, [LOCAL_LINKEDID]) == LOCAL_LINKEDID  # a Local half: its session's call
    assert call_linkedid(LOCAL_HALF, []) == LOCAL_HALF  # no menu ran on it: the callid is the call's id
    assert call_linkedid(LOCAL_LINKEDID, [LOCAL_LINKEDID]) == LOCAL_LINKEDID  # the caller's own channel
    assert call_linkedid(LOCAL_HALF, [None, LOCAL_LINKEDID, "1795968993.99"]) == LOCAL_LINKEDID  # oldest that knew


def test_the_menu_a_call_rebuilt_from_queue_log_takes():
    """The last menu session of the call decides, as the last IVR_* VarSets do over AMI; a session
    that failed left only IVR_RESULT=error and the default queue on the channel."""
    from asterisk_bridge.calls.queue_log import callid_calls, record_from_queue_log

    first = local_menu_session()
    # transferred back into the menu on another Local channel of the same call, chose the housing topic
    again = replace(first, session_id="2", uniqueid="1795968993.50", started_at=first.started_at + 30,
                    ended_at=first.ended_at + 30, topic="housing", queue="cc-117-housing", age_group="over-60")
    failed = replace(first, session_id="3", uniqueid="1795968994.1", linkedid="1795968994.1", result="error",
                     topic="conditions", queue="cc-117-default", age_group="30-40", error="Asterisk closed the session")
    calls = callid_calls([LOCAL_HALF, "1795968994.1", "1795968999.9"], [first, failed, again])
    assert calls == {LOCAL_HALF: (LOCAL_LINKEDID, again), "1795968994.1": ("1795968994.1", failed),
                     "1795968999.9": ("1795968999.9", None)}
    queued = queue_log_calls(parse_queue_log(LOCAL_QUEUE_LOG))[LOCAL_HALF]
    rebuilt = record_from_queue_log(queued, line="117", menu=again)
    assert (rebuilt.ivr_result, rebuilt.ivr_topic, rebuilt.ivr_queue, rebuilt.ivr_age_group, rebuilt.age_group) == (
        "topic", "housing", "cc-117-housing", "over-60", "over-60")
    assert (rebuilt.line, rebuilt.caller_number, rebuilt.caller_name, rebuilt.agi_status) == (
        "117", "79160000028", CALLER[1], None)
    # a queue of several lines names none: the menu's line; a failed menu: only what it left
    rebuilt = record_from_queue_log(queued, line=None, menu=failed)
    assert (rebuilt.line, rebuilt.ivr_result, rebuilt.ivr_topic, rebuilt.ivr_queue, rebuilt.age_group) == (
        "117", "error", None, "cc-117-default", None)
    assert record_from_queue_log(queued, line="122", menu=replace(first, line="117")).line == "122"
    bare = record_from_queue_log(queued, line=None)
    assert (bare.line, bare.ivr_topic, bare.caller_name) == (None, None, None)


async def test_the_menu_sessions_a_queue_log_callid_looks_up(tmp_path):
    """One statement finds the sessions on the queued channel, every session of the call they name
    (on any channel), and those of a call whose Linkedid is the callid; nothing else."""
    first = local_menu_session()
    again = replace(first, session_id="2", uniqueid="1795968993.50", started_at=first.started_at + 30,
                    ended_at=first.ended_at + 30, topic="housing")
    own = replace(first, session_id="3", uniqueid="1795968994.2", linkedid="1795968994.1", started_at=first.started_at + 1)
    other = replace(first, session_id="4", uniqueid="1795968995.1", linkedid="1795968995.1")
    path = tmp_path / "calls.db"
    async with Store(path) as store:
        for session in (again, other, own, first):
            store.submit_menu(session)
        await store.flush(5)
    found = queries.queue_log_menu_sessions(path, [LOCAL_HALF, "1795968994.1", "1795968999.9"])
    assert [s.session_id for s in found] == [first.session_id, "3", "2"]
    assert found[0] == replace(first, steps=())


# ------------------------------------------------------------------ the store side, directly


async def test_store_refuses_bad_call_records_and_keeps_operator_inputs_until_the_call(tmp_path):
    from asterisk_bridge.calls.model import CallRecord
    from asterisk_bridge.store import RecordError

    path = tmp_path / "calls.db"
    async with Store(path, node="pbx2") as store:
        bad = CallRecord(linkedid="1.1", uniqueid="1.1", started_at=100.0)
        bad.outcome = "lost"
        with pytest.raises(RecordError, match="outcome 'lost'"):
            store.submit_call(bad)
        with pytest.raises(RecordError, match="neither age_group nor resolution"):
            store.submit_operator_input("1.1", 100.0, "", None)
        store.submit_operator_input("2.2", 150.0, "over-60", None)
        store.submit_operator_input("2.2", 150.0, "over-60", None)  # delivered twice: kept once
        store.submit_operator_input("2.2", 160.0, None, "consulted")
        await store.flush(5)
        assert len(queries.operator_inputs(path, "2.2")) == 2
        call = CallRecord(linkedid="2.2", uniqueid="2.2", started_at=100.0, line="122", ivr_age_group="30-40")
        call.age_group = "30-40"
        await store.save_call(call, timeout=5)
        row = queries.call(path, "2.2")
        assert (row["age_group"], row["resolution"], row["node"]) == ("over-60", "consulted", "pbx2")
        assert row["updated_at"] == utc_iso(160.0) and queries.operator_inputs(path) == []
        call.age_group = None  # a later write knowing no age does not erase the operator's
        await store.save_call(call, timeout=5)
        assert queries.call(path, "2.2")["age_group"] == "over-60"
        assert [r["linkedid"] for r in queries.open_calls(path)] == ["2.2"]
        assert [r["linkedid"] for r in queries.calls(path, 0, 200, line="122")] == ["2.2"]
        assert list(queries.calls(path, 0, 200, line="117")) == []


async def test_calls_followed_after_the_reconcile_are_not_remembered_for_the_next_one(tmp_path):
    """Linkedids seen since a login only matter to that login's reconcile; kept for the life of the
    connection they grew with every call the bridge ever followed."""
    ev_live, (gone_id, live_id), (gone_head, live_head), live_tail = gone_and_live()
    async with pbx() as server, Store(tmp_path / "calls.db") as store:
        async with follower(make_config(server.port), store) as follow:
            await wait_until(lambda: follow.connected and not follow.reconcile_pending)
            send(server, gone_head + live_head)
            await wait_until(lambda: len(follow.active_calls) == 2)
            assert follow._touched == set()
            since = follow.connected_since
            server.channels["live"] = caller_channel_state(ev_live, live_id)
            server.drop_connections()
            await wait_until(lambda: follow.connected and follow.connected_since != since)
            await wait_until(lambda: not follow.reconcile_pending)
            assert [c.linkedid for c in follow.active_calls] == [live_id] and follow._touched == set()
