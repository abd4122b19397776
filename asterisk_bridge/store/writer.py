"""The writer's queue: records written in the order they were handed in, retried until committed.

Why this shape:
- All writes run on one thread that owns the one connection (``connection.py``): the event loop
  never waits on the disk, and the order records were handed in is the order they are written.
- A menu session must never fail because the database is unhappy. Handing a record in only
  appends to an in-memory queue (``_keep`` also waits a bounded time for the commit, so an ended
  session survives a crash); the writer task retries a failed write with capped exponential
  backoff and keeps the record until the database takes it. Records are upserts by their key
  (session id, linkedid) with their steps or legs replaced, so writing one again after an
  uncertain failure is harmless.
- Queued records are written in one transaction (up to ``batch_max``), and a record nobody awaits
  waits up to ``coalesce`` seconds for others first: under load a commit and a hand-off to the
  writer thread are shared by many calls, and order is still the submission order.

What is written, and how, is ``writes.py``; the thread that writes it ``connection.py``; what may be
handed in is ``store.py`` (the API).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from typing import Self, TypeVar

from sqlite_utils import Database

from .connection import WriterThread
from .errors import RecordRejectedError, StoreClosedError, StoreError
from ..mqtt.message import OutboxMessage
from .writes import RECORD_ERRORS, Item, OutboxOnly, for_log, label

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class _Pending:
    seq: int
    record: Item
    done: asyncio.Future[None] | None = None
    events: tuple[OutboxMessage, ...] = ()  # MQTT outbox rows written in the record's transaction
    latest: str | None = None  # a newer state of this record handed in while it waits replaces it


class Writer:
    """The queue and the writer thread behind :class:`~asterisk_bridge.store.store.Store`.

    All methods must be called from the event loop thread that opened it.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        busy_timeout: float = 10.0,
        retry_initial: float = 0.25,
        retry_max: float = 30.0,
        batch_max: int = 200,
        coalesce: float = 0.025,
        outbox_max: int = 100_000,
        node: str | None = None,
    ):
        if busy_timeout < 0 or retry_initial <= 0 or retry_max < retry_initial or batch_max < 1 or coalesce < 0:
            raise ValueError(
                f"Store: need busy_timeout >= 0, 0 < retry_initial <= retry_max, batch_max >= 1 and "
                f"coalesce >= 0; got busy_timeout={busy_timeout}, retry_initial={retry_initial}, "
                f"retry_max={retry_max}, batch_max={batch_max}, coalesce={coalesce}"
            )
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.batch_max = batch_max
        # Fire-and-forget records wait up to this long for company, so a busy minute costs a few
        # transactions instead of one per call; anyone awaiting a write cuts the wait short.
        self.coalesce = coalesce
        if isinstance(outbox_max, bool) or not isinstance(outbox_max, int) or outbox_max < 1:
            raise ValueError(f"Store: outbox_max must be a whole number >= 1, got {outbox_max!r}")
        self.outbox_max = outbox_max
        self.node = node  # written into call rows that do not name their node (Store.submit_call)
        self.outbox_signal = asyncio.Event()  # set after a commit that queued MQTT events
        self.rejected: list[Item] = []  # records SQLite refused for their content (logged)
        self.last_error: str | None = None
        # Told the seconds each committed batch took and its record count (the console's metrics).
        self.on_commit: Callable[[float, int], None] | None = None
        self._thread = WriterThread(self.path, busy_timeout, outbox_max)
        self._backlog: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()  # someone awaits a write, or a full batch is queued
        self._writer: asyncio.Task[None] | None = None
        self._submitted = 0
        self._written = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._latest: dict[str, _Pending] = {}  # queued records a newer state may still replace, by key
        self._in_flight: list[_Pending] = []
        self._outage_since: float | None = None
        self._maintaining = 0  # maintenance jobs holding the writer thread now

    # -- life cycle -----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    @property
    def pending(self) -> int:
        """Records handed in but not yet committed (queued, being written, or waiting for a retry)."""
        return self._submitted - self._written

    async def open(self) -> Self:
        """Open (creating if needed) the database, switch it to WAL and apply pending migrations."""
        if self._thread.started:
            raise StoreError(f"store {self.path} is already open")
        applied = await self._thread.start()
        if applied:
            log.info("store %s: applied migrations %s", self.path, ", ".join(applied))
        self._writer = asyncio.create_task(self._run_writer(), name=f"store-writer {self.path}")
        self._writer.add_done_callback(self._writer_stopped)
        return self

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (for at most ``timeout`` seconds), then stop the writer thread."""
        if not self._thread.started:
            return
        if self._writer is not None:
            try:
                await self.flush(timeout)
            except TimeoutError:
                lost = [label(item.record) for item in self._unwritten()]
                log.error(
                    "store %s: %d records not written at shutdown (%s): %s",
                    self.path, len(lost), self.last_error, ", ".join(lost),
                )
            writer, self._writer = self._writer, None
            writer.cancel()
            await asyncio.wait([writer])
            # Whatever is left stays queued (a reopen writes it); nobody may wait for it forever.
            self._backlog.extendleft(reversed(self._in_flight))
            self._in_flight = []
            closed = StoreClosedError(f"store {self.path} closed before the record was written")
            for item in self._backlog:
                if item.done is not None and not item.done.done():
                    item.done.set_exception(closed)
            for _, waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(closed)
        await self._thread.stop()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the queue ------------------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every record handed in before this call is committed.

        Raises ``TimeoutError`` (naming the count and the last database error) when that takes
        longer than ``timeout`` seconds; the records stay queued and keep being retried.
        """
        target = self._submitted
        if self._written >= target:
            return
        if self._writer is None:
            raise StoreClosedError(f"store {self.path} is not open; {self.pending} menu records unwritten")
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._urgent.set()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            raise TimeoutError(
                f"{target - self._written} menu records still not written to {self.path} after {timeout} s"
                f" ({self.last_error or 'writer busy'})"
            ) from None
        finally:
            if (target, waiter) in self._waiters:
                self._waiters.remove((target, waiter))

    def _enqueue(
        self, record: Item, done: asyncio.Future[None] | None, events: tuple[OutboxMessage, ...] = (),
        *, urgent: bool = True, latest: str | None = None,
    ) -> _Pending:
        """Queue ``record``. ``latest`` (a call's linkedid) marks a record that is a state of
        something written by upsert: while an earlier state of it still waits in the queue, the new
        one takes its place there and is written once instead of twice (a busy call changes many
        times a second; the rows are the same either way, only the number of writes drops). Its
        events still go where it was handed in (``OutboxOnly``), so the outbox keeps their order."""
        if self._writer is None:
            raise StoreClosedError(f"store {self.path} is not open; {label(record)} was not accepted")
        if latest is not None:
            queued = self._latest.pop(latest, None)
            if queued is not None and done is None:
                queued.record = record
                self._latest[latest] = queued
                if not events:
                    return queued
                record, latest = OutboxOnly(latest), None
        self._submitted += 1
        item = _Pending(self._submitted, record, done, events, latest if done is None else None)
        if item.latest is not None:
            self._latest[item.latest] = item
        self._backlog.append(item)
        self._wakeup.set()
        if (done is not None and urgent) or len(self._backlog) >= self.batch_max:
            self._urgent.set()
        return item

    async def _save(self, record: Item, events: tuple[OutboxMessage, ...], timeout: float | None,
                    latest: str | None = None) -> None:
        """Queue ``record`` and wait until it is committed; on ``TimeoutError`` it stays queued."""
        done = asyncio.get_running_loop().create_future()
        item = self._enqueue(record, done, events, latest=latest)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(done)
        except TimeoutError:
            raise TimeoutError(
                f"{label(record)} not written to {self.path} within {timeout} s "
                f"({self.last_error or 'writer busy'}); it stays queued"
            ) from None
        finally:
            if not done.done():
                item.done = None

    async def _keep(self, record: Item, events: tuple[OutboxMessage, ...], wait: float) -> bool:
        """Queue ``record`` and wait up to ``wait`` seconds for its commit, not at all while writes
        are failing or maintenance holds the writer; True once it is on disk. A record that finds
        the writer idle is written at once; one that finds others queued or being written shares
        their coalescing window."""
        done = asyncio.get_running_loop().create_future()
        idle = not self._backlog and not self._in_flight
        item = self._enqueue(record, done, events, urgent=idle)
        if self._outage_since is not None or self._maintaining:
            item.done = None
            return False
        try:
            async with asyncio.timeout(wait):
                await done
        except (TimeoutError, StoreError):
            item.done = None
            return False
        return True

    def _unwritten(self) -> list[_Pending]:
        return [*self._in_flight, *self._backlog]

    # -- the writer task ------------------------------------------------------------------------

    async def _run_writer(self) -> None:
        while True:
            while not self._backlog:
                self._wakeup.clear()
                await self._wakeup.wait()
            if (self.coalesce and not self._urgent.is_set() and not self._waiters
                    and len(self._backlog) < self.batch_max):
                try:
                    async with asyncio.timeout(self.coalesce):
                        await self._urgent.wait()
                except TimeoutError:
                    pass
            self._urgent.clear()
            batch = [self._backlog.popleft() for _ in range(min(self.batch_max, len(self._backlog)))]
            for item in batch:
                if item.latest is not None and self._latest.get(item.latest) is item:
                    del self._latest[item.latest]  # being written: a newer state queues anew
            self._in_flight = batch
            rejected = await self._write_until_committed(
                [item.record for item in batch], [item.events for item in batch]
            )
            self._in_flight = []
            self._written = batch[-1].seq
            for item in batch:
                if item.done is None or item.done.done():
                    continue
                if id(item.record) in rejected:
                    item.done.set_exception(RecordRejectedError(rejected[id(item.record)]))
                else:
                    item.done.set_result(None)
            for target, waiter in list(self._waiters):
                if target <= self._written and not waiter.done():
                    waiter.set_result(None)

    async def _write_until_committed(
        self, records: list[Item], events: list[tuple[OutboxMessage, ...]]
    ) -> dict[int, str]:
        """Write ``records`` in one transaction, retrying until it commits; returns the rejected ones."""
        delay = self.retry_initial
        attempts = 0
        while True:
            attempts += 1
            began = time.monotonic()
            try:
                await self._thread.write(records, events)
            except RECORD_ERRORS as exc:
                if len(records) > 1:  # find the record at fault; write the others
                    rejected: dict[int, str] = {}
                    for record, record_events in zip(records, events, strict=True):
                        rejected.update(await self._write_until_committed([record], [record_events]))
                    return rejected
                return {id(records[0]): self._reject(records[0], exc)}
            except sqlite3.Error as exc:
                self._note_failure(exc, attempts, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            if any(events):
                self.outbox_signal.set()
            if self.on_commit is not None:
                self.on_commit(time.monotonic() - began, len(records))
            if self._outage_since is not None:
                log.info(
                    "store %s: writing again after %.1f s; %d menu records waiting",
                    self.path, time.monotonic() - self._outage_since, self.pending - len(records),
                )
                self._outage_since = None
                self.last_error = None
            return {}

    def _note_failure(self, exc: sqlite3.Error, attempts: int, delay: float) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.error(
                "store %s: cannot write menu records (%s); %d waiting, retrying with backoff up to %g s",
                self.path, self.last_error, self.pending, self.retry_max,
            )
        else:
            log.debug("store %s: attempt %d failed (%s); next in %.2f s", self.path, attempts, exc, delay)

    def _reject(self, record: Item, exc: Exception) -> str:
        self.rejected.append(record)
        reason = f"{label(record)} refused by {self.path}: {type(exc).__name__}: {exc}"
        log.error("store: %s; kept in Store.rejected: %s", reason, for_log(record))
        return reason

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "store %s: writer stopped, %d menu records will not be written",
                self.path, self.pending, exc_info=task.exception(),
            )

    # -- the writer thread ----------------------------------------------------------------------

    async def _on_writer_thread(self, function: Callable[[Database], T], *, maintenance: bool = False,
                                closed: str = "") -> T:
        """Run ``function(database)`` on the writer's connection between two batches: no second
        connection competes for the lock. ``maintenance``: queued menu records do not wait for it;
        ``closed``: what the error says cannot be done when the store is not open."""
        if not self._thread.started:
            raise StoreClosedError(f"store {self.path} is not open" + (f"; {closed}" if closed else ""))
        self._maintaining += maintenance
        try:
            return await self._thread.run(function)
        finally:
            self._maintaining -= maintenance
