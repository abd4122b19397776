"""The MQTT outbox: events waiting for the broker, in the database next to the records they describe.

Why a table and not a queue in memory: an event must survive a broker outage *and* a restart of
the bridge, and it must exist if and only if its record exists. So the rows are inserted by the
writer thread inside the transaction that writes the record (:func:`insert_events`), and the
publisher deletes them only after the broker acknowledged them (:func:`ack`). Row ids grow with
every insert (AUTOINCREMENT, never reused), so ``ORDER BY id`` is the order the events happened.

The table is bounded (``mqtt.outbox_max``): a broker that stays away for weeks must not fill the
disk. Past the bound the *oldest* events are deleted, counted in ``outbox_stats`` and logged.

Every function here runs in the store's writer thread on its connection.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..mqtt.message import OutboxMessage
from ..utc import utc_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxRow:
    """A stored message with its row id (what :func:`ack` takes back)."""

    id: int
    topic: str
    payload: str
    qos: int
    retain: bool
    event_id: str
    created_at: str


_INSERT = (
    "INSERT INTO outbox (topic, payload, qos, retain, created_at, event_id) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (event_id) DO NOTHING"
)


def check_events(events: Iterable[OutboxMessage] | None) -> tuple[OutboxMessage, ...]:
    """Validate at the caller (a bad event must not block the writer queue later)."""
    if events is None:
        return ()
    if isinstance(events, (str, bytes, OutboxMessage)):
        raise TypeError(f"events: expected a list of OutboxMessage, got {type(events).__name__}")
    checked = tuple(events)
    for index, event in enumerate(checked):
        if not isinstance(event, OutboxMessage):
            raise TypeError(f"events[{index}]: expected an OutboxMessage, got {type(event).__name__}")
    return checked


def insert_events(conn: sqlite3.Connection, events: Sequence[OutboxMessage]) -> None:
    """Queue ``events`` inside the caller's open transaction (call :func:`enforce_bound` after).

    An event id already queued is skipped (the same record written twice queues its events once).
    """
    if not events:
        return
    now = utc_iso(time.time())
    conn.executemany(
        _INSERT, [(e.topic, e.payload, e.qos, int(e.retain), now, e.event_id) for e in events]
    )


def enforce_bound(conn: sqlite3.Connection, outbox_max: int) -> int:
    """Delete the oldest events past ``outbox_max`` (in the caller's transaction); returns how many."""
    (depth,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    excess = depth - outbox_max
    if excess <= 0:
        return 0
    dropped = conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?) "
        "RETURNING id, topic, event_id",
        (excess,),
    ).fetchall()
    conn.execute(
        "INSERT INTO outbox_stats (name, value) VALUES ('dropped', ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
        (len(dropped),),
    )
    first, last = min(dropped), max(dropped)
    log.warning(
        "MQTT outbox full (%d events, mqtt.outbox_max): dropped the %d oldest, %s (%s) .. %s (%s)",
        outbox_max, len(dropped), first[1], first[2], last[1], last[2],
    )
    return len(dropped)


def batch(conn: sqlite3.Connection, limit: int) -> list[OutboxRow]:
    """The oldest ``limit`` waiting messages, oldest first."""
    rows = conn.execute(
        "SELECT id, topic, payload, qos, retain, event_id, created_at FROM outbox ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    return [OutboxRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]


def ack(conn: sqlite3.Connection, ids: Sequence[int]) -> int:
    """Forget messages the broker acknowledged (inside the caller's transaction); returns the count."""
    if not ids:
        return 0
    cursor = conn.executemany("DELETE FROM outbox WHERE id = ?", [(int(i),) for i in ids])
    return cursor.rowcount


def depth(conn: sqlite3.Connection) -> int:
    (count,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    return count


def dropped(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM outbox_stats WHERE name = 'dropped'").fetchone()
    return row[0] if row else 0
