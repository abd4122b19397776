"""Record the queue-member captures of ``tests/fixtures/asterisk/ami/members/`` on the real Asterisk.

Run once, by hand: ``python tests/record_member_captures.py OUT_DIR`` (the PBX comes from
``tests/pbx.py``, as for the real-Asterisk tests). Each capture is the byte stream one AMI
connection received, exactly as read from the socket: the connection logs in as the shipped AMI
user of ``dialplan/manager_contact_center.conf`` (what the bridge reads), asks ``CoreShowChannels``
and ``QueueStatus`` as the bridge does after every login, and keeps reading while a second
connection (the tests' own AMI user) logs operators in and out, pauses them and places calls.
``members/README.md`` says what each capture shows.

The PBX runs the shipped ``extensions_contact_center.conf`` and ``queues_contact_center.conf``
(with auto-pause) unchanged, plus ``STATIC_MEMBERS`` appended to two queues with ``(+)``; nothing
listens for FastAGI, so callers take the dialplan's bridge-down path to the line's default queue.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

from pbx import Pbx, find_asterisk, write_prompt
from pbx_calls import AMI, Call, place

STATIC_MEMBERS = """
; static members for the captures, appended to the shipped queues
[cc-122-default](+)
member => Local/1201@operators/n,0,Оператор 1201,Local/1201@operators/n
[cc-122-housing](+)
member => Local/1201@operators/n,0,Оператор 1201,Local/1201@operators/n
"""


class Recorder:
    """One AMI connection as the bridge has it: every byte received goes to ``path``."""

    def __init__(self, pbx: Pbx, path: Path):
        self.pbx, self.path = pbx, path
        self.data = bytearray()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._ids = 0

    async def __aenter__(self) -> Recorder:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.pbx.ami_port)
        self._task = asyncio.create_task(self._read())
        await self.send("Login", Username="asterisk-bridge", Secret=self.pbx.bridge_secret, Events="on")
        await self.until(b"Message: Authentication accepted")
        await self.send("CoreShowChannels")
        await self.until(b"Event: CoreShowChannelsComplete")
        await self.send("QueueStatus")
        await self.until(b"Event: QueueStatusComplete")
        return self

    async def _read(self) -> None:
        assert self._reader is not None
        while chunk := await self._reader.read(65536):
            self.data += chunk

    async def send(self, action: str, **fields: str) -> None:
        assert self._writer is not None
        self._ids += 1
        lines = [f"Action: {action}", f"ActionID: rec-{self._ids}", *(f"{k}: {v}" for k, v in fields.items())]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()

    async def until(self, marker: bytes, count: int = 1, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while self.data.count(marker) < count:
            if time.monotonic() > end:
                raise AssertionError(f"{self.path.name}: {marker!r} x{count} not received")
            await asyncio.sleep(0.05)

    async def cut(self) -> None:
        """Drop the connection without a Logoff (a link that goes away)."""
        await asyncio.sleep(0.5)
        assert self._writer is not None and self._task is not None
        self._writer.transport.abort()
        await asyncio.gather(self._task, return_exceptions=True)
        self.path.write_bytes(bytes(self.data))

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        await asyncio.sleep(0.5)  # events that trail the last action
        await self.send("Logoff")
        assert self._task is not None
        await asyncio.wait_for(self._task, 10)
        self.path.write_bytes(bytes(self.data))


async def ok(ami: AMI, action: str, **fields: str) -> None:
    reply = await ami.action(action, **fields)
    assert reply.get("Response") == "Success", (action, fields, reply)


def op(extension: str) -> dict[str, str]:
    return {"Interface": f"Local/{extension}@operators/n"}


async def record(pbx: Pbx, out: Path) -> None:
    ami = await AMI.connect(pbx)
    try:
        # an operator logged in with QueueAdd to two queues, then logged out of both
        async with Recorder(pbx, out / "queue-add-remove.raw"):
            for queue in ("cc-122-housing", "cc-122-default"):
                await ok(ami, "QueueAdd", Queue=queue, **op("1204"), MemberName="Оператор 1204", Penalty="0")
            await ok(ami, "QueueAdd", Queue="cc-122-social", **op("1206"), MemberName="Оператор 1206",
                     Paused="true", Reason="обучение")  # logged in paused
            await asyncio.sleep(1.0)
            for queue in ("cc-122-housing", "cc-122-default"):
                await ok(ami, "QueueRemove", Queue=queue, **op("1204"))
            await ok(ami, "QueueRemove", Queue="cc-122-social", **op("1206"))

        # pauses with a reason: in one queue, then in every queue (no Queue header: PAUSEALL)
        for queue in ("cc-122-housing", "cc-122-default"):
            await ok(ami, "QueueAdd", Queue=queue, **op("1204"), MemberName="Оператор 1204")
        async with Recorder(pbx, out / "queue-pause-reason.raw"):
            await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1204"), Paused="true", Reason="обед")
            await asyncio.sleep(1.0)
            await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1204"), Paused="false")
            await asyncio.sleep(1.0)
            await ok(ami, "QueuePause", **op("1204"), Paused="true", Reason="перерыв")
            await asyncio.sleep(1.0)
            await ok(ami, "QueuePause", **op("1204"), Paused="false")
        for queue in ("cc-122-housing", "cc-122-default"):
            await ok(ami, "QueueRemove", Queue=queue, **op("1204"))

        # a link cut mid-pause: 1202 stays paused across the cut, 1203 is unpaused during it
        await ok(ami, "QueueAdd", Queue="cc-122-housing", **op("1202"), MemberName="Оператор 1202")
        await ok(ami, "QueueAdd", Queue="cc-122-housing", **op("1203"), MemberName="Оператор 1203")
        first = Recorder(pbx, out / "reconnect-mid-pause-1.raw")
        await first.__aenter__()
        await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1202"), Paused="true", Reason="перерыв")
        await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1203"), Paused="true", Reason="обед")
        await first.cut()
        await asyncio.sleep(1.5)
        await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1203"), Paused="false")
        await asyncio.sleep(1.5)
        async with Recorder(pbx, out / "reconnect-mid-pause-2.raw"):
            await asyncio.sleep(1.0)
            await ok(ami, "QueuePause", Queue="cc-122-housing", **op("1202"), Paused="false")
        for ext in ("1202", "1203"):
            await ok(ami, "QueueRemove", Queue="cc-122-housing", **op(ext))

        # the starving queue with auto-pause: 1205 took the previous call; 2205 (never answers) is rung
        # first, lets the call ring out, is paused in both its queues, and 1205 answers
        for queue in ("cc-117-default",):
            await ok(ami, "QueueAdd", Queue=queue, **op("1205"), MemberName="Оператор 1205")
        warm_up = Call("warm_up", "117")
        await place(ami, warm_up)
        await ami.wait_for(warm_up.ended, 60, "the warm-up call's end")
        async with Recorder(pbx, out / "auto-pause-ring-out.raw") as rec:
            for queue in ("cc-117-default", "cc-117-where"):
                await ok(ami, "QueueAdd", Queue=queue, **op("2205"), MemberName="Оператор 2205")
            starved = Call("starved", "117")
            await place(ami, starved)
            await ami.wait_for(starved.ended, 90, "the starved call's end")
            await rec.until(b"Event: QueueMemberStatus", 1)
            await asyncio.sleep(1.0)
            await ok(ami, "QueuePause", **op("2205"), Paused="false")  # back at the phone
        for queue in ("cc-117-default", "cc-117-where"):
            await ok(ami, "QueueRemove", Queue=queue, **op("2205"))
        await ok(ami, "QueueRemove", Queue="cc-117-default", **op("1205"))
        shutil.copyfile(pbx.queue_log, out / "queue_log")
    finally:
        await ami.close()


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    tree = find_asterisk()
    if isinstance(tree, str):
        sys.exit(f"no Asterisk: {tree}")
    run = out / "pbx-run"
    pbx = Pbx(tree, run)
    pbx.prepare()
    pbx.write_contact_center()
    queues = run / "etc" / "queues.conf"
    queues.write_text(queues.read_text() + STATIC_MEMBERS, encoding="utf-8")
    write_prompt(pbx.sounds / "cc" / "bridge-down-apology.wav", 1.0)
    pbx.boot()
    try:
        asyncio.run(record(pbx, out))
    finally:
        pbx.stop()
    print(f"captures in {out}; Asterisk's log: {pbx.messages_log}")


if __name__ == "__main__":
    main()
