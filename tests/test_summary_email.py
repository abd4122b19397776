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
from report_fixture import HOSTILE, day_db, make_db, menu, write_config

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
