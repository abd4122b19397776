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

from ..utc import parse_utc_iso
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


def operator_figures(
    answers: Iterable[Mapping[str, Any]],
    rings: Iterable[Mapping[str, Any]],
    sessions: Iterable[Mapping[str, Any]],
    pauses: Iterable[Mapping[str, Any]],
    *,
    start: float,
    end: float,
) -> list[OperatorFigures]:
    """Per-operator figures from the store's rows (``store.operator_queries``), sorted by calls
    answered (most first), then name. ``start`` / ``end``: the period in epoch seconds, ``end``
    already cut to "now" for a period still running."""
    answers, rings, sessions, pauses = list(answers), list(rings), list(sessions), list(pauses)
    names: dict[str, str] = {}  # member name -> interface, where one interface carries it
    for row in [*sessions, *pauses, *answers, *rings]:
        interface, name = row.get("interface"), row.get("member_name") or row.get("name")
        if interface and name:
            names.setdefault(name, interface)
    operators: dict[str, OperatorFigures] = {}

    def get(row: Mapping[str, Any]) -> OperatorFigures:
        name = row.get("member_name") or row.get("name") or ""
        interface = row.get("interface") or names.get(name)
        key = interface or f"name:{name}"
        found = operators.get(key)
        if found is None:
            found = operators[key] = OperatorFigures(interface, name or interface or "?")
        return found

    for row in answers:
        op = get(row)
        op.answered += int(row["answered"] or 0)
        op.talk_n += int(row["talk_n"] or 0)
        op.talk_seconds += float(row["talk_sum"] or 0.0)
    for row in rings:
        op = get(row)
        op.ring_outs += int(row["ring_outs"] or 0)
        op.ring_n += int(row["ring_n"] or 0)
        op.ring_sum += float(row["ring_sum"] or 0.0)
    by_operator: dict[str, tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]] = {}
    for row in sessions:
        op = get(row)
        if row["queue"] not in op.queues:
            op.queues.append(row["queue"])
        op.name = row["member_name"] or op.name
        by_operator.setdefault(id_of(op), ([], []))[0].append(row)
    for row in pauses:
        by_operator.setdefault(id_of(get(row)), ([], []))[1].append(row)
    for op in operators.values():
        own_sessions, own_pauses = by_operator.get(id_of(op), ([], []))
        _time(op, own_sessions, own_pauses, start, end)
        op.queues.sort()
    return sorted(operators.values(), key=lambda o: (-o.answered, o.name, o.interface or ""))


def id_of(op: OperatorFigures) -> str:
    return op.interface or f"name:{op.name}"


def _time(op: OperatorFigures, sessions: list[Mapping[str, Any]], pauses: list[Mapping[str, Any]],
          start: float, end: float) -> None:
    """Logged-in and paused time by a sweep over the interval ends (see the module docstring)."""
    events: list[tuple[float, int, str, int]] = []  # (time, +1 open / -1 close, queue, pause index)
    for row in sessions:
        begin, stop = _cut(row["logged_in_at"], row["logged_out_at"], start, end)
        if begin < stop:
            events += [(begin, 1, row["queue"], -1), (stop, -1, row["queue"], -1)]
    starts: list[tuple[float, str, bool]] = []
    for row in pauses:
        began = parse_utc_iso(row["started_at"])
        begin, stop = _cut(row["started_at"], row["ended_at"], start, end)
        if begin < stop:
            starts.append((began, row["reason"] or "", bool(row["auto"])))
            events += [(begin, 1, row["queue"], len(starts) - 1), (stop, -1, row["queue"], len(starts) - 1)]
    events.sort(key=lambda e: (e[0], e[1]))  # closes before opens at the same moment
    logged: dict[str, int] = {}
    paused: dict[str, set[int]] = {}
    times: dict[tuple[str, bool], float] = {}
    previous = start
    for at, step, queue, pause in events:
        span = at - previous
        if span > 0 and any(logged.values()):
            op.logged_in_seconds += span
            inside = [q for q, n in logged.items() if n]
            if all(paused.get(q) for q in inside):
                latest = max((i for q in inside for i in paused[q]), key=lambda i: starts[i][0])
                reason_key = (starts[latest][1], starts[latest][2])
                times[reason_key] = times.get(reason_key, 0.0) + span
                op.paused_seconds += span
        previous = at
        if pause < 0:
            logged[queue] = logged.get(queue, 0) + step
        elif step > 0:
            paused.setdefault(queue, set()).add(pause)
        else:
            paused.get(queue, set()).discard(pause)
    counted = _pause_count(starts, start)
    op.paused = [PauseTime(reason, auto, seconds, counted.get((reason, auto), 0))
                 for (reason, auto), seconds in sorted(times.items(), key=lambda kv: -kv[1])]
    for (reason, auto), count in counted.items():
        if (reason, auto) not in times:
            op.paused.append(PauseTime(reason, auto, 0.0, count))


def _pause_count(starts: list[tuple[float, str, bool]], start: float) -> dict[tuple[str, bool], int]:
    """Pauses that began in the period, by reason: one pause in several queues at once (a pause
    without a queue, ``autopause = all``) counts once."""
    counted: dict[tuple[str, bool], int] = {}
    last: dict[tuple[str, bool], float] = {}
    for began, reason, auto in sorted(starts):
        key = (reason, auto)
        if began >= start and (key not in last or began - last[key] > 1.5):
            counted[key] = counted.get(key, 0) + 1
        last[key] = began
    return counted


def _cut(begin: str, stop: str | None, start: float, end: float) -> tuple[float, float]:
    b = max(parse_utc_iso(begin), start)
    e = min(parse_utc_iso(stop) if stop else end, end)
    return b, e


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
