"""`asterisk-bridge run` as a real process: status, SIGTERM with calls in the menu (JSON logs), kill -9 and restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from asterisk_bridge.cli import main
from asterisk_bridge.pbxsim.agi_caller import Caller, Press, Silence, SimulatedChannel, run_agi_call
from asterisk_bridge.store import maintenance
from helpers import free_port
from test_cli import _Poll, _wait_for_port, write_config

STATUS_FILE = "calls.db.status.json"


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


async def wait_for(predicate, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


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
    # A record is handed to the writer when its session ends and committed within the store's
    # coalesce window (25 ms); calls that ended more than 0.25 s before the kill must be stored.
    must_have = {u for u, t in ended.items() if t < killed_at - 0.25}
    assert len(must_have) >= 20

    proc = await start_bridge(path, port)  # restart: opens, migrates, recovers the WAL
    try:
        stored = {u for (u,) in sqlite3.connect(db).execute("SELECT uniqueid FROM menu_sessions")}
        assert must_have <= stored, sorted(must_have - stored)
        assert maintenance.check(db).ok
        assert (await call(port, 10_000)).variables["IVR_QUEUE"] == "cc-122-gov"  # it serves again
    finally:
        code, stderr = await stop_bridge(proc)
    assert code == 0, stderr
