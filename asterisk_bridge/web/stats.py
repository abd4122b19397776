"""``/stats``: the figures of any period from the report engine (``report/build.py``), the same
``stats`` prints; ``/stats.json`` and ``/stats.csv`` are byte for byte ``stats --format json|csv``."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from ..report.build import build_figures
from ..report.export import stats_csv, stats_json
from ..report.figures import Figures
from ..report.render import summary_context
from .app import CONSOLE, PAGES
from .chart import hourly_chart
from .params import StatsQuery, stats_query


async def _figures(request: web.Request) -> tuple[StatsQuery, Figures]:
    console = request.app[CONSOLE]
    q = stats_query(request.query.items(), console.today())
    figures = await console.read(build_figures, console.db_path, console.config, q.first, q.last, line=q.line,
                                 context=False, notable=0, now=console.clock())
    return q, figures


def _query_string(q: StatsQuery, **extra: str) -> str:
    params = {"from": q.first.isoformat(), "to": q.last.isoformat()}
    if q.line:
        params["line"] = q.line
    params.update(extra)
    return urlencode(params)


async def stats_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    q, figures = await _figures(request)
    config = console.config
    context = summary_context(figures, config, config.web.language)
    sections = context["sections"]
    series = [s.hours for s in figures.main.lines] or [figures.main.total.hours]
    context.update(
        nav="stats", q=q, chart=hourly_chart(series), series_names=[s.name for s in figures.main.lines],
        line_choices=list(config.lines.items()), sections=sections, query=_query_string(q),
        calls_query=lambda **extra: _query_string(q, **extra))
    return request.app[PAGES].render(request, "stats.html", **context)


async def stats_download(request: web.Request) -> web.StreamResponse:
    q, figures = await _figures(request)
    kind = request.match_info["kind"]
    name = f"stats-{q.first.isoformat()}-{q.last.isoformat()}{'-' + q.line if q.line else ''}.{kind}"
    body = stats_json(figures) if kind == "json" else stats_csv(figures, request.app[CONSOLE].config)
    return web.Response(
        body=body.encode("utf-8"), content_type="application/json" if kind == "json" else "text/csv",
        charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


ROUTES = [("GET", "/stats", stats_page), ("GET", r"/stats.{kind:json|csv}", stats_download)]
