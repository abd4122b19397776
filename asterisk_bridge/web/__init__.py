"""The web console: wallboard, figures, call search and timelines, summaries, status and metrics.

``server.WebServer`` runs it inside ``asterisk-bridge run``; ``app.create_app`` builds the aiohttp
application; pages are Jinja templates in ``templates/web/`` sharing the summary's wording.
"""

from .console import Console
from .errors import BadParameter, UsersFileError, WebAccessError, WebError
from .metrics import BridgeMetrics
from .server import WebServer, check_access
from .users import UsersFile

__all__ = [
    "BadParameter", "BridgeMetrics", "Console", "UsersFile", "UsersFileError", "WebAccessError", "WebError",
    "WebServer", "check_access",
]
