"""`asterisk-bridge status` as an admin reads it: times in the configured zone, the state it is in,
where the database is, and the summary sent as the send log has it."""

from __future__ import annotations

import json
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from test_cli import write_config

from asterisk_bridge import health
from asterisk_bridge.cli import main
from asterisk_bridge.config import load_config
from asterisk_bridge.service import Service
from asterisk_bridge.store import report_queries as rq
from asterisk_bridge.store import maintenance

IRKUTSK = ZoneInfo("Asia/Irkutsk")
STARTED = datetime(2026, 11, 25, 8, 0, 3, tzinfo=IRKUTSK).timestamp()
STOPPED = datetime(2026, 11, 26, 6, 12, 40, tzinfo=IRKUTSK).timestamp()


def _file(state: str, written_at: float) -> dict:
    return {"schema": 1, "pid": 999_999_999, "node": "pbx1", "state": state, "started_at": STARTED,
            "written_at": written_at, "fastagi": {"listen": "127.0.0.1:4573", "active": 0},
            "ami": {"enabled": True, "connected": False, "connected_since": None, "down_since": STARTED},
            "mqtt": {"enabled": False}, "store": {"path": "/var/lib/asterisk-bridge/calls.db", "pending": 0},
            "summary": {"enabled": True, "last_day": None, "last_sent_at": None},
            "today": {"menu_sessions": 0, "calls": 0}, "retention": None}


def test_times_are_on_the_contact_centers_clock_and_stopped_says_when(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the host's zone is not the contact center's
    text = health.format_status(_file("stopped", STOPPED), STOPPED + 3600, "Asia/Irkutsk")
    first = text.splitlines()[0]
    assert first == ("node pbx1, pid 999999999, stopped at 2026-11-26 06:12:40 +08 "
                     "(had run since 2026-11-25 08:00:03 +08)")
    assert "NOT connected since 2026-11-25 08:00:03 +08" in text
    assert health.problems(_file("stopped", STOPPED), STOPPED + 3600, timezone="Asia/Irkutsk") == [
        "the service stopped at 2026-11-26 06:12:40 +08"]
    running = health.format_status(_file("running", STOPPED), STOPPED + 1, "Asia/Irkutsk").splitlines()[0]
    assert running.endswith("running since 2026-11-25 08:00:03 +08 (status written 1 s ago)")


def test_status_reads_the_summary_from_the_send_log_not_the_old_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    config = write_config(tmp_path)
    cfg = load_config(config)
    maintenance.migrate(cfg.database.path)
    health.write_status(health.status_path(cfg), _file("stopped", STOPPED))  # written before the send
    sent = datetime(2026, 11, 26, 7, 30, 2, tzinfo=IRKUTSK).timestamp()
    rq.record_summary(cfg.database.path, "2026-11-25", sent_at=sent, recipients=["head@example.ru"],
                      subject="s", forced=False)
    result = CliRunner().invoke(main, ["status", "-c", str(config)])
    assert result.exit_code == 1  # stopped: needs an admin
    assert "summary  last sent for 2026-11-25 at 2026-11-26 07:30:02 +08" in result.output
    assert "never sent" not in result.output
    data = json.loads(CliRunner().invoke(main, ["status", "-c", str(config), "--json"]).output)
    assert data["summary"]["last_day"] == "2026-11-25"


async def test_the_service_writes_the_database_path_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path, port=0)
    config.write_text(config.read_text(encoding="utf-8").replace(str(tmp_path / "calls.db"), "calls.db"), "utf-8")
    cfg = load_config(config)
    assert cfg.database.path == "calls.db"
    async with Service(cfg):
        pass
    data = health.read_status(health.status_path(cfg))
    assert data["store"]["path"] == os.path.join(str(tmp_path), "calls.db") and data["state"] == "stopped"


def test_a_relative_database_path_is_named_absolute_when_nothing_is_there(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(str(tmp_path / "calls.db"), "calls.db"), "utf-8")
    result = CliRunner().invoke(main, ["status", "-c", str(config)])
    assert result.exit_code == 1
    assert f"CRITICAL: no status file {tmp_path / 'calls.db.status.json'}:" in result.output
    result = CliRunner().invoke(main, ["db", "check", "-c", str(config)])
    assert result.exit_code == 1
    assert f"database {tmp_path / 'calls.db'} does not exist: create it with `asterisk-bridge db migrate`" in result.output
