"""The wallboard ``/`` and its live stream ``/live`` (Server-Sent Events).

The page is complete as served (it reads without JavaScript); the stream then sends the whole
board again within ``COALESCE`` seconds of any change of the gauges, and every ``HEARTBEAT``
seconds anyway (the AMI banner, a proxy that drops idle connections). The browser's
EventSource reconnects by itself; ``console.js`` also reconnects when the server refused the
stream (a restart ended the session: it goes to the login page and back).
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from .app import CONSOLE, PAGES
from .live import board, level_class, payload
from .pages import SESSION_KEY
from .params import Query

COALESCE = 0.1  # one call's events arrive in bursts: send the board once per burst
HEARTBEAT = 5.0


def _snapshot(request: web.Request) -> dict:
    console = request.app[CONSOLE]
    config = console.config
    pages = request.app[PAGES]
    return board(console.gauges, console.clock(), line_names={n: line.name for n, line in config.lines.items()},
                 queue_names=dict(config.queues), fmt=pages.fmt, states=pages.operator_states,
                 local=lambda epoch: pages.env.filters["local"](epoch, "%H:%M"))


async def wallboard(request: web.Request) -> web.StreamResponse:
    if request.query:
        Query(request.query.items(), ())  # the board takes no parameters: say so
    console = request.app[CONSOLE]
    target = console.config.web.service_level_target
    return request.app[PAGES].render(
        request, "wallboard.html", nav="board", board=_snapshot(request), ami=console.ami_state(),
        threshold=console.config.summary.service_level_seconds, target=target, now=console.clock(),
        today=console.today(), level_class=lambda level: level_class(level, target), live_url=console.url("/live"))


async def live(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = request.get(SESSION_KEY)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    hub = console.hub
    try:
        await response.write(b"retry: 2000\n\n")
        while not hub.closed:
            version = hub.version
            if session is not None and console.sessions.get(session.token) is None:
                break  # signed out (or the user was removed) while the board was open
            data = json.dumps(payload(_snapshot(request), console.clock(), console.ami_state(),
                                      console.config.web.service_level_target),
                              ensure_ascii=False, separators=(",", ":"))
            await response.write(f"event: board\ndata: {data}\n\n".encode())
            await hub.wait(version, HEARTBEAT)
            if hub.version != version:
                await asyncio.sleep(COALESCE)
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    return response


ROUTES = [("GET", "/", wallboard), ("GET", "/live", live)]
