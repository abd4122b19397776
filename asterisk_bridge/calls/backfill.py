"""Filling what AMI missed from Asterisk's queue_log: the call follower's helper (an edge: it
reads the file and writes the store).

Asterisk writes queue_log whatever happens to our AMI link, so it tells the queue part of calls
that ended while AMI was down (closed as ``unknown_end``) and of calls AMI never saw at all. This
class remembers what that takes: when AMI was blind, which calls ended unknown, which calls AMI
saw to their end (queue_log must not overwrite those), and how far the file was read. queue_log
names a call by the channel that waited in the queue: for a caller routed through a Local channel
that is a Local half, so each new callid is looked up once among the menu sessions, and its lines
are kept under the call's Linkedid (a Local half is never a call). The same lookup finds the menu
session a call filled from queue_log takes its topic, menu result and age group from (the menu
runs over FastAGI whatever AMI does): a call rebuilt from queue_log alone, and a call AMI saw start
but lost before its menu ended, whose IVR_* VarSets went by while AMI was blind. The parsing and the
rules are pure (``queue_log.py``, ``outcome.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import replace

from ..menu.record import MenuRecord
from ..store import Store, queries
from .errors import QueueLogError
from .model import CallRecord
from .outcome import summarize
from .queue_log import (QueueLogCall, QueueLogEntry, callid_calls, fill_record, parse_line, queue_log_calls,
                        lacks_menu, record_from_queue_log, take_menu)
from .tracker import CallTracker

log = logging.getLogger("asterisk_bridge.calls")


class QueueLogBackfill:
    """Fills calls from ``path`` (Asterisk's queue_log; None: nothing to read, the bookkeeping of
    outages and ends is kept anyway). ``queue_lines``: queue -> line, from the configuration: a
    call known only from queue_log gets the line of the first queue it joined."""

    def __init__(self, path: str | None, store: Store, tracker: CallTracker, node: str,
                 queue_lines: Mapping[str, str] | None = None):
        self.path = path
        self.store = store
        self.tracker = tracker
        self.node = node
        self.queue_lines = dict(queue_lines or {})
        self.since: float | None = None  # ignore queue_log lines older than this
        self.unknown_end: dict[str, CallRecord] = {}  # calls closed without an end: queue_log may fill them
        self.seen_end: dict[str, float] = {}  # linkedid -> end time, calls AMI saw to their end
        self._offset = 0
        self._entries: dict[str, list[QueueLogEntry]] = {}
        self._outages: list[list[float | None]] = []  # [down_from, back_at or None]
        self._legs_from_queue_log: set[str] = set()
        self._linkedids: dict[str, str] = {}  # queue_log callid -> its call's Linkedid, looked up once
        self._menus: dict[str, MenuRecord | None] = {}  # Linkedid -> its menu session (None: none ran)

    def blind_since(self, since: float) -> None:
        """The bridge starts: read queue_log from ``since`` on; AMI is blind until the first login."""
        self.since = since
        self._outages.append([since, None])

    def link_lost(self, now: float) -> None:
        self._outages.append([now, None])

    def link_back(self, now: float) -> bool:
        """AMI logged in; True when it was known to be down until now."""
        if self._outages and self._outages[-1][1] is None:
            self._outages[-1][1] = now
            return True
        return False

    def call_ended(self, record: CallRecord) -> None:
        """Note how AMI saw a call end. A call closed as ``unknown_end``, or adopted after an outage
        (it began while AMI was blind) and ended with no queue leg, waits for queue_log to tell its
        queue part: an adopted call's queue events went by during the outage, and the one that
        could still come, ``AgentComplete``, may carry neither the caller's nor the operator's
        channel once both are gone (seen on Asterisk 22.10.1), so nothing names the call."""
        end = record.ended_at if record.ended_at is not None else record.last_event_at
        if record.outcome == "unknown_end" or (not record.legs and self._blind_at(record.started_at)):
            self.unknown_end[record.linkedid] = record
        else:
            self.seen_end[record.linkedid] = end
            self.unknown_end.pop(record.linkedid, None)

    def forget(self, horizon: float) -> None:
        """Forget calls that ended before ``horizon`` (queue_log can no longer change them)."""
        for linkedid in [k for k, t in self.seen_end.items() if t < horizon]:
            del self.seen_end[linkedid]
        for linkedid in [k for k, r in self.unknown_end.items() if (r.ended_at or 0.0) < horizon]:
            del self.unknown_end[linkedid]
        self._forget_menus()

    def _forget_menus(self) -> None:
        """Keep the menu sessions of the calls queue_log or an ``unknown_end`` may still fill."""
        self._menus = {lid: menu for lid, menu in self._menus.items() if lid in self._entries or lid in self.unknown_end}

    async def read(self) -> None:
        """Read the lines appended since the last read and fill the calls they tell of; then give
        the calls closed as ``unknown_end`` that queue_log says nothing of (none configured, or the
        call never queued) what their menu session decided (``_fill_menus``)."""
        if self.path:
            await self._read_file(self.path)
        await self._fill_menus()

    async def _read_file(self, path: str) -> None:
        try:
            entries, self._offset = await asyncio.to_thread(_read_new_lines, path, self._offset)
        except OSError as exc:
            log.warning("cannot read queue_log %s: %s", path, exc)
            return
        since = self.since or 0.0
        fresh = [e for e in entries if e.time >= since and e.callid not in ("", "NONE", "MANAGER")]
        await self._look_up_calls({e.callid for e in fresh})
        touched: set[str] = set()
        for entry in fresh:  # kept by call: a Local half's lines under the call's Linkedid
            linkedid = self._linkedids.get(entry.callid, entry.callid)
            if linkedid != entry.callid:
                entry = replace(entry, callid=linkedid)
            self._entries.setdefault(linkedid, []).append(entry)
            touched.add(linkedid)
        # calls closed as unknown_end since the lines were read get them now
        touched.update(c for c in self.unknown_end if c in self._entries)
        if touched:
            await self._fill_calls(touched)
        if entries:
            newest = max(e.time for e in entries)
            keep_after = newest - self.tracker.unknown_end_after
            old = [c for c, es in self._entries.items() if es[-1].time < keep_after]
            for linkedid in old:
                del self._entries[linkedid]
            if old:
                self._linkedids = {c: lid for c, lid in self._linkedids.items() if lid in self._entries}
                self._forget_menus()

    async def _fill_menus(self) -> None:
        """A call closed as ``unknown_end`` whose ``IVR_*`` VarSets went by while AMI was blind
        takes what its record lacks from its menu session (``queue_log.take_menu``), at the read
        that follows its close (the follower reads after every reconcile and expiry), whether or
        not queue_log fills its queue part; the same batched lookup as ``_look_up_menus``."""
        pending = [lid for lid, record in self.unknown_end.items() if lid not in self._menus and lacks_menu(record)]
        await self._look_up_menus(pending)
        for linkedid in pending:
            record = self.unknown_end[linkedid]
            if take_menu(record, self._menus.get(linkedid)):
                summarize(record)
                log.info("call %s missed by AMI takes its menu's outcome from its menu session: topic %s",
                         linkedid, record.ivr_topic or "-")
                self.store.submit_call(record, node=self.node)

    async def _look_up_calls(self, callids: set[str]) -> None:
        """Find the call of each callid not met before, and the menu session a call rebuilt from
        queue_log takes (``queue_log.callid_calls``): one indexed lookup of the menu sessions per
        new callid. A callid that is a call AMI follows or saw end is that call's Linkedid already
        and needs none; the menu session of a call is written before its channel leaves the menu
        for a queue, so the store is flushed first."""
        new = [c for c in callids if c not in self._linkedids and c not in self._entries
               and c not in self.seen_end and c not in self.unknown_end and not self.tracker.knows(c)]
        if not new:
            return
        for callid, (linkedid, menu) in (await self._callid_calls(new)).items():
            self._linkedids[callid] = linkedid
            if menu is not None or linkedid not in self._menus:
                self._menus[linkedid] = menu

    async def _look_up_menus(self, linkedids: list[str]) -> None:
        """The menu session of each call to fill that was not looked up with its callid
        (``_look_up_calls`` skips the calls AMI saw): one statement for them all, the same rule."""
        if not linkedids:
            return
        for linkedid, (_, menu) in (await self._callid_calls(linkedids)).items():
            self._menus[linkedid] = menu

    async def _callid_calls(self, callids: list[str]) -> dict[str, tuple[str, MenuRecord | None]]:
        """``queue_log.callid_calls`` over the stored menu sessions, flushed first (one statement
        per 300 callids, ``queries.queue_log_menu_sessions``)."""
        await self.store.flush()
        sessions = await asyncio.to_thread(queries.queue_log_menu_sessions, self.store.path, callids)
        return callid_calls(callids, sessions)

    async def _fill_calls(self, callids: set[str]) -> None:
        active = {r.linkedid for r in self.tracker.active()}
        calls = queue_log_calls(e for c in callids for e in self._entries[c])
        unknown: list[str] = []
        short = self.tracker.short_abandon
        await self._look_up_menus([c for c in calls if c not in active and c not in self.seen_end
                                   and c not in self._menus and lacks_menu(self.unknown_end.get(c))])
        for callid, call in calls.items():
            if callid in active or callid in self.seen_end:
                continue  # AMI tells (or told) us about this call itself
            record = self.unknown_end.get(callid)
            if record is None:
                unknown.append(callid)
                continue
            if self._fill(record, call):
                log.info("queue_log filled call %s missed by AMI: %s", callid, record.outcome)
                self.store.submit_call(record, node=self.node)
        if not unknown:
            return
        await self.store.flush()
        stored = await asyncio.to_thread(queries.call_states, self.store.path, unknown)
        for callid in unknown:
            call = calls[callid]
            state = stored.get(callid)
            if state is not None:
                if state["complete"] or state["outcome"] not in (None, "unknown_end"):
                    continue
                record = await asyncio.to_thread(queries.call_record, self.store.path, callid)
                if record is None:
                    continue
                self.unknown_end[callid] = record
                if self._fill(record, call):
                    log.info("queue_log filled stored call %s: %s", callid, record.outcome)
                    self.store.submit_call(record, node=self.node)
                continue
            if call.first_at is None or not self._blind_at(call.first_at):
                continue  # AMI was up: not a contact-center call we follow
            line = self.queue_lines.get(call.legs[0].queue) if call.legs else None
            record = record_from_queue_log(call, line=line, menu=self._menus.get(callid), short_abandon=short)
            self.unknown_end.pop(callid, None)
            log.info("call %s known only from queue_log (AMI was down): %s", callid, record.outcome)
            self.store.submit_call(record, node=self.node)
            if record.outcome is not None:
                self.seen_end[callid] = record.ended_at or call.last_at or 0.0

    def _fill(self, record: CallRecord, call: QueueLogCall) -> bool:
        """Fill an unknown_end record from queue_log and its menu session. AMI's legs win when they
        saw how the leg ended; legs cut off by the outage (or filled before) are replaced by
        queue_log's; the menu gives only what AMI did not (``queue_log.take_menu``)."""
        if record.linkedid in self._legs_from_queue_log or all(
                leg.left_reason in (None, "ended") and leg.answered_at is None for leg in record.legs):
            if call.legs:
                record.legs = []
                self._legs_from_queue_log.add(record.linkedid)
            if record.outcome is not None and record.outcome != "unknown_end":
                record.outcome = "unknown_end"  # re-derive from the fuller queue_log
        changed = fill_record(record, call, menu=self._menus.get(record.linkedid),
                              short_abandon=self.tracker.short_abandon)
        if call.finished and call.last_at is not None and (record.ended_at or 0.0) < call.last_at:
            record.ended_at = call.last_at
            changed = True
        return changed

    def _blind_at(self, when: float) -> bool:
        """Was AMI down (or the bridge not yet connected) at ``when``?"""
        return any(start is not None and start <= when and (end is None or when <= end)
                   for start, end in self._outages)


def _read_new_lines(path: str, offset: int) -> tuple[list[QueueLogEntry], int]:
    """Whole lines appended since ``offset``; a partial last line waits for the next read.
    A file shorter than the offset was rotated: start again from its beginning."""
    size = os.path.getsize(path)
    if size < offset:
        offset = 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    entries = []
    for raw in data[:end].decode("utf-8", errors="replace").splitlines():
        if not raw.strip():
            continue
        try:
            entries.append(parse_line(raw))
        except QueueLogError as exc:
            log.debug("queue_log: %s", exc)
    return entries, offset + end
