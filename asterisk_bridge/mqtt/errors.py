"""Errors of the MQTT area; ``MQTTError`` is the area's root.

Raised while the bridge is wired (a setting the event or gauge builders cannot use), never for a
broker that is away: the publisher retries that by itself and the outbox keeps the events.
"""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class MQTTError(AsteriskBridgeError):
    """Base class of every MQTT error."""


class EventError(MQTTError, ValueError):
    """A setting or value the event builders cannot use; the message names it."""


class OutboxError(MQTTError, ValueError):
    """An outbox message (``message.py``) with a value that cannot be published; the message names
    the field."""
