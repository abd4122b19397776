"""The database schema, as an ordered list of migrations.

Each migration is a function that runs once per database file, in its own transaction, and is
recorded in ``_sqlite_migrations`` (sqlite-utils). A released migration is never edited: a
change to the schema is a new ``mNNN_...`` function appended below (m002 calls and queue legs,
m003 the MQTT outbox, ...). The DDL is written out in full rather than generated, so a database
created today and one created after a library upgrade get exactly the same tables.

Times are TEXT in the ``utc_iso`` format (sortable); tables are STRICT so a wrong type is an
error at write time instead of a surprise in a report.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

MIGRATION_SET = "asterisk-bridge"

migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_menu(db: Database) -> None:
    """Menu sessions (one row per FastAGI session) and their steps (every prompt, key, retry)."""
    db.execute(
        """
        CREATE TABLE menu_sessions (
            session_id    TEXT PRIMARY KEY NOT NULL,
            node          TEXT NOT NULL,
            line          TEXT NOT NULL,
            caller_number TEXT,
            caller_name   TEXT,
            channel       TEXT,
            uniqueid      TEXT,
            linkedid      TEXT,
            agi_script    TEXT,
            started_at    TEXT NOT NULL,
            ended_at      TEXT NOT NULL,
            duration_ms   INTEGER NOT NULL CHECK (duration_ms >= 0),
            result        TEXT NOT NULL,
            topic         TEXT,
            queue         TEXT,
            age_group     TEXT NOT NULL,
            ended_in      TEXT,
            hung_up       INTEGER NOT NULL CHECK (hung_up IN (0, 1)),
            error         TEXT,
            step_count    INTEGER NOT NULL CHECK (step_count >= 0)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE menu_steps (
            session_id TEXT NOT NULL REFERENCES menu_sessions (session_id) ON DELETE CASCADE,
            seq        INTEGER NOT NULL,
            at         TEXT NOT NULL,
            kind       TEXT NOT NULL,
            menu       TEXT NOT NULL,
            prompt     TEXT,
            key        TEXT,
            PRIMARY KEY (session_id, seq)
        ) STRICT
        """
    )
    db.execute("CREATE INDEX idx_menu_sessions_line_started ON menu_sessions (line, started_at)")
    db.execute("CREATE INDEX idx_menu_sessions_started ON menu_sessions (started_at)")
    db.execute("CREATE INDEX idx_menu_sessions_uniqueid ON menu_sessions (uniqueid)")
    db.execute("CREATE INDEX idx_menu_sessions_linkedid ON menu_sessions (linkedid)")


def apply_migrations(db: Database) -> list[str]:
    """Bring ``db`` up to date; returns the names of the migrations this call applied."""
    pending = [migration.name for migration in migrations.pending(db)]
    migrations.apply(db)
    return pending


def applied_migrations(db: Database) -> list[str]:
    """Names of the migrations already recorded in ``db``, oldest first (read-only)."""
    return [migration.name for migration in migrations.applied(db)]
