"""The writer thread: one thread, one SQLite connection, every write and maintenance job on it.

Why a thread of its own: SQLite allows one writer at a time, and a Python sqlite3 connection may
only be used by the thread that created it unless it is opened with ``check_same_thread=False``.
So all writes go through a single-thread executor that owns the one connection. The event loop
never waits on the disk: a slow fsync or a locked file stalls this thread, not the calls in the
menu. What is queued for it, and when, is ``writer.py``; the SQL of a batch is ``writes.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlite_utils import Database

from .errors import StoreOpenError
from ..mqtt.message import OutboxMessage
from .schema import apply_migrations
from .writes import Item, is_busy, write_batch

T = TypeVar("T")


class WriterThread:
    """The executor and the connection it owns; methods are awaited from the event loop."""

    def __init__(self, path: str, busy_timeout: float, outbox_max: int):
        self.path = path
        self.busy_timeout = busy_timeout
        self.outbox_max = outbox_max
        self.db: Database | None = None  # touched only in the writer thread
        self._executor: ThreadPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._executor is not None

    async def start(self) -> list[str]:
        """Start the thread, open (creating if needed) the database, switch it to WAL and apply
        pending migrations; returns the migrations applied. ``StoreOpenError`` when it cannot."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreOpenError(f"cannot open database {self.path}: {exc}") from exc

    async def stop(self) -> None:
        """Close the connection and end the thread."""
        if self._executor is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def run(self, function: Callable[[Database], T]) -> T:
        """``function(database)`` on the thread (reconnecting first after a failed write)."""

        def call() -> T:
            return function(self._connected())

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def write(self, records: list[Item], events: list[tuple[OutboxMessage, ...]]) -> None:
        """Write ``records`` and their outbox ``events`` in one transaction on the thread."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._write_batch, records, events)

    def _connected(self) -> Database:
        if self.db is None:
            self._connect()
        assert self.db is not None
        return self.db

    def _connect(self) -> list[str]:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=self.busy_timeout)
        try:
            db = Database(conn)
            db.execute("PRAGMA foreign_keys = ON")
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            applied = apply_migrations(db)
        except BaseException:
            conn.close()
            raise
        self.db = db
        return applied

    def _disconnect(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _write_batch(self, records: list[Item], events: list[tuple[OutboxMessage, ...]]) -> None:
        db = self._connected()
        try:
            with db.atomic():
                write_batch(db.conn, records, events, self.outbox_max)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                self._disconnect()  # e.g. disk I/O error: the next attempt starts on a fresh connection
            raise
