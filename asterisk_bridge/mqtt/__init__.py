"""Live call events and wallboard gauges over MQTT, delivered from a durable outbox.

``events`` and ``gauges`` are pure and build ``message.OutboxMessage``s; ``publisher`` is the only
module that talks to the broker.
``schema.json`` (shipped in the package) describes every payload.
"""

from .errors import EventError, MQTTError
from .events import CALLER_FORMATS, EVENT_TYPES, SCHEMA_VERSION, CallerPrivacy, CallEvents, Topics
from .gauges import Gauges
from .publisher import MQTTPublisher

SCHEMA_FILE = "schema.json"


def payload_schema() -> dict:
    """The JSON Schema of every payload (``asterisk_bridge/mqtt/schema.json``)."""
    import json
    from importlib.resources import files

    return json.loads(files(__name__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


__all__ = [
    "CALLER_FORMATS", "EVENT_TYPES", "SCHEMA_VERSION", "CallEvents", "CallerPrivacy", "EventError", "Gauges",
    "MQTTError", "MQTTPublisher", "Topics", "payload_schema",
]
