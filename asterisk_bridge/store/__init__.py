"""The only module with SQL: schema and migrations, the writer, and the report queries."""

from .errors import RecordError, RecordRejectedError, StoreClosedError, StoreError, StoreOpenError
from .store import Store

__all__ = [
    "RecordError",
    "RecordRejectedError",
    "Store",
    "StoreClosedError",
    "StoreError",
    "StoreOpenError",
]
