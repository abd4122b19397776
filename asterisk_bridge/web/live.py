"""Live wallboard figures: the gauges (``mqtt/gauges.py``) as the wallboard shows them, and a
hub that wakes every open wallboard stream when they change.

The gauges already hold the one definition of every live figure (the same numbers go to MQTT),
so the board only names and formats them. Values travel to the browser already formatted by
the summary's filters, so a number reads the same on the board, in the summary and in /stats;
the browser only ticks the longest wait between updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..mqtt.gauges import Gauges
from ..utc import parse_utc_iso

#: Figures of a line tile, in display order (a queue has the same without ``in_menu``, and its operators).
LINE_FIGURES = ("in_menu", "waiting", "longest_wait", "answered_today", "abandoned_today", "service_level_today")
QUEUE_FIGURES = (*LINE_FIGURES[1:], "operators_available", "operators_paused")
#: Figures of an operator's row: what they do (and why, when paused), since when, calls answered today.
OPERATOR_FIGURES = ("state", "since", "calls_today")
#: Operators on the board: talking and ringing first, logged out last.
OPERATOR_ORDER = ("on_call", "ringing", "available", "paused", "unavailable", "logged_out")


@dataclass
class Row:
    """One line, queue or operator on the board."""

    kind: str  # "l" line | "q" queue | "o" operator
    key: str
    name: str
    values: dict[str, str]
    wait_since: float | None  # when the longest-waiting caller joined (None: nobody waits)
    level: float | None  # service level today, 0..1
    idle: bool = field(default=False)  # nothing happened here today and nobody is in it now
    state: str = ""  # an operator's state (``calls.member_model.OPERATOR_STATES``)

    @property
    def id(self) -> str:
        return f"{self.kind}|{self.key}"


def board(gauges: Gauges, now: float, *, line_names: Mapping[str, str], queue_names: Mapping[str, str],
          fmt: Mapping[str, Callable[..., str]], states: Mapping[str, str] | None = None,
          local: Callable[[float], str] = str) -> dict[str, Any]:
    """``{"day", "lines": [Row], "queues": [Row], "operators": [Row]}`` as of ``now``; ``states``
    words an operator's state, ``local`` a time of day."""
    figures = gauges.figures(now)

    def row(kind: str, key: str, name: str, f: dict[str, Any], names: tuple[str, ...]) -> Row:
        level = None if f["service_level_today"] is None else f["service_level_today"] / 100.0
        values = {
            "in_menu": fmt["num"](f.get("in_menu", 0)),
            "waiting": fmt["num"](f["waiting"]),
            "longest_wait": clock(f["longest_wait_seconds"]) if f["waiting"] else "—",
            "answered_today": fmt["num"](f["answered_today"]),
            "abandoned_today": fmt["num"](f["abandoned_today"]),
            "service_level_today": fmt["pct"](level),
            "operators_available": fmt["num"](f.get("operators_available", 0)),
            "operators_paused": fmt["num"](f.get("operators_paused", 0)),
        }
        busy = f.get("in_menu", 0) or f["waiting"] or f["answered_today"] or f["abandoned_today"]
        return Row(kind, key, name, {k: values[k] for k in names},
                   now - f["longest_wait_seconds"] if f["waiting"] else None, level, idle=not busy)

    def operator(interface: str, f: dict[str, Any]) -> Row:
        word = (states or {}).get(f["state"], f["state"])
        values = {"state": f"{word}: {f['reason']}" if f["reason"] else word,
                  "since": local(parse_utc_iso(f["since"])), "calls_today": fmt["num"](f["calls_today"])}
        return Row("o", interface, f["member_name"], values, None, None, idle=f["state"] == "logged_out",
                   state=f["state"])

    operators = sorted(figures["operators"].items(),
                       key=lambda kv: (OPERATOR_ORDER.index(kv[1]["state"]), kv[1]["member_name"], kv[0]))
    return {
        "day": gauges.day,
        "lines": [row("l", k, line_names.get(k, k), f, LINE_FIGURES) for k, f in figures["lines"].items()],
        "queues": [row("q", k, queue_names.get(k) or k, f, QUEUE_FIGURES) for k, f in figures["queues"].items()],
        "operators": [operator(k, f) for k, f in operators],
    }


def level_class(level: float | None, target: int) -> str:
    """``good`` at or above the target service level, ``warn`` within 10 points below, ``bad`` under."""
    if level is None:
        return ""
    percent = level * 100
    return "good" if percent >= target else "warn" if percent >= target - 10 else "bad"


def payload(snapshot: dict[str, Any], now: float, ami: str, target: int) -> dict[str, Any]:
    """What one server-sent event carries: formatted values by element id, wait start times."""
    tiles = snapshot["lines"] + snapshot["queues"]  # rows with a longest wait and a service level
    rows = tiles + snapshot["operators"]
    return {
        "at": now,
        "day": snapshot["day"],
        "ami": ami,
        "values": {f"{r.id}|{k}": v for r in rows for k, v in r.values.items()},
        "waits": {r.id: r.wait_since for r in tiles},
        "levels": {r.id: level_class(r.level, target) for r in tiles},
        "idle": {r.id: r.idle for r in rows},
        "states": {r.id: r.state for r in snapshot["operators"]},
    }


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour): how long a caller has waited."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LiveHub:
    """Counts changes of the gauges and wakes whoever waits for the next one."""

    def __init__(self, gauges: Gauges) -> None:
        self.version = 0
        self.closed = False
        self._event = asyncio.Event()
        gauges.watch(self._changed)

    def _changed(self, kind: str, what: object) -> None:
        self.version += 1
        self._wake()

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, version: int, timeout: float) -> None:
        """Return when the figures changed after ``version``, the hub closes, or ``timeout`` passed."""
        if self.version != version or self.closed:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closed = True
        self._wake()
