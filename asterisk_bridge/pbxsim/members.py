"""The simulated operators' day on the PBX: who is a static member, who logs in and out for a day
shift (AMI ``QueueAdd`` / ``QueueRemove``), and their breaks (``QueuePause`` with a reason).

Why here and not in the call events: a login or a lunch break belongs to no call. The queue model
(``queues.py``) plans each operator's shift and breaks (and decides the auto-pauses, which the
call that rang out plays itself, ``ami_queue.py``); this module turns the plan into member events
on the simulator's AMI server at their moment of the day, and puts the operators on duty round the
clock in the queues as static members before the bridge first asks ``QueueStatus``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from .ami_emit import member_event
from .ami_lists import QueueMemberState, QueueState
from .ami_calls import EventSink
from .queues import AUTO_PAUSE, QueueModel
from .scenario import Operator


@dataclass(frozen=True)
class MemberStep:
    """One change of one operator in one queue at ``at`` (seconds of the simulated day)."""

    at: float
    event: str  # QueueMemberAdded | QueueMemberRemoved | QueueMemberPause
    queue: str
    operator: Operator
    paused: bool = False
    reason: str = ""


def register_static(server: EventSink, model: QueueModel, login_time: float) -> int:
    """Put the operators on duty round the clock in their queues as static members (``member =>``
    of queues.conf), logged in since ``login_time``; returns how many."""
    count = 0
    for queue, staff in model.operators.items():
        state = server.queues.setdefault(queue, QueueState(queue))
        for member in staff:
            if member.static and not any(m.interface == member.operator.interface for m in state.members):
                state.members.append(QueueMemberState(member.operator.name, member.operator.interface,
                                                      login_time=int(login_time), membership="static"))
                count += 1
    return count


def day_plan(model: QueueModel) -> list[MemberStep]:
    """The day-shift operators' logins, breaks and logouts, in time order (auto-pauses excluded:
    the calls that ring out play them)."""
    steps: list[MemberStep] = []
    for queue, staff in model.operators.items():
        for member in staff:
            if member.static:
                continue
            op, (start, end) = member.operator, member.shift
            steps.append(MemberStep(start, "QueueMemberAdded", queue, op))
            for begin, stop, reason in member.pauses:
                if reason != AUTO_PAUSE:
                    steps.append(MemberStep(begin, "QueueMemberPause", queue, op, True, reason))
                    steps.append(MemberStep(stop, "QueueMemberPause", queue, op))
            steps.append(MemberStep(end, "QueueMemberRemoved", queue, op))
    return sorted(steps, key=lambda s: (s.at, s.event != "QueueMemberAdded", s.operator.exten))


async def play_day(server: EventSink, steps: list[MemberStep], *, speed: float,
                   clock: Callable[[], float] = time.time) -> int:
    """Emit ``steps`` as the day goes by: ``step.at / speed`` wall seconds from now, each stamped with
    ``clock()`` at that moment (the bridge's time). Returns how many were emitted."""
    started = time.monotonic()
    for step in steps:
        delay = step.at / speed - (time.monotonic() - started)
        if delay > 0:
            await server.drain()
            await asyncio.sleep(delay)
        now = clock()
        if step.event == "QueueMemberPause":  # Asterisk's pause device state comes first (captures)
            server.emit([("Event", "DeviceStateChange"), ("Privilege", "call,all"),
                         ("Device", f"Queue:{step.queue}_pause_{step.operator.interface}"),
                         ("State", "INUSE" if step.paused else "NOT_INUSE")], timestamp=now)
        server.emit(member_event(step.event, step.queue, step.operator, paused=step.paused, reason=step.reason),
                    timestamp=now)
    await server.drain()
    return len(steps)
