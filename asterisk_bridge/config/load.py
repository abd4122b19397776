"""Reading the configuration file: TOML -> :class:`~asterisk_bridge.config.settings.Config`, or a
:class:`~asterisk_bridge.config.errors.ConfigError` listing every problem.

An admin edits one file under pressure, so validation collects *every* problem in one pass and
each message names the key path (``lines[0].topics[2].key``) and the offending value. Secrets are
read from files or the environment and never appear in a message or a repr.
"""

from __future__ import annotations

import os
import socket
import tomllib
import zoneinfo
from collections.abc import Callable, Collection
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError, ConfigProblem
from .lines import NAME_RE, read_line
from .prompts import prompt_text_problems, prompt_uses, read_prompt_texts
from .sections import SECTIONS, read_queues
from .settings import Config, Line
from .table import Table, toml_problem

ENV_VAR = "ASTERISK_BRIDGE_CONFIG"
DEFAULT_PATHS = (Path("asterisk-bridge.toml"), Path("/etc/asterisk-bridge/asterisk-bridge.toml"))


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a :class:`Config` from parsed TOML data; raises :class:`ConfigError` listing every problem."""
    problems: list[ConfigProblem] = []
    top = Table(data, "", problems)

    def section(name: str, reader: Callable[[Table], Any]) -> Any:
        t = top.table(name) or Table({}, name, problems)
        value = reader(t)
        t.finish()
        return value

    node = top.string("node", socket.gethostname().split(".")[0], required=True, pattern=NAME_RE,
                      what="a node name (letters, digits, - _ .)")
    timezone = top.string("timezone", "Asia/Irkutsk", required=True)
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        top.problem("timezone", f"{timezone!r} is not a known time zone (e.g. 'Asia/Irkutsk')")
    settings = {name: section(name, reader) for name, reader in SECTIONS}
    queue_table = top.table("queues")
    queues = read_queues(queue_table)
    if not queues:
        top.problem("queues", "declares no queues; list every queue the menus use as name = \"description\"")
    lines: dict[str, Line] = {}
    line_tables = top.tables("lines")
    if not line_tables and not top.has("lines"):
        top.problem("lines", "no [[lines]] are configured")
    for t in line_tables:
        line = read_line(t, queues)
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
    return Config(node=node, timezone=timezone, queues=MappingProxyType(queues),
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
