"""The bridge against the real PBX, run the way an admin runs it.

``asterisk-bridge run`` is a process with a TOML written from the shipped example configuration
(only paths, ports and the test's short timeouts changed), it logs in as the AMI user of the
shipped ``manager_contact_center.conf``, and the figures come from ``asterisk-bridge stats
--format json``. Its records are read with plain SQL on the tables the README documents.

Why a process and not the in-process ``Service``: the scenarios stop and restart the bridge and cut
its AMI link mid-call, as happens in production, and nothing inside the process needs to be looked
at: its records and Asterisk's own output (AMI events, queue_log) say everything. A process also
proves the console script, the config file and the example configuration end to end.

``AMIRelay`` is the small TCP relay a test puts between the bridge and Asterisk's AMI port to cut
and restore the link at a moment it chooses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import free_port
from pbx import REPO, Pbx, write_prompt
from pbx_calls import AMI

EXAMPLE = REPO / "asterisk-bridge.example.toml"
BRIDGE_USER = "asterisk-bridge"
#: how long the prompts of the tests play: the greetings longer, so a key pressed in them has time
PROMPT_SECONDS = 1.0
GREETING_SECONDS = 2.0
#: the prompt left out of every run (the missing prompt scenario)
MISSING_PROMPT = "cc/info-other"
#: the example's settings changed for the tests (whole lines, every occurrence): a key is waited for
#: 1 s, two attempts, AMI reconnects within 2 s
SHORT_TIMINGS = {"key_timeout": "1.0", "timeout": "1.0", "attempts": "2", "reconnect_max": "2.0"}


def command() -> list[str]:
    """The console script of this environment (as an admin runs it), else the module."""
    script = Path(sys.executable).with_name("asterisk-bridge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "asterisk_bridge.cli"]


def write_config(folder: Path, pbx: Pbx, *, ami_port: int | None = None) -> Path:
    """The example configuration, runnable against this PBX: secret file, database, ports, queue_log."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = folder / "ami.secret"
    secret.write_text(pbx.bridge_secret + "\n")
    secret.chmod(0o600)
    text = EXAMPLE.read_text(encoding="utf-8")
    replacements = {
        "/etc/asterisk-bridge/ami.secret": str(secret),
        "/var/lib/asterisk-bridge/calls.db": str(folder / "calls.db"),
        "port = 4573": f"port = {pbx.agi_port}",
        "port = 5038": f"port = {ami_port or pbx.ami_port}",
        'host = "smtp.example.ru"': "# no SMTP in the tests",
        "short_abandon = 5.0": f'short_abandon = 5.0\nqueue_log = "{pbx.queue_log}"',
    }
    for old, new in replacements.items():
        assert old in text, f"{EXAMPLE.name} no longer has {old!r}"
        text = text.replace(old, new)
    for key, value in SHORT_TIMINGS.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert found, f"{EXAMPLE.name} no longer sets {key}"
    path = folder / "asterisk-bridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def database(config: Path) -> Path:
    return config.parent / "calls.db"


class Bridge:
    """``asterisk-bridge -v run -c CONFIG`` as a process; its log goes to a file."""

    def __init__(self, config: Path, pbx: Pbx, name: str = "bridge"):
        self.config = config
        self.pbx = pbx
        self.log = config.parent / f"{name}.log"
        self.process: subprocess.Popen | None = None
        pbx.bridge_logs.append((f"asterisk-bridge log ({name})", self.log))

    async def start(self, ami: AMI) -> None:
        """Start and wait until FastAGI listens (its log says so) and the bridge logged in to AMI."""
        logins = len(_logins(ami))
        listening = f"FastAGI listening on 127.0.0.1:{self.pbx.agi_port}".encode()
        offset = await asyncio.to_thread(self._spawn)
        end = time.monotonic() + 30
        while listening not in self.log.read_bytes()[offset:]:
            if self.process.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"the bridge did not start:\n{self.log_text()}")
            await asyncio.sleep(0.1)
        await ami.wait_for(lambda: len(_logins(ami)) > logins, 20, "the bridge's AMI login")

    def _spawn(self) -> int:
        """Start the process, its output appended to the log; where the log stood before."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([*command(), "-v", "run", "-c", str(self.config)], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        return offset

    async def stop(self) -> int:
        """SIGTERM (calls in the menu finish first); the exit code. Killed if it hangs."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.process.wait, 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            raise AssertionError(f"the bridge did not stop within 60 s of SIGTERM:\n{self.log_text()}") from None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _logins(ami: AMI) -> list[dict]:
    return [e for e in ami.events if e.get("Event") == "SuccessfulAuth" and e.get("AccountID") == BRIDGE_USER]


def stats(config: Path, first: str, last: str) -> dict:
    """``asterisk-bridge stats --format json`` for local days ``first`` .. ``last``."""
    result = subprocess.run([*command(), "stats", "-c", str(config), "--from", first, "--to", last,
                             "--format", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_config(config: Path, sounds: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*command(), "check-config", "-c", str(config), "--sounds-dir", str(sounds)],
                          capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------------------------- its records

def _rows(db: Path, sql: str, *args) -> list[dict]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, args)]


def menu_session(db: Path, linkedid: str) -> dict | None:
    """The menu session of a call, with its ``steps``."""
    found = _rows(db, "SELECT * FROM menu_sessions WHERE linkedid = ?", linkedid)
    if not found:
        return None
    session = found[0]
    session["steps"] = _rows(db, "SELECT * FROM menu_steps WHERE session_id = ? ORDER BY seq", session["session_id"])
    return session


def call_row(db: Path, linkedid: str) -> dict | None:
    """The call record, with its queue ``legs``."""
    found = _rows(db, "SELECT * FROM calls WHERE linkedid = ?", linkedid)
    if not found:
        return None
    row = found[0]
    row["legs"] = _rows(db, "SELECT * FROM queue_legs WHERE linkedid = ? ORDER BY seq", linkedid)
    return row


def operator_sessions(db: Path) -> list[dict]:
    return _rows(db, "SELECT * FROM operator_sessions ORDER BY logged_in_at, interface, queue")


def operator_pauses(db: Path, interface: str) -> list[dict]:
    return _rows(db, "SELECT * FROM operator_pauses WHERE interface = ? ORDER BY started_at, queue", interface)


def ring_attempts(db: Path, linkedid: str) -> list[dict]:
    return _rows(db, "SELECT * FROM ring_attempts WHERE linkedid = ? ORDER BY leg, seq", linkedid)


def linkedids(db: Path) -> set[str]:
    return {r["linkedid"] for r in _rows(db, "SELECT linkedid FROM calls")}


async def wait_stored(db: Path, ids: list[str], timeout: float = 20.0, *, settled=None) -> None:
    """Wait until each call's record has an outcome (or ``settled(row)`` says it is done)."""
    settled = settled or (lambda row: row["outcome"] is not None)

    def unsettled() -> list[str]:
        return [i for i in ids if not ((row := call_row(db, i)) and settled(row))] if db.exists() else ids

    end = time.monotonic() + timeout
    while True:
        pending = await asyncio.to_thread(unsettled)
        if not pending:
            return
        if time.monotonic() > end:
            raise AssertionError(f"calls not stored within {timeout:g} s: {pending}")
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------------------------- the AMI relay

class AMIRelay:
    """A TCP relay between the bridge and Asterisk's AMI port that a test cuts and restores."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.connections = 0
        self._pipes: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def drop(self) -> None:
        """Stop listening and cut every relayed connection (both ends see the link go)."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self._pipes):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    restore = start

    async def _serve(self, client_reader, client_writer) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        self._pipes |= {client_writer, upstream_writer}
        pumps = [asyncio.create_task(_pump(client_reader, upstream_writer)),
                 asyncio.create_task(_pump(upstream_reader, client_writer))]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for writer in (client_writer, upstream_writer):
            writer.close()
            self._pipes.discard(writer)
        for pump in pumps:
            pump.cancel()
            self._tasks.discard(pump)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


def prompt_names() -> set[str]:
    """Every prompt the example configuration and the shipped dialplan play (``cc/...``)."""
    text = EXAMPLE.read_text(encoding="utf-8") + (REPO / "dialplan" / "extensions_contact_center.conf").read_text()
    return set(re.findall(r'"(cc/[\w-]+)"', text)) | set(re.findall(r"Playback\((cc/[\w-]+)\)", text))


@pytest.fixture(scope="session")
def prompts(pbx: Pbx) -> set[str]:
    """Every prompt of the example configuration and the dialplan as a short tone, but MISSING_PROMPT."""
    names = prompt_names()
    assert MISSING_PROMPT in names
    for name in names - {MISSING_PROMPT}:
        write_prompt(pbx.sounds / f"{name}.wav", GREETING_SECONDS if name.endswith("-greeting") else PROMPT_SECONDS)
    return names
