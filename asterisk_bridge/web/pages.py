"""Server-rendered pages: one Jinja environment for the console's templates (``templates/web/``).

The loader looks in ``summary.templates_dir`` first, then in the shipped templates, exactly as
the summary does, so the console imports the summary's ``_labels.<lang>.j2`` (one wording for
a figure everywhere) and an admin's override of a label or a page applies here too. The filters
are the summary's (``report/render.py``), so numbers and dates read the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
from aiohttp import web

from .. import __version__
from ..report.period import zone
from ..report.render import filters, template_dirs
from ..utc import parse_utc_iso
from .auth import Session
from .console import Console
from .live import clock

#: request[SESSION_KEY]: the visitor's Session, or None (a monitoring address without one)
SESSION_KEY: web.RequestKey[Session | None] = web.RequestKey("session")


class Pages:
    def __init__(self, console: Console) -> None:
        config = console.config
        self.console = console
        self.language = config.web.language
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(config)]),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        self.fmt = filters(self.language)
        tz = zone(config.timezone)

        def local(value: str | float | None, fmt: str = "%d.%m.%Y %H:%M:%S") -> str:
            """A stored UTC time (or epoch seconds) on the contact center's clock."""
            if value is None or value == "":
                return "—"
            epoch = parse_utc_iso(value) if isinstance(value, str) else float(value)
            return datetime.fromtimestamp(epoch, tz).strftime(fmt)

        self.env.filters.update(self.fmt, clock=lambda s: "—" if s is None else clock(s), local=local)
        self.env.globals.update(url=console.url, language=self.language, node=config.node, version=__version__,
                                base_path=config.web.base_path, timezone=config.timezone)
        #: the wallboard's words for an operator's state (the live stream sends them already worded)
        labels: Any = self.env.get_template(f"web/_labels.{self.language}.j2").module  # the wording, by name
        self.operator_states: dict[str, str] = labels.operator_state

    def render(self, request: web.Request, template: str, *, status: int = 200, nav: str = "",
               **context: Any) -> web.Response:
        session = request.get(SESSION_KEY)
        html = self.env.get_template(f"web/{template}").render(
            session=session, csrf=session.csrf if session is not None else "", nav=nav,
            open_console=self.console.open, path=request.path, **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
