"""Errors of the AMI transport (``ami/client.py``); ``AMIError`` is the area's root.

A caller can tell a rejected login (wrong credentials: nothing to retry until the configuration
changes) from a slow or lost Asterisk (retry later) from a malformed action (a bug in the caller).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AsteriskBridgeError

if TYPE_CHECKING:
    from panoramisk.message import Message


class AMIError(AsteriskBridgeError):
    """Base class of every AMI client error."""


class AMIAuthError(AMIError):
    """Asterisk rejected our Login (wrong username or secret, or missing permissions)."""


class AMIActionTimeout(AMIError):
    """No response to an action within the timeout (a hung or overloaded Asterisk)."""


class AMINotConnected(AMIError):
    """Not logged in, or the connection dropped before the response (the action is not re-sent)."""


class AMIBadAction(AMIError, ValueError):
    """The action we were asked to send is malformed (no Action key, CR/LF inside a value)."""


class AMIActionError(AMIError):
    """Asterisk answered ``Response: Error`` (or anything not successful)."""

    def __init__(self, action: str, response: Message):
        self.action = action
        self.response = response
        self.message = response.get("Message", "")
        super().__init__(f"AMI action {action} failed: {response.get('Response')}: {self.message}")
