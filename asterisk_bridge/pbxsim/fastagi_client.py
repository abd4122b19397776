"""Asterisk 22's side of FastAGI: it connects to a FastAGI server and plays one call's channel.

``run_agi_call`` connects the way ``AGI(agi://host:port/script)`` does, sends the environment
block key for key as Asterisk 22 does (A2), then an :class:`~.agi_session.AGISession` answers every
command as res_agi does (A1-A14) while the caller of :mod:`.caller_script` presses keys, stays
silent or hangs up. Tests hold it to the captures in ``tests/fixtures/asterisk/fastagi/``; the
demo, ``simulate`` and the FastAGI benchmarks run thousands of calls through it.

(The AGI facts A1-A14 are listed in ``tests/fixtures/asterisk/README.md``.)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Container, MutableMapping, Sequence
from dataclasses import dataclass, field
from .agi_session import AGISession, AGIStatus, CommandTap
from .agi_vars import LiveChannel
from .caller_script import Caller, HangUp, Press, Reaction, Silence
from .errors import CallerScriptError
from .sounds import PromptLengths, prompt_length_lookup

__all__ = [
    "AGICallResult", "AGIStatus", "Caller", "CallerScriptError", "HangUp", "Press", "Reaction", "Silence",
    "SimulatedChannel", "run_agi_call",
]

log = logging.getLogger("asterisk_bridge.pbxsim.agi")

AGI_VERSION = "22.10.1"
CONNECT_TIMEOUT = 2.0  # MAX_AGI_CONNECT, not scaled: it is the real socket


_sequence = itertools.count(1)
_BOOT_EPOCH = int(time.time())


@dataclass
class SimulatedChannel:
    """The ``;1`` Local channel that runs ``AGI(agi://.../ivr?line=<line>)`` in contact-center."""

    line: str = "122"
    uniqueid: str = ""
    linkedid: str = ""  # defaults to uniqueid (M8)
    channel: str = ""
    context: str = "contact-center"
    extension: str = ""  # defaults to line
    priority: int = 6
    language: str = "ru"
    script: str = ""  # defaults to "ivr?line=<line>"
    args: Sequence[str] = ()
    threadid: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    answered: bool = True  # the lab dialplan answers before AGI()

    def __post_init__(self) -> None:
        seq = next(_sequence)
        if not self.uniqueid:
            self.uniqueid = f"{_BOOT_EPOCH}.{seq * 2}"
        if not self.linkedid:
            self.linkedid = self.uniqueid
        if not self.channel:
            self.channel = f"Local/{self.line}@caller-sim-{seq:08x};1"
        if not self.extension:
            self.extension = self.line
        if not self.script:
            self.script = f"ivr?line={self.line}"
        if not self.threadid:
            self.threadid = 140445679933120 + seq * 512
        if "\n" in self.channel or "\n" in self.script or any("\n" in a for a in self.args):
            raise CallerScriptError("channel, script and args must not contain a newline")

    @classmethod
    def for_call(cls, line: str, sequence: int, **fields) -> SimulatedChannel:
        """A channel named like the lab's originated calls, numbered by ``sequence``."""
        return cls(
            line=line,
            uniqueid=fields.pop("uniqueid", f"{_BOOT_EPOCH}.{sequence * 2}"),
            channel=fields.pop("channel", f"Local/{line}@caller-sim-{sequence:08x};1"),
            **fields,
        )


@dataclass
class AGICallResult:
    """What the dialplan and the lab recorder would see after the AGI() application ends."""

    agistatus: AGIStatus
    variables: dict[str, str]
    transcript: list[tuple[float, str, str]]  # "<" sent by Asterisk (us), ">" sent by the server
    commands: list[str]  # command lines as received, final "\n" stripped
    hung_up: bool
    duration: float
    timed_out: bool = False
    connect_error: str | None = None

    def sent_lines(self) -> list[str]:
        """Everything the simulator sent, one protocol line each (the captures' "<" records)."""
        return [p for _, d, p in self.transcript if d == "<"]


async def run_agi_call(
    host: str,
    port: int,
    channel: SimulatedChannel,
    caller: Caller,
    *,
    speed: float = 1.0,
    prompt_ms: PromptLengths = None,
    sounds: Container[str] | None = None,
    database: MutableMapping[str, str] | None = None,
    timeout: float = 600.0,
    on_command: CommandTap | None = None,
) -> AGICallResult:
    """Play one call's AGI against a FastAGI server; never raises for network trouble.

    ``speed`` divides every duration (prompts, timeouts, key times); ``prompt_ms`` gives prompt
    lengths (default 2000 ms each); ``sounds`` lists the prompts that exist (None = all);
    ``database`` is the AstDB (``/family/key`` keys) shared by calls if the caller wants;
    ``timeout`` bounds the whole session in real seconds so a stuck server cannot hang a test;
    ``on_command(line, turnaround)`` is called for every command received, with the seconds since
    the simulator's previous bytes (the server's think time, for benchmarks).
    """
    if not speed > 0:
        raise CallerScriptError(f"speed {speed!r}: must be a positive number")
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    chan = LiveChannel(
        name=channel.channel, uniqueid=channel.uniqueid, linkedid=channel.linkedid,
        language=channel.language, context=channel.context, extension=channel.extension,
        priority=channel.priority, caller_number=caller.number, caller_name=caller.name,
        variables=dict(channel.variables), database=database if database is not None else {},
        state=6 if channel.answered else 4,
    )
    session = AGISession(loop, chan, caller.reactions, speed, prompt_length_lookup(prompt_ms), sounds,
                         on_command=on_command)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await loop.create_connection(lambda: session, host, port)
    except (OSError, TimeoutError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.info("AGI call %s line %s: FAILURE, cannot connect to %s:%s (%s)",
                 channel.uniqueid, channel.line, host, port, reason)
        return AGICallResult("FAILURE", dict(channel.variables), [], [], False,
                             time.monotonic() - started, connect_error=reason)
    timed_out = False
    try:
        async with asyncio.timeout(timeout):
            await session.serve(env_block(channel, chan, host, port))
    except TimeoutError:
        timed_out = True
        log.warning("AGI call %s line %s: server still connected after %.1f s, closing",
                    channel.uniqueid, channel.line, timeout)
    finally:
        session.finish()
    result = AGICallResult(
        session.status(), dict(session.chan.variables), session.transcript, session.commands,
        session.hung_up, time.monotonic() - started, timed_out=timed_out,
    )
    log.info("AGI call %s line %s: %s after %d commands, %.2f s%s", channel.uniqueid, channel.line,
             result.agistatus, len(result.commands), result.duration, ", caller hung up" if result.hung_up else "")
    return result


def env_block(env: SimulatedChannel, chan: LiveChannel, host: str, port: int) -> list[str]:
    """The environment block Asterisk 22 sends first, one line per key, as captured (A2)."""
    lines = ["agi_network: yes\n"]
    if env.script:
        lines.append(f"agi_network_script: {env.script}\n")
    lines += [
        f"agi_request: agi://{host}:{port}/{env.script}\n",
        f"agi_channel: {chan.name}\n",
        f"agi_language: {chan.language}\n",
        f"agi_type: {chan.tech}\n",
        f"agi_uniqueid: {chan.uniqueid}\n",
        f"agi_version: {AGI_VERSION}\n",
        f"agi_callerid: {chan.caller_number or 'unknown'}\n",
        f"agi_calleridname: {chan.caller_name or 'unknown'}\n",
        "agi_callingpres: 0\n",
        "agi_callingani2: 0\n",
        "agi_callington: 0\n",
        "agi_callingtns: 0\n",
        "agi_dnid: unknown\n",
        "agi_rdnis: unknown\n",
        f"agi_context: {chan.context}\n",
        f"agi_extension: {chan.extension}\n",
        f"agi_priority: {chan.priority}\n",
        "agi_enhanced: 0.0\n",
        "agi_accountcode: \n",
        f"agi_threadid: {env.threadid}\n",
    ]
    lines += [f"agi_arg_{i}: {arg}\n" for i, arg in enumerate(env.args, 1)]
    lines.append("\n")
    return lines
