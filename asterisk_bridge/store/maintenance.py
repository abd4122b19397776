"""Database care: migrate, check, online backup, and privacy retention (all the SQL they need).

- ``backup`` copies the database with SQLite's online backup API from its own read-only
  connection: the copy is one consistent snapshot (WAL readers see a fixed state), the service's
  writer keeps writing meanwhile, and the copy is written to a temporary file, checked with
  ``PRAGMA integrity_check`` and only then renamed to the destination.
- ``apply_retention`` replaces caller numbers older than ``hash_after_days`` by
  ``HASH_PREFIX + hash_number(number, salt)`` (the prefix marks a hashed value, so a run never
  hashes a hash and repeat-caller figures still group equal numbers) and deletes the menu steps
  of sessions older than ``drop_steps_after_days``. It walks the ``started_at`` index in chunks
  (keyset pagination) and commits each chunk, so the writer is never blocked for long and the
  cost is linear in the old rows. Each run is recorded in ``retention_runs``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ..privacy import hash_number
from ..utc import utc_iso
from . import rollups
from .queries import no_database, period_clause
from .schema import apply_migrations, migrations

#: Marks a caller number that retention replaced by its salted hash.
HASH_PREFIX = "h:"
_CHUNK = 2000
_HASH_FUNCTION = "asterisk_bridge_hash"


@dataclass
class CheckResult:
    integrity: list[str] = field(default_factory=list)  # integrity_check lines other than "ok"
    foreign_keys: list[str] = field(default_factory=list)  # one line per violation
    pending: list[str] = field(default_factory=list)  # migrations not applied yet

    @property
    def ok(self) -> bool:
        return not (self.integrity or self.foreign_keys or self.pending)


@dataclass
class RetentionResult:
    ran_at: str
    hash_before: str | None  # caller numbers of rows started before this were hashed
    drop_before: str | None  # menu steps of sessions started before this were dropped
    sessions_hashed: int = 0
    calls_hashed: int = 0
    steps_dropped: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.sessions_hashed or self.calls_hashed or self.steps_dropped)

    def describe(self) -> str:
        parts = []
        if self.hash_before is not None:
            parts.append(f"caller numbers hashed before {self.hash_before}: {self.sessions_hashed} menu "
                         f"session(s), {self.calls_hashed} call(s)")
        if self.drop_before is not None:
            parts.append(f"menu steps dropped before {self.drop_before}: {self.steps_dropped}")
        return "; ".join(parts) or "nothing configured"


def _existing(path: str | PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise no_database(path)
    return path


def _open(path: str | PathLike[str], *, read_only: bool = False, timeout: float = 30.0) -> sqlite3.Connection:
    path = _existing(path)
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    conn = sqlite3.connect(str(path), timeout=timeout)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def fold_wal(path: str | PathLike[str], *, within: float = 2.0) -> bool:
    """Fold the WAL into the database file and remove ``-wal``/``-shm``, as the last connection to
    close does; True once they are gone (tried for ``within`` seconds).

    For a process that ends with the database (the demo): a read-only reader that was still open
    when the writer closed keeps the WAL, and it cannot fold it when it closes in turn, so the
    files stayed beside the database. A read-write connection opened after it, and closed last,
    does it."""
    wal, deadline = Path(f"{path}-wal"), time.monotonic() + within
    while True:
        conn = _open(path, timeout=within)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        if not wal.exists():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)  # a reader is still open: it closes within milliseconds


# -- migrate / check -----------------------------------------------------------------------------


def migrate(path: str | PathLike[str]) -> list[str]:
    """Apply pending migrations to an existing or new database file; returns what was applied."""
    conn = sqlite3.connect(str(path), timeout=30.0)
    try:
        db = Database(conn)
        db.enable_wal()
        return apply_migrations(db)
    finally:
        conn.close()


def build_rollups(path: str | PathLike[str], settings: rollups.RollupSettings, *,
                  started: Callable[[str], None] | None = None,
                  progress: Callable[[rollups.Progress], None] | None = None,
                  signature: bool = True) -> rollups.Progress | None:
    """Build the rollups of an existing database for ``settings`` when they do not serve them
    (``started`` is told why first); None when there was nothing to do. Safe while the service
    writes: each chunk is its own short transaction. ``signature``: also check the zone's tzdata
    (about 0.2 s; the report checks the days it reads anyway)."""
    conn = _open(path, read_only=True)  # the common case, nothing to do, writes nothing
    try:
        reason = rollups.why_build(rollups.read_state(conn), settings, signature=signature)
    finally:
        conn.close()
    if reason is None:
        return None
    if started is not None:
        started(reason)
    conn = _open(path)
    try:
        return rollups.build(conn, settings, progress=progress, signature=signature)
    finally:
        conn.close()


def check(path: str | PathLike[str]) -> CheckResult:
    """``PRAGMA integrity_check``, ``PRAGMA foreign_key_check`` and pending migrations (read-only)."""
    conn = _open(path, read_only=True)
    try:
        result = CheckResult()
        result.integrity = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        result.foreign_keys = [
            f"{table} rowid {rowid}: no row in {parent}"
            for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
        ]
        result.pending = [m.name for m in migrations.pending(Database(conn))]
        return result
    finally:
        conn.close()


# -- backup --------------------------------------------------------------------------------------


def backup(path: str | PathLike[str], dest: str | PathLike[str], *, overwrite: bool = False) -> Path:
    """A consistent copy of ``path`` at ``dest`` while the service may be writing; returns ``dest``.

    Raises FileExistsError (unless ``overwrite``) and RuntimeError when the copy does not check ok.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} exists (use --force to replace it)")
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    source = _open(path, read_only=True)
    try:
        target = sqlite3.connect(str(tmp))
        try:
            source.backup(target)  # all pages in one step: one read snapshot, never a torn copy
            target.execute("PRAGMA journal_mode = DELETE")  # a standalone file, no -wal beside it
            problems = [r[0] for r in target.execute("PRAGMA integrity_check") if r[0] != "ok"]
        finally:
            target.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    if problems:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"the backup of {path} does not pass integrity_check: {'; '.join(problems[:5])}")
    os.replace(tmp, dest)
    return dest


# -- retention -----------------------------------------------------------------------------------


def _chunks(conn: sqlite3.Connection, table: str, before: str):
    """Rowids of ``table`` rows started before ``before``, oldest first, ``_CHUNK`` at a time."""
    after: tuple[str, int] = ("", -1)
    while True:
        rows = conn.execute(
            f"SELECT started_at, rowid FROM {table} WHERE started_at < ? AND (started_at, rowid) > (?, ?) "
            f"ORDER BY started_at, rowid LIMIT {_CHUNK}", (before, *after)).fetchall()
        if not rows:
            return
        yield [r[1] for r in rows]
        after = tuple(rows[-1])


def _hash_numbers(db: Database, table: str, before: str) -> int:
    """Hash the caller numbers of old rows; their caller names go too (a trunk without names puts
    the number there, and a name is personal data no figure needs). Returns numbers hashed."""
    conn = db.conn
    changed = 0
    for rowids in _chunks(conn, table, before):
        rows = f"rowid IN ({', '.join('?' * len(rowids))})"
        with db.atomic():
            changed += conn.execute(
                f"UPDATE {table} SET caller_number = {_HASH_FUNCTION}(caller_number) "
                f"WHERE {rows} AND caller_number IS NOT NULL "
                "AND caller_number != '' AND substr(caller_number, 1, 2) != ?",
                (*rowids, HASH_PREFIX)).rowcount
            conn.execute(f"UPDATE {table} SET caller_name = NULL WHERE {rows} AND caller_name IS NOT NULL", rowids)
    return changed


def _drop_steps(db: Database, before: str) -> int:
    conn = db.conn
    dropped = 0
    for rowids in _chunks(conn, "menu_sessions", before):
        with db.atomic():
            dropped += conn.execute(
                "DELETE FROM menu_steps WHERE session_id IN (SELECT session_id FROM menu_sessions "
                f"WHERE rowid IN ({', '.join('?' * len(rowids))}))", rowids).rowcount
    return dropped


def apply_retention(
    db: Database,
    *,
    now: float,
    hash_after_days: int | None,
    drop_steps_after_days: int | None,
    salt: str | None,
) -> RetentionResult:
    """Hash old caller numbers and drop old menu steps on ``db``; records the run in ``retention_runs``."""
    if hash_after_days is not None and not salt:
        raise ValueError("retention: hashing caller numbers needs privacy.salt")
    result = RetentionResult(
        ran_at=utc_iso(float(now)),
        hash_before=utc_iso(now - hash_after_days * 86400.0) if hash_after_days is not None else None,
        drop_before=utc_iso(now - drop_steps_after_days * 86400.0) if drop_steps_after_days is not None else None,
    )
    if result.hash_before is not None:
        assert salt is not None
        db.conn.create_function(
            _HASH_FUNCTION, 1, lambda n: HASH_PREFIX + hash_number(n, salt) if n else n, deterministic=True)
        result.sessions_hashed = _hash_numbers(db, "menu_sessions", result.hash_before)
        if db["calls"].exists():
            result.calls_hashed = _hash_numbers(db, "calls", result.hash_before)
    if result.drop_before is not None:
        result.steps_dropped = _drop_steps(db, result.drop_before)
    if result.hash_before is not None or result.drop_before is not None:
        with db.atomic():
            db.execute(
                "INSERT INTO retention_runs (ran_at, hash_before, drop_before, sessions_hashed, calls_hashed, "
                "steps_dropped) VALUES (?, ?, ?, ?, ?, ?)",
                [result.ran_at, result.hash_before, result.drop_before, result.sessions_hashed,
                 result.calls_hashed, result.steps_dropped])
    return result


def apply_retention_to_file(path: str | PathLike[str], *, now: float | None = None, **settings: Any) -> RetentionResult:
    """``apply_retention`` on its own connection (``asterisk-bridge db retention``; safe while the service writes)."""
    conn = _open(path)
    try:
        db = Database(conn)
        apply_migrations(db)
        return apply_retention(db, now=time.time() if now is None else now, **settings)
    finally:
        conn.close()


def retention_removed(db: Database, start_utc: str, end_utc: str) -> dict[str, int] | None:
    """Totals of the retention runs in ``[start_utc, end_utc)``, or None when none ran."""
    if not db["retention_runs"].exists():
        return None
    row = db.execute(
        "SELECT COUNT(*), TOTAL(sessions_hashed), TOTAL(calls_hashed), TOTAL(steps_dropped) "
        "FROM retention_runs WHERE ran_at >= ? AND ran_at < ?", [start_utc, end_utc]).fetchone()
    if not row[0]:
        return None
    return {"runs": row[0], "sessions_hashed": int(row[1]), "calls_hashed": int(row[2]),
            "steps_dropped": int(row[3])}


def last_retention(db: Database) -> dict[str, Any] | None:
    if not db["retention_runs"].exists():
        return None
    rows = list(db.query("SELECT * FROM retention_runs ORDER BY id DESC LIMIT 1"))
    return rows[0] if rows else None


def status_figures(path: str | PathLike[str], start_utc: str, end_utc: str) -> dict[str, Any]:
    """For ``status``: today's menu sessions and call records, the last summary sent, the last
    retention run (a read-only connection; a few index lookups)."""
    conn = _open(path, read_only=True, timeout=2.0)
    try:
        db = Database(conn)
        out: dict[str, Any] = {"menu_sessions": 0, "calls": 0, "summary": None, "retention": None}
        today, params = period_clause(start_utc, end_utc, bounded=True)
        out["menu_sessions"] = conn.execute(f"SELECT COUNT(*) FROM menu_sessions WHERE {today}", params).fetchone()[0]
        if db["calls"].exists():
            out["calls"] = conn.execute(f"SELECT COUNT(*) FROM calls WHERE {today}", params).fetchone()[0]
        if db["summaries"].exists():
            rows = list(db.query("SELECT day, sent_at FROM summaries ORDER BY sent_at DESC LIMIT 1"))
            out["summary"] = rows[0] if rows else None
        out["retention"] = last_retention(db)
        return out
    finally:
        conn.close()
