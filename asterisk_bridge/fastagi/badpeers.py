"""Bad FastAGI connections, told to the admin once a minute per peer instead of once each.

A port scanner, a health check that connects and closes, or a misconfigured client can open
hundreds of connections a second; one warning each buried the journal (2,053 lines in 35 s under
such a flood). The first bad connection from a peer is still logged at once with its detail, so a
single mistake is seen right away; the peer's later ones within the window are counted by kind
and told in one line when the window ends, with the last detail:

    312 bad FastAGI connections from 127.0.0.1 in the last 60 s: 208 closed early,
    104 no env block in time (last: no complete env block within 5.0 s (0 bytes received))

Pure logic with an injected clock; the server logs what it returns.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BadConnections"]


@dataclass
class _Window:
    opened: float
    told: int  # connections of this window already logged one by one (the first of a quiet peer)
    kinds: Counter[str] = field(default_factory=Counter)
    last: str = ""


class BadConnections:
    """Per-peer windows of ``window`` seconds; at most one aggregated line per peer and window."""

    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError(f"window must be > 0 s, got {window!r}")
        self.window = window
        self.clock = clock
        self._peers: dict[str, _Window] = {}

    def add(self, peer_ip: str, kind: str, detail: str) -> bool:
        """Count one bad connection; True when it opened a window (log its detail now)."""
        window = self._peers.get(peer_ip)
        opened = window is None
        if window is None:
            window = self._peers[peer_ip] = _Window(self.clock(), told=1)
        window.kinds[kind] += 1
        window.last = detail
        return opened

    def next_due(self) -> float | None:
        """Seconds until the earliest window ends (None: no window open)."""
        if not self._peers:
            return None
        earliest = min(w.opened for w in self._peers.values())
        return max(0.0, earliest + self.window - self.clock())

    def due(self) -> list[str]:
        """Lines for the windows that ended. A peer still failing gets a new, silent window; a
        quiet one is forgotten, so its next bad connection is logged at once again."""
        now = self.clock()
        return [line for peer, w in list(self._peers.items()) if now - w.opened >= self.window
                for line in self._close(peer, w, now, reopen=True)]

    def flush(self) -> list[str]:
        """Lines for every open window (the server is stopping)."""
        now = self.clock()
        return [line for peer, w in list(self._peers.items()) for line in self._close(peer, w, now, reopen=False)]

    def _close(self, peer: str, w: _Window, now: float, *, reopen: bool) -> list[str]:
        del self._peers[peer]
        total = sum(w.kinds.values())
        if total <= w.told:
            return []  # nothing beyond what was logged when it came
        if reopen:
            self._peers[peer] = _Window(now, told=0)
        kinds = ", ".join(f"{n} {kind}" for kind, n in w.kinds.most_common())
        noun = "connection" if total == 1 else "connections"
        return [f"{total} bad FastAGI {noun} from {peer} in the last {now - w.opened:.0f} s: {kinds} "
                f"(last: {w.last})"]
