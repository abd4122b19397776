"""The caller's channel, its variables and its menu: channel events -> a call record's fields.

Part of the tracker (``tracker.py``), which owns the calls and their ends; this class fills in who
called which line, what the menu decided (the ``IVR_*`` variables, AGISTATUS, QUEUESTATUS) and
who asked for the hang-up first. Pure. A channel of the call counts as the menu's once it runs
in a contact-center context, so the menu's variables are read from the Local channel that runs
it as well as from the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .fields import Get

if TYPE_CHECKING:
    from .tracker import _State

#: the menu's channel variables -> record fields (queue_log filling takes them from the menu
#: session too, ``queue_log.py``)
IVR_FIELDS = {
    "IVR_RESULT": "ivr_result",
    "IVR_TOPIC": "ivr_topic",
    "IVR_QUEUE": "ivr_queue",
    "IVR_AGE_GROUP": "ivr_age_group",
    "AGISTATUS": "agi_status",
    "QUEUESTATUS": "queue_status",
}
_NO_CALLER_ID = ("", "<unknown>")
_SPECIAL_EXTENS = frozenset({"h", "i", "t", "s", "e", "o", "a", "T", "failed"})

#: ``UserEvent(ContactCenterCall, ...)`` (the dialplan's ``h`` extension) and ``BridgeDown`` keys
#: -> record fields; only ``Line``, ``AgiStatus`` and ``QueueStatus`` are in ``BridgeDown``
_SUMMARY_FIELDS = (
    ("AgiStatus", "agi_status"), ("QueueStatus", "queue_status"), ("Result", "ivr_result"),
    ("Topic", "ivr_topic"), ("IvrQueue", "ivr_queue"), ("AgeGroup", "ivr_age_group"),
)


class ChannelEvents:
    """Handlers of the non-queue events of a call, for ``contexts`` (the contact-center contexts)."""

    def __init__(self, contexts: Iterable[str]):
        self.contexts = frozenset(contexts)

    def caller_seen(self, state: _State, get: Get) -> None:
        """An event of the caller channel itself: its name, caller ID and context."""
        rec = state.record
        channel = get("Channel")
        if channel and channel != rec.channel:
            rec.channel = channel
        if rec.caller_number is None:
            number = get("CallerIDNum")
            if number not in _NO_CALLER_ID and number is not None:
                rec.caller_number = number
                state.dirty = True
        if rec.caller_name is None:
            name = get("CallerIDName")
            if name not in _NO_CALLER_ID and name is not None:
                rec.caller_name = name
                state.dirty = True
        if get("Context") in self.contexts:
            self.entered(state, get, rec.uniqueid)

    def entered(self, state: _State, get: Get, uniqueid: str | None) -> None:
        """A channel of the call runs in a contact-center context."""
        if uniqueid:
            state.ivr_uniqueids.add(uniqueid)
        if not state.qualified:
            state.qualified = True
            state.dirty = True
        rec = state.record
        if rec.line is None:
            exten = get("Exten")
            if exten and exten not in _SPECIAL_EXTENS:
                rec.line = exten
                state.dirty = True

    def on_channel(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        # A non-caller channel entering the contact center (the caller dialled a
        # Local channel that runs the menu) carries the menu's variables.
        if uniqueid != state.record.uniqueid and uniqueid not in state.ivr_uniqueids:
            if get("Context") in self.contexts:
                self.entered(state, get, uniqueid)

    def on_callerid(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        if uniqueid != state.record.uniqueid:
            return
        rec = state.record
        number, name = get("CallerIDNum"), get("CallerIDName")
        if number and number not in _NO_CALLER_ID and number != rec.caller_number:
            rec.caller_number = number
            state.dirty = True
        if name and name not in _NO_CALLER_ID and name != rec.caller_name:
            rec.caller_name = name
            state.dirty = True

    def on_varset(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        if uniqueid not in state.ivr_uniqueids:
            return
        variable = get("Variable")
        if not variable:
            return
        variable = variable.lstrip("_").upper()
        rec = state.record
        value = get("Value") or None
        if variable == "IVR_LINE":
            if value and value != rec.line and not (state.ended and rec.line):
                rec.line = value
                state.qualified = True
                state.dirty = True
            return
        attr = IVR_FIELDS.get(variable)
        if attr is None:
            return
        current = getattr(rec, attr)
        if current == value or (state.ended and current is not None):
            return
        setattr(rec, attr, value)
        state.dirty = True

    def on_hangup_request(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        # The first request on the caller channel says who ended it: the far end
        # (HangupRequest, queued by the channel driver) or Asterisk itself
        # (SoftHangupRequest: dialplan end, bridge partner gone).
        if uniqueid == state.record.uniqueid and state.first_request is None:
            state.first_request = "caller" if get("Event").lower() == "hanguprequest" else "system"

    def on_userevent(self, state: _State, get: Get, at: float, uniqueid: str | None) -> None:
        kind = (get("UserEvent") or "").lower()
        if kind not in ("contactcentercall", "bridgedown"):
            return
        rec = state.record
        line = get("Line")
        if line and rec.line != line and not (state.ended and rec.line):
            rec.line = line
            state.dirty = True
        if not state.qualified and line:
            state.qualified = True
            state.dirty = True
        # The menu's outcome as the dialplan saw it fills what the VarSets did not tell (a call
        # adopted after a reconnect missed them); what the VarSets told stays.
        for key, attr in _SUMMARY_FIELDS:
            value = get(key)
            if value and getattr(rec, attr) is None:
                setattr(rec, attr, value)
                state.dirty = True
