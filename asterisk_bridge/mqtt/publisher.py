"""Delivers the outbox to the MQTT broker: in order, QoS 1, deleted only once the broker has it.

aiomqtt 2.x has no reconnect and no client-side buffer: ``publish``
while disconnected raises, and a publish waiting for its PUBACK when the connection drops just
waits for its timeout. So:

- the outbox in SQLite is the buffer; rows are read oldest first and deleted (``outbox_ack``)
  right after their PUBACK, so a restart re-sends nothing the broker acknowledged and loses
  nothing it did not;
- one message is in flight at a time, which keeps the order on the broker without relying on
  paho's in-flight window;
- a watcher iterates ``client.messages`` (we subscribe to nothing): it raises the moment the
  connection drops, and the publish waiting for its PUBACK is cancelled instead of timing out;
- the documented reconnect loop (``async with client`` in ``while True``) with capped
  exponential backoff; a refused CONNECT (wrong password) is logged once with the broker's reason
  and retried with the same backoff, never in a tight loop.

This is the only module that imports aiomqtt: the 3.x migration touches this file alone.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import TYPE_CHECKING

import aiomqtt

from ..store.errors import StoreClosedError
from .events import Topics
from .gauges import Gauges

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Store
    from .message import OutboxMessage

log = logging.getLogger(__name__)

# CONNACK codes that mean "your credentials": MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_CODES = {4, 5, 134, 135}


class MQTTPublisher:
    """``MQTTPublisher(config, store)``; ``await start()`` ... ``await stop()``.

    ``gauges`` (optional) is read every ``gauge_interval`` seconds and its changed figures are
    published retained. Status ``online``/``offline`` is retained on ``<prefix>/<node>/status``,
    with ``offline`` as the Last Will for a bridge that dies without saying goodbye.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        gauges: Gauges | None = None,
        gauge_interval: float = 5.0,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
        batch_size: int = 100,
        publish_timeout: float = 30.0,
        keepalive: int = 30,
        tls_context: ssl.SSLContext | None = None,
        identifier: str | None = None,
        clock=time.time,
    ):
        settings = config.mqtt
        if not settings.host:
            raise ValueError("mqtt.host: no broker host configured")
        if reconnect_initial <= 0 or reconnect_max < reconnect_initial:
            raise ValueError(
                f"need 0 < reconnect_initial <= reconnect_max, got {reconnect_initial} and {reconnect_max}"
            )
        self.settings = settings
        self.store = store
        self.gauges = gauges
        self.gauge_interval = gauge_interval
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.batch_size = batch_size
        self.publish_timeout = publish_timeout
        self.keepalive = keepalive
        self.topics = Topics(settings.prefix, config.node)
        self.identifier = identifier or f"asterisk-bridge-{config.node}"
        self.tls_context = tls_context if tls_context is not None else (
            ssl.create_default_context() if settings.tls else None
        )
        self.clock = clock
        self.published = 0  # events acknowledged by the broker since start
        self.connects = 0  # successful connections since start
        self.attempts = 0  # connection attempts since start
        self.last_error: str | None = None
        self._client: aiomqtt.Client | None = None
        self._connected = False
        self._task: asyncio.Task[None] | None = None
        self._gauge_latest: dict[str, OutboxMessage] = {}
        self._gauge_dirty: set[str] = set()

    @property
    def connected(self) -> bool:
        return self._connected

    async def outbox_depth(self) -> int:
        """Events waiting for the broker (in the database)."""
        return await self.store.outbox_depth()

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("MQTT publisher already started")
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")

    async def stop(self, timeout: float = 5.0) -> None:
        """Say ``offline`` (retained) if connected, then disconnect. The outbox keeps the rest."""
        if self._task is None:
            return
        client = self._client
        if client is not None and self._connected:
            try:
                await client.publish(self.topics.status, "offline", qos=1, retain=True, timeout=timeout)
            except (aiomqtt.MqttError, asyncio.TimeoutError) as exc:
                log.debug("MQTT: could not publish offline status: %s", exc)
        task, self._task = self._task, None
        task.cancel()
        await asyncio.wait([task], timeout=timeout)
        self._connected = False
        self._client = None

    async def __aenter__(self) -> MQTTPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- connection loop --------------------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        assert s.host is not None  # the configuration refuses mqtt.enabled without a host
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=self.identifier,
            will=aiomqtt.Will(self.topics.status, "offline", qos=1, retain=True),
            clean_session=True,  # nothing to resume: what is unsent is in the outbox
            keepalive=self.keepalive,
            tls_context=self.tls_context,
            timeout=self.publish_timeout,
        )

    async def _run(self) -> None:
        delay = self.reconnect_initial
        down_since: float | None = None
        while True:
            self.attempts += 1
            client = self._new_client()
            try:
                async with client:
                    self._client, self._connected = client, True
                    self.connects += 1
                    delay = self.reconnect_initial
                    depth = await self.store.outbox_depth()
                    if down_since is None:
                        log.info("MQTT connected to %s:%s; %d events in the outbox",
                                 self.settings.host, self.settings.port, depth)
                    else:
                        log.info("MQTT connected again to %s:%s after %.1f s; %d events in the outbox",
                                 self.settings.host, self.settings.port, time.monotonic() - down_since, depth)
                    down_since, self.last_error = None, None
                    await client.publish(self.topics.status, "online", qos=1, retain=True)
                    self._gauge_dirty.update(self._gauge_latest)
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                error = _describe(exc, self.settings.host, self.settings.port)
                if down_since is None or error != self.last_error:
                    waiting = await self._depth_or_none()
                    log.error("%s; %s events wait in the outbox; retrying in %.1f s (backoff up to %g s)",
                              error, "?" if waiting is None else waiting, delay, self.reconnect_max)
                else:
                    log.debug("%s; retrying in %.1f s", error, delay)
                self.last_error = error
                down_since = down_since if down_since is not None else time.monotonic()
            except Exception as exc:  # noqa: BLE001 - the store, a bug: log, back off, keep the outbox
                log.exception("MQTT publisher: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                self.last_error = f"{type(exc).__name__}: {exc}"
                down_since = down_since if down_since is not None else time.monotonic()
            finally:
                self._client, self._connected = None, False
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max)

    async def _depth_or_none(self) -> int | None:
        try:
            return await self.store.outbox_depth()
        except Exception:  # noqa: BLE001 - only for the log line
            return None

    async def _session(self, client: aiomqtt.Client) -> None:
        """Pump the outbox until the connection drops (raises ``MqttError``)."""
        watcher = asyncio.create_task(self._watch(client), name="mqtt-watch")
        pump = asyncio.create_task(self._pump(client), name="mqtt-pump")
        try:
            done, _ = await asyncio.wait([watcher, pump], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watcher, pump):
                task.cancel()
            await asyncio.wait([watcher, pump])
        for task in done:
            failure = task.exception()
            if failure is not None:
                raise failure
        raise aiomqtt.MqttError("MQTT session ended unexpectedly")

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        async for _ in client.messages:  # nothing is subscribed; this only notices a drop
            pass

    # -- publishing -------------------------------------------------------------------------------

    async def _pump(self, client: aiomqtt.Client) -> None:
        signal = self.store.outbox_signal
        while True:
            signal.clear()  # before reading, so a commit after the read wakes us again
            rows = await self.store.outbox_batch(self.batch_size)
            acked: list[int] = []
            try:
                for row in rows:
                    await client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
                    acked.append(row.id)
            finally:
                if acked:
                    await asyncio.shield(self._ack(acked))
            await self._publish_gauges(client)
            if not rows:
                try:
                    async with asyncio.timeout(self.gauge_interval):
                        await signal.wait()
                except TimeoutError:
                    pass

    async def _ack(self, ids: list[int]) -> None:
        """Delete acknowledged rows; keep trying, since a row left behind would be sent twice."""
        delay = self.reconnect_initial
        while True:
            try:
                await self.store.outbox_ack(ids)
                self.published += len(ids)
                log.debug("MQTT: %d events acknowledged by the broker", len(ids))
                return
            except StoreClosedError as exc:
                log.error("MQTT: store closed; %d acknowledged events will be sent again: %s", len(ids), exc)
                return
            except Exception as exc:  # noqa: BLE001 - sqlite: retried
                log.error("MQTT: cannot mark %d events as sent (%s); retrying", len(ids), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max)

    async def _publish_gauges(self, client: aiomqtt.Client) -> None:
        if self.gauges is not None:
            for message in self.gauges.messages(self.clock()):
                self._gauge_latest[message.topic] = message
                self._gauge_dirty.add(message.topic)
        for topic in sorted(self._gauge_dirty):
            message = self._gauge_latest[topic]
            await client.publish(topic, message.payload, qos=message.qos, retain=True)
            self._gauge_dirty.discard(topic)


def _describe(exc: aiomqtt.MqttError, host: str | None, port: int) -> str:
    """One line for the log: what failed and, for a refused CONNECT, the broker's reason."""
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    if isinstance(exc, aiomqtt.MqttCodeError) and code in _AUTH_CODES:
        return (f"MQTT broker {host}:{port} refused the connection: {exc} "
                "(check mqtt.username and the password in mqtt.password_file / password_env)")
    if isinstance(exc, aiomqtt.MqttCodeError):
        return f"MQTT broker {host}:{port} refused the connection or dropped it: {exc}"
    return f"MQTT broker {host}:{port} unreachable or disconnected: {exc}"
