"""Asterisk's queue_log: parse it, and derive calls' queue outcomes from it.

Why: Asterisk writes queue_log whatever happens to our AMI link, so it is the
source for the queue part of calls we missed while AMI was down. Line format:
``epoch|callid|queue|agent|EVENT|data1|data2|...`` where callid is the queued
channel's Uniqueid: the caller's own channel, whose Uniqueid is the call's
Linkedid, or a Local half the call was routed through, which is not
(``call_linkedid`` finds the call then).
Units differ per event: RINGNOANSWER/RINGCANCELED are milliseconds, every
other duration is whole seconds. Times are whole epoch seconds.
Pure: takes text, returns values; reading the file is the caller's job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..menu.record import MenuRecord
from .channel_events import IVR_FIELDS
from .errors import QueueLogError
from .model import CallRecord, QueueLeg, RingAttempt
from .outcome import decide_outcome, summarize

# queue_log EXIT* events -> (leg left_reason, QUEUESTATUS-equivalent)
_EXITS = {
    "EXITWITHTIMEOUT": ("timeout", "TIMEOUT"),
    "EXITEMPTY": ("empty", "LEAVEEMPTY"),
    "EXITWITHKEY": ("exit", None),
}
_NO_ENTRY = {"FULL": "FULL", "JOINEMPTY": "JOINEMPTY", "JOINUNAVAIL": "JOINUNAVAIL"}


@dataclass(frozen=True)
class QueueLogEntry:
    time: float
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]

    def field(self, n: int) -> str:
        """data1 is ``field(1)``; missing fields read as ''."""
        return self.data[n - 1] if 0 < n <= len(self.data) else ""


def parse_line(line: str, lineno: int | None = None) -> QueueLogEntry:
    where = f"queue_log line {lineno}" if lineno is not None else "queue_log line"
    parts = line.rstrip("\r\n").split("|")
    if len(parts) < 5:
        raise QueueLogError(f"{where}: expected epoch|callid|queue|agent|EVENT[|data...], got {line!r}")
    try:
        when = float(parts[0])
    except ValueError:
        raise QueueLogError(f"{where}: time {parts[0]!r} is not an epoch number") from None
    if not parts[4]:
        raise QueueLogError(f"{where}: empty EVENT field in {line!r}")
    return QueueLogEntry(when, parts[1], parts[2], parts[3], parts[4], tuple(parts[5:]))


def parse_queue_log(text: str, *, strict: bool = False) -> list[QueueLogEntry]:
    """All entries of a queue_log text. Blank lines are skipped.

    ``strict=False`` skips malformed lines (a file being written can end in a
    partial line); ``strict=True`` raises QueueLogError naming the line.
    """
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(parse_line(line, lineno))
        except QueueLogError:
            if strict:
                raise
    return entries


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@dataclass
class QueueLogCall:
    """The queue side of one call (one callid) as queue_log tells it."""

    callid: str
    caller_number: str | None = None
    legs: list[QueueLeg] = field(default_factory=list)
    queue_status: str | None = None  # FULL/JOINEMPTY (no ENTERQUEUE) or EXIT* equivalent
    first_at: float | None = None
    last_at: float | None = None
    finished: bool = False  # a terminal event (COMPLETE*, ABANDON, EXIT*, FULL...) was seen

    def outcome(self, short_abandon: float = 5.0) -> str | None:
        """answered | abandoned_queue | short_abandon | queue_* | failed, by the rule of
        ``outcome.py`` (queue_log knows nothing of the menu); None while still queued."""
        if not self.finished and not any(leg.answered_at is not None for leg in self.legs):
            return None
        return decide_outcome(self.legs, complete=True, queue_status=self.queue_status,
                              short_abandon=short_abandon)


def queue_log_calls(entries: Iterable[QueueLogEntry], callids: Iterable[str] | None = None) -> dict[str, QueueLogCall]:
    """Group entries into calls keyed by callid (optionally only ``callids``).

    Member and system lines (QUEUESTART, ADDMEMBER, PAUSE, ... with callid
    NONE/MANAGER) are not calls and are skipped.
    """
    wanted = set(callids) if callids is not None else None
    calls: dict[str, QueueLogCall] = {}
    for e in entries:
        if e.callid in ("", "NONE", "MANAGER") or (wanted is not None and e.callid not in wanted):
            continue
        call = calls.get(e.callid)
        if call is None:
            call = calls[e.callid] = QueueLogCall(e.callid)
        if call.first_at is None:
            call.first_at = e.time
        call.last_at = e.time
        _apply(call, e)
    return calls


def _open_leg(call: QueueLogCall, queue: str) -> QueueLeg | None:
    for leg in reversed(call.legs):
        if leg.queue == queue:
            return leg
    return None


def _apply(call: QueueLogCall, e: QueueLogEntry) -> None:
    ev = e.event
    if ev == "ENTERQUEUE":
        call.caller_number = e.field(2) or call.caller_number
        call.legs.append(QueueLeg(queue=e.queue, joined_at=e.time, position=_int(e.field(3))))
        call.finished = False
        return
    if ev in _NO_ENTRY:
        call.queue_status = _NO_ENTRY[ev]
        call.finished = True
        return
    leg = _open_leg(call, e.queue)
    if leg is None:
        return
    if ev in ("RINGNOANSWER", "RINGCANCELED"):
        ms = _int(e.field(1))
        leg.attempts.append(
            RingAttempt(
                member=e.agent,
                interface="",
                channel="",
                called_at=e.time - (ms or 0) / 1000.0,
                ring_seconds=ms / 1000.0 if ms is not None else None,
                result="noanswer" if ev == "RINGNOANSWER" else None,
            )
        )
    elif ev == "CONNECT":
        hold = _int(e.field(1))
        ring = _int(e.field(3))
        leg.answered_by = e.agent
        leg.answered_at = e.time
        leg.hold_time = hold
        leg.ring_time = ring
        leg.left_at = e.time
        leg.wait_seconds = float(hold) if hold is not None else e.time - leg.joined_at
        leg.left_reason = "answered"
        leg.attempts.append(
            RingAttempt(e.agent, "", e.field(2), e.time - (ring or 0), float(ring) if ring is not None else None,
                        "answered")
        )
    elif ev in ("COMPLETECALLER", "COMPLETEAGENT"):
        talk = _int(e.field(2))
        leg.completed_at = e.time
        leg.talk_time = talk
        leg.talk_seconds = float(talk) if talk is not None else None
        leg.completed_by = "caller" if ev == "COMPLETECALLER" else "agent"
        call.finished = True
    elif ev in ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"):
        leg.completed_at = e.time
        leg.completed_by = "transfer"
        call.finished = True
    elif ev == "ABANDON":
        wait = _int(e.field(3))
        leg.abandoned = True
        leg.left_reason = "abandoned"
        leg.abandon_position = _int(e.field(1))
        leg.original_position = _int(e.field(2))
        leg.hold_time = wait
        leg.left_at = e.time
        leg.wait_seconds = float(wait) if wait is not None else e.time - leg.joined_at
        call.finished = True
    elif ev in _EXITS:
        reason, status = _EXITS[ev]
        wait = _int(e.field(4 if ev == "EXITWITHKEY" else 3))
        leg.left_reason = reason
        leg.left_at = e.time
        leg.wait_seconds = float(wait) if wait is not None else e.time - leg.joined_at
        if status:
            call.queue_status = status
        call.finished = True


def fill_record(record: CallRecord, call: QueueLogCall, *, menu: MenuRecord | None = None,
                short_abandon: float = 5.0) -> bool:
    """Give a record the queue outcome queue_log knows, when AMI missed it, and what its menu
    decided (``menu``, :func:`callid_calls`; see :func:`take_menu`).

    Only a record without queue legs gets queue_log's legs (AMI's own legs are
    finer: sub-second times, member interfaces). The outcome is replaced only
    when it is unknown (``None`` / ``unknown_end``). A record known only from
    queue_log, stored while its call was still up, is complete once queue_log
    shows the end. Returns True if anything
    changed. Derived totals are recomputed by the tracker's rule (``outcome.summarize``).
    """
    changed = take_menu(record, menu)
    if not record.legs and call.legs:
        record.legs = call.legs
        changed = True
    for leg in record.legs:
        changed = _complete_from(leg, call.legs) or changed
    if record.caller_number is None and call.caller_number:
        record.caller_number = call.caller_number
        changed = True
    if record.queue_status is None and call.queue_status:
        record.queue_status = call.queue_status
        changed = True
    if record.source == "queue_log" and call.finished and not record.complete:
        record.complete = True  # its only witness saw the end, as when it is rebuilt at once (record_from_queue_log)
        changed = True
    outcome = call.outcome(short_abandon)
    if outcome is not None and record.outcome in (None, "unknown_end"):
        record.outcome = outcome
        changed = True
    if changed:
        summarize(record)
    return changed


def _complete_from(leg: QueueLeg, logged: list[QueueLeg]) -> bool:
    """An AMI leg that saw its answer but not its end (the link went down during the talk) takes the
    end queue_log wrote for the same queue: when, the talk time, who hung up."""
    if leg.answered_at is None or leg.completed_at is not None:
        return False
    for done in logged:
        if done.queue == leg.queue and done.answered_at is not None and done.completed_at is not None:
            leg.completed_at = done.completed_at
            leg.talk_time = done.talk_time
            leg.talk_seconds = done.talk_seconds
            leg.completed_by = done.completed_by
            return True
    return False


def call_linkedid(callid: str, menu_linkedids: Iterable[str | None]) -> str:
    """The call a queue_log callid belongs to, named by its Linkedid.

    ``menu_linkedids``: the Linkedids recorded by the menu sessions that ran on the channel whose
    Uniqueid is ``callid``, oldest first. A caller routed through a Local channel runs the menu and
    waits in the queue on a Local half: queue_log names that half, and the menu session, which asked
    the channel for its Linkedid, names the call. With no menu session (the menu never ran, e.g. the
    bridge was down for the whole call) nothing says otherwise: the callid is the call's id, as for
    a caller whose own channel queued. The oldest session that knew its Linkedid decides.
    """
    return next((linkedid for linkedid in menu_linkedids if linkedid), callid)


def callid_calls(callids: Iterable[str], sessions: Iterable[MenuRecord]) -> dict[str, tuple[str, MenuRecord | None]]:
    """``{callid: (the call's Linkedid, the menu session the call takes its menu from)}``.

    ``sessions``: menu sessions oldest first, among them those that ran on the channels the
    callids name and those of the calls they belong to
    (``store/queries.py::queue_log_menu_sessions``).
    The call is :func:`call_linkedid`'s. Its menu is its last session (those recording its
    Linkedid, and those on the queued channel itself that could not learn one), as over AMI:
    every session sets the ``IVR_*`` variables again and the tracker keeps the newest values
    (``channel_events.py``), so what the channel took to the queue is the last session's.
    """
    on_channel: dict[str, list[MenuRecord]] = {}
    of_call: dict[str, list[MenuRecord]] = {}
    for session in sessions:
        if session.uniqueid:
            on_channel.setdefault(session.uniqueid, []).append(session)
        if session.linkedid:
            of_call.setdefault(session.linkedid, []).append(session)
    found: dict[str, tuple[str, MenuRecord | None]] = {}
    for callid in callids:
        own = on_channel.get(callid, [])
        linkedid = call_linkedid(callid, (s.linkedid for s in own))
        menus = of_call.get(linkedid, []) + [s for s in own if not s.linkedid]
        found[callid] = (linkedid, sorted(menus, key=lambda s: s.started_at)[-1] if menus else None)
    return found


def take_menu(record: CallRecord, menu: MenuRecord | None) -> bool:
    """Give ``record`` what its menu session decided where the record has nothing: the ``IVR_*``
    fields the tracker would have read from the channel (``channel_events.IVR_FIELDS``), the
    caller's number and name, and the menu's line. A value already there (AMI saw it, or the
    queue's configured line) is not replaced, with one exception: ``IVR_RESULT=error`` is the
    menu's first act in every session (``ivr.py``, with ``IVR_QUEUE`` set to the line's default
    queue), replaced at its end; a record holding it saw the menu start over AMI and not its end, so
    the session's four ``IVR_*`` values replace those (for a session that failed they are the
    same). Returns True if anything changed; the age group the record counts under is derived by
    ``outcome.summarize``."""
    if menu is None:
        return False
    variables = {IVR_FIELDS[v]: value or None for v, value in menu.channel_variables().items()}
    changed = False
    if record.ivr_result == "error":
        for attr, value in variables.items():
            if getattr(record, attr) != value:
                setattr(record, attr, value)
                changed = True
    taken: dict[str, str | None] = {**variables, "line": menu.line, "caller_number": menu.caller_number,
                                    "caller_name": menu.caller_name}
    for attr, value in taken.items():
        if value and getattr(record, attr) is None:
            setattr(record, attr, value)
            changed = True
    return changed


def lacks_menu(record: CallRecord | None) -> bool:
    """Could its menu session give ``record`` anything (:func:`take_menu`): an ``IVR_*`` field
    empty, or only the ``error`` every session sets first? (None: a call not in hand, it may.)"""
    return record is None or record.ivr_result == "error" or None in (
        record.ivr_result, record.ivr_topic, record.ivr_queue, record.ivr_age_group)


def record_from_queue_log(call: QueueLogCall, *, line: str | None = None, menu: MenuRecord | None = None,
                          short_abandon: float = 5.0) -> CallRecord:
    """A call we never saw over AMI, rebuilt from queue_log and its menu session.

    ``call.callid`` is the call's Linkedid (the reader of the file turns a Local
    half's callid into it, ``call_linkedid``). ``complete`` is True only when queue_log shows
    the call's queue part ended. ``line``: the configured line of the queue it joined.
    ``menu`` (:func:`callid_calls`), when the menu ran: the call gets the ``IVR_*`` fields the
    tracker would have read from the channel (``channel_events.IVR_FIELDS``), the caller's number
    and name queue_log lacks, and its line when the queue gave none; without it menu data is
    unknown (None).
    """
    start = call.first_at if call.first_at is not None else 0.0
    rec = CallRecord(linkedid=call.callid, uniqueid=call.callid, started_at=start, line=line or None)
    rec.source = "queue_log"
    rec.caller_number = call.caller_number
    take_menu(rec, menu)
    rec.legs = call.legs
    rec.queue_status = call.queue_status
    rec.last_event_at = call.last_at or start
    if call.finished:
        rec.ended_at = call.last_at
        rec.complete = True
        rec.outcome = call.outcome(short_abandon)
    summarize(rec)
    return rec
