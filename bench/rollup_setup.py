"""What the write benchmarks (store_bench.py, ami_bench.py) share: a fresh database with its
rollups built and kept (as ``run`` keeps them), or with the rollup triggers dropped (the writer as
it was before them), so the rollups' cost per record is measured in the same run."""

from __future__ import annotations

import sqlite3

from asterisk_bridge.store import Store, rollups

SETTINGS = rollups.RollupSettings("Asia/Irkutsk", 20, 5.0)


async def keep_rollups(store: Store) -> None:
    """Build the (empty) rollups of an open store, so its triggers count every record."""
    await store.maintain(lambda db: rollups.build(db.conn, SETTINGS))


def drop_rollups(conn: sqlite3.Connection) -> None:
    """Drop the rollup triggers: rows are written as before the rollups."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'rollup_%'")]
    for name in names:
        conn.execute(f"DROP TRIGGER {name}")
    conn.commit()


async def without_rollups(store: Store) -> None:
    await store.maintain(lambda db: drop_rollups(db.conn))
