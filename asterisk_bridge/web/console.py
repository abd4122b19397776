"""The console's state, shared by every handler: settings, where the data is, who is signed in."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

from ..config import Config
from ..mqtt.gauges import Gauges
from ..report.period import local_date_of
from .auth import COOKIE, LoginLimiter, Network, Session, Sessions, client_address, is_https, networks
from .live import LiveHub
from .metrics import BridgeMetrics
from .users import UsersFile

READERS = 2
LOCAL_USER = "local"  # who a console without users (loopback only) treats every visitor as


@dataclass
class Console:
    """One console: ``status`` is what ``status --json`` reports (the service's own view);
    ``ami_state`` says "ok", "down" or "off" for the wallboard's banner; ``clock`` is the
    service's clock (the demo runs on a simulated day, and "today" follows it)."""

    config: Config
    db_path: str
    gauges: Gauges
    status: Callable[[], Awaitable[dict[str, Any]]]
    ami_state: Callable[[], str] = lambda: "off"
    clock: Callable[[], float] = time.time
    metrics: BridgeMetrics | None = None
    users: UsersFile | None = None
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    hub: LiveHub = field(init=False)
    trusted: tuple[Network, ...] = field(init=False)
    metrics_allow: tuple[Network, ...] = field(init=False)

    _reads: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.hub = LiveHub(self.gauges)
        self._reads = asyncio.Semaphore(READERS)
        self.trusted = networks(self.config.web.trusted_proxies)
        self.metrics_allow = networks(self.config.web.metrics_allow)
        if self.users is None and self.config.web.users_file:
            self.users = UsersFile(self.config.web.users_file)

    async def read(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a database read in a worker thread: the event loop keeps serving calls meanwhile,
        and at most ``READERS`` pages read at once however many browsers ask."""
        async with self._reads:
            return await asyncio.to_thread(functools.partial(function, *args, **kwargs))

    @property
    def open(self) -> bool:
        """No users file: the console is on loopback only and asks nobody to sign in."""
        return self.users is None

    def today(self) -> date:
        return local_date_of(self.clock(), self.config.timezone)

    def url(self, path: str) -> str:
        """``path`` under ``[web] base_path`` (every link and redirect goes through here)."""
        return self.config.web.base_path + path

    def client(self, request: web.Request) -> str:
        address = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.trusted)
        return str(address) if address is not None else "unknown"

    def https(self, request: web.Request) -> bool:
        return is_https(request.scheme, request.remote, request.headers.get("X-Forwarded-Proto"), self.trusted)

    def session_of(self, request: web.Request) -> Session | None:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None or self.users is None:
            return session
        role = self.users.role_of(session.user)  # a removed user is signed out, a new role applies
        if role is None:
            self.sessions.drop(session.token)
            return None
        session.role = role
        return session
