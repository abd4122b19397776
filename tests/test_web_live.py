"""The live parts of the web console: the wallboard's event stream, the bridge's own console
inside a running service (status, metrics, the gauges after a restart)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import aiohttp
from sqlite_utils import Database

from report_fixture import call, make_db
from web_support import NOON, client_of, form_token, make_console, sign_in

from asterisk_bridge.calls.member_model import OperatorView, QueueMembership
from asterisk_bridge.calls.model import CallUpdate
from asterisk_bridge.demo import demo_config
from asterisk_bridge.health import problems
from asterisk_bridge.pbxsim.ami_server import AMIServer
from asterisk_bridge.pbxsim.simulate import run_simulation, wait_for_bridge
from asterisk_bridge.report.period import local_day
from asterisk_bridge.service import Service
from asterisk_bridge.store import queries
from asterisk_bridge.store.live_day import day_so_far


async def next_event(stream: aiohttp.StreamReader, timeout: float) -> dict:
    """The next ``board`` event of a Server-Sent Events stream."""
    async with asyncio.timeout(timeout):
        data = None
        while True:
            line = (await stream.readline()).decode()
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "\n" and data is not None:
                return data


async def test_the_wallboard_stream_sends_a_change_within_a_second(tmp_path):
    console = make_console(tmp_path)
    async with client_of(console) as client:
        page = await client.get("/")
        assert 'data-v="l|122|in_menu">0<' in await page.text()
        response = await client.get("/live")
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert await response.content.readline() == b"retry: 2000\n"
        first = await next_event(response.content, 2)
        assert first["values"]["l|122|in_menu"] == "0" and first["waits"]["l|122"] is None
        changed_at = time.monotonic()
        console.gauges.menu_entered("session-1", "122")
        update = await next_event(response.content, 1.0)
        assert update["values"]["l|122|in_menu"] == "1"
        assert time.monotonic() - changed_at < 1.0
        heartbeat = await next_event(response.content, 6.0)  # nothing changed: the board again anyway
        assert heartbeat["values"] == update["values"]
        response.close()


async def test_the_wallboard_shows_each_operator_live_and_the_queues_staffing(tmp_path):
    console = make_console(tmp_path)
    lunch = OperatorView("PJSIP/1001", "Оператор 1", "paused", NOON - 600, "обед",
                         (QueueMembership("q-housing", True, "обед", NOON - 600),))
    free = OperatorView("PJSIP/1002", "Оператор 2", "available", NOON - 3600, None,
                        (QueueMembership("q-housing", False, None, NOON - 3600),))
    console.gauges.operator_update(lunch)
    console.gauges.operator_update(free)
    async with client_of(console) as client:
        html = await (await client.get("/")).text()
        assert 'data-row="o|PJSIP/1001" data-state="paused"' in html
        assert 'data-v="o|PJSIP/1001|state">на паузе: обед<' in html and 'data-v="o|PJSIP/1001|since">11:50<' in html
        assert 'data-v="q|q-housing|operators_available">1<' in html
        assert 'data-v="q|q-housing|operators_paused">1<' in html
        response = await client.get("/live")
        await response.content.readline()
        first = await next_event(response.content, 2)
        assert first["states"] == {"o|PJSIP/1002": "available", "o|PJSIP/1001": "paused"}  # free ones first
        assert "o|PJSIP/1001" not in first["waits"]  # an operator has no wait to tick
        console.gauges.operator_update(OperatorView("PJSIP/1001", "Оператор 1", "available", NOON, None,
                                                    (QueueMembership("q-housing", False, None, NOON),)))
        update = await next_event(response.content, 1.0)
        assert update["states"]["o|PJSIP/1001"] == "available"
        assert update["values"]["o|PJSIP/1001|state"] == "свободен"
        assert update["values"]["q|q-housing|operators_available"] == "2"
        response.close()


async def test_the_stream_ends_when_its_session_is_signed_out(tmp_path):
    async with client_of(make_console(tmp_path, users={"anna": "viewer"})) as client:
        await sign_in(client, "anna")
        token = form_token(await (await client.get("/")).text())
        response = await client.get("/live")
        await next_event(response.content, 2)
        await client.post("/logout", data={"csrf": token})
        async with asyncio.timeout(7):
            rest = await response.content.read()  # the server closes the stream at its next beat
        assert b"event: board" not in rest


async def test_the_gauges_start_from_todays_stored_answers_after_a_restart(tmp_path):
    """Two answered (one after 30 s, over the 20 s threshold) and one abandoned call on 122 today,
    one answered yesterday: a bridge started at noon shows 2 / 1 and a service level of 1 / 3."""
    calls = [call(1, "2026-11-25T01:00:00.000Z", "answered", wait=10, talk=60),
             call(2, "2026-11-25T01:10:00.000Z", "answered", wait=30, talk=60),
             call(3, "2026-11-25T01:20:00.000Z", "abandoned_queue", wait=50),
             call(4, "2026-11-24T01:00:00.000Z", "answered", wait=5, talk=60)]
    for c in calls:
        c["ended_at"] = c["started_at"].replace(":00.000Z", ":59.000Z")
    db = make_db(tmp_path / "calls.db", calls)
    database = Database(db)
    database["queue_legs"].insert_all([
        {"linkedid": c["linkedid"], "seq": 0, "queue": "q-housing", "joined_at": c["started_at"],
         "left_at": c["started_at"], "wait_seconds": c["queued_seconds"],
         "answered_at": c["answered_at"], "abandoned": int(c["outcome"] == "abandoned_queue")} for c in calls])
    database.conn.close()
    config = make_console(tmp_path, db=db, sections="[fastagi]\nport = 0").config
    async with Service(config, clock=lambda: NOON) as service:
        figures = service.gauges.figures(NOON)
        async with aiohttp.ClientSession() as http:
            html = await (await http.get(service.web.url)).text()
        day = local_day(date(2026, 11, 25), config.timezone)
        again = day_so_far(db, day.start_utc, day.end_utc)
        service.gauges.seed(again["answered"], [], NOON)  # answers already counted never count twice
        assert service.gauges.figures(NOON)["lines"]["122"]["answered_today"] == 2
    assert figures["lines"]["122"]["answered_today"] == 2 and figures["lines"]["122"]["abandoned_today"] == 1
    assert figures["queues"]["q-housing"]["service_level_today"] == 33.3
    assert 'data-v="l|122|answered_today">2<' in html
    assert re.search(r'data-v="q\|q-housing\|service_level_today"[^>]*>33,3', html)


async def test_the_running_bridge_serves_its_console_status_and_metrics_of_real_calls(tmp_path):
    async with AMIServer(username="asterisk-bridge", secret="s3cret", timestampevents=True, login_delay=0.05) as pbx:
        config = demo_config(tmp_path, ami_port=pbx.port, ami_secret="s3cret", web_port=0)
        async with Service(config) as service:
            assert service.web is not None and service.web.listening and service.web.port
            base = service.web.url.rstrip("/")
            assert await wait_for_bridge(pbx, 5.0)
            result = await run_simulation(config, pbx, ("127.0.0.1", service.fastagi.port), seed=3, days=1,
                                          calls_per_day={"122": 3}, day_seconds=1.5)
            async with asyncio.timeout(10):
                while len([r for r in queries.calls(config.database.path) if r["outcome"]]) < 3:
                    await service.store.flush(5)
                    await asyncio.sleep(0.05)
            await service.store.flush(5)  # the operators' last logouts are written too
            async with aiohttp.ClientSession() as http:
                status = await (await http.get(f"{base}/status.json")).json()
                expected = await service._status()
                metrics = await (await http.get(f"{base}/metrics")).text()
                async with asyncio.timeout(10):  # operators logged out as the simulator's day ends come later
                    while "asterisk_bridge_store_records_waiting 0.0" not in metrics:
                        await service.store.flush(5)
                        metrics = await (await http.get(f"{base}/metrics")).text()
                board = await (await http.get(f"{base}/")).text()
    assert status["problems"] == problems(expected, time.time(), timezone=config.timezone)
    # what the store has waiting moves while the simulator's operators log out as its day ends
    # (the metrics above wait for it to reach 0); everything else is the same snapshot
    for snapshot in (status, expected):
        snapshot["store"].pop("pending")
    assert {k: v for k, v in status.items() if k not in ("written_at", "problems")} == \
        {k: v for k, v in expected.items() if k != "written_at"}
    assert status["web"]["listening"] is True and status["ami"]["connected"] is True
    outcomes = {r.variables.get("IVR_RESULT") for r in result.results}
    menu = sum(float(v) for v in re.findall(r'^asterisk_bridge_menu_sessions_total\{line="122",result="[a-z]+"\} (\S+)$',
                                              metrics, re.M))
    ended = sum(float(v) for v in re.findall(r'^asterisk_bridge_calls_total\{line="122",outcome="[a-z_]+"\} (\S+)$',
                                               metrics, re.M))
    assert menu == 3 and ended == 3, metrics
    assert outcomes  # the menu answered every call
    assert "asterisk_bridge_ami_connected 1.0" in metrics and "asterisk_bridge_mqtt_connected" not in metrics
    assert re.search(r"^asterisk_bridge_store_write_seconds_count [1-9]", metrics, re.M)
    assert 'asterisk_bridge_menu_session_seconds_count 3.0' in metrics
    assert 'asterisk_bridge_callers_in_menu{line="122"} 0.0' in metrics
    assert "asterisk_bridge_store_records_waiting 0.0" in metrics
    assert 'data-v="l|122|answered_today"' in board


async def test_a_reload_renames_lines_on_the_console_and_keeps_its_web_settings(tmp_path, caplog):
    config_path = tmp_path / "asterisk-bridge.toml"
    config = make_console(tmp_path, sections="[fastagi]\nport = 0").config
    async with Service(config, config_path=config_path, clock=lambda: NOON) as service:
        text = config_path.read_text(encoding="utf-8")
        config_path.write_text(text.replace('name = "Линия 122"', 'name = "Единая линия 122"')
                               .replace("[web]\nport = 0", "[web]\nport = 0\nlanguage = \"en\""), encoding="utf-8")
        assert service.reload()
        async with aiohttp.ClientSession() as http:
            html = await (await http.get(service.web.url)).text()
    assert "Единая линия 122" in html
    assert '<html lang="ru">' in html  # [web] applies after a restart, and the log says so
    assert any("[web] changed: it applies after a restart" in r.getMessage() for r in caplog.records)


REPO = Path(__file__).resolve().parents[1]


def demo_hint(out: Path) -> tuple[list[str], dict[str, str]]:
    """``asterisk-bridge demo`` as `make demo` runs it, for a shell whose PATH lacks the venv: the
    command its hint names (checked to run from the repository) and that shell's environment."""
    executable = Path(sys.executable).parent / "asterisk-bridge"
    venv_bin = os.path.realpath(executable.parent)
    env = {**os.environ, "PATH": os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                                 if p and os.path.realpath(p) != venv_bin)}
    demo = subprocess.run([str(executable), "demo", "--out", str(out), "--day-seconds", "1", "--seed", "2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
    assert demo.returncode == 0, demo.stderr
    [hint] = [line for line in demo.stdout.splitlines() if "in the web console" in line]
    command = hint.split(": ", 1)[1].split(" (then open")[0].split()
    assert command[1:] == ["demo", "--serve"] and "http://127.0.0.1:8122/" in hint
    assert os.access(REPO / command[0], os.X_OK) and os.path.samefile(REPO / command[0], executable), hint
    return command, env


async def test_the_demo_names_a_command_that_opens_the_console_and_demo_serve_prints_its_url(tmp_path):
    """A newcomer after `make demo`: the venv is not on PATH, the hint must still be a command that
    runs; that command serves the demo day's console at the URL it prints until Ctrl-C."""
    out = tmp_path / "demo-out"
    command, env = await asyncio.to_thread(demo_hint, out)
    serve = await asyncio.create_subprocess_exec(
        *command, "--out", str(out), "--day-seconds", "1", "--seed", "2", "--port", "0", cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert serve.stdout is not None
    try:
        async def line_with(text: str) -> str:
            async with asyncio.timeout(90):
                while True:
                    line = (await serve.stdout.readline()).decode()
                    assert line, f"demo --serve ended before printing {text!r}"
                    if text in line:
                        return line

        url = re.search(r"Web console: (http://127\.0\.0\.1:\d+/) ", await line_with("Web console: ")).group(1)
        async with aiohttp.ClientSession() as http:
            board = await http.get(url)
            assert board.status == 200 and 'data-v="l|122|in_menu"' in await board.text()
            day = re.search(r"Simulated day (\d{4}-\d\d-\d\d):", await line_with("Simulated day ")).group(1)
            await line_with("stays open on this day")
            calls = await (await http.get(url + "calls")).text()
            stats = await http.get(url + "stats.json")
            figures = await stats.json(content_type=None)
        assert re.findall(r'href="/calls/([^"]+)"', calls)  # the demo day's calls are "today"
        assert figures["period"]["from"] == figures["period"]["to"] == day, figures["period"]
        assert figures["total"]["counts"]["offered"] > 100
        serve.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(serve.wait(), 30) == 0
    finally:
        if serve.returncode is None:
            serve.kill()
            await serve.wait()


async def test_metrics_follow_the_broker_the_outbox_and_the_callers_waiting(tmp_path):
    """A bridge with MQTT on a real mosquitto: connected 1 and an empty outbox; the broker stops:
    connected 0, and a menu session's event waits in the outbox, counted; a caller waiting in a
    queue shows per line and per queue with the longest wait."""
    from test_mqtt import Mosquitto, leg, menu_record
    from test_mqtt import call as tracked_call

    broker = Mosquitto(tmp_path / "broker").start()
    try:
        sections = f'[fastagi]\nport = 0\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'
        config = make_console(tmp_path, sections=sections).config
        async with Service(config, clock=lambda: NOON) as service, aiohttp.ClientSession() as http:
            async def metrics_once(*wanted: str) -> str:
                async with asyncio.timeout(15):
                    while True:
                        text = await (await http.get(service.web.url + "metrics")).text()
                        if all(w in text for w in wanted):
                            return text
                        await asyncio.sleep(0.1)

            up = await metrics_once("asterisk_bridge_mqtt_connected 1.0")
            assert "asterisk_bridge_mqtt_outbox_events 0.0" in up
            await asyncio.to_thread(broker.stop)
            await metrics_once("asterisk_bridge_mqtt_connected 0.0")
            assert service.events is not None
            record = menu_record(1)
            service.store.submit_menu(record, events=service.events.menu_events(record))
            await service.store.flush(5)
            await metrics_once("asterisk_bridge_mqtt_outbox_events 1.0")

            assert service.gauges is not None
            service.gauges.menu_entered("session-1", "122")
            service.gauges.call_update(CallUpdate("changed", tracked_call("w.1", legs=[leg("q-housing", NOON - 74)],
                                                                          ivr_result="topic")))
            text = await metrics_once('asterisk_bridge_callers_waiting{line="122"} 1.0')
        assert 'asterisk_bridge_callers_in_menu{line="122"} 1.0' in text
        assert 'asterisk_bridge_queue_callers_waiting{queue="q-housing"} 1.0' in text
        assert 'asterisk_bridge_queue_longest_wait_seconds{queue="q-housing"} 74.0' in text
    finally:
        broker.stop()


async def test_web_enabled_host_and_port_decide_where_run_serves_the_console(tmp_path):
    """``[web] port`` is where it listens, ``host`` what it binds (IPv6 loopback too, still without
    a login), and ``enabled = false`` leaves the port closed while calls are served as before."""
    from helpers import free_port

    port = free_port()
    config = make_console(tmp_path, web='host = "::1"', sections="[fastagi]\nport = 0").config
    config = dataclasses.replace(config, web=dataclasses.replace(config.web, port=port))
    async with Service(config, clock=lambda: NOON) as service, aiohttp.ClientSession() as http:
        assert service.web is not None and service.web.url == f"http://[::1]:{port}/"
        page = await http.get(f"http://[::1]:{port}/")
        assert page.status == 200 and 'data-v="l|122|answered_today"' in await page.text()
        assert (await service._status())["web"] == {"enabled": True, "listening": True,
                                                    "url": f"http://[::1]:{port}/", "error": None}
    (tmp_path / "off").mkdir()
    config = make_console(tmp_path / "off", web="enabled = false", sections="[fastagi]\nport = 0").config
    config = dataclasses.replace(config, web=dataclasses.replace(config.web, host="127.0.0.1", port=port))
    async with Service(config, clock=lambda: NOON) as service:
        assert service.web is None and service.fastagi.port
        assert (await service._status())["web"] == {"enabled": False, "listening": False, "url": None, "error": None}
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            pass
        else:
            writer.close()
            raise AssertionError(f"port {port} answers with [web] enabled = false")


def test_demo_serve_on_a_port_in_use_says_how_to_pick_another(tmp_path):
    from click.testing import CliRunner

    from asterisk_bridge.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["demo", "--serve", "--port", str(port), "--day-seconds", "1",
                                           "--out", str(tmp_path / "demo-out")])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port picks another port" in result.output
