"""The writer: one thread, one SQLite connection, records written in the order they were handed in.

Why this shape:
- SQLite allows one writer at a time and sqlite-utils' connection is bound to its thread, so all
  writes go through a single-thread executor that owns the connection (libraries.md section 4).
  The event loop never waits on the disk: a slow fsync or a locked file stalls the writer thread,
  not the calls in the menu.
- A menu session must never fail because the database is unhappy. ``submit_menu`` only appends to
  an in-memory queue (``keep_menu`` also waits a bounded time for the commit, so an ended session
  survives a crash); the writer task retries a failed write with capped exponential backoff and
  keeps the record until the database takes it. Records are upserts by ``session_id`` with their
  steps replaced, so writing one again after an uncertain failure is harmless.
- Queued records are written in one transaction (up to ``batch_max``), and a record nobody awaits
  waits up to ``coalesce`` seconds for others first: under load a commit and a hand-off to the
  writer thread are shared by many calls, and order is still the submission order. New menu
  sessions are plain inserts; only a session already stored takes the upsert-and-replace path.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, is_dataclass
from os import PathLike
from collections.abc import Iterable, Sequence
from typing import Any

from sqlite_utils import Database

from ..utc import utc_iso
from . import outbox as _outbox
from .errors import RecordRejectedError, StoreClosedError, StoreError, StoreOpenError
from .outbox import OutboxMessage, OutboxRow, check_events
from ..menu.record import MenuRecord
from .records import (
    CALL_COLUMNS,
    LEG_COLUMNS,
    CallRows,
    OperatorInputRow,
    call_rows,
    operator_input_row,
)
from .schema import apply_migrations

log = logging.getLogger(__name__)

_SESSION_COLUMNS = (
    "session_id", "node", "line", "caller_number", "caller_name", "channel", "uniqueid", "linkedid",
    "agi_script", "started_at", "ended_at", "duration_ms", "result", "topic", "queue", "age_group",
    "ended_in", "hung_up", "error", "step_count",
)
_UPSERT_SESSION = (
    f"INSERT INTO menu_sessions ({', '.join(_SESSION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _SESSION_COLUMNS)}) "
    "ON CONFLICT (session_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _SESSION_COLUMNS if c != "session_id")
)
# A new session (the usual case) is a plain insert; only a session already stored (a re-save or a
# retry after an uncertain failure) takes the upsert path that also replaces its steps.
# The hot path inserts many rows per statement (multi-row VALUES, see _insert_rows): SQLite runs a
# whole INSERT in one step, and the sqlite3 module releases and retakes the GIL around each step,
# so with one executemany row per step the writer thread kept taking the GIL from the event loop.
# (An earlier INSERT ... SELECT FROM json_each did the same in one step but parsed every row's JSON
# once per column: about 50 us more writer CPU per menu session.)
_STEP_COLUMNS = ("session_id", "seq", "at", "kind", "menu", "prompt", "key")
_DELETE_STEPS = "DELETE FROM menu_steps WHERE session_id = ?"
_INSERT_STEP = f"INSERT INTO menu_steps ({', '.join(_STEP_COLUMNS)}) VALUES ({', '.join('?' * len(_STEP_COLUMNS))})"

# Calls: upsert by linkedid, legs replaced. A known age group / resolution is never replaced by
# "unknown" / nothing: an operator's input may have reached the row before this write.
_UPSERT_CALL = (
    f"INSERT INTO calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join(':' + c for c in CALL_COLUMNS)}) "
    "ON CONFLICT (linkedid) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}" for c in CALL_COLUMNS
        if c not in ("linkedid", "age_group", "resolution", "node", "updated_at")
    )
    + ", age_group = CASE WHEN excluded.age_group = 'unknown' THEN calls.age_group ELSE excluded.age_group END"
    ", resolution = COALESCE(excluded.resolution, calls.resolution)"
    ", node = COALESCE(excluded.node, calls.node)"
    ", updated_at = MAX(COALESCE(calls.updated_at, ''), COALESCE(excluded.updated_at, ''))"
)
_DELETE_LEGS = "DELETE FROM queue_legs WHERE linkedid = ?"
_INSERT_LEG = (
    f"INSERT INTO queue_legs ({', '.join(LEG_COLUMNS)}) VALUES ({', '.join(':' + c for c in LEG_COLUMNS)})"
)
_APPLY_INPUT = (
    "UPDATE calls SET age_group = COALESCE(?, age_group), resolution = COALESCE(?, resolution), "
    "updated_at = MAX(COALESCE(updated_at, ''), ?) WHERE linkedid = ?"
)
_KEEP_INPUT = (
    "INSERT INTO operator_inputs (linkedid, at, age_group, resolution) SELECT ?, ?, ?, ? "
    "WHERE NOT EXISTS (SELECT 1 FROM operator_inputs WHERE linkedid = ? AND at = ? "
    "AND age_group IS ? AND resolution IS ?)"
)
_KEPT_INPUTS = (
    "SELECT at, age_group, resolution FROM operator_inputs WHERE linkedid = ? ORDER BY at, rowid"
)
_DROP_INPUTS = "DELETE FROM operator_inputs WHERE linkedid = ?"

# Errors that belong to one record (a constraint, a value SQLite cannot bind) rather than to the
# database: retrying them would block every later record, so the record is set aside and logged.
_RECORD_ERRORS = (
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
    TypeError, ValueError, OverflowError,
)


@dataclass
class _Pending:
    seq: int
    record: MenuRecord | CallRows | OperatorInputRow
    done: asyncio.Future[None] | None = None
    events: tuple[OutboxMessage, ...] = ()  # MQTT outbox rows written in the record's transaction


def session_row(record: MenuRecord) -> dict[str, Any]:
    """The ``menu_sessions`` row for ``record`` (times as UTC ISO text)."""
    return {
        "session_id": record.session_id,
        "node": record.node,
        "line": record.line,
        "caller_number": record.caller_number,
        "caller_name": record.caller_name,
        "channel": record.channel,
        "uniqueid": record.uniqueid,
        "linkedid": record.linkedid,
        "agi_script": record.agi_script,
        "started_at": utc_iso(record.started_at),
        "ended_at": utc_iso(record.ended_at),
        "duration_ms": record.duration_ms,
        "result": record.result,
        "topic": record.topic,
        "queue": record.queue,
        "age_group": record.age_group,
        "ended_in": record.ended_in,
        "hung_up": int(record.hung_up),
        "error": record.error,
        "step_count": len(record.steps),
    }


def _session_values(record: MenuRecord) -> tuple:
    """``session_row`` as a tuple in ``_SESSION_COLUMNS`` order (the writer's hot path)."""
    return (
        record.session_id, record.node, record.line, record.caller_number, record.caller_name,
        record.channel, record.uniqueid, record.linkedid, record.agi_script, utc_iso(record.started_at),
        utc_iso(record.ended_at), record.duration_ms, record.result, record.topic, record.queue,
        record.age_group, record.ended_in, int(record.hung_up), record.error, len(record.steps),
    )


def step_rows(record: MenuRecord) -> list[tuple]:
    """The ``menu_steps`` rows for ``record``, numbered from 0 in the order they happened."""
    return [
        (record.session_id, seq, utc_iso(step.at), step.kind, step.menu, step.prompt, step.key)
        for seq, step in enumerate(record.steps)
    ]


def _menu_record(record: Any) -> MenuRecord:
    if not isinstance(record, MenuRecord):
        raise TypeError(f"expected a MenuRecord, got {type(record).__name__}")
    return record


def _label(record: MenuRecord | CallRows | OperatorInputRow) -> str:
    """How logs and errors name a queued record."""
    if isinstance(record, CallRows):
        return f"call record {record.linkedid}"
    if isinstance(record, OperatorInputRow):
        return f"operator input for call {record.linkedid}"
    return f"menu record {record.session_id}"


def _record_for_log(record: MenuRecord | CallRows | OperatorInputRow) -> str:
    data = asdict(record) if is_dataclass(record) else dict(vars(record))
    return json.dumps(data, ensure_ascii=False, default=lambda o: asdict(o) if is_dataclass(o) else repr(o))


class Store:
    """The call-record database: ``async with Store(path) as store: store.submit_menu(record)``.

    All methods must be called from the event loop thread that opened the store.
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
        self.outbox_signal = asyncio.Event()  # set after a commit that queued MQTT events
        self.node = node  # written into call rows that do not name their node
        self.rejected: list[MenuRecord | CallRows | OperatorInputRow] = []  # records SQLite refused for their content (logged)
        self.last_error: str | None = None
        self._db: Database | None = None  # touched only in the writer thread
        self._executor: ThreadPoolExecutor | None = None
        self._backlog: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()  # someone awaits a write, or a full batch is queued
        self._writer: asyncio.Task[None] | None = None
        self._submitted = 0
        self._written = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
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

    async def open(self) -> Store:
        """Open (creating if needed) the database, switch it to WAL and apply pending migrations."""
        if self._executor is not None:
            raise StoreError(f"store {self.path} is already open")
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        try:
            applied = await loop.run_in_executor(self._executor, self._connect)
        except (sqlite3.Error, OSError) as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreOpenError(f"cannot open database {self.path}: {exc}") from exc
        if applied:
            log.info("store %s: applied migrations %s", self.path, ", ".join(applied))
        self._writer = asyncio.create_task(self._run_writer(), name=f"store-writer {self.path}")
        self._writer.add_done_callback(self._writer_stopped)
        return self

    async def close(self, timeout: float = 10.0) -> None:
        """Write what is pending (for at most ``timeout`` seconds), then stop the writer thread."""
        if self._executor is None:
            return
        if self._writer is not None:
            try:
                await self.flush(timeout)
            except TimeoutError:
                lost = [_label(item.record) for item in self._unwritten()]
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
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def __aenter__(self) -> Store:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- writing --------------------------------------------------------------------------------

    def submit_menu(self, record: MenuRecord, events: Iterable[OutboxMessage] | None = None) -> None:
        """Queue ``record`` for writing and return at once; it is written in order, retried on errors.

        ``events`` (MQTT messages about this record) go to the outbox in the same transaction.
        """
        self._enqueue(_menu_record(record), None, check_events(events))

    async def save_menu(
        self, record: MenuRecord, timeout: float | None = None, *, events: Iterable[OutboxMessage] | None = None
    ) -> None:
        """Write ``record`` (upsert by session id, steps replaced) and wait until it is committed.

        It goes through the same queue as ``submit_menu`` so that a later save of a session can
        never be overtaken by an earlier submit of it. On ``TimeoutError`` the record stays queued.
        """
        await self._save(_menu_record(record), check_events(events), timeout)

    async def keep_menu(
        self, record: MenuRecord, *, wait: float, events: Iterable[OutboxMessage] | None = None
    ) -> bool:
        """Queue ``record`` and wait up to ``wait`` seconds for its commit; True once it is on disk.

        For the end of a menu session: the session closes after its record is committed, so a
        crash of the bridge cannot lose a menu session that had ended. The caller never waits on an
        unhappy database: not at all while writes are failing or maintenance holds the writer, at
        most ``wait`` seconds otherwise, and the record stays queued either way. A record that
        finds the writer idle is written at once; one that finds others queued or being written
        shares their coalescing window, so under load many sessions still share one commit.
        """
        done = asyncio.get_running_loop().create_future()
        idle = not self._backlog and not self._in_flight
        item = self._enqueue(_menu_record(record), done, check_events(events), urgent=idle)
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

    def submit_call(
        self, record: Any, *, node: str | None = None, events: Iterable[OutboxMessage] | None = None
    ) -> None:
        """Queue a tracker ``CallRecord`` (upsert by linkedid, legs replaced) and return at once.

        Same queue, order and retry rules as ``submit_menu``. The record is converted now, so a
        bad field raises ``RecordError`` here and later tracking cannot change what gets written.
        Kept operator inputs for the call are applied in the same transaction.
        """
        rows = call_rows(record, node if node is not None else self.node)
        self._enqueue(rows, None, check_events(events))

    async def save_call(
        self, record: Any, *, node: str | None = None, timeout: float | None = None,
        events: Iterable[OutboxMessage] | None = None,
    ) -> None:
        """Write a call record and wait until it is committed (see ``save_menu``)."""
        rows = call_rows(record, node if node is not None else self.node)
        await self._save(rows, check_events(events), timeout)

    def submit_operator_input(
        self, linkedid: str, at: float, age_group: str | None = None, resolution: str | None = None
    ) -> None:
        """An operator's age group / resolution for a call; non-blocking.

        Applied to the stored call when there is one; otherwise kept in ``operator_inputs`` and
        applied when the call is stored (the input may come before, or long after, the call).
        """
        self._enqueue(operator_input_row(linkedid, at, age_group, resolution), None)

    async def _save(
        self, record: MenuRecord | CallRows | OperatorInputRow, events: tuple[OutboxMessage, ...], timeout: float | None
    ) -> None:
        done = asyncio.get_running_loop().create_future()
        item = self._enqueue(record, done, events)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(done)
        except TimeoutError:
            raise TimeoutError(
                f"{_label(record)} not written to {self.path} within {timeout} s "
                f"({self.last_error or 'writer busy'}); it stays queued"
            ) from None
        finally:
            if not done.done():
                item.done = None

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
        self, record: MenuRecord | CallRows | OperatorInputRow, done: asyncio.Future[None] | None,
        events: tuple[OutboxMessage, ...] = (), *, urgent: bool = True,
    ) -> _Pending:
        if self._writer is None:
            raise StoreClosedError(f"store {self.path} is not open; {_label(record)} was not accepted")
        self._submitted += 1
        item = _Pending(self._submitted, record, done, events)
        self._backlog.append(item)
        self._wakeup.set()
        if (done is not None and urgent) or len(self._backlog) >= self.batch_max:
            self._urgent.set()
        return item

    def _unwritten(self) -> list[_Pending]:
        return [*self._in_flight, *self._backlog]

    async def _run_writer(self) -> None:
        loop = asyncio.get_running_loop()
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
            self._in_flight = batch
            rejected = await self._write_until_committed(
                loop, [item.record for item in batch], [item.events for item in batch]
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
        self, loop: asyncio.AbstractEventLoop, records: list[MenuRecord], events: list[tuple] | None = None
    ) -> dict[int, str]:
        """Write ``records`` in one transaction, retrying until it commits; returns the rejected ones."""
        events = events if events is not None else [()] * len(records)
        delay = self.retry_initial
        attempts = 0
        while True:
            attempts += 1
            try:
                await loop.run_in_executor(self._executor, self._write_batch, records, events)
            except _RECORD_ERRORS as exc:
                if len(records) > 1:  # find the record at fault; write the others
                    rejected: dict[int, str] = {}
                    for record, record_events in zip(records, events):
                        rejected.update(await self._write_until_committed(loop, [record], [record_events]))
                    return rejected
                return {id(records[0]): self._reject(records[0], exc)}
            except sqlite3.Error as exc:
                self._note_failure(exc, attempts, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            if any(events):
                self.outbox_signal.set()
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

    def _reject(self, record: MenuRecord | CallRows | OperatorInputRow, exc: Exception) -> str:
        self.rejected.append(record)
        reason = f"{_label(record)} refused by {self.path}: {type(exc).__name__}: {exc}"
        log.error("store: %s; kept in Store.rejected: %s", reason, _record_for_log(record))
        return reason

    def _writer_stopped(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "store %s: writer stopped, %d menu records will not be written",
                self.path, self.pending, exc_info=task.exception(),
            )

    # -- MQTT outbox (read and acknowledged by the publisher) -----------------------------------

    async def outbox_batch(self, limit: int = 100) -> list[OutboxRow]:
        """The oldest ``limit`` events waiting for the broker, oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"outbox_batch: limit must be a whole number >= 1, got {limit!r}")
        return await self._outbox_call(_outbox.batch, limit)

    async def outbox_ack(self, ids: Sequence[int]) -> int:
        """Delete events the broker acknowledged; returns how many rows went (already gone: skipped)."""
        return await self._outbox_call(self._outbox_ack, list(ids))

    async def outbox_depth(self) -> int:
        """Events waiting for the broker."""
        return await self._outbox_call(_outbox.depth)

    async def outbox_dropped(self) -> int:
        """Events dropped so far because the outbox reached ``outbox_max`` (kept across restarts)."""
        return await self._outbox_call(_outbox.dropped)

    async def _outbox_call(self, function, *args):
        if self._executor is None:
            raise StoreClosedError(f"store {self.path} is not open; the MQTT outbox cannot be read")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._on_connection, function, *args)

    async def maintain(self, function, /, *args, **kwargs):
        """Run ``function(database, ...)`` on the writer's connection between two batches (retention):
        no second writer competes for the lock, and queued records simply wait a moment."""
        if self._executor is None:
            raise StoreClosedError(f"store {self.path} is not open")
        loop = asyncio.get_running_loop()

        def call():
            if self._db is None:
                self._connect()
            assert self._db is not None
            return function(self._db, *args, **kwargs)

        self._maintaining += 1
        try:
            return await loop.run_in_executor(self._executor, call)
        finally:
            self._maintaining -= 1

    def _on_connection(self, function, *args):
        if self._db is None:
            self._connect()
        assert self._db is not None
        return function(self._db.conn, *args)

    def _outbox_ack(self, conn: sqlite3.Connection, ids: list[int]) -> int:
        assert self._db is not None
        with self._db.atomic():
            return _outbox.ack(conn, ids)

    # -- writer thread ----------------------------------------------------------------------------

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
        self._db = db
        return applied

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _write_batch(self, records: list[MenuRecord], events: list[tuple] | None = None) -> None:
        if self._db is None:
            self._connect()
        assert self._db is not None
        conn = self._db.conn
        try:
            with self._db.atomic():
                menus: list[MenuRecord] = []  # consecutive menu records, written together
                for record in records:
                    if isinstance(record, MenuRecord):
                        menus.append(record)
                        continue
                    if menus:
                        _write_menus(conn, menus)
                        menus = []
                    if isinstance(record, CallRows):
                        _write_call(conn, record)
                    else:
                        _write_operator_input(conn, record)
                if menus:
                    _write_menus(conn, menus)
                for record_events in events or ():
                    _outbox.insert_events(conn, record_events)
                if any(events or ()):
                    _outbox.enforce_bound(conn, self.outbox_max)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                self._disconnect()  # e.g. disk I/O error: the next attempt starts on a fresh connection
            raise


def _write_menus(conn: sqlite3.Connection, records: list[MenuRecord]) -> None:
    """Menu records in order: new sessions as plain inserts, stored ones upserted, steps replaced."""
    inserted = _insert_rows(conn, "menu_sessions", _SESSION_COLUMNS, [_session_values(r) for r in records],
                            " ON CONFLICT (session_id) DO NOTHING")
    if inserted == len(records):  # all new: no old steps to delete
        _insert_rows(conn, "menu_steps", _STEP_COLUMNS, [row for r in records for row in step_rows(r)])
        return
    # Some were stored already (or repeat within this batch): the idempotent path, one by one, in
    # order. Rows the inserts above just wrote are simply written again.
    for record in records:
        conn.execute(_UPSERT_SESSION, session_row(record))
        conn.execute(_DELETE_STEPS, (record.session_id,))
        conn.executemany(_INSERT_STEP, step_rows(record))


#: rows per INSERT statement: power-of-two chunks, so a handful of statements (each prepared once and
#: kept in the connection's statement cache) cover every batch size; 256 x 20 columns stays far
#: below SQLite's limit on bound parameters
_CHUNKS = (256, 128, 64, 32, 16, 8, 4, 2, 1)


def _insert_rows(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple],
                 suffix: str = "") -> int:
    """``INSERT INTO table (columns) VALUES (...), (...), ...`` for ``rows``; returns rows inserted."""
    inserted = start = 0
    while start < len(rows):
        size = next(n for n in _CHUNKS if n <= len(rows) - start)
        chunk = rows[start:start + size]
        inserted += conn.execute(_values_sql(table, tuple(columns), size, suffix),
                                 [value for row in chunk for value in row]).rowcount
        start += size
    return inserted


@functools.cache
def _values_sql(table: str, columns: tuple[str, ...], rows: int, suffix: str) -> str:
    row = "(" + ", ".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * rows) + suffix


def _write_call(conn: sqlite3.Connection, rows: CallRows) -> None:
    conn.execute(_UPSERT_CALL, rows.call)
    conn.execute(_DELETE_LEGS, (rows.linkedid,))
    conn.executemany(_INSERT_LEG, rows.legs)
    kept = conn.execute(_KEPT_INPUTS, (rows.linkedid,)).fetchall()
    for at, age_group, resolution in kept:
        conn.execute(_APPLY_INPUT, (age_group, resolution, at, rows.linkedid))
    if kept:
        conn.execute(_DROP_INPUTS, (rows.linkedid,))


def _write_operator_input(conn: sqlite3.Connection, row: OperatorInputRow) -> None:
    applied = conn.execute(_APPLY_INPUT, (row.age_group, row.resolution, row.at, row.linkedid)).rowcount
    if not applied:
        key = (row.linkedid, row.at, row.age_group, row.resolution)
        conn.execute(_KEEP_INPUT, key + key)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
