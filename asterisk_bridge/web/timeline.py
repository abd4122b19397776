"""One call on one screen: its menu steps, queue legs, ring attempts, answer and hang-up, in the
order they happened (pure: stored rows in, events out; the page words them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..utc import parse_utc_iso


@dataclass(frozen=True)
class Event:
    at: float  # epoch seconds
    order: int  # among events at the same moment: call, menu, queue, ring, answer, end
    kind: str  # call_start | menu_start | step | menu_end | queue_join | ring | answer | queue_leave | talk_end | call_end
    data: dict[str, Any] = field(default_factory=dict)


def _at(value: str | None) -> float | None:
    return parse_utc_iso(value) if value else None


def timeline(call: dict[str, Any] | None, sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in time order, each ``{at, offset, kind, data}`` (``offset``: seconds since the first)."""
    events: list[Event] = []

    def add(at: float | None, order: int, kind: str, **data: Any) -> None:
        if at is not None:
            events.append(Event(at, order, kind, data))

    if call is not None:
        add(_at(call["started_at"]), 0, "call_start", line=call["line"], channel=call["channel"])
    for session in sessions:
        add(_at(session["started_at"]), 1, "menu_start", line=session["line"], session=session["session_id"])
        for step in session.get("steps", []):
            add(_at(step["at"]), 2, "step", step=step["kind"], menu=step["menu"], prompt=step["prompt"], key=step["key"])
        add(_at(session["ended_at"]), 3, "menu_end", result=session["result"], topic=session["topic"],
            queue=session["queue"], age_group=session["age_group"], ended_in=session["ended_in"],
            hung_up=session["hung_up"], error=session["error"], steps_kept=bool(session.get("steps")),
            step_count=session["step_count"])
    if call is not None:
        for leg in call.get("legs", []):
            joined = _at(leg["joined_at"])
            add(joined, 4, "queue_join", queue=leg["queue"], position=leg["position"])
            answered = _at(leg["answered_at"])
            left = _at(leg["left_at"])
            if leg["ring_attempts"]:
                add(answered or left or joined, 5, "ring", attempts=leg["ring_attempts"], queue=leg["queue"])
            if answered is not None:
                add(answered, 6, "answer", queue=leg["queue"], operator=leg["answered_by"],
                    interface=leg["answered_interface"], wait=leg["wait_seconds"])
                if leg["talk_seconds"] is not None:
                    add(answered + leg["talk_seconds"], 7, "talk_end", operator=leg["answered_by"],
                        talk=leg["talk_seconds"], completed_by=leg["completed_by"])
            elif left is not None:
                add(left, 6, "queue_leave", queue=leg["queue"], reason=leg["left_reason"],
                    abandoned=leg["abandoned"], wait=leg["wait_seconds"])
        add(_at(call["ended_at"]), 8, "call_end", outcome=call["outcome"], hangup_by=call["hangup_by"],
            cause=call["hangup_cause"], cause_text=call["hangup_cause_text"], complete=call["complete"])
    events.sort(key=lambda e: (e.at, e.order))
    start = events[0].at if events else 0.0
    return [{"at": e.at, "offset": e.at - start, "kind": e.kind, "data": e.data} for e in events]
