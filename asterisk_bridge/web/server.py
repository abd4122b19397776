"""The console inside ``asterisk-bridge run``: an aiohttp server on the service's own event loop.

``check_access`` is the rule ``run`` enforces before anything listens: a console that others
can reach (a non-loopback address, or a reverse proxy in front) must have at least one user.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from ..config import Config
from .app import create_app
from .console import Console
from .errors import UsersFileError, WebAccessError
from .users import UsersFile

log = logging.getLogger("asterisk_bridge.web")


class _AccessLog(AbstractAccessLogger):
    """One DEBUG line per request (``-vv``): requests are chatter, not events an admin must see."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.debug("%s %s %s %d %.1f ms", request.remote, request.method, request.path_qs,
                          response.status, time * 1000)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


def check_access(config: Config) -> None:
    """Raise :class:`WebAccessError` when the console would be open to others without a login."""
    web_settings = config.web
    if not web_settings.enabled:
        return
    if not web_settings.users_file:
        if web_settings.needs_users:
            raise WebAccessError(f"web.host is {web_settings.host!r} (not loopback) or trusted_proxies is set, "
                                 "and no web.users_file is configured: the console would be open to anyone")
        return
    try:
        count = len(UsersFile(web_settings.users_file))
    except UsersFileError as exc:
        if web_settings.needs_users:
            raise WebAccessError(f"the console needs users: {exc}") from None
        log.warning("web: %s; nobody can sign in to the console until a user is added", exc)
        return
    if not count:
        message = (f"{web_settings.users_file} has no users; add one with `asterisk-bridge web adduser NAME "
                   "--admin`")
        if web_settings.needs_users:
            raise WebAccessError(f"the console on {web_settings.host} needs users: {message}")
        log.warning("web: %s (nobody can sign in meanwhile)", message)


class WebServer:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.port: int | None = None
        self.error: str | None = None
        self._runner: web.AppRunner | None = None

    @property
    def listening(self) -> bool:
        return self._runner is not None

    @property
    def url(self) -> str:
        w = self.console.config.web
        host = f"[{w.host}]" if ":" in w.host else w.host
        return f"http://{host}:{self.port if self.port is not None else w.port}{w.base_path}/"

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound (the caller decides)."""
        w = self.console.config.web
        runner = web.AppRunner(create_app(self.console), access_log_class=_AccessLog,
                               access_log=logging.getLogger("asterisk_bridge.web.access"),
                               shutdown_timeout=2.0, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, w.host, w.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("web console on %s (%s)", self.url,
                 "no login: loopback only" if self.console.open else f"users from {w.users_file}")

    async def stop(self) -> None:
        if self._runner is not None:
            self.console.hub.close()
            runner, self._runner = self._runner, None
            await runner.cleanup()
