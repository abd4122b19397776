"""The ``run`` daemon: wires the FastAGI server, the menu and the store into one process."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from . import __version__, eventloop, health
from .calls.follower import CallFollower
from .collector import GarbageCollector
from .config import Config, ConfigError, load_config
from .fastagi import FastAGIServer
from .ivr import IVR
from .mqtt import CallEvents, Gauges, MQTTPublisher
from .report.build import rollup_settings
from .report.schedule import SummaryScheduler
from .report.period import local_date_of, local_day
from .store import Store, maintenance, rollups
from .store.live_day import day_so_far
from .web import BridgeMetrics, Console, WebServer, check_access

log = logging.getLogger("asterisk_bridge.service")

RETENTION_INTERVAL = 86400.0  # retention runs at start, then daily
SETTLE_INTERVAL = 600.0  # operators' days are settled this often (a day is settled within this after midnight)
ROLLUP_LOG_EVERY = 10.0  # seconds between progress lines while the rollups are built


class Service:
    """One bridge process.

    ``start`` opens the store before the FastAGI port so that no session can finish without a
    place for its record; ``stop`` closes them in the reverse order and lets calls in the menu
    finish up to the configured grace period.
    """

    def __init__(self, config: Config, *, config_path: Path | None = None,
                 clock: Callable[[], float] = time.time):
        """``clock`` is the bridge's idea of now for menu sessions and call expiry; the demo
        passes a simulated clock so that menu and call records share one timeline."""
        self.config = config
        self.config_path = config_path
        self.clock = clock
        self.store = Store(config.database.path, outbox_max=config.mqtt.outbox_max)
        self.database_path = os.path.abspath(config.database.path)  # for the status file; needs a restart
        self.events: CallEvents | None = None
        self.mqtt: MQTTPublisher | None = None
        # The live figures feed the MQTT gauges and the web console's wallboard alike.
        self.gauges: Gauges | None = Gauges.from_config(config) if config.mqtt.enabled or config.web.enabled else None
        if config.mqtt.enabled:
            self.events = CallEvents.from_config(config)
            self.mqtt = MQTTPublisher(config, self.store, gauges=self.gauges)
        self.ivr = IVR(config, self.store, events=self.events, gauges=self.gauges, clock=clock)
        self.calls: CallFollower | None = None
        if config.ami.enabled:
            self.calls = CallFollower(config, self.store, events=self.events, gauges=self.gauges, clock=clock)
        self.summaries = SummaryScheduler(config, config.database.path) if config.smtp.host else None
        settings = config.fastagi
        self.fastagi = FastAGIServer(
            self.ivr.handle,
            host=settings.host,
            port=settings.port,
            allow=settings.allow,
            env_limit=settings.env_limit,
            env_timeout=settings.env_timeout,
            command_timeout=settings.command_timeout,
        )
        self.web: WebServer | None = None
        self.web_error: str | None = None
        if config.web.enabled:
            assert self.gauges is not None
            metrics = BridgeMetrics(config.node, __version__, ami=config.ami.enabled, mqtt=config.mqtt.enabled)
            self.gauges.watch(metrics.watch)
            self.store.on_commit = metrics.committed
            self.web = WebServer(Console(config, config.database.path, self.gauges, status=self._status,
                                         ami_state=self._ami_state, clock=clock, metrics=metrics))
        self.status_path = health.status_path(config)
        self.started_at = time.time()
        self.state = "starting"
        self._ami_down_since: float | None = None
        self._background: list[asyncio.Task[None]] = []
        self.collector = GarbageCollector()

    async def start(self) -> None:
        if self.web is not None:
            check_access(self.config)  # WebAccessError: refuse before anything listens
        self.collector.start()
        await self.store.open()
        if self.gauges is not None:
            await self._seed_gauges()
        if self.mqtt is not None:
            await self.mqtt.start()
        if self.calls is not None:
            await self.calls.start()  # returns at once; AMI may come up later
        await self.fastagi.start()
        if self.summaries is not None:
            await self.summaries.start()
        if self.web is not None:
            try:
                await self.web.start()
            except OSError as exc:  # the console is not worth stopping calls for
                self.web_error = f"cannot listen on {self.config.web.host}:{self.config.web.port}: {exc.strerror or exc}"
                log.error("web console not started (%s); calls are not affected", self.web_error)
        self.state = "running"
        privacy = self.config.privacy
        if privacy.hash_after_days is not None or privacy.drop_steps_after_days is not None:
            self._background.append(asyncio.create_task(self._retention_loop(), name="retention"))
        self._background.append(asyncio.create_task(self._rollup_loop(), name="rollups"))
        self._background.append(asyncio.create_task(self._status_loop(), name="status-file"))
        log.info(
            "asterisk-bridge node %s: FastAGI on %s:%s, %d line(s), database %s, event loop %s",
            self.config.node, self.config.fastagi.host, self.fastagi.port,
            len(self.config.lines), self.config.database.path, eventloop.describe(),
        )

    async def stop(self) -> None:
        grace = self.config.fastagi.shutdown_grace
        self.state = "stopping"
        await self._write_status()
        if self.web is not None:
            await self.web.stop()
        log.info("stopping: letting %d call(s) in the menu finish (up to %.0f s)", self.fastagi.active, grace)
        await self.fastagi.close(grace)
        if self.summaries is not None:
            await self.summaries.stop()
        if self.calls is not None:
            await self.calls.stop()  # calls in progress stay open and are reconciled on the next start
        if self.mqtt is not None:
            await self.mqtt.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self.store.close()
        self.collector.stop()
        self.state = "stopped"
        await self._write_status()

    async def run_retention(self) -> maintenance.RetentionResult:
        """Apply privacy retention now, on the writer's connection; logs what it changed."""
        p = self.config.privacy
        result = await self.store.maintain(
            maintenance.apply_retention, now=time.time(), hash_after_days=p.hash_after_days,
            drop_steps_after_days=p.drop_steps_after_days, salt=p.salt)
        log.info("[privacy] retention: %s", result.describe())
        return result

    async def _seed_gauges(self) -> None:
        """Give the gauges today's answers and abandons stored before this start (a restart at
        noon must not show "answered today: 0" on the wallboard)."""
        assert self.gauges is not None
        now = self.clock()
        day = local_day(local_date_of(now, self.config.timezone), self.config.timezone)
        try:
            found = await asyncio.to_thread(day_so_far, self.config.database.path, day.start_utc, day.end_utc)
        except Exception as exc:  # noqa: BLE001 - the figures then count from now; calls go on
            log.warning("live figures start from zero: today's calls could not be read (%s)", exc)
            return
        self.gauges.seed(found["answered"], found["abandoned"], now)

    def _ami_state(self) -> str:
        if self.calls is None:
            return "off"
        return "ok" if self.calls.connected else "down"

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.run_retention()
            except Exception as exc:  # noqa: BLE001 - retried tomorrow; never stops the service
                log.warning("[privacy] retention failed (retried in 24 h): %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(RETENTION_INTERVAL)

    async def _rollup_loop(self) -> None:
        """Build the rollups when they do not serve this configuration (``store/rollups.py``), a
        chunk at a time on the writer's thread between batches of records, logging how far it
        got; then settle the operators' days as days end."""
        try:
            await self.build_rollups()
        except Exception as exc:  # noqa: BLE001 - the figures come from the rows meanwhile; calls go on
            log.error("rollups: build failed (%s: %s); the figures are read from the call rows until the next start",
                      type(exc).__name__, exc)
            return
        while True:
            try:
                await self.store.maintain(lambda db: rollups.settle(db.conn, self.clock()))
            except Exception as exc:  # noqa: BLE001 - tried again at the next interval
                log.warning("rollups: operators' days not settled (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(SETTLE_INTERVAL)

    async def build_rollups(self) -> None:
        settings = rollup_settings(self.config)
        state = await self.store.maintain(lambda db: rollups.read_state(db.conn))
        reason = await asyncio.to_thread(rollups.why_build, state, settings)
        if reason is None:
            return
        began = told = time.monotonic()
        said = False
        if reason != rollups.UNFINISHED:
            await self.store.maintain(lambda db: rollups.reset(db.conn, settings, now=self.clock()))
        while True:
            where = await self.store.maintain(lambda db: rollups.step(db.conn, now=self.clock()))
            elapsed = time.monotonic() - began
            if where.done and not said and not where.calls_total:
                log.debug("rollups: built for %s (a database without calls)", settings.timezone)
                return
            if not said:  # said once there is something to build
                log.info("rollups: building for %s (service level %g s, short abandon %g s): %s; until they are "
                         "built the figures are read from the call rows", settings.timezone,
                         settings.service_level_seconds, settings.short_abandon_seconds, reason)
                said = True
            if where.done:
                log.info("rollups: built from %s in %.1f s", where.describe(), elapsed)
                return
            if time.monotonic() - told >= ROLLUP_LOG_EVERY:
                log.info("rollups: %s, %.0f s", where.describe(), elapsed)
                told = time.monotonic()

    async def _status_loop(self) -> None:
        while True:
            await self._write_status()
            await asyncio.sleep(health.INTERVAL)

    async def _write_status(self) -> None:
        """Refresh ``<database>.status.json`` for ``asterisk-bridge status``; never raises."""
        try:
            data = await self._status()
            await asyncio.to_thread(health.write_status, self.status_path, data)
        except Exception as exc:  # noqa: BLE001 - the status file must never stop the service
            log.debug("status file %s not written: %s", self.status_path, exc)

    async def _status(self) -> dict:
        now = time.time()
        config = self.config
        ami: dict = {"enabled": self.calls is not None}
        if self.calls is not None:
            connected = self.calls.connected
            if connected:
                self._ami_down_since = None
            elif self._ami_down_since is None:
                self._ami_down_since = now
            ami.update(connected=connected, connected_since=self.calls.connected_since,
                       down_since=self._ami_down_since, active_calls=len(self.calls.active_calls),
                       reconcile_pending_since=self.calls.reconcile_pending_since,
                       reconcile_error=self.calls.reconcile_error)
        mqtt: dict = {"enabled": self.mqtt is not None}
        if self.mqtt is not None:
            mqtt.update(connected=self.mqtt.connected, last_error=self.mqtt.last_error,
                        outbox_depth=await self.store.outbox_depth() if self.store.is_open else None)
        figures: dict = {}
        if self.store.is_open:
            day = local_day(local_date_of(now, config.timezone), config.timezone)
            figures = await asyncio.to_thread(
                maintenance.status_figures, config.database.path, day.start_utc, day.end_utc)
        sent = figures.get("summary") or {}
        return {
            "schema": health.SCHEMA, "pid": os.getpid(), "node": config.node, "state": self.state,
            "started_at": self.started_at, "written_at": now,
            "fastagi": {"listen": f"{config.fastagi.host}:{self.fastagi.port}", "active": self.fastagi.active},
            "ami": ami, "mqtt": mqtt,
            "store": {"path": self.database_path, "pending": self.store.pending,
                      "last_error": self.store.last_error if self.store.pending else None},
            "summary": {"enabled": self.summaries is not None, "last_day": sent.get("day"),
                        "last_sent_at": sent.get("sent_at")},
            "today": {"menu_sessions": figures.get("menu_sessions", 0), "calls": figures.get("calls", 0)},
            "retention": figures.get("retention"),
            "web": {"enabled": self.web is not None,
                    "listening": self.web is not None and self.web.listening,
                    "url": self.web.url if self.web is not None and self.web.listening else None,
                    "error": self.web_error},
        }

    def reload(self) -> bool:
        """Read the configuration file again; new calls get the new menu.

        Settings that need a restart (listener address, database path) keep their old values
        until then, and the log says so.
        """
        if self.config_path is None:
            log.warning("reload requested but the service was not started from a file")
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload rejected, the running configuration stays:\n%s", exc)
            return False
        for section in ("fastagi", "database", "ami", "mqtt", "smtp", "summary", "web"):
            if getattr(new, section) != getattr(self.config, section):
                log.warning("[%s] changed: it applies after a restart", section)
        self.config = self.ivr.config = new
        if self.web is not None:  # names of lines, topics and queues follow; [web] itself needs the restart
            self.web.console.config = dataclasses.replace(new, web=self.web.console.config.web)
        log.info("configuration reloaded from %s: %d line(s)", self.config_path, len(new.lines))
        return True

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()


async def run(config: Config, config_path: Path | None = None) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the configuration."""
    loop = asyncio.get_running_loop()
    service = Service(config, config_path=config_path)
    stop = asyncio.Event()
    await service.start()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.reload)
    try:
        await stop.wait()
    finally:
        # A second SIGTERM while calls finish must not kill the process mid-flush (systemd sends
        # SIGKILL after TimeoutStopSec anyway); SIGHUP no longer reloads.
        def again(name: str) -> None:
            log.warning("%s while stopping: still letting calls finish and flushing the queue", name)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, again, sig.name)
        try:
            await service.stop()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
