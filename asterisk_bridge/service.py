"""The ``run`` daemon: wires the FastAGI server, the menu and the store into one process."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from .calls import CallFollower
from .config import Config, ConfigError, load_config, retention_not_applied
from .fastagi import FastAGIServer
from .ivr import IVR
from .mqtt import CallEvents, Gauges, MQTTPublisher
from .report.schedule import SummaryScheduler
from .store import Store

log = logging.getLogger("asterisk_bridge.service")


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
        self.store = Store(config.database.path, outbox_max=config.mqtt.outbox_max)
        self.events: CallEvents | None = None
        self.gauges: Gauges | None = None
        self.mqtt: MQTTPublisher | None = None
        if config.mqtt.enabled:
            self.events = CallEvents.from_config(config)
            self.gauges = Gauges.from_config(config)
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

    async def start(self) -> None:
        retention = retention_not_applied(self.config)
        if retention:
            log.warning("[privacy] %s: retention is not implemented in this version; records are kept as they are",
                        retention)
        await self.store.open()
        if self.mqtt is not None:
            await self.mqtt.start()
        if self.calls is not None:
            await self.calls.start()  # returns at once; AMI may come up later
        await self.fastagi.start()
        if self.summaries is not None:
            await self.summaries.start()
        log.info(
            "asterisk-bridge node %s: FastAGI on %s:%s, %d line(s), database %s",
            self.config.node, self.config.fastagi.host, self.fastagi.port,
            len(self.config.lines), self.config.database.path,
        )

    async def stop(self) -> None:
        grace = self.config.fastagi.shutdown_grace
        log.info("stopping: letting %d call(s) in the menu finish (up to %.0f s)", self.fastagi.active, grace)
        await self.fastagi.close(grace)
        if self.summaries is not None:
            await self.summaries.stop()
        if self.calls is not None:
            await self.calls.stop()  # calls in progress stay open and are reconciled on the next start
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.store.close()

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
        for section in ("fastagi", "database", "ami", "mqtt", "smtp", "summary"):
            if getattr(new, section) != getattr(self.config, section):
                log.warning("[%s] changed: it applies after a restart", section)
        self.config = self.ivr.config = new
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
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await service.stop()
