"""The aiohttp application: routes under ``[web] base_path``, access rules, errors, headers.

Access, in one place (``access`` below):
- without a users file the console is on loopback only (config and ``run`` make sure), every
  visitor is the local admin, and a request whose Host is not a loopback name is refused (a web
  page elsewhere cannot reach the console through DNS rebinding);
- with users, every page needs a session except the login page and the stylesheet; ``/metrics``
  and ``/status`` also answer addresses in ``[web] metrics_allow``;
- every POST carries the session's CSRF token; admin-only actions check the role.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from .auth import COOKIE, in_networks, parse_address, same_token
from .console import LOCAL_USER, Console
from .errors import BadParameter, UsersFileError
from .pages import SESSION_KEY, Pages

log = logging.getLogger("asterisk_bridge.web")

CONSOLE = web.AppKey("console", Console)
PAGES = web.AppKey("pages", Pages)
STATIC_DIR = Path(__file__).parent / "static"
#: Paths a Prometheus server (or a monitoring check) in ``metrics_allow`` reads without a session.
MONITORING = ("/metrics", "/status", "/status.json")
#: Paths that answer machines, not people: errors there are plain text, never a login redirect.
_MACHINE_SUFFIXES = (".json", ".csv")
_MACHINE_PATHS = ("/live", "/metrics")

_CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[errors, access], client_max_size=64 * 1024)
    app[CONSOLE] = console
    app[PAGES] = pages = Pages(console)
    pages.env.globals["static"] = _static_urls(console)
    app.on_response_prepare.append(_headers)
    app.on_shutdown.append(_close_streams)
    from . import calls, health, login, stats, summaries, wallboard

    for module in (wallboard, stats, calls, summaries, health, login):
        for method, path, handler in module.ROUTES:
            app.router.add_route(method, console.url(path), handler)
    app.router.add_static(console.url("/static"), STATIC_DIR, show_index=False)
    return app


def _static_urls(console: Console) -> dict[str, str]:
    """URL of each shipped file with its content hash, so a browser never runs a stale script."""
    out = {}
    for path in sorted(STATIC_DIR.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        out[path.name] = f"{console.url('/static/' + path.name)}?v={digest}"
    return out


async def _close_streams(app: web.Application) -> None:
    app[CONSOLE].hub.close()


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", _CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("X-Frame-Options", "DENY")
    static = request.app[CONSOLE].url("/static/")
    h.setdefault("Cache-Control", "public, max-age=86400" if request.path.startswith(static) else "no-store")


def relative(request: web.Request) -> str:
    base = request.app[CONSOLE].config.web.base_path
    return request.path[len(base):] if base and request.path.startswith(base) else request.path


def for_machines(path: str) -> bool:
    return path.endswith(_MACHINE_SUFFIXES) or path in _MACHINE_PATHS


def problem(request: web.Request, status: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """An error answer: a page for people, one line of text for machines."""
    if for_machines(relative(request)) or PAGES not in request.app:
        return web.Response(text=message + "\n", status=status, headers=headers)
    response = request.app[PAGES].render(request, "error.html", status=status, code=status, message=message)
    if headers:
        response.headers.update(headers)
    return response


@web.middleware
async def errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadParameter as exc:
        return problem(request, 400, str(exc))
    except web.HTTPNotFound:
        return problem(request, 404, f"{request.path}: there is no such page")
    except web.HTTPMethodNotAllowed as exc:
        return problem(request, 405, f"{request.method} is not allowed here", headers={"Allow": exc.headers["Allow"]})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem(request, exc.status, (exc.text or exc.reason).strip(), headers={
            k: v for k, v in exc.headers.items() if k in ("Retry-After", "Allow")})
    except UsersFileError as exc:
        log.error("web: %s", exc)
        return problem(request, 503, f"the console cannot check users now: {exc}")
    except Exception:  # noqa: BLE001 - one broken page must not take the console down; the log has the trace
        log.exception("web: %s %s failed", request.method, request.path)
        return problem(request, 500, "the page failed; the service log has the details")


def _loopback_host(request: web.Request) -> bool:
    host = request.host or ""
    name = host[1:host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    address = parse_address(name)
    return address is not None and address.is_loopback


@web.middleware
async def access(request: web.Request, handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    base = console.config.web.base_path
    if base and request.path == base:
        raise web.HTTPPermanentRedirect(base + "/")
    if base and not request.path.startswith(base + "/"):
        raise web.HTTPNotFound()  # not the console's: a proxy sends only its own prefix here
    path = relative(request)
    created = None
    if console.open:
        if not _loopback_host(request):
            return problem(request, 403, f"this console answers only on this machine (localhost), not as "
                                         f"{request.host!r}; give it users to open it to others")
        session = console.session_of(request)
        if session is None:
            session = created = console.sessions.create(LOCAL_USER, "admin")
    else:
        session = console.session_of(request)
    request[SESSION_KEY] = session
    public = path == "/login" or path.startswith("/static/")
    if session is None and not public:
        if path in MONITORING and in_networks(parse_address(console.client(request)), console.metrics_allow):
            pass
        elif request.method == "GET" and not for_machines(path):
            raise web.HTTPSeeOther(f"{console.url('/login')}?next={quote(request.path_qs, safe='/')}")
        else:
            return problem(request, 401, "sign in first")
    if request.method == "POST" and path != "/login":
        form = await request.post()
        token = form.get("csrf") or request.headers.get("X-CSRF-Token")
        if session is None or not same_token(token if isinstance(token, str) else None, session.csrf):
            log.warning("web: %s %s from %s refused: missing or stale CSRF token", request.method, request.path,
                        console.client(request))
            return problem(request, 403, "the form's security token is missing or stale; reload the page and try again")
    response = await handler(request)
    if created is not None and not response.prepared:
        set_session_cookie(request, response, created.token)
    return response


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    console = request.app[CONSOLE]
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=console.https(request),
                        path=console.config.web.base_path or "/")


def require_admin(request: web.Request) -> None:
    session = request.get(SESSION_KEY)
    if session is None or not session.admin:
        raise web.HTTPForbidden(text="this needs an admin")
