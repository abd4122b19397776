"""The report: figures on a hand-checked day, local-day cuts, templates, SMTP, the scheduler, the CLI."""

from __future__ import annotations

import asyncio
import email
import json
from datetime import date, datetime, timezone
from email import policy
from pathlib import Path

import click
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from click.testing import CliRunner

from helpers import free_port
from report_fixture import DAY_CALLS, DAY_MENUS, HOSTILE, OTHER_CALLS, day_db, make_db, menu, write_config

from asterisk_bridge.config import load_config
from asterisk_bridge.report import commands
from asterisk_bridge.report.build import build_figures
from asterisk_bridge.report.definitions import BUCKETS, menu_bucket, outcome_bucket
from asterisk_bridge.report.errors import PeriodError, SummaryTemplateError
from asterisk_bridge.report.period import local_day, local_period
from asterisk_bridge.report.render import plural_ru, render_summary
from asterisk_bridge.resources import templates_dir as shipped_templates_dir
from asterisk_bridge.report.schedule import SummaryScheduler, send_summary
from asterisk_bridge.store import report_queries as rq

DAY = date(2026, 11, 25)


@pytest.fixture
def setup(tmp_path):
    db = day_db(tmp_path / "calls.db")
    return db, load_config(write_config(tmp_path, db))


def figures_for(db, cfg, **kw):
    return build_figures(db, cfg, DAY, DAY, now=datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp(), **kw)


# ------------------------------------------------------------------ figures


def test_fixture_day_counts_by_hand(setup):
    db, cfg = setup
    f = figures_for(db, cfg)
    j = f.to_json()
    total = j["total"]["counts"]
    # 15 AMI calls in the local day + 1 menu session AMI did not see; menu session 2 is call 1.
    assert total["offered"] == 16
    assert {b: total[b] for b in BUCKETS} == {
        "answered": 5, "abandoned_menu": 1, "abandoned_queue": 2, "short_abandon": 1, "selfservice": 1,
        "unanswered": 2, "failed": 1, "unknown_end": 1, "in_progress": 1, "no_ami": 1,
    }
    assert sum(total[b] for b in BUCKETS) == total["offered"]
    lines = {s["line"]: s for s in j["lines"]}
    assert [s["line"] for s in j["lines"]] == ["122", "117"]  # config order
    assert lines["122"]["counts"]["offered"] == 13 and lines["117"]["counts"]["offered"] == 3
    # Line 122: queued = 3 answered + 2 abandoned + 1 timeout = 6; within 20 s: waits 10, 20 (answered), 15 (abandoned)
    q = lines["122"]["queue"]
    assert (q["queued"], q["answered_within"], q["abandoned_within"]) == (6, 2, 1)
    assert q["service_level"] == round(2 / 6, 4)
    assert q["asa_seconds"] == 20.0  # (10 + 30 + 20) / 3
    assert q["longest_wait_seconds"] == 300.0
    assert q["avg_talk_seconds"] == 120.0  # (100 + 200 + 60) / 3
    assert q["abandon_rate"] == 0.4  # 2 / (3 + 2)
    q = lines["117"]["queue"]
    assert (q["queued"], q["answered_within"], q["service_level"]) == (3, 1, round(1 / 3, 4))
    assert (q["asa_seconds"], q["longest_wait_seconds"], q["avg_talk_seconds"], q["abandon_rate"]) == (15.0, 25.0, 45.0, 0.0)
    q = j["total"]["queue"]
    assert (q["queued"], q["answered_within"], q["abandoned_within"]) == (9, 3, 1)
    assert (q["asa_seconds"], q["avg_talk_seconds"], q["abandon_rate"]) == (18.0, 90.0, round(2 / 7, 4))
    # topics of 122: housing = calls 1, 2, 4, 9, 10 + the menu-only session
    topics = {t["key"]: (t["name"], t["calls"]) for t in lines["122"]["topics"]}
    assert topics == {"housing": ("ЖКХ", 6), "health-drugs": ("Лекарства", 2), "hours": ("Режим работы", 1), "": (None, 4)}
    assert lines["122"]["topics"][0]["share"] == round(6 / 13, 4)
    ages = {a["key"]: a["calls"] for a in j["total"]["age_groups"]}
    assert ages == {"under-30": 2, "30-40": 1, "40-60": 2, "over-60": 1, "unknown": 10}
    assert [a["key"] for a in j["total"]["age_groups"]][-1] == "unknown"
    hours = j["total"]["hours"]
    assert hours[0] == 1 and hours[23] == 2 and hours[9] == 5 and hours[10] == 4 and sum(hours) == 16
    # call 15 reached a queue without a menu session: the menu did not run for it
    assert j["completeness"] == {"complete": False, "unknown_end": 1, "in_progress": 1,
                                 "incomplete_records": 2, "ami_gap": 1, "menu_missed": 1}
    assert j["source"] == "mixed"


def test_operator_and_queue_figures_by_hand(setup):
    db, cfg = setup
    j = figures_for(db, cfg).to_json()
    queues = {q["queue"]: q for q in j["queues"]}
    assert list(queues) == ["q-default", "q-housing", "q-health"]  # every queue of [queues], in its order
    # q-housing: calls 1 (answered, 10 s), 2 (answered, 30 s), 4 (abandoned, 15 s), 6 (short abandon, 3 s),
    # 9 (queue timeout, 300 s). Queued = 2 + 1 + 1 = 4; within 20 s: call 1 answered, call 4 abandoned.
    h = queues["q-housing"]
    assert {k: h[k] for k in ("offered", "answered", "abandoned", "short_abandon", "unanswered", "unknown", "queued",
                              "answered_within", "abandoned_within")} == {
        "offered": 5, "answered": 2, "abandoned": 1, "short_abandon": 1, "unanswered": 1, "unknown": 0,
        "queued": 4, "answered_within": 1, "abandoned_within": 1}
    assert (h["service_level"], h["asa_seconds"], h["longest_wait_seconds"], h["lines"]) == (0.25, 20.0, 300.0, ["122"])
    # q-health: call 3 answered at 20 s (within), call 5 abandoned at 45 s
    assert (queues["q-health"]["offered"], queues["q-health"]["service_level"], queues["q-health"]["asa_seconds"],
            queues["q-health"]["longest_wait_seconds"]) == (2, 0.5, 20.0, 45.0)
    # q-default (both lines): 13 answered at 5 s, 15 at 25 s, 12 still waiting (unknown: not queued)
    d = queues["q-default"]
    assert (d["offered"], d["answered"], d["unknown"], d["queued"], d["service_level"], d["asa_seconds"]) == (
        3, 2, 1, 2, 0.5, 15.0)
    assert (d["name"], d["lines"]) == ("Общая", ["122", "117"])
    ops = j["operators"]
    # sorted by calls answered, then name
    assert [(o["name"], o["calls_answered"]) for o in ops] == [("Оператор 1", 2), ("Оператор 117", 2),
                                                                ("Оператор 2", 1)]
    o1, o117, o2 = ops
    # Оператор 1: calls 1 (100 s) and 3 (60 s, known by name only); rang 4 s before answering call 1; let
    # call 2 ring out. In q-housing from the day before to 04:00Z, in q-default 00:00Z-04:00Z: logged in
    # 16:00Z-04:00Z = 12 h. Lunch (обед) in both queues from 02:40:00.1Z (the second queue's pause came
    # 0.1 s later) to 03:10Z = 1799.9 s; the break (перерыв) was in q-housing only, while q-default could
    # still ring him: not paused time.
    assert (o1["interface"], o1["queues"], o1["talk_seconds"], o1["avg_talk_seconds"]) == (
        "PJSIP/1001", ["q-default", "q-housing"], 160.0, 80.0)
    assert (o1["avg_ring_seconds"], o1["ring_outs"], o1["auto_pauses"], o1["flagged"]) == (4.0, 1, 0, True)
    assert (o1["logged_in_seconds"], o1["paused_seconds"]) == (43200.0, 1799.9)
    assert o1["paused_by_reason"] == [{"reason": "обед", "auto": False, "seconds": 1799.9, "pauses": 1},
                                      {"reason": "перерыв", "auto": False, "seconds": 0.0, "pauses": 1}]
    assert o1["occupancy"] == round(160 / (43200 - 1799.9), 4)
    # Оператор 2: call 2 (200 s, rang 6 s); call 9 rang out and Asterisk auto-paused him 03:00:15Z-03:20Z;
    # logged in from 01:00Z and still is: up to the end of the day (the figures are taken after it)
    assert (o2["talk_seconds"], o2["avg_ring_seconds"], o2["ring_outs"], o2["auto_pauses"]) == (200.0, 6.0, 1, 1)
    assert (o2["logged_in_seconds"], o2["paused_seconds"]) == (54000.0, 1185.0)
    assert o2["paused_by_reason"] == [{"reason": "Auto-Pause", "auto": True, "seconds": 1185.0, "pauses": 1}]
    assert o2["occupancy"] == round(200 / (54000 - 1185), 4) and o2["flagged"] is True
    # Оператор 117: calls 13 and 15 (50 + 40 s), rang 3 and 2 s; 00:30Z-02:00Z and 15:00Z-(open) = 9000 s
    assert (o117["talk_seconds"], o117["avg_talk_seconds"], o117["avg_ring_seconds"]) == (90.0, 45.0, 2.5)
    assert (o117["logged_in_seconds"], o117["paused_seconds"], o117["occupancy"], o117["flagged"]) == (
        9000.0, 0.0, 0.01, False)


def test_operators_are_sorted_by_calls_answered_and_an_auto_pause_alone_marks_one():
    """Pure: the order is calls answered first (names only break ties), and an operator whose
    ring-out fell in the period before (a call that began before midnight) but whose auto-pause is
    in this one is marked all the same."""
    from asterisk_bridge.calls.operator_time import OperatorTime
    from asterisk_bridge.report.operators import operator_figures

    def answered(interface: str, name: str, n: int) -> dict:
        return {"interface": interface, "name": name, "answered": n, "talk_n": n, "talk_sum": 60.0 * n}

    paused = OperatorTime(logged_in_ms=3_600_000, paused_ms=300_000, queues={"q"}, name="Яковлев", seen=True)
    paused.add_reason("Auto-Pause", True, 300_000, 1)
    ops = operator_figures([answered("PJSIP/1", "Абрамова", 1), answered("PJSIP/2", "Яковлев", 3),
                            answered("PJSIP/3", "Борисов", 3)], [], {"PJSIP/2": paused})
    assert [(o.name, o.answered) for o in ops] == [("Борисов", 3), ("Яковлев", 3), ("Абрамова", 1)]
    assert [(o.name, o.ring_outs, o.auto_pauses, o.flagged) for o in ops] == [
        ("Борисов", 0, 0, False), ("Яковлев", 0, 1, True), ("Абрамова", 0, 0, False)]
    assert ops[1].occupancy == pytest.approx(180.0 / (3600.0 - 300.0))  # talk / (logged in - paused)


def test_open_sessions_count_up_to_now_while_the_day_runs(setup):
    db, cfg = setup
    six = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc).timestamp()  # 14:00 local
    ops = {o["name"]: o for o in build_figures(db, cfg, DAY, DAY, now=six).to_json()["operators"]}
    assert ops["Оператор 2"]["logged_in_seconds"] == 5 * 3600.0  # 01:00Z-06:00Z
    assert ops["Оператор 117"]["logged_in_seconds"] == 5400.0  # the 15:00Z session has not begun
    only_117 = build_figures(db, cfg, DAY, DAY, now=six, line="117").to_json()
    assert [q["queue"] for q in only_117["queues"]] == ["q-default"]
    assert [o["name"] for o in only_117["operators"]] == ["Оператор 117", "Оператор 1"]  # 1 was in q-default


@pytest.mark.parametrize("abandons, expected", [("ignored", 3 / 8), ("against", 3 / 9), ("for", 4 / 9)])
def test_abandon_treatments(tmp_path, abandons, expected):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(write_config(tmp_path, db, abandons=abandons))
    f = figures_for(db, cfg)
    assert f.main.total.queue.service_level == pytest.approx(expected)
    assert f.to_json()["definitions"]["abandons"] == abandons


def test_comparison_and_totals(setup):
    db, cfg = setup
    j = figures_for(db, cfg).to_json()
    assert j["comparison"]["previous_day"]["counts"]["offered"] == 1  # 23:59:59.999 local on the 24th
    assert j["comparison"]["week_before"]["counts"]["offered"] == 2
    assert j["comparison"]["week_before"]["counts"]["abandoned_queue"] == 1
    assert j["month_to_date"]["total"]["offered"] == 16 + 1 + 2
    assert j["since_first_record"]["total"]["offered"] == 16 + 1 + 2 + 1
    assert j["first_record"] == "2026-10-10"
    # asked again, the same answer
    again = figures_for(db, cfg).to_json()
    assert again["since_first_record"] == j["since_first_record"]


def test_sql_buckets_agree_with_python(setup):
    db, _ = setup
    p = local_day(DAY, "Asia/Irkutsk")
    rows = rq.bucket_totals(db, p.start_utc, p.end_utc)
    by_bucket = {}
    for r in rows:
        by_bucket[r["bucket"]] = by_bucket.get(r["bucket"], 0) + r["calls"]
    expected = {}
    for c in DAY_CALLS:
        expected[outcome_bucket(c["outcome"])] = expected.get(outcome_bucket(c["outcome"]), 0) + 1
    expected[menu_bucket("topic")] = expected.get("no_ami", 0) + 1
    assert by_bucket == expected


def test_local_day_cut_across_utc_midnight():
    p = local_day(DAY, "Asia/Irkutsk")
    assert (p.start_utc, p.end_utc) == ("2026-11-24T16:00:00.000Z", "2026-11-25T16:00:00.000Z")
    # a DST day is 23 hours long and starts at the right instant
    berlin = local_day(date(2026, 3, 29), "Europe/Berlin")
    assert (berlin.start_utc, berlin.end_utc) == ("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")
    with pytest.raises(PeriodError, match="before it starts"):
        local_period(DAY, date(2026, 11, 1), "Asia/Irkutsk")
    with pytest.raises(PeriodError, match="Mars/Olympus"):
        local_day(DAY, "Mars/Olympus")


def test_ami_off_counts_from_menu_sessions(tmp_path):
    menus = [
        menu(1, "2026-11-24T16:30:00.000Z", "topic", topic="housing", age="30-40"),
        menu(2, "2026-11-25T02:00:00.000Z", "hangup"),
        menu(3, "2026-11-25T03:00:00.000Z", "selfservice", topic="hours", age="over-60"),
        menu(4, "2026-11-25T04:00:00.000Z", "topic", line="117", topic="conditions"),
        menu(5, "2026-11-25T16:00:00.000Z", "topic", topic="housing"),  # next local day
    ]
    db = make_db(tmp_path / "calls.db", [], menus)
    cfg = load_config(write_config(tmp_path, db))
    f = figures_for(db, cfg)
    j = f.to_json()
    assert j["source"] == "menu" and j["total"]["queue"] is None and j["total"]["ami_data"] is False
    assert j["completeness"]["complete"] is True  # AMI off is a mode, not a gap
    c = j["total"]["counts"]
    assert (c["offered"], c["abandoned_menu"], c["selfservice"], c["no_ami"]) == (4, 1, 1, 2)
    lines = {s["line"]: s for s in j["lines"]}
    assert {t["key"]: t["calls"] for t in lines["122"]["topics"]} == {"housing": 1, "": 1, "hours": 1}
    assert {a["key"]: a["calls"] for a in j["total"]["age_groups"]}["unknown"] == 2
    _, text, html = render_summary(f, cfg)
    assert "Данных AMI нет" in text and "нет данных AMI" in html


# ------------------------------------------------------------------ rendering


def test_html_escapes_hostile_name_and_masks_numbers(setup):
    db, cfg = setup
    subject, text, html = render_summary(figures_for(db, cfg), cfg)
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "79161234567" not in html and "79161234567" not in text and "7916***4567" in html
    assert "123-45-67" not in html and "123-45-67" not in text  # nor the number in a caller name
    assert HOSTILE in text  # plain text is not HTML: shown as typed
    assert subject == "Контакт-центр: сводка за 25 ноября 2026: 16 звонков (данные неполные)"
    assert "Данные неполные" in html and "1 звонок с неизвестным окончанием" in text
    # footer prints the definitions and thresholds used
    assert "порог T = 20 с" in text and "отвеченные за T / ожидавшие" in text and "до 5 с" in html


def test_english_templates(tmp_path):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(write_config(tmp_path, db, language="en"))
    subject, text, html = render_summary(figures_for(db, cfg), cfg)
    assert subject == "Contact center summary for 25 November 2026: 16 calls (data incomplete)"
    assert "threshold T = 20 s" in text and "Calls by hour" in html and 'lang="en"' in html


@pytest.mark.parametrize("n, word", [(1, "звонок"), (2, "звонка"), (5, "звонков"), (11, "звонков"),
                                     (21, "звонок"), (12, "звонков"), (104, "звонка"), (0, "звонков")])
def test_plural_ru(n, word):
    assert plural_ru(n, "звонок", "звонка", "звонков") == word


def test_broken_template_directory(tmp_path):
    db = day_db(tmp_path / "calls.db")
    broken = tmp_path / "my-templates"
    broken.mkdir()
    (broken / "summary.ru.html").write_text("{% for x in %}", encoding="utf-8")
    cfg = load_config(_with_templates(tmp_path, db, broken))
    with pytest.raises(SummaryTemplateError) as err:
        render_summary(figures_for(db, cfg), cfg)
    assert "summary.ru.html" in str(err.value) and str(broken) in str(err.value) and "line 1" in str(err.value)
    cfg = load_config(_with_templates(tmp_path, db, tmp_path / "missing"))
    with pytest.raises(SummaryTemplateError, match="missing.*not a directory"):
        render_summary(figures_for(db, cfg), cfg)


def test_templates_dir_overrides_one_language_or_only_the_wording(tmp_path):
    db = day_db(tmp_path / "calls.db")
    mine = tmp_path / "my-templates"
    mine.mkdir()
    (mine / "summary.ru.txt").write_text("свой текст: {{ total.counts.offered }}\n", encoding="utf-8")
    shipped = (shipped_templates_dir() / "_labels.en.j2").read_text(encoding="utf-8")
    (mine / "_labels.en.j2").write_text(shipped.replace('"Calls offered"', '"Calls that came in"'), encoding="utf-8")
    cfg = load_config(_with_templates(tmp_path, db, mine))
    _, text, html = render_summary(figures_for(db, cfg), cfg)
    assert text == "свой текст: 16\n" and "Поступило звонков" in html  # ru: my text part, the shipped HTML
    _, text, html = render_summary(figures_for(db, cfg), cfg, language="en")
    assert "Calls that came in" in text and "Calls that came in" in html and "Calls offered" not in text


def _with_templates(tmp_path: Path, db: Path, directory: Path) -> Path:
    path = write_config(tmp_path, db)
    text = path.read_text(encoding="utf-8").replace(
        "[summary]\n", f'[summary]\ntemplates_dir = "{directory.as_posix()}"\n', 1)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ SMTP and the scheduler


class Sink(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


@pytest.fixture
def smtp_port():
    return free_port()


def _smtp_config(tmp_path: Path, db: Path, port: int, catch_up: int = 7) -> Path:
    path = write_config(tmp_path, db)
    text = path.read_text(encoding="utf-8").replace(
        "[summary]\n", f"[summary]\ncatch_up_days = {catch_up}\nsend_at = \"07:30\"\n", 1)
    text += (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nsender = "cc@example.ru"\n'
             f'recipients = ["head@example.ru"]\ntimeout = 5.0\n')
    path.write_text(text, encoding="utf-8")
    return path


def _start_sink(port: int) -> tuple[Controller, Sink]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, sink


async def test_real_smtp_receives_both_parts_once(tmp_path, smtp_port):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(_smtp_config(tmp_path, db, smtp_port))
    controller, sink = _start_sink(smtp_port)
    try:
        assert await send_summary(cfg, db, DAY) is True
        assert await send_summary(cfg, db, DAY) is False  # recorded: not twice
        assert await send_summary(cfg, db, DAY, force=True) is True
    finally:
        controller.stop()
    assert len(sink.messages) == 2
    msg = email.message_from_string(sink.messages[0].as_string(), policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert "16 звонков" in str(msg["Subject"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "СВОДКА КОНТАКТ-ЦЕНТРА" in text and "&lt;script&gt;" in html and HOSTILE not in html


class FakeClock:
    def __init__(self, start: float):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_smtp_down_then_up_sent_exactly_once(tmp_path, smtp_port):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(_smtp_config(tmp_path, db, smtp_port, catch_up=0))
    # 2026-11-26 08:00 local: yesterday (the 25th) is due
    clock = FakeClock(datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc).timestamp())
    controller = sink = None

    async def sleep(seconds):
        nonlocal controller, sink
        await clock.sleep(seconds)
        if len(clock.sleeps) == 2 and controller is None:  # the server comes up after two failures
            controller, sink = _start_sink(smtp_port)

    scheduler = SummaryScheduler(cfg, db, clock=clock, sleep=sleep, retry_initial=10, retry_max=15)
    assert scheduler.due_days() == [DAY]
    try:
        assert await asyncio.wait_for(scheduler.send_day(DAY), 10) is True
        assert scheduler.due_days() == []
        assert await scheduler.send_day(DAY) is False
    finally:
        if controller:
            controller.stop()
    assert clock.sleeps == [10, 15]  # capped backoff
    assert len(sink.messages) == 1
    assert rq.summary_sent(db, DAY.isoformat())["recipients"] == "head@example.ru"


async def test_restart_after_missed_days_catches_up(tmp_path, smtp_port):
    db = make_db(tmp_path / "calls.db", DAY_CALLS + OTHER_CALLS, DAY_MENUS)
    cfg = load_config(_smtp_config(tmp_path, db, smtp_port, catch_up=2))
    # the service was down from the 24th; it starts on the 27th at 09:00 local (after send_at)
    clock = FakeClock(datetime(2026, 11, 27, 1, 0, tzinfo=timezone.utc).timestamp())
    rq.record_summary(db, "2026-11-24", sent_at=clock.now - 3 * 86400, recipients=["x@example.ru"],
                      subject="old", forced=False)
    controller, sink = _start_sink(smtp_port)
    stopped = asyncio.Event()

    async def sleep(seconds):
        await clock.sleep(seconds)
        stopped.set()
        await asyncio.Event().wait()  # park the loop after the catch-up round

    scheduler = SummaryScheduler(cfg, db, clock=clock, sleep=sleep)
    try:
        await scheduler.start()
        await asyncio.wait_for(stopped.wait(), 10)
        await scheduler.stop()
    finally:
        controller.stop()
    assert scheduler.sent == [date(2026, 11, 25), date(2026, 11, 26)]  # the 24th was sent before
    assert len(sink.messages) == 2
    assert clock.sleeps == [3600.0]  # then it waits for the next send time, waking at least hourly


# ------------------------------------------------------------------ CLI


def _cli() -> click.Group:
    @click.group()
    def main():
        pass

    main.add_command(commands.stats)
    main.add_command(commands.summary)
    return main


def test_stats_json_keys(setup):
    db, _ = setup
    config = db.parent / "asterisk-bridge.toml"
    result = CliRunner().invoke(_cli(), ["stats", "-c", str(config), "--from", "2026-11-01", "--to", "2026-11-30",
                                         "--format", "json"])
    assert result.exit_code == 0, result.output
    j = json.loads(result.output)
    # schema 1 still: keys are only ever added (operators and queues came with issue 14)
    assert j["schema"] == 1
    assert set(j) == {"schema", "period", "source", "definitions", "completeness", "total", "lines", "comparison",
                      "month_to_date", "since_first_record", "first_record", "calls", "operators", "queues"}
    assert set(j["operators"][0]) == {
        "interface", "name", "queues", "calls_answered", "talk_seconds", "avg_talk_seconds", "avg_ring_seconds",
        "ring_outs", "auto_pauses", "logged_in_seconds", "paused_seconds", "paused_by_reason", "occupancy", "flagged"}
    assert set(j["operators"][0]["paused_by_reason"][0]) == {"reason", "auto", "seconds", "pauses"}
    assert set(j["queues"][0]) == {
        "queue", "name", "lines", "offered", "answered", "abandoned", "short_abandon", "unanswered", "unknown",
        "queued", "answered_within", "abandoned_within", "service_level", "asa_seconds", "longest_wait_seconds"}
    assert set(j["completeness"]) == {"complete", "unknown_end", "in_progress", "incomplete_records", "ami_gap",
                                      "menu_missed"}
    assert set(j["total"]) == {"line", "name", "counts", "ami_data", "queue", "topics", "age_groups", "hours"}
    assert set(j["total"]["queue"]) == {"queued", "answered_within", "abandoned_within", "service_level",
                                        "asa_seconds", "longest_wait_seconds", "avg_talk_seconds", "abandon_rate"}
    assert j["total"]["counts"]["offered"] == 16 + 1 + 2 + 1  # 24th, 25th, 26th (00:00), 18th
    assert j["period"]["days"] == 30


def test_stats_line_csv_and_text(setup):
    db, _ = setup
    config = str(db.parent / "asterisk-bridge.toml")
    runner = CliRunner()
    result = runner.invoke(_cli(), ["stats", "-c", config, "--from", "2026-11-25", "--to", "2026-11-25",
                                    "--line", "117", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = result.output.splitlines()
    assert rows[0].startswith("kind,line,name,key,offered,answered") and rows[1].startswith("line,117,Линия 117,,3,2")
    result = runner.invoke(_cli(), ["stats", "-c", config, "--from", "2026-11-25", "--to", "2026-11-24"])
    assert result.exit_code == 2 and "2026-11-24 is before --from 2026-11-25" in result.output
    result = runner.invoke(_cli(), ["stats", "-c", config, "--from", "2026-11-25", "--to", "2026-11-25"])
    assert result.exit_code == 0 and "Поступило звонков" in result.output
    # the text has the per-queue and per-operator tables of the summary, the formula in its footer
    def section(heading: str) -> list[str]:
        return [" ".join(line.split()) for line in result.output.split(f"\n{heading}\n")[1].split("\n\n")[0].splitlines()]
    assert section("ПО ОЧЕРЕДЯМ")[1:] == ["Общая 3 2 0", "ЖКХ 5 2 1", "Здоровье 2 1 1"]
    assert section("ОПЕРАТОРЫ")[1:] == [
        "* Оператор 1 2 1 мин 20 с 4 с 1", "Оператор 117 2 45 с 2 с 0", "* Оператор 2 1 3 мин 20 с 6 с 1"]
    assert section("ОПЕРАТОРЫ: ВРЕМЯ")[5] == "автопауза — 19 мин 45 с (1)"
    assert "- Занятость: разговор / (в системе − на паузе)." in result.output


def test_summary_command_writes_files_and_csv(tmp_path):
    db = day_db(tmp_path / "calls.db")
    path = write_config(tmp_path, db)
    path.write_text(path.read_text(encoding="utf-8").replace("[summary]\n", "[summary]\ncsv = true\n", 1), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(_cli(), ["summary", "-c", str(path), "--date", "2026-11-25", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "summary-2026-11-25.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    assert "СВОДКА" in (out / "summary-2026-11-25.txt").read_text("utf-8")
    csv_text = (out / "summary-2026-11-25-calls.csv").read_text("utf-8")
    assert len(csv_text.splitlines()) == 1 + len(DAY_CALLS) and "79161234567" not in csv_text
    result = CliRunner().invoke(_cli(), ["summary", "-c", str(path), "--date", "25.11.2026"])
    assert result.exit_code == 2 and "not a date" in result.output


def test_summary_send_via_cli(tmp_path, smtp_port):
    db = day_db(tmp_path / "calls.db")
    path = _smtp_config(tmp_path, db, smtp_port)
    controller, sink = _start_sink(smtp_port)
    try:
        runner = CliRunner()
        args = ["summary", "-c", str(path), "--date", "2026-11-25", "--send"]
        assert runner.invoke(_cli(), args).exit_code == 0
        again = runner.invoke(_cli(), args)
        assert again.exit_code == 0 and "already sent" in again.output
    finally:
        controller.stop()
    assert len(sink.messages) == 1
