"""The store's API: what may be handed in (menu records, call records, operator inputs, their MQTT
events) and the outbox the publisher reads; the only package with SQL is ``store/``.

Every record is checked and turned into rows here, on the event loop, before it is queued
(``rows.py``): a record that could never be written raises at the caller instead of blocking the
writer's queue, and later tracking cannot change what gets written. The queue and the retries are
``writer.py``, the thread ``connection.py``; the SQL they run is ``writes.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Concatenate, ParamSpec, TypeVar

from sqlite_utils import Database

from ..calls.member_model import MemberPause, MemberSession
from ..calls.model import CallRecord
from ..menu.record import MenuRecord
from . import outbox as _outbox
from .operator_rows import operator_pause_row, operator_session_row
from ..mqtt.message import OutboxMessage
from .outbox import OutboxRow, check_events
from .rows import call_rows, operator_input_row
from .writer import Writer

P = ParamSpec("P")
T = TypeVar("T")


def _menu_record(record: object) -> MenuRecord:
    if not isinstance(record, MenuRecord):
        raise TypeError(f"expected a MenuRecord, got {type(record).__name__}")
    return record


class Store(Writer):
    """The call-record database: ``async with Store(path) as store: store.submit_menu(record)``.

    Built like :class:`~asterisk_bridge.store.writer.Writer` (``path``, the writer's timing,
    ``outbox_max``, ``node``). All methods must be called from the event loop thread that opened
    the store.
    """

    # -- menu records ---------------------------------------------------------------------------

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
        most ``wait`` seconds otherwise, and the record stays queued either way. Under load many
        sessions still share one commit.
        """
        return await self._keep(_menu_record(record), check_events(events), wait)

    # -- call records and operator input --------------------------------------------------------

    def submit_call(
        self, record: CallRecord, *, node: str | None = None, events: Iterable[OutboxMessage] | None = None
    ) -> None:
        """Queue a ``CallRecord`` (upsert by linkedid, legs replaced) and return at once.

        Same queue, order and retry rules as ``submit_menu``; a newer state of a call replaces one
        still queued (``Writer._enqueue``). The record is converted now, so a
        bad field raises ``RecordError`` here and later tracking cannot change what gets written.
        Kept operator inputs for the call are applied in the same transaction.
        """
        rows = call_rows(record, node if node is not None else self.node)
        self._enqueue(rows, None, check_events(events), latest=rows.linkedid)

    async def save_call(
        self, record: CallRecord, *, node: str | None = None, timeout: float | None = None,
        events: Iterable[OutboxMessage] | None = None,
    ) -> None:
        """Write a call record and wait until it is committed (see ``save_menu``)."""
        rows = call_rows(record, node if node is not None else self.node)
        await self._save(rows, check_events(events), timeout, latest=rows.linkedid)

    def submit_operator_input(
        self, linkedid: str, at: float, age_group: str | None = None, resolution: str | None = None
    ) -> None:
        """An operator's age group / resolution for a call; non-blocking.

        Applied to the stored call when there is one; otherwise kept in ``operator_inputs`` and
        applied when the call is stored (the input may come before, or long after, the call).
        """
        self._enqueue(operator_input_row(linkedid, at, age_group, resolution), None)

    # -- operators ------------------------------------------------------------------------------

    def submit_operator_session(self, session: MemberSession, *, node: str | None = None) -> None:
        """Queue an operator's session in one queue (upsert by interface, queue and login time);
        same queue, order and retry rules as ``submit_call``."""
        self._enqueue(operator_session_row(session, node if node is not None else self.node), None)

    def submit_operator_pause(self, pause: MemberPause, *, node: str | None = None) -> None:
        """Queue an operator's pause in one queue (upsert by interface, queue and start)."""
        self._enqueue(operator_pause_row(pause, node if node is not None else self.node), None)

    # -- MQTT outbox (read and acknowledged by the publisher) -----------------------------------

    async def outbox_batch(self, limit: int = 100) -> list[OutboxRow]:
        """The oldest ``limit`` events waiting for the broker, oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"outbox_batch: limit must be a whole number >= 1, got {limit!r}")
        return await self._outbox(lambda conn: _outbox.batch(conn, limit))

    async def outbox_ack(self, ids: Sequence[int]) -> int:
        """Delete events the broker acknowledged; returns how many rows went (already gone: skipped)."""
        acked = list(ids)

        def ack(db: Database) -> int:
            with db.atomic():
                return _outbox.ack(db.conn, acked)

        return await self._on_writer_thread(ack, closed="the MQTT outbox cannot be read")

    async def outbox_depth(self) -> int:
        """Events waiting for the broker."""
        return await self._outbox(_outbox.depth)

    async def outbox_dropped(self) -> int:
        """Events dropped so far because the outbox reached ``outbox_max`` (kept across restarts)."""
        return await self._outbox(_outbox.dropped)

    async def _outbox(self, function: Callable[[sqlite3.Connection], T]) -> T:
        return await self._on_writer_thread(lambda db: function(db.conn), closed="the MQTT outbox cannot be read")

    # -- maintenance ----------------------------------------------------------------------------

    async def maintain(
        self, function: Callable[Concatenate[Database, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``function(database, ...)`` on the writer's connection between two batches (retention):
        no second writer competes for the lock, and queued records simply wait a moment."""
        return await self._on_writer_thread(lambda db: function(db, *args, **kwargs), maintenance=True)
