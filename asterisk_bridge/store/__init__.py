"""The only module with SQL: schema and migrations, the writer, and the report queries."""

from .records import MenuRecord, RecordError
from .store import RecordRejectedError, Store, StoreClosedError, StoreError, StoreOpenError

__all__ = [
    "MenuRecord",
    "RecordError",
    "RecordRejectedError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreOpenError",
]
