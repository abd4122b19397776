"""Asterisk 22's side of FastAGI, with a scripted caller: the PBX half the bridge talks to.

``run_agi_call`` connects to a FastAGI server the way ``AGI(agi://host:port/script)`` does,
sends the env block (A2), then answers every command as res_agi does (A1-A14), while a
``Caller`` presses keys, stays silent or hangs up. Tests hold it to the lab captures, the demo
and the benchmarks run thousands of calls through it, so it is a plain asyncio Protocol with
timers: no task or regex per line, and no sleeping when ``speed`` makes durations ~0.

Reading follows res_agi's stdio model, because that is what makes A10 work: Asterisk waits
until the socket is readable, then ``fgets`` pulls everything available into its buffer and
hands out one line. Buffered lines wait until new bytes arrive (agi-pipelined), and bytes that
arrive while STREAM FILE / GET DATA / GET OPTION / SAY play abort that command without a
reply (WAIT FOR DIGIT answers ``200 result=1``).

Caller reactions: each key-reading command (STREAM FILE or GET OPTION or SAY with escape
digits, GET DATA, WAIT FOR DIGIT) consumes the next reaction; a ``HangUp`` is also consumed by
any other media command (STREAM FILE without escape digits, EXEC Playback/Wait/SendDTMF).
Once the reactions run out the caller stays silent. A hang-up happens at ``after_ms`` or when
the command would have ended anyway, whichever comes first; a prompt whose file is missing
consumes nothing (the caller heard nothing). A command aborted by the server drops its reaction.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Container, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .agi_commands import (
    HANGUP_LINE,
    REPLY_DEAD,
    REPLY_INVALID,
    CommandSpec,
    find_command,
    not_simulated,
    parse_args,
)
from .agi_handlers import HANDLERS, USAGE
from .agi_vars import LiveChannel
from .caller import KEY_GAP_MS, SILENCE, Caller, CallerScriptError, HangUp, Press, Reaction, Silence
from .sounds import PromptLengths, prompt_length_lookup

__all__ = [
    "AGICallResult", "AGIStatus", "Caller", "CallerScriptError", "HangUp", "Press", "Reaction", "Silence",
    "SimulatedChannel", "run_agi_call",
]

log = logging.getLogger("asterisk_bridge.pbxsim.agi")

AGIStatus = Literal["SUCCESS", "FAILURE", "HANGUP"]

AGI_VERSION = "22.10.1"
HANGUP_NOTICE_MS = 40  # "HANGUP" follows a hang-up result ~40 ms later (A8)
USAGE_RENDER_MS = 40  # gap after "520-" while Asterisk renders the docs (A4)
CONNECT_TIMEOUT = 2.0  # MAX_AGI_CONNECT, not scaled: it is the real socket
_NEAR_ZERO = 0.0005  # seconds; shorter waits are skipped instead of scheduled


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
) -> AGICallResult:
    """Play one call's AGI against a FastAGI server; never raises for network trouble.

    ``speed`` divides every duration (prompts, timeouts, key times); ``prompt_ms`` gives prompt
    lengths (default 2000 ms each); ``sounds`` lists the prompts that exist (None = all);
    ``database`` is the AstDB (``/family/key`` keys) shared by calls if the caller wants;
    ``timeout`` bounds the whole session in real seconds so a stuck server cannot hang a test.
    """
    if not speed > 0:
        raise ValueError(f"speed {speed!r}: must be a positive number")
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    session = _AGISession(loop, channel, caller, speed, prompt_length_lookup(prompt_ms), sounds, database)
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
            await session.serve(host, port)
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


class _AGISession(asyncio.Protocol):
    """One AGI session: the socket side (Protocol callbacks) and the command player."""

    def __init__(self, loop, channel: SimulatedChannel, caller: Caller, speed: float,
                 prompt_len: Callable[[str], int], sounds: Container[str] | None,
                 database: MutableMapping[str, str] | None) -> None:
        self.loop = loop
        self.env = channel
        self.chan = LiveChannel(
            name=channel.channel, uniqueid=channel.uniqueid, linkedid=channel.linkedid,
            language=channel.language, context=channel.context, extension=channel.extension,
            priority=channel.priority, caller_number=caller.number, caller_name=caller.name,
            variables=dict(channel.variables), database=database if database is not None else {},
            state=6 if channel.answered else 4,
        )
        self.reactions = tuple(caller.reactions)
        self.next_reaction = 0
        self.scale = 1.0 / (1000.0 * speed)  # call-time ms -> real seconds
        self.prompt_len = prompt_len
        self.sounds = sounds
        self.transport: asyncio.Transport | None = None
        self.kernel = bytearray()  # received, not yet pulled in by "fgets"
        self.buf = bytearray()  # Asterisk's stdio buffer
        self.eof = False
        self.waiter: asyncio.Future | None = None
        self.t0 = time.monotonic()
        self.transcript: list[tuple[float, str, str]] = []
        self.commands: list[str] = []
        self.failure = False
        self.hung_up = False
        self.dead = False
        self.hangup_pending = False
        self.hangup_timer: asyncio.TimerHandle | None = None
        self.hang_after_reply = False
        self.debug = log.isEnabledFor(logging.DEBUG)

    # --- Protocol callbacks ---------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.t0 = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.kernel += data
        self._wake()

    def eof_received(self):
        self.eof = True
        self._wake()
        return None

    def connection_lost(self, exc) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- plumbing -------------------------------------------------------------------------
    def _send(self, text: str) -> None:
        self.transcript.append((time.monotonic() - self.t0, "<", text))
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(text.encode("utf-8", "surrogateescape"))

    def _send_lines(self, lines: Sequence[str]) -> None:
        now = time.monotonic() - self.t0
        self.transcript.extend((now, "<", line) for line in lines)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write("".join(lines).encode("utf-8", "surrogateescape"))

    async def _wait_input(self, seconds: float | None) -> bool:
        """Wait up to ``seconds`` (None = forever); True when server bytes or EOF arrived."""
        if self.kernel or self.eof:
            return True
        if seconds is not None and seconds < _NEAR_ZERO:
            return False
        waiter = self.loop.create_future()
        self.waiter = waiter
        timer = self.loop.call_later(seconds, _release, waiter) if seconds is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        return bool(self.kernel) or self.eof

    async def _pause(self, ms: float) -> None:
        seconds = ms * self.scale
        if seconds >= _NEAR_ZERO:
            await asyncio.sleep(seconds)

    async def _read_line(self) -> bytes | None:
        """``fgets``: one line from the stdio buffer, refilled from the socket when empty."""
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line = bytes(self.buf[: nl + 1])
                del self.buf[: nl + 1]
                return line
            if self.kernel:
                self.buf += self.kernel
                self.kernel.clear()
                continue
            if self.eof:
                if self.buf:
                    line = bytes(self.buf)
                    self.buf.clear()
                    return line
                return None
            await self._wait_input(None)

    # --- session --------------------------------------------------------------------------
    async def serve(self, host: str, port: int) -> None:
        self._send_lines(self._env_block(host, port))
        while True:
            if not (self.kernel or self.eof):  # poll(): buffered lines wait for new bytes (A10)
                await self._wait_input(None)
            raw = await self._read_line()
            if raw is None:
                return
            await self._execute(raw)

    def finish(self) -> None:
        if self.hangup_timer is not None:
            self.hangup_timer.cancel()
            self.hangup_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def status(self) -> AGIStatus:
        if self.failure:
            return "FAILURE"
        return "HANGUP" if self.hung_up else "SUCCESS"

    def _env_block(self, host: str, port: int) -> list[str]:
        env, chan = self.env, self.chan
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

    async def _execute(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "surrogateescape")
        self.transcript.append((time.monotonic() - self.t0, ">", text))
        line = text[:-1] if text.endswith("\n") else text  # only the final "\n" goes (A1)
        self.commands.append(line)
        if self.debug:
            log.debug("AGI %s << %r", self.chan.uniqueid, line)
        self._flush_hangup()  # Asterisk notices the hang-up before it reads the next command
        argv = parse_args(line)
        spec = find_command(argv)
        if spec is None:
            if not_simulated(argv):
                log.warning("AGI %s: %r is a real AGI command this simulator does not play; answering 510",
                            self.chan.uniqueid, line)
            self._send(REPLY_INVALID)
            return
        if self.dead and not spec.dead_ok:
            self._send(REPLY_DEAD)
            return
        handler, is_async = HANDLERS[spec.words]
        reply = await handler(self, argv) if is_async else handler(self, argv)
        if reply is USAGE:
            await self._send_usage(spec)
        elif reply is not None:
            self._send(reply)
        if self.hang_after_reply:
            self.hang_after_reply = False
            self._hang_up()

    async def _send_usage(self, spec: CommandSpec) -> None:
        head, rest = spec.usage_block()
        self._send(head)
        await self._pause(USAGE_RENDER_MS)
        self._send_lines(rest.splitlines(keepends=True))

    def _hang_up(self) -> None:
        """The channel is hung up: the unsolicited HANGUP line follows shortly (A8, A9)."""
        self.hung_up = True
        if self.hangup_pending or self.dead:
            return
        self.hangup_pending = True
        delay = HANGUP_NOTICE_MS * self.scale
        if delay < _NEAR_ZERO:
            self._flush_hangup()
        else:
            self.hangup_timer = self.loop.call_later(delay, self._flush_hangup)

    def _flush_hangup(self) -> None:
        if not self.hangup_pending:
            return
        self.hangup_pending = False
        if self.hangup_timer is not None:
            self.hangup_timer.cancel()
            self.hangup_timer = None
        self._send(HANGUP_LINE)
        self.dead = True

    # --- caller ---------------------------------------------------------------------------
    def _take_reaction(self, reads_keys: bool) -> Reaction:
        if self.next_reaction < len(self.reactions):
            reaction = self.reactions[self.next_reaction]
            if reads_keys or isinstance(reaction, HangUp):
                self.next_reaction += 1
                return reaction
        return SILENCE

    def _exists(self, prompt: str) -> bool:
        # A "&" list is a single (missing) file name for STREAM FILE and GET DATA (agi-missing-prompt)
        return "&" not in prompt and (self.sounds is None or prompt in self.sounds)

    def _play(self, length_ms: float, escape: str) -> tuple[float, int, bool]:
        """A prompt of ``length_ms`` with escape digits: (ends at ms, result, caller hung up)."""
        reaction = self._take_reaction(bool(escape))
        if isinstance(reaction, HangUp):
            return min(reaction.after_ms, length_ms), -1, True
        if isinstance(reaction, Press):
            for i, key in enumerate(reaction.key):
                at = reaction.after_ms + i * KEY_GAP_MS
                if at >= length_ms:
                    break
                if key in escape:
                    return at, ord(key), False
        return length_ms, 0, False



def _release(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
