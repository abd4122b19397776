"""``/calls`` (the call list: filters, keyset pages) and ``/calls/<id>`` (one call's timeline).

Caller numbers are shown as the summary shows them: masked unless ``[privacy] mask_callers`` is
off (a hashed number is shown as its hash, which names nobody).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..privacy import mask_name, mask_number
from ..report.build import catalog_from_config
from ..report.definitions import BUCKETS
from ..report.period import local_date_of, local_period
from ..store.call_search import CallFilter, call_timeline, search_calls
from ..store.maintenance import HASH_PREFIX
from ..utc import parse_utc_iso
from .app import CONSOLE, PAGES
from .params import Query, call_id, caller, code, cursor, line, operator, outcome, period
from .timeline import timeline

PAGE = 50
FILTERS = ("from", "to", "line", "topic", "queue", "outcome", "operator", "caller")


def shown_number(number: str | None, mask: bool) -> str:
    if not number:
        return ""
    if number.startswith(HASH_PREFIX) or not mask:
        return number
    return mask_number(number)


def _topics(config) -> list[tuple[str, str]]:
    """(topic id, "line · name") of every configured topic, for the filter."""
    catalog = catalog_from_config(config)
    return [(topic, f"{number} · {name}") for (number, topic), name in catalog.topics.items()]


async def calls_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    config = console.config
    q = Query(request.query.items(), (*FILTERS, "before"))
    first, last = period(q, console.today())
    topics = _topics(config)
    f = CallFilter(
        *_bounds(first, last, config.timezone), line=line(q), topic=code(q, "topic"),
        queue=code(q, "queue"), bucket=outcome(q), operator=operator(q), caller=caller(q, config.privacy.salt))
    rows, following = await console.read(search_calls, console.db_path, f, before=cursor(q), limit=PAGE)
    mask = config.privacy.mask_callers
    names = {topic: name for topic, name in catalog_from_config(config).topics.items()}
    for row in rows:
        row["caller"] = shown_number(row["caller_number"], mask)
        row["name"] = mask_name(row["caller_name"]) if mask else (row["caller_name"] or "")
        row["topic_name"] = names.get((row["line"], row["topic"])) or row["topic"] or ""
    kept = {k: v for k, v in q.values.items() if k in FILTERS and v}
    kept.setdefault("from", first.isoformat())
    kept.setdefault("to", last.isoformat())
    return request.app[PAGES].render(
        request, "calls.html", nav="calls", rows=rows, first=first, last=last, filters=q.values,
        topics=topics, queues=list(config.queues.items()), lines=list(config.lines.items()), buckets=BUCKETS,
        next_url=f"?{urlencode({**kept, 'before': f'{following.started_at}~{following.id}'})}" if following else None,
        first_url=f"?{urlencode(kept)}" if q.text("before") else None, masked=mask)


def _bounds(first, last, tz: str) -> tuple[str, str]:
    p = local_period(first, last, tz)
    return p.start_utc, p.end_utc


async def call_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    config = console.config
    if request.query:
        Query(request.query.items(), ())
    ident = call_id(request.match_info["id"])
    found = await console.read(call_timeline, console.db_path, ident)
    if found is None:
        raise web.HTTPNotFound()
    mask = config.privacy.mask_callers
    call: dict[str, Any] | None = found["call"]
    sessions: list[dict[str, Any]] = found["sessions"]
    first = call or sessions[0]
    started = parse_utc_iso(first["started_at"]) if first.get("started_at") else None
    back = console.url("/calls")
    if started is not None:
        day = local_date_of(started, config.timezone).isoformat()
        back += "?" + urlencode({"from": day, "to": day})
    catalog = catalog_from_config(config)
    line_no = first.get("line")
    topic = (call or {}).get("topic") or next((s["topic"] for s in sessions if s.get("topic")), None)
    return request.app[PAGES].render(
        request, "call.html", nav="calls", id=ident, call=call, sessions=sessions, back=back,
        events=timeline(call, sessions), started=started, caller=shown_number(first.get("caller_number"), mask),
        caller_name=mask_name(first.get("caller_name")) if mask else (first.get("caller_name") or ""),
        line_name=catalog.line_name(line_no) if line_no else "—",
        topic_name=(catalog.topic_name(line_no, topic) if line_no and topic else None) or topic,
        topic_names={t: name for (n, t), name in catalog.topics.items() if n == line_no})


ROUTES = [("GET", "/calls", calls_page), ("GET", "/calls/{id}", call_page)]
