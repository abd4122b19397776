"""Query parameters: each one checked, and a bad one answered with 400 naming it and why.

Pure functions over a multidict of strings, so the rules are tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from ..privacy import hash_number
from ..report.definitions import BUCKETS
from ..store.call_search import CallerMatch, Cursor
from ..utc import parse_utc_iso
from .errors import BadParameter

_LINE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}")
_CODE_RE = re.compile(r"[^\s\"'<>\\]{1,100}")
_DIGITS_RE = re.compile(r"\+?\d{3,20}")
_MASKED_RE = re.compile(r"(\d{4})\*+(\d{4})|(\*+)(\d{2})")
_HASH_RE = re.compile(r"h:[0-9a-f]{16}")
MAX_DAYS = 3660


class Query:
    """The request's query string, read one parameter at a time; anything not read is refused."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str], allowed: Iterable[str]) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self.allowed = tuple(allowed)
        self.values: dict[str, str] = {}
        for name, value in pairs:
            if name not in self.allowed:
                known = ", ".join(self.allowed) or "none"
                raise BadParameter(name, f"unknown parameter (this page takes: {known})")
            if name in self.values:
                raise BadParameter(name, "given more than once")
            self.values[name] = value.strip()

    def text(self, name: str) -> str | None:
        """The value, or None when absent or empty (an empty form field means "any")."""
        return self.values.get(name) or None


def parse_day(value: str | None, name: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, f"{value!r} is not a date like 2026-11-25") from None


def period(q: Query, today: date, *, default_days: int = 1) -> tuple[date, date]:
    """``from`` and ``to`` (local days, inclusive); by default the last ``default_days`` days up to today."""
    last = parse_day(q.text("to"), "to", today)
    first = parse_day(q.text("from"), "from", last - timedelta(days=default_days - 1))
    if last < first:
        raise BadParameter("to", f"{last.isoformat()} is before from ({first.isoformat()})")
    if (last - first).days >= MAX_DAYS:
        raise BadParameter("from", f"the period is longer than {MAX_DAYS} days")
    return first, last


def line(q: Query) -> str | None:
    value = q.text("line")
    if value is not None and not _LINE_RE.fullmatch(value):
        raise BadParameter("line", f"{value!r} is not a line number like 122")
    return value


def code(q: Query, name: str, choices: Iterable[str] | None = None) -> str | None:
    """A topic id, queue name or operator: printable text; with ``choices``, one of them."""
    value = q.text(name)
    if value is None:
        return None
    if not _CODE_RE.fullmatch(value):
        raise BadParameter(name, f"{value[:40]!r} is not valid here (1-100 characters, no spaces, quotes or < >)")
    if choices is not None:
        options = list(choices)
        if value not in options:
            raise BadParameter(name, f"{value!r} is not one of {', '.join(options)}")
    return value


def operator(q: Query) -> str | None:
    value = q.text("operator")
    if value is not None and (len(value) > 100 or any(c in value for c in "<>\"\\")):
        raise BadParameter("operator", "up to 100 characters, no < > \" or \\")
    return value


def outcome(q: Query) -> str | None:
    return code(q, "outcome", BUCKETS)


def caller(q: Query, salt: str | None) -> CallerMatch | None:
    """A caller number as people have it: the masked form a report shows (``7916***4567``), the
    retention hash (``h:`` + 16 hex digits), or the full number, which also finds the calls whose
    number retention has hashed since (with ``[privacy] salt``)."""
    value = q.text("caller")
    if value is None:
        return None
    compact = re.sub(r"[\s()-]", "", value)
    if _HASH_RE.fullmatch(compact):
        return CallerMatch(exact=(compact,))
    masked = _MASKED_RE.fullmatch(compact)
    if masked:
        if masked.group(1):
            return CallerMatch(prefix=masked.group(1), suffix=masked.group(2))
        return CallerMatch(suffix=masked.group(4), length=len(masked.group(3)) + 2)
    if _DIGITS_RE.fullmatch(compact):
        variants = dict.fromkeys([compact, compact.lstrip("+")])
        if salt:
            variants.update({f"h:{hash_number(v, salt)}": None for v in list(variants)})
        return CallerMatch(exact=tuple(variants))
    raise BadParameter("caller", f"{value[:40]!r} is not a caller number: give the masked form "
                                 "(7916***4567), the full number or a retention hash (h:…)")


def cursor(q: Query) -> Cursor | None:
    """``before=<started_at UTC ISO>~<call id>``: the page of calls older than that one."""
    value = q.text("before")
    if value is None:
        return None
    started, sep, call_id = value.partition("~")
    try:
        parse_utc_iso(started)
    except ValueError:
        sep = ""
    if not sep or not call_id or len(call_id) > 100:
        raise BadParameter("before", f"{value[:60]!r} is not a page marker from the calls list")
    return Cursor(started, call_id)


def call_id(value: str) -> str:
    if not _CODE_RE.fullmatch(value):
        raise BadParameter("call", f"{value[:40]!r} is not a call id (a Linkedid like 1795600000.12)")
    return value


@dataclass(frozen=True)
class StatsQuery:
    first: date
    last: date
    line: str | None


def stats_query(items: Iterable[tuple[str, str]], today: date) -> StatsQuery:
    q = Query(items, ("from", "to", "line"))
    first, last = period(q, today)
    return StatsQuery(first, last, line(q))
