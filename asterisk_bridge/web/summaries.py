"""``/summaries``: the send log, each day's summary as it was mailed, and (admins) sending again.

The copy mailed is kept with each send (``summaries.html`` / ``.text``); a day that was never
mailed, or mailed before copies were kept, is rendered now from the report engine and says so.
The summary's HTML is shown in a sandboxed frame, under its own Content-Security-Policy: it is
an email, with inline styles and no scripts.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from aiohttp import web

from ..report.build import build_figures
from ..report.mail import MailError
from ..report.render import render_summary
from ..report.schedule import send_summary
from ..store import report_queries as rq
from .app import CONSOLE, PAGES, require_admin
from .errors import BadParameter
from .pages import SESSION_KEY
from .params import Query, parse_day

log = logging.getLogger("asterisk_bridge.web")

_EMAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'"


def _day(request: web.Request) -> date:
    return parse_day(request.match_info["day"], "day", date.min)  # always given: the default is never used


async def summaries_page(request: web.Request, *, status: int = 200, error: str = "") -> web.StreamResponse:
    console = request.app[CONSOLE]
    q = Query(request.query.items(), ("sent", "day"))
    sent = parse_day(q.text("sent"), "sent", date.min) if q.text("sent") else None
    if q.text("day"):
        raise web.HTTPSeeOther(console.url(f"/summaries/{parse_day(q.text('day'), 'day', date.min).isoformat()}"))
    log_rows = await console.read(rq.summary_log, console.db_path, limit=200)
    return request.app[PAGES].render(
        request, "summaries.html", status=status, nav="summaries", rows=log_rows, sent=sent, error=error,
        mail_on=bool(console.config.smtp.host), recipients=list(console.config.smtp.recipients),
        yesterday=console.today() - timedelta(days=1))


async def summary_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if request.query:
        Query(request.query.items(), ())
    day = _day(request)
    copy = await console.read(rq.summary_copy, console.db_path, day.isoformat())
    return request.app[PAGES].render(
        request, "summary.html", nav="summaries", day=day, copy=copy, mail_on=bool(console.config.smtp.host),
        frame_url=console.url(f"/summaries/{day.isoformat()}.html"))


async def summary_html(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    day = _day(request)
    copy = await console.read(rq.summary_copy, console.db_path, day.isoformat())
    if copy is not None and copy["html"] is not None:
        html = copy["html"]
    else:
        figures = await console.read(build_figures, console.db_path, console.config, day, day, now=console.clock())
        html = render_summary(figures, console.config)[2]
    return web.Response(text=html, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": _EMAIL_CSP, "X-Frame-Options": "SAMEORIGIN"})


async def send_again(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    console = request.app[CONSOLE]
    if "day" in request.match_info:
        day = _day(request)
    else:
        form = await request.post()
        value = form.get("day")
        day = parse_day(value if isinstance(value, str) and value else None, "day", date.min)
        if day == date.min:
            raise BadParameter("day", "missing: which day's summary to send")
    if day >= console.today():
        raise BadParameter("day", f"{day.isoformat()} is not over yet; a summary covers a whole past day")
    if not console.config.smtp.host:
        return await summaries_page(request, status=409, error="mail_off")
    session = request[SESSION_KEY]
    assert session is not None  # require_admin passed
    try:
        await send_summary(console.config, console.db_path, day, force=True, now=console.clock())
    except MailError as exc:
        log.warning("web: %s could not send the summary for %s: %s", session.user, day, exc)
        return await summaries_page(request, status=502, error=str(exc))
    log.info("web: %s sent the summary for %s again", session.user, day)
    raise web.HTTPSeeOther(console.url(f"/summaries?sent={day.isoformat()}"))


ROUTES = [
    ("GET", "/summaries", summaries_page),
    ("GET", r"/summaries/{day:[^/.]+}", summary_page),
    ("GET", r"/summaries/{day:[^/.]+}.html", summary_html),
    ("POST", "/summaries/send", send_again),
    ("POST", r"/summaries/{day:[^/.]+}/send", send_again),
]
