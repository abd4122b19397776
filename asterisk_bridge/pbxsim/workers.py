"""``simulate --workers N``: the calls of one simulation played by N processes, one AMI server.

Why: one process saturates a core well below the rates a bridge can take (a call is ten FastAGI
commands and about two hundred AMI events to build, track and encode), so a machine could not
offer the bridge enough calls to find its limit. The work that grows with the calls is shared
out; what the bridge must see as one PBX stays one:

- every worker plays the same plan (the traffic model is deterministic for a seed) and takes the
  calls whose number is its own modulo N (``drive_calls``' ``share``), so Linkedids, Uniqueids
  and channel names never clash; each has its own queue model with operators numbered apart
  (``simulate.WORKER_EXTENS``), so no operator takes two calls at once;
- a worker runs its calls' menus over FastAGI itself, builds their AMI events and keeps the
  channel and queue lists of its calls (as ``AMIServer.emit`` does), then sends the events,
  stamped and encoded, to the parent over a loopback socket;
- the parent owns the one AMI server the bridge logs in to: it writes the workers' bytes to the
  bridge as they come (a message never split) and answers ``CoreShowChannels`` and ``QueueStatus``
  from the lists of every worker, asked for at that moment;
- all start at one wall-clock moment; at the end each sends its tally, and the parent adds them up.

Frames on the socket: one kind byte, four length bytes (big-endian), the payload. Worker to
parent: ``H`` hello (its number), ``E`` events (bytes for the bridge), ``L`` its lists (pickle),
``T`` its tally (pickle), ``X`` what went wrong (text). Parent to worker: ``G`` go (the start,
epoch seconds, as text), ``L`` send your lists.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import time
import traceback
from collections.abc import Collection
from pathlib import Path

from ..config import load_config
from .ami_emit import Headers
from .ami_lists import ChannelState, QueueState, forget_calls, member_headers, track
from .ami_server import AMIServer, encode_message, stamp
from .errors import SimulationWorkerError
from .simulate import Plan, SimulationResult, run_simulation
from .tally import Tally

#: seconds a worker process may take to start and say hello
START_TIMEOUT = 60.0
#: seconds between the last hello and the common start: every worker gets its ``G`` in time
START_MARGIN = 0.5


async def _send(writer: asyncio.StreamWriter, kind: bytes, payload: bytes) -> None:
    writer.write(kind + len(payload).to_bytes(4, "big") + payload)
    await writer.drain()


async def _receive(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readexactly(5)
    return head[:1], await reader.readexactly(int.from_bytes(head[1:], "big"))


# ----------------------------------------------------------------------------- the worker side


class ForwardedEvents:
    """A worker's event sink (``ami_calls.EventSink``): keeps the lists of its calls and sends
    their events, stamped and encoded, to the parent's AMI server on each ``drain``."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.channels: dict[str, ChannelState] = {}
        self.queues: dict[str, QueueState] = {}
        self._pending = bytearray()

    def emit(self, headers: Headers, *, timestamp: float | None = None) -> int:
        at = time.time() if timestamp is None else timestamp
        filled = member_headers(self.queues, headers, at)
        track(self.channels, self.queues, filled, at)
        self._pending += encode_message(stamp(filled, at))
        return 1

    def forget_calls(self, linkedids: Collection[str]) -> None:
        forget_calls(self.channels, self.queues, linkedids)

    async def drain(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            await _send(self.writer, b"E", data)

    async def send_lists(self) -> None:
        await self.drain()  # the lists must not run ahead of the events already played
        await _send(self.writer, b"L", pickle.dumps((self.channels, self.queues)))


def worker_main(config_path: str, fastagi: tuple[str, int], plan: Plan, number: int, workers: int,
                parent_port: int, loop: str) -> None:
    """A worker process: plays its share of the plan (see the module docstring)."""
    from ..eventloop import run

    run(_worker(Path(config_path), fastagi, plan, number, workers, parent_port), loop)


async def _worker(config_path: Path, fastagi: tuple[str, int], plan: Plan, number: int, workers: int,
                  parent_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", parent_port)
    try:
        config = load_config(config_path)
        sink = ForwardedEvents(writer)
        go: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def listen() -> None:
            while True:
                kind, payload = await _receive(reader)
                if kind == b"G":
                    go.set_result(float(payload))
                elif kind == b"L":
                    await sink.send_lists()

        listener = asyncio.create_task(listen())
        await _send(writer, b"H", str(number).encode())
        start = await go
        started = time.monotonic() + (start - time.time())
        result = await run_simulation(config, sink, fastagi, plan=plan, keep=False, share=(number, workers),
                                      started=started)
        await sink.drain()
        await _send(writer, b"T", pickle.dumps(result.tally))
        listener.cancel()
    except Exception:  # noqa: BLE001 - the parent reports it; this process ends anyway
        await _send(writer, b"X", traceback.format_exc().encode())
    finally:
        writer.close()


# ----------------------------------------------------------------------------- the parent side


async def run_workers(config_path: Path, pbx: AMIServer, fastagi: tuple[str, int], plan: Plan, workers: int,
                      *, loop: str = "auto") -> SimulationResult:
    """Play ``plan`` with ``workers`` processes against the bridge at ``fastagi``; the events go
    out on ``pbx``. Returns the added-up tally."""
    if workers < 1:
        raise SimulationWorkerError(f"workers: need at least 1, got {workers}")
    connections: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    hello = asyncio.Event()
    lists: dict[int, asyncio.Future[tuple[dict[str, ChannelState], dict[str, QueueState]]]] = {}
    tallies: dict[int, Tally] = {}
    failures: list[str] = []
    finished = asyncio.Event()
    readers: set[asyncio.Task[None]] = set()

    async def serve(number: int, reader: asyncio.StreamReader) -> None:
        try:
            while number not in tallies:
                kind, payload = await _receive(reader)
                if kind == b"E":
                    pbx.broadcast_raw(payload)
                elif kind == b"L":
                    waiter = lists.pop(number, None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(pickle.loads(payload))
                elif kind == b"T":
                    tallies[number] = pickle.loads(payload)
                elif kind == b"X":
                    failures.append(f"worker {number}: {payload.decode(errors='replace')}")
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            failures.append(f"worker {number}: its connection closed before it finished")
        finally:
            waiter = lists.pop(number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(({}, {}))
            if len(tallies) + len(failures) >= workers:
                finished.set()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        kind, payload = await _receive(reader)
        if kind != b"H":
            writer.close()
            return
        number = int(payload)
        connections[number] = (reader, writer)
        if len(connections) == workers:
            hello.set()
        task = asyncio.current_task()
        if task is not None:
            readers.add(task)
        await serve(number, reader)

    async def remote_lists() -> list[tuple[dict[str, ChannelState], dict[str, QueueState]]]:
        loop = asyncio.get_running_loop()
        asked = []
        for number, (_, writer) in connections.items():
            if number in tallies:
                continue
            waiter = lists.setdefault(number, loop.create_future())
            await _send(writer, b"L", b"")
            asked.append(waiter)
        return list(await asyncio.gather(*asked))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=worker_main, name=f"simulate-worker-{n}", daemon=True,
                                 args=(str(config_path), fastagi, plan, n, workers, port, loop))
                 for n in range(workers)]
    began = time.monotonic()
    pbx.remote_lists = remote_lists
    try:
        for process in processes:
            process.start()
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await hello.wait()
        except TimeoutError:
            raise SimulationWorkerError(f"{workers - len(connections)} of {workers} worker process(es) did not "
                                        f"start within {START_TIMEOUT:g} s") from None
        start = time.time() + START_MARGIN
        for _, writer in connections.values():
            await _send(writer, b"G", repr(start).encode())
        began = time.monotonic() + START_MARGIN
        await finished.wait()
        if failures:
            raise SimulationWorkerError("; ".join(failures))
    finally:
        pbx.remote_lists = None
        for _, writer in connections.values():
            writer.close()
        server.close()
        for process in processes:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.kill()
    out = SimulationResult()
    for number in sorted(tallies):
        out.tally.merge(tallies[number])
    out.seconds = time.monotonic() - began
    return out
