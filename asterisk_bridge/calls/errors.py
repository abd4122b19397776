"""Errors of the call domain; ``CallsError`` is the area's root."""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class CallsError(AsteriskBridgeError):
    """Base class of every call-domain error."""


class QueueLogError(CallsError, ValueError):
    """A queue_log line that does not have the documented shape; the message names the line."""
