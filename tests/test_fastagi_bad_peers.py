"""Bad FastAGI connections: the first from a peer logged at once, the rest once a window per peer."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time

import pytest
from helpers import read_transcript

from asterisk_bridge.fastagi import FastAGIServer
from asterisk_bridge.fastagi.badpeers import BadConnections

ENV = "".join(read_transcript("fastagi/agi-ivr-topic2.txt").env_block()).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_peer_and_window():
    clock = Clock()
    bad = BadConnections(60.0, clock)
    assert bad.next_due() is None
    assert bad.add("10.0.0.1", "closed early", "connection closed before sending anything") is True
    for _ in range(103):
        clock.now += 0.1
        assert bad.add("10.0.0.1", "closed early", "connection closed before sending anything") is False
    for _ in range(208):
        assert bad.add("10.0.0.1", "no env block in time", "no complete env block within 5.0 s (0 bytes received)") is False
    assert bad.add("10.0.0.2", "not in fastagi.allow", "address not in fastagi.allow") is True  # its own window
    assert bad.due() == []  # no window has ended yet
    assert bad.next_due() == pytest.approx(60.0 - 10.3)
    clock.now = 1060.0
    assert bad.due() == ["312 bad FastAGI connections from 10.0.0.1 in the last 60 s: 208 no env block in time, "
                         "104 closed early (last: no complete env block within 5.0 s (0 bytes received))"]
    # the flood goes on: counted silently into the next window, one line when it ends
    bad.add("10.0.0.1", "closed early", "connection closed after 12 bytes, before the env block's blank line")
    clock.now = 1070.3
    assert bad.due() == []  # 10.0.0.2 had one bad connection, logged when it came: nothing more to say
    clock.now = 1120.0
    assert bad.due() == ["1 bad FastAGI connection from 10.0.0.1 in the last 60 s: 1 closed early "
                         "(last: connection closed after 12 bytes, before the env block's blank line)"]
    clock.now = 1180.0
    assert bad.due() == [] and bad.next_due() is None  # quiet for a window: forgotten
    assert bad.add("10.0.0.1", "closed early", "x") is True  # so the next one is logged at once again
    bad.add("10.0.0.1", "closed early", "y")
    assert bad.flush() == ["2 bad FastAGI connections from 10.0.0.1 in the last 0 s: 2 closed early (last: y)"]
    with pytest.raises(ValueError):
        BadConnections(0)


async def test_a_flood_of_bad_connections_is_a_few_lines_and_calls_go_on(caplog):
    caplog.set_level(logging.WARNING, "asterisk_bridge.fastagi")
    served = []

    async def handler(channel) -> None:
        served.append(await channel.command("ANSWER"))

    async def bad_connection(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if n % 3 == 0:
            writer.write(b"GET / HTTP/1.0\n\n")  # garbage
        writer.close()  # the others: closed before or after a few bytes
        await writer.wait_closed()

    async def good_call() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(ENV)
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n")
        assert await reader.read() == b""
        writer.close()

    async with FastAGIServer(handler, port=0, bad_peer_window=0.5) as server:
        started = time.monotonic()
        for _ in range(6):  # 1.2 s of flood: 300 bad connections, a real call now and then
            await asyncio.gather(*(bad_connection(n) for n in range(50)), good_call())
            await asyncio.sleep(0.2)
        while server.rejected < 300:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.6)  # the last window ends
        assert len(served) == 6
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        windows = math.ceil((time.monotonic() - started) / 0.5)
        assert 2 <= len(lines) <= 1 + windows, lines  # the first, then at most one a window: not 300
        assert lines[0].startswith("FastAGI session from 127.0.0.1:")  # the first, with its detail
        counted = 1
        for line in lines[1:]:
            m = re.fullmatch(r"(\d+) bad FastAGI connections? from 127\.0\.0\.1 in the last \d+ s: (.*) \(last: .*\)",
                             line)
            assert m, line
            kinds = {kind: int(n) for n, kind in (part.split(" ", 1) for part in m.group(2).split(", "))}
            assert set(kinds) <= {"closed early", "not an AGI env block"} and sum(kinds.values()) == int(m.group(1))
            counted += int(m.group(1)) - (1 if line is lines[1] else 0)
        assert counted == 300  # every bad connection is in a line, the first in two
        # the flood is over: after a quiet window the next bad connection is logged at once again
        await asyncio.sleep(0.6)
        caplog.clear()
        await bad_connection(1)
        while server.rejected < 301:
            await asyncio.sleep(0.01)
        assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == ["connection closed before sending anything"]
