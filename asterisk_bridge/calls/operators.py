"""The operators' edge: the member tracker fed from AMI, its sessions and pauses to the store, its
live states to the MQTT gauges, one log line per login, logout and pause.

Owned by the call follower (``follower.py``), which hands it every AMI event, tells it when the
link goes down, and gives it the ``QueueStatus`` members of every reconcile (with the operators
the call tracker knows to be talking). On start it reloads the sessions and pauses that were open
when the bridge stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ..store import Store, queries
from .member_model import MemberUpdate, OperatorView
from .members import MemberTracker

if TYPE_CHECKING:
    from ..mqtt import Gauges

log = logging.getLogger("asterisk_bridge.operators")  # logins, logouts and pauses


class OperatorFollower:
    """``feed`` / ``link_lost`` / ``reconcile`` as the member tracker's, with the updates persisted."""

    def __init__(self, store: Store, node: str, gauges: Gauges | None = None):
        self.store = store
        self.node = node
        self.gauges = gauges
        self.tracker = MemberTracker()

    @property
    def operators(self) -> list[OperatorView]:
        """Every operator seen and what each is doing now."""
        return self.tracker.operators()

    async def restore(self, clock: Callable[[], float]) -> None:
        """Follow again the sessions and pauses open when the bridge stopped; the next snapshot
        ends those Asterisk no longer shows at the last activity the store holds."""
        path = self.store.path
        sessions = await asyncio.to_thread(queries.open_operator_sessions, path)
        pauses = await asyncio.to_thread(queries.open_operator_pauses, path)
        if not sessions and not pauses:
            return
        last = await asyncio.to_thread(queries.last_activity, path)
        self.tracker.restore(sessions, pauses, last if last is not None else clock())
        log.info("reloaded %d operator session(s) and %d pause(s) open when the bridge stopped",
                 len(sessions), len(pauses))

    def feed(self, message: Mapping[str, str], received_at: float) -> None:
        self._persist(self.tracker.feed(message, received_at))

    def link_lost(self, at: float) -> None:
        self.tracker.link_lost(at)

    def reconcile(self, members: Iterable[Mapping[str, str]], now: float,
                  talking: Mapping[str, Iterable[str]]) -> None:
        self._persist(self.tracker.reconcile(members, now, on_call=talking))

    def _persist(self, updates: list[MemberUpdate]) -> None:
        for update in updates:
            try:
                if update.session is not None:
                    self.store.submit_operator_session(update.session, node=self.node)
                    _log_session(update)
                elif update.pause is not None:
                    self.store.submit_operator_pause(update.pause, node=self.node)
                    _log_pause(update)
                elif update.operator is not None and self.gauges is not None:
                    self.gauges.operator_update(update.operator)
            except Exception:
                log.exception("could not hand operator update %s to the store", update.kind)


def _log_session(update: MemberUpdate) -> None:
    session = update.session
    assert session is not None
    if session.logged_out_at is None:
        how = "" if session.login_seen else f" (found logged in, {session.membership})"
        log.info("operator %s (%s) logged in to %s%s", session.member_name, session.interface, session.queue, how)
    else:
        how = "" if session.logout_seen else " (gone when the bridge looked again)"
        log.info("operator %s (%s) logged out of %s%s", session.member_name, session.interface, session.queue, how)


def _log_pause(update: MemberUpdate) -> None:
    pause = update.pause
    assert pause is not None
    if pause.ended_at is None:
        what = "auto-paused after letting a call ring out" if pause.auto else f"paused ({pause.reason or 'no reason'})"
        log.info("operator %s (%s) %s in %s", pause.member_name, pause.interface, what, pause.queue)
    else:
        log.info("operator %s (%s) unpaused in %s after %.0f s", pause.member_name, pause.interface, pause.queue,
                 pause.ended_at - pause.started_at)
