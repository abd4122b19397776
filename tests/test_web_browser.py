"""The web console in a real browser (headless Chromium, tests/browser.py): sign in, watch the
wallboard follow a real call through the bridge and the PBX simulator, open the call's
timeline, see the figures' chart, and no page scrolls sideways on a phone.

Selenium blocks, and the console runs on this test's event loop: every browser step runs in a
worker thread (``step``) so the bridge keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from browser import DESKTOP, PHONE, SCREENSHOTS, horizontal_overflow, set_width
from helpers import free_port
from web_support import PASSWORD, add_users, make_console

from asterisk_bridge.demo import demo_config, run_demo
from asterisk_bridge.pbxsim.ami_calls import CallScenario, call_events, play_events
from asterisk_bridge.pbxsim.ami_lists import QueueMemberState, QueueState
from asterisk_bridge.pbxsim.ami_server import AMIServer
from asterisk_bridge.pbxsim.driver import ids_from
from asterisk_bridge.pbxsim.queues import QueueModel
from asterisk_bridge.pbxsim.simulate import run_simulation, wait_for_bridge
from asterisk_bridge.service import Service
from asterisk_bridge.web.console import Console
from asterisk_bridge.web.server import WebServer

pytestmark = pytest.mark.timeout(180)

#: Where the README's screenshots are written when this is set (``docs``); otherwise next to the
#: failure screenshots.
DOCS = Path(os.environ.get("ASTERISK_BRIDGE_DOCS_SCREENSHOTS", SCREENSHOTS))
WALL = (1920, 1080)


async def step(function, *args):
    return await asyncio.to_thread(function, *args)


def wait_until(driver, condition, timeout: float, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message=what)


def text_of(driver, v: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'[data-v="{v}"]').text


def sign_in(driver, base: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base + "/")
    wait_until(driver, lambda d: "/login" in d.current_url, 5, "the wallboard asks for a sign-in")
    driver.find_element(By.ID, "name").send_keys("anna")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "body.board"), 5, "the wallboard after sign-in")
    wait_until(driver, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"), 5, "the live stream")


def fits(driver, url: str, width: int, height: int) -> tuple[int, int]:
    set_width(driver, width, height)
    driver.get(url)
    wait_until(driver, lambda d: d.execute_script("return document.readyState") == "complete", 5, url)
    return horizontal_overflow(driver)


async def test_sign_in_watch_a_real_call_reach_the_wallboard_then_its_timeline_and_the_figures(tmp_path, browser):
    from selenium.webdriver.common.by import By

    add_users(tmp_path, anna="admin")
    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05) as pbx:
        config = demo_config(tmp_path, ami_port=pbx.port, ami_secret="s3cret", web_port=0)
        config = dataclasses.replace(config, web=dataclasses.replace(config.web, users_file=str(tmp_path / "web-users")))
        async with Service(config) as service:
            base = service.web.url.rstrip("/")
            assert await wait_for_bridge(pbx, 5.0)
            await step(sign_in, browser, base)
            assert await step(text_of, browser, "l|122|answered_today") == "0"

            answered: list[float] = []

            def on_answer(kind: str, what) -> None:
                if kind == "call_update" and not answered and any(l.answered_at for l in what.record.legs):
                    answered.append(time.monotonic())

            service.gauges.watch(on_answer)
            result = await run_simulation(config, pbx, ("127.0.0.1", service.fastagi.port), seed=1, days=1,
                                          calls_per_day={"122": 1, "117": 0}, day_seconds=3.0)
            [scenario] = result.scenarios.values()
            assert scenario.operator is not None, "seed 1's one call is answered"

            def answer_shown() -> float:
                wait_until(browser, lambda d: text_of(d, "l|122|answered_today") == "1", 10, "the answer on the board")
                return time.monotonic()

            shown = await step(answer_shown)
            assert answered and shown - answered[0] <= 2.0, f"the board changed {shown - answered[0]:.2f} s after the answer"

            def timeline() -> list[str]:
                browser.get(base + "/calls")
                browser.find_element(By.CSS_SELECTOR, "table.calls tbody a").click()
                wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.timeline li"), 5, "the timeline")
                return [li.text for li in browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")]

            events = await step(timeline)
            call_url = browser.current_url
            joined = "\n".join(events)
            for expected in ("Звонок поступил на линию", "Голосовое меню", "нажата клавиша", "Встал в очередь",
                             "Ответил оператор", "Звонок завершён"):
                assert expected in joined, (expected, events)

            def chart() -> tuple[int, int]:
                browser.get(base + "/stats")
                svg = browser.find_element(By.CSS_SELECTOR, "#hours svg")
                return len(svg.find_elements(By.TAG_NAME, "rect")), svg.size["height"]

            bars, height = await step(chart)
            assert bars >= 1 and height >= 150

            def summary_frame() -> str:
                browser.get(f"{base}/summaries/{service.gauges.day}")
                browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe.mail"))
                try:
                    return browser.find_element(By.TAG_NAME, "h1").text
                finally:
                    browser.switch_to.default_content()

            assert await step(summary_frame) == "Сводка контакт-центра"  # the email, shown in its frame

            day = service.gauges.day
            pages = ["/", "/stats", "/calls", call_url.removeprefix(base), "/summaries", f"/summaries/{day}", "/status"]
            for path in pages:
                for width, height in (PHONE, WALL):
                    scroll, inner = await step(fits, browser, base + path, width, height)
                    assert scroll <= inner, f"{path} scrolls sideways at {width} px ({scroll} > {inner})"

            def sign_out() -> tuple[int, int]:
                set_width(browser, *DESKTOP)
                browser.get(base + "/status")
                browser.find_element(By.CSS_SELECTOR, ".who button").click()
                wait_until(browser, lambda d: "/login" in d.current_url, 5, "signed out")
                return fits(browser, base + "/login", *PHONE)

            scroll, inner = await step(sign_out)
            assert scroll <= inner


def waiting_calls(now: float) -> list[list]:
    """Callers who are in the menu or waiting in a queue at ``now``: each call's AMI events up to
    that moment (its menu, its QueueCallerJoin ``waited`` seconds ago), the rest never sent."""
    plans = [("122", "cc-122-housing", "housing", 74.0), ("122", "cc-122-housing", "housing", 31.0),
             ("122", "cc-122-social", "social", 12.0), ("117", "cc-117-conditions", "conditions", 7.0),
             ("122", None, None, None), ("117", None, None, None)]
    out = []
    for n, (line, queue, topic, waited) in enumerate(plans):
        scenario = CallScenario(name=line, line=line, menu="queue", queue=queue or f"cc-{line}-default",
                                topic=topic, result="topic", abandon_after=3600.0,
                                caller_number=f"7914{n:07d}", caller_name=f"7914{n:07d}")
        events = call_events(scenario, 0.0, ids_from(50_000 + n * 64))
        if waited is None:  # still in the menu: everything before the dialplan's AGI ends
            cut = next(i for i, (_, h) in enumerate(events) if h[0] == ("Event", "AGIExecStart")) + 1
            shift = now - 20.0
        else:
            cut = next(i for i, (_, h) in enumerate(events) if h[0] == ("Event", "QueueCallerJoin")) + 1
            shift = now - waited - events[cut - 1][0]
        out.append([(t + shift, headers) for t, headers in events[:cut]])
    return out


def on_duty(pbx: AMIServer, config, seed: int, midnight: float, now: float) -> None:
    """The demo's operators in their queues at ``now`` as Asterisk would list them: the ones on duty
    round the clock, and the day shift (paused when a planned break covers ``now``)."""
    model = QueueModel(config.queues, seed=seed)
    at = now - midnight
    for queue, staff in model.operators.items():
        members = pbx.queues.setdefault(queue, QueueState(queue)).members
        for member in staff:
            start, end = member.shift
            if not start <= at < end:
                continue
            pause = next((p for p in member.pauses if p[0] <= at < p[1]), None)
            members.append(QueueMemberState(
                member.operator.name, member.operator.interface, login_time=int(midnight + start - 3600 * member.static),
                membership="static" if member.static else "dynamic", paused=pause is not None,
                paused_reason=pause[2] if pause else "", last_pause=int(midnight + pause[0]) if pause else 0))


async def test_screenshots_of_the_wallboard_and_the_figures_of_a_demo_day(tmp_path, browser):
    """The README's pictures: a bridge on the demo day's database at 15:30 with callers waiting
    (the day's answers come from the database, the waiting callers and the operators on duty over
    AMI), and the day's figures."""
    from selenium.webdriver.common.by import By

    out = tmp_path / "demo"
    result = await run_demo(out, seed=1, day_seconds=10.0, progress=False)
    tz = ZoneInfo(result.config.timezone)
    now = datetime.combine(result.day, datetime.min.time().replace(hour=15, minute=30), tzinfo=tz).timestamp()
    await asyncio.to_thread(DOCS.mkdir, parents=True, exist_ok=True)

    def board(url: str) -> None:
        set_width(browser, *WALL)
        browser.get(url)
        wait_until(browser, lambda d: "on" in d.find_element(By.ID, "live").get_attribute("class"), 5, "live")
        assert text_of(browser, "q|cc-122-housing|longest_wait") in ("1:14", "1:15")
        assert horizontal_overflow(browser)[0] <= WALL[0]
        set_width(browser, WALL[0], browser.execute_script("return document.documentElement.scrollHeight"))
        browser.save_screenshot(str(DOCS / "wallboard.png"))  # the whole board, the operators' cards too

    def stats(url: str) -> None:
        set_width(browser, WALL[0], 1000)
        browser.get(url + "stats")
        set_width(browser, WALL[0], browser.execute_script("return document.documentElement.scrollHeight"))
        assert horizontal_overflow(browser)[0] <= WALL[0]
        browser.save_screenshot(str(DOCS / "stats.png"))

    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05,
                         clock=lambda: now) as pbx:
        config = demo_config(out, ami_port=pbx.port, ami_secret="s3cret", web_port=0)
        midnight = datetime.combine(result.day, datetime.min.time(), tzinfo=tz).timestamp()
        on_duty(pbx, config, 1, midnight, now)
        async with Service(config, clock=lambda: now) as service:
            assert await wait_for_bridge(pbx, 5.0)
            await step(stats, service.web.url)  # the day's figures, before the callers below are in progress
            for events in waiting_calls(now):
                await play_events(pbx, events, float("inf"))
            async with asyncio.timeout(5):
                while sum(f["waiting"] for f in service.gauges.figures(now)["lines"].values()) < 4:
                    await asyncio.sleep(0.05)
            figures = service.gauges.figures(now)
            assert figures["lines"]["122"]["in_menu"] == 1 and figures["lines"]["122"]["waiting"] == 3
            assert figures["lines"]["122"]["answered_today"] > 100  # from the database: the day so far
            states = {o["state"] for o in figures["operators"].values()}
            assert {"available", "paused"} <= states, states  # lunch time for some
            await step(board, service.web.url)
    assert all((DOCS / name).stat().st_size > 20_000 for name in ("wallboard.png", "stats.png"))


def _restarted(console: Console) -> Console:
    """The console a restarted service would have: the same settings and live figures, no sessions."""
    return Console(console.config, console.db_path, console.gauges, status=console.status, clock=console.clock)


async def _serve_on_a_fixed_port(console: Console) -> WebServer:
    server = WebServer(console)
    await server.start()
    return server


def _live_state(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "live").get_attribute("class")


@pytest.mark.parametrize("users", [False, True], ids=["loopback", "signed-in"])
async def test_the_wallboard_reconnects_by_itself_when_the_console_comes_back(tmp_path, browser, users):
    """The console goes away (a restart, a proxy dropping the stream) and comes back on the same
    port: the open board says the stream is lost, then follows the figures again with nobody
    touching it; signed in, it passes through the login page (a restart signs everyone out) and
    comes back to the board after the sign-in."""
    from selenium.webdriver.common.by import By

    console = make_console(tmp_path, users={"anna": "admin"} if users else None)
    console.config = dataclasses.replace(console.config, web=dataclasses.replace(console.config.web, port=free_port()))
    server = await _serve_on_a_fixed_port(console)
    base = server.url.rstrip("/")
    try:
        if users:
            await step(sign_in, browser, base)
        else:
            await step(browser.get, base + "/")
            await step(wait_until, browser, lambda d: "on" in _live_state(d), 5, "the live stream")
        assert await step(text_of, browser, "l|122|in_menu") == "0"
        await server.stop()
        await step(wait_until, browser, lambda d: "off" in _live_state(d), 5, "the board says the stream is lost")
        console = _restarted(console)
        server = await _serve_on_a_fixed_port(console)
        if users:
            def sign_in_again() -> None:
                wait_until(browser, lambda d: "/login" in d.current_url, 15, "the login page after the restart")
                browser.find_element(By.ID, "name").send_keys("anna")
                browser.find_element(By.ID, "password").send_keys(PASSWORD)
                browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
                wait_until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "body.board"), 5, "back on the board")

            await step(sign_in_again)
        await step(wait_until, browser, lambda d: "on" in _live_state(d), 15, "the stream again, by itself")
        console.gauges.menu_entered("session-after", "122")
        await step(wait_until, browser, lambda d: text_of(d, "l|122|in_menu") == "1", 2, "a change after the return")
    finally:
        await server.stop()


FAILING = '''
def test_a_page_that_fails(browser):
    browser.get("data:text/html,<h1 style='font-size:80px'>the failing page</h1>")
    assert browser.title == "a title it does not have"
'''


def test_a_failing_browser_test_leaves_a_screenshot_of_its_page(tmp_path, _chromium):
    """The suite's own hooks and browser fixture (tests/conftest.py, loaded as a plugin) on a test
    that fails: pytest reports the failure and the page it was on is saved as a PNG."""
    (tmp_path / "test_failing.py").write_text(FAILING, encoding="utf-8")
    shots = tmp_path / "shots"
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tests), os.environ.get("PYTHONPATH")])),
           "ASTERISK_BRIDGE_TEST_SCREENSHOTS": str(shots)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-s", "-p", "no:cacheprovider",
                          "test_failing.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "1 failed" in run.stdout, run.stdout + run.stderr
    shot = shots / "test_a_page_that_fails.png"
    assert f"screenshot of the failing page: {shot}" in run.stdout
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 2_000
