"""FastAGI exceptions: one type per way a session can go wrong.

The IVR glue must tell "the caller hung up" (AGIDeadChannel) from "we sent
something Asterisk did not understand" (AGIInvalidCommand, AGIUsageError)
from "the connection is gone" (AGIConnectionClosed, AGICommandTimeout), so
each gets its own class instead of an error code on a generic exception.
"""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class AGIError(AsteriskBridgeError):
    """Base class of every FastAGI error raised by this package."""


class AGIConnectionClosed(AGIError):
    """Asterisk closed the socket (EOF), or the channel was closed by us."""


class AGIEnvError(AGIError):
    """The agi_* env block was garbage, oversized, cut short or too slow.

    ``kind`` is the short name the server's once-a-minute summary of bad connections counts by
    (``closed early``, ``no env block in time``, ``env block too large``, ...).
    """

    def __init__(self, message: str, *, kind: str = "not an AGI env block") -> None:
        super().__init__(message)
        self.kind = kind


class AGIProtocolError(AGIError):
    """A reply line did not parse or was longer than the line limit.

    The session cannot be trusted after this (replies could be shifted), so the
    channel is closed.
    """


class AGICommandError(AGIError):
    """A command we were about to send is malformed (e.g. a newline inside an argument).

    Raised before anything is written, so the session stays usable.
    """


class AGICommandTimeout(AGIError):
    """No final reply within command_timeout; the channel is closed afterwards.

    A late reply would otherwise be taken as the answer to the next command.
    """


class AGIReplyError(AGIError):
    """Asterisk answered with an error code; the session itself is still in sync."""

    def __init__(self, message: str, *, command: str = "", reply: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.reply = reply


class AGIInvalidCommand(AGIReplyError):
    """510: Asterisk does not know the command (also what CRLF-terminated commands get, A1)."""


class AGIDeadChannel(AGIReplyError):
    """511: the channel is hung up; only variable/database/EXEC/VERBOSE commands still work (A9)."""


class AGIUsageError(AGIReplyError):
    """520: wrong arguments; .usage holds the usage text Asterisk sent (may be empty)."""

    def __init__(self, message: str, *, usage: str = "", command: str = "", reply: str = "") -> None:
        super().__init__(message, command=command, reply=reply)
        self.usage = usage
