"""Errors of the menu domain; ``MenuError`` is the area's root."""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class MenuError(AsteriskBridgeError):
    """Base class of every menu error."""


class MenuRecordError(MenuError, ValueError):
    """A menu record field has a value no record may hold; the message names the field."""


class MenuFlowError(MenuError, RuntimeError):
    """The flow was driven out of order (send before start, or after the end)."""
