"""Live call events as MQTT messages: topics, JSON payloads, caller privacy. Pure (no I/O).

Why the shapes here:
- QoS 1 is at-least-once, so every event carries an ``event_id`` that a subscriber can dedupe
  on. The id is a UUID derived from the node, the call and the event (uuid5), so the same event
  built twice (a record written again, a tracker replay) has the same id and the outbox keeps it
  once.
- The tracker reports snapshots (started / changed / finished); a wallboard wants moments
  (queued, answered, ended). :class:`CallEvents` remembers, per call, which moments it already
  turned into events, and forgets the call once it ended.
- Caller numbers are personal data: masked or hashed by default (``mqtt.caller_numbers``).
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..privacy import hash_number, mask_number
from .message import OutboxMessage
from ..utc import utc_iso
from .errors import EventError

if TYPE_CHECKING:
    from ..calls.model import CallRecord, CallUpdate
    from ..config import Config
    from ..menu.record import MenuRecord

SCHEMA_VERSION = 1
EVENT_TYPES = ("started", "menu", "queued", "answered", "ended")
CALLER_FORMATS = ("mask", "hash", "full")
_EVENT_NAMESPACE = uuid.UUID("6f1d3c2e-5a0b-4e59-9a51-0c8e0b5a7d21")


def topic_level(text: str | None) -> str:
    """One MQTT topic level from a name: ``/``, ``+``, ``#`` and NUL would change the topic's
    meaning, so they become ``_``; an empty or missing name becomes ``unknown``."""
    if not text:
        return "unknown"
    return "".join("_" if ch in "/+#\0" else ch for ch in text)


def operator_id(interface: str) -> str:
    """An operator's id in MQTT topics and payloads: the queue member's interface with ``/``, ``+``,
    ``#`` made ``_`` (``Local/1001@operators/n`` -> ``Local_1001@operators_n``)."""
    return topic_level(interface)


@dataclass(frozen=True)
class Topics:
    """Every topic the bridge publishes, under ``<prefix>/<node>``."""

    prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{topic_level(self.node)}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    def call(self, line: str | None, event: str) -> str:
        if event not in EVENT_TYPES:
            raise EventError(f"unknown call event {event!r}; expected one of {', '.join(EVENT_TYPES)}")
        return f"{self.base}/calls/{topic_level(line)}/{event}"

    def line_gauge(self, line: str) -> str:
        return f"{self.base}/gauges/lines/{topic_level(line)}"

    def queue_gauge(self, queue: str) -> str:
        return f"{self.base}/gauges/queues/{topic_level(queue)}"

    def operator_gauge(self, interface: str) -> str:
        """``PJSIP/1001`` -> ``.../gauges/operators/PJSIP_1001`` (the operator id: the interface, topic-safe)."""
        return f"{self.base}/gauges/operators/{operator_id(interface)}"


@dataclass(frozen=True)
class CallerPrivacy:
    """How caller numbers appear in payloads: ``mask`` (7916***4567), ``hash`` (salted), ``full``."""

    mode: str = "mask"
    salt: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in CALLER_FORMATS:
            raise EventError(f"mqtt.caller_numbers: {self.mode!r} is not one of {', '.join(CALLER_FORMATS)}")
        if self.mode == "hash" and not self.salt:
            raise EventError("mqtt.caller_numbers = 'hash' needs privacy.salt (unsalted phone hashes are reversible)")

    def show(self, number: str | None) -> str | None:
        if not number:
            return None
        if self.mode == "full":
            return number
        if self.mode == "hash":
            return hash_number(number, self.salt or "")
        return mask_number(number)


def event_id(node: str, *parts: object) -> str:
    """A stable UUID for one event: the same call moment always gets the same id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "/".join([node, *map(str, parts)])))


def _iso(epoch: float | None) -> str | None:
    return utc_iso(epoch) if epoch is not None else None


def _seconds(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


@dataclass
class _Seen:
    """What was already published for one call."""

    queued: set[int] = field(default_factory=set)
    answered: set[int] = field(default_factory=set)


class CallEvents:
    """Builds the outbox messages for menu records and tracker updates.

    ``menu_events(record)`` and ``call_events(update)`` return the messages to pass to the store
    with the record (``store.submit_menu(record, events=...)``), so that the record and its events
    are written in one transaction. Call from one thread (the event loop).
    """

    def __init__(
        self,
        *,
        node: str,
        prefix: str = "asterisk-bridge",
        caller_numbers: str = "mask",
        salt: str | None = None,
        qos: int = 1,
        memory: int = 20_000,
    ):
        if not node:
            raise EventError("node: must not be empty (it is part of every topic)")
        self.node = node
        self.topics = Topics(prefix, node)
        self.privacy = CallerPrivacy(caller_numbers, salt)
        self.qos = qos
        self.memory = memory
        self._calls: OrderedDict[str, _Seen] = OrderedDict()

    @classmethod
    def from_config(cls, config: Config) -> CallEvents:
        return cls(
            node=config.node, prefix=config.mqtt.prefix, caller_numbers=config.mqtt.caller_numbers,
            salt=config.privacy.salt,
        )

    # -- builders ---------------------------------------------------------------------------------

    def _message(self, event: str, line: str | None, ident: str, body: dict[str, Any]) -> OutboxMessage:
        payload = {"schema": SCHEMA_VERSION, "event": event, "event_id": ident, "node": self.node, **body}
        return OutboxMessage(
            topic=self.topics.call(line, event),
            payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            event_id=ident,
            qos=self.qos,
        )

    def menu_events(self, record: MenuRecord) -> list[OutboxMessage]:
        """The ``menu`` event of one finished menu session (what the caller chose, where it ended)."""
        ident = event_id(self.node, "menu", record.session_id)
        body = {
            "linkedid": record.linkedid,
            "line": record.line or None,
            "topic": record.topic,
            "at": utc_iso(record.ended_at),
            "caller": self.privacy.show(record.caller_number),
            "caller_format": self.privacy.mode,
            "session_id": record.session_id,
            "started_at": utc_iso(record.started_at),
            "result": record.result,
            "queue": record.queue,
            "age_group": record.age_group,
            "ended_in": record.ended_in,
            "menu_seconds": round(record.duration_ms / 1000, 3),
            "hung_up": record.hung_up,
        }
        return [self._message("menu", record.line, ident, body)]

    def call_events(self, update: CallUpdate) -> list[OutboxMessage]:
        """The moments new in this tracker update: started, queued (per queue leg), answered, ended.

        An update for a call that already ended (an operator's late input) publishes nothing.
        """
        record = update.record
        if record is None or update.kind not in ("started", "changed", "finished"):
            return []
        seen = self._calls.get(record.linkedid)
        out: list[OutboxMessage] = []
        if seen is None:
            if update.kind == "changed" and record.ended_at is not None:
                return []  # ended and already announced; nothing new for the wallboard
            seen = self._calls[record.linkedid] = _Seen()
            while len(self._calls) > self.memory:
                self._calls.popitem(last=False)  # a call whose end we never heard of
            out.append(self._call_message("started", record, None, record.started_at, {}))
        for number, leg in enumerate(record.legs, start=1):
            if number not in seen.queued:
                seen.queued.add(number)
                out.append(self._call_message("queued", record, number, leg.joined_at, {
                    "queue": leg.queue, "leg": number, "position": leg.position,
                }))
            if leg.answered_at is not None and number not in seen.answered:
                seen.answered.add(number)
                out.append(self._call_message("answered", record, number, leg.answered_at, {
                    "queue": leg.queue, "leg": number, "operator": leg.answered_by,
                    "wait_seconds": _seconds(leg.wait_seconds),
                }))
        if update.kind == "finished":
            del self._calls[record.linkedid]
            end = record.ended_at if record.ended_at is not None else record.last_event_at
            out.append(self._call_message("ended", record, None, end, {
                "outcome": record.outcome,
                "complete": record.complete,
                "ended_at": utc_iso(end),
                "ivr_result": record.ivr_result,
                "queue": record.queue,
                "queued_seconds": _seconds(record.queued_seconds),
                "answered_at": _iso(record.answered_at),
                "operator": record.operator,
                "talk_seconds": _seconds(record.talk_seconds),
                "hangup_by": record.hangup_by,
                "hangup_cause": record.hangup_cause,
                "age_group": record.age_group or "unknown",
            }))
        return out

    def _call_message(
        self, event: str, record: CallRecord, leg: int | None, at: float, extra: dict[str, Any]
    ) -> OutboxMessage:
        ident = event_id(self.node, "call", record.linkedid, event, leg if leg is not None else "")
        body = {
            "linkedid": record.linkedid,
            "line": record.line,
            "topic": record.ivr_topic,
            "at": utc_iso(at),
            "caller": self.privacy.show(record.caller_number),
            "caller_format": self.privacy.mode,
            "started_at": utc_iso(record.started_at),
            **extra,
        }
        return self._message(event, record.line, ident, body)
