"""``simulate`` against a running bridge: FastAGI to its server, AMI from the simulator's server."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import wave
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from asterisk_bridge.cli import main
from asterisk_bridge.demo import demo_config
from asterisk_bridge.pbxsim.ami_calls import CallScenario, Operator, call_events, play_call
from asterisk_bridge.pbxsim.ami_server import AMIServer
from asterisk_bridge.pbxsim.commands import _calls_per_day
from asterisk_bridge.pbxsim.driver import FIRST_ID, IDS_PER_CALL, ids_from
from asterisk_bridge.pbxsim.simulate import Plan, format_simulation, run_simulation, wait_for_bridge
from asterisk_bridge.pbxsim.workers import ForwardedEvents, run_workers
from asterisk_bridge.resources import example_config
from asterisk_bridge.service import Service
from asterisk_bridge.store import queries
from helpers import free_port


async def test_simulate_drives_a_running_bridge_and_its_database_has_the_calls(tmp_path):
    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05) as pbx:
        config = demo_config(tmp_path, ami_port=pbx.port, ami_secret="s3cret")  # the admin's bridge
        async with Service(config) as service:
            assert await wait_for_bridge(pbx, 5.0)
            result = await run_simulation(config, pbx, ("127.0.0.1", service.fastagi.port), seed=3, days=2,
                                          calls_per_day={"122": 8, "117": 4}, day_seconds=2.0)
            linkedids = set(result.scenarios)
            path = config.database.path
            async with asyncio.timeout(10):
                while True:
                    await service.store.flush(5)
                    rows = {r["linkedid"]: r for r in queries.calls(path) if r["outcome"] is not None}
                    if linkedids <= set(rows):
                        break
                    await asyncio.sleep(0.05)
    assert len(result.calls) == 24 and len(linkedids) == 24
    assert all(r.agistatus != "FAILURE" for r in result.results)
    db = sqlite3.connect(path)
    sessions = {lid: (line, res) for lid, line, res in db.execute("SELECT linkedid, line, result FROM menu_sessions")}
    assert set(sessions) == linkedids
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 24
    for linkedid, scenario in result.scenarios.items():
        row = rows[linkedid]
        assert row["line"] == sessions[linkedid][0] == scenario.line
        if scenario.operator is not None:
            assert row["outcome"] == "answered" and row["operator"] == scenario.operator.name
    assert sum(1 for r in rows.values() if r["outcome"] == "answered") == sum(
        1 for s in result.scenarios.values() if s.operator is not None)
    table = format_simulation(result)
    assert [t.split()[:2] for t in table.splitlines()[1:]] == [["117", "8"], ["122", "16"]]


def test_simulate_command_line_checks_its_arguments(tmp_path):
    assert _calls_per_day("122=160, 117=90") == {"122": 160, "117": 90}
    runner = CliRunner()
    out = runner.invoke(main, ["simulate", "--calls-per-day", "122:5"])
    assert out.exit_code == 2 and "LINE=COUNT" in out.output
    out = runner.invoke(main, ["simulate", "--fastagi", "nowhere"])
    assert out.exit_code == 2 and "HOST:PORT" in out.output


def test_simulate_times_prompts_from_the_sound_files(tmp_path):
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    text = example_config().read_text(encoding="utf-8").replace("/etc/asterisk-bridge/ami.secret", str(secret))
    config = tmp_path / "cc.toml"
    config.write_text(text, encoding="utf-8")
    cc = tmp_path / "sounds" / "ru" / "cc"
    cc.mkdir(parents=True)
    for name, seconds in (("122-greeting", 7.5), ("122-menu", 18.0)):
        with wave.open(str(cc / f"{name}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\0\0" * int(8000 * seconds))
    out = CliRunner().invoke(main, ["simulate", "-c", str(config), "--sounds-dir", str(tmp_path / "sounds"),
                                    "--ami-listen", "127.0.0.1:0", "--ami-wait", "0", "--fastagi",
                                    f"127.0.0.1:{free_port()}", "--calls-per-day", "122=1,117=0",
                                    "--day-seconds", "0.5", "--no-progress"])
    assert f"2 prompt(s) play as long as their files in {tmp_path / 'sounds' / 'ru'}; any other lasts 2 s." in out.output
    assert out.exit_code == 1 and "1 call(s) ended with AGISTATUS=FAILURE" in out.output  # no bridge listens


async def test_a_bridge_reconnecting_mid_simulation_is_told_which_calls_are_still_up(tmp_path, caplog):
    """The simulator's CoreShowChannels and QueueStatus follow the calls it plays: after an AMI drop
    in the middle of two talks and one wait, the bridge's reconcile finds all three still up, and each
    ends with its real outcome instead of unknown_end."""
    caplog.set_level(logging.DEBUG, logger="asterisk_bridge.pbxsim.ami_server")
    talker, listener = Operator("1002", "Оператор 1002"), Operator("1003", "Оператор 1003")
    housing = dict(line="122", queue="cc-122-housing", topic="housing", keys=("2",))
    scenarios = {  # simulated seconds; the AMI drop falls in the talks and in the wait
        "talks": CallScenario("talks", operator=talker, talk=24.0, hangup_by="agent", **housing),
        "talks-caller-ends": CallScenario("talks-caller-ends", operator=listener, talk=24.0, hangup_by="caller",
                                          **housing),
        "waits": CallScenario("waits", operator=talker, hold=18.0, talk=2.0, **housing),
    }
    speed = 3.0
    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05) as pbx:
        config = demo_config(tmp_path, ami_port=pbx.port, ami_secret="s3cret")
        async with Service(config) as service:
            follower = service.calls
            assert follower is not None and await wait_for_bridge(pbx, 5.0)
            start = time.time()
            plays = [asyncio.create_task(play_call(pbx, sc, start, speed=speed, ids=ids_from(100 + 64 * n)))
                     for n, sc in enumerate(scenarios.values())]
            linkedid = {name: f"{int(start)}.{100 + 64 * n}" for n, name in enumerate(scenarios)}

            def following(call) -> bool:  # a call record the follower holds
                return call.answered_at is not None if call.linkedid != linkedid["waits"] else call.queue is not None

            async with asyncio.timeout(10):
                while sum(following(c) for c in follower.active_calls) < 3:
                    await asyncio.sleep(0.02)
            assert {r for r in _roots(pbx)} == set(linkedid.values())
            assert [e[1] for e in pbx.queues["cc-122-housing"].entries] == [linkedid["waits"]]
            since = follower.connected_since
            asked = len([r for r in caplog.records if "action QueueStatus" in r.getMessage()])
            pbx.drop_connections()
            async with asyncio.timeout(10):
                while not (follower.connected and follower.connected_since != since):
                    await asyncio.sleep(0.02)
                while len([r for r in caplog.records if "action QueueStatus" in r.getMessage()]) == asked:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # the reconcile's answer is digested
            assert not all(p.done() for p in plays)  # still mid-call
            assert {c.linkedid for c in follower.active_calls} == set(linkedid.values())
            await asyncio.gather(*plays)
            path = config.database.path
            async with asyncio.timeout(10):
                while True:
                    await service.store.flush(5)
                    rows = {r["linkedid"]: r for r in queries.calls(path) if r["outcome"] is not None}
                    if set(linkedid.values()) <= set(rows):
                        break
                    await asyncio.sleep(0.05)
    for name, sc in scenarios.items():
        row = rows[linkedid[name]]
        assert (row["outcome"], row["complete"], row["operator"]) == ("answered", True, sc.operator.name), name
        assert abs(row["talk_seconds"] - sc.talk) < 0.05
    assert abs(rows[linkedid["waits"]]["queued_seconds"] - (18.0 + 2.0)) < 0.05


def _roots(pbx: AMIServer) -> set[str]:
    return {uid for uid, ch in pbx.channels.items() if dict(ch.snapshot)["Linkedid"] == uid}


def _example_file(tmp_path) -> Path:
    """The example configuration as a file the simulator's workers can load (its secret readable)."""
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    path = tmp_path / "cc.toml"
    path.write_text(example_config().read_text(encoding="utf-8").replace("/etc/asterisk-bridge/ami.secret",
                                                                         str(secret)), encoding="utf-8")
    return path


async def test_simulate_workers_share_the_calls_and_one_ami_server_carries_them_all(tmp_path):
    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05) as pbx:
        config = demo_config(tmp_path, ami_port=pbx.port, ami_secret="s3cret")
        async with Service(config) as service:
            assert await wait_for_bridge(pbx, 5.0)
            plan = Plan(seed=3, calls_per_day={"122": 8, "117": 4}, day_seconds=2.0)
            result = await run_workers(_example_file(tmp_path), pbx, ("127.0.0.1", service.fastagi.port), plan, 2)
            path = config.database.path
            async with asyncio.timeout(10):
                while True:
                    await service.store.flush(5)
                    rows = [r for r in queries.calls(path) if r["outcome"] is not None]
                    if len(rows) >= 12:
                        break
                    await asyncio.sleep(0.05)
            assert pbx.connections == 1  # the bridge logged in once, to the parent's server
    tally = result.tally
    assert (tally.calls, tally.started, tally.failed) == (12, 12, 0)
    assert {line: c["calls"] for line, c in tally.lines.items()} == {"122": 8, "117": 4}
    db = sqlite3.connect(path)
    sessions = dict(db.execute("SELECT linkedid, line FROM menu_sessions").fetchall())
    assert len(sessions) == 12 and set(sessions) == {r["linkedid"] for r in rows}
    assert sorted(Counter(sessions.values()).items()) == [("117", 4), ("122", 8)]
    # worker k plays the calls numbered k modulo 2, and its operators are numbered from 1001 + 1000 k
    answered = [r for r in rows if r["outcome"] == "answered"]
    assert answered and tally.lines["122"]["answered"] + tally.lines["117"]["answered"] == len(answered)
    for row in answered:
        index = (int(row["linkedid"].split(".")[1]) - FIRST_ID) // IDS_PER_CALL
        assert int(row["operator"].split()[-1]) // 1000 - 1 == index % 2, row


async def test_the_parent_ami_server_lists_the_calls_its_workers_play():
    """CoreShowChannels and QueueStatus answer from every worker's lists, asked for at that moment."""
    from test_pbxsim_ami import SCENARIOS, Client

    events = call_events(SCENARIOS["abandon"], 1795699537.0)
    join = next(i for i, (_, h) in enumerate(events) if dict(h)["Event"] == "QueueCallerJoin") + 1
    worker = ForwardedEvents(writer=None)  # type: ignore[arg-type]  # emit only keeps lists and encodes
    for t, headers in events[:join]:
        worker.emit(headers, timestamp=t)
    asked = []

    async def remote_lists():
        asked.append(1)
        return [(worker.channels, worker.queues)]

    async with AMIServer(clock=lambda: 1795699537.0 + 20) as srv:
        srv.remote_lists = remote_lists
        c = await Client.connect(srv.port)
        await c.login()
        await c.send("Action: CoreShowChannels\nActionID: csc\n")
        items = [await c.read() for _ in range(len(worker.channels) + 2)]
        listed = {dict(m)["Uniqueid"] for m in items if ("Event", "CoreShowChannel") in m}
        assert listed == set(worker.channels) and len(listed) >= 2
        await c.send("Action: QueueStatus\nActionID: qs\n")
        messages = []
        while not messages or ("Event", "QueueStatusComplete") not in messages[-1]:
            messages.append(await c.read())
        entries = [dict(m) for m in messages if ("Event", "QueueEntry") in m]
        assert [e["Uniqueid"] for e in entries] == ["1795699537.6"] and entries[0]["Queue"] == "social"
        c.close()
    assert len(asked) == 2
