"""The TOML configuration: typed, validated settings for the whole service.

An admin edits one file under pressure, so validation collects *every* problem
in one pass and each message names the key path (``lines[0].topics[2].key``)
and the offending value. Secrets are read from files or the environment and
never appear in a message, a repr or :func:`describe`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import socket
import tomllib
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from asterisk_bridge.config_prompts import (
    InfoText,
    PromptText,
    count_texts,
    prompt_text_problems,
    prompt_uses,
    read_prompt_texts,
)
from asterisk_bridge.tomlcheck import MISSING, ConfigProblem, Table, read_secret, show, toml_problem

__all__ = [
    "AMISettings", "AgeQuestion", "Config", "ConfigError", "ConfigProblem", "DatabaseSettings",
    "FastAGISettings", "InfoText", "Line", "MENU_SECTIONS", "MQTTSettings", "Menu", "PrivacySettings", "PromptText",
    "SMTPSettings", "SOUND_EXTENSIONS", "SummarySettings", "Topic", "describe", "load_config",
    "parse_config", "resolve_config_path",
]

ENV_VAR = "ASTERISK_BRIDGE_CONFIG"
DEFAULT_PATHS = (Path("asterisk-bridge.toml"), Path("/etc/asterisk-bridge/asterisk-bridge.toml"))
SOUND_EXTENSIONS = (".gsm", ".wav", ".ulaw", ".alaw", ".sln", ".g722")
MAX_MENU_DEPTH = 3


# ---------------------------------------------------------------- errors



class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists everything wrong, not just the first."""

    def __init__(self, problems: list[ConfigProblem], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))


# ---------------------------------------------------------------- settings

@dataclass(frozen=True)
class FastAGISettings:
    host: str = "127.0.0.1"
    port: int = 4573
    allow: tuple[str, ...] = ()  # empty = allow every peer
    env_timeout: float = 5.0
    env_limit: int = 65536
    command_timeout: float = 60.0  # a reply may take as long as a prompt plays
    shutdown_grace: float = 30.0


@dataclass(frozen=True)
class AMISettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "asterisk-bridge"
    secret: str | None = field(default=None, repr=False)
    secret_source: str = "not set"  # "file /etc/...", "environment variable X", ...; for describe()
    ping_interval: float = 10.0
    action_timeout: float = 5.0
    reconnect_max: float = 60.0
    unknown_end_after: float = 14400.0
    short_abandon: float = 5.0
    queue_log: str | None = None


@dataclass(frozen=True)
class DatabaseSettings:
    path: str = "asterisk-bridge.db"


@dataclass(frozen=True)
class MQTTSettings:
    enabled: bool = False
    host: str | None = None
    port: int = 1883
    prefix: str = "asterisk-bridge"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_source: str = "not set"
    tls: bool = False
    outbox_max: int = 100000
    caller_numbers: str = "mask"  # mask | hash | full


@dataclass(frozen=True)
class SMTPSettings:
    host: str | None = None  # None: the summary is not mailed
    port: int = 587
    security: str = "starttls"  # starttls | ssl | none
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_source: str = "not set"
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class SummarySettings:
    send_at: str = "07:30"
    language: str = "ru"
    templates_dir: str | None = None
    out_dir: str | None = None
    catch_up_days: int = 7
    service_level_seconds: int = 20
    abandons: str = "against"  # ignored | against | for
    csv: bool = False


@dataclass(frozen=True)
class PrivacySettings:
    mask_callers: bool = True
    hash_after_days: int | None = None
    drop_steps_after_days: int | None = None
    salt: str | None = field(default=None, repr=False)
    salt_source: str = "not set"


@dataclass(frozen=True)
class Menu:
    path: str  # "122", "122/health"
    prompt: str
    topics: Mapping[str, Topic]  # key -> topic, in config order


@dataclass(frozen=True)
class Topic:
    key: str
    id: str  # unique within a line; becomes IVR_TOPIC
    name: str
    queue: str | None = None
    info_prompt: str | None = None
    self_service: bool = False
    after_info: str = "queue"  # queue | end | offer_operator
    offer_prompt: str | None = None
    menu: Menu | None = None


@dataclass(frozen=True)
class AgeQuestion:
    prompt: str
    groups: Mapping[str, str]  # key -> group code
    timeout_ms: int = 5000


@dataclass(frozen=True)
class Line:
    number: str
    name: str
    default_queue: str
    operator_queue: str
    menu: Menu
    invalid_prompt: str
    greeting: str | None = None
    timeout_prompt: str | None = None
    transfer_prompt: str | None = None  # before the default queue once the attempts ran out
    goodbye_prompt: str | None = None  # at the end of a self-service call
    attempts: int = 3
    key_timeout_ms: int = 5000
    operator_key: str | None = "0"
    repeat_key: str | None = "*"
    age_question: AgeQuestion | None = None


@dataclass(frozen=True)
class Config:
    node: str
    timezone: str
    fastagi: FastAGISettings
    ami: AMISettings
    database: DatabaseSettings
    mqtt: MQTTSettings
    smtp: SMTPSettings
    summary: SummarySettings
    privacy: PrivacySettings
    queues: Mapping[str, str]  # queue name -> description
    lines: Mapping[str, Line]  # line number -> line, in config order
    # language -> prompt name -> what it says ([prompts.<language>], config_prompts.py)
    prompts: Mapping[str, Mapping[str, PromptText]] = field(default_factory=lambda: MappingProxyType({}))

    def line_for(self, number: str) -> Line | None:
        return self.lines.get(number)


# ---------------------------------------------------------------- value shapes

_PROMPT_RE = re.compile(r"[^\s\"'&;,|\\]+")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # line numbers, topic ids, node
_QUEUE_RE = re.compile(r"[^\s,|;()\"'\\]+")
_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_KEY_RE = re.compile(r"[0-9]")
_SPECIAL_KEY_RE = re.compile(r"[0-9*#]")
_SEND_AT_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")


# ---------------------------------------------------------------- sections

def _fastagi(t: Table) -> FastAGISettings:
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


def _ami(t: Table) -> AMISettings:
    d = AMISettings
    enabled = t.boolean("enabled", d.enabled)
    secret, source = read_secret(t, "secret")
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


def _mqtt(t: Table) -> MQTTSettings:
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


def _smtp(t: Table) -> SMTPSettings:
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


def _summary(t: Table) -> SummarySettings:
    d = SummarySettings
    return SummarySettings(
        send_at=t.string("send_at", d.send_at, pattern=_SEND_AT_RE, what="a time of day HH:MM (00:00..23:59)"),
        language=t.choice("language", d.language, ("ru", "en")),
        templates_dir=t.string("templates_dir"), out_dir=t.string("out_dir"),
        catch_up_days=t.integer("catch_up_days", d.catch_up_days, 0, 366),
        service_level_seconds=t.integer("service_level_seconds", d.service_level_seconds, 1, 3600),
        abandons=t.choice("abandons", d.abandons, ("ignored", "against", "for")), csv=t.boolean("csv", d.csv))


def _privacy(t: Table) -> PrivacySettings:
    d = PrivacySettings
    salt, source = read_secret(t, "salt")
    return PrivacySettings(
        mask_callers=t.boolean("mask_callers", d.mask_callers),
        hash_after_days=t.integer("hash_after_days", None, 1, 3650),
        drop_steps_after_days=t.integer("drop_steps_after_days", None, 1, 3650),
        salt=salt, salt_source=source)


def _queues(t: Table | None) -> dict[str, str]:
    queues: dict[str, str] = {}
    if t is None:
        return queues
    for name in t.data:
        description = t.string(name, required=True)
        if not _QUEUE_RE.fullmatch(name):
            t.problem(name, f"{name!r} is not a usable Asterisk queue name (no spaces, quotes, , | ; ( ))")
        queues[name] = description or ""
    return queues


# ---------------------------------------------------------------- lines, menus, topics

@dataclass
class _LineContext:
    """What every topic of one line is checked against."""

    queues: dict[str, str]
    operator_key: str | None
    repeat_key: str | None
    ids: dict[str, str] = field(default_factory=dict)  # topic id -> key path of its first use


def _prompt(t: Table, key: str, required: bool = False) -> str | None:
    value = t.string(key, required=required, pattern=_PROMPT_RE,
                     what="a sound name (no spaces, quotes, & ; , |)")
    if value and value.lower().endswith(SOUND_EXTENSIONS):
        t.problem(key, f"{value!r} includes a file extension; write it without (Asterisk picks the format)")
    return value or None


def _queue(t: Table, key: str, queues: dict[str, str], required: bool = False) -> str | None:
    value = t.string(key, required=required)
    if value and value not in queues:
        close = difflib.get_close_matches(value, list(queues), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        t.problem(key, f"{value!r} is not declared in [queues]{hint}")
    return value or None


def _special_key(t: Table, key: str, default: str) -> str | None:
    value = t.string(key, default)
    if value and not _SPECIAL_KEY_RE.fullmatch(value):
        t.problem(key, f"{show(value)} is not one key 0-9, * or # (use \"\" to turn it off)")
    return value or None


def _menu(tables: list[Table], owner: Table, path: str, prompt: str | None,
          depth: int, ctx: _LineContext) -> Menu:
    if not tables:
        owner.problem("topics", "a menu needs at least one topic ([[...topics]])")
    topics: dict[str, Topic] = {}
    first_use: dict[str, str] = {}
    for t in tables:
        topic = _topic(t, path, depth, ctx)
        key = topic.key
        if not key:
            continue
        if key in first_use:
            t.problem("key", f"{key!r} is already used by {first_use[key]} in this menu")
        elif key == ctx.operator_key:
            t.problem("key", f"{key!r} is the line's operator_key")
        elif key == ctx.repeat_key:
            t.problem("key", f"{key!r} is the line's repeat_key")
        else:
            first_use[key] = t.path
            topics[key] = topic
    return Menu(path=path, prompt=prompt or "", topics=MappingProxyType(topics))


def _topic(t: Table, parent_path: str, depth: int, ctx: _LineContext) -> Topic:
    key = t.string("key", required=True)
    if key and not _KEY_RE.fullmatch(key):
        t.problem("key", f"{key!r} is not a single digit 0-9")
        key = None  # no clash reports on top of this one
    topic_id = t.string("id", "", required=True, pattern=_NAME_RE, what="an id (letters, digits, - _ .)")
    if topic_id in ctx.ids:
        t.problem("id", f"{topic_id!r} is already used by {ctx.ids[topic_id]} (topic ids are unique in a line)")
    elif topic_id:
        ctx.ids[topic_id] = t.at("id")
    name = t.string("name", topic_id)
    queue = _queue(t, "queue", ctx.queues)
    sub_tables = t.tables("topics")
    if sub_tables:
        for k in ("info_prompt", "self_service", "after_info", "offer_prompt"):
            if t.raw(k) is not MISSING:
                t.problem(k, "is not used by a topic with a sub-menu (remove it or move it to its topics)")
        path = f"{parent_path}/{topic_id}"
        if depth + 1 > MAX_MENU_DEPTH:
            t.problem("topics", f"menus nest at most {MAX_MENU_DEPTH} deep; {path!r} would be menu {depth + 1}")
        menu = _menu(sub_tables, t, path, _prompt(t, "menu_prompt", required=True), depth + 1, ctx)
        t.finish()
        return Topic(key=key or "", id=topic_id, name=name, queue=queue, menu=menu)

    if t.has("menu_prompt"):
        t.raw("menu_prompt")
        t.problem("menu_prompt", "is only for a topic with a sub-menu ([[...topics.topics]])")
    self_service = t.boolean("self_service", False)
    info = _prompt(t, "info_prompt", required=self_service)
    after = t.choice("after_info", "end" if self_service else "queue", ("queue", "end", "offer_operator"))
    offer = _prompt(t, "offer_prompt", required=after == "offer_operator")
    if self_service and after == "queue":
        t.problem("after_info", "'queue' is not for self-service topics; use 'end' or 'offer_operator'")
    if not self_service and after != "queue":
        t.problem("after_info", f"{after!r} needs self_service = true")
    if after == "offer_operator" and ctx.operator_key is None:
        t.problem("after_info", "'offer_operator' needs the line's operator_key")
    if offer and after != "offer_operator":
        t.problem("offer_prompt", "is only used with after_info = \"offer_operator\"")
    if queue is None and not (self_service and after == "end") and not t.has("queue"):
        t.problem("queue", "is missing: a topic without a queue must be self-service with after_info = "
                           "\"end\" or have a sub-menu")
    t.finish()
    return Topic(key=key or "", id=topic_id, name=name, queue=queue, info_prompt=info,
                 self_service=self_service, after_info=after, offer_prompt=offer)


def _age_question(t: Table, default_timeout: float) -> AgeQuestion:
    prompt = _prompt(t, "prompt", required=True)
    groups: dict[str, str] = {}
    table = t.table("groups")
    if table is None:
        if not t.has("groups"):
            t.problem("groups", 'is required, e.g. { "1" = "under-30", "2" = "30-40" }')
    else:
        for key in table.data:
            code = table.string(key, required=True, pattern=_CODE_RE, what="a group code (a-z 0-9 - _)")
            if not _KEY_RE.fullmatch(key):
                table.problem(key, f"{key!r} is not a single digit 0-9")
            elif code == "unknown":
                table.problem(key, "'unknown' is reserved for callers who do not answer")
            elif code in groups.values():
                table.problem(key, f"{code!r} is used for two keys")
            elif code:
                groups[key] = code
        if not table.data:
            t.problem("groups", "needs at least one group")
    timeout = t.number("timeout", default_timeout, 1, 30)
    t.finish()
    return AgeQuestion(prompt=prompt or "", groups=MappingProxyType(groups), timeout_ms=round(timeout * 1000))


def _line(t: Table, queues: dict[str, str]) -> Line:
    number = t.string("number", "", required=True, pattern=_NAME_RE, what="a line number like \"122\"")
    operator_key = _special_key(t, "operator_key", "0")
    repeat_key = _special_key(t, "repeat_key", "*")
    if operator_key and operator_key == repeat_key:
        t.problem("repeat_key", f"{repeat_key!r} is also the operator_key")
    ctx = _LineContext(queues, operator_key, repeat_key)
    default_queue = _queue(t, "default_queue", queues, required=True) or ""
    operator_queue = _queue(t, "operator_queue", queues) or default_queue
    key_timeout = t.number("key_timeout", 5.0, 1, 30)
    age = t.table("age_question")
    line = Line(
        number=number, name=t.string("name", number),
        default_queue=default_queue, operator_queue=operator_queue,
        greeting=_prompt(t, "greeting"), invalid_prompt=_prompt(t, "invalid_prompt", required=True) or "",
        timeout_prompt=_prompt(t, "timeout_prompt"), transfer_prompt=_prompt(t, "transfer_prompt"),
        goodbye_prompt=_prompt(t, "goodbye_prompt"), attempts=t.integer("attempts", 3, 1, 9),
        key_timeout_ms=round(key_timeout * 1000), operator_key=operator_key, repeat_key=repeat_key,
        menu=_menu(t.tables("topics"), t, number, _prompt(t, "menu_prompt", required=True), 1, ctx),
        age_question=_age_question(age, key_timeout) if age is not None else None)
    t.finish()
    return line


# ---------------------------------------------------------------- entry points

def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a :class:`Config` from parsed TOML data; raises :class:`ConfigError` listing every problem."""
    problems: list[ConfigProblem] = []
    top = Table(data, "", problems)

    def section(name: str, reader: Any) -> Any:
        t = top.table(name) or Table({}, name, problems)
        value = reader(t)
        t.finish()
        return value

    node = top.string("node", socket.gethostname().split(".")[0], required=True, pattern=_NAME_RE,
                      what="a node name (letters, digits, - _ .)")
    timezone = top.string("timezone", "Asia/Irkutsk", required=True)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        top.problem("timezone", f"{timezone!r} is not a known time zone (e.g. 'Asia/Irkutsk')")
    settings = {name: section(name, reader) for name, reader in (
        ("fastagi", _fastagi), ("ami", _ami), ("mqtt", _mqtt), ("smtp", _smtp),
        ("summary", _summary), ("privacy", _privacy))}
    database = section("database", lambda t: DatabaseSettings(
        path=t.string("path", DatabaseSettings.path, required=True)))
    queue_table = top.table("queues")
    queues = _queues(queue_table)
    if not queues:
        top.problem("queues", "declares no queues; list every queue the menus use as name = \"description\"")
    lines: dict[str, Line] = {}
    line_tables = top.tables("lines")
    if not line_tables and not top.has("lines"):
        top.problem("lines", "no [[lines]] are configured")
    for t in line_tables:
        line = _line(t, queues)
        if line.number in lines:
            first = list(lines).index(line.number)
            t.problem("number", f"{line.number!r} is already used by lines[{first}]")
        elif line.number:
            lines[line.number] = line
    texts = read_prompt_texts(top)
    problems += prompt_text_problems(texts, prompt_uses(lines.values()))
    hashing = settings["mqtt"].caller_numbers == "hash" or settings["privacy"].hash_after_days is not None
    if hashing and settings["privacy"].salt is None and settings["privacy"].salt_source == "not set":
        problems.append(ConfigProblem("privacy.salt_file", "hashing caller numbers needs a salt "
                                      "(salt_file, salt_env or salt); unsalted phone hashes are reversible"))
    top.finish()
    if problems:
        raise ConfigError(problems, source)
    return Config(node=node, timezone=timezone, database=database, queues=MappingProxyType(queues),
                  lines=MappingProxyType(lines), **settings,
                  prompts=MappingProxyType({k: MappingProxyType(v) for k, v in texts.items()}))


MENU_SECTIONS = ("queues", "lines", "prompts")  # what the menus and their prompts are made of


def load_config(path: str | os.PathLike[str], *, sections: Collection[str] | None = None) -> Config:
    """Read and validate a TOML file; every failure (unreadable, bad TOML, bad values) is a ConfigError.

    With ``sections`` only those top-level tables are read and checked, the rest takes its
    defaults: the prompts commands need the menus (``MENU_SECTIONS``), not the AMI secret."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem(source, f"cannot read the file: {exc.strerror}")], source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([ConfigProblem(f"{source}:{line}", "the file is not UTF-8 text")], source) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([toml_problem(source, text, str(exc))], source) from None
    if sections is not None:
        data = {key: value for key, value in data.items() if key in sections}
    exposed = _literal_secrets_exposed(path, data)
    try:
        config = parse_config(data, source)
    except ConfigError as exc:
        raise ConfigError(exc.problems + exposed, source) from None
    if exposed:
        raise ConfigError(exposed, source)
    return config


SECRET_KEYS = (("ami", "secret"), ("mqtt", "password"), ("smtp", "password"), ("privacy", "salt"))


def _literal_secrets_exposed(path: str | os.PathLike[str], data: dict[str, Any]) -> list[ConfigProblem]:
    """A secret written in a file every local user may read is refused, naming the key."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return []
    if not mode & 0o004:
        return []
    return [ConfigProblem(f"{section}.{key}", f"a secret written in a file readable by every user "
                          f"(mode {mode & 0o777:04o}); use {key}_file or {key}_env, or chmod o-r {path}")
            for section, key in SECRET_KEYS
            if isinstance(data.get(section), dict) and data[section].get(key)]



def resolve_config_path(cli_value: str | None) -> Path:
    """-c wins, then $ASTERISK_BRIDGE_CONFIG, then ./asterisk-bridge.toml, then the /etc path.

    The last candidate is returned even if it does not exist, so the "cannot read" error names it.
    """
    if cli_value:
        return Path(cli_value)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    for candidate in DEFAULT_PATHS:
        if candidate.exists():
            return candidate
    return DEFAULT_PATHS[-1]


# ---------------------------------------------------------------- the human summary

def describe(config: Config) -> str:
    """A one-screen summary for ``check-config``: what the service will do, with no secret values."""
    f, a, m, s = config.fastagi, config.ami, config.mqtt, config.smtp
    out = [f"node {config.node}, time zone {config.timezone}",
           f"FastAGI  listens on {f.host}:{f.port}, allowed peers: {', '.join(f.allow) or 'any'}",
           f"AMI      " + (f"on: {a.username}@{a.host}:{a.port}, secret from {a.secret_source}"
                           if a.enabled else "off (IVR data only)"),
           f"database {config.database.path}",
           f"MQTT     " + (f"on: {m.host}:{m.port}, prefix {m.prefix}, callers {m.caller_numbers}"
                           if m.enabled else "off"),
           f"mail     " + (f"{config.summary.send_at} via {s.host}:{s.port} ({s.security}) to "
                           f"{len(s.recipients)} recipient(s)" if s.host else "off (summary not mailed)"),
           f"queues   {len(config.queues)} declared",
           f"prompts  texts: {count_texts(config.prompts)} (menus without a text are written from the menu)"]
    p = config.privacy
    retention = [f"numbers hashed after {p.hash_after_days} days" if p.hash_after_days else "",
                 f"menu steps dropped after {p.drop_steps_after_days} days" if p.drop_steps_after_days else ""]
    out.append(f"privacy  callers {'masked' if p.mask_callers else 'shown in full'} in summaries; retention: "
               + (", ".join(r for r in retention if r) or "off (records kept as they are)"))
    for line in config.lines.values():
        out.append(f"line {line.number} ({line.name}): default queue {line.default_queue}, "
                   f"{line.attempts} attempts, {line.key_timeout_ms / 1000:g} s per key")
        if line.operator_key:
            out.append(f"  {line.operator_key} → operator → {line.operator_queue}")
        if line.repeat_key:
            out.append(f"  {line.repeat_key} → repeat the menu")
        out.extend(_describe_menu(line.menu, "  "))
        if line.age_question is not None:
            groups = ", ".join(f"{k}={v}" for k, v in line.age_question.groups.items())
            out.append(f"  age question: {groups}")
    return "\n".join(out)


def _describe_menu(menu: Menu, indent: str) -> list[str]:
    out = []
    for topic in menu.topics.values():
        head = f"{indent}{topic.key} → {topic.id} ({topic.name})"
        if topic.menu is not None:
            fallback = f", fallback {topic.queue}" if topic.queue else ""
            out.append(f"{head} → sub-menu {topic.menu.path}{fallback}")
            out.extend(_describe_menu(topic.menu, indent + "    "))
        elif topic.self_service:
            tail = "then ends" if topic.after_info == "end" else f"then offers an operator → {topic.queue}"
            out.append(f"{head} → self-service, {tail}")
        else:
            out.append(f"{head} → {topic.queue}")
    return out
