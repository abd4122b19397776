"""Readers of the service's own sections: ``[fastagi]``, ``[ami]``, ``[mqtt]``, ``[smtp]``,
``[summary]``, ``[privacy]``, ``[database]``, ``[web]`` and ``[queues]``.

Each reader takes the section's :class:`~asterisk_bridge.config.table.Table` and returns its
settings with the defaults of :mod:`asterisk_bridge.config.settings`; every problem is recorded on
the table, never raised, so one pass reports them all.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from .errors import ConfigProblem
from .settings import (
    AMISettings,
    DatabaseSettings,
    FastAGISettings,
    MQTTSettings,
    PrivacySettings,
    SMTPSettings,
    SummarySettings,
    WebSettings,
)
from .table import Table, read_secret, show

_QUEUE_RE = re.compile(r"[^\s,|;()\"'\\]+")
_SEND_AT_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_BASE_PATH_RE = re.compile(r"(/[A-Za-z0-9._~-]+)+")


def read_fastagi(t: Table) -> FastAGISettings:
    d = FastAGISettings
    allow = t.strings("allow")
    for i, peer in enumerate(allow):
        try:
            ipaddress.ip_network(peer, strict=False)
        except ValueError:
            t.problems.append(ConfigProblem(f"{t.at('allow')}[{i}]", f"{peer!r} is not an IP address or network"))
    return FastAGISettings(
        host=t.string("host", d.host, required=True), port=t.integer("port", d.port, 0, 65535), allow=allow,
        env_timeout=t.number("env_timeout", d.env_timeout, 0.1, 300),
        env_limit=t.integer("env_limit", d.env_limit, 1024, 1 << 20),
        command_timeout=t.number("command_timeout", d.command_timeout, 1, 3600),
        shutdown_grace=t.number("shutdown_grace", d.shutdown_grace, 0, 3600))


def read_ami(t: Table) -> AMISettings:
    d = AMISettings
    enabled = t.boolean("enabled", d.enabled)
    secret, source = read_secret(t, "secret", written_by="`asterisk-bridge init`")
    if enabled and secret is None and source == "not set":
        t.problem("secret_file", "AMI is enabled but no secret is given (secret_file, secret_env or secret)")
    return AMISettings(
        enabled=enabled, host=t.string("host", d.host, required=True), port=t.integer("port", d.port, 1, 65535),
        username=t.string("username", d.username, required=True), secret=secret, secret_source=source,
        ping_interval=t.number("ping_interval", d.ping_interval, 1, 3600),
        action_timeout=t.number("action_timeout", d.action_timeout, 0.5, 300),
        reconnect_max=t.number("reconnect_max", d.reconnect_max, 1, 3600),
        unknown_end_after=t.number("unknown_end_after", d.unknown_end_after, 60, 7 * 86400),
        short_abandon=t.number("short_abandon", d.short_abandon, 0, 600),
        queue_log=t.string("queue_log"))


def read_mqtt(t: Table) -> MQTTSettings:
    d = MQTTSettings
    enabled = t.boolean("enabled", d.enabled)
    host = t.string("host")
    if enabled and not host:
        t.problem("host", "MQTT is enabled but no broker host is given")
    prefix = t.string("prefix", d.prefix, required=True)
    if prefix and (set(prefix) & set("#+") or prefix.startswith("/") or prefix.endswith("/")):
        t.problem("prefix", f"{prefix!r} must not contain + or # or start/end with /")
    password, source = read_secret(t, "password")
    return MQTTSettings(
        enabled=enabled, host=host, port=t.integer("port", d.port, 1, 65535), prefix=prefix,
        username=t.string("username"), password=password, password_source=source, tls=t.boolean("tls", d.tls),
        outbox_max=t.integer("outbox_max", d.outbox_max, 1, 10_000_000),
        caller_numbers=t.choice("caller_numbers", d.caller_numbers, ("mask", "hash", "full")))


def read_smtp(t: Table) -> SMTPSettings:
    d = SMTPSettings
    host = t.string("host")
    sender = t.string("sender")
    recipients = t.strings("recipients")
    for i, address in enumerate(recipients):
        if "@" not in address:
            t.problems.append(ConfigProblem(f"{t.at('recipients')}[{i}]", f"{address!r} is not an e-mail address"))
    if sender and "@" not in sender:
        t.problem("sender", f"{sender!r} is not an e-mail address")
    if host and not sender:
        t.problem("sender", "is required when smtp.host is set")
    if host and not recipients:
        t.problem("recipients", "is required (at least one address) when smtp.host is set")
    password, source = read_secret(t, "password")
    return SMTPSettings(
        host=host, port=t.integer("port", d.port, 1, 65535),
        security=t.choice("security", d.security, ("starttls", "ssl", "none")),
        username=t.string("username"), password=password, password_source=source,
        sender=sender, recipients=recipients, timeout=t.number("timeout", d.timeout, 1, 600))


def read_summary(t: Table) -> SummarySettings:
    d = SummarySettings
    return SummarySettings(
        send_at=t.string("send_at", d.send_at, pattern=_SEND_AT_RE, what="a time of day HH:MM (00:00..23:59)"),
        language=t.choice("language", d.language, ("ru", "en")),
        templates_dir=t.string("templates_dir"), out_dir=t.string("out_dir"),
        catch_up_days=t.integer("catch_up_days", d.catch_up_days, 0, 366),
        service_level_seconds=t.integer("service_level_seconds", d.service_level_seconds, 1, 3600),
        abandons=t.choice("abandons", d.abandons, ("ignored", "against", "for")), csv=t.boolean("csv", d.csv))


def read_privacy(t: Table) -> PrivacySettings:
    d = PrivacySettings
    salt, source = read_secret(t, "salt")
    return PrivacySettings(
        mask_callers=t.boolean("mask_callers", d.mask_callers),
        hash_after_days=t.integer("hash_after_days", None, 1, 3650),
        drop_steps_after_days=t.integer("drop_steps_after_days", None, 1, 3650),
        salt=salt, salt_source=source)


def read_queues(t: Table | None) -> dict[str, str]:
    queues: dict[str, str] = {}
    if t is None:
        return queues
    for name in t.data:
        description = t.string(name, required=True)
        if not _QUEUE_RE.fullmatch(name):
            t.problem(name, f"{name!r} is not a usable Asterisk queue name (no spaces, quotes, , | ; ( ))")
        queues[name] = description or ""
    return queues


def read_database(t: Table) -> DatabaseSettings:
    return DatabaseSettings(path=t.string("path", DatabaseSettings.path, required=True))


def _networks(t: Table, key: str) -> tuple[str, ...]:
    values = t.strings(key)
    for i, peer in enumerate(values):
        try:
            ipaddress.ip_network(peer, strict=False)
        except ValueError:
            t.problems.append(ConfigProblem(f"{t.at(key)}[{i}]", f"{peer!r} is not an IP address or network"))
    return values


def read_web(t: Table) -> WebSettings:
    """``[web]``: any bind beyond loopback, or a reverse proxy in front, needs ``users_file`` (the
    console then asks for a login); ``run`` also refuses to start while that file holds no user."""
    d = WebSettings
    base_path = t.string("base_path", d.base_path) or ""
    if base_path and not _BASE_PATH_RE.fullmatch(base_path):
        t.problem("base_path", f"{show(base_path)} is not a URL path like \"/console\" (leading /, no trailing /)")
    settings = WebSettings(
        enabled=t.boolean("enabled", d.enabled), host=t.string("host", d.host, required=True),
        port=t.integer("port", d.port, 0, 65535), language=t.choice("language", d.language, ("ru", "en")),
        users_file=t.string("users_file"), base_path=base_path,
        metrics_allow=_networks(t, "metrics_allow"), trusted_proxies=_networks(t, "trusted_proxies"),
        service_level_target=t.integer("service_level_target", d.service_level_target, 1, 100))
    if settings.enabled and settings.needs_users and not settings.users_file:
        why = "behind trusted_proxies" if settings.trusted_proxies else f"on {settings.host} (not loopback)"
        t.problem("users_file", f"is required for a console {why}: create it with "
                                "`asterisk-bridge web adduser NAME`")
    return settings


# (section name, reader) for the sections that are plain tables of settings, in reading order
SECTIONS: tuple[tuple[str, Callable[[Table], Any]], ...] = (
    ("fastagi", read_fastagi), ("ami", read_ami), ("mqtt", read_mqtt), ("smtp", read_smtp),
    ("summary", read_summary), ("privacy", read_privacy), ("database", read_database), ("web", read_web))
