"""The one root of every error the package raises on purpose.

A caller that embeds the bridge (the service, the CLI, a test) can catch ``AsteriskBridgeError``
to tell "the bridge refused or could not do this, and says why" from a bug. Each area keeps its
own root under it in its own ``errors.py`` (``fastagi/errors.py``: ``AGIError``), so a handler can
be as broad or as narrow as it needs.
"""

from __future__ import annotations


class AsteriskBridgeError(Exception):
    """Base class of every error raised by asterisk_bridge on purpose (never for a bug)."""
