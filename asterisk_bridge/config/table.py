"""Reading one TOML table with key paths: typed getters that record problems instead of raising.

Kept apart from the section readers so they read as "what the settings are", while this module
knows how to say precisely what is wrong with a value (and never echoes a secret while doing so).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigProblem

MISSING: Any = object()  # "key absent", distinct from a None default


def type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), "a date/time")


def show(value: object) -> str:
    """The offending value as the admin wrote it, shortened; tables and arrays are only named."""
    if isinstance(value, (dict, list)):
        return type_name(value)
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """A TOML table being read: it records which keys were read so the rest are reported as unknown."""

    def __init__(self, data: dict[str, Any], path: str, problems: list[ConfigProblem]) -> None:
        self.data, self.path, self.problems = data, path, problems
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.at(key), message))

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self.seen.add(key)
        return self.data.get(key, MISSING)

    def _typed(self, key: str, kinds: tuple[type, ...], expected: str, secret: bool = False) -> Any:
        value = self.raw(key)
        if value is MISSING:
            return MISSING
        if isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds):
            return value
        shown = type_name(value) if secret else f"{show(value)} is {type_name(value)}"
        quotable = expected == "a string" and isinstance(value, int) and not secret
        hint = f' (write "{value}" in quotes)' if quotable else ""
        self.problem(key, f"{shown}, expected {expected}{hint}")
        return MISSING

    def string(self, key: str, default: Any = None, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, what: str = "", secret: bool = False) -> Any:
        value = self._typed(key, (str,), "a string", secret)
        if value is MISSING:
            if required and not default and not self.has(key):
                self.problem(key, "is required but missing")
            return default
        if value == "" and required:
            self.problem(key, "is empty")
            return default
        if pattern is not None and value and not pattern.fullmatch(value):
            self.problem(key, f"{show(value)} is not {what}")
        return value

    def integer(self, key: str, default: Any, lo: int, hi: int) -> Any:
        value = self._typed(key, (int,), "an integer")
        if value is MISSING:
            return default
        if not lo <= value <= hi:
            self.problem(key, f"{value} is out of range {lo}..{hi}")
        return value

    def number(self, key: str, default: float, lo: float, hi: float, unit: str = "seconds") -> float:
        value = self._typed(key, (int, float), "a number")
        if value is MISSING:
            return default
        if not lo <= value <= hi:
            self.problem(key, f"{value} is out of range {lo:g}..{hi:g} {unit}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._typed(key, (bool,), "a boolean (true or false)")
        return default if value is MISSING else value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.problem(key, f"{show(value)} is not one of {', '.join(choices)}")
            return default  # later checks then judge the rest, not this typo again
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._typed(key, (list,), "an array of strings")
        if value is MISSING:
            return ()
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.problems.append(ConfigProblem(f"{self.at(key)}[{i}]",
                                                   f"{show(item)} is {type_name(item)}, expected a string"))
        return tuple(item for item in value if isinstance(item, str))

    def table(self, key: str) -> Table | None:
        value = self._typed(key, (dict,), "a table")
        return None if value is MISSING else Table(value, self.at(key), self.problems)

    def tables(self, key: str) -> list[Table]:
        value = self._typed(key, (list,), f"an array of tables (write [[{self.at(key)}]])")
        if value is MISSING:
            return []
        out = []
        for i, item in enumerate(value):
            path = f"{self.at(key)}[{i}]"
            if isinstance(item, dict):
                out.append(Table(item, path, self.problems))
            else:
                self.problems.append(ConfigProblem(path, f"{show(item)} is {type_name(item)}, expected a table"))
        return out

    def finish(self) -> None:
        """Report keys nobody read, with a did-you-mean; values are not shown (it may be a mistyped secret)."""
        known = sorted(self.seen)
        for key in self.data:
            if key not in self.seen:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
                self.problem(key, f"unknown key{hint}")


def read_secret(t: Table, name: str, written_by: str = "") -> tuple[str | None, str]:
    """A secret from ``<name>_file``, ``<name>_env`` or a literal ``<name>``; returns (value, where from).

    ``written_by`` names the command that creates a missing ``<name>_file``, so the error says how
    to fix it, not only what is wrong.
    """
    literal = t.string(name, secret=True)
    path = t.string(f"{name}_file")
    env = t.string(f"{name}_env")
    given = [k for k, v in ((name, literal), (f"{name}_file", path), (f"{name}_env", env)) if v]
    if len(given) > 1:
        t.problem(given[1], f"give only one of {name}, {name}_file, {name}_env (found {', '.join(given)})")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
            hint = f" ({written_by} writes it)" if written_by and isinstance(exc, FileNotFoundError) else ""
            t.problem(f"{name}_file", f"cannot read {path!r}: {reason}{hint}")
            return None, f"file {path}"
        if not value:
            t.problem(f"{name}_file", f"file {path!r} is empty")
        _warn_if_readable_by_others(t.at(f"{name}_file"), path)
        return value or None, f"file {path}"
    if env:
        if not os.environ.get(env):
            t.problem(f"{name}_env", f"environment variable {env!r} is not set or empty")
        return os.environ.get(env) or None, f"environment variable {env}"
    if literal:
        return literal, "written in the config file"
    return None, "not set"


def _warn_if_readable_by_others(key: str, path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & 0o004:
        logging.getLogger("asterisk_bridge.config").warning(
            "%s: secret file %s is readable by every user (mode %04o); chmod o-r it", key, path, mode & 0o777)


def toml_problem(source: str, text: str, message: str) -> ConfigProblem:
    """Turn tomllib's "Cannot overwrite a value (at line 3, column 5)" into "file:3:5: ..." naming the key."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return ConfigProblem(source, f"TOML syntax error: {message}")
    reason = message[: found.start()]
    line_no, column = int(found.group(1)), int(found.group(2))
    lines = text.splitlines()
    line = lines[line_no - 1].strip() if line_no <= len(lines) else ""
    key = re.match(r"""([A-Za-z0-9_.\-"' ]+?)\s*=""", line)
    if reason.startswith(("Cannot overwrite", "Cannot declare")):
        what = f"key {key.group(1).strip()!r}" if key else (f"table {line}" if line.startswith("[") else "a key")
        reason = f"duplicate {what} ({reason}); each key may appear only once in a table"
    elif key:  # name the key but never echo the value: it may be a secret
        reason = f"{reason} in the value of {key.group(1).strip()!r}"
    return ConfigProblem(f"{source}:{line_no}:{column}", f"TOML syntax error: {reason}")

