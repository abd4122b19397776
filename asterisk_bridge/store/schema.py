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

from . import rollup_ddl

MIGRATION_SET = "asterisk-bridge"

migrations = Migrations(MIGRATION_SET)

#: How many last characters of a caller number the caller-tail indexes hold (m009): what a masked
#: number shows of its end (``privacy.mask_number``), and enough to make a lookup by it selective.
CALLER_TAIL = 4


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


@migrations()
def m002_calls(db: Database) -> None:
    """Call records from AMI (one row per Linkedid), their queue legs, and operator inputs
    (age group / resolution) that arrived before their call was stored."""
    db.execute(
        """
        CREATE TABLE calls (
            linkedid           TEXT PRIMARY KEY NOT NULL,
            uniqueid           TEXT,
            node               TEXT,
            channel            TEXT,
            line               TEXT,
            caller_number      TEXT,
            caller_name        TEXT,
            started_at         TEXT,
            ended_at           TEXT,
            ivr_result         TEXT,
            topic              TEXT,
            ivr_queue          TEXT,
            age_group          TEXT NOT NULL DEFAULT 'unknown',
            resolution         TEXT,
            agi_status         TEXT,
            queue              TEXT,
            queued_seconds     REAL,
            answered_at        TEXT,
            operator           TEXT,
            operator_interface TEXT,
            talk_seconds       REAL,
            hangup_by          TEXT,
            hangup_cause       INTEGER,
            hangup_cause_text  TEXT,
            outcome            TEXT,
            complete           INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
            source             TEXT,
            updated_at         TEXT
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE queue_legs (
            linkedid           TEXT NOT NULL REFERENCES calls (linkedid) ON DELETE CASCADE,
            seq                INTEGER NOT NULL,
            queue              TEXT,
            joined_at          TEXT,
            left_at            TEXT,
            position           INTEGER,
            wait_seconds       REAL,
            answered_by        TEXT,
            answered_interface TEXT,
            answered_at        TEXT,
            talk_seconds       REAL,
            completed_by       TEXT,
            abandoned          INTEGER,
            left_reason        TEXT,
            ring_attempts      INTEGER,
            PRIMARY KEY (linkedid, seq)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE operator_inputs (
            linkedid   TEXT NOT NULL,
            at         TEXT,
            age_group  TEXT,
            resolution TEXT
        ) STRICT
        """
    )
    db.execute("CREATE INDEX idx_calls_started ON calls (started_at)")
    db.execute("CREATE INDEX idx_calls_line_started ON calls (line, started_at)")
    db.execute("CREATE INDEX idx_calls_uniqueid ON calls (uniqueid)")
    db.execute("CREATE INDEX idx_operator_inputs_linkedid ON operator_inputs (linkedid)")


@migrations()
def m003_outbox(db: Database) -> None:
    """MQTT events waiting for the broker (written with their record, deleted once acknowledged)
    and the count of events dropped because the outbox reached ``mqtt.outbox_max``."""
    db.execute(
        """
        CREATE TABLE outbox (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            topic      TEXT NOT NULL,
            payload    TEXT NOT NULL,
            qos        INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
            retain     INTEGER NOT NULL CHECK (retain IN (0, 1)),
            created_at TEXT NOT NULL,
            event_id   TEXT NOT NULL UNIQUE
        ) STRICT
        """
    )
    db.execute("CREATE TABLE outbox_stats (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) STRICT")


@migrations()
def m004_summaries(db: Database) -> None:
    """The daily summary's send log (a day is mailed once unless forced) and a cache of settled
    months' outcome counts per time zone, so "since the first record" costs no full-table scan."""
    db.execute(
        """
        CREATE TABLE summaries (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            day        TEXT NOT NULL,
            sent_at    TEXT NOT NULL,
            recipients TEXT NOT NULL,
            subject    TEXT NOT NULL,
            forced     INTEGER NOT NULL CHECK (forced IN (0, 1))
        ) STRICT
        """
    )
    db.execute("CREATE INDEX idx_summaries_day ON summaries (day)")
    db.execute(
        """
        CREATE TABLE report_months (
            timezone    TEXT NOT NULL,
            month       TEXT NOT NULL,
            line        TEXT NOT NULL,
            bucket      TEXT NOT NULL,
            calls       INTEGER NOT NULL,
            computed_at TEXT NOT NULL,
            PRIMARY KEY (timezone, month, line, bucket)
        ) STRICT
        """
    )


@migrations()
def m005_retention(db: Database) -> None:
    """What each retention run changed (caller numbers hashed, menu steps dropped), so an admin
    and the daily summary can say what was removed and when."""
    db.execute(
        """
        CREATE TABLE retention_runs (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            ran_at          TEXT NOT NULL,
            hash_before     TEXT,
            drop_before     TEXT,
            sessions_hashed INTEGER NOT NULL CHECK (sessions_hashed >= 0),
            calls_hashed    INTEGER NOT NULL CHECK (calls_hashed >= 0),
            steps_dropped   INTEGER NOT NULL CHECK (steps_dropped >= 0)
        ) STRICT
        """
    )


@migrations()
def m006_summary_copies(db: Database) -> None:
    """The summary as mailed (HTML and text) with each send, so the web console shows exactly what
    managers received; sends recorded before this migration have none (NULL)."""
    db.execute("ALTER TABLE summaries ADD COLUMN html TEXT")
    db.execute("ALTER TABLE summaries ADD COLUMN text TEXT")


@migrations()
def m007_operators(db: Database) -> None:
    """Operators: every ring of a queue member (written with its call, in the same transaction;
    ``queue_legs.ring_attempts`` keeps the count), each operator's sessions per queue (logged in
    to logged out) and pauses (start, end, reason, auto-pause). A session or pause is keyed by its
    start, so writing it again as it changes (or after a replay) updates the one row."""
    db.execute(
        """
        CREATE TABLE ring_attempts (
            linkedid     TEXT NOT NULL REFERENCES calls (linkedid) ON DELETE CASCADE,
            leg          INTEGER NOT NULL,
            seq          INTEGER NOT NULL,
            queue        TEXT,
            member       TEXT,
            interface    TEXT,
            called_at    TEXT,
            ring_seconds REAL,
            result       TEXT CHECK (result IN ('answered', 'noanswer')),
            PRIMARY KEY (linkedid, leg, seq)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE operator_sessions (
            interface     TEXT NOT NULL,
            queue         TEXT NOT NULL,
            logged_in_at  TEXT NOT NULL,
            member_name   TEXT NOT NULL,
            membership    TEXT NOT NULL,
            login_seen    INTEGER NOT NULL CHECK (login_seen IN (0, 1)),
            logged_out_at TEXT,
            logout_seen   INTEGER NOT NULL CHECK (logout_seen IN (0, 1)),
            node          TEXT,
            PRIMARY KEY (interface, queue, logged_in_at)
        ) STRICT
        """
    )
    db.execute(
        """
        CREATE TABLE operator_pauses (
            interface   TEXT NOT NULL,
            queue       TEXT NOT NULL,
            started_at  TEXT NOT NULL,
            member_name TEXT NOT NULL,
            reason      TEXT NOT NULL,
            auto        INTEGER NOT NULL CHECK (auto IN (0, 1)),
            start_seen  INTEGER NOT NULL CHECK (start_seen IN (0, 1)),
            ended_at    TEXT,
            end_seen    INTEGER NOT NULL CHECK (end_seen IN (0, 1)),
            node        TEXT,
            PRIMARY KEY (interface, queue, started_at)
        ) STRICT
        """
    )
    db.execute("CREATE INDEX idx_operator_sessions_in ON operator_sessions (logged_in_at)")
    db.execute("CREATE INDEX idx_operator_sessions_open ON operator_sessions (logged_out_at)")
    db.execute("CREATE INDEX idx_operator_pauses_started ON operator_pauses (started_at)")
    db.execute("CREATE INDEX idx_operator_pauses_open ON operator_pauses (ended_at)")


@migrations()
def m008_rollups(db: Database) -> None:
    """Rollups: every figure of the summary, ``stats`` and the web console kept per local day (and
    per local month for the headline counts), maintained by triggers in the transaction that
    changes a call, a queue leg, a ring or a menu session (``rollup_ddl.py``), plus each operator's
    time per day (``operator_days.py``). They start empty and unbuilt: the rows already stored are
    added by ``rollups.build`` in chunks (``db migrate`` and ``run`` do it, with progress), which
    needs the configured time zone. They replace the cache of settled months (``report_months``)."""
    for statement in rollup_ddl.TABLES.split(";"):
        if statement.strip():
            db.execute(statement)
    for trigger in rollup_ddl.triggers():
        db.execute(trigger)
    db.execute("DROP TABLE report_months")


@migrations()
def m009_caller_tail(db: Database) -> None:
    """The console's caller search (``store/call_search.py``): calls and menu sessions by the last
    four characters of the caller number, newest first. A masked number (``7916***4567``), a full
    number and a retention hash all name their last four, so a search over months reads the
    handful of calls that end the same way instead of every call of the period. An index on the
    whole number would not serve the masked form, the one people copy from reports."""
    db.execute("CREATE INDEX idx_calls_caller_tail ON calls (substr(caller_number, -4), started_at)")
    db.execute("CREATE INDEX idx_menu_sessions_caller_tail ON menu_sessions (substr(caller_number, -4), started_at)")


def apply_migrations(db: Database) -> list[str]:
    """Bring ``db`` up to date; returns the names of the migrations this call applied."""
    pending = [migration.name for migration in migrations.pending(db)]
    migrations.apply(db)
    return pending


def applied_migrations(db: Database) -> list[str]:
    """Names of the migrations already recorded in ``db``, oldest first (read-only)."""
    return [migration.name for migration in migrations.applied(db)]
