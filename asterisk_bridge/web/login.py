"""Signing in and out. Every attempt is logged with the user name and the client address (never
the password); failures are rate-limited per address and per name (``auth.LoginLimiter``)."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets

from aiohttp import web

from .app import CONSOLE, PAGES, set_session_cookie
from .auth import COOKIE, LOGIN_COOKIE, same_token
from .pages import SESSION_KEY

log = logging.getLogger("asterisk_bridge.web")


def _next_page(request: web.Request, value: object) -> str:
    """Where to go after signing in: a page of this console only (never another site)."""
    console = request.app[CONSOLE]
    home = console.url("/")
    if not isinstance(value, str) or not value.startswith(home) or value.startswith("//") or "\\" in value:
        return home
    return value


def _form(request: web.Request, *, status: int = 200, error: str = "", name: str = "", next_page: str = "") -> web.Response:
    console = request.app[CONSOLE]
    token = secrets.token_urlsafe(32)
    response = request.app[PAGES].render(request, "login.html", status=status, error=error, name=name,
                                         login_token=token, next_page=next_page or console.url("/"))
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=console.https(request),
                        path=console.config.web.base_path or "/")
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.open or request.get(SESSION_KEY) is not None:
        raise web.HTTPSeeOther(_next_page(request, request.query.get("next")))
    return _form(request, next_page=_next_page(request, request.query.get("next")))


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.open:
        raise web.HTTPSeeOther(console.url("/"))
    form = await request.post()
    name = str(form.get("name") or "").strip()[:64]
    password = str(form.get("password") or "")
    next_page = _next_page(request, form.get("next"))
    address = console.client(request)
    if not same_token(str(form.get("csrf") or ""), request.cookies.get(LOGIN_COOKIE, "")):
        log.warning("web: login form from %s refused: missing or stale form token", address)
        return _form(request, status=403, error="stale", name=name, next_page=next_page)
    wait = console.limiter.retry_after(address, name)
    if wait > 0:
        log.warning("web: login as %r from %s refused: too many failed attempts (retry in %.0f s)", name, address, wait)
        response = _form(request, status=429, error="throttled", name=name, next_page=next_page)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    assert console.users is not None
    user = await asyncio.to_thread(console.users.check, name, password) if name and password else None
    if user is None:
        console.limiter.failed(address, name)
        log.warning("web: failed login as %r from %s", name, address)
        return _form(request, status=401, error="failed", name=name, next_page=next_page)
    console.limiter.succeeded(address, name)
    session = console.sessions.create(user.name, user.role)
    log.info("web: %s (%s) signed in from %s", user.name, user.role, address)
    response = web.HTTPSeeOther(next_page)
    set_session_cookie(request, response, session.token)
    response.del_cookie(LOGIN_COOKIE, path=console.config.web.base_path or "/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    session = request.get(SESSION_KEY)
    if session is not None:
        console.sessions.drop(session.token)
        log.info("web: %s signed out", session.user)
    response = web.HTTPSeeOther(console.url("/login") if not console.open else console.url("/"))
    response.del_cookie(COOKIE, path=console.config.web.base_path or "/")
    raise response


ROUTES = [("GET", "/login", login_page), ("POST", "/login", login), ("POST", "/logout", logout)]
