"""Replay every real Asterisk 22 FastAGI capture against our FastAGIServer over loopback TCP.

A small fake Asterisk (asyncio client) writes the captured env block, then for
each command line it receives checks it is byte-identical to the captured `>`
record and answers with the `<` records that followed it in the capture
(HANGUP lines and 520 blocks included, same bytes). Gaps over 20 ms in the
capture become a short pause, so a HANGUP really arrives before its reply
(A8) and a 520 block arrives in two parts (A4).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import pytest
from helpers import FIXTURES, Transcript, read_transcript

from asterisk_bridge.fastagi import (
    AGIChannel,
    AGICommandError,
    AGICommandTimeout,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIError,
    AGIInvalidCommand,
    AGIUsageError,
    FastAGIServer,
    Quoted,
    Reply,
    format_command,
    parse_env,
)

CAPTURE_DIR = FIXTURES / "fastagi"
CAPTURES = sorted(p.name for p in CAPTURE_DIR.glob("*.txt"))


@dataclass
class Step:
    command: str  # the captured `>` payload, "\n" (or "\r\n") included
    replies: list[str]  # the `<` payloads Asterisk sent after it
    gaps: list[bool] = field(default_factory=list)  # pause before each reply line?


def env_and_records(t: Transcript):
    env_lines = t.env_block()
    assert env_lines and env_lines[-1] == "\n", f"{t.path.name}: no env block"
    seen = 0
    for index, record in enumerate(t.records):
        if record.direction == "<":
            seen += 1
            if seen == len(env_lines):
                return env_lines, t.records[index + 1 :]
    raise AssertionError("unreachable")


def script_by_order(t: Transcript) -> tuple[list[str], list[Step]]:
    """Default rule: the `<` records after a `>` record answer that command."""
    env_lines, rest = env_and_records(t)
    steps: list[Step] = []
    last_t = None
    for record in rest:
        if record.direction == ">":
            steps.append(Step(record.payload, []))
            last_t = record.t
        elif record.direction == "<":
            assert steps, f"{t.path.name}: bytes from Asterisk before the first command"
            steps[-1].replies.append(record.payload)
            steps[-1].gaps.append(last_t is not None and record.t - last_t > 0.02)
            last_t = record.t
    return env_lines, steps


def is_final(line: str) -> bool:
    return line[:3].isdigit() and line[3:4] == " " and not line.startswith("100 ")


def group_replies(lines: list[str]) -> list[list[str]]:
    groups, current = [], []
    for line in lines:
        current.append(line)
        if is_final(line):
            groups.append(current)
            current = []
    assert not current, f"reply stream ends inside a reply: {current!r}"
    return groups


def script_sequential(t: Transcript, answered: int) -> tuple[list[str], list[Step]]:
    """For agi-pipelined: what Asterisk answers each command with, when sent one at a time.

    The lab wrote 7 commands in one segment; Asterisk answered them in order
    (the first at once, the rest only when more bytes came), except STREAM FILE,
    which the queued bytes aborted with no reply at all (A10). Our client never
    pipelines, so we pair commands and replies in order for the well-formed
    prefix, and the 6th command (STREAM FILE) gets no reply, as it did.
    """
    env_lines, rest = env_and_records(t)
    commands = [r.payload for r in rest if r.direction == ">"]
    groups = group_replies([r.payload for r in rest if r.direction == "<"])
    # The capture's reply stream, in order: 5 answered commands, then the 7th command's reply.
    assert commands[answered] == 'STREAM FILE beep ""\n'
    assert groups[answered] == ["200 result=1 (ru)\n"] and commands[answered + 1] == "GET VARIABLE CHANNEL(language)\n"
    steps = [Step(c, g, [False] * len(g)) for c, g in zip(commands[:answered], groups[:answered], strict=True)]
    steps.append(Step(commands[answered], []))
    return env_lines, steps


def capture_script(name: str) -> tuple[list[str], list[Step]]:
    t = read_transcript(CAPTURE_DIR / name)
    if name == "agi-pipelined.txt":
        return script_sequential(t, answered=5)
    env_lines, steps = script_by_order(t)
    if name == "agi-write-during-command.txt":
        # The lab wrote NOOP while STREAM FILE played; Asterisk aborted the prompt with no
        # reply (A10). Our client never writes during a command, so the well-formed prefix
        # ends at STREAM FILE, which gets no reply: it must time out, with nothing else written.
        assert steps[1].command.startswith("STREAM FILE") and steps[1].replies == []
        steps = steps[:2]
    return env_lines, steps


class FakeAsterisk:
    """Asterisk's side of one captured session."""

    def __init__(self, env_lines: list[str], steps: list[Step]) -> None:
        self.env = "".join(env_lines).encode()
        self.steps = steps
        self.received: list[bytes] = []
        self.mismatch: tuple[bytes, bytes] | None = None
        self.after: bytes | None = None  # bytes received after the script, up to EOF

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(self.env)
            for step in self.steps:
                line = await reader.readline()
                if not line:
                    return
                self.received.append(line)
                if line != step.command.encode():
                    self.mismatch = (line, step.command.encode())
                    return
                for reply, gap in zip(step.replies, step.gaps or [False] * len(step.replies), strict=True):
                    if gap:
                        await writer.drain()
                        await asyncio.sleep(0.005)
                    writer.write(reply.encode())
                await writer.drain()
            self.after = await reader.read()  # the server closes after the handler (A9)
        finally:
            writer.close()
            await writer.wait_closed()


def expected_outcomes(steps: list[Step]) -> list[tuple[str, object, bool]]:
    """From the capture alone: (kind, detail, hung_up after the command) per step."""
    out = []
    hung_up = False
    for step in steps:
        lines = step.replies
        final = next((i for i, line in enumerate(lines) if is_final(line)), None)
        if final is None:
            out.append(("none", None, hung_up))
            continue
        before = [line for line in lines[: final + 1] if line != "HANGUP\n"]
        hung_up = hung_up or "HANGUP\n" in lines[:final]
        first = next(line for line in before if not line.startswith("100 "))
        if first.startswith("520-"):
            usage = "\n".join(line[:-1] for line in before[before.index(first) + 1 : -1])
            out.append(("usage", usage, hung_up))
        elif first.startswith("510 "):
            out.append(("invalid", first[:-1], hung_up))
        elif first.startswith("511 "):
            out.append(("dead", first[:-1], hung_up))
        else:
            assert first.startswith("200 "), first
            out.append(("reply", first[:-1], hung_up))
        # A HANGUP after the final reply is only read with the next command's reply.
        hung_up = hung_up or "HANGUP\n" in lines[final + 1 :]
    return out


def render(reply: Reply) -> str:
    """Rebuild the reply line from the parsed fields: nothing may be lost or misplaced."""
    text = f"{reply.code} result={reply.result}"
    if reply.data is not None:
        text += f" ({reply.data})"
    if reply.endpos is not None:
        text += f" endpos={reply.endpos}"
    if reply.text:
        text += f" {reply.text}"
    return text


async def replay(name: str, command_timeout: float = 5.0):
    env_lines, steps = capture_script(name)
    outcomes: list[tuple[object, bool]] = []
    envs = []
    fake = FakeAsterisk(env_lines, steps)

    async def handler(channel: AGIChannel) -> None:
        envs.append(channel.env)
        for step in steps:
            command = step.command
            if name == "agi-write-during-command.txt" and step is steps[-1]:
                await write_during_command(channel, command, outcomes)
                return
            if name == "agi-close-during-command.txt" and step is steps[-1]:
                await close_during_command(channel, fake, command, outcomes)
                return
            try:
                if "\r" in command:
                    # A1: our str API refuses CRLF; the raw bytes API replays what the lab sent.
                    with pytest.raises(AGICommandError):
                        await channel.command(command)
                    reply = await channel.command(command.encode())
                else:
                    reply = await channel.command(command[:-1])
                outcomes.append((reply, channel.hung_up))
            except AGIError as exc:
                outcomes.append((exc, channel.hung_up))
                if isinstance(exc, (AGICommandTimeout, AGIConnectionClosed)):
                    return

    server = FastAGIServer(handler, port=0, command_timeout=command_timeout)
    await server.start()
    try:
        await asyncio.wait_for(fake.run(server.port), 10)
    finally:
        await server.close(grace=5)
    assert server.failed == 0
    return env_lines, steps, envs, outcomes, fake


async def write_during_command(channel: AGIChannel, command: str, outcomes: list) -> None:
    """A second coroutine tries NOOP while STREAM FILE runs: it is refused and never reaches the wire."""
    first = asyncio.create_task(channel.command(command[:-1]))
    await asyncio.sleep(0)
    second = asyncio.create_task(channel.command("NOOP"))
    for task in (first, second):
        try:
            outcomes.append((await task, channel.hung_up))
        except AGIError as exc:
            outcomes.append((exc, channel.hung_up))


async def close_during_command(channel: AGIChannel, fake: FakeAsterisk, command: str, outcomes: list) -> None:
    """Like the lab: send STREAM FILE and close without waiting (Asterisk aborts playback)."""
    task = asyncio.create_task(channel.command(command[:-1]))
    for _ in range(500):
        if len(fake.received) == len(fake.steps):
            break
        await asyncio.sleep(0.002)
    await channel.close()
    try:
        outcomes.append((await task, channel.hung_up))
    except AGIError as exc:
        outcomes.append((exc, channel.hung_up))


def check_env(name: str, env_lines: list[str], env) -> None:
    pairs = [line[:-1].split(": ", 1) for line in env_lines[:-1]]
    assert list(env.fields) == [k for k, _ in pairs]
    assert list(env.fields.values()) == [v for _, v in pairs]
    t = read_transcript(CAPTURE_DIR / name)
    network_script = t.headers["agi_network_script"]
    path, _, query = network_script.partition("?")
    assert env.script == path
    assert env.query == {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    assert env.args == [v for k, v in pairs if k.startswith("agi_arg_")]
    fields = dict(pairs)
    assert env.uniqueid == fields["agi_uniqueid"] and env.channel == fields["agi_channel"]
    # UTF-8 names arrive intact ("Иван Петров"; "Тестовый Абонент" after agi-basic's SET CALLERID).
    assert env.caller_name == fields["agi_calleridname"] and env.caller_name in ("Иван Петров", "Тестовый Абонент")
    assert env.caller_number == fields["agi_callerid"]


@pytest.mark.parametrize("name", CAPTURES)
async def test_capture_replay(name: str) -> None:
    timeout = 0.3 if name in ("agi-pipelined.txt", "agi-write-during-command.txt") else 5.0
    env_lines, steps, envs, outcomes, fake = await replay(name, command_timeout=timeout)
    assert fake.mismatch is None, f"sent {fake.mismatch[0]!r}, capture has {fake.mismatch[1]!r}"
    assert len(envs) == 1
    check_env(name, env_lines, envs[0])

    if name == "agi-write-during-command.txt":
        (answer, _), (stream, _), (noop, _) = outcomes
        assert answer.raw == "200 result=0"
        assert isinstance(stream, AGICommandTimeout)
        assert isinstance(noop, AGICommandError) and "still running" in str(noop)  # refused, never written
        assert fake.received == [b"ANSWER\n", b'STREAM FILE demo-congrats ""\n']
        assert fake.after == b""
        return
    if name == "agi-close-during-command.txt":
        (answer, _), (stream, _) = outcomes
        assert answer.raw == "200 result=0"
        assert isinstance(stream, AGIConnectionClosed)
        assert fake.after == b""
        return

    expected = expected_outcomes(steps)
    assert len(outcomes) == len(steps)
    assert fake.received == [s.command.encode() for s in steps]
    assert fake.after == b""  # nothing written after the last command, then EOF
    for step, (kind, detail, hung_up), (outcome, was_hung_up) in zip(steps, expected, outcomes, strict=True):
        where = f"{name}: {step.command!r}"
        assert was_hung_up is hung_up, where
        if kind == "none":
            assert isinstance(outcome, AGICommandTimeout), where
        elif kind == "usage":
            assert type(outcome) is AGIUsageError, where
            assert outcome.usage == detail, where
            assert outcome.usage, where  # real 520s always carry at least one usage line
        elif kind == "invalid":
            assert type(outcome) is AGIInvalidCommand and outcome.reply == detail, where
        elif kind == "dead":
            assert type(outcome) is AGIDeadChannel and outcome.reply == detail, where
        else:
            assert isinstance(outcome, Reply), f"{where}: {outcome!r}"
            assert outcome.raw == detail and outcome.code == 200, where
            assert render(outcome) == detail, where
    if name == "agi-pipelined.txt":
        assert isinstance(outcomes[-1][0], AGICommandTimeout)


# Hand-checked replies: (capture, step index, command, expected attributes).
EXPECTED = [
    ("agi-basic.txt", 2, "CHANNEL STATUS\n", dict(result="6", data=None)),
    ("agi-basic.txt", 3, "CHANNEL STATUS Local/no-such-channel@nowhere-00000000;1\n", dict(result="-1", failed=True)),
    ("agi-basic.txt", 5, "GET VARIABLE IVR_TEST\n", dict(result="1", data="hello world")),
    ("agi-basic.txt", 6, "GET VARIABLE IVR_UNSET_VARIABLE\n", dict(result="0", data=None)),
    ("agi-basic.txt", 8, "GET VARIABLE CHANNEL(name)\n", dict(data="Local/idle@caller-sim-0000000e;1")),
    ("agi-basic.txt", 11, "GET FULL VARIABLE ${IVR_UNSET_VARIABLE}\n", dict(result="1", data="")),
    ("agi-basic.txt", 14, "GET VARIABLE UTF8_TEST\n", dict(data="Привет, мир")),
    ("agi-basic.txt", 15, 'SET VARIABLE MULTI "a b" extra words\n', dict(usage="Sets a variable to the current channel.")),
    ("agi-basic.txt", 33, "EXEC NoSuchApplication foo\n", dict(result="-2")),
    ("agi-basic.txt", 38, 'STREAM FILE beep ""\n', dict(result="0", endpos=3520, digit=None)),
    ("agi-basic.txt", 44, "GET FULL VARIABLE ${CALLERID(all)}\n", dict(data='"Тестовый Абонент" <74950000000>')),
    ("agi-basic.txt", 48, "FOO BAR\n", dict(error=AGIInvalidCommand)),
    ("agi-basic.txt", 56, 'GOSUB agi-lab-sub s 1 "arg1,arg2"\n', dict(result="0", text="Gosub complete", data=None)),
    ("agi-dtmf.txt", 1, 'STREAM FILE demo-congrats "0123456789*#"\n', dict(result="53", digit="5", endpos=9760)),
    ("agi-dtmf.txt", 2, 'STREAM FILE beep "0123456789*#"\n', dict(result="0", digit=None, endpos=3520)),
    ("agi-dtmf.txt", 4, "GET DATA beep 4000 4\n", dict(digits="12", timed_out=False)),
    ("agi-dtmf.txt", 6, "GET DATA beep 2000 4\n", dict(result="", digits="", timed_out=True)),
    ("agi-dtmf.txt", 7, "GET DATA beep 2000 4\n", dict(digits="7", timed_out=True)),
    ("agi-dtmf.txt", 9, "GET DATA beep 3000 5\n", dict(digits="*9")),
    ("agi-dtmf.txt", 10, "WAIT FOR DIGIT 5000\n", dict(result="56", digit="8")),
    ("agi-dtmf.txt", 12, "WAIT FOR DIGIT -1\n", dict(digit="*")),
    ("agi-dtmf.txt", 13, 'CONTROL STREAM FILE demo-congrats "#" 3000 "*" "9" "0"\n', dict(digit="#", endpos=1220)),
    ("agi-dtmf.txt", 17, 'CONTROL STREAM FILE beep "#"\n', dict(digit=None, endpos=-1)),
    ("agi-dtmf.txt", 22, 'GET OPTION beep "12" 3000\n', dict(digit="2", endpos=3520)),
    ("agi-dtmf.txt", 24, 'SAY DIGITS 9876543210 "1"\n', dict(digit="1")),
    ("agi-crlf-commands.txt", 0, "NOOP\r\n", dict(error=AGIInvalidCommand)),
    ("agi-crlf-commands.txt", 4, "GET VARIABLE CRLF_TEST\n", dict(data="abc\r")),
    ("agi-crlf-commands.txt", 6, 'GET FULL VARIABLE "[${CRLF_TEST}]"\r\n', dict(data="[abc\r]\r")),
    ("agi-hangup-mid-command.txt", 1, 'STREAM FILE demo-congrats ""\n', dict(failed=True, endpos=14560, hung_up=False)),
    ("agi-hangup-mid-command.txt", 2, "ANSWER\n", dict(error=AGIDeadChannel, hung_up=True)),
    ("agi-hangup-mid-command.txt", 7, "GET VARIABLE CHANNEL(name)\n", dict(data="Local/driver@caller-sim-00000010;1")),
    ("agi-hangup-mid-command.txt", 17, "FOO BAR\n", dict(error=AGIInvalidCommand)),
    ("agi-hangup-mid-command.txt", 18, "STREAM FILE\n", dict(error=AGIDeadChannel)),  # A4: 511, not 520
    ("agi-hangup-in-getdata.txt", 1, "GET DATA demo-congrats 5000 4\n", dict(failed=True, digits=None, hung_up=False)),
    ("agi-hangup-in-getdata.txt", 2, "GET VARIABLE CHANNEL(name)\n", dict(hung_up=True)),
    ("agi-hangup-idle.txt", 1, "GET VARIABLE CHANNEL(name)\n", dict(hung_up=False)),
    ("agi-hangup-idle.txt", 2, "NOOP\n", dict(result="0", hung_up=True)),
    ("agi-hangup-command.txt", 1, "HANGUP\n", dict(result="1", hung_up=False)),
    ("agi-hangup-command.txt", 2, "CHANNEL STATUS\n", dict(error=AGIDeadChannel, hung_up=True)),
    ("agi-ivr-hangup-in-menu.txt", 5, "GET DATA vm-enter-num-to-call 4000 1\n", dict(failed=True, hung_up=False)),
    ("agi-ivr-hangup-in-menu.txt", 6, 'VERBOSE "IVR: caller hung up in menu (attempt 1)" 1\n', dict(result="1", hung_up=True)),
    ("agi-ivr-timeout.txt", 5, "GET DATA vm-enter-num-to-call 4000 1\n", dict(digits="", timed_out=True)),
    ("agi-missing-prompt.txt", 1, "GET DATA no-such-file 1000 1\n", dict(failed=True, digits=None, hung_up=False)),
    ("agi-missing-prompt.txt", 4, 'STREAM FILE no-such-file ""\n', dict(failed=True, endpos=0, digit=None)),
    ("agi-pipelined.txt", 4, "GET DATA\n", dict(usage="Stream the given <replaceable>file</replaceable>, and receive DTMF data.\n"
                                                    "Returns the digits received from the channel at the other end.")),
    ("agi-pipelined.txt", 5, 'STREAM FILE beep ""\n', dict(error=AGICommandTimeout)),
]


@pytest.mark.parametrize("name", sorted({e[0] for e in EXPECTED}))
async def test_capture_hand_checked_replies(name: str) -> None:
    timeout = 0.3 if name == "agi-pipelined.txt" else 5.0
    _, steps, _, outcomes, _ = await replay(name, command_timeout=timeout)
    for capture, index, command, attrs in EXPECTED:
        if capture != name:
            continue
        assert steps[index].command == command
        outcome, hung_up = outcomes[index]
        attrs = dict(attrs)
        if "hung_up" in attrs:
            assert hung_up is attrs.pop("hung_up"), command
        if "error" in attrs:
            assert type(outcome) is attrs.pop("error"), (command, outcome)
        if "usage" in attrs:
            assert type(outcome) is AGIUsageError and outcome.usage == attrs.pop("usage"), command
        for key, value in attrs.items():
            assert getattr(outcome, key) == value, (command, key, outcome)


async def test_basic_env_block() -> None:
    env_lines, *_ = capture_script("agi-basic.txt")
    env = parse_env("".join(env_lines).encode())
    assert env.script == "basic"
    assert env.query == {"case": "basic", "line": "lab"}
    assert env.args == ["first arg", "second arg with spaces", "", "last"]
    assert env.caller_name == "Иван Петров" and env.caller_number == "79161234567"
    assert env.channel == "Local/idle@caller-sim-0000000e;1"
    assert env.uniqueid == "1795699628.28"
    assert env.extension == "proto" and env.context == "agi-lab" and env.language == "ru"
    assert env.dnid is None  # "unknown" for Local channels
    assert env.fields["agi_accountcode"] == ""
    assert list(env.fields)[:3] == ["agi_network", "agi_network_script", "agi_request"]
    assert len(env.fields) == 26  # 22 standard keys + 4 args


async def test_ivr_env_routing() -> None:
    env_lines, *_ = capture_script("agi-ivr-invalid-then-valid.txt")
    env = parse_env("".join(env_lines).encode())
    assert env.script == "ivr" and env.query == {"line": "117"} and env.args == []


def sent_commands() -> set[str]:
    return {c for name in CAPTURES for c in read_transcript(CAPTURE_DIR / name).sent()}


@pytest.mark.parametrize(
    "call, captured",
    [
        (("ANSWER",), "ANSWER\n"),
        (("SET VARIABLE", "IVR_TEST", "hello world"), 'SET VARIABLE IVR_TEST "hello world"\n'),
        (("SET VARIABLE", "UTF8_TEST", "Привет, мир"), 'SET VARIABLE UTF8_TEST "Привет, мир"\n'),
        (("SET VARIABLE", "IVR_LINE", "122"), "SET VARIABLE IVR_LINE 122\n"),
        (("GET FULL VARIABLE", "${CALLERID(num)}"), "GET FULL VARIABLE ${CALLERID(num)}\n"),
        (("STREAM FILE", "beep", Quoted("")), 'STREAM FILE beep ""\n'),
        (("STREAM FILE", "dir-welcome", Quoted("0123456789*#")), 'STREAM FILE dir-welcome "0123456789*#"\n'),
        (("GET DATA", "vm-enter-num-to-call", 4000, 1), "GET DATA vm-enter-num-to-call 4000 1\n"),
        (("VERBOSE", "Bridge says: проверка связи", 1), 'VERBOSE "Bridge says: проверка связи" 1\n'),
        (("DATABASE PUT", "ivrlab", "key with space", "value with space"),
         'DATABASE PUT ivrlab "key with space" "value with space"\n'),
        (("SET CALLERID", '"Тестовый Абонент" <74950000000>'), 'SET CALLERID "\\"Тестовый Абонент\\" <74950000000>"\n'),
        (("EXEC", "Verbose", "1,EXEC Verbose with a comma, and spaces"),
         'EXEC Verbose "1,EXEC Verbose with a comma, and spaces"\n'),
        (("WAIT FOR DIGIT", -1), "WAIT FOR DIGIT -1\n"),
    ],
)
def test_format_command_reproduces_captured_commands(call, captured) -> None:
    assert captured in sent_commands()  # the expectation is a real captured line
    assert format_command(*call) == captured.encode()


async def test_typed_helpers_against_ivr_capture() -> None:
    """The IVR helpers produce the captured bytes and decode the captured answers."""
    env_lines, steps = capture_script("agi-ivr-topic2.txt")
    fake = FakeAsterisk(env_lines, steps)
    seen: dict[str, object] = {}

    async def handler(channel: AGIChannel) -> None:
        await channel.answer()
        seen["scenario"] = await channel.get_variable("SCENARIO")
        seen["caller"] = await channel.get_full_variable("${CALLERID(num)}")
        await channel.set_variable("IVR_LINE", "122")
        greeting = await channel.stream_file("dir-welcome", "0123456789*#")
        seen["greeting"] = (greeting.digit, greeting.endpos)
        menu = await channel.get_data("vm-enter-num-to-call", 4000, 1)
        seen["menu"] = (menu.digits, menu.timed_out, menu.failed)
        await channel.set_variable("IVR_QUEUE", "housing")
        await channel.set_variable("IVR_TOPIC", "2")
        await channel.verbose("IVR: line 122 topic 2 -> queue housing", 1)
        seen["info"] = (await channel.stream_file("one-moment-please")).endpos
        seen["hung_up"] = channel.hung_up

    async with FastAGIServer(handler, port=0) as server:
        await asyncio.wait_for(fake.run(server.port), 5)
    assert fake.mismatch is None, fake.mismatch
    assert seen == {
        "scenario": "topic2",
        "caller": "79161234567",
        "greeting": (None, 15360),
        "menu": ("2", False, False),
        "info": 11840,
        "hung_up": False,
    }


async def test_channel_status_tells_missing_prompt_from_hangup() -> None:
    """After result=-1: CHANNEL STATUS is 6 on a live channel (A7) and 511 on a dead one (A8)."""
    results = {}
    for name, status_step in (("agi-basic.txt", 2), ("agi-hangup-mid-command.txt", 6)):
        env_lines, steps = capture_script(name)
        steps = steps[: status_step + 1]
        assert steps[-1].command == "CHANNEL STATUS\n"
        fake = FakeAsterisk(env_lines, steps)

        async def handler(channel: AGIChannel, steps=steps, name=name) -> None:
            for step in steps[:-1]:
                try:
                    await channel.command(step.command)
                except AGIError:
                    pass
            try:
                results[name] = await channel.channel_status()
            except AGIDeadChannel as exc:
                results[name] = exc

        async with FastAGIServer(handler, port=0) as server:
            await asyncio.wait_for(fake.run(server.port), 5)
        assert fake.mismatch is None
    assert results["agi-basic.txt"] == 6
    assert isinstance(results["agi-hangup-mid-command.txt"], AGIDeadChannel)


def test_every_capture_is_covered() -> None:
    names = set(CAPTURES)
    assert len(names) == 33
    assert {n for n in names if n.endswith(".report.txt")} and {n for n in names if n.endswith(".caller-driver.txt")}
