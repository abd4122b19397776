"""Operator and queue figures: what a supervisor reads first. Pure maths over the store's rows
(``store/operator_queries.py``); what each figure means is in ``definitions.DEFINITIONS`` (the
footer of the summary prints it in the summary's language).

**Operators.** One operator is one queue member interface, whatever the queues. Calls answered,
talk and ring times come from the queue legs and ring attempts of the calls that started in the
period. Logged-in and paused time come from the sessions and pauses that overlap it, cut at its
bounds (local days in ``timezone``); one still open counts up to ``now`` or the period's end. An
operator is *logged in* while in at least one queue, and *paused* while paused in every queue they
are logged in to (paused in one queue of two, they still take the other's calls); a moment of
pause belongs to the reason of the pause that began last. Calls known only from Asterisk's
queue_log name their operator by member name: they count for the operator of that name.

**Queues.** Every leg of a call in a queue is an offer to that queue (a call that moves from a
topic queue to the default queue is offered to both). A leg ends answered, abandoned (after the
short-abandon threshold), as a short abandon, unanswered (the queue gave up or sent the caller on),
or unknown (still waiting, or cut off by an AMI gap); service level, average answer and longest
wait are defined as for the lines (``definitions.py``), over the legs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..calls.operator_time import OperatorTime, operator_time
from .definitions import Definitions, ratio, service_level


@dataclass
class PauseTime:
    """An operator's paused time under one reason (``auto``: Asterisk's auto-pause after a ring-out)."""

    reason: str
    auto: bool
    seconds: float = 0.0
    pauses: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "auto": self.auto, "seconds": round(self.seconds, 1), "pauses": self.pauses}


@dataclass
class OperatorFigures:
    """One operator's figures for a period."""

    interface: str | None  # None: known only by member name (calls filled from queue_log)
    name: str
    queues: list[str] = field(default_factory=list)
    answered: int = 0
    talk_n: int = 0
    talk_seconds: float = 0.0
    ring_outs: int = 0
    ring_n: int = 0
    ring_sum: float = 0.0
    logged_in_seconds: float = 0.0
    paused_seconds: float = 0.0
    paused: list[PauseTime] = field(default_factory=list)

    @property
    def avg_talk(self) -> float | None:
        return ratio(self.talk_seconds, self.talk_n)

    @property
    def avg_ring(self) -> float | None:
        return ratio(self.ring_sum, self.ring_n)

    @property
    def auto_pauses(self) -> int:
        return sum(p.pauses for p in self.paused if p.auto)

    @property
    def available_seconds(self) -> float:
        return max(0.0, self.logged_in_seconds - self.paused_seconds)

    @property
    def occupancy(self) -> float | None:
        return ratio(self.talk_seconds, self.available_seconds)

    @property
    def flagged(self) -> bool:
        """Worth a supervisor's look: let calls ring out, or was auto-paused."""
        return bool(self.ring_outs or self.auto_pauses)

    def to_json(self) -> dict[str, Any]:
        return {
            "interface": self.interface, "name": self.name, "queues": list(self.queues),
            "calls_answered": self.answered, "talk_seconds": round(self.talk_seconds, 1),
            "avg_talk_seconds": _round(self.avg_talk), "avg_ring_seconds": _round(self.avg_ring),
            "ring_outs": self.ring_outs, "auto_pauses": self.auto_pauses,
            "logged_in_seconds": round(self.logged_in_seconds, 1), "paused_seconds": round(self.paused_seconds, 1),
            "paused_by_reason": [p.to_json() for p in self.paused],
            "occupancy": _round(self.occupancy, 4), "flagged": self.flagged,
        }


@dataclass
class QueueRow:
    """One queue's figures for a period (``name``: its description in ``[queues]``)."""

    queue: str
    name: str
    lines: tuple[str, ...]
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandon: int = 0
    unanswered: int = 0
    unknown: int = 0
    answered_within: int = 0
    abandoned_within: int = 0
    service_level: float | None = None
    asa: float | None = None
    longest_wait: float | None = None

    @property
    def queued(self) -> int:
        return self.answered + self.abandoned + self.unanswered

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue, "name": self.name, "lines": list(self.lines), "offered": self.offered,
            "answered": self.answered, "abandoned": self.abandoned, "short_abandon": self.short_abandon,
            "unanswered": self.unanswered, "unknown": self.unknown, "queued": self.queued,
            "answered_within": self.answered_within, "abandoned_within": self.abandoned_within,
            "service_level": _round(self.service_level, 4), "asa_seconds": _round(self.asa),
            "longest_wait_seconds": _round(self.longest_wait),
        }


# ------------------------------------------------------------------------------- queues


def queue_rows(groups: Iterable[Mapping[str, Any]], catalog: Mapping[str, tuple[str, tuple[str, ...]]],
               definitions: Definitions) -> list[QueueRow]:
    """Every queue of ``catalog`` (queue -> (description, lines), in configuration order), then any
    other queue the legs name, from ``store.operator_queries.queue_groups`` rows."""
    rows = {queue: QueueRow(queue, name, lines) for queue, (name, lines) in catalog.items()}
    for g in groups:
        queue = g["queue"] or "?"
        row = rows.setdefault(queue, QueueRow(queue, queue, ()))
        row.offered = int(g["offered"] or 0)
        row.answered = int(g["answered"] or 0)
        row.abandoned = int(g["abandoned"] or 0)
        row.short_abandon = int(g["short_abandon"] or 0)
        row.unknown = int(g["unknown"] or 0)
        row.unanswered = row.offered - row.answered - row.abandoned - row.short_abandon - row.unknown
        row.answered_within = int(g["answered_within"] or 0)
        row.abandoned_within = int(g["abandoned_within"] or 0)
        row.service_level = service_level(row.answered_within, row.abandoned_within, row.queued, definitions.abandons)
        row.asa = ratio(float(g["wait_sum"] or 0.0), row.answered)
        row.longest_wait = None if g["wait_max"] is None else float(g["wait_max"])
    return list(rows.values())


# ------------------------------------------------------------------------------- operators


def times_from_rows(sessions: Iterable[Mapping[str, Any]], pauses: Iterable[Mapping[str, Any]], *,
                    start: float, end: float) -> dict[str, OperatorTime]:
    """Each operator's time in ``[start, end)`` (epoch seconds) from his session and pause rows
    (``store.operator_queries``), keyed by interface."""
    own: dict[str, tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    for row in sessions:
        own.setdefault(row["interface"], ([], []))[0].append(row)
    for row in pauses:
        own.setdefault(row["interface"], ([], []))[1].append(row)
    start_ms, end_ms = round(start * 1000), round(end * 1000)
    return {interface: operator_time(s, p, start_ms, end_ms) for interface, (s, p) in own.items()}


def operator_figures(
    answers: Iterable[Mapping[str, Any]],
    rings: Iterable[Mapping[str, Any]],
    times: Mapping[str, OperatorTime],
) -> list[OperatorFigures]:
    """Per-operator figures from the store's answer and ring rows (``store.operator_queries`` or
    the rollups) and each operator's time (:func:`times_from_rows`, or the rollups), sorted by calls
    answered (most first), then name. A row that names its operator only by member name (a call
    known from queue_log) counts for the interface that carries that name: the interface whose
    latest session has it, else the first (in sort order) of the answer and ring rows with it."""
    answers = sorted(answers, key=_row_order)
    rings = sorted(rings, key=_row_order)
    names: dict[str, str] = {}  # member name -> interface
    for interface, spent in sorted(times.items()):
        if spent.name and spent.seen:
            names.setdefault(spent.name, interface)
    for row in [*answers, *rings]:
        if row.get("interface") and row.get("name"):
            names.setdefault(row["name"], row["interface"])
    operators: dict[str, OperatorFigures] = {}

    def get(interface: str | None, name: str | None) -> OperatorFigures:
        interface = interface or names.get(name or "")
        key = interface or f"name:{name or ''}"
        found = operators.get(key)
        if found is None:
            found = operators[key] = OperatorFigures(interface, name or interface or "?")
        return found

    for row in answers:
        op = get(row.get("interface"), row.get("name"))
        op.answered += int(row["answered"] or 0)
        op.talk_n += int(row["talk_n"] or 0)
        op.talk_seconds += float(row["talk_sum"] or 0.0)
    for row in rings:
        op = get(row.get("interface"), row.get("name"))
        op.ring_outs += int(row["ring_outs"] or 0)
        op.ring_n += int(row["ring_n"] or 0)
        op.ring_sum += float(row["ring_sum"] or 0.0)
    for interface, spent in sorted(times.items()):
        if not spent.seen:
            continue
        op = get(interface, spent.name)
        if spent.name and spent.name_key[0] == 1:  # a session names him
            op.name = spent.name
        op.queues = sorted(spent.queues)
        op.logged_in_seconds = spent.logged_in_ms / 1000
        op.paused_seconds = spent.paused_ms / 1000
        reasons = sorted(spent.reasons.items(), key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1]))
        op.paused = [PauseTime(reason, auto, spent_ms / 1000, count) for (reason, auto), (spent_ms, count) in reasons
                     if spent_ms or count]
    return sorted(operators.values(), key=lambda o: (-o.answered, o.name, o.interface or ""))


def _row_order(row: Mapping[str, Any]) -> tuple[str, str]:
    return row.get("interface") or "", row.get("name") or ""


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
