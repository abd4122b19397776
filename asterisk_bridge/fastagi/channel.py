"""One FastAGI session: send a command, read its final reply, stay in sync.

Asterisk answers one command at a time and aborts a playing prompt when any
byte arrives (A10), and it interleaves unsolicited "HANGUP" lines (A8) and
multi-line 520 usage blocks (A4) with the replies. Getting any of that wrong
shifts every later reply by a line, so all of it is handled here, once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from .errors import (
    AGICommandError,
    AGIError,
    AGICommandTimeout,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
)
from .protocol import AGIEnv, Quoted, Reply, format_command, parse_reply

__all__ = ["AGIChannel"]

log = logging.getLogger("asterisk_bridge.fastagi")

_DTMF_KEYS = frozenset("0123456789*#ABCD")
DEFAULT_LINE_LIMIT = 65536


class AGIChannel:
    """A FastAGI session as seen by a handler: typed commands over one socket.

    The server owns the socket and closes it after the handler returns (A9:
    after a hangup Asterisk waits for us to close).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        env: AGIEnv,
        command_timeout: float | None = 60.0,
        *,
        peer: str = "",
        line_limit: int = DEFAULT_LINE_LIMIT,
    ) -> None:
        self.env = env
        self.command_timeout = command_timeout
        self.peer = peer
        self.line_limit = line_limit
        # Set by an unsolicited HANGUP line; the session stays open until we close it.
        self.hung_up = False
        self._reader = reader
        self._writer = writer
        self._closed = False
        # Command timeout: one lazily re-armed timer per session instead of one per
        # command (asyncio.timeout per command was the largest per-session CPU cost).
        self._loop = asyncio.get_running_loop()
        self._busy = False
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def command(self, command: str | bytes) -> Reply:
        """Send one command and return its final reply.

        ``str``: one command line, with or without its trailing "\\n"; line
        breaks elsewhere raise AGICommandError. ``bytes``: sent verbatim, must be
        exactly one line ending in "\\n" (for replaying raw traffic).
        Raises AGIInvalidCommand (510), AGIDeadChannel (511), AGIUsageError
        (520), AGIProtocolError, AGIConnectionClosed or AGICommandTimeout;
        AGICommandError when another command of this session is still running.
        """
        data = _encode(command)
        if self._busy:
            # Asterisk reads one command at a time; a second one now would abort the first (A10).
            raise AGICommandError(f"{_show(data)}: another command is still running on this session")
        if self._closed or self._writer.is_closing():
            self._closed = True
            raise AGIConnectionClosed(f"session with {self.peer} is closed; not sending {_show(data)}")
        self._writer.write(data)
        if self.command_timeout is not None:
            self._deadline = self._loop.time() + self.command_timeout
            if self._timer is None:
                self._timer = self._loop.call_at(self._deadline, self._check_deadline)
        self._busy = True
        try:
            return await self._read_reply(data)
        except AGIConnectionClosed:
            self._closed = True
            if self._timed_out:
                raise AGICommandTimeout(
                    f"no reply to {_show(data)} from {self.peer} within {self.command_timeout} s"
                ) from None
            raise
        except (AGIProtocolError, asyncio.CancelledError):
            # The reply may still arrive later and would be taken for the next one.
            self._closed = True
            raise
        finally:
            self._busy = False

    def _check_deadline(self) -> None:
        """Timer callback: abort the connection if the running command is overdue.

        Aborting (rather than cancelling the handler's task) makes the pending
        read end with EOF, which command() reports as AGICommandTimeout; a late
        reply can then never be mistaken for the answer to a later command.
        """
        self._timer = None
        if not self._busy or self._closed:
            return
        if self._loop.time() >= self._deadline:
            self._timed_out = True
            self._closed = True
            self._writer.transport.abort()
        else:
            self._timer = self._loop.call_at(self._deadline, self._check_deadline)

    def _release(self) -> None:
        """Drop the timer when the session ends (called by the server)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _read_reply(self, data: bytes) -> Reply:
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            log.debug("%s >> %r", self.peer, data)
        while True:
            # _read_line inlined: one coroutine less per command on the hot path
            try:
                raw = await self._reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError) as exc:
                raise self._read_failed(exc, data) from None
            line = self._decode(raw, data)
            if debug:
                log.debug("%s << %r", self.peer, line)
            if line == "HANGUP":
                self._mark_hung_up()
                continue
            first = line[:4]
            if first == "200 ":
                return parse_reply(line)
            if first[:1] == "1" and first[3:] == " ":
                continue  # "100 result=0 Trying..." (GOSUB), a reply follows
            if first == "520-":
                usage = []
                while True:
                    line = await self._read_line(data)
                    if line.startswith("520 "):
                        break
                    if line == "HANGUP":
                        self._mark_hung_up()
                        continue
                    usage.append(line)
                text = "\n".join(usage)
                first_usage = usage[0] if usage else ""
                raise AGIUsageError(
                    f"{_show(data)}: wrong arguments (520): {first_usage[:200]}",
                    usage=text,
                    command=_show(data),
                    reply=line,
                )
            reply = parse_reply(line)
            if 200 <= reply.code < 300:
                return reply
            if reply.code == 510:
                raise AGIInvalidCommand(f"{_show(data)}: {line}", command=_show(data), reply=line)
            if reply.code == 511:
                raise AGIDeadChannel(f"{_show(data)}: {line}", command=_show(data), reply=line)
            if reply.code == 520:
                raise AGIUsageError(f"{_show(data)}: {line}", usage="", command=_show(data), reply=line)
            raise AGIProtocolError(f"unexpected reply code {reply.code} to {_show(data)}: {line!r}")

    async def _read_line(self, data: bytes) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError) as exc:
            raise self._read_failed(exc, data) from None
        return self._decode(raw, data)

    def _read_failed(self, exc: Exception, data: bytes) -> AGIError:
        """The error for a failed read of the reply to ``data``; the session is unusable after it."""
        self._closed = True
        if isinstance(exc, asyncio.IncompleteReadError):
            extra = f" after partial line {exc.partial[:80]!r}" if exc.partial else ""
            return AGIConnectionClosed(
                f"{self.peer} closed the connection while we waited for the reply to {_show(data)}{extra}"
            )
        if isinstance(exc, asyncio.LimitOverrunError):
            return AGIProtocolError(f"reply line from {self.peer} to {_show(data)} is longer than the stream limit")
        return AGIConnectionClosed(f"connection to {self.peer} failed: {exc}")

    def _decode(self, raw: bytes, data: bytes) -> str:
        """A reply line without its "\\n"; bytes that are not UTF-8 become U+FFFD."""
        if len(raw) > self.line_limit:
            self._closed = True
            raise AGIProtocolError(
                f"reply line from {self.peer} to {_show(data)} is {len(raw)} bytes, over {self.line_limit}"
            )
        return raw[:-1].decode("utf-8", "replace")

    def _mark_hung_up(self) -> None:
        if not self.hung_up:
            self.hung_up = True
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s: HANGUP received (channel %s)", self.peer, self.env.channel)

    async def close(self) -> None:
        """Close the socket; Asterisk then ends the AGI with AGISTATUS=SUCCESS (A11).

        Safe while a command is running (nothing is written): the pending
        command then raises AGIConnectionClosed.
        """
        self._release()
        if self._closed and self._writer.is_closing():
            return
        self._closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            pass

    # Typed commands the IVR uses. Each returns the Reply or the value it carries. Those that
    # return the Reply as it is hand back command()'s coroutine instead of wrapping it in one of
    # their own: a coroutine less per command (checks on the arguments still run at the call).

    def answer(self) -> Awaitable[Reply]:
        return self.command(format_command("ANSWER"))

    def stream_file(self, prompt: str, escape_digits: str = "") -> Awaitable[Reply]:
        """Play a prompt; ``reply.digit`` is the escape key pressed (A5), endpos in samples (A6)."""
        exact = type(prompt) is str and type(escape_digits) is str  # a str subclass may format differently
        data = _COMMANDS.get(("STREAM FILE", prompt, escape_digits)) if exact else None
        if data is None:
            _check_keys(escape_digits)
            data = format_command("STREAM FILE", prompt, Quoted(escape_digits))
            if exact:
                _remember(("STREAM FILE", prompt, escape_digits), data)
        return self.command(data)

    def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Awaitable[Reply]:
        """Play a prompt and collect keys; ``reply.digits`` holds them, ``reply.timed_out`` on timeout."""
        exact = type(prompt) is str and type(timeout_ms) is int and type(max_digits) is int
        key = ("GET DATA", prompt, timeout_ms, max_digits)
        data = _COMMANDS.get(key) if exact else None
        if data is None:
            data = format_command("GET DATA", prompt, int(timeout_ms), int(max_digits))
            if exact:
                _remember(key, data)
        return self.command(data)

    def set_variable(self, name: str, value: str) -> Awaitable[Reply]:
        exact = type(name) is str and type(value) is str
        data = _COMMANDS.get(("SET VARIABLE", name, value)) if exact else None
        if data is None:
            data = format_command("SET VARIABLE", name, value)
            if exact:
                _remember(("SET VARIABLE", name, value), data)
        return self.command(data)

    async def get_variable(self, name: str) -> str | None:
        """The variable's value, or None when it is not set (A13: result=0, no data)."""
        reply = await self.command(format_command("GET VARIABLE", name))
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        """The expanded expression ("" when it expands to nothing), None on result=0."""
        reply = await self.command(format_command("GET FULL VARIABLE", expression))
        return (reply.data or "") if reply.result == "1" else None

    async def channel_status(self) -> int:
        """Asterisk channel state (6 = Up). Raises AGIDeadChannel after a hangup (A9).

        This is how the IVR tells a missing prompt (-1 on a live channel, A7)
        from a caller who hung up (A8).
        """
        reply = await self.command(b"CHANNEL STATUS\n")
        try:
            return int(reply.result)
        except ValueError:
            raise AGIProtocolError(f"CHANNEL STATUS result {reply.result!r} is not an integer") from None

    def verbose(self, message: str, level: int = 1) -> Awaitable[Reply]:
        return self.command(format_command("VERBOSE", message, int(level)))

    def hangup(self) -> Awaitable[Reply]:
        """Request a hangup of our channel (A12: the socket must still be closed by us)."""
        return self.command(b"HANGUP\n")


#: command lines already formatted, by (command, arguments): a menu sends the same few prompts and
#: variables on every call, so each is quoted and encoded once (bounded: cleared when full)
_COMMANDS: dict[tuple[object, ...], bytes] = {}
_COMMANDS_MAX = 4096


def _remember(key: tuple[object, ...], data: bytes) -> bytes:
    if len(_COMMANDS) >= _COMMANDS_MAX:
        _COMMANDS.clear()
    _COMMANDS[key] = data
    return data


def _encode(command: str | bytes) -> bytes:
    if isinstance(command, bytes):
        if not command.endswith(b"\n") or command.count(b"\n") != 1:
            raise AGICommandError(f"raw command {command[:80]!r} must be exactly one line ending in \\n")
        return command
    if not isinstance(command, str):
        raise AGICommandError(f"command {command!r} is a {type(command).__name__}, expected str or bytes")
    if command.endswith("\n"):
        command = command[:-1]
    if not command or "\n" in command or "\r" in command:
        raise AGICommandError(f"command {command[:80]!r} is empty or contains a line break (A1: end with \\n only)")
    return (command + "\n").encode()


def _check_keys(keys: str) -> None:
    for key in keys:
        if key not in _DTMF_KEYS:
            raise AGICommandError(f"escape digits {keys!r}: {key!r} is not a DTMF key (0-9, *, #, A-D)")


def _show(data: bytes) -> str:
    """A command for messages: without its newline, shortened."""
    return data[:-1].decode("utf-8", "replace")[:120]
