"""Backfill: a database made by the schema before the rollups (migrations up to m007) is migrated
and its rollups built from its rows; a build killed mid-way (SIGKILL inside a chunk's transaction)
goes on at the next start and ends with the same rollups as a build never interrupted; ``run``
builds them on its writer thread and logs why and how far.

The rows are the random contact center of ``test_rollups.py`` (calls written as they progress,
menu sessions AMI never saw, operators' sessions and pauses), copied into the older schema.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlite_utils import Database

from test_cli import write_config
from test_rollups import ZONES, Scenario, apply, compare, config_text

from asterisk_bridge.cli import main
from asterisk_bridge.config import load_config
from asterisk_bridge.report.build import build_figures
from asterisk_bridge.service import Service
from asterisk_bridge.store import maintenance, rollups
from asterisk_bridge.store.schema import applied_migrations, apply_migrations, migrations

TZ = "Europe/Berlin"  # the week around 2026-03-29's DST change
BEFORE_ROLLUPS = "m008_rollups"
ROLLUP_TABLES = ("rollup_calls", "rollup_hours", "rollup_months", "rollup_lines", "rollup_queues", "rollup_operators",
                 "rollup_operator_days", "rollup_operator_queues", "rollup_operator_pauses", "rollup_calendar",
                 "rollup_zone")


def _rows_db(tmp_path: Path) -> tuple[Path, Scenario]:
    """The scenario's rows written through the store's SQL into a database of today's schema."""
    scenario = Scenario(random.Random("backfill"), TZ, ZONES[TZ])
    linked = scenario.calls(90)
    gaps = [f"gap.{n}" for n in range(10)]
    scenario.sessions([*scenario.rng.sample(linked, 60), *gaps, *gaps[:3], None, None])
    scenario.operators()
    path = tmp_path / "rows.db"
    conn = sqlite3.connect(path)
    apply_migrations(Database(conn))
    apply(conn, scenario.ordered())
    conn.close()
    return path, scenario


def _older_db(tmp_path: Path, rows: Path) -> Path:
    """A database made by the migrations before m008, holding ``rows``' rows."""
    path = tmp_path / "calls.db"
    conn = sqlite3.connect(path)
    migrations.apply(Database(conn), stop_before=BEFORE_ROLLUPS)
    assert BEFORE_ROLLUPS not in applied_migrations(Database(conn))
    conn.execute("ATTACH DATABASE ? AS src", [str(rows)])
    tables = [r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'")]
    copied = 0
    with conn:
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")]
            if not conn.execute("SELECT 1 FROM src.sqlite_master WHERE name = ?", [table]).fetchone():
                continue
            names = ", ".join(columns)
            copied += conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM src.{table}").rowcount
    conn.execute("DETACH DATABASE src")
    conn.close()
    assert copied > 200
    return path


def _rollups(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in ROLLUP_TABLES}
    finally:
        conn.close()


def _periods(scenario: Scenario) -> list:
    middle = ZONES[TZ]
    return [(middle, middle, None, True), (middle + timedelta(days=1), middle + timedelta(days=1), "122", True),
            (scenario.first, scenario.last, None, False), (middle.replace(day=1), scenario.last, None, False)]


def test_db_migrate_builds_the_rollups_of_a_database_from_before_them(tmp_path):
    rows, scenario = _rows_db(tmp_path)
    db = _older_db(tmp_path, rows)
    cfg_path = tmp_path / "asterisk-bridge.toml"
    cfg_path.write_text(config_text(db, TZ), encoding="utf-8")

    result = CliRunner().invoke(main, ["db", "migrate", "-c", str(cfg_path)])
    assert result.exit_code == 0, result.output
    assert "applied m008_rollups" in result.output
    assert f"rollups: building for {TZ} (service level 20 s, short abandon 5 s)" in result.output
    calls = sqlite3.connect(db).execute("SELECT count(*) FROM calls").fetchone()[0]
    assert f"rollups: built from {calls:,} of {calls:,} calls (100 %)" in result.output
    assert rollups.read_state(sqlite3.connect(db)).built

    compare(db, cfg_path, _periods(scenario), now=scenario.end + 86400)
    # the same figures as the rows of the database they were copied from
    cfg = load_config(cfg_path)
    for first, last, line, context in _periods(scenario):
        assert build_figures(db, cfg, first, last, line=line, context=context, now=scenario.end + 86400).to_json() \
            == build_figures(rows, cfg, first, last, line=line, context=context, now=scenario.end + 86400,
                             rows=True).to_json()

    again = CliRunner().invoke(main, ["db", "migrate", "-c", str(cfg_path)])
    assert again.exit_code == 0 and "rollups:" not in again.output, again.output


KILLED_BUILD = """
import os, signal, sqlite3, sys
from asterisk_bridge.store import rollups
conn = sqlite3.connect(sys.argv[1])
settings = rollups.RollupSettings(sys.argv[2], 20, 5.0)
rollups.reset(conn, settings)
for _ in range(3):
    assert not rollups.step(conn, chunk=7).done
# the fourth chunk dies inside its transaction, as a power cut or `kill -9` would leave it
conn.set_progress_handler(lambda: os.kill(os.getpid(), signal.SIGKILL), 200)
rollups.step(conn, chunk=7)
"""


def test_a_build_killed_mid_way_goes_on_at_the_next_start(tmp_path):
    rows, scenario = _rows_db(tmp_path)
    db = _older_db(tmp_path, rows)
    maintenance.migrate(db)
    whole = tmp_path / "whole.db"
    shutil.copy(db, whole)
    settings = rollups.RollupSettings(TZ, 20, 5.0)

    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_BUILD), str(db), TZ],
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    state = rollups.read_state(sqlite3.connect(db))
    assert state is not None and not state.built and state.calls_done == 21, state

    reasons: list[str] = []
    seen: list[rollups.Progress] = []
    maintenance.build_rollups(db, settings, started=reasons.append, progress=seen.append)
    assert reasons == [rollups.UNFINISHED]
    assert seen[-1].done and seen[-1].describe().startswith(f"{state.calls_total:,} of {state.calls_total:,} calls")
    assert maintenance.build_rollups(whole, settings) is not None

    assert _rollups(db) == _rollups(whole)
    assert sum(r[7] for r in _rollups(db)["rollup_calls"]) > 90
    cfg_path = tmp_path / "asterisk-bridge.toml"
    cfg_path.write_text(config_text(db, TZ), encoding="utf-8")
    compare(db, cfg_path, _periods(scenario), now=scenario.end + 86400)


async def test_run_builds_the_rollups_on_the_writer_thread_and_logs_it(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    rows, _ = _rows_db(tmp_path)
    older = _older_db(tmp_path, rows)
    cfg = load_config(write_config(tmp_path, port=0))
    shutil.move(older, cfg.database.path)
    calls = sqlite3.connect(cfg.database.path).execute("SELECT count(*) FROM calls").fetchone()[0]
    caplog.set_level(logging.INFO, logger="asterisk_bridge.service")
    async with Service(cfg) as service:
        for _ in range(300):
            state = await service.store.maintain(lambda db: rollups.read_state(db.conn))
            if state is not None and state.built:
                break
            await asyncio.sleep(0.05)
    assert state is not None and state.built and state.timezone == cfg.timezone
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rollups:")]
    assert said[0].startswith(f"rollups: building for {cfg.timezone} ") and "the rollups were never built" in said[0]
    assert said[-1].startswith(f"rollups: built from {calls:,} of {calls:,} calls (100 %) in ")
