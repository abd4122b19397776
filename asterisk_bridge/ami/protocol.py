"""The AMI client's protocol: panoramisk 1.4's ``AMIProtocol`` reading through ``frames.py``.

1.4 decodes every TCP read on its own and silently drops the bytes of a character split between
two reads (a Cyrillic caller name loses a letter). Here every byte goes through
``frames.FrameParser`` (the one AMI parser), which keeps bytes until a message is whole. Messages
are then routed by ActionID with events taking precedence (tests/fixtures/asterisk/README.md,
M6): an event that carries an ActionID is still an event, unless it is an ``EventList`` item of an
action of ours. A lost connection fails every pending action with ``AMINotConnected`` instead of
queueing it to be sent again after the reconnect (1.4 re-sends them: a second Originate would
place a second call). The connection and its policy are ``client.py``.
"""

from __future__ import annotations

import time
from typing import Any

from panoramisk import actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from . import frames
from .errors import AMINotConnected
from .frames import BANNER_PREFIX, Frame, FrameParser


def response_message(frame: Frame) -> Message:
    """A response (or an EventList item) as the panoramisk ``Message`` its action future expects:
    keys as Asterisk spelled them first, a repeated key (M1, ``Output``) as the list of its values."""
    headers: dict[str, Any] = {}
    spelled: dict[str, str] = {}  # lower-case key -> first spelling, so repeats merge case-insensitively
    for key, value in frame.pairs:
        first = spelled.setdefault(key.lower(), key)
        if first in headers:
            old = headers[first]
            headers[first] = (old if isinstance(old, list) else [old]) + [value]
        else:
            headers[first] = value
    message = Message(headers)
    if "content" not in spelled:
        message._store.pop("content", None)  # 1.4 Message always adds an empty 'content' key
    return message


class ClientProtocol(AMIProtocol):
    """Reads bytes through ``frames.FrameParser`` (1.4 decodes each TCP read on its own and drops a
    split Cyrillic letter), then routes by ActionID with events taking precedence (M6)."""

    max_message_bytes = 8 * 1024 * 1024

    def connection_made(self, transport):
        super().connection_made(transport)
        self._parser = FrameParser()

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        checked = parser.banner_checked
        blocks = parser.blocks(data)
        if parser.banner_checked and not checked:
            self._banner_read(parser.banner)
        if blocks:
            # every message completed by this read was received now (one clock read per read)
            received_at = self.factory.client.last_received = time.time()
            for block in blocks:
                self._handle_block(block, received_at)
        if parser.pending_size > self.max_message_bytes:
            self.log.error("AMI message over %d bytes without an end; dropping the connection",
                           self.max_message_bytes)
            parser.clear()
            self.transport.abort()

    def _banner_read(self, banner: str | None) -> None:
        if banner is not None:
            self.version = banner[len(BANNER_PREFIX):].strip()
            self.log.info("AMI protocol version %s", self.version)
        else:
            self.log.warning("no AMI banner from %s; reading messages anyway",
                             self.transport.get_extra_info("peername"))

    def _handle_block(self, block: bytes, received_at: float) -> None:
        wanted = self.factory.client.event_filter
        if wanted is not None and block.startswith(b"Event: "):
            end = block.find(b"\r\n")
            if end > 7 and not wanted(block[7:end]) and b"actionid:" not in block.lower():
                return  # nobody reads it (an item of our own action's list always goes on)
        if not block.isascii():  # only then can bytes be bad; the strict decode is the check
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                self.log.warning("AMI message is not valid UTF-8 (bad bytes replaced): %.200r",
                                 block.decode("utf-8", "replace"))
        frame, bad = frames.read_message(block)
        if bad:
            self.log.warning("AMI %s: ignored %d malformed line(s), first %.100r",
                             frame.get("Event") or frame.get("Response") if frame is not None else "block",
                             len(bad), bad[0])
        if frame is None:
            self.log.warning("skipped an AMI block with neither Event nor Response: %.200r",
                             block.decode("utf-8", "replace"))
            return
        if "event" in frame:
            action_id = frame.get("ActionID")
            action = self.responses.get(action_id) if action_id is not None else None
            if action is None or not getattr(action, "list_open", False):
                frame.received_at = received_at
                self.factory.client._dispatch(frame)
                return
        # a response or an EventList item of our own action: panoramisk Message, as the futures expect
        message = response_message(frame)
        message.received_at = received_at
        self.handle_message(message)

    def handle_message(self, message: Message) -> None:
        action_id = message.get("ActionID")
        action = self.responses.get(action_id) if isinstance(action_id, str) else None
        if "event" in message:
            if action is None or not getattr(action, "list_open", False):
                self.factory.client._dispatch(message)
                return
            action.responses.append(message)  # an EventList item of our own action
            if str(message.get("EventList", "")).lower() == "complete" or str(message["Event"]).endswith("Complete"):
                self._resolve(action, action.responses)
        elif action is None:
            self.log.debug("AMI response for no pending action (ActionID %r) dropped", action_id)
        else:
            action.responses.append(message)
            if message.success and str(message.get("EventList", "")).lower() == "start":
                action.list_open = True
            else:
                self._resolve(action, message)

    def _resolve(self, action: actions.Action, result: Any) -> None:
        self.responses.pop(action.id, None)
        if not action.future.done():
            action.future.set_result(result)

    def fail_pending(self) -> None:
        for action in {id(a): a for a in self.responses.values()}.values():
            if not action.future.done():
                action.future.set_exception(AMINotConnected(
                    f"connection to Asterisk lost before the response to {action.get('Action')}; not re-sent"))
        self.responses.clear()

    def connection_lost(self, exc):
        self.fail_pending()
        super().connection_lost(exc)

    def close(self):
        self.fail_pending()
        super().close()
