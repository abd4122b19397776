"""Shared setup of the web console tests: the report fixture's contact center and day, a console
around it, and aiohttp's test client."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer

from report_fixture import CONFIG_TOML, day_db

from asterisk_bridge.config import load_config
from asterisk_bridge.mqtt.gauges import Gauges
from asterisk_bridge.web.app import create_app
from asterisk_bridge.web.console import Console
from asterisk_bridge.web.metrics import BridgeMetrics
from asterisk_bridge.web.users import UsersFile

#: Noon of the fixture day (2026-11-25, Asia/Irkutsk): "today" for the console.
NOON = datetime(2026, 11, 25, 12, tzinfo=ZoneInfo("Asia/Irkutsk")).timestamp()
PASSWORD = "correct horse battery"


def write_config(tmp: Path, db: Path, *, web: str = "", sections: str = "", language: str = "ru") -> Path:
    """The report fixture's configuration plus ``[web]`` (port 0) and any further ``sections``."""
    path = tmp / "asterisk-bridge.toml"
    path.write_text(CONFIG_TOML.format(abandons="against", language=language, db=db.as_posix())
                    + f"\n[web]\nport = 0\n{web}\n{sections}\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def add_users(tmp: Path, **roles: str) -> Path:
    users = UsersFile(tmp / "web-users")
    for name, role in roles.items():
        users.add(name, PASSWORD, role)
    return users.path


def status_of(db: Path):
    """What the service reports (the shape of Service._status), for consoles built without one."""
    async def status() -> dict:
        return {"schema": 1, "pid": 1, "node": "pbx1", "state": "running", "started_at": NOON, "written_at": time.time(),
                "fastagi": {"listen": "127.0.0.1:4573", "active": 0}, "ami": {"enabled": False},
                "mqtt": {"enabled": False}, "store": {"path": str(db), "pending": 0, "last_error": None},
                "summary": {"enabled": False, "last_day": None, "last_sent_at": None},
                "today": {"menu_sessions": 2, "calls": 15}, "retention": None,
                "web": {"enabled": True, "listening": True, "url": None, "error": None}}
    return status


def make_console(tmp: Path, *, web: str = "", sections: str = "", users: dict[str, str] | None = None,
                 db: Path | None = None, language: str = "ru", clock=lambda: NOON) -> Console:
    db = db or day_db(tmp / "calls.db")
    if users:
        add_users(tmp, **users)
        web = f'users_file = "{(tmp / "web-users").as_posix()}"\n{web}'
    config = load_config(write_config(tmp, db, web=web, sections=sections, language=language))
    gauges = Gauges.from_config(config)
    metrics = BridgeMetrics(config.node, "test", ami=config.ami.enabled, mqtt=config.mqtt.enabled)
    gauges.watch(metrics.watch)
    return Console(config, str(db), gauges, status=status_of(db), clock=clock, metrics=metrics)


@asynccontextmanager
async def client_of(console: Console):
    async with TestClient(TestServer(create_app(console))) as client:
        yield client


async def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_page: str = "/"):
    """The login form as a browser sends it: its token from the page, the cookie it set."""
    page = await client.get("/login")
    token = form_token(await page.text())
    return await client.post("/login", data={"name": name, "password": password, "csrf": token, "next": next_page},
                             allow_redirects=False)


def form_token(html: str) -> str:
    """The CSRF token a page carries (in its forms, and in a meta tag for pages without one)."""
    marker = 'name="csrf" value="' if 'name="csrf" value="' in html else 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]
