"""Calls without phones on the real Asterisk, driven over the tests' own AMI connection.

The connection is the tests' oracle, so it shares nothing with the bridge's AMI client: a small
reader of AMI frames that keeps every event, grouped by Linkedid. A caller is an AMI ``Originate``
of ``Local/hold@callers/n`` into the shipped ``[contact-center]`` context: the ``;1`` half runs
the dialplan (menu, queue), the ``;2`` half is the caller. Or into the tests' ``[inbound]``,
which dials ``Local/<line>@contact-center``: then a Local half that is not the call's first
channel runs the menu and the queue, and the call is still one call. Keys are AMI ``PlayDTMF`` on the ``;2``
half, sent when AMI ``AGIExecStart`` shows the menu playing the prompt that takes them (a key sent
between AGI commands is lost, fixtures README A14); hanging up is AMI ``Hangup`` on the ``;2`` half.
Operators are Local queue members logged in with ``QueueAdd``, or from the dialplan with
``AddQueueMember`` (``tests/pbx.py`` says how each extension behaves). Everything the test then compares is Asterisk's own: AMI events and queue_log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pbx import TEST_AMI_USER, Pbx

Event = dict[str, str]


class AMI:
    """The tests' AMI connection: actions with ActionIDs, every event kept and waited on."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.by_linkedid: dict[str, list[Event]] = defaultdict(list)
        self._changed = asyncio.Condition()
        self._responses: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task | None = None
        self._writer: asyncio.StreamWriter | None = None

    @classmethod
    async def connect(cls, pbx: Pbx) -> AMI:
        ami = cls()
        reader, ami._writer = await asyncio.open_connection("127.0.0.1", pbx.ami_port)
        await reader.readline()  # the banner
        ami._reader = asyncio.create_task(ami._read(reader))
        reply = await ami.action("Login", Username=TEST_AMI_USER, Secret=pbx.test_secret, Events="on")
        assert reply.get("Response") == "Success", reply
        return ami

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                block = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            message: Event = {}
            for line in block.decode("utf-8", errors="replace").split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep and key not in message:
                    message[key] = value
            if "Event" in message:  # OriginateResponse carries Response and ActionID too (M6)
                self.events.append(message)
                linkedid = message.get("Linkedid") or message.get("LinkedID")  # CEL spells it so (M11)
                if linkedid:
                    self.by_linkedid[linkedid].append(message)
                async with self._changed:
                    self._changed.notify_all()
            elif message.get("ActionID") in self._responses:
                future = self._responses.pop(message["ActionID"])
                if not future.done():
                    future.set_result(message)

    async def action(self, name: str, timeout: float = 10.0, **fields: str) -> Event:
        action_id = f"t{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        for key, value in fields.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key}: {item}")
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return await asyncio.wait_for(future, timeout)

    async def wait_for(self, predicate: Callable[[], object], timeout: float, what: str):
        """Wait until ``predicate()`` is true (checked after every event), return its value."""
        end = time.monotonic() + timeout
        async with self._changed:
            while not (value := predicate()):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"AMI: {what} not seen within {timeout:g} s")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
                except TimeoutError:
                    pass
            return value

    async def login_operators(self, staff: dict[str, Iterable[str]]) -> None:
        """Log operators in (``{"cc-122-housing": ["1002"]}``) as a supervisor would, with QueueAdd."""
        for queue, extensions in staff.items():
            for extension in extensions:
                reply = await self.action("QueueAdd", Queue=queue, Interface=operator_interface(extension),
                                          MemberName=operator_name(extension), Penalty="0")
                assert reply.get("Response") == "Success", (queue, extension, reply)

    async def login_by_dialplan(self, queue: str, extension: str) -> None:
        """The operator logs in from his phone: ``[operator-login]`` (``tests/pbx.py``) runs the
        dialplan's ``AddQueueMember``. Returns once Asterisk says he is in the queue."""
        interface = operator_interface(extension)
        reply = await self.action("Originate", Channel=f"Local/{extension}@operator-login/n", Application="Wait",
                                  Data="1", Variable=f"LOGIN_QUEUE={queue}", Async="true")
        assert reply.get("Response") == "Success", (queue, extension, reply)
        await self.wait_for(lambda: any(e.get("Event") == "QueueMemberAdded" and e.get("Queue") == queue
                                        and e.get("Interface") == interface for e in self.events),
                            10, f"{interface} logged in to {queue} by AddQueueMember")

    async def logout_operators(self, staff: dict[str, Iterable[str]]) -> None:
        for queue, extensions in staff.items():
            for extension in extensions:
                await self.action("QueueRemove", Queue=queue, Interface=operator_interface(extension))


def operator_interface(extension: str) -> str:
    return f"Local/{extension}@operators/n"


def operator_name(extension: str) -> str:
    return f"Оператор {extension}"


# ---------------------------------------------------------------------------------- a caller's script

@dataclass(frozen=True)
class Press:
    """Press ``key`` while the menu plays ``prompt`` (its ``occurrence``-th play in the call)."""

    key: str
    prompt: str
    occurrence: int = 1


@dataclass(frozen=True)
class HangUpIn:
    """Hang up ``after`` seconds into the menu's ``prompt``."""

    prompt: str
    after: float = 0.3


@dataclass(frozen=True)
class HangUpAfter:
    """Hang up ``seconds`` after the call's first AMI ``event`` (QueueCallerJoin, AgentConnect)."""

    event: str
    seconds: float


Step = Press | HangUpIn | HangUpAfter
_numbers = itertools.count(1)


@dataclass
class Call:
    """One caller: what it does, and everything Asterisk said about its call."""

    name: str
    line: str
    script: tuple[Step, ...] = ()
    context: str = "contact-center"  # where the call is sent: the shipped context, or the tests' [inbound]
    caller_number: str = field(default_factory=lambda: f"7916{next(_numbers):07d}")
    linkedid: str = ""
    caller_channel: str = ""  # the ;2 half
    placed_at: float = 0.0
    ami: AMI | None = None

    @property
    def events(self) -> list[Event]:
        return self.ami.by_linkedid.get(self.linkedid, []) if self.ami else []

    def named(self, event: str, **match: str) -> list[Event]:
        return [e for e in self.events if e.get("Event") == event
                and all(e.get(k) == v for k, v in match.items())]

    def user_event(self, kind: str) -> Event | None:
        found = self.named("UserEvent", UserEvent=kind)
        return found[-1] if found else None

    def agi_commands(self) -> list[str]:
        return [e.get("Command", "") for e in self.named("AGIExecStart")]

    @property
    def menu_uniqueid(self) -> str:
        """The channel that ran the shipped dialplan: the ;1 half itself when the call was sent
        straight to [contact-center], else the Local half [inbound] dialled (its ;2: the ;1 shows
        the context too, running only the pseudo-application AppDial). The shipped dialplan sets
        CC_LINE first thing."""
        found = self.named("VarSet", Variable="CC_LINE")
        return found[0]["Uniqueid"] if found else self.linkedid

    @property
    def callid(self) -> str:
        """queue_log's callid for the call: the Uniqueid of the channel that waited in the queue,
        the one that ran the shipped dialplan (the Linkedid only when that is the call's first)."""
        return self.menu_uniqueid

    def final_variable(self, name: str) -> str | None:
        """The last value the shipped dialplan saw in ``name``."""
        found = [e.get("Value", "") for e in self.named("VarSet", Variable=name, Uniqueid=self.menu_uniqueid)]
        return found[-1] if found else None

    def ended(self) -> bool:
        """Every channel of the call is gone: CEL LINKEDID_END and the caller half's Hangup (the
        first can come before the second, fixtures README M8/M11)."""
        return bool(self.named("CEL", EventName="LINKEDID_END") and self.named("Hangup", Uniqueid=self.linkedid))


async def place(ami: AMI, call: Call) -> None:
    """Originate the call; return once its Linkedid (the ;1 half's Uniqueid) and its caller half
    (the ;2 channel) are known."""
    call.ami = ami
    call.placed_at = time.time()
    reply = await ami.action("Originate", Channel="Local/hold@callers/n", Context=call.context,
                             Exten=call.line, Priority="1", Async="true", Timeout="10000",
                             CallerID=f'"Иван Петров" <{call.caller_number}>', Variable=f"CC_TEST={call.name}")
    assert reply.get("Response") == "Success", (call.name, reply)
    action_id = reply.get("ActionID")
    answer = await ami.wait_for(lambda: next((e for e in ami.events if e.get("Event") == "OriginateResponse"
                                              and e.get("ActionID") == action_id), None), 15, f"{call.name} answered")
    assert answer.get("Response") == "Success", (call.name, answer)
    call.linkedid = answer["Uniqueid"]
    call.caller_channel = await ami.wait_for(
        lambda: next((e["Channel"] for e in call.named("Newchannel")
                      if e["Channel"].startswith("Local/hold@callers-") and e["Channel"].endswith(";2")), None),
        10, f"{call.name}: the caller half")


async def run_call(ami: AMI, call: Call, timeout: float = 60.0) -> Call:
    """Place the call, play its script, wait for the call's end (``Call.ended``)."""
    await place(ami, call)
    caller = call.caller_channel
    for step in call.script:
        if isinstance(step, Press):
            await _prompt_playing(ami, call, step.prompt, step.occurrence)
            reply = await ami.action("PlayDTMF", Channel=caller, Digit=step.key, Duration="120")
            assert reply.get("Response") == "Success", (call.name, step, reply)
        elif isinstance(step, HangUpIn):
            await _prompt_playing(ami, call, step.prompt, 1)
            await asyncio.sleep(step.after)
            await ami.action("Hangup", Channel=caller)
        else:
            first = await ami.wait_for(lambda event=step.event: next(iter(call.named(event)), None), timeout,
                                       f"{call.name}: {step.event}")
            delay = float(first["Timestamp"]) + step.seconds - time.time()
            await asyncio.sleep(max(0.0, delay))
            await ami.action("Hangup", Channel=caller)
    await ami.wait_for(call.ended, timeout, f"{call.name}: the end of the call")
    return call


async def _prompt_playing(ami: AMI, call: Call, prompt: str, occurrence: int) -> None:
    def started():
        plays = [c for c in call.agi_commands() if prompt in c.split()]
        return len(plays) >= occurrence

    await ami.wait_for(started, 30, f"{call.name}: the menu playing {prompt} (#{occurrence})")
    await asyncio.sleep(0.2)  # the command is reading keys by now


# ---------------------------------------------------------------------------------- queue_log

@dataclass(frozen=True)
class QueueLogLine:
    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]


def queue_log(path: Path, callids: Iterable[str] | None = None) -> list[QueueLogLine]:
    """Asterisk's queue_log, parsed here on its own (``epoch|callid|queue|agent|EVENT|data...``)."""
    wanted = set(callids) if callids is not None else None
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        parts = raw.split("|")
        if len(parts) >= 5 and (wanted is None or parts[1] in wanted):
            lines.append(QueueLogLine(int(parts[0]), parts[1], parts[2], parts[3], parts[4], tuple(parts[5:])))
    return lines


TERMINAL = {"COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY"}


async def queue_log_settled(path: Path, calls: Iterable[Call], timeout: float = 10.0) -> None:
    """Wait until every call that entered a queue has its final queue_log line."""
    end = time.monotonic() + timeout
    while True:
        lines = queue_log(path, [c.callid for c in calls])
        entered = {line.callid for line in lines if line.event == "ENTERQUEUE"}
        done = {line.callid for line in lines if line.event in TERMINAL}
        if entered <= done:
            return
        if time.monotonic() > end:
            raise AssertionError(f"queue_log: no final line for {sorted(entered - done)}")
        await asyncio.sleep(0.2)
