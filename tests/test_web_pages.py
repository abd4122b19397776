"""The web console's pages through aiohttp's test client: figures, calls, timelines, summaries,
bad parameters and masking. (Access rules: test_web_access.py; the live parts: test_web_live.py.)"""

from __future__ import annotations

import email
import logging
import re
import time
from email import policy

from aiosmtpd.controller import Controller
from click.testing import CliRunner

from helpers import free_port
from report_fixture import HOSTILE, call, make_db, menu
from web_support import client_of, form_token, make_console, sign_in

from asterisk_bridge.cli import main
from asterisk_bridge.privacy import hash_number
from asterisk_bridge.store import maintenance

FULL_NUMBER = "79161234567"  # every call of the report fixture comes from it


# -- figures ---------------------------------------------------------------------------------------


async def test_stats_downloads_are_byte_for_byte_what_the_stats_command_prints(tmp_path, monkeypatch):
    # the console's clock is the command's: an operator still logged in counts up to "now", the
    # same instant for both (a request and the command a few ms later could straddle 0.1 s)
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)
    console = make_console(tmp_path, clock=time.time)
    config_path = tmp_path / "asterisk-bridge.toml"
    runner = CliRunner()
    async with client_of(console) as client:
        for query, args in (("from=2026-11-25&to=2026-11-25", ["--from", "2026-11-25", "--to", "2026-11-25"]),
                            ("from=2026-11-01&to=2026-11-30&line=122",
                             ["--from", "2026-11-01", "--to", "2026-11-30", "--line", "122"])):
            for kind in ("json", "csv"):
                response = await client.get(f"/stats.{kind}?{query}")
                assert response.status == 200
                cli = runner.invoke(main, ["stats", "-c", str(config_path), *args, "--format", kind])
                assert cli.exit_code == 0, cli.output
                assert await response.read() == cli.stdout_bytes, (query, kind)
                assert "attachment" in response.headers["Content-Disposition"]


async def test_stats_page_shows_the_engines_figures_the_chart_and_the_formulas(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        response = await client.get("/stats")  # today = the fixture day
        html = re.sub("[\xa0\u202f]", " ", await response.text())  # Babel's no-break spaces
    assert response.status == 200
    assert '<div class="v" id="kpi-offered">16</div>' in html  # 13 calls on 122, 3 on 117 (test_report)
    assert "за 25 ноября 2026 г. (среда)" in html
    assert "<svg viewBox=\"0 0 24 100\"" in html and html.count("<rect class=\"s") >= 5
    assert "Уровень обслуживания (20 с)" in html and "33,3%" in html
    assert "брошенные считаются против: отвеченные за T / ожидавшие" in html  # the formula in force
    assert "Данные неполные" in html  # unknown end, in progress, AMI gap
    assert "/calls?from=2026-11-25&amp;to=2026-11-25&amp;outcome=answered" in html


async def test_stats_page_shows_the_queues_and_the_operators(tmp_path):
    async with client_of(make_console(tmp_path, clock=time.time)) as client:
        html = re.sub("[\xa0\u202f]", " ", await (await client.get("/stats?from=2026-11-25&to=2026-11-25")).text())
    queues = html.split('id="by-queue"')[1].split("</section>")[0]
    # every queue of the configuration, with the figures of test_report's hand count
    assert [re.sub("<[^>]+>", "", row.split("</td>")[0]) for row in queues.split("<tr>")[2:]] == [
        "Общая", "ЖКХ", "Здоровье"]
    housing = queues.split("ЖКХ")[1].split("</tr>")[0]
    assert [re.sub("<[^>]+>", "", cell) for cell in re.findall(r'<td class="n"[^>]*>.*?</td>', housing)] == [
        "5", "2", "1", "25,0%", "20 с", "5 мин 00 с"]
    operators = html.split('id="operators"')[1].split("</section>")[0]
    # sorted by calls answered; one who let a call ring out or was auto-paused is highlighted
    assert [name for name in re.findall(r'operator=[^"]+"[^>]*>([^<]+)</a>', operators)] == [
        "Оператор 1", "Оператор 117", "Оператор 2"]
    assert operators.count('<tr class="flagged">') == 2
    assert "автопауза — 19 мин 45 с (1)" in operators and "обед — 30 мин 00 с (1)" in operators
    assert "/calls?from=2026-11-25&amp;to=2026-11-25&amp;operator=%D0%9E%D0%BF%D0%B5%D1%80%D0%B0%D1%82%D0%BE%D1%80+2" \
        in operators
    assert "Занятость" in html and "разговор / (в системе − на паузе)." in html  # the formula in the footer


async def test_stats_page_shows_the_topics_and_age_groups_the_stats_command_reports(tmp_path):
    """Per line and in total, in the engine's order, each with its count and share (the same
    figures as /stats.json, so the same as `stats --format json`)."""
    async with client_of(make_console(tmp_path)) as client:
        query = "from=2026-11-01&to=2026-11-30"
        html = re.sub("[\xa0\u202f]", " ", await (await client.get(f"/stats?{query}")).text())
        data = await (await client.get(f"/stats.json?{query}")).json()

    def rows(body: str) -> list[tuple[int, str]]:
        return [(int(calls), share) for calls, share in
                re.findall(r'<td class="n">(\d+)</td><td class="n">([^<]+)</td>', body)]

    def shares(items: list[dict]) -> list[tuple[int, str]]:
        return [(item["calls"], f"{item['share'] * 100:.1f}%".replace(".", ",")) for item in items]

    topics = html.split("<h2>Темы</h2>")[1].split("</section>")[0]
    tables = re.findall(r"<h3>(.*?)</h3>\s*<table[^>]*><tbody>(.*?)</tbody>", topics, re.S)
    assert [name for name, _ in tables] == ["Всего", "Линия 122", "Линия 117"]
    expected = [data["total"]["topics"], *[line["topics"] for line in data["lines"]]]
    assert [rows(body) for _, body in tables] == [shares(items) for items in expected]
    assert sum(calls for calls, _ in rows(tables[1][1])) == data["lines"][0]["counts"]["offered"]
    ages = html.split("<h2>Возраст звонящих</h2>")[1].split("</section>")[0]
    assert rows(ages) == shares(data["total"]["age_groups"]) and len(rows(ages)) >= 3
    assert "не указан" in ages


async def test_stats_in_english_uses_the_english_summary_wording(tmp_path):
    async with client_of(make_console(tmp_path, web='language = "en"')) as client:
        html = await (await client.get("/stats")).text()
    assert '<html lang="en">' in html and "Calls offered" in html and "Service level (20 s)" in html
    assert "Wallboard" in html and "Табло" not in html


async def test_bad_parameters_are_answered_400_with_the_reason(tmp_path):
    cases = {
        "/stats?from=2026-13-01": "from: '2026-13-01' is not a date like 2026-11-25",
        "/stats?from=2026-11-25&to=2026-11-01": "to: 2026-11-01 is before from (2026-11-25)",
        "/stats?line=<b>": "line: '<b>' is not a line number like 122",
        "/stats?form=2026-11-01": "form: unknown parameter (this page takes: from, to, line)",
        "/stats?line=122&line=117": "line: given more than once",
        "/stats.json?to=yesterday": "to: 'yesterday' is not a date",
        "/calls?outcome=lost": "outcome: 'lost' is not one of answered, abandoned_menu",
        "/calls?caller=ivan": "caller: 'ivan' is not a caller number",
        "/calls?before=2026-11-25": "before: '2026-11-25' is not a page marker",
        "/?refresh=1": "refresh: unknown parameter (this page takes: none)",
        "/calls/a%20b": "call: 'a b' is not a call id",
        "/summaries/2026-02-30": "day: '2026-02-30' is not a date",
    }
    async with client_of(make_console(tmp_path)) as client:
        for path, reason in cases.items():
            response = await client.get(path)
            text = await response.text()
            assert response.status == 400, path
            assert reason in text.replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">"), (path, text[-600:])


async def test_unknown_pages_and_calls_are_404(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        for path in ("/nope", "/calls/1795600000.999", "/static/nothing.css", "/stats.xml"):
            response = await client.get(path)
            assert response.status == 404, path
        page = await client.get("/nope")
        assert "Страница не найдена" in await page.text()
        assert (await client.get("/stats.xml")).headers["Content-Type"].startswith("text/html")


# -- calls -----------------------------------------------------------------------------------------


def call_ids(html: str) -> list[str]:
    return re.findall(r'href="/calls/([^"]+)"', html)


async def test_the_days_calls_newest_first_masked_and_escaped(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        response = await client.get("/calls")
        html = await response.text()
    assert response.status == 200
    ids = call_ids(html)
    # the fixture day: 15 AMI calls and one session AMI missed (gap.1, 13:00 local)
    assert len(ids) == 16 and ids[0] == "1795600000.15" and ids[-1] == "1795600000.1"
    assert ids.index("gap.1") < ids.index("1795600000.11")  # 13:00 is after 12:00
    assert FULL_NUMBER not in html and "7916***4567" in html
    assert "+7 916 123-45-67" not in html  # a number inside a caller name is masked too
    assert HOSTILE not in html and "&lt;script&gt;" in html
    assert "только меню" in html


async def test_call_filters_line_outcome_topic_queue_operator(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        async def ids(query: str) -> list[str]:
            response = await client.get(f"/calls?{query}")
            assert response.status == 200, query
            return call_ids(await response.text())

        assert await ids("line=117") == ["1795600000.15", "1795600000.14", "1795600000.13"]
        assert await ids("outcome=answered") == ["1795600000.15", "1795600000.3", "1795600000.2",
                                                 "1795600000.13", "1795600000.1"]
        assert await ids("outcome=no_ami") == ["gap.1"]
        assert await ids("outcome=unanswered&line=122") == ["1795600000.9"]
        assert set(await ids("topic=housing")) == {"gap.1", "1795600000.10", "1795600000.9", "1795600000.4",
                                                   "1795600000.2", "1795600000.1"}
        assert "1795600000.6" in await ids("queue=q-housing")
        assert len(await ids("operator=оПеРаТоР")) == 5  # any case, a part of the name
        assert await ids("operator=Петров") == []
        assert len(await ids("from=2026-11-18&to=2026-11-18")) == 2
        assert len(await ids("from=2026-10-01&to=2026-11-30")) == 21


async def test_a_caller_is_found_by_the_masked_form_the_full_number_or_the_retention_hash(tmp_path):
    salt = tmp_path / "salt"
    salt.write_text("pepper\n")
    salt.chmod(0o600)
    db = make_db(tmp_path / "calls.db", [
        call(1, "2026-11-25T01:00:00.000Z", "answered", wait=5, talk=30),
        call(2, "2026-11-25T02:00:00.000Z", "answered", wait=5, talk=30, number="79991112233"),
        call(3, "2024-01-10T02:00:00.000Z", "answered", wait=5, talk=30),  # old: its number gets hashed
    ], [menu(9, "2026-11-25T03:00:00.000Z", "hangup", linkedid="m.9")])
    maintenance.apply_retention_to_file(db, now=1767000000.0, hash_after_days=365, drop_steps_after_days=None,
                                        salt="pepper")
    hashed = "h:" + hash_number(FULL_NUMBER, "pepper")
    console = make_console(tmp_path, db=db, sections=f'[privacy]\nsalt_file = "{salt}"')
    async with client_of(console) as client:
        async def ids(caller: str) -> list[str]:
            response = await client.get("/calls", params={"from": "2020-01-01", "to": "2026-11-25", "caller": caller})
            assert response.status == 200, caller
            return call_ids(await response.text())

        assert await ids("7916***4567") == ["1795600000.1"]
        assert await ids("7999***2233") == ["1795600000.2"]
        assert await ids("+7 (916) 123-45-67") == ["1795600000.1", "1795600000.3"]  # raw and hashed
        assert await ids(hashed) == ["1795600000.3"]
        assert await ids("79160000000") == ["m.9"]  # a menu-only session
        assert await ids("****00") == []  # masked short numbers keep their length
        html = await (await client.get("/calls", params={"from": "2020-01-01", "to": "2026-11-25"})).text()
        assert hashed in html and FULL_NUMBER not in html  # a hash names nobody: shown as it is


async def test_caller_numbers_are_shown_in_full_only_when_privacy_allows(tmp_path):
    console = make_console(tmp_path, sections="[privacy]\nmask_callers = false")
    async with client_of(console) as client:
        html = await (await client.get("/calls")).text()
        call_html = await (await client.get("/calls/1795600000.2")).text()
    assert FULL_NUMBER in html and FULL_NUMBER in call_html


async def test_calls_come_in_pages_of_50_with_no_call_twice(tmp_path):
    calls = [call(n, f"2026-11-25T{n // 60:02d}:{n % 60:02d}:00.000Z", "answered", wait=5, talk=30)
             for n in range(1, 121)]
    menus = [menu(n, f"2026-11-25T{n // 60:02d}:{n % 60:02d}:30.000Z", "hangup", linkedid=f"m.{n}")
             for n in range(1, 121, 10)]  # 12 calls AMI never saw, between the others
    db = make_db(tmp_path / "calls.db", calls, menus)
    seen: list[str] = []
    async with client_of(make_console(tmp_path, db=db)) as client:
        url = "/calls?line=122"
        pages = 0
        while url:
            html = await (await client.get(url)).text()
            seen += call_ids(html)
            pages += 1
            found = re.search(r'<a href="(\?[^"]+)">Дальше', html)
            url = "/calls" + found.group(1).replace("&amp;", "&") if found else ""
    assert pages == 3 and len(seen) == 132 and len(set(seen)) == 132
    assert seen[:3] == ["1795600000.120", "1795600000.119", "1795600000.118"]
    assert seen.index("m.111") == seen.index("1795600000.111") - 1  # 01:51:30 comes before 01:51:00
    assert seen[-1] == "1795600000.1"


async def test_a_calls_timeline_puts_menu_steps_queue_legs_answer_and_hang_up_in_order(tmp_path):
    from sqlite_utils import Database

    row = call(7, "2026-11-25T02:00:00.000Z", "answered", wait=40, talk=95, topic="housing", age="30-40")
    row.update(answered_at="2026-11-25T02:00:49.000Z", ended_at="2026-11-25T02:02:24.000Z", hangup_by="caller",
               hangup_cause=16, hangup_cause_text="Normal Clearing", queue="q-housing", operator="Оператор 2")
    session = menu(7, "2026-11-25T02:00:00.500Z", "topic", topic="housing", linkedid="1795600000.7")
    session.update(queue="q-housing", ended_at="2026-11-25T02:00:09.000Z", step_count=3)
    db = make_db(tmp_path / "calls.db", [row], [session])
    database = Database(db)
    database["menu_steps"].insert_all([
        {"session_id": session["session_id"], "seq": 0, "at": "2026-11-25T02:00:01.000Z", "kind": "prompt",
         "menu": "122", "prompt": "cc/menu", "key": None},
        {"session_id": session["session_id"], "seq": 1, "at": "2026-11-25T02:00:04.000Z", "kind": "invalid",
         "menu": "122", "prompt": None, "key": "7"},
        {"session_id": session["session_id"], "seq": 2, "at": "2026-11-25T02:00:07.000Z", "kind": "key",
         "menu": "122", "prompt": None, "key": "1"}])
    database["queue_legs"].insert({
        "linkedid": "1795600000.7", "seq": 0, "queue": "q-housing", "joined_at": "2026-11-25T02:00:09.000Z",
        "left_at": "2026-11-25T02:00:49.000Z", "position": 2, "wait_seconds": 40.0, "answered_by": "Оператор 2",
        "answered_interface": "PJSIP/op2", "answered_at": "2026-11-25T02:00:49.000Z", "talk_seconds": 95.0,
        "completed_by": "caller", "abandoned": 0, "left_reason": None, "ring_attempts": 3})
    database.conn.close()
    async with client_of(make_console(tmp_path, db=db)) as client:
        html = await (await client.get("/calls/1795600000.7")).text()
    events = re.findall(r'<span class="t">\+([0-9:]+)</span><span class="t abs">([0-9:]+)</span>\s*<span class="e">\s*(.*?)\s*</span>\s*</li>',
                        html, re.S)
    text = [(offset, clock, re.sub(r"<[^>]+>", "", what).split("\n")[0].strip()) for offset, clock, what in events]
    assert text == [
        ("0:00", "10:00:00", "Звонок поступил на линию"),
        ("0:00", "10:00:00", "Голосовое меню"),
        ("0:01", "10:00:01", "подсказка · cc/menu"),
        ("0:04", "10:00:04", "неверная клавиша 7"),
        ("0:07", "10:00:07", "нажата клавиша 1"),
        ("0:09", "10:00:09", "Меню завершено: выбрана тема · ЖКХ → q-housing"),
        ("0:09", "10:00:09", "Встал в очередь q-housing · позиция 2"),
        ("0:49", "10:00:49", "Вызов операторов: 3 попытки"),
        ("0:49", "10:00:49", "Ответил оператор Оператор 2 · ожидание 40 с"),
        ("2:24", "10:02:24", "Разговор окончен · разговор 1 мин 35 с"),
        ("2:24", "10:02:24", "Звонок завершён: отвечен · положил трубку: звонящий · причина: Normal Clearing"),
    ]
    assert "7916***4567" in html and FULL_NUMBER not in html


async def test_a_call_known_only_from_its_menu_has_a_timeline_too(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        html = await (await client.get("/calls/gap.1")).text()
    assert "AMI этот звонок не видел" in html and "Меню завершено: выбрана тема · ЖКХ" in html
    assert "Шаги меню удалены" in html  # step_count 3, no steps stored


# -- summaries -------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def smtp_section(port: int) -> str:
    return (f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nsender = "cc@example.ru"\n'
            'recipients = ["head@example.ru"]\ntimeout = 5.0')


async def test_an_admin_sends_a_days_summary_again_and_the_copy_mailed_is_kept(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="asterisk_bridge.web")
    port = free_port()
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        console = make_console(tmp_path, users={"anna": "admin", "vera": "viewer"}, sections=smtp_section(port))
        async with client_of(console) as client:
            await sign_in(client, "vera")
            page = await (await client.get("/summaries")).text()
            assert "Отправлять сводки может администратор" in page and "/summaries/send" not in page
            token = form_token(await (await client.get("/")).text())
            refused = await client.post("/summaries/2026-11-24/send", data={"csrf": token}, allow_redirects=False)
            assert refused.status == 403 and not sink.messages
            client.session.cookie_jar.clear()
            await sign_in(client, "anna")
            token = form_token(await (await client.get("/summaries")).text())
            sent = await client.post("/summaries/send", data={"csrf": token, "day": "2026-11-24"},
                                     allow_redirects=False)
            assert sent.status == 303 and sent.headers["Location"] == "/summaries?sent=2026-11-24"
            log_page = await (await client.get(sent.headers["Location"])).text()
            assert "Сводка отправлена" in log_page and "head@example.ru" in log_page
            copy = await client.get("/summaries/2026-11-24.html")
            mailed = sink.messages[0].get_body(("html",)).get_content()
            assert await copy.text() == mailed  # exactly what the recipients got
            assert "style-src 'unsafe-inline'" in copy.headers["Content-Security-Policy"]
            assert "script" not in copy.headers["Content-Security-Policy"]
            view = await (await client.get("/summaries/2026-11-24")).text()
            assert "Так, как её получили адресаты" in view and 'sandbox' in view
            today = await client.post("/summaries/2026-11-25/send", data={"csrf": token}, allow_redirects=False)
            assert today.status == 400 and "is not over yet" in await today.text()
    finally:
        controller.stop()
    assert len(sink.messages) == 1
    assert any("anna sent the summary for 2026-11-24 again" in r.getMessage() for r in caplog.records)


async def test_a_day_never_mailed_is_rendered_now_and_says_so(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        view = await (await client.get("/summaries/2026-11-25")).text()
        frame = await client.get("/summaries/2026-11-25.html")
        html = await frame.text()
        log_page = await (await client.get("/summaries")).text()
    assert "показана по данным на сейчас" in view
    assert frame.status == 200 and "Сводка контакт-центра" in html and "&lt;script&gt;" in html
    assert "Почта не настроена" in log_page and "Сводки ещё не отправлялись" in log_page


async def test_sending_without_mail_set_up_says_so(tmp_path):
    async with client_of(make_console(tmp_path)) as client:
        token = form_token(await (await client.get("/summaries")).text())
        response = await client.post("/summaries/2026-11-24/send", data={"csrf": token})
        assert response.status == 409 and "Почта не настроена" in await response.text()
