"""Web console errors: one root, ``WebError``, under the package's ``AsteriskBridgeError``."""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class WebError(AsteriskBridgeError):
    """Base class of every error the web console raises on purpose."""


class UsersFileError(WebError):
    """The users file cannot be read or written, or a line in it is not valid; names file and line."""


class WebAccessError(WebError):
    """The console would be reachable by others without a login; ``run`` refuses to start."""


class BadParameter(WebError):
    """A query parameter or form field is not valid: answered with 400 and this message."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")
