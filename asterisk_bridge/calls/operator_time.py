"""An operator's logged-in and paused time within a window, from his sessions and pauses. Pure.

One sweep over the ends of the intervals: the operator is *logged in* while in at least one queue
and *paused* while paused in every queue he is logged in to (paused in one queue of two he still
takes the other's calls); a moment of pause belongs to the reason of the pause that began last.
Each moment depends only on the intervals that contain it, so the time of a period is the sum of
the times of its days: the report adds per-day figures kept by the store (``store/operator_days.py``)
to the sweep of the days not kept yet, and gets what one sweep over the whole period gives.

Times are whole milliseconds (the stored times have milliseconds), so adding days is exact.

A pause is *counted* (``pauses``) in the window it began in, once however many queues it covers
(a pause that ended the moment it began is none at all):
a pause of the same reason that began at most :data:`SAME_PAUSE_MS` after another of the operator's
pauses (``autopause = all`` pauses him in every queue, one event per queue) is the same pause. The
one before may have begun before the window, so the rows given must include the pauses that
began up to :data:`SAME_PAUSE_MS` before it (``store/operator_queries.py`` reads them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..utc import parse_utc_iso

#: pauses of one reason that began this close together are one pause in several queues
SAME_PAUSE_MS = 1500


def ms(iso: str) -> int:
    """A stored UTC time -> whole epoch milliseconds."""
    return round(parse_utc_iso(iso) * 1000)


@dataclass
class OperatorTime:
    """One operator's time in a window: milliseconds logged in and paused, paused time and pause
    counts by ``(reason, auto)``, the queues of his sessions, and his member name: that of his
    latest session, else of his latest pause (``name_key`` = (1 for a session, 0 for a pause, its
    start, its queue), to find the latest across windows)."""

    logged_in_ms: int = 0
    paused_ms: int = 0
    reasons: dict[tuple[str, bool], list[int]] = field(default_factory=dict)  # -> [ms, pauses]
    queues: set[str] = field(default_factory=set)
    name: str | None = None
    name_key: tuple[int, str, str] = (-1, "", "")
    seen: bool = False  # a session or pause of his overlaps the window

    def add_reason(self, reason: str, auto: bool, paused_ms: int, pauses: int) -> None:
        entry = self.reasons.setdefault((reason, auto), [0, 0])
        entry[0] += paused_ms
        entry[1] += pauses

    def merge(self, other: OperatorTime) -> None:
        """Add the time of another window (days are disjoint, so sums are exact)."""
        self.logged_in_ms += other.logged_in_ms
        self.paused_ms += other.paused_ms
        for (reason, auto), (spent, count) in other.reasons.items():
            self.add_reason(reason, auto, spent, count)
        self.queues |= other.queues
        self.see_name(other.name, other.name_key)
        self.seen = self.seen or other.seen

    def see_name(self, name: str | None, key: tuple[int, str, str]) -> None:
        if name is not None and (self.name is None or key > self.name_key):
            self.name, self.name_key = name, key


def operator_time(
    sessions: Iterable[Mapping[str, Any]], pauses: Iterable[Mapping[str, Any]], start_ms: int, end_ms: int,
) -> OperatorTime:
    """The time of one operator in ``[start_ms, end_ms)``; an interval still open (no end) runs to
    ``end_ms``. ``sessions``: ``{queue, logged_in_at, logged_out_at, member_name}``; ``pauses``:
    ``{queue, started_at, ended_at, reason, auto, member_name}`` (UTC ISO text), including those that
    began up to :data:`SAME_PAUSE_MS` before the window (they only tell whether a pause is a new one)."""
    out = OperatorTime()
    events: list[tuple[int, int, str, int]] = []  # (time, +1 open / -1 close, queue, pause index)
    for row in sessions:
        begin, stop = _cut(row["logged_in_at"], row["logged_out_at"], start_ms, end_ms)
        if begin < stop:
            events += [(begin, 1, row["queue"], -1), (stop, -1, row["queue"], -1)]
            out.seen = True
            out.queues.add(row["queue"])
            out.see_name(row["member_name"], (1, row["logged_in_at"], row["queue"]))
    starts: list[tuple[int, str, bool]] = []  # every pause given that lasted: (began, reason, auto)
    for row in pauses:
        began = ms(row["started_at"])
        if row["ended_at"] and ms(row["ended_at"]) <= began:
            continue  # paused and unpaused at once: no pause at all
        starts.append((began, row["reason"] or "", bool(row["auto"])))
        begin, stop = _cut(row["started_at"], row["ended_at"], start_ms, end_ms)
        if begin < stop:
            out.seen = True
            out.see_name(row.get("member_name"), (0, row["started_at"], row["queue"]))
            events += [(begin, 1, row["queue"], len(starts) - 1), (stop, -1, row["queue"], len(starts) - 1)]
    events.sort(key=lambda e: (e[0], e[1]))  # closes before opens at the same moment
    logged: dict[str, int] = {}
    paused: dict[str, set[int]] = {}
    previous = start_ms
    for at, step, queue, pause in events:
        span = at - previous
        if span > 0 and any(logged.values()):
            out.logged_in_ms += span
            inside = [q for q, n in logged.items() if n]
            if all(paused.get(q) for q in inside):
                latest = max((i for q in inside for i in paused[q]), key=lambda i: starts[i][0])
                out.add_reason(starts[latest][1], starts[latest][2], span, 0)
                out.paused_ms += span
        previous = at
        if pause < 0:
            logged[queue] = logged.get(queue, 0) + step
        elif step > 0:
            paused.setdefault(queue, set()).add(pause)
        else:
            paused.get(queue, set()).discard(pause)
    for (reason, auto), count in _pause_count(starts, start_ms, end_ms).items():
        out.add_reason(reason, auto, 0, count)
    return out


def _pause_count(starts: list[tuple[int, str, bool]], start_ms: int, end_ms: int) -> dict[tuple[str, bool], int]:
    """Pauses that began in the window, by reason; one that began at most :data:`SAME_PAUSE_MS`
    after the one before it (same reason) is that pause in another queue."""
    counted: dict[tuple[str, bool], int] = {}
    last: dict[tuple[str, bool], int] = {}
    for began, reason, auto in sorted(starts):
        key = (reason, auto)
        if start_ms <= began < end_ms and (key not in last or began - last[key] > SAME_PAUSE_MS):
            counted[key] = counted.get(key, 0) + 1
        last[key] = began
    return counted


def _cut(begin: str, stop: str | None, start_ms: int, end_ms: int) -> tuple[int, int]:
    return max(ms(begin), start_ms), min(ms(stop) if stop else end_ms, end_ms)
