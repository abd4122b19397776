"""A simulated call's AMI events, built and played: the events Asterisk 22 emits for one
contact-center call.

Why: the tracker, demo and benchmarks need realistic AMI streams at any speed. The events
reproduce the captures (tests/fixtures/asterisk/ami/ami-cc-*.raw): same event names, keys and
key order per channel, with values (Channel, Uniqueid, Linkedid, Queue, Interface, MemberName,
HoldTime, TalkTime, RingTime, Cause, IVR_* ...) derived from the scenario and a simulated clock.
Cross-channel interleaving in Asterisk depends on thread timing (two recordings of one scenario
differ), so only the order within each channel is a contract. ``call_events`` is pure;
``play_call`` and ``play_events`` send.

The scenario model is in ``scenario.py``, the event writer in ``ami_emit.py``, the call's phases
in ``ami_menu.py`` and ``ami_queue.py``; the names a caller needs are importable from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Protocol

from .ami_emit import Headers, Ids
from .ami_lists import QueueState
from .ami_queue import QueuePhases
from .errors import ScenarioError
from .scenario import CallScenario, Operator

__all__ = ["CallScenario", "EventSink", "Headers", "Ids", "Operator", "ScenarioError", "call_events", "play_call",
           "play_events"]


class EventSink(Protocol):
    """Where a call's events go: the simulator's ``AMIServer``, or in a ``simulate`` worker process
    the pipe to the parent's (``workers.py``); either keeps the queues' members and waiting callers."""

    queues: dict[str, QueueState]

    def emit(self, headers: Headers, *, timestamp: float | None = None) -> int: ...

    def forget_calls(self, linkedids: Collection[str]) -> None: ...

    async def drain(self) -> None: ...


class _Call(QueuePhases):
    """One call from its origination to its last event."""

    def build(self) -> list[tuple[float, Headers]]:
        sc = self.sc
        c1, c2 = self.ids.local_pair(sc.name, "caller-sim", self.t)
        self.c1, self.c2 = c1, c2
        self.originate(c1, c2)
        self.contact_center(c1)
        if sc.menu == "hangup":
            self.h_extension()
            return self.events
        if sc.menu == "selfservice":
            self.self_service_end()
            return self.events
        queue = sc.queue_joined or ""
        self.queue_call(queue)
        self.merge_later()
        return self.events


def call_events(scenario: CallScenario, start_time: float, ids: Ids | None = None) -> list[tuple[float, Headers]]:
    """All AMI events of one call as (simulated epoch time, ordered headers). Pure."""
    return _Call(scenario, start_time, ids or Ids()).build()


async def play_call(server: EventSink, scenario: CallScenario, start_time: float, speed: float = 1.0,
                    ids: Ids | None = None) -> int:
    """Emit a call's events; waits (simulated gap / speed) between them.

    speed=float('inf') sends everything at once. The Timestamp header (timestampevents)
    carries the simulated time, so a day compresses into seconds. Returns events sent.
    """
    if speed <= 0:
        raise ScenarioError(f"speed must be > 0, got {speed!r}")
    events = call_events(scenario, start_time, ids)
    await play_events(server, events, speed, since=start_time)
    return len(events)


async def play_events(server: EventSink, events: list[tuple[float, Headers]], speed: float = 1.0, *,
                      since: float | None = None) -> int:
    """Emit events built by ``call_events`` (or part of them), paced like ``play_call``; the
    first waits from ``since`` (simulated time), if given.

    The server's channel and queue lists follow the events. When the play is cancelled, the
    calls it was playing are taken off those lists: nobody will play their end, so a bridge must
    not be told they are still up.

    Returns how many deliveries were made (events x logged-in sessions that received them).
    """
    if speed <= 0:
        raise ScenarioError(f"speed must be > 0, got {speed!r}")
    delivered = 0
    played = 0
    prev = since if since is not None else events[0][0] if events else 0.0
    try:
        for t, headers in events:
            gap = (t - prev) / speed
            if gap > 0.0005:
                await server.drain()
                await asyncio.sleep(gap)
            prev = t
            delivered += server.emit(headers, timestamp=t)
            played += 1
        await server.drain()
    except asyncio.CancelledError:
        server.forget_calls({value for _, headers in events[:played] for key, value in headers if key == "Linkedid"})
        raise
    return delivered
