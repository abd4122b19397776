"""Errors of the store; ``StoreError`` is the area's root.

``RecordError`` is raised where a record is handed in (the writer retries a failed write until the
database takes it, so a record that could never be written is refused at the caller, where the bug
is); ``RecordRejectedError`` when SQLite itself refused one record's content after it was queued.
"""

from __future__ import annotations

from ..errors import AsteriskBridgeError


class StoreError(AsteriskBridgeError):
    """Base class for store failures the caller has to know about."""


class StoreOpenError(StoreError):
    """The database file cannot be opened, configured or migrated; the message names the path."""


class StoreClosedError(StoreError):
    """A record was handed to a store that is not open (a wiring bug: open it first)."""


class RecordError(StoreError, ValueError):
    """A call record or operator input has a value the store cannot keep; the message names the field."""


class RecordRejectedError(StoreError):
    """SQLite refused this one record for its content; it is logged and kept in ``Store.rejected``."""
