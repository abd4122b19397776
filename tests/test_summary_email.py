"""The summary email as its readers get it: mailed through a real SMTP server, opened in a real
browser at a phone's and a desktop's width, both parts showing the same figures."""

from __future__ import annotations

import asyncio
import email
import re
from datetime import date, datetime, timedelta, timezone
from email import policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from browser import DESKTOP, PHONE, horizontal_overflow, set_width
from email_view import figures, visible_text
from helpers import free_port
from report_fixture import (
    DAY_CALLS,
    DAY_LEGS,
    DAY_MENUS,
    DAY_PAUSES,
    DAY_RINGS,
    DAY_SESSIONS,
    HOSTILE,
    OTHER_CALLS,
    day_db,
    make_db,
    menu,
    write_config,
)

from asterisk_bridge.config import load_config
from asterisk_bridge.report.build import build_figures
from asterisk_bridge.report.render import render_summary
from asterisk_bridge.report.schedule import SummaryScheduler, send_summary

DAY = date(2026, 11, 25)
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()
LONG_NAME = "Линия 117: контрактная служба, консультации по военной службе"


class Sink(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


def _config(tmp_path: Path, db: Path, *, language: str = "ru", smtp_port: int | None = None) -> Path:
    """The report fixture's configuration, line 117 with a long name (as real ones have)."""
    path = write_config(tmp_path, db, language=language)
    text = path.read_text(encoding="utf-8").replace('name = "Линия 117"', f'name = "{LONG_NAME}"')
    if smtp_port is not None:
        text += (f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
                 f'sender = "Контакт-центр <cc@example.ru>"\nrecipients = ["head@example.ru"]\ntimeout = 5.0\n')
    path.write_text(text, encoding="utf-8")
    return path


async def _mailed(tmp_path: Path, db: Path, *, language: str = "ru") -> email.message.EmailMessage:
    port = free_port()
    cfg = load_config(_config(tmp_path, db, language=language, smtp_port=port))
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert await send_summary(cfg, db, DAY, now=NOW) is True
    finally:
        controller.stop()
    assert len(sink.messages) == 1
    return email.message_from_string(sink.messages[0].as_string(), policy=policy.default)


# ------------------------------------------------------------------ what the reader sees


def _fits(driver, page: Path, width: int, height: int) -> None:
    set_width(driver, width, height)
    driver.get(page.as_uri())
    scroll_width, inner_width = horizontal_overflow(driver)
    assert scroll_width <= inner_width, f"{page.name} at {width} px is {scroll_width} px wide"
    # nothing sticks out on the right either (overflow hidden would hide it from scrollWidth)
    widest = driver.execute_script(
        "return Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))")
    assert widest <= inner_width, f"an element of {page.name} ends at {widest} px, past {inner_width} px"
    # every table of figures is as wide as the sheet
    tables = driver.execute_script(
        "return [...document.querySelectorAll('table.grid')].map(t => Math.round(t.getBoundingClientRect().width))")
    assert len(tables) >= 8 and len(set(tables)) == 1, tables
    # figures never wrap: the text of a figure cell sits on one line, whatever the column width
    wrapped = driver.execute_script(
        "return [...document.querySelectorAll('table.grid td')].filter(td => td.style.whiteSpace == 'nowrap')"
        ".filter(td => { const r = document.createRange(); r.selectNodeContents(td);"
        " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1; })"
        ".map(td => td.textContent)")
    assert wrapped == []


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_the_mailed_summary_fits_a_phone_and_a_desktop(tmp_path, browser, language):
    msg = await _mailed(tmp_path, day_db(tmp_path / "calls.db"), language=language)
    page = tmp_path / "summary.html"
    page.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    for width, height in (PHONE, DESKTOP):
        _fits(browser, page, width, height)
    # on the phone the sheet uses the whole width: no grey frame wasting a fifth of it
    set_width(browser, *PHONE)
    browser.get(page.as_uri())
    sheet = browser.execute_script("return document.querySelector('.sheet').getBoundingClientRect().width")
    assert sheet == PHONE[0]


async def test_mail_headers_date_in_the_configured_zone_and_auto_submitted(tmp_path):
    msg = await _mailed(tmp_path, day_db(tmp_path / "calls.db"))
    sent = parsedate_to_datetime(msg["Date"])
    assert sent.utcoffset() == timedelta(hours=8)  # Asia/Irkutsk, not -0000
    assert sent.timestamp() == NOW
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "OOF" in msg["X-Auto-Response-Suppress"]
    assert msg.get_content_type() == "multipart/alternative"


# ------------------------------------------------------------------ the two parts agree


def _pairs(tmp_path: Path, language: str):
    """(what, text, html) for every kind of summary: the daily one, a stats period, a day without
    calls, a day known only from the menu."""
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(_config(tmp_path, db, language=language))
    kinds = {
        "daily": build_figures(db, cfg, DAY, DAY, now=NOW),
        "stats": build_figures(db, cfg, date(2026, 11, 1), DAY, context=False, notable=0, now=NOW),
        "no calls": build_figures(db, cfg, date(2026, 11, 20), date(2026, 11, 20), now=NOW),
    }
    menu_db = make_db(tmp_path / "menu.db", [], [menu(1, "2026-11-25T02:00:00.000Z", "topic", topic="housing"),
                                                 menu(2, "2026-11-25T03:00:00.000Z", "hangup", line="117")])
    (tmp_path / "menu").mkdir()
    menu_cfg = load_config(_config(tmp_path / "menu", menu_db, language=language))
    kinds["menu only"] = build_figures(menu_db, menu_cfg, DAY, DAY, now=NOW)
    for what, f in kinds.items():
        _, text, html = render_summary(f, menu_cfg if what == "menu only" else cfg)
        yield what, text, html


@pytest.mark.parametrize("language", ["ru", "en"])
def test_text_and_html_parts_show_the_same_figures(tmp_path, language):
    for what, text, html in _pairs(tmp_path, language):
        in_text, in_html = figures(text), figures(visible_text(html))
        assert in_text == in_html, (
            f"{what}: only in the text part {dict(in_text - in_html)}, only in the HTML {dict(in_html - in_text)}")


def test_the_parts_read_right(tmp_path):
    parts = {what: (text, visible_text(html), html) for what, text, html in _pairs(tmp_path, "ru")}
    text, seen, html = parts["daily"]
    assert "(среда) · узел pbx1 · время местное" in seen  # a space before the dot
    assert f"{LONG_NAME}\n" in text and f"{LONG_NAME}:" not in text  # no colon after a name that has one
    assert "Уровень обслуживания" in text.split("СРАВНЕНИЕ")[1]  # the comparison has its service level row
    hours = [line for line in text.splitlines() if re.fullmatch(r"  \d\d:00 +\d+( #+)?", line)]
    assert len(hours) == 24 and hours[9] == "  09:00      5 " + "#" * 40 and hours[1] == "  01:00      0"
    # a trunk that puts the number in the name: the masked number once, no name; a real name is shown
    row = next(line for line in text.splitlines() if "очередь не ответила" in line and "7916***4567" in line)
    assert row.count("7916***4567") == 1
    assert f"\n{' ' * 16}{HOSTILE}\n" in text and "&lt;script&gt;" in html  # under the number, as in HTML
    assert "Номера звонящих скрыты" in text and "Номера звонящих скрыты" in seen
    # a day without calls says so, not "no AMI data"
    text, seen, _ = parts["no calls"]
    assert "нет данных AMI" not in text.lower() and "нет данных AMI" not in seen.lower()
    assert text.split("ОЧЕРЕДИ")[1].split("\n")[1].strip() == "Звонков за период нет."
    # without numbers shown there is nothing masked to mention
    for what in ("stats", "no calls"):
        text, seen, _ = parts[what]
        assert "Номера звонящих скрыты" not in text and "Номера звонящих скрыты" not in seen, what
    text, seen, _ = parts["menu only"]
    assert "Данных AMI нет" in text and "нет данных AMI" in seen


def _section(text: str, heading: str) -> list[str]:
    """The lines of one section of the text part, from its heading to the blank line after it."""
    return text.split(f"\n{heading}\n")[1].split("\n\n")[0].splitlines()


def _html_rows(html: str, heading: str) -> list[tuple[list[str], bool]]:
    """(cells, highlighted) of every row under the HTML part's ``<h2>heading</h2>``."""
    table = html.split(f">{heading}</h2>")[1].split("</table>")[0]
    rows = []
    for row in table.split("<tr>")[2:]:  # after the header row
        cells = [re.sub(r"<[^>]+>", "", cell).replace("\xad", "") for cell in re.findall(r"<td.*?</td>", row)]
        rows.append((cells, "background-color" in row and "<strong>" in row))
    return rows


def _renamed(rows: list[dict], old: str, new: str) -> list[dict]:
    return [{k: new if v == old else v for k, v in row.items()} for row in rows]


def _day_db_with_operator_2_named(path: Path, name: str) -> Path:
    """The fixture day with Оператор 2 (one answer) under another name, so that an order by name
    and the order by calls answered differ."""
    tables = {table: _renamed(rows, "Оператор 2", name) for table, rows in (
        ("queue_legs", DAY_LEGS), ("ring_attempts", DAY_RINGS), ("operator_sessions", DAY_SESSIONS),
        ("operator_pauses", DAY_PAUSES))}
    return make_db(path, _renamed(DAY_CALLS + OTHER_CALLS, "Оператор 2", name), DAY_MENUS, **tables)


async def test_the_mailed_summary_has_every_queue_and_the_operators_sorted_and_marked(tmp_path):
    """The fixture day counted by hand in test_report.py, as the manager gets it: the per-queue
    table lists every configured queue, the operators are sorted by calls answered (Абрамова, who
    answered one call, comes last although her name sorts first) with the two who let a call ring
    out (one of them auto-paused) marked, paused time by reason, the occupancy formula in the
    footer and the calls the menu did not run for said in the note."""
    msg = await _mailed(tmp_path, _day_db_with_operator_2_named(tmp_path / "calls.db", "Абрамова"))
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert ("  - меню не работало для 1 звонка: мост был недоступен, звонящих поставила в очередь резервная "
            "ветка диалплана.") in text
    assert "Данные неполные" in visible_text(html) and "меню не работало для 1 звонка" in visible_text(html)
    # every queue of [queues], in its order: offered, answered, abandoned; then service level, ASA, longest wait
    assert [line.split() for line in _section(text, "ПО ОЧЕРЕДЯМ")[1:]] == [
        ["Общая", "3", "2", "0"], ["ЖКХ", "5", "2", "1"], ["Здоровье", "2", "1", "1"]]
    assert [" ".join(line.split()) for line in _section(text, "ПО ОЧЕРЕДЯМ: ОЖИДАНИЕ")[1:]] == [
        "Общая 50,0% 15 с 25 с", "ЖКХ 25,0% 20 с 5 мин 00 с", "Здоровье 50,0% 20 с 45 с"]
    assert [cells for cells, _ in _html_rows(html, "По очередям")] == [
        ["Общая", "3", "2", "0"], ["ЖКХ", "5", "2", "1"], ["Здоровье", "2", "1", "1"]]
    # sorted by calls answered (then name); * and a highlighted row for a ring-out or an auto-pause
    assert [" ".join(line.split()) for line in _section(text, "ОПЕРАТОРЫ")[1:]] == [
        "* Оператор 1 2 1 мин 20 с 4 с 1", "Оператор 117 2 45 с 2 с 0", "* Абрамова 1 3 мин 20 с 6 с 1"]
    assert [(cells[0], marked) for cells, marked in _html_rows(html, "Операторы")] == [
        ("Оператор 1", True), ("Оператор 117", False), ("Абрамова", True)]
    # logged in, paused (then by reason, the auto-pause named), total talk, occupancy
    assert [" ".join(line.split()) for line in _section(text, "ОПЕРАТОРЫ: ВРЕМЯ")[1:]] == [
        "* Оператор 1 12 ч 00 мин 30 мин 00 с 2 мин 40 с 0,4%",
        "обед — 30 мин 00 с (1), перерыв — 0 с (1)",
        "Оператор 117 2 ч 30 мин 0 с 1 мин 30 с 1,0%",
        "* Абрамова 15 ч 00 мин 19 мин 45 с 3 мин 20 с 0,4%",
        "автопауза — 19 мин 45 с (1)",
        "* — звонок уходил без ответа или очередь поставила оператора на автопаузу."]
    assert [cells for cells, _ in _html_rows(html, "Операторы: время")][-1] == ["автопауза — 19 мин 45 с (1)"]
    footer = text.split("\n--\n")[1]
    assert "- Занятость: разговор / (в системе − на паузе).\n" in footer
    assert "Занятость — разговор / (в системе − на паузе)." in visible_text(html)


def test_the_english_summary_says_the_menu_did_not_run_and_prints_the_occupancy_formula(tmp_path):
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(_config(tmp_path, db, language="en"))
    _, text, html = render_summary(build_figures(db, cfg, DAY, DAY, now=NOW), cfg)
    assert ("  - the menu did not run for 1 call: the bridge was down and the dialplan's fallback queued "
            "the callers.") in text
    assert [line.split()[:3] for line in _section(text, "OPERATORS")[1:]] == [
        ["*", "Оператор", "1"], ["Оператор", "117", "2"], ["*", "Оператор", "2"]]
    assert "auto-pause — 19 min 45 s (1)" in text and "- Occupancy: talk / (logged in − paused)." in text
    assert "the menu did not run for 1 call" in visible_text(html)


# ------------------------------------------------------------------ retries


async def test_a_mail_server_back_after_an_hour_gets_the_summary_within_five_minutes(tmp_path):
    port = free_port()
    db = day_db(tmp_path / "calls.db")
    cfg = load_config(_config(tmp_path, db, smtp_port=port))
    start = datetime(2026, 11, 26, 0, 0, tzinfo=timezone.utc).timestamp()  # 08:00 local
    now = start
    sleeps: list[float] = []
    sink = Sink()
    controller: Controller | None = None

    async def sleep(seconds: float) -> None:
        nonlocal now, controller
        sleeps.append(seconds)
        now += seconds
        if controller is None and now >= start + 3600:  # the mail server is back after an hour
            controller = Controller(sink, hostname="127.0.0.1", port=port)
            controller.start()
        await asyncio.sleep(0)

    scheduler = SummaryScheduler(cfg, db, clock=lambda: now, sleep=sleep)  # the service's defaults
    try:
        assert await asyncio.wait_for(scheduler.send_day(DAY), 30) is True
    finally:
        if controller is not None:
            controller.stop()
    assert max(sleeps) == 300.0  # the backoff stops growing at 5 min
    assert sleeps[:4] == [30.0, 60.0, 120.0, 240.0]
    assert start + 3600 <= now < start + 3600 + 300  # mailed within 5 min of the server's return
    assert len(sink.messages) == 1
