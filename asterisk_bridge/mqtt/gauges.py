"""Wallboard gauges per line, per queue and per operator, kept live from call updates, menu
sessions and the member tracker's operator states. Pure.

Gauges are published *retained*: a wallboard that connects at 3 a.m. sees the current figures at
once. They are not events, so they do not go through the outbox: only the latest value of each
gauge matters, and a figure from an hour ago is worth nothing after a broker outage.

Definitions (also in the README):
- ``in_menu``: calls in the voice menu now. Counted from FastAGI sessions when the IVR reports
  them (:meth:`Gauges.menu_entered`), otherwise from AMI (a call with no queue leg and no
  ``IVR_RESULT`` yet).
- ``waiting``: calls in a queue now; ``longest_wait_seconds``: the longest of those waits.
- ``answered_today``: calls answered since local midnight (``timezone``), by the answer time.
- ``abandoned_today``: calls that ended as ``abandoned_queue`` today (short abandons excluded).
- ``service_level_today``: percent, computed by ``report.definitions.service_level`` exactly as the
  summary computes it (``summary.abandons``: ``ignored``, ``against``, ``for``), over today's
  answered and abandoned calls. ``null`` before the first answered/abandoned call.
- queues: ``operators_available`` (logged in, not paused there, not ringing or talking, phone
  reachable) and ``operators_paused`` (paused in that queue), from the member tracker.
- operators (``gauges/operators/<id>``, id = the interface made topic-safe): ``state`` (available,
  ringing, on_call, paused, unavailable, logged_out), ``reason`` (of a pause), ``since``,
  ``calls_today`` (queue calls answered since local midnight, by the answer time), ``queues``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..report.definitions import ABANDON_TREATMENTS, service_level
from .message import OutboxMessage
from ..utc import parse_utc_iso, utc_iso
from .errors import EventError
from .events import SCHEMA_VERSION, Topics, operator_id

if TYPE_CHECKING:
    from ..calls.member_model import OperatorView
    from ..calls.model import CallRecord, CallUpdate
    from ..config import Config
    from ..menu.record import MenuRecord


@dataclass
class _Day:
    """Today's counts for one line or one queue."""

    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    abandoned_in_time: int = 0


@dataclass
class _Live:
    in_menu: int = 0
    waits: list[float] = field(default_factory=list)  # joined_at of calls waiting now


class Gauges:
    """Keeps the figures; :meth:`messages` returns the retained gauge messages that changed."""

    def __init__(
        self,
        *,
        node: str,
        prefix: str = "asterisk-bridge",
        timezone: str = "UTC",
        service_level_seconds: float = 20,
        abandons: str = "against",
        lines: tuple[str, ...] = (),
        queues: tuple[str, ...] = (),
        interval: float = 5.0,
    ):
        if abandons not in ABANDON_TREATMENTS:
            raise EventError(f"abandons: {abandons!r} is not one of {', '.join(ABANDON_TREATMENTS)}")
        if interval < 0 or service_level_seconds < 0:
            raise EventError(
                f"interval and service_level_seconds must be >= 0, got {interval} and {service_level_seconds}"
            )
        self.node = node
        self.topics = Topics(prefix, node)
        self.zone = ZoneInfo(timezone)
        self.service_level_seconds = service_level_seconds
        self.abandons = abandons
        self.interval = interval
        self._lines: list[str] = list(lines)
        self._queues: list[str] = list(queues)
        self._active: dict[str, CallRecord] = {}  # linkedid -> latest snapshot of a live call
        self._menu_sessions: dict[str, str] = {}  # FastAGI session id -> line
        self._ivr_reports_menu = False
        self._day: str | None = None
        self._line_day: dict[str, _Day] = {}
        self._queue_day: dict[str, _Day] = {}
        self._answered: set[tuple[str, int]] = set()  # (linkedid, leg) counted today
        self._operators: dict[str, OperatorView] = {}  # interface -> what the operator does now
        self._operator_calls: dict[str, int] = {}  # interface -> calls answered today
        self._last_emit: float | None = None
        self._last_payload: dict[str, str] = {}
        self._watchers: list[Callable[[str, object], None]] = []

    @classmethod
    def from_config(cls, config: Config, *, interval: float = 5.0) -> Gauges:
        return cls(
            node=config.node, prefix=config.mqtt.prefix, timezone=config.timezone,
            service_level_seconds=config.summary.service_level_seconds, abandons=config.summary.abandons,
            lines=tuple(config.lines), queues=tuple(config.queues), interval=interval,
        )

    @property
    def day(self) -> str | None:
        """The local day (ISO date) "today" means in the figures."""
        return self._day

    # -- who else listens --------------------------------------------------------------------------

    def watch(self, watcher: Callable[[str, object], None]) -> None:
        """Call ``watcher(kind, what)`` after every input: ``("menu_entered", line)``,
        ``("menu_finished", MenuRecord)``, ``("call_update", CallUpdate)``,
        ``("operator_update", OperatorView)``. The web console's live
        wallboard and its Prometheus counters hang here, so every part of the bridge that feeds
        the gauges feeds them too. A watcher must not raise."""
        self._watchers.append(watcher)

    def _notify(self, kind: str, what: object) -> None:
        for watcher in self._watchers:
            watcher(kind, what)

    # -- input ------------------------------------------------------------------------------------

    def seed(self, answered: Iterable[Mapping], abandoned: Iterable[Mapping], now: float) -> None:
        """Today's answers and abandons stored before this process started (``store/live_day.py``),
        counted exactly as :meth:`call_update` would have counted them."""
        self._roll(now)
        for row in answered:
            key = (row["linkedid"], int(row["seq"]) + 1)  # legs are numbered from 1 here, from 0 in the store
            if key in self._answered:
                continue
            line, queue = row["line"] or "unknown", row["queue"] or "unknown"
            self._know(self._lines, line)
            self._know(self._queues, queue)
            days = self._days(parse_utc_iso(row["answered_at"]), line, queue, first_answer=bool(row["first_answer"]))
            for day in days:
                day.answered += 1
                day.answered_in_time += self._in_time(row["wait_seconds"])
            self._count_operator_call(days, row.get("answered_interface"))
            self._answered.add(key)
        for row in abandoned:
            line, queue = row["line"] or "unknown", row["queue"] or "unknown"
            self._know(self._lines, line)
            self._know(self._queues, queue)
            for day in self._days(parse_utc_iso(row["ended_at"]), line, queue, first_answer=True):
                day.abandoned += 1
                day.abandoned_in_time += self._in_time(row["wait_seconds"])

    def _count_operator_call(self, days: list[_Day], interface: str | None) -> None:
        """One more call today for the operator at ``interface`` (``days``: the answer is today's)."""
        if days and interface:
            self._operator_calls[interface] = self._operator_calls.get(interface, 0) + 1

    def _in_time(self, wait: float | None) -> bool:
        return wait is not None and wait <= self.service_level_seconds

    def menu_entered(self, session_id: str, line: str) -> None:
        """A FastAGI menu session began (the IVR knows this before AMI does)."""
        self._ivr_reports_menu = True
        self._menu_sessions[session_id] = line
        self._know(self._lines, line)
        self._notify("menu_entered", line)

    def menu_finished(self, record: MenuRecord) -> None:
        """A menu session ended (its record is built)."""
        self._menu_sessions.pop(record.session_id, None)
        self._notify("menu_finished", record)

    def operator_update(self, view: OperatorView) -> None:
        """An operator's new live state (the member tracker's)."""
        self._operators[view.interface] = view
        for membership in view.queues:
            self._know(self._queues, membership.queue)
        self._notify("operator_update", view)

    def call_update(self, update: CallUpdate) -> None:
        """Apply one tracker update (started / changed / finished)."""
        record = update.record
        if record is None:
            return
        self._call_update(update, record)
        self._notify("call_update", update)

    def _call_update(self, update: CallUpdate, record: CallRecord) -> None:
        line = record.line or "unknown"
        self._know(self._lines, line)
        for number, leg in enumerate(record.legs, start=1):
            self._know(self._queues, leg.queue)
            if leg.answered_at is not None and (record.linkedid, number) not in self._answered:
                in_time = self._in_time(leg.wait_seconds)
                days = self._days(leg.answered_at, line, leg.queue, first_answer=number == _first_answer(record))
                for day in days:
                    day.answered += 1
                    day.answered_in_time += in_time
                self._count_operator_call(days, leg.answered_interface)
                self._answered.add((record.linkedid, number))
        if update.kind == "finished" or record.ended_at is not None:
            self._active.pop(record.linkedid, None)
            if update.kind == "finished" and record.outcome == "abandoned_queue" and record.legs:
                leg = record.legs[-1]
                in_time = self._in_time(leg.wait_seconds)
                end = record.ended_at if record.ended_at is not None else record.last_event_at
                for day in self._days(end, line, leg.queue, first_answer=True):
                    day.abandoned += 1
                    day.abandoned_in_time += in_time
        else:
            self._active[record.linkedid] = record

    # -- output -----------------------------------------------------------------------------------

    def figures(self, now: float) -> dict[str, dict[str, dict]]:
        """``{"lines": {line: {...}}, "queues": {queue: {...}}, "operators": {interface: {...}}}`` as of
        ``now`` (epoch seconds)."""
        self._roll(now)
        lines = {line: _Live() for line in self._lines}
        queues = {queue: _Live() for queue in self._queues}
        if self._ivr_reports_menu:
            for line in self._menu_sessions.values():
                lines.setdefault(line, _Live()).in_menu += 1
        for record in self._active.values():
            live = lines.setdefault(record.line or "unknown", _Live())
            open_legs = [leg for leg in record.legs if leg.left_at is None]
            if open_legs:
                leg = open_legs[-1]
                live.waits.append(leg.joined_at)
                queues.setdefault(leg.queue, _Live()).waits.append(leg.joined_at)
            elif not record.legs and record.ivr_result is None and not self._ivr_reports_menu:
                live.in_menu += 1
        staffed = {name: (sum(v.available_in(name) for v in self._operators.values()),
                          sum(v.paused_in(name) for v in self._operators.values())) for name in queues}
        return {
            "lines": {name: self._figure(live, self._line_day.get(name), now) for name, live in lines.items()},
            "queues": {name: {**self._figure(live, self._queue_day.get(name), now, menu=False),
                              "operators_available": staffed[name][0], "operators_paused": staffed[name][1]}
                       for name, live in queues.items()},
            "operators": {interface: self._operator(view) for interface, view in self._operators.items()},
        }

    def messages(self, now: float, *, force: bool = False) -> list[OutboxMessage]:
        """Retained gauge messages whose figures changed, at most once per ``interval`` seconds.

        ``force`` returns every gauge regardless of the interval (after a reconnect).
        """
        if not force and self._last_emit is not None and now - self._last_emit < self.interval:
            return []
        self._last_emit = now
        out = []
        figures = self.figures(now)
        for kind, topic_of in (("lines", self.topics.line_gauge), ("queues", self.topics.queue_gauge),
                               ("operators", self.topics.operator_gauge)):
            for name, figure in figures[kind].items():
                topic = topic_of(name)
                key = json.dumps(figure, sort_keys=True)
                if not force and self._last_payload.get(topic) == key:
                    continue
                self._last_payload[topic] = key
                ident = operator_id(name) if kind == "operators" else name  # the topic's last level
                payload = {"schema": SCHEMA_VERSION, "node": self.node, "kind": kind[:-1], "name": ident,
                           "at": utc_iso(now), **figure}
                out.append(OutboxMessage(
                    topic=topic, payload=json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                    event_id=f"gauge:{topic}", qos=1, retain=True,
                ))
        return out

    # -- helpers ----------------------------------------------------------------------------------

    def _figure(self, live: _Live, day: _Day | None, now: float, *, menu: bool = True) -> dict:
        day = day or _Day()
        figure: dict = {"in_menu": live.in_menu} if menu else {}
        figure.update({
            "waiting": len(live.waits),
            "longest_wait_seconds": round(max((now - joined for joined in live.waits), default=0.0), 1),
            "answered_today": day.answered,
            "abandoned_today": day.abandoned,
            "service_level_today": self._service_level(day),
            "service_level_seconds": self.service_level_seconds,
            "day": self._day,
        })
        return figure

    def _operator(self, view: OperatorView) -> dict:
        return {
            "interface": view.interface,
            "member_name": view.name,
            "state": view.state,
            "reason": view.reason,
            "since": utc_iso(view.since),
            "calls_today": self._operator_calls.get(view.interface, 0),
            "queues": [{"queue": m.queue, "paused": m.paused, "reason": m.reason, "since": utc_iso(m.since)}
                       for m in view.queues],
            "day": self._day,
        }

    def _service_level(self, day: _Day) -> float | None:
        level = service_level(day.answered_in_time, day.abandoned_in_time, day.answered + day.abandoned, self.abandons)
        return None if level is None else round(100.0 * level, 1)

    def _local_day(self, epoch: float) -> str:
        return datetime.fromtimestamp(epoch, self.zone).date().isoformat()

    def _roll(self, now: float) -> None:
        today = self._local_day(now)
        if self._day is None or today > self._day:
            self._day = today
            self._line_day.clear()
            self._queue_day.clear()
            self._answered.clear()
            self._operator_calls.clear()

    def _days(self, at: float, line: str, queue: str, *, first_answer: bool) -> list[_Day]:
        """Today's counters the moment at ``at`` counts in (none if it belongs to an earlier day)."""
        day = self._local_day(at)
        if self._day is None or day > self._day:
            self._roll(at)
        if day != self._day:
            return []
        out = [self._queue_day.setdefault(queue, _Day())]
        if first_answer:
            out.append(self._line_day.setdefault(line, _Day()))
        return out

    @staticmethod
    def _know(names: list[str], name: str) -> None:
        if name not in names:
            names.append(name)


def _first_answer(record: CallRecord) -> int | None:
    for number, leg in enumerate(record.legs, start=1):
        if leg.answered_at is not None:
            return number
    return None
