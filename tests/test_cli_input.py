"""Bad input on the command line: exit 2 and a message that names what was wrong, for every command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from report_fixture import DAY_CALLS, call, make_db, write_config

from asterisk_bridge.cli import main


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    db = make_db(tmp_path / "calls.db", DAY_CALLS + [call(99, "2026-11-25T05:00:00.000Z", "answered", line="118",
                                                          wait=5, talk=30)])  # a line since removed from the config
    return str(write_config(tmp_path, db))


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("args, message", [
    (["stats", "-c", "{cfg}", "--from", "2026-11-25", "--to", "2026-11-24"],
     "Invalid value for '--to': 2026-11-24 is before --from 2026-11-25"),
    (["stats", "-c", "{cfg}", "--from", "2026-11-32", "--to", "2026-11-24"],
     "'2026-11-32' is not a date like 2026-11-25"),
    (["stats", "-c", "{cfg}", "--from", "2026-11-25", "--to", "2026-11-25", "--line", "999"],
     "Invalid value for '--line': no line '999': the lines are 122, 117, 118"),
    (["stats", "-c", "{cfg}", "--from", "2026-11-25", "--to", "2026-11-25", "--format", "xml"],
     "'xml' is not one of"),
    (["summary", "-c", "{cfg}", "--date", "2026-11-25", "--force"], "--force only applies to --send"),
    (["summary", "-c", "{cfg}", "--date", "25.11.2026"], "'25.11.2026' is not a date like 2026-11-25"),
    (["summary", "-c", "{cfg}", "--date", "2026-11-25", "--send"],
     "--send needs [smtp] host, sender, recipients in {cfg}"),
    (["db", "backup", "-c", "{cfg}", "{db}"], "exists (use --force to replace it)"),
    (["status", "-c", "{cfg}", "--stale-after", "-5"], "Invalid value for '--stale-after'"),
    (["check-config", "-c", "{cfg}", "--sounds-dir", "/no/such/sounds"],
     "Invalid value for '--sounds-dir': Directory '/no/such/sounds' does not exist."),
    (["simulate", "-c", "{cfg}", "--calls-per-day", "122=10,999=5", "--ami-wait", "0"],
     "no line '999' in {cfg}: the lines are 122, 117"),
    (["simulate", "-c", "{cfg}", "--calls-per-day", "122=abc"], "'122=abc' is not LINE=COUNT"),
])
def test_bad_input_exits_2_and_says_what(config, args, message):
    db = config.replace("asterisk-bridge.toml", "calls.db")
    result = run(*(a.replace("{cfg}", config).replace("{db}", db) for a in args))
    assert result.exit_code == 2, result.output
    assert message.replace("{cfg}", config) in result.output


def test_demo_day_seconds_must_be_positive(tmp_path):
    result = run("demo", "--out", str(tmp_path / "demo"), "--day-seconds", "0")
    assert result.exit_code == 2 and "Invalid value for '--day-seconds'" in result.output
    assert not (tmp_path / "demo").exists()


def test_a_line_known_only_from_the_records_is_accepted(config):
    result = run("stats", "-c", config, "--from", "2026-11-25", "--to", "2026-11-25", "--line", "118",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("line,118,118,,1,1")


def test_stats_text_has_no_masked_numbers_note_when_no_number_is_shown(config):
    result = run("stats", "-c", config, "--from", "2026-11-25", "--to", "2026-11-25")
    assert result.exit_code == 0, result.output
    assert "Поступило звонков" in result.output and "Номера звонящих скрыты" not in result.output
    assert "7916" not in result.output


def test_demo_help_says_the_summary_goes_to_out():
    result = run("demo", "--help")
    assert result.exit_code == 0 and "Directory for the database and the day's summary" in result.output


def test_no_configuration_found_lists_every_place_looked_at(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    if Path("/etc/asterisk-bridge/asterisk-bridge.toml").exists():
        pytest.skip("this machine has /etc/asterisk-bridge/asterisk-bridge.toml, so a configuration is found")
    result = run("check-config")
    assert result.exit_code == 2
    assert result.output.splitlines()[:5] == [
        "no configuration found; looked at:",
        "  -c/--config: not given",
        "  $ASTERISK_BRIDGE_CONFIG: not set",
        f"  {tmp_path / 'asterisk-bridge.toml'}: no such file",
        "  /etc/asterisk-bridge/asterisk-bridge.toml: no such file",
    ]
    assert "asterisk-bridge init" in result.output
    # a file named with -c that is not there is named as such
    result = run("check-config", "-c", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "nope.toml: cannot read the file" in result.output


def test_a_day_not_over_yet_is_bad_input_and_nothing_is_recorded(config, tmp_path):
    """A summary mailed for today would be in the send log as sent, and the service would never
    mail that day's full summary; a day after today has no figures at all."""
    from datetime import timedelta

    from asterisk_bridge.report.period import local_date_of
    from asterisk_bridge.store import report_queries as rq

    today = local_date_of(time.time(), "Asia/Irkutsk")  # the fixture's timezone
    tomorrow = (today + timedelta(days=1)).isoformat()
    result = run("summary", "-c", config, "--date", today.isoformat(), "--send")
    assert result.exit_code == 2, result.output
    assert (f"Invalid value for '--date': {today.isoformat()} is not over yet "
            f"(today is {today.isoformat()} in Asia/Irkutsk)") in result.output
    assert rq.summary_sent(tmp_path / "calls.db", today.isoformat()) is None
    for args in (["--date", tomorrow], ["--date", tomorrow, "--send", "--force"]):
        result = run("summary", "-c", config, "--out", str(tmp_path / "out"), *args)
        assert result.exit_code == 2 and f"{tomorrow} is not over yet" in result.output, result.output
    assert not (tmp_path / "out").exists()
    result = run("stats", "-c", config, "--from", tomorrow, "--to", tomorrow)
    assert result.exit_code == 2
    assert f"Invalid value for '--from': {tomorrow} is after today ({today.isoformat()} in Asia/Irkutsk)" in result.output
    # today so far is a fine question for stats and for the files
    assert run("stats", "-c", config, "--from", today.isoformat(), "--to", tomorrow).exit_code == 0
    result = run("summary", "-c", config, "--date", today.isoformat(), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, option", [
    (["demo", "--out", "{blocked}/demo", "--day-seconds", "0.1"], "--out"),
    (["summary", "-c", "{cfg}", "--date", "2026-11-25", "--out", "{blocked}/out"], "--out"),
    (["init", "--dir", "{blocked}/etc"], "--dir"),
    (["init", "--dir", "{tmp}/etc", "--systemd", "--systemd-dir", "{blocked}/units"], "--systemd-dir"),
    (["prompts", "build", "-c", "{cfg}", "--sounds-dir", "{blocked}/sounds"], "--sounds-dir"),
])
def test_a_directory_that_cannot_be_written_is_bad_input_before_any_work(config, tmp_path, args, option):
    blocked = tmp_path / "a-file"  # a directory under a file: refused even to root
    blocked.write_text("", encoding="utf-8")
    result = run(*(a.replace("{cfg}", config).replace("{blocked}", str(blocked)).replace("{tmp}", str(tmp_path))
                   for a in args))
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}': cannot write to {blocked}/" in result.output
    assert "Simulating" not in result.output  # the demo did not run its day first
    assert not (tmp_path / "etc" / "asterisk-bridge.toml").exists()


def test_db_backup_into_a_missing_directory_is_bad_input(config, tmp_path):
    result = run("db", "backup", "-c", config, str(tmp_path / "no" / "such" / "calls.db"))
    assert result.exit_code == 2
    assert f"Invalid value for FILE: {tmp_path / 'no' / 'such'} is not a directory" in result.output
