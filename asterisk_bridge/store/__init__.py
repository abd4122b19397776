"""The only package with SQL. ``store`` (the API records go in through), ``writer`` (the queue),
``connection`` (the writer thread), ``writes`` (the SQL it runs), ``rows`` (records <-> rows), ``queries`` and
``report_queries`` (reading), ``schema`` (migrations), ``outbox`` (MQTT events waiting for the
broker), ``maintenance`` (migrate, check, backup, retention), ``errors``."""

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
