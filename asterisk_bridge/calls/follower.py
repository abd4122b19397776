"""The AMI edge: follow every call to its end and keep its record in the store.

Why this module exists: the tracker is pure logic and the store only writes what it is given;
something has to own the AMI connection, feed the tracker, persist its updates and make sure no
call is silently lost when the link (or the bridge) goes down. That is ``CallFollower``:

- every AMI event goes to ``CallTracker.feed`` with its receipt time; the tracker's updates are
  written through ``Store.submit_call`` (never blocking the event loop);
- after every (re)connect it asks Asterisk what is still up (``CoreShowChannels``,
  ``QueueStatus``) and reconciles: calls that ended while we were blind close as ``unknown_end``
  (complete=0), calls that began meanwhile are adopted. An Asterisk too busy to answer those lists
  in time is asked again with backoff until one reconcile succeeds (``reconcile_pending`` until
  then), not left until the next reconnect;
- on start it reloads the calls that were in progress when the bridge stopped and treats them
  the same way;
- when Asterisk's ``queue_log`` path is configured it tails that file to fill the queue outcome
  of calls missed while AMI was down (Asterisk writes it whatever happens to our link;
  ``backfill.py``);
- operator input (``UserEvent(ContactCenter,Linkedid: ...,AgeGroup: ...,Resolution: ...)``)
  reaches the stored call even after the call ended, and is kept until an unknown call shows up;
- the same events go to the operators' side (``operators.py``: the member tracker, its sessions
  and pauses to the store, live states to the MQTT gauges); the ``QueueStatus`` of every
  reconcile is its snapshot, and what was open when the bridge stopped is reloaded at start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..ami.client import AMIClient
from ..ami.errors import AMIError
from ..config import Config
from ..privacy import mask_number
from ..store import Store, StoreError, queries
from ..utc import parse_utc_iso
from .backfill import QueueLogBackfill
from .operators import OperatorFollower
from .model import CallRecord, CallUpdate, OperatorInput
from .tracker import CallTracker

if TYPE_CHECKING:
    from ..mqtt import CallEvents, Gauges

log = logging.getLogger("asterisk_bridge.calls")  # the one INFO line per call; admins filter on this name

#: how long an operator input for an unknown call is remembered in memory (it stays in the store)
ORPHAN_MEMORY = 3600.0


class CallFollower:
    """Owns the AMI client and the call tracker; see the module docstring.

    ``clock`` is the bridge's idea of now (epoch seconds): it drives ``expire`` and decides
    when AMI was down (for queue_log). Event times come from Asterisk's ``Timestamp`` header,
    else from the moment the client received the event.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        expire_interval: float = 30.0,
        reconnect_min: float = 1.0,
        events: CallEvents | None = None,
        gauges: Gauges | None = None,
    ):
        if expire_interval <= 0:
            raise ValueError(f"CallFollower: expire_interval must be > 0, got {expire_interval!r}")
        settings = config.ami
        self.config = config
        self.store = store
        self.events = events
        self.gauges = gauges
        self.clock = clock
        self.expire_interval = expire_interval
        self.node = config.node
        self.tracker = CallTracker(short_abandon=settings.short_abandon,
                                   unknown_end_after=settings.unknown_end_after)
        self.client = AMIClient(
            settings.host, settings.port, settings.username, settings.secret or "",
            ping_interval=settings.ping_interval, action_timeout=settings.action_timeout,
            reconnect_max=settings.reconnect_max, reconnect_min=reconnect_min,
        )
        self.operators = OperatorFollower(store, self.node, gauges)
        self.client.on_event(self._on_event)
        # events neither tracker reads stay unparsed, except while a reconcile waits: then every
        # event's Linkedid tells which calls were up (_touched)
        self.client.event_filter = lambda name: (self.reconcile_pending_since is not None or self.tracker.wants(name)
                                                 or self.operators.tracker.wants(name))
        self.client.on_connection(self._on_connection)
        self.queue_log = QueueLogBackfill(settings.queue_log, store, self.tracker, self.node,
                                          queue_lines=config.queue_lines())
        self._orphans: dict[str, OperatorInput] = {}
        self._touched: set[str] = set()  # linkedids with events since the login, until its reconcile
        self._ever_connected = False
        self._silent_since: tuple[float, float] | None = None  # (last message received, loss noticed)
        self.reconcile_pending_since: float | None = None  # logged in, calls not reconciled since
        self.reconcile_error: str | None = None  # why the last reconcile failed
        self._reconciling: asyncio.Task | None = None
        self._reconcile_min = reconnect_min
        self._reconcile_max = max(settings.reconnect_max, reconnect_min)
        self._tasks: set[asyncio.Task] = set()
        self._ticker: asyncio.Task | None = None
        self._started = False
        self._stopping = False

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def connected_since(self) -> float | None:
        return self.client.connected_since

    @property
    def reconcile_pending(self) -> bool:
        """Logged in to AMI, but no reconcile has succeeded since: calls that ended while the link
        was down may still show as in progress."""
        return self.reconcile_pending_since is not None

    @property
    def active_calls(self) -> list[CallRecord]:
        """Snapshots of the contact-center calls in progress."""
        return self.tracker.active()

    async def start(self) -> None:
        """Reload unfinished calls, then connect (returns at once; AMI may come up later)."""
        if self._started:
            raise RuntimeError("CallFollower.start() called twice")
        self._started = True
        restored = await self._restore_open_calls()
        await self.operators.restore(self.clock)
        now = self.clock()
        if self.queue_log.path:
            latest = await asyncio.to_thread(queries.latest_call_start, self.store.path)
            since = parse_utc_iso(latest) if latest else now
            self.queue_log.blind_since(min([since, *(r.started_at for r in restored)]))
        await self.client.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="call-follower tick")
        log.info("following calls over AMI at %s:%s (%d call(s) reloaded)",
                 self.client.host, self.client.port, len(restored))

    async def stop(self) -> None:
        """Disconnect and stop the timers. Calls in progress stay open in the store and are
        reconciled on the next start; what queue_log wrote since its last read (up to a tick ago)
        is read once more, so the calls it fills are not left to the next start."""
        self._stopping = True
        started = self._ticker is not None
        if self._ticker is not None:
            self._ticker.cancel()
        tasks = [t for t in (self._ticker, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._ticker = None
        await self.client.close()
        if started:
            try:
                await self.queue_log.read()
            except StoreError as exc:  # the store closed first: nothing can be filled now
                log.warning("queue_log not read at stop: %s", exc)

    async def __aenter__(self) -> CallFollower:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def _restore_open_calls(self) -> list[CallRecord]:
        records = await asyncio.to_thread(queries.open_call_records, self.store.path)
        restored = []
        for record in records:
            if self.tracker.restore(record):
                restored.append(record)
        if restored:
            log.info("reloaded %d call(s) that were in progress when the bridge stopped: %s",
                     len(restored), ", ".join(r.linkedid for r in restored))
        return restored

    # -- events -------------------------------------------------------------------------------

    def _on_event(self, message: Mapping[str, str]) -> None:
        received_at = getattr(message, "received_at", None) or self.clock()
        linkedid = message.get("Linkedid")
        if linkedid and self.reconcile_pending_since is not None:
            self._touched.add(linkedid)  # only until the reconcile: kept for good it grew with every call
        self._persist(self.tracker.feed(message, received_at))
        self.operators.feed(message, received_at)

    def _persist(self, updates: list[CallUpdate]) -> None:
        for update in updates:
            try:
                if update.kind == "orphan_input":
                    self._keep_orphan(update.orphan)
                elif update.record is not None:
                    if self.gauges is not None:
                        self.gauges.call_update(update)
                    events = self.events.call_events(update) if self.events is not None else None
                    self._write(update.record, finished=update.kind == "finished", events=events)
            except Exception:
                log.exception("could not hand call update %s to the store", update.kind)

    def _write(self, record: CallRecord, *, finished: bool, events=None) -> None:
        orphan = self._orphans.pop(record.linkedid, None)
        if orphan is not None:
            # the operator spoke before we knew the call: the tracker must carry it from now on
            later = self.tracker.operator_input(orphan.linkedid, orphan.age_group, orphan.resolution, at=orphan.at)
            for update in later:
                if update.record is not None:
                    record = update.record
        self.store.submit_call(record, node=self.node, events=events)
        if finished:
            self._ended(record)

    def _ended(self, record: CallRecord) -> None:
        self.queue_log.call_ended(record)
        wait = f"{record.queued_seconds:.0f} s" if record.queued_seconds is not None else "-"
        log.info(
            "call %s line %s topic %s: %s, waited %s, operator %s, caller %s",
            record.linkedid, record.line or "-", record.ivr_topic or "-", record.outcome, wait,
            record.operator or "-", mask_number(record.caller_number) or "-",
        )

    def _keep_orphan(self, orphan: OperatorInput | None) -> None:
        if orphan is None:
            return
        self.store.submit_operator_input(orphan.linkedid, orphan.at, orphan.age_group, orphan.resolution)
        self._orphans[orphan.linkedid] = orphan
        log.info("operator input for call %s not followed now: kept for the stored call", orphan.linkedid)

    # -- connection ---------------------------------------------------------------------------

    def _on_connection(self, connected: bool) -> None:
        now = self.clock()
        if connected:
            if self.queue_log.link_back(now) and self._ever_connected and self._silent_since is not None:
                silent, noticed = self._silent_since
                log.warning("AMI connection back after %.1f s without data from Asterisk (the loss was noticed "
                            "after %.1f s); reconciling calls", time.time() - silent, noticed - silent)
            self._ever_connected = True
            if self.reconcile_pending_since is None:
                self.reconcile_pending_since = now
            if self._reconciling is not None:
                self._reconciling.cancel()  # a new login: start over with fresh lists
            self._reconciling = self._spawn(self._reconcile_until_done(), "call-follower reconcile")
        elif not self._stopping:
            self._touched = set()  # from here on, an event proves its call was up after the loss
            # The gap in the data starts at the last message Asterisk sent (an event or a Pong),
            # not when the loss was noticed: a hung Asterisk is found only by an unanswered Ping,
            # ping_interval + action_timeout later (wall-clock times, as the client stamps them).
            noticed = time.time()
            self._silent_since = (self.client.last_received or noticed, noticed)
            self.queue_log.link_lost(now)
            self.operators.link_lost(now)
            log.warning("AMI connection lost: %d call(s) in progress will be reconciled on reconnect",
                        len(self.tracker.active()))

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _reconcile_until_done(self) -> None:
        """Reconcile after a login; when Asterisk does not answer the lists in time, try again with
        backoff (``reconnect_min`` doubling to ``ami.reconnect_max``) while the link stays up. A
        lost link stops the retries: the next login starts a fresh reconcile."""
        failures = 0
        while True:
            try:
                await self._reconcile()
            except AMIError as exc:
                self.reconcile_error = str(exc)
                if not self.client.connected:
                    return
                delay = min(self._reconcile_max, self._reconcile_min * 2 ** min(failures, 30))
                failures += 1
                log.warning("could not reconcile calls after connecting to AMI (retrying in %.1f s): %s",
                            delay, exc)
                await asyncio.sleep(delay)
                continue
            if failures:
                log.info("calls reconciled after %d failed attempt(s)", failures)
            self.reconcile_pending_since = self.reconcile_error = None
            self._touched = set()
            # the calls it closed are reconciled: queue_log and their menu sessions then fill them
            await self.queue_log.read()
            return

    async def _reconcile(self) -> None:
        """Ask Asterisk what is up and close / adopt calls accordingly (raises ``AMIError`` when
        Asterisk does not answer)."""
        channels = await self.client.action({"Action": "CoreShowChannels"})
        queues = await self.client.action({"Action": "QueueStatus"})
        live: list[Mapping[str, str]] = [m for m in _items(channels) if m.get("Event") == "CoreShowChannel"]
        # calls with events since login were up then, even if the list missed them
        live.extend({"Uniqueid": lid, "Linkedid": lid} for lid in self._touched)
        before = {r.linkedid for r in self.tracker.active()}
        now = self.clock()
        for record in self.tracker.reconcile(live, now=now):
            self._persist([CallUpdate("finished", record)])
        adopted = {r.linkedid for r in self.tracker.active()} - before
        for entry in _items(queues):
            uid = entry.get("Uniqueid")
            if entry.get("Event") != "QueueEntry" or uid not in adopted:
                continue
            # a caller waiting in a queue since before we looked: its leg starts Wait s ago
            wait = _number(entry.get("Wait")) or 0.0
            join = {"Event": "QueueCallerJoin", "Linkedid": uid, "Uniqueid": uid,
                    "Queue": entry.get("Queue") or "", "Position": entry.get("Position") or ""}
            self._persist(self.tracker.feed(join, now - wait))
        log.debug("reconciled with %d live channel(s): %d call(s) adopted", len(live), len(adopted))
        members = [m for m in _items(queues) if m.get("Event") == "QueueMember"]
        self.operators.reconcile(members, self.clock(), talking=self._talking())

    def _talking(self) -> dict[str, set[str]]:
        """interface -> the member channels of the calls each operator is answering now ("" when unknown)."""
        talking: dict[str, set[str]] = {}
        for record in self.tracker.active():
            for leg in record.legs:
                if leg.answered_at is None or leg.completed_at is not None or not leg.answered_interface:
                    continue
                channel = next((a.channel for a in leg.attempts if a.result == "answered"), "")
                talking.setdefault(leg.answered_interface, set()).add(channel)
        return talking

    # -- timers -------------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.expire_interval)
            try:
                await self.tick()
            except Exception:
                log.exception("periodic call check failed")

    async def tick(self) -> None:
        """Close calls whose end was missed, forget old state, read new queue_log lines."""
        now = self.clock()
        for record in self.tracker.expire(now):
            self._persist([CallUpdate("finished", record)])
        self.queue_log.forget(now - max(self.tracker.unknown_end_after, self.tracker.late_grace))
        for linkedid in [k for k, o in self._orphans.items() if o.at < now - ORPHAN_MEMORY]:
            del self._orphans[linkedid]
        await self.queue_log.read()


def _items(result: Any) -> list[Mapping[str, str]]:
    return list(result[1:]) if isinstance(result, list) else []


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
