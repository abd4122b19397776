"""One MQTT message to publish, as the event and gauge builders make it and the outbox keeps it.

It lives with MQTT, not with the store: ``events.py`` and ``gauges.py`` are pure and import no
``store/`` module; the store imports it (``store/outbox.py``) like the other domain types.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import OutboxError


@dataclass(frozen=True)
class OutboxMessage:
    """One MQTT message to publish: built by ``events.py`` and ``gauges.py``, kept by the store's outbox."""

    topic: str
    payload: str
    event_id: str
    qos: int = 1
    retain: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.topic, str) or not self.topic or set(self.topic) & set("+#\0"):
            raise OutboxError(f"OutboxMessage.topic: {self.topic!r} is not a publishable MQTT topic")
        if not isinstance(self.payload, str):
            raise OutboxError(f"OutboxMessage.payload: expected text, got {type(self.payload).__name__}")
        if not isinstance(self.event_id, str) or not self.event_id:
            raise OutboxError(f"OutboxMessage.event_id: expected a non-empty id, got {self.event_id!r}")
        if self.qos not in (0, 1, 2):
            raise OutboxError(f"OutboxMessage.qos: {self.qos!r} is not 0, 1 or 2")
        if not isinstance(self.retain, bool):
            raise OutboxError(f"OutboxMessage.retain: expected True or False, got {self.retain!r}")
