"""The SQL the writer runs: menu sessions, calls (with their queue legs and ring attempts), operator
inputs and operators' sessions and pauses, in one transaction per batch.

Every function here runs in the store's writer thread on its connection (``connection.py``); the
rows come ready from ``rows.py``.

Menu sessions: a new session (the usual case) is a plain insert; only a session already stored
(a re-save or a retry after an uncertain failure) takes the upsert path that also replaces its
steps. The hot path inserts many rows per statement (multi-row VALUES, see ``_insert_rows``):
SQLite runs a whole INSERT in one step, and the sqlite3 module releases and retakes the GIL around
each step, so with one executemany row per step the writer thread kept taking the GIL from the
event loop. (An earlier INSERT ... SELECT FROM json_each did the same in one step but parsed every
row's JSON once per column: about 50 us more writer CPU per menu session.)

Calls: upsert by linkedid; legs and ring attempts upserted by their keys (only when they changed)
and those the record no longer has deleted. A known age group / resolution is never
replaced by "unknown" / nothing: an operator's input may have reached the row before this write.

Operators' sessions and pauses: upsert by (interface, queue, start): a session is written when it
begins and again when it ends, into the same row; the operator's time per day is kept with it
(``operator_days.py``). Everything else the rollups keep, triggers keep (``rollup_ddl.py``).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass

from ..menu.record import MenuRecord
from . import operator_days, outbox
from .operator_rows import OPERATOR_TABLES, OperatorRow
from ..mqtt.message import OutboxMessage
from .rows import (
    ATTEMPT_COLUMNS,
    CALL_COLUMNS,
    LEG_COLUMNS,
    SESSION_COLUMNS,
    STEP_COLUMNS,
    CallRows,
    OperatorInputRow,
    session_row,
    session_values,
    step_rows,
)


@dataclass(frozen=True)
class OutboxOnly:
    """MQTT events of a call update whose rows went into an earlier queued update of the same call
    (``writer.py``: a newer state replaces the one still queued); the events keep their own place
    in the queue, so the outbox order is the order they were handed in."""

    linkedid: str


#: What the writer's queue holds.
Item = MenuRecord | CallRows | OperatorInputRow | OperatorRow | OutboxOnly

_UPSERT_SESSION = (
    f"INSERT INTO menu_sessions ({', '.join(SESSION_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in SESSION_COLUMNS)}) "
    "ON CONFLICT (session_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SESSION_COLUMNS if c != "session_id")
)
_DELETE_STEPS = "DELETE FROM menu_steps WHERE session_id = ?"
_INSERT_STEP = f"INSERT INTO menu_steps ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' * len(STEP_COLUMNS))})"

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


def _upsert_changed(table: str, columns: tuple[str, ...], key: int, named: bool = False) -> str:
    """INSERT ... ON CONFLICT (the first ``key`` columns) DO UPDATE the others, only when one of
    them differs: a row written again unchanged is left alone (no rollup trigger runs for it)."""
    values = ", ".join(f":{c}" for c in columns) if named else ", ".join("?" * len(columns))
    rest = columns[key:]
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in rest)
            + " WHERE " + " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in rest))


_UPSERT_LEG = _upsert_changed("queue_legs", LEG_COLUMNS, 2, named=True)
_DROP_LEGS_FROM = "DELETE FROM queue_legs WHERE linkedid = ? AND seq >= ?"
_UPSERT_ATTEMPT = _upsert_changed("ring_attempts", ATTEMPT_COLUMNS, 3)
_STORED_ATTEMPTS = "SELECT leg, seq FROM ring_attempts WHERE linkedid = ?"
_DROP_ATTEMPT = "DELETE FROM ring_attempts WHERE linkedid = ? AND leg = ? AND seq = ?"
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


def _upsert(table: str, columns: tuple[str, ...], key: int) -> str:
    """INSERT ... ON CONFLICT (the first ``key`` columns) DO UPDATE every other column."""
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in columns[key:]))


_UPSERT_OPERATOR = {table: _upsert(table, columns, 3) for table, columns in OPERATOR_TABLES.items()}

# Errors that belong to one record (a constraint, a value SQLite cannot bind) rather than to the
# database: retrying them would block every later record, so the record is set aside and logged.
RECORD_ERRORS = (
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError, sqlite3.ProgrammingError,
    TypeError, ValueError, OverflowError,
)


def write_batch(conn: sqlite3.Connection, items: list[Item], events: list[tuple[OutboxMessage, ...]],
                outbox_max: int) -> None:
    """Write ``items`` and their outbox ``events`` (one tuple per item) inside the caller's open
    transaction, in order; consecutive menu records are written together."""
    menus: list[MenuRecord] = []
    for item in items:
        if isinstance(item, MenuRecord):
            menus.append(item)
            continue
        if menus:
            _write_menus(conn, menus)
            menus = []
        if isinstance(item, CallRows):
            _write_call(conn, item)
        elif isinstance(item, OperatorRow):
            operator_days.write(conn, item, _UPSERT_OPERATOR[item.table])
        elif isinstance(item, OperatorInputRow):
            _write_operator_input(conn, item)
    if menus:
        _write_menus(conn, menus)
    for item_events in events:
        outbox.insert_events(conn, item_events)
    if any(events):
        outbox.enforce_bound(conn, outbox_max)


def _write_menus(conn: sqlite3.Connection, records: list[MenuRecord]) -> None:
    """Menu records in order: new sessions as plain inserts, stored ones upserted, steps replaced."""
    inserted = _insert_rows(conn, "menu_sessions", SESSION_COLUMNS, [session_values(r) for r in records],
                            " ON CONFLICT (session_id) DO NOTHING")
    if inserted == len(records):  # all new: no old steps to delete
        _insert_rows(conn, "menu_steps", STEP_COLUMNS, [row for r in records for row in step_rows(r)])
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
    """The call, its legs and its rings as the record has them now: rows that did not change are
    not touched, so a call written at every event costs the rollups only what changed."""
    conn.execute(_UPSERT_CALL, rows.call)
    conn.execute(_DROP_LEGS_FROM, (rows.linkedid, len(rows.legs)))
    conn.executemany(_UPSERT_LEG, rows.legs)
    wanted = {(a[1], a[2]) for a in rows.attempts}
    stale = [(rows.linkedid, leg, seq) for leg, seq in conn.execute(_STORED_ATTEMPTS, (rows.linkedid,))
             if (leg, seq) not in wanted]
    if stale:
        conn.executemany(_DROP_ATTEMPT, stale)
    conn.executemany(_UPSERT_ATTEMPT, rows.attempts)
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


def is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def label(record: Item) -> str:
    """How logs and errors name a queued record."""
    if isinstance(record, CallRows):
        return f"call record {record.linkedid}"
    if isinstance(record, OperatorInputRow):
        return f"operator input for call {record.linkedid}"
    if isinstance(record, OperatorRow):
        return record.label
    if isinstance(record, OutboxOnly):
        return f"MQTT events of call {record.linkedid}"
    return f"menu record {record.session_id}"


def for_log(record: Item) -> str:
    """The whole record as JSON, for the log line of a record SQLite refused."""
    return json.dumps(asdict(record), ensure_ascii=False,
                      default=lambda o: asdict(o) if is_dataclass(o) and not isinstance(o, type) else repr(o))
