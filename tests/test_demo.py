"""The demo end to end at a small size: FastAGI and AMI against the simulator, figures from the database."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest

from browser import DESKTOP, PHONE, horizontal_overflow, set_width
from email_view import figures, visible_text

from asterisk_bridge.demo import demo_config, format_calls, render_demo_prompts, run_demo
from asterisk_bridge.menu.prompts import survey
from asterisk_bridge.pbxsim.caller_script import Press, Silence
from asterisk_bridge.pbxsim.queues import AUTO_PAUSE, NO_ANSWER_COST, Handling, QueueModel
from asterisk_bridge.pbxsim.traffic import TrafficModel


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


def test_the_demo_day_has_its_operators_logged_in_on_breaks_and_auto_paused(small_day):
    result = small_day.result
    db = sqlite3.connect(f"{result.database.resolve().as_uri()}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    sessions = [dict(r) for r in db.execute("SELECT * FROM operator_sessions")]
    pauses = [dict(r) for r in db.execute("SELECT * FROM operator_pauses")]
    model = QueueModel(result.config.queues, seed=7)
    # the operator on duty round the clock is a static member of each queue, in it before the bridge looked;
    # the others logged in and out for their shift, seen by the bridge
    static = {(s["interface"], s["queue"]) for s in sessions if s["membership"] == "static"}
    assert static == {(staff[0].operator.interface, q) for q, staff in model.operators.items()}
    assert all(s["login_seen"] == 0 and s["logged_out_at"] is None for s in sessions if s["membership"] == "static")
    shifts = [s for s in sessions if s["membership"] == "dynamic"]
    assert len(shifts) == sum(len(staff) - 1 for staff in model.operators.values())
    assert all(s["login_seen"] == 1 and s["logout_seen"] == 1 for s in shifts)
    # lunches and breaks with their reasons; an auto-pause for every operator who let a call ring out
    assert {p["reason"] for p in pauses} <= {"обед", "перерыв", "Auto-Pause"}
    assert all(p["end_seen"] == 1 and p["auto"] == (p["reason"] == "Auto-Pause") for p in pauses)
    rang_out = [op for d in result.decisions.values() if d.answered for op in d.no_answer]
    assert sorted(p["interface"] for p in pauses if p["auto"]) == sorted(op.interface for op in rang_out)
    noanswer = db.execute("SELECT count(*) FROM ring_attempts WHERE result = 'noanswer'").fetchone()[0]
    assert noanswer == len(rang_out)
    # nobody answered a call while logged out or paused in that queue
    for leg in db.execute("SELECT * FROM queue_legs WHERE answered_at IS NOT NULL"):
        mine = [s for s in sessions if (s["interface"], s["queue"]) == (leg["answered_interface"], leg["queue"])]
        assert any(s["logged_in_at"] <= leg["answered_at"] and (s["logged_out_at"] or "9") > leg["answered_at"]
                   for s in mine), dict(leg)
        assert not any(p["started_at"] <= leg["answered_at"] < (p["ended_at"] or "9") for p in pauses
                       if (p["interface"], p["queue"]) == (leg["answered_interface"], leg["queue"])), dict(leg)
    summary = result.summary_files[1].read_text(encoding="utf-8")
    assert "ОПЕРАТОРЫ" in summary and "ПО ОЧЕРЕДЯМ" in summary and "обед —" in summary


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


def test_the_queue_model_rings_nobody_paused_and_auto_pauses_who_lets_a_call_ring_out():
    model = QueueModel(["cc-122-housing"], seed=3, handling=Handling(no_answer=0.5))
    calls = [(f"c{i}", "cc-122-housing", 8 * 3600.0 + i * 300.0) for i in range(120)]  # 08:00 to 18:00
    decisions = model.decide_all(calls)
    staff = {o.operator: o for o in model.operators["cc-122-housing"]}
    assert any(d.no_answer for d in decisions.values())
    for d in decisions.values():
        if not d.answered:
            continue
        rings = d.joined_at + d.hold + NO_ANSWER_COST * len(d.no_answer)  # the answering operator is rung
        assert not any(b <= rings < e for b, e, _ in staff[d.operator].pauses), d
        assert staff[d.operator].shift[0] <= rings < staff[d.operator].shift[1]
        for op in d.no_answer:  # paused from the ring-out for the decision's auto_pause
            rang_out = d.joined_at + d.hold + NO_ANSWER_COST - 1.0
            assert (rang_out, rang_out + d.auto_pause, AUTO_PAUSE) in staff[op].pauses
            assert 120.0 <= d.auto_pause <= 600.0
    # day-shift operators take a lunch and two breaks inside their shift; the one on duty round the clock none
    for member in staff.values():
        reasons = sorted(r for _, _, r in member.pauses if r != AUTO_PAUSE)
        assert reasons == ([] if member.static else ["обед", "перерыв", "перерыв"])
        assert all(member.shift[0] < b < e < member.shift[1] for b, e, r in member.pauses if r != AUTO_PAUSE)


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng or sox is not installed (apt-get install espeak-ng sox; .ci/run installs both)")
def test_the_demo_renders_its_prompts_once_and_times_them_from_the_files(tmp_path):
    lengths, note = render_demo_prompts(tmp_path)
    assert note.startswith(f"Prompts: 23 sound files in {tmp_path / 'sounds' / 'ru'} (23 rendered with espeak-ng now")
    config = demo_config(tmp_path)
    files = {s.script.name: s.playing.seconds for s in survey(config, tmp_path / "sounds")}
    assert lengths == {name: round(seconds * 1000) for name, seconds in files.items()}
    assert 15000 < lengths["cc/122-menu"] < 20000 and lengths["cc/invalid-choice"] < 3000
    again, note = render_demo_prompts(tmp_path)
    assert again == lengths and "(none changed)" in note


def test_without_espeak_the_demo_says_so_and_prompts_play_two_seconds(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    lengths, note = render_demo_prompts(tmp_path)
    assert lengths == {}
    assert note == ("Prompts: espeak-ng is not installed (apt-get install espeak-ng sox): nothing rendered; "
                    "every prompt plays 2 s")


async def test_prompts_play_as_long_as_given_and_callers_wait_to_hear_their_key(tmp_path):
    # one absurdly long greeting: every session that heard it out lasts at least that long
    greeting_ms = 600_000
    result = await run_demo(tmp_path / "out", seed=3, day_seconds=4.0, calls_per_day={"122": 12, "117": 0},
                            progress=False, day=date(2026, 11, 25),
                            prompt_ms={"cc/122-greeting": greeting_ms, "cc/122-menu": 18_000})
    db = sqlite3.connect(result.database)
    heard = [duration for duration, in db.execute(
        "SELECT duration_ms FROM menu_sessions m WHERE EXISTS (SELECT 1 FROM menu_steps s WHERE "
        "s.session_id = m.session_id AND s.seq = 1 AND s.kind = 'prompt' AND s.prompt = 'cc/122-menu')")]
    assert heard and all(duration >= greeting_ms for duration in heard)
    # the traffic model got the lengths too: first keys come once the 18 s menu has said them
    firsts = [next(r for r in c.reactions if isinstance(r, Press)) for c in result.calls
              if c.intent not in ("hangup", "silent") and isinstance(c.reactions[0], Silence)]
    assert any(p.after_ms > 3000 for p in firsts)


def test_with_prompt_lengths_callers_press_a_key_once_the_menu_has_said_it():
    config = demo_config(Path("unused"))
    menu = config.line_for("122").menu
    lengths = {menu.prompt: 18_000, "cc/age-question": 12_000}
    plain = TrafficModel(config, seed=5).day()
    listening = TrafficModel(config, seed=5, prompt_ms=lengths).day()
    assert all(p.after_ms <= 3000 for c in plain for p in c.reactions if isinstance(p, Press))
    entries = [*sorted(menu.topics), "0", "*"]
    waited = 0
    for call in listening:
        if call.line != "122" or call.intent in ("hangup", "silent") or len(call.reactions) < 2:
            continue
        greeting, first = call.reactions[:2]
        if not (isinstance(greeting, Silence) and isinstance(first, Press) and first.key in entries):
            continue  # pressed in the greeting, or a wrong key first
        said = 18_000 * (entries.index(first.key) + 2) / (len(entries) + 1)
        assert first.after_ms <= 3000 or said + 300 <= first.after_ms <= said + 1500
        waited += first.after_ms > 3000
    assert waited > 50  # most callers wait to hear their topic; some know the menu
