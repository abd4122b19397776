"""One FastAGI session played as Asterisk 22 plays it: the socket side and the command player.

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

It is a plain asyncio Protocol with timers (no task or regex per line, and no sleeping when
``speed`` makes durations ~0) because the demo and the benchmarks run thousands of calls through
it. The answers themselves are in ``agi_handlers.py`` and ``agi_media.py``, which see the session
only through their small ``Session`` protocol. (A1-A14: ``tests/fixtures/asterisk/README.md``.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Container, Sequence
from typing import Literal, cast

from .agi_commands import (
    HANGUP_LINE,
    REPLY_DEAD,
    REPLY_INVALID,
    CommandSpec,
    find_command,
    not_simulated,
    parse_args,
)
from .agi_handlers import HANDLERS, USAGE, Handler
from .agi_media import MEDIA_HANDLERS
from .agi_vars import LiveChannel
from .caller_script import KEY_GAP_MS, SILENCE, HangUp, Press, Reaction

log = logging.getLogger("asterisk_bridge.pbxsim.agi")

HANGUP_NOTICE_MS = 40  # "HANGUP" follows a hang-up result ~40 ms later (A8)
USAGE_RENDER_MS = 40  # gap after "520-" while Asterisk renders the docs (A4)
_NEAR_ZERO = 0.0005  # seconds; shorter waits are skipped instead of scheduled

AGIStatus = Literal["SUCCESS", "FAILURE", "HANGUP"]  # AGISTATUS once the AGI() application ends
CommandTap = Callable[[str, float], None]  # (command line, seconds since the simulator's last bytes)
_HANDLERS: dict[tuple[str, ...], tuple[Handler, bool]] = {**HANDLERS, **MEDIA_HANDLERS}


class AGISession(asyncio.Protocol):
    """One AGI session: the socket side (Protocol callbacks) and the command player.

    Its public attributes and methods are what ``agi_handlers.Session`` lists: the handlers use
    nothing else.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, chan: LiveChannel, reactions: Sequence[Reaction],
                 speed: float, prompt_len: Callable[[str], float], sounds: Container[str] | None, *,
                 on_command: CommandTap | None = None) -> None:
        self.loop = loop
        self.chan = chan
        self.reactions = tuple(reactions)
        self.next_reaction = 0
        self.scale = 1.0 / (1000.0 * speed)  # call-time ms -> real seconds
        self.prompt_len = prompt_len
        self.sounds = sounds
        self.transport: asyncio.Transport | None = None
        self.kernel = bytearray()  # received, not yet pulled in by "fgets"
        self.buf = bytearray()  # Asterisk's stdio buffer
        self.eof = False
        self.waiter: asyncio.Future[None] | None = None
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
        self.on_command = on_command
        self.sent_at = self.received_at = 0.0  # perf_counter of the last bytes each way, for on_command

    # --- Protocol callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.t0 = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.received_at = time.perf_counter()
        self.kernel += data
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
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
            self.sent_at = time.perf_counter()

    def _send_lines(self, lines: Sequence[str]) -> None:
        now = time.monotonic() - self.t0
        self.transcript.extend((now, "<", line) for line in lines)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write("".join(lines).encode("utf-8", "surrogateescape"))
            self.sent_at = time.perf_counter()

    async def wait_input(self, seconds: float | None) -> bool:
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

    async def pause(self, ms: float) -> None:
        """Let ``ms`` of call time pass (scaled by the speed), not watching the socket."""
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
            await self.wait_input(None)

    # --- session --------------------------------------------------------------------------
    async def serve(self, env_block: Sequence[str]) -> None:
        """Send the environment block, then answer commands until the server closes."""
        self._send_lines(env_block)
        while True:
            if not (self.kernel or self.eof):  # poll(): buffered lines wait for new bytes (A10)
                await self.wait_input(None)
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

    async def _execute(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "surrogateescape")
        self.transcript.append((time.monotonic() - self.t0, ">", text))
        line = text[:-1] if text.endswith("\n") else text  # only the final "\n" goes (A1)
        self.commands.append(line)
        if self.on_command is not None:
            self.on_command(line, max(0.0, self.received_at - self.sent_at))
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
        handler, is_async = _HANDLERS[spec.words]
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
        await self.pause(USAGE_RENDER_MS)
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
    def take_reaction(self, reads_keys: bool) -> Reaction:
        """The caller's next reaction for a command that reads keys (or any media, for a hang-up)."""
        if self.next_reaction < len(self.reactions):
            reaction = self.reactions[self.next_reaction]
            if reads_keys or isinstance(reaction, HangUp):
                self.next_reaction += 1
                return reaction
        return SILENCE

    def exists(self, prompt: str) -> bool:
        # A "&" list is a single (missing) file name for STREAM FILE and GET DATA (agi-missing-prompt)
        return "&" not in prompt and (self.sounds is None or prompt in self.sounds)

    def play(self, length_ms: float, escape: str) -> tuple[float, int, bool]:
        """A prompt of ``length_ms`` with escape digits: (ends at ms, result, caller hung up)."""
        reaction = self.take_reaction(bool(escape))
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


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
