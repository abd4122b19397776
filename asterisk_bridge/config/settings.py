"""The settings the service runs on, as typed, frozen values: what a valid configuration file means.

Reading and checking the TOML lives in ``load.py`` (with ``sections.py``, ``lines.py``,
``prompts.py`` and ``table.py``); these types carry no validation of their own, so tests and the
demo can build them directly. Secret values are kept out of every repr.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

SOUND_EXTENSIONS = (".gsm", ".wav", ".ulaw", ".alaw", ".sln", ".g722")


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
class InfoText:
    """A topic's information message in its three parts; spoken as one prompt, in this order."""

    how: str
    when: str
    now: str


PromptText = str | InfoText


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


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and "localhost": only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    """The web console (``asterisk_bridge/web/``); read by ``sections.read_web``."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8122
    language: str = "ru"
    users_file: str | None = None
    base_path: str = ""  # "" or "/console": the prefix a reverse proxy serves the console under
    metrics_allow: tuple[str, ...] = ()  # addresses that may read /metrics and /status without a session
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For / -Proto are believed
    service_level_target: int = 80  # percent: the wallboard shows the service level green at or above it

    @property
    def needs_users(self) -> bool:
        """Anyone but the local machine can reach the console: a login is required."""
        return not is_loopback(self.host) or bool(self.trusted_proxies)


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
    web: WebSettings
    queues: Mapping[str, str]  # queue name -> description
    lines: Mapping[str, Line]  # line number -> line, in config order
    # language -> prompt name -> what it says ([prompts.<language>], prompts.py)
    prompts: Mapping[str, Mapping[str, PromptText]] = field(default_factory=lambda: MappingProxyType({}))

    def line_for(self, number: str) -> Line | None:
        return self.lines.get(number)

    def lines_of_queues(self) -> dict[str, tuple[str, ...]]:
        """queue -> the lines that send calls to it (default, operator and topic queues, sub-menus
        included), in line order; a queue of ``[queues]`` no line uses maps to ``()``."""
        found: dict[str, list[str]] = {queue: [] for queue in self.queues}

        def add(queue: str | None, number: str) -> None:
            if queue and number not in found.setdefault(queue, []):
                found[queue].append(number)

        def walk(menu: Menu, number: str) -> None:
            for topic in menu.topics.values():
                add(topic.queue, number)
                if topic.menu is not None:
                    walk(topic.menu, number)

        for number, line in self.lines.items():
            add(line.default_queue, number)
            add(line.operator_queue, number)
            walk(line.menu, number)
        return {queue: tuple(numbers) for queue, numbers in found.items()}

    def queue_lines(self) -> dict[str, str]:
        """queue -> its line, for the queues exactly one line uses: the line of a call known only
        from Asterisk's queue_log (a queue shared by several lines cannot say which)."""
        return {queue: numbers[0] for queue, numbers in self.lines_of_queues().items() if len(numbers) == 1}
