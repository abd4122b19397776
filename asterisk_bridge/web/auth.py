"""Who is asking: sessions, the login rate limit, CSRF tokens, and the client's real address.

Sessions live in memory: a restart signs everyone out (the wallboard then shows the login page
and returns to the board after the login), and signing out really ends a session. They expire
after ``IDLE`` seconds without a request; an open wallboard keeps its session alive.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

IDLE = 12 * 3600.0
COOKIE = "ab_session"
LOGIN_COOKIE = "ab_login"  # the login form's CSRF token (there is no session yet)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Session:
    token: str
    user: str
    role: str
    csrf: str
    seen: float

    @property
    def admin(self) -> bool:
        return self.role == "admin"


class Sessions:
    def __init__(self, *, idle: float = IDLE, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle = idle
        self.clock = clock
        self._by_token: dict[str, Session] = {}

    def create(self, user: str, role: str) -> Session:
        self._expire()
        session = Session(secrets.token_urlsafe(32), user, role, secrets.token_urlsafe(32), self.clock())
        self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token`` (its idle time restarts), or None."""
        if not token:
            return None
        session = self._by_token.get(token)
        now = self.clock()
        if session is None or now - session.seen > self.idle:
            self._by_token.pop(token, None)
            return None
        session.seen = now
        return session

    def drop(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def drop_user(self, user: str) -> None:
        for token in [t for t, s in self._by_token.items() if s.user == user]:
            del self._by_token[token]

    def __len__(self) -> int:
        return len(self._by_token)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._by_token.items() if now - s.seen > self.idle]:
            del self._by_token[token]


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


@dataclass
class LoginLimiter:
    """At most ``max_failures`` failed logins per client address, and per user name, in ``window``
    seconds; then the login is refused (429) until the oldest failure leaves the window."""

    max_failures: int = 5
    window: float = 600.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, address: str, name: str) -> float:
        """Seconds to wait before a login from ``address`` as ``name`` is tried; 0 = go ahead."""
        now = self.clock()
        wait = 0.0
        for key in (f"addr:{address}", f"user:{name}"):
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                wait = max(wait, times[0] + self.window - now)
        return wait

    def failed(self, address: str, name: str) -> None:
        now = self.clock()
        for key in (f"addr:{address}", f"user:{name}"):
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
            for key in [k for k, v in self._failures.items() if not v or v[-1] < now - self.window]:
                del self._failures[key]

    def succeeded(self, address: str, name: str) -> None:
        self._failures.pop(f"user:{name}", None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def parse_address(text: str | None) -> Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def in_networks(address: Address | None, nets: Iterable[Network]) -> bool:
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in nets if address.version == net.version)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> Address | None:
    """The address the request really came from.

    ``X-Forwarded-For`` is believed only when the peer is a trusted proxy, and then read from the
    right: the first address that is not a trusted proxy is the client (anything further left
    was written by the client itself and proves nothing).
    """
    address = parse_address(peer)
    if not forwarded_for or not in_networks(address, trusted):
        return address
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        hop_address = parse_address(hop)
        if hop_address is None:
            return address  # garbage: trust only the proxy itself
        address = hop_address
        if not in_networks(hop_address, trusted):
            break
    return address


def is_https(scheme: str, peer: str | None, forwarded_proto: str | None, trusted: tuple[Network, ...]) -> bool:
    """The browser talks HTTPS: to us, or to a trusted proxy that says so (``X-Forwarded-Proto``)."""
    if scheme == "https":
        return True
    if forwarded_proto and in_networks(parse_address(peer), trusted):
        return forwarded_proto.split(",")[0].strip().lower() == "https"
    return False
