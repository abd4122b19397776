"""The demo end to end at a small size: FastAGI and AMI against the simulator, figures from the database."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from datetime import date
from types import SimpleNamespace

import pytest

from browser import DESKTOP, PHONE, horizontal_overflow, set_width
from email_view import figures, visible_text

from asterisk_bridge.demo import format_calls, run_demo
from asterisk_bridge.pbxsim.queues import QueueModel


@pytest.fixture(scope="module")
def small_day(tmp_path_factory):
    """One small demo day (45 calls in 4 s), shared by the tests below, with the files it left."""
    out = tmp_path_factory.mktemp("demo") / "out"
    result = asyncio.run(run_demo(out, seed=7, day_seconds=4.0, calls_per_day={"122": 30, "117": 15},
                                  progress=False, day=date(2026, 11, 25)))
    return SimpleNamespace(result=result, files=sorted(p.name for p in out.iterdir()))


def test_small_day_every_call_has_a_menu_session_and_one_call_record(small_day):
    result = small_day.result
    assert len(result.calls) == 45 and all(r.agistatus != "FAILURE" for r in result.results)
    db = sqlite3.connect(f"{result.database.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    sessions = {r["linkedid"]: dict(r) for r in db.execute("SELECT * FROM menu_sessions")}
    assert len(sessions) == 45 and set(sessions) == set(result.scenarios)
    rows = {r["linkedid"]: r for r in result.call_rows}
    assert set(rows) == set(result.scenarios)  # exactly one calls row per call that reached AMI
    assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 45
    joined = db.execute("SELECT count(*) FROM calls c JOIN menu_sessions m ON m.linkedid = c.linkedid").fetchone()[0]
    assert joined == 45
    for linkedid, row in rows.items():
        menu, scenario = sessions[linkedid], result.scenarios[linkedid]
        assert row["complete"] and row["line"] == menu["line"]
        assert row["started_at"].startswith("2026-11-2")  # the simulated day (Irkutsk midnight is 16:00Z)
        assert (row["ivr_result"], row["topic"], row["age_group"]) == (menu["result"], menu["topic"], menu["age_group"])
        if scenario.queue_joined is None:
            assert row["outcome"] == {"hangup": "abandoned_menu", "selfservice": "selfservice"}[menu["result"]]
            assert row["queued_seconds"] is None
            continue
        decision = result.decisions[linkedid]
        assert decision.queue == scenario.queue_joined and decision.operator == scenario.operator
        assert row["queue"] == scenario.queue_joined == (menu["queue"] or row["queue"])
        if scenario.operator is not None:
            assert row["outcome"] == "answered" and row["operator"] == scenario.operator.name
            assert abs(row["talk_seconds"] - scenario.talk) < 0.05
            expected_wait = scenario.hold + 6.0 * len(scenario.no_answer) + scenario.answer_after
            assert abs(row["queued_seconds"] - expected_wait) < 0.05
        else:
            assert row["outcome"] == ("short_abandon" if scenario.abandon_after <= 5.0 else "abandoned_queue")
            assert abs(row["queued_seconds"] - scenario.abandon_after) < 0.05
    # every queued call was decided by the queue model, and the decisions are the scenarios'
    queued = [s for s in result.scenarios.values() if s.queue_joined is not None]
    assert len(result.decisions) == len(queued)
    answered = sum(1 for d in result.decisions.values() if d.answered)
    assert answered == sum(1 for r in rows.values() if r["outcome"] == "answered")
    # the printed table is the database's
    table = format_calls(result.config, result.counts, result.call_rows)
    outcomes = Counter((r["line"], r["outcome"]) for r in rows.values())
    line_122 = next(t for t in table.splitlines() if t.startswith("122"))
    assert line_122.split()[:7] == ["122", "30", str(outcomes["122", "answered"]), str(outcomes["122", "abandoned_queue"]),
                                    str(outcomes["122", "short_abandon"]), str(outcomes["122", "abandoned_menu"]),
                                    str(outcomes["122", "selfservice"])]
    # the day's summary was written, and its figures are the database's
    html, text = result.summary_files[:2]
    assert html.name == "summary-2026-11-25.html" and "<script" not in html.read_text(encoding="utf-8")
    summary = text.read_text(encoding="utf-8")
    offered = next(t for t in summary.splitlines() if t.startswith("Поступило звонков"))
    assert offered.split()[2:5] == ["45", "30", "15"]
    answered_line = next(t for t in summary.splitlines() if t.strip().startswith("Ответили операторы"))
    assert answered_line.split()[2] == str(sum(1 for r in rows.values() if r["outcome"] == "answered"))


def test_the_demo_leaves_a_closed_database_and_a_summary_whose_parts_agree(small_day):
    # closed cleanly: no -wal or -shm beside the database
    assert small_day.files == ["asterisk-bridge.db", "asterisk-bridge.db.status.json",
                               "summary-2026-11-25.html", "summary-2026-11-25.txt"]
    html, text = small_day.result.summary_files[:2]
    assert figures(text.read_text(encoding="utf-8")) == figures(visible_text(html.read_text(encoding="utf-8")))


def test_the_demo_summary_fits_a_phone(small_day, browser):
    html = small_day.result.summary_files[0]
    for width, height in (PHONE, DESKTOP):
        set_width(browser, width, height)
        browser.get(html.resolve().as_uri())
        scroll_width, inner_width = horizontal_overflow(browser)
        assert scroll_width <= inner_width, f"{html.name} at {width} px is {scroll_width} px wide"


def test_queue_model_is_deterministic_and_serves_first_come_first_served():
    calls = [(f"c{i}", "cc-122-housing", 36000.0 + i * 10.0) for i in range(30)]
    one = QueueModel(["cc-122-housing"], seed=3).decide_all(calls)
    two = QueueModel(["cc-122-housing"], seed=3).decide_all(calls)
    assert one == two
    staff = QueueModel(["cc-122-housing"], seed=3).staff("cc-122-housing")
    assert 2 <= len(staff) <= 4 and all(o.name == f"Оператор {o.exten}" for o in staff)
    assert all(o.interface == f"Local/{o.exten}@agents/n" for o in staff)
    # a burst of 30 callers 10 s apart: someone waits for a busy operator, and someone gives up
    assert any(d.hold > 0 for d in one.values() if d.answered)
    assert any(not d.answered for d in one.values())
    for d in one.values():
        if not d.answered:
            assert d.wait == d.wait and d.talk == 0.0
        else:
            assert d.wait == d.hold + 6.0 * len(d.no_answer) + d.ring
