"""``/status`` (what ``asterisk-bridge status --json`` reports, for people and for checks) and
``/metrics`` (Prometheus). Both answer ``[web] metrics_allow`` addresses without a session."""

from __future__ import annotations

import json
import time

from aiohttp import web

from .. import health
from .app import CONSOLE, PAGES
from .metrics import CONTENT_TYPE
from .params import Query


async def _status(request: web.Request) -> tuple[dict, list[str]]:
    console = request.app[CONSOLE]
    if request.query:
        Query(request.query.items(), ())
    data = await console.status()
    # written_at is wall-clock time, whatever the service's clock (the demo's is simulated)
    return data, health.problems(data, time.time(), timezone=console.config.timezone)


async def status_page(request: web.Request) -> web.StreamResponse:
    data, problems = await _status(request)
    return request.app[PAGES].render(request, "status.html", nav="status", s=data, problems=problems,
                                     text=health.format_status(data, data["written_at"], request.app[CONSOLE].config.timezone))


async def status_json(request: web.Request) -> web.StreamResponse:
    data, problems = await _status(request)
    body = json.dumps({**data, "problems": problems}, ensure_ascii=False, indent=1) + "\n"
    return web.Response(text=body, content_type="application/json", charset="utf-8",
                        status=200 if not problems else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if request.query:
        Query(request.query.items(), ())
    if console.metrics is None:
        raise web.HTTPNotFound()
    status = await console.status()
    body = console.metrics.render(status, console.gauges.figures(console.clock()))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


ROUTES = [("GET", "/status", status_page), ("GET", "/status.json", status_json), ("GET", "/metrics", metrics)]
