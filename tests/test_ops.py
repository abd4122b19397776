"""Operating the bridge: db migrate/check/backup/retention, retention rules, status file evaluation."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from click.testing import CliRunner

from asterisk_bridge import health
from asterisk_bridge.cli import main
from asterisk_bridge.menu.flow import Step
from asterisk_bridge.privacy import hash_number, mask_name
from asterisk_bridge.menu import MenuRecord
from asterisk_bridge.store import Store, maintenance
from test_cli import write_config

DAY = 86400.0
NOW = 1_790_000_000.0  # a fixed "now" for retention


def record(n: int, started: float, number: str | None = None, steps: int = 2, name: str | None = None) -> MenuRecord:
    return MenuRecord(
        session_id=f"s{n}", node="pbx1", line="122", caller_number=number or f"7916000{n:04d}",
        caller_name=name, channel=f"PJSIP/t-{n}", uniqueid=f"u{n}", linkedid=f"l{n}", agi_script="ivr",
        started_at=started, ended_at=started + 10, result="topic", topic="gov", queue="cc-122-gov",
        age_group="unknown", ended_in="122", hung_up=False,
        steps=tuple(Step(at=started + i, kind="prompt", menu="122", prompt="cc/122-menu") for i in range(steps)))


async def fill(path, records) -> None:
    async with Store(path) as store:
        for r in records:
            store.submit_menu(r)
        await store.flush(10)


def add_call(path, linkedid: str, started: float, number: str, name: str | None = None) -> None:
    from asterisk_bridge.utc import utc_iso

    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO calls (linkedid, started_at, caller_number, caller_name) VALUES (?, ?, ?, ?)",
                     (linkedid, utc_iso(started), number, name))


# ---------------------------------------------------------------- retention


async def test_retention_hashes_old_numbers_drops_old_steps_and_leaves_the_rest(tmp_path):
    path = tmp_path / "calls.db"
    # ages in days: 100 (hash + drop), 40 (hash only), 10 (neither), the same caller twice when old
    ages = {1: 100, 2: 40, 3: 10, 4: 100}
    await fill(path, [record(n, NOW - age * DAY, number="79160001111" if n in (1, 4) else None,
                             name="+7 916 000-11-11" if n in (1, 4) else "Иван Петров")
                      for n, age in ages.items()])
    add_call(path, "c-old", NOW - 40 * DAY, "79160002222", "Пётр Иванов")
    add_call(path, "c-new", NOW - 1 * DAY, "79160003333", "Анна")
    settings = dict(hash_after_days=30, drop_steps_after_days=60, salt="pepper")

    first = maintenance.apply_retention_to_file(path, now=NOW, **settings)
    assert (first.sessions_hashed, first.calls_hashed, first.steps_dropped) == (3, 1, 4)

    conn = sqlite3.connect(path)
    numbers = dict(conn.execute("SELECT session_id, caller_number FROM menu_sessions"))
    hashed = "h:" + hash_number("79160001111", "pepper")
    assert numbers == {"s1": hashed, "s4": hashed, "s2": "h:" + hash_number("79160000002", "pepper"),
                       "s3": "79160000003"}  # the repeat caller still groups as one
    calls = dict(conn.execute("SELECT linkedid, caller_number FROM calls"))
    assert calls == {"c-old": "h:" + hash_number("79160002222", "pepper"), "c-new": "79160003333"}
    names = dict(conn.execute("SELECT session_id, caller_name FROM menu_sessions"))
    assert names == {"s1": None, "s2": None, "s4": None, "s3": "Иван Петров"}  # names go with the numbers
    assert dict(conn.execute("SELECT linkedid, caller_name FROM calls")) == {"c-old": None, "c-new": "Анна"}
    steps = dict(conn.execute("SELECT session_id, COUNT(*) FROM menu_steps GROUP BY session_id"))
    assert steps == {"s2": 2, "s3": 2}
    assert conn.execute("SELECT step_count FROM menu_sessions WHERE session_id = 's1'").fetchone() == (2,)

    # Idempotent: a second run hashes no hash and drops nothing more; both runs are recorded.
    second = maintenance.apply_retention_to_file(path, now=NOW, **settings)
    assert (second.sessions_hashed, second.calls_hashed, second.steps_dropped) == (0, 0, 0)
    assert dict(conn.execute("SELECT session_id, caller_number FROM menu_sessions")) == numbers
    runs = conn.execute("SELECT sessions_hashed, calls_hashed, steps_dropped FROM retention_runs ORDER BY id")
    assert runs.fetchall() == [(3, 1, 4), (0, 0, 0)]
    assert maintenance.check(path).ok


async def test_retention_walks_many_rows_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(maintenance, "_CHUNK", 7)
    path = tmp_path / "calls.db"
    # equal start times across chunk boundaries must neither be skipped nor repeated
    await fill(path, [record(n, NOW - (50 + n % 3) * DAY, steps=1) for n in range(40)]
               + [record(100 + n, NOW - DAY, steps=1) for n in range(5)])
    result = maintenance.apply_retention_to_file(path, now=NOW, hash_after_days=30, drop_steps_after_days=30,
                                                  salt="pepper")
    assert (result.sessions_hashed, result.steps_dropped) == (40, 40)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM menu_sessions WHERE caller_number LIKE 'h:%'").fetchone() == (40,)
    assert conn.execute("SELECT COUNT(*) FROM menu_steps").fetchone() == (5,)


def test_db_retention_command(tmp_path):
    asyncio.run(fill(tmp_path / "calls.db", [record(1, time.time() - 50 * DAY), record(2, time.time())]))
    salt = tmp_path / "salt"
    salt.write_text("pepper")
    salt.chmod(0o600)
    path = write_config(tmp_path, **{"mask_callers = true": f'mask_callers = true\nhash_after_days = 30\n'
                                                             f'drop_steps_after_days = 40\nsalt_file = "{salt}"'})
    result = CliRunner().invoke(main, ["db", "retention", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 menu session(s), 0 call(s)" in result.output and "menu steps dropped" in result.output
    assert "pepper" not in result.output


# ---------------------------------------------------------------- migrate / check / backup


def test_db_migrate_and_check(tmp_path):
    path = write_config(tmp_path)
    runner = CliRunner()
    missing = runner.invoke(main, ["db", "check", "-c", str(path)])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert "create it with `asterisk-bridge db migrate`" in missing.output
    result = runner.invoke(main, ["db", "migrate", "-c", str(path)])
    assert result.exit_code == 0 and "m001_menu" in result.output and "m005_retention" in result.output
    assert "up to date" in runner.invoke(main, ["db", "migrate", "-c", str(path)]).output
    ok = runner.invoke(main, ["db", "check", "-c", str(path)])
    assert ok.exit_code == 0, ok.output

    db = tmp_path / "calls.db"
    with sqlite3.connect(db) as conn:  # a pending migration and a dangling step are problems
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_retention'")
        conn.execute("INSERT INTO menu_steps VALUES ('nobody', 0, 'x', 'prompt', '122', NULL, NULL)")
    bad = runner.invoke(main, ["db", "check", "-c", str(path)])
    assert bad.exit_code == 1
    assert "pending migrations: m005_retention" in bad.output and "foreign key: menu_steps" in bad.output


def _writer(path: str, stop_after: float) -> int:
    """Another writer (like `summary` or `db retention`): short transactions, one after another."""
    conn = sqlite3.connect(path, timeout=10)
    n = 0
    end = time.monotonic() + stop_after
    while time.monotonic() < end:
        with conn:
            conn.execute("INSERT INTO summaries (day, sent_at, recipients, subject, forced) VALUES (?, ?, '', '', 0)",
                         (f"d{n}", str(n)))
        n += 1
        time.sleep(0.002)  # a busy writer, not a lock hog (SQLite's busy handler is not fair)
    conn.close()
    return n


async def test_backup_while_the_store_and_another_connection_keep_writing(tmp_path):
    db = tmp_path / "calls.db"
    config = write_config(tmp_path)
    store = await Store(db, coalesce=0).open()
    stop = asyncio.Event()

    async def keep_writing() -> int:
        n = 0
        while not stop.is_set():
            await store.save_menu(record(n, time.time(), steps=5))
            n += 1
        return n

    writer = asyncio.create_task(keep_writing())
    other = asyncio.create_task(asyncio.to_thread(_writer, str(db), 1.5))
    try:
        await asyncio.sleep(0.2)
        sizes = []
        for i in range(3):
            out = tmp_path / f"backup-{i}.db"
            result = await asyncio.to_thread(CliRunner().invoke, main, ["db", "backup", "-c", str(config), str(out)])
            assert result.exit_code == 0, result.output
            check = maintenance.check(out)
            assert check.ok, check
            conn = sqlite3.connect(out)
            sessions, steps = conn.execute(
                "SELECT COUNT(*), (SELECT COUNT(*) FROM menu_steps) FROM menu_sessions").fetchone()
            assert steps == 5 * sessions  # never half a record: each session with all its steps
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
            sizes.append(sessions)
            await asyncio.sleep(0.2)
        assert sizes[0] > 0 and sizes == sorted(sizes)
        again = CliRunner().invoke(main, ["db", "backup", "-c", str(config), str(tmp_path / "backup-0.db")])
        assert again.exit_code == 2 and "exists (use --force to replace it)" in again.output
    finally:
        stop.set()
        written = await writer
        inserted = await other
        await store.close()
    assert written > sizes[-1] and inserted > 0


# ---------------------------------------------------------------- status evaluation


def _status(**over):
    data = {"schema": 1, "pid": __import__("os").getpid(), "node": "pbx1", "state": "running",
            "started_at": NOW - 100, "written_at": NOW,
            "fastagi": {"listen": "127.0.0.1:4573", "active": 2},
            "ami": {"enabled": True, "connected": True, "connected_since": NOW - 50, "down_since": None},
            "mqtt": {"enabled": True, "connected": True, "outbox_depth": 3},
            "store": {"path": "x.db", "pending": 0, "last_error": None},
            "summary": {"enabled": True, "last_day": "2026-09-20", "last_sent_at": "2026-09-21T00:30:00.000Z"},
            "today": {"menu_sessions": 5, "calls": 4}, "retention": None}
    for key, value in over.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return data


@pytest.mark.parametrize("over, expected", [
    ({}, []),
    ({"written_at": NOW - 31}, ["status is stale"]),
    ({"state": "stopped"}, ["the service stopped"]),
    ({"pid": 999_999_999}, ["not running"]),
    ({"ami": {"connected": False, "down_since": NOW - 61}}, ["AMI is configured but not connected for 61 s"]),
    ({"ami": {"connected": False, "down_since": NOW - 5}}, []),
    ({"mqtt": {"outbox_depth": 1001, "connected": False}}, ["MQTT outbox holds 1001 events"]),
    ({"store": {"pending": 4, "last_error": "OperationalError: disk I/O error"}}, ["database writes failing"]),
])
def test_status_problems(over, expected):
    found = health.problems(_status(**over), NOW)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found, strict=True)), found
    text = health.format_status(_status(**over), NOW, "Asia/Irkutsk")
    assert "2 session(s) in the menu now" in text and "5 menu session(s), 4 call record(s)" in text


def test_status_says_reconcile_pending_and_needs_an_admin_when_it_lasts():
    pending = {"reconcile_pending_since": NOW - 5, "reconcile_error": "no response to AMI CoreShowChannels"}
    text = health.format_status(_status(ami=pending), NOW, "Asia/Irkutsk")
    assert "0 call(s) followed, reconcile pending since" in text
    assert "(no response to AMI CoreShowChannels)" in text
    assert health.problems(_status(ami=pending), NOW) == []
    (problem,) = health.problems(_status(ami={**pending, "reconcile_pending_since": NOW - 61}), NOW)
    assert "calls not reconciled with Asterisk for 61 s" in problem and "CoreShowChannels" in problem
    assert "reconcile pending" not in health.format_status(_status(ami={"reconcile_pending_since": None}), NOW, "UTC")


async def test_the_daily_summary_says_what_retention_removed(tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from asterisk_bridge.demo import demo_config
    from asterisk_bridge.report.build import build_figures
    from asterisk_bridge.report.render import render_summary

    path = tmp_path / "calls.db"
    await fill(path, [record(1, NOW - 100 * DAY), record(2, NOW - 1 * DAY)])
    maintenance.apply_retention_to_file(path, now=NOW, hash_after_days=30, drop_steps_after_days=60, salt="pepper")
    config = demo_config(tmp_path)
    day = datetime.fromtimestamp(NOW, ZoneInfo(config.timezone)).date()
    _, text, html = render_summary(build_figures(path, config, day, day, now=NOW), config)
    expected = "номера звонящих заменены хешем (сеансов меню — 1, звонков — 0), удалено шагов меню — 2"
    assert expected in text and expected in html
    # a day without a retention run says nothing about it
    _, text, _ = render_summary(build_figures(path, config, day.replace(day=day.day - 1), day.replace(day=day.day - 1),
                                              now=NOW), config)
    assert "Хранение данных" not in text


@pytest.mark.parametrize("name, shown", [
    ("79161234567", "7916***4567"),  # the trunk sent the number as the name
    ("+7 916 123-45-67", "7916***4567"),
    ("Ivan 8(916)123-45-67 mob", "Ivan 8916***4567 mob"),
    ("Иван Петров", "Иван Петров"),
    ("ext 1002", "ext 1002"),  # four digits are not a phone number
    (None, ""),
])
def test_mask_name_hides_a_number_in_a_caller_name(name, shown):
    assert mask_name(name) == shown


def test_fold_wal_removes_what_a_reader_open_at_the_writers_close_left(tmp_path):
    """The demo's database: a read-only reader still open when the writer closed keeps the WAL,
    and cannot fold it itself; fold_wal does, and every row is still there."""
    from pathlib import Path

    path = tmp_path / "calls.db"
    maintenance.migrate(path)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("INSERT INTO retention_runs (ran_at, sessions_hashed, calls_hashed, steps_dropped) "
                   "VALUES ('2026-11-25T00:00:00.000Z', 0, 0, 0)")
    writer.commit()
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM retention_runs").fetchone() == (1,)
    writer.close()
    reader.close()
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()  # what the demo left now and then
    assert maintenance.fold_wal(path) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.db"]
    check = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert check.execute("SELECT count(*) FROM retention_runs").fetchone() == (1,)
    check.close()
