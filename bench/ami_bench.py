#!/usr/bin/env python3
"""AMI benchmark: events per second through parse -> track -> store on one core, next to
panoramisk's bare parsing of the same bytes in the same run.

The stream: ``--calls`` contact-center calls built by the package's simulator
(``pbxsim.ami_calls.call_events``: the event sequences and keys of the real captures, Local
channels, queue members, CEL/Cdr and all), started 0.5 s apart so hundreds overlap, merged in
time order, framed like Asterisk with ``timestampevents = yes`` (``Timestamp`` after
``Privilege``) behind the ``Asterisk Call Manager/11.0.0`` banner, and fed in 64 KiB chunks.
Caller names are Cyrillic, so the UTF-8 handling is exercised.

Variants (interleaved, order rotated per repetition, medians printed). The rate is events in
the stream / CPU seconds of this process (all threads, so the store's writer thread counts):
  panoramisk AMIProtocol      panoramisk 1.4 ``data_received`` (encoding utf8) with a counting
                              dummy factory: the baseline (1.00)
  FrameParser                 ami/frames.py alone
  client protocol             ami/protocol.py's ClientProtocol alone (what AMIClient runs)
  FrameParser + tracker       ... -> CallTracker.feed and MemberTracker.feed (the operators)
  FrameParser + tracker + Store   ... -> Store.submit_call for every update (and the operators'
                              sessions and pauses), then flush
  client + tracker + Store    the production chain: AMIClient's protocol -> trackers -> store,
                              as CallFollower wires it (events neither tracker reads are left
                              unparsed: AMIClient.event_filter; the store keeps its rollups, as in
                              ``run``)
  client + tracker + Store, no rollups   the same with the rollup triggers dropped: the writer
                              before the rollups, so the difference is what keeping them costs
Correctness is checked on every tracked run: one finished record per call, one ``calls`` row
per call. Run ``python bench/ami_bench.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from panoramisk.ami_protocol import AMIProtocol  # noqa: E402

from asterisk_bridge.ami.protocol import ClientProtocol  # noqa: E402
from asterisk_bridge.ami.frames import FrameParser  # noqa: E402
from asterisk_bridge.calls.members import MemberTracker  # noqa: E402
from asterisk_bridge.calls.tracker import CallTracker  # noqa: E402
from asterisk_bridge.pbxsim.ami_calls import CallScenario, Ids, Operator, call_events  # noqa: E402
from asterisk_bridge.pbxsim.ami_server import encode_message  # noqa: E402
from asterisk_bridge.store import Store  # noqa: E402
from rollup_setup import keep_rollups, without_rollups  # noqa: E402

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CHUNK = 65536
TARGET = 50000  # events/s through client -> tracker -> store (issue 15; issue 3 asked for 20,000)

O = Operator
SCENARIOS = [
    CallScenario("topic2", keys=("2",), queue="housing", topic="2", no_answer=(O("2001", "Оператор 2001"),),
                 operator=O("1002", "Оператор 1002"), hangup_by="caller", talk=11),
    CallScenario("invalid-then-valid", line="117", keys=("9", "1"), queue="gov", topic="1",
                 operator=O("1001", "Оператор 1001")),
    CallScenario("timeout", menu="timeout", operator=O("1000", "Оператор 1000")),
    CallScenario("hangup-in-menu", menu="hangup"),
    CallScenario("abandon", keys=("3",), queue="social", topic="3", no_answer=(O("2002", "Оператор 2002"),),
                 abandon_after=9),
    CallScenario("topic4", keys=("4",), queue="health", topic="4", operator=O("1004", "Оператор 1004"), talk=60),
    CallScenario("wait30", menu="bridge-down", operator=O("1000", "Оператор 1000")),
]


def build_stream(calls: int, gap: float = 0.5) -> tuple[bytes, int]:
    """(bytes of the AMI stream, number of events) for ``calls`` overlapping calls."""
    ids = Ids()
    start = 1795699537.0
    events: list[tuple[float, int, list[tuple[str, str]]]] = []
    n = 0
    for i in range(calls):
        for t, headers in call_events(SCENARIOS[i % len(SCENARIOS)], start + i * gap, ids):
            events.append((t, n, headers))
            n += 1
    events.sort(key=lambda e: (e[0], e[1]))
    out = bytearray(BANNER)
    for t, _, headers in events:
        for i, (key, _) in enumerate(headers):
            if key == "Privilege":
                headers = headers[: i + 1] + [("Timestamp", f"{t:.6f}")] + headers[i + 1:]
                break
        out += encode_message(headers)
    return bytes(out), len(events)


def _chunks(data: bytes):
    for i in range(0, len(data), CHUNK):
        yield data[i:i + CHUNK]


class _Transport:
    def get_extra_info(self, name, default=None):
        return default

    def write(self, data):
        pass

    def close(self):
        pass

    def abort(self):
        pass


class _Counter:
    def __init__(self, sink=None, event_filter=None):
        self.events = 0
        self.sink = sink
        self.client = self  # ClientProtocol dispatches to factory.client._dispatch
        self.event_filter = event_filter  # AMIClient.event_filter: CallFollower sets the tracker's
        self.last_received = None

    def dispatch(self, message):  # panoramisk AMIProtocol
        self.events += 1

    def _dispatch(self, message):  # ClientProtocol
        self.events += 1
        if self.sink is not None:
            self.sink(message)


def run_panoramisk(data: bytes) -> int:
    proto = AMIProtocol()
    proto.connection_made(_Transport())
    proto.encoding = "utf8"
    counter = _Counter()
    proto.factory = counter
    for chunk in _chunks(data):
        proto.data_received(chunk)
    return counter.events


def run_frames(data: bytes) -> int:
    parser = FrameParser()
    n = 0
    for chunk in _chunks(data):
        n += len(parser.feed(chunk))
    return n


def run_client(data: bytes, sink=None) -> int:
    proto = ClientProtocol()
    proto.connection_made(_Transport())
    counter = _Counter(sink)
    proto.factory = counter
    for chunk in _chunks(data):
        proto.data_received(chunk)
    return counter.events


class _Tracked:
    """Both trackers' feed for every event; updates to the store when there is one (as CallFollower
    and its OperatorFollower do)."""

    def __init__(self, store: Store | None):
        self.tracker = CallTracker()
        self.members = MemberTracker()
        self.store = store
        self.finished = 0
        self.updates = 0

    def __call__(self, message) -> None:
        received_at = getattr(message, "received_at", None) or 0.0
        for update in self.tracker.feed(message, received_at):
            self.updates += 1
            if update.kind == "finished":
                self.finished += 1
            if self.store is not None and update.record is not None:
                self.store.submit_call(update.record, node="pbx1")
        for member in self.members.feed(message, received_at):
            if self.store is None:
                continue
            if member.session is not None:
                self.store.submit_operator_session(member.session, node="pbx1")
            elif member.pause is not None:
                self.store.submit_operator_pause(member.pause, node="pbx1")


def run_frames_tracker(data: bytes) -> tuple[int, _Tracked]:
    parser = FrameParser()
    tracked = _Tracked(None)
    n = 0
    for chunk in _chunks(data):
        for frame in parser.feed(chunk):
            n += 1
            tracked(frame)
    return n, tracked


def _with_store(data: bytes, path: str, use_client: bool, rollups: bool = True) -> tuple[int, _Tracked, int]:
    async def go() -> tuple[int, _Tracked, int]:
        store = Store(path, node="pbx1")
        await store.open()
        await (keep_rollups(store) if rollups else without_rollups(store))
        tracked = _Tracked(store)
        n = 0
        loop_turn = 0
        try:
            c0 = time.process_time()
            if use_client:
                proto = ClientProtocol()
                proto.connection_made(_Transport())
                counter = _Counter(tracked, lambda name: tracked.tracker.wants(name) or tracked.members.wants(name))
                proto.factory = counter
                for chunk in _chunks(data):
                    proto.data_received(chunk)
                    await asyncio.sleep(0)  # one loop turn per read, as from a socket
                n = counter.events
            else:
                parser = FrameParser()
                for chunk in _chunks(data):
                    for frame in parser.feed(chunk):
                        n += 1
                        tracked(frame)
                    await asyncio.sleep(0)
                    loop_turn += 1
            await store.flush(600)
            cpu = time.process_time() - c0
        finally:
            await store.close()
        return n, tracked, cpu

    n, tracked, cpu = asyncio.run(go())
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    tracked.cpu = cpu
    return n, tracked, rows


VARIANTS = [
    "panoramisk AMIProtocol", "FrameParser", "client protocol", "FrameParser + tracker",
    "FrameParser + tracker + Store", "client + tracker + Store", "client + tracker + Store, no rollups",
]


def bench(calls: int, reps: int, verbose: bool = True) -> tuple[list[dict], dict]:
    logging.disable(logging.INFO)  # the tracker logs one INFO line per finished call; not what we measure
    data, events = build_stream(calls)
    # the production chain parses only the events the trackers read (AMIClient.event_filter)
    tracker = CallTracker()
    wanted = sum(1 for f in FrameParser().feed(data)
                 if tracker.wants(f["Event"].encode()) or MemberTracker.wants(f["Event"].encode()))
    info = {"calls": calls, "events": events, "mb": len(data) / 1e6}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    errors: dict[str, int] = {v: 0 for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="ami-bench-") as tmp:
        for rep in range(reps):
            order = VARIANTS[rep % len(VARIANTS):] + VARIANTS[:rep % len(VARIANTS)]
            for name in order:
                tracked = None
                rows = None
                if "Store" in name:
                    path = os.path.join(tmp, f"{rep}-{len(cpu[name])}.db")
                    n, tracked, rows = _with_store(data, path, use_client=name.startswith("client"),
                                                   rollups=not name.endswith("no rollups"))
                    seconds = tracked.cpu
                    for suffix in ("", "-wal", "-shm"):
                        Path(path + suffix).unlink(missing_ok=True)
                else:
                    c0 = time.process_time()
                    if name == "panoramisk AMIProtocol":
                        n = run_panoramisk(data)
                    elif name == "FrameParser":
                        n = run_frames(data)
                    elif name == "client protocol":
                        n = run_client(data)
                    else:
                        n, tracked = run_frames_tracker(data)
                    seconds = time.process_time() - c0
                expected = wanted if name.startswith("client + tracker + Store") else events
                if n != expected:
                    errors[name] += 1
                    print(f"  {name}: {n} events parsed, expected {expected}", file=sys.stderr)
                if tracked is not None and tracked.finished != calls:
                    errors[name] += 1
                    print(f"  {name}: {tracked.finished} calls finished, expected {calls}", file=sys.stderr)
                if rows is not None and rows != calls:
                    errors[name] += 1
                    print(f"  {name}: {rows} call rows stored, expected {calls}", file=sys.stderr)
                cpu[name].append(seconds)
                if verbose:
                    print(f"  rep {rep + 1} {name:<30} {events / seconds:10,.0f} events/s", file=sys.stderr)
    base = statistics.median(events / s for s in cpu[VARIANTS[0]])
    rows_out = []
    for name in VARIANTS:
        rate = statistics.median(events / s for s in cpu[name])
        rows_out.append({"variant": name, "events_per_s": rate, "us_per_event": 1e6 / rate, "ratio": rate / base,
                         "mb_per_s": info["mb"] * rate / events, "errors": errors[name],
                         "target": rate >= TARGET if "tracker" in name else None})
    return rows_out, info


def format_table(rows: list[dict]) -> str:
    out = ["| variant | events/s | us/event | MB/s | ratio vs panoramisk parse | >= 50k events/s | errors |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        target = "" if r["target"] is None else ("yes" if r["target"] else "NO")
        out.append(f"| {r['variant']} | {r['events_per_s']:,.0f} | {r['us_per_event']:.1f} | {r['mb_per_s']:.1f} "
                   f"| {r['ratio']:.2f} | {target} | {r['errors']} |")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--calls", "-n", type=int, default=2000, help="simulated calls in the stream")
    p.add_argument("--reps", "-r", type=int, default=3, help="repetitions (variants interleaved, order rotated)")
    args = p.parse_args(argv)
    rows, info = bench(args.calls, args.reps)
    print(f"\nAMI: {info['calls']:,} calls, {info['events']:,} events, {info['mb']:.1f} MB, 64 KiB chunks, "
          f"{args.reps} reps (medians), rate = events / CPU s of this process (all threads)")
    print(format_table(rows))


if __name__ == "__main__":
    main()
