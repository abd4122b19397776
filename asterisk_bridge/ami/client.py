"""AMI client: panoramisk 1.4 ``Manager`` behind one small adapter.

panoramisk gives us Login, ActionID generation and the reconnect skeleton, but 1.4 has five
bugs, each reproduced against a loopback AMI server (tests/test_ami_client.py holds the fix of
each to account). This module fixes them in one place:

1. UTF-8 split across TCP reads (1.4 decodes every read on its own and silently drops the bytes
   of a character split between two reads): the protocol (``protocol.py``) reads through
   ``frames.FrameParser``, which buffers bytes and decodes whole messages.
2. A hung Asterisk is never noticed (its keep-alive Ping throws the answer away): a Ping watchdog
   aborts the transport, so we reconnect.
3. Pending actions are re-sent after a reconnect (a second Originate = a second call): every
   action is "forgetable"; a lost connection fails it with ``AMINotConnected`` and the caller
   decides whether to retry.
4. No action timeout: every action waits at most ``action_timeout`` (``AMIActionTimeout``).
5. ``close()`` does not stop a pending reconnect: a closing flag is checked in ``connect()``.
   (And a rejected login neither raises nor backs off in 1.4: see below.)

Also: a rejected login raises/logs ``AMIAuthError`` (username, never the secret) and reconnects
back off exponentially up to ``reconnect_max``; events that carry ``ActionID``/``Response`` keys
(``OriginateResponse``, ``UserEvent``; facts M2/M4/M6) go to the event callbacks, and only
``EventList`` items are collected into an action's answer.

Every byte is read through ``frames.py`` (the one AMI parser) by ``protocol.py``: events reach
the callbacks as its ``Frame`` objects; responses and list items become panoramisk ``Message``
objects only because panoramisk's Login and action futures expect them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from panoramisk import actions
from panoramisk.manager import Manager
from panoramisk.message import Message

from asterisk_bridge.ami.errors import (
    AMIActionError,
    AMIActionTimeout,
    AMIAuthError,
    AMIBadAction,
    AMIError,
    AMINotConnected,
)
from asterisk_bridge.ami.frames import Frame
from asterisk_bridge.ami.protocol import ClientProtocol

log = logging.getLogger(__name__)


class _AllActions:
    """``forgetable_actions`` that contains every action: panoramisk never re-sends one."""

    def __contains__(self, name: object) -> bool:
        return True


class _SecretFilter(logging.Filter):
    """Blank the AMI secret out of any log record (panoramisk logs whole actions in places)."""

    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            text = record.getMessage()
            if self.secret in text:
                record.msg, record.args = text.replace(self.secret, "********"), None
        return True


class _Manager(Manager):
    """panoramisk Manager with our reconnect policy: closing flag, backoff, login check."""

    def __init__(self, client: AMIClient, **config):
        super().__init__(**config)
        self.client = client
        self.closing = False
        self.failures = 0  # consecutive failed attempts (connect, login) -> backoff exponent
        self.retry: asyncio.TimerHandle | None = None
        self.connecting: asyncio.Task | None = None
        self.login_timer: asyncio.TimerHandle | None = None

    def connect(self):
        if self.closing:
            return None
        self.retry = None
        c = self.client
        self.connecting = self.loop.create_task(asyncio.wait_for(self.loop.create_connection(
            self.config["protocol_factory"], c.host, c.port), c.action_timeout))
        self.connecting.add_done_callback(self.connection_made)
        return self.connecting

    def connection_made(self, f):
        if f.cancelled():
            return
        if f.exception() is not None:
            if not self.closing:
                exc = f.exception()
                self.log.warning("cannot connect to AMI at %s:%s: %s", self.client.host, self.client.port,
                                 str(exc) or type(exc).__name__)
                self.schedule_reconnect()
            return
        if self.closing:
            f.result()[0].close()
            return
        super().connection_made(f)
        self.login_timer = self.loop.call_later(self.client.login_timeout, self.login_overdue, self.protocol)

    def ping(self):
        """panoramisk's fire-and-forget Ping is replaced by ``AMIClient._watchdog``."""

    def login(self, future):
        self.authenticated_future = None
        if self.login_timer:
            self.login_timer.cancel()
        if future.cancelled() or future.exception() is not None:
            return  # connection lost meanwhile: connection_lost reconnects
        response = future.result()
        self.authenticated = bool(response.success)
        if self.authenticated:
            self.failures = 0
            self.client._logged_in()
        else:
            self.client._login_rejected(response)
            self.protocol.transport.close()  # Asterisk closes too (M2); reconnect with backoff

    def login_overdue(self, protocol):
        if protocol is self.protocol and not self.authenticated and not protocol.closed:
            self.log.warning("no answer to Login from %s:%s within %.1f s; dropping the connection",
                             self.client.host, self.client.port, self.client.login_timeout)
            protocol.transport.abort()

    def connection_lost(self, exc):
        self._connected = False
        was_logged_in, self.authenticated = self.authenticated, False
        for handle in (self.login_timer, self.pinger):
            if handle is not None:
                handle.cancel()
        self.client._lost(was_logged_in)
        self.schedule_reconnect()

    def schedule_reconnect(self):
        if self.closing or self.retry is not None:
            return
        c = self.client
        delay = min(c.reconnect_max, c.reconnect_min * 2 ** min(self.failures, 30))
        self.failures += 1
        self.log.info("reconnecting to AMI at %s:%s in %.1f s", c.host, c.port, delay)
        self.retry = self.loop.call_later(delay, self.connect)

    def shutdown(self):
        self.closing = True
        for handle in (self.retry, self.login_timer, self.connecting):
            if handle is not None:
                handle.cancel()
        self.close()


class AMIClient:
    """One AMI connection that stays up by itself: ``async with AMIClient(...) as ami``.

    ``start()`` returns at once: Asterisk may come up after us, and the IVR must work without
    AMI. ``wait_connected()`` waits for the login. Events go to ``on_event`` callbacks in
    arrival order, each an ``ami.frames.Frame`` (case-insensitive mapping; a repeated key reads
    as its values joined by newlines, ``getall`` lists them) with ``received_at`` (epoch seconds
    of receipt). Action answers stay panoramisk ``Message`` objects (repeats as lists).
    """

    def __init__(self, host: str, port: int, username: str, secret: str, *, ping_interval: float = 10.0,
                 action_timeout: float = 5.0, reconnect_max: float = 60.0, reconnect_min: float = 1.0,
                 events: str = "on", login_timeout: float | None = None):
        self.host, self.port, self.username = host, port, username
        self._secret = secret
        self.ping_interval = ping_interval
        self.action_timeout = action_timeout
        # a rejected login is answered only after 1 s (M2): do not mistake that for a hang
        self.login_timeout = login_timeout if login_timeout is not None else max(action_timeout, 2.0)
        self.reconnect_min = reconnect_min
        self.reconnect_max = max(reconnect_max, reconnect_min)
        self.events = events
        self.connected_since: float | None = None
        self.last_received: float | None = None  # epoch seconds of the last message from Asterisk
        self.last_error: AMIError | None = None
        self._event_callbacks: list[Callable[[Frame], None]] = []
        #: events whose name (raw ``Event`` bytes) this rejects are not parsed nor handed to on_event
        #: callbacks (replies to our own actions always are): a consumer that reads few kinds saves
        #: the parsing of the rest
        self.event_filter: Callable[[bytes], bool] | None = None
        self._connection_callbacks: list[Callable[[bool], None]] = []
        self._manager: _Manager | None = None
        self._watch: asyncio.Task | None = None
        self._waiters: list[asyncio.Future] = []
        self._filter = _SecretFilter(secret)

    @property
    def connected(self) -> bool:
        m = self._manager
        return bool(m and m.authenticated and m.protocol and not m.protocol.closed)

    def on_event(self, callback: Callable[[Frame], None]) -> None:
        self._event_callbacks.append(callback)

    def on_connection(self, callback: Callable[[bool], None]) -> None:
        self._connection_callbacks.append(callback)

    async def start(self) -> None:
        if self._manager is not None:
            raise RuntimeError("AMIClient.start() called twice")
        for name in (__name__, "panoramisk", "panoramisk.manager", "panoramisk.ami_protocol"):
            logging.getLogger(name).addFilter(self._filter)
        self._manager = _Manager(
            self, loop=asyncio.get_running_loop(), host=self.host, port=self.port, username=self.username,
            secret=self._secret, events=self.events, protocol_factory=ClientProtocol, log=log,
            forgetable_actions=_AllActions(), ping_delay=86400, ping_interval=86400)
        self._manager.connect()
        self._watch = asyncio.create_task(self._watchdog())

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for a login; raise ``AMIAuthError`` if one is rejected, ``AMINotConnected`` on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self.connected:
            if isinstance(self.last_error, AMIAuthError):
                raise self.last_error
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                outcome = await asyncio.wait_for(waiter, None if deadline is None else max(0, deadline - loop.time()))
            except TimeoutError:
                raise AMINotConnected(f"not logged in to AMI at {self.host}:{self.port} after {timeout} s"
                                      f" (last error: {self.last_error})") from None
            if outcome == "rejected" and self.last_error is not None:
                raise self.last_error

    async def action(self, action: Mapping[str, Any], *, timeout: float | None = None) -> Message | list[Message]:
        """Send one action; return its response, or [response, items..., Complete] for an EventList.

        Never re-sent: if the connection drops first it raises ``AMINotConnected``.
        """
        name = next((v for k, v in action.items() if k.lower() == "action"), None)
        if not name:
            raise AMIBadAction(f"AMI action has no 'Action' key: keys {sorted(action)}")
        for key, value in action.items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if any(c in f"{key}{v}" for c in "\r\n"):
                    raise AMIBadAction(f"AMI action {name}: CR/LF in header {key!r} would inject headers")
        manager = self._manager
        if manager is None or not self.connected:
            raise AMINotConnected(f"not logged in to AMI at {self.host}:{self.port}; {name} not sent")
        protocol = manager.protocol
        act = actions.Action(dict(action))
        future = protocol.send(act)
        log.debug("sent AMI %s (ActionID %s)", name, act.id)
        limit = self.action_timeout if timeout is None else timeout
        try:
            result = await asyncio.wait_for(future, limit)
        except TimeoutError:
            raise AMIActionTimeout(f"no response to AMI {name} (ActionID {act.id}) within {limit} s") from None
        finally:
            protocol.responses.pop(act.id, None)  # a late response is then dropped, not misrouted
        first = result[0] if isinstance(result, list) else result
        if not first.success:
            raise AMIActionError(name, first)
        return result

    async def close(self) -> None:
        """Stop for good: no reconnect, pending actions fail with ``AMINotConnected``."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self._manager is not None:
            was = self.connected
            self._manager.shutdown()
            if was:
                self._lost(True, closing=True)
            await asyncio.sleep(0)  # let the transport finish closing
        for name in (__name__, "panoramisk", "panoramisk.manager", "panoramisk.ami_protocol"):
            logging.getLogger(name).removeFilter(self._filter)

    async def __aenter__(self) -> AMIClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def _watchdog(self) -> None:
        """Ping every ``ping_interval``; no Pong within ``action_timeout`` = hung Asterisk: abort."""
        while True:
            await asyncio.sleep(self.ping_interval)
            manager = self._manager
            if manager is None or not self.connected:
                continue
            protocol = manager.protocol
            try:
                await self.action({"Action": "Ping"})
            except AMIActionTimeout:
                if protocol is manager.protocol and not protocol.closed:
                    log.warning("AMI at %s:%s did not answer Ping within %.1f s; dropping the connection",
                                self.host, self.port, self.action_timeout)
                    protocol.transport.abort()
            except AMIError as exc:
                log.debug("AMI Ping failed: %s", exc)

    def _dispatch(self, message: Frame) -> None:
        for callback in list(self._event_callbacks):
            try:
                callback(message)
            except Exception:
                log.exception("AMI event callback %r failed on %s", callback, message.get("Event"))

    def _notify(self, outcome: str, connected: bool | None) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(outcome)
        self._waiters.clear()
        if connected is None:
            return
        for callback in list(self._connection_callbacks):
            try:
                callback(connected)
            except Exception:
                log.exception("AMI connection callback %r failed", callback)

    def _logged_in(self) -> None:
        self.connected_since, self.last_error = time.time(), None
        log.info("AMI logged in to %s:%s as %s", self.host, self.port, self.username)
        self._notify("connected", True)

    def _login_rejected(self, response: Message) -> None:
        self.last_error = AMIAuthError(f"AMI at {self.host}:{self.port} rejected login for user "
                                       f"{self.username!r}: {response.get('Message', response.get('Response'))}")
        log.error("%s", self.last_error)
        self._notify("rejected", None)

    def _lost(self, was_logged_in: bool, *, closing: bool = False) -> None:
        self.connected_since = None
        if was_logged_in:
            if closing:
                log.info("AMI connection to %s:%s closed", self.host, self.port)
            else:
                log.warning("AMI connection to %s:%s lost", self.host, self.port)
            self._notify("lost", False)
