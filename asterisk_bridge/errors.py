"""The one root of every error the package raises on purpose.

A caller that embeds the bridge (the service, the CLI, a test) can catch ``AsteriskBridgeError``
to tell "the bridge refused or could not do this, and says why" from a bug. Each area keeps its
own root under it in its own ``errors.py`` (``fastagi/errors.py``: ``AGIError``), so a handler can
be as broad or as narrow as it needs.
"""

from __future__ import annotations


class AsteriskBridgeError(Exception):
    """Base class of every error raised by asterisk_bridge on purpose (never for a bug)."""


# The roots of the two top-level modules that are an area of their own (no package, so no
# errors.py of theirs): ``install.py`` (``init``) and ``eventloop.py`` (``--loop``).


class InitError(AsteriskBridgeError):
    """``init`` would overwrite a file (without ``force``); the message names every one."""


class EventLoopError(AsteriskBridgeError):
    """The event loop asked for cannot be used here (uvloop not installed)."""
