"""`asterisk-bridge run` as a real process: status, SIGTERM with calls in the menu (JSON logs), kill -9 and restart
(menu sessions over FastAGI; calls in progress over AMI, reconciled with the simulated PBX)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from asterisk_bridge.cli import main
from asterisk_bridge.pbxsim.fastagi_client import Caller, Press, Silence, SimulatedChannel, run_agi_call
from asterisk_bridge.pbxsim.ami_calls import CallScenario, Ids, Operator, call_events, play_events
from asterisk_bridge.pbxsim.ami_server import AMIServer
from asterisk_bridge.store import maintenance, queries
from asterisk_bridge.utc import parse_utc_iso
from helpers import free_port
from test_calls import split_after
from test_cli import _Poll, _wait_for_port, write_config

STATUS_FILE = "calls.db.status.json"


def calls_up(pbx: AMIServer) -> set[str]:
    """The calls whose caller channel the PBX lists (CoreShowChannels): Uniqueid = Linkedid."""
    return {uid for uid, ch in pbx.channels.items() if dict(ch.snapshot)["Linkedid"] == uid}


async def start_bridge(path: Path, port: int, *extra: str):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asterisk_bridge.cli", *extra, "run", "-c", str(path),
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    await asyncio.to_thread(_wait_for_port, port, _Poll(proc))
    return proc


async def stop_bridge(proc, sig=signal.SIGTERM) -> tuple[int, str]:
    if proc.returncode is None:
        proc.send_signal(sig)
    stderr = (await asyncio.wait_for(proc.stderr.read(), 30)).decode()
    return await proc.wait(), stderr


def status(path: Path, *args: str):
    return CliRunner().invoke(main, ["status", "-c", str(path), *args])


async def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout:g} s")


def call(port: int, seq: int, speed: float = 200):
    return run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=seq),
                        Caller(reactions=(Silence(), Press("1"), Silence())), speed=speed)


async def test_status_of_a_running_bridge_then_stopped(tmp_path):
    port = free_port()
    path = write_config(tmp_path, port=port)
    assert status(path).exit_code == 1  # nothing running yet: no status file
    proc = await start_bridge(path, port)
    try:
        assert (await call(port, 1)).variables["IVR_QUEUE"] == "cc-122-gov"
        await wait_for(lambda: '"menu_sessions": 1' in (tmp_path / STATUS_FILE).read_text())
        result = await asyncio.to_thread(status, path)
        assert result.exit_code == 0, result.output
        assert "0 session(s) in the menu now" in result.output and "1 menu session(s)" in result.output
        assert "AMI      off" in result.output and "status   OK" in result.output
        as_json = json.loads((await asyncio.to_thread(status, path, "--json")).output)
        assert as_json["problems"] == [] and as_json["pid"] == proc.pid
    finally:
        code, stderr = await stop_bridge(proc)
    assert code == 0, stderr
    stopped = status(path)
    assert stopped.exit_code == 1 and "the service stopped" in stopped.output


async def test_status_needs_an_admin_when_ami_is_down(tmp_path):
    port, ami_port = free_port(), free_port()  # nobody listens on ami_port
    path = write_config(tmp_path, port=port, **{'enabled = false\nhost = "127.0.0.1"\nport = 5038':
                                                  f'enabled = true\nhost = "127.0.0.1"\nport = {ami_port}'})
    proc = await start_bridge(path, port)
    try:
        await wait_for(lambda: (tmp_path / STATUS_FILE).exists())
        result = await asyncio.to_thread(status, path, "--ami-grace", "0")
        assert result.exit_code == 1, result.output
        assert "AMI is configured but not connected" in result.output and "NOT connected since" in result.output
    finally:
        code, stderr = await stop_bridge(proc)
    assert code == 0, stderr
    assert "s3cret" not in stderr


async def test_sigterm_lets_calls_in_the_menu_finish_and_exits_0(tmp_path):
    port = free_port()
    path = write_config(tmp_path, port=port)
    proc = await start_bridge(path, port, "--log-format", "json")
    slow = [asyncio.create_task(call(port, n, speed=8)) for n in range(1, 4)]
    try:
        await asyncio.sleep(0.5)  # all three are in the menu (a call takes ~2.5 s at this speed)
        assert not any(task.done() for task in slow)
        proc.send_signal(signal.SIGTERM)
        results = await asyncio.wait_for(asyncio.gather(*slow), 30)
    finally:
        code, stderr = await stop_bridge(proc)
    assert code == 0, stderr
    assert [r.variables.get("IVR_QUEUE") for r in results] == ["cc-122-gov"] * 3
    logged = [json.loads(line) for line in stderr.splitlines()]  # JSON lines, every one
    messages = [(entry["level"], entry["message"]) for entry in logged]
    assert ("INFO", "stopping: letting 3 call(s) in the menu finish (up to 30 s)") in messages
    per_call = [m for level, m in messages if level == "INFO" and m.startswith("menu line=122")]
    assert len(per_call) == 3 and all("queue=cc-122-gov" in m and "7916***" in m for m in per_call)
    assert "s3cret" not in stderr
    rows = sqlite3.connect(tmp_path / "calls.db").execute("SELECT COUNT(*) FROM menu_sessions").fetchone()
    assert rows == (3,)
    assert maintenance.check(tmp_path / "calls.db").ok


async def test_kill_9_during_a_burst_then_restart_keeps_every_ended_call(tmp_path):
    port = free_port()
    path = write_config(tmp_path, port=port)
    db = tmp_path / "calls.db"
    proc = await start_bridge(path, port)
    ended: dict[str, float] = {}  # uniqueid -> when the call's AGI session ended (monotonic)

    async def caller(seq: int) -> None:
        channel = SimulatedChannel.for_call("122", sequence=seq)
        try:
            await run_agi_call("127.0.0.1", port, channel, Caller(reactions=(Silence(), Press("1"), Silence())),
                               speed=50)
            ended[channel.uniqueid] = time.monotonic()
        except (OSError, asyncio.IncompleteReadError, EOFError, ConnectionError, RuntimeError):
            pass  # cut off by the kill

    async def burst() -> None:
        seq = 0
        tasks = []
        while True:
            seq += 1
            tasks.append(asyncio.create_task(caller(seq)))
            await asyncio.sleep(0.01)

    source = asyncio.create_task(burst())
    try:
        await wait_for(lambda: len(ended) >= 60, 20)
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await proc.wait()
    finally:
        source.cancel()
    await asyncio.sleep(0.3)  # the callers cut off notice it
    # A session closes only once its record is committed (IVR.commit_wait): every call whose
    # session had ended when the kill came must be stored.
    must_have = {u for u, t in ended.items() if t < killed_at}
    assert len(must_have) >= 60

    proc = await start_bridge(path, port)  # restart: opens, migrates, recovers the WAL
    try:
        stored = {u for (u,) in sqlite3.connect(db).execute("SELECT uniqueid FROM menu_sessions")}
        assert must_have <= stored, sorted(must_have - stored)
        assert maintenance.check(db).ok
        assert (await call(port, 10_000)).variables["IVR_QUEUE"] == "cc-122-gov"  # it serves again
    finally:
        code, stderr = await stop_bridge(proc)
    assert code == 0, stderr


# ------------------------------------------------------------------ the AMI half: calls in progress at a kill -9

AMI_OFF = 'enabled = false\nhost = "127.0.0.1"\nport = 5038'
OPERATOR = Operator("1002", "Оператор 1002")
NO_ANSWER = Operator("2002", "Оператор 2002 (не отвечает)")


def finished_call(n: int) -> tuple[CallScenario, str]:
    """The n-th call of a burst that runs to its end, and the outcome it must be stored with."""
    kind = n % 5
    if kind == 0:
        return CallScenario(f"answered-{n}", queue="housing", topic="2", keys=("2",), no_answer=(NO_ANSWER,),
                            operator=OPERATOR, talk=11.0, hangup_by="caller"), "answered"
    if kind == 1:
        return CallScenario(f"served-{n}", line="117", queue="gov", topic="1", keys=("1",), operator=OPERATOR,
                            talk=4.0), "answered"
    if kind == 2:
        return CallScenario(f"abandoned-{n}", queue="social", topic="3", keys=("3",), no_answer=(NO_ANSWER,),
                            abandon_after=9.0), "abandoned_queue"
    if kind == 3:
        return CallScenario(f"short-{n}", queue="social", topic="3", keys=("3",), abandon_after=3.0), "short_abandon"
    return CallScenario(f"menu-{n}", menu="hangup"), "abandoned_menu"


def linkedid_of(events) -> str:
    return dict(events[0][1])["Uniqueid"]  # the caller channel's Newchannel comes first


def stored_calls(db: Path) -> dict[str, dict]:
    return {row["linkedid"]: row for row in queries.calls(db)}  # a read-only connection


def status_json(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


async def test_kill_9_with_calls_in_progress_then_restart_reconciles_them(tmp_path):
    """AMI through the real process: calls that ended before a kill -9 stay stored; calls in progress
    at the kill are reloaded on restart, closed as unknown_end if they ended meanwhile, followed to
    their real end if still up; a call that began while the bridge was down is adopted."""
    port = free_port()
    db = tmp_path / "calls.db"
    ids = Ids(seq=itertools.count(100), local=itertools.count(100))
    base = time.time() - 3600  # the calls' own times (Timestamp): an hour ago, well inside unknown_end_after
    offsets = itertools.count()

    def build(scenario: CallScenario):
        return call_events(scenario, base + next(offsets) * 2.0, ids)

    async with AMIServer(username="asterisk-bridge", secret="s3cret", login_delay=0.0, timestampevents=True) as pbx:
        path = write_config(tmp_path, port=port,
                            **{AMI_OFF: f'enabled = true\nhost = "127.0.0.1"\nport = {pbx.port}'})
        proc = await start_bridge(path, port)
        await wait_for(lambda: pbx.connections == 1, 15, "the bridge logged in to AMI")

        # -- first run: ten calls to their end, five left in progress (in a queue or talking)
        finished: dict[str, str] = {}  # linkedid -> outcome
        wave = []
        for n in range(10):
            scenario, outcome = finished_call(n)
            wave.append(build(scenario))
            finished[linkedid_of(wave[-1])] = outcome
        progress = {
            "waits-gone": (CallScenario("waits-gone", queue="housing", topic="2", keys=("2",), abandon_after=60.0),
                           "QueueCallerJoin"),
            "talks-gone": (CallScenario("talks-gone", queue="housing", topic="2", keys=("2",), operator=OPERATOR,
                                        talk=30.0), "AgentConnect"),
            "waits-live": (CallScenario("waits-live", queue="housing", topic="2", keys=("2",), operator=OPERATOR,
                                        talk=3.0, hangup_by="agent"), "QueueCallerJoin"),
            "talks-live": (CallScenario("talks-live", queue="housing", topic="2", keys=("2",), operator=OPERATOR,
                                        talk=7.0, hangup_by="caller"), "AgentConnect"),
            "waits-abandons": (CallScenario("waits-abandons", queue="social", topic="3", keys=("3",),
                                            no_answer=(NO_ANSWER,), abandon_after=40.0), "QueueCallerJoin"),
        }
        lid: dict[str, str] = {}
        head: dict[str, list] = {}
        tail: dict[str, list] = {}
        full: dict[str, list] = {}
        for name, (scenario, cut_at) in progress.items():
            full[name] = build(scenario)
            lid[name] = linkedid_of(full[name])
            head[name], tail[name] = split_after(full[name], cut_at, lid[name])
        await asyncio.gather(*(play_events(pbx, events, speed=100) for events in [*wave, *head.values()]))

        def first_run_committed() -> bool:
            rows = stored_calls(db)
            return (all(l in rows and rows[l]["complete"] and rows[l]["outcome"] == o for l, o in finished.items())
                    and all(lid[n] in rows and rows[lid[n]]["queue"] and rows[lid[n]]["outcome"] is None
                            for n in progress)
                    and all(rows[lid[n]]["operator"] == OPERATOR.name for n in ("talks-gone", "talks-live")))

        await wait_for(first_run_committed, 20, "the first run's calls committed")

        # -- a burst of calls, and kill -9 in its middle (once some of the burst are committed)
        burst: dict[str, str] = {}

        async def burst_source() -> None:
            tasks = []
            try:
                for n in range(10, 410):  # up to 20 s of calls; the kill comes long before
                    scenario, outcome = finished_call(n)
                    events = build(scenario)
                    burst[linkedid_of(events)] = outcome
                    tasks.append(asyncio.create_task(play_events(pbx, events, speed=20)))
                    await asyncio.sleep(0.05)
                await asyncio.gather(*tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        source = asyncio.create_task(burst_source())
        try:
            await wait_for(lambda: sum(1 for r in stored_calls(db).values()
                                       if r["linkedid"] in burst and r["complete"]) >= 5, 30,
                           "five calls of the burst committed")
            before_kill = stored_calls(db)
            assert not source.done()  # calls are still coming in
            code, _ = await stop_bridge(proc, signal.SIGKILL)
        finally:
            source.cancel()
            await asyncio.gather(source, return_exceptions=True)
        assert code == -signal.SIGKILL
        ended_before_kill = {l: r["outcome"] for l, r in before_kill.items() if r["complete"]}
        assert finished.items() <= ended_before_kill.items()
        assert sum(1 for l in ended_before_kill if l in burst) >= 5
        in_flight = [l for l in burst if l not in ended_before_kill]
        assert in_flight  # the kill did land in the middle of the burst

        # -- while the bridge is down: two calls end, three stay up, a new one arrives and waits
        await wait_for(lambda: pbx.connections == 0, 10, "the PBX saw the bridge's AMI session drop")
        for name in ("waits-gone", "talks-gone"):
            assert await play_events(pbx, tail[name], speed=float("inf")) == 0  # nobody hears it
        newcomer = build(CallScenario("newcomer", queue="housing", topic="2", keys=("2",), operator=OPERATOR,
                                      talk=5.0, hangup_by="agent"))
        new_id = linkedid_of(newcomer)
        new_head, new_tail = split_after(newcomer, "QueueCallerJoin", new_id)
        assert await play_events(pbx, new_head, speed=float("inf")) == 0
        # the PBX's own lists, kept from the events it played: what the restarted bridge is told
        assert calls_up(pbx) == {lid["waits-live"], lid["talks-live"], lid["waits-abandons"], new_id}
        assert {q: [e[1] for e in state.entries] for q, state in pbx.queues.items() if state.entries} == {
            "housing": [lid["waits-live"], new_id], "social": [lid["waits-abandons"]]}

        # -- restart: the open calls are reloaded, then reconciled with what the PBX says is up
        gone = {lid["waits-gone"], lid["talks-gone"]}
        live = {lid["waits-live"], lid["talks-live"], lid["waits-abandons"]}
        proc = await start_bridge(path, port)
        try:
            await wait_for(lambda: all(stored_calls(db)[l]["outcome"] == "unknown_end" for l in gone), 20,
                           "the calls that ended while down closed as unknown_end")
            await wait_for(lambda: new_id in stored_calls(db), 10, "the call that began while down adopted")
            after = stored_calls(db)
            for l, outcome in ended_before_kill.items():  # every call that had ended is kept, as it was
                assert (after[l]["outcome"], after[l]["complete"]) == (outcome, True), l
            assert maintenance.check(db).ok
            # only the calls still up on the PBX are open; the burst's cut-off calls are closed
            assert {r["linkedid"] for r in queries.open_calls(db)} == live | {new_id}
            for l in in_flight:
                if l in after:
                    assert after[l]["outcome"] in ("unknown_end", burst[l]), after[l]
                    assert after[l]["complete"] == (after[l]["outcome"] != "unknown_end")
            for name in ("waits-gone", "talks-gone"):  # closed with what was known of them
                row = after[lid[name]]
                assert (row["complete"], row["line"], row["queue"], row["caller_number"]) == (
                    False, "122", "housing", "79161234567")
                assert parse_utc_iso(row["ended_at"]) == pytest.approx(head[name][-1][0], abs=0.001)
            assert after[lid["talks-gone"]]["operator"] == OPERATOR.name
            assert after[lid["waits-gone"]]["legs"][0]["left_reason"] == "ended"
            await wait_for(lambda: status_json(tmp_path).get("pid") == proc.pid
                           and status_json(tmp_path)["ami"]["connected"]
                           and status_json(tmp_path)["ami"]["active_calls"] == 4, 15,
                           "the status file showing the four calls followed")

            # -- the calls still up end now: the restarted bridge follows them to their real end
            await asyncio.gather(*(play_events(pbx, events, speed=100)
                                   for events in [new_tail, *(tail[n] for n in progress if lid[n] in live)]))
            assert calls_up(pbx) == set() and not any(state.entries for state in pbx.queues.values())
            await wait_for(lambda: all(stored_calls(db)[l]["complete"] for l in [*live, new_id]), 20,
                           "the calls still up followed to their end")
            rows = stored_calls(db)
            assert queries.open_calls(db) == []
            assert maintenance.check(db).ok
        finally:
            code, stderr = await stop_bridge(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "s3cret" not in stderr
    reloaded = [line for line in stderr.splitlines() if "in progress when the bridge stopped" in line]
    assert len(reloaded) == 1 and all(lid[n] in reloaded[0] for n in progress), reloaded
    waits, talks, abandons = (rows[lid[n]] for n in ("waits-live", "talks-live", "waits-abandons"))
    assert (waits["outcome"], waits["operator"], waits["hangup_by"], round(waits["talk_seconds"])) == (
        "answered", OPERATOR.name, "operator", 3)
    assert (talks["outcome"], talks["operator"], talks["hangup_by"], round(talks["talk_seconds"])) == (
        "answered", OPERATOR.name, "caller", 7)
    assert (abandons["outcome"], abandons["queue"], round(abandons["queued_seconds"])) == (
        "abandoned_queue", "social", 40)
    for name in ("waits-live", "talks-live", "waits-abandons"):  # what the first run knew of them is kept
        row = rows[lid[name]]
        assert (row["line"], row["caller_number"], row["complete"], row["hangup_cause"]) == (
            "122", "79161234567", True, 16)
        assert parse_utc_iso(row["started_at"]) == pytest.approx(full[name][0][0], abs=0.001)
    adopted = rows[new_id]
    assert (adopted["outcome"], adopted["operator"], adopted["line"], adopted["complete"]) == (
        "answered", OPERATOR.name, "122", True)
