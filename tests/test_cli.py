"""The command line as an admin uses it: check-config, and `run` as a real process with signals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from asterisk_bridge import cli_reference
from asterisk_bridge.cli import main
from asterisk_bridge.cli_reference import BEGIN, END, markdown_table, with_table
from asterisk_bridge.pbxsim.fastagi_client import Caller, Press, Silence, SimulatedChannel, run_agi_call
from asterisk_bridge.resources import example_config
from helpers import free_port


def write_config(tmp_path: Path, port: int = 4573, **replace: str) -> Path:
    """The example configuration made runnable in tmp_path (secret file, database, port)."""
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    text = example_config().read_text(encoding="utf-8")
    text = text.replace("/etc/asterisk-bridge/ami.secret", str(secret))
    text = text.replace("/var/lib/asterisk-bridge/calls.db", str(tmp_path / "calls.db"))
    text = text.replace("port = 4573", f"port = {port}")
    text = text.replace("port = 8122", "port = 0")  # the web console on a free port, never a fixed one
    text = re.sub(r"(\[ami\]\n(?:#.*\n)*)enabled = true", r"\1enabled = false", text)  # no AMI here
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "asterisk-bridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_config_valid_prints_a_summary(tmp_path):
    path = write_config(tmp_path)
    result = CliRunner().invoke(main, ["check-config", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "line 122" in result.output and "health-drugs" in result.output and "cc-117-where" in result.output
    assert "s3cret" not in result.output


def test_check_config_names_every_problem_and_exits_2(tmp_path):
    path = write_config(tmp_path, **{'key = "2"\nid = "housing"': 'key = "12"\nid = "housing"',
                                      "attempts = 3": "atempts = 3"})
    result = CliRunner().invoke(main, ["check-config", "-c", str(path)])
    assert result.exit_code == 2
    assert "lines[0].topics[1].key: '12' is not a single digit 0-9" in result.output
    assert "lines[0].atempts: unknown key; did you mean 'attempts'?" in result.output


def test_check_config_reads_the_environment_variable(tmp_path):
    path = write_config(tmp_path)
    result = CliRunner().invoke(main, ["check-config"], env={"ASTERISK_BRIDGE_CONFIG": str(path)})
    assert result.exit_code == 0, result.output


def test_config_may_come_before_the_command_or_after_it_and_after_wins(tmp_path):
    good = write_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text('node = "a"\nnode = "b"\n')
    invoke = CliRunner().invoke
    for args in (["-c", str(good), "check-config"], ["check-config", "-c", str(good)],
                 ["--config", str(bad), "check-config", "--config", str(good)]):
        result = invoke(main, args)
        assert result.exit_code == 0 and f"{good}: OK" in result.output, (args, result.output)
    result = invoke(main, ["-c", str(good), "check-config", "-c", str(bad)])
    assert result.exit_code == 2 and "bad.toml" in result.output
    result = invoke(main, ["-c", str(good), "check-config"], env={"ASTERISK_BRIDGE_CONFIG": str(bad)})
    assert result.exit_code == 0, result.output  # -c, wherever it is, wins over the environment
    # a command that reads more than the configuration: the database it names
    assert invoke(main, ["-c", str(good), "db", "migrate"]).exit_code == 0
    result = invoke(main, ["-c", str(good), "stats", "--from", "2026-11-25", "--to", "2026-11-25",
                           "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["period"]["from"] == "2026-11-25"
    assert "wins" in invoke(main, ["--help"]).output and "wins" in invoke(main, ["stats", "--help"]).output


def test_a_config_before_a_command_that_reads_none_is_refused_not_ignored(tmp_path):
    from asterisk_bridge.cli_options import reads_config

    good = write_config(tmp_path)
    invoke = CliRunner().invoke
    for args in (["init", "--dir", str(tmp_path / "new")], ["demo", "--out", str(tmp_path / "demo")]):
        result = invoke(main, ["-c", str(good), *args])
        assert result.exit_code == 2, (args, result.output)
        assert f"-c/--config: `{args[0]}` does not read a configuration file" in result.output
    assert not (tmp_path / "new").exists() and not (tmp_path / "demo").exists()

    def leaves(group, path):
        for name, command in group.commands.items():
            yield from leaves(command, [*path, name]) if hasattr(command, "commands") else [([*path, name], command)]

    # every command that reads a configuration takes -c after it too, and the one before it reaches it
    readers = [path for path, command in leaves(main, []) if reads_config(command)]
    assert {" ".join(path) for path in readers} >= {"check-config", "run", "stats", "summary", "status", "simulate",
                                                    "db migrate", "prompts build", "web users"}
    for path in readers:
        result = invoke(main, ["-c", str(tmp_path / "absent.toml"), *path, "--help"])
        assert result.exit_code == 0 and "-c, --config FILE" in result.output, (path, result.output)
    result = invoke(main, ["-c", str(tmp_path / "absent.toml"), "db", "check"])
    assert result.exit_code == 2 and "absent.toml: cannot read the file" in result.output
    # a group of commands takes it too, before its command; the -c nearest the command wins
    absent = str(tmp_path / "absent.toml")
    for args in (["db", "-c", str(good), "check"], ["-c", absent, "db", "-c", str(good), "check"],
                 ["db", "-c", absent, "check", "-c", str(good)]):
        assert invoke(main, ["db", "-c", str(good), "migrate"]).exit_code == 0
        result = invoke(main, args)
        assert result.exit_code == 0 and "schema up to date" in result.output, (args, result.output)
    result = invoke(main, ["-c", str(good), "db", "-c", absent, "check"])
    assert result.exit_code == 2 and "absent.toml: cannot read the file" in result.output
    result = invoke(main, ["web", "-c", str(good), "users"])
    assert f"{good}: set [web] users_file first" in result.output  # the file given was read


def test_check_config_reports_prompts_without_sound_files(tmp_path):
    path = write_config(tmp_path)
    sounds = tmp_path / "sounds" / "ru" / "cc"
    sounds.mkdir(parents=True)
    (sounds / "122-greeting.gsm").write_bytes(b"x")
    result = CliRunner().invoke(main, ["check-config", "-c", str(path), "--sounds-dir", str(tmp_path / "sounds")])
    assert result.exit_code == 2
    assert "'cc/122-menu'" in result.output
    assert "'cc/122-greeting'" not in result.output


def test_a_broken_toml_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('node = "a"\nnode = "b"\n')
    result = CliRunner().invoke(main, ["check-config", "-c", str(path)])
    assert result.exit_code == 2
    assert "broken.toml" in result.output and "node" in result.output and "Traceback" not in result.output


def _wait_for_port(port: int, proc, deadline: float = 10.0) -> None:
    import socket

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the bridge did not start listening")


async def test_run_serves_calls_reloads_on_sighup_and_stops_on_sigterm(tmp_path):
    port = free_port()
    path = write_config(tmp_path, port=port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asterisk_bridge.cli", "run", "-c", str(path),
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await asyncio.to_thread(_wait_for_port, port, _Poll(proc))
        channel = SimulatedChannel.for_call("122", sequence=1)
        first = await run_agi_call("127.0.0.1", port, channel, Caller(reactions=(Silence(), Press("1"), Silence())),
                                   speed=200)
        assert first.variables["IVR_QUEUE"] == "cc-122-gov"

        # SIGHUP: key 1 now leads to another queue for new calls; a broken file is rejected.
        path.write_text(path.read_text(encoding="utf-8").replace(
            'id = "gov"\nname = "Органы исполнительной власти"\nqueue = "cc-122-gov"',
            'id = "gov"\nname = "Органы исполнительной власти"\nqueue = "cc-122-other"'), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        second = await run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=2),
                                    Caller(reactions=(Silence(), Press("1"), Silence())), speed=200)
        assert second.variables["IVR_QUEUE"] == "cc-122-other"

        good = path.read_text(encoding="utf-8")
        path.write_text(good.replace("attempts = 3", "attempts = 99"), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        third = await run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=3),
                                   Caller(reactions=(Silence(), Press("1"), Silence())), speed=200)
        assert third.variables["IVR_QUEUE"] == "cc-122-other"  # the old (valid) configuration stayed
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
        code = await proc.wait()
    assert code == 0, stderr
    assert "reload rejected" in stderr and "attempts" in stderr
    assert "s3cret" not in stderr
    rows = sqlite3.connect(tmp_path / "calls.db").execute(
        "select queue from menu_sessions order by started_at").fetchall()
    assert [r[0] for r in rows] == ["cc-122-gov", "cc-122-other", "cc-122-other"]


@pytest.mark.parametrize(("options", "loop"), [((), "uvloop"), (("--loop", "asyncio"), "asyncio")])
async def test_run_serves_a_call_on_uvloop_by_default_and_on_asyncio_when_asked(tmp_path, options, loop):
    pytest.importorskip("uvloop")
    port = free_port()
    path = write_config(tmp_path, port=port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asterisk_bridge.cli", "run", "-c", str(path), *options,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        await asyncio.to_thread(_wait_for_port, port, _Poll(proc))
        result = await run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=1),
                                    Caller(reactions=(Silence(), Press("1"), Silence())), speed=200)
        assert result.variables["IVR_RESULT"] == "topic" and result.variables["IVR_QUEUE"] == "cc-122-gov"
    finally:
        proc.send_signal(signal.SIGTERM)
        stderr = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
        code = await proc.wait()
    assert code == 0, stderr
    started = [line for line in stderr.splitlines() if f"FastAGI on 127.0.0.1:{port}" in line]
    assert len(started) == 1 and re.search(rf"event loop {loop}( [0-9.]+)?$", started[0]), stderr


def test_run_refuses_a_loop_it_does_not_know():
    result = CliRunner().invoke(main, ["run", "--loop", "trio"])
    assert result.exit_code == 2 and "--loop" in result.output and "trio" in result.output


class _Poll:
    """Lets the sync port waiter see whether the asyncio subprocess died early."""

    def __init__(self, proc):
        self.proc = proc
        self.stderr = _NoStderr()

    def poll(self):
        return self.proc.returncode


class _NoStderr:
    def read(self) -> bytes:
        return b"(the bridge exited before listening; see its stderr)"


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)


README = Path(__file__).parent.parent / "README.md"


def test_the_readme_command_table_is_what_help_says(tmp_path):
    readme = README.read_text(encoding="utf-8")
    assert with_table(readme, markdown_table(main)) == readme, "README's command table is stale: run `make readme`"
    section = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    for command in ("check-config", "run", "demo", "stats", "summary", "status", "simulate",
                    "db migrate", "db check", "db backup", "db retention"):
        assert f"| `asterisk-bridge {command} " in section or f"| `asterisk-bridge {command}`" in section, command
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace("| `asterisk-bridge run [-c FILE] [--loop [auto\\|uvloop\\|asyncio]]` |",
                                     "| `asterisk-bridge run` |"), encoding="utf-8")
    assert cli_reference.main(["--check", str(README)]) == 0
    assert cli_reference.main(["--check", str(stale)]) == 1
    assert cli_reference.main([str(stale)]) == 0 and stale.read_text(encoding="utf-8") == readme


def test_a_new_command_cannot_go_undocumented():
    @click.command("rehearse")
    @click.option("--minutes", type=int, metavar="N", help="How long.")
    def rehearse(minutes: int) -> None:
        """A command the README does not list yet."""

    readme = README.read_text(encoding="utf-8")
    main.add_command(rehearse)
    try:
        table = markdown_table(main)
    finally:
        del main.commands["rehearse"]
    assert "| `asterisk-bridge rehearse [--minutes N]` | A command the README does not list yet. |" in table
    assert with_table(readme, table) != readme
