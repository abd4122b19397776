"""FastAGIServer / AGIChannel under bad peers, limits, timeouts, shutdown and load (real loopback TCP)."""

from __future__ import annotations

import asyncio
import logging
import resource
import time

import pytest
from helpers import read_transcript

from asterisk_bridge.fastagi import (
    AGIChannel,
    AGICommandError,
    AGICommandTimeout,
    AGIConnectionClosed,
    AGIDeadChannel,
    AGIEnvError,
    AGIError,
    AGIInvalidCommand,
    AGIProtocolError,
    AGIUsageError,
    FastAGIServer,
    Quoted,
    format_command,
    parse_env,
    parse_reply,
    quote_arg,
)

ENV = "".join(read_transcript("fastagi/agi-ivr-topic2.txt").env_block()).encode()
LOG = "asterisk_bridge.fastagi"


async def connect(port: int, host: str = "127.0.0.1", local: str | None = None):
    return await asyncio.open_connection(host, port, local_addr=(local, 0) if local else None)


async def read_eof(reader: asyncio.StreamReader, timeout: float = 3.0) -> bytes:
    """Everything until the server closes; fails the test if it never does.

    A close with our bytes still unread in the server's buffer is a TCP reset, which is fine too.
    """
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


async def answer_all(reader, writer, reply: bytes = b"200 result=0\n") -> list[bytes]:
    """A trivial Asterisk: answer every command line with `reply` until EOF."""
    received = []
    while line := await reader.readline():
        received.append(line)
        writer.write(reply)
    writer.close()
    return received


def recording_handler(log: list):
    async def handler(channel: AGIChannel) -> None:
        log.append(("env", channel.env))
        log.append(("answer", await channel.command("ANSWER")))

    return handler


async def test_connect_and_close_at_once_does_not_hurt(caplog) -> None:
    calls: list = []
    async with FastAGIServer(recording_handler(calls), port=0) as server:
        for _ in range(3):
            _, writer = await connect(server.port)
            writer.close()
            await writer.wait_closed()
        reader, writer = await connect(server.port)
        writer.write(ENV)
        received = await asyncio.wait_for(answer_all(reader, writer), 3)
        assert received == [b"ANSWER\n"]
        for _ in range(100):  # the three empty connections are processed concurrently
            if server.rejected == 3 and server.active == 0:
                break
            await asyncio.sleep(0.01)
        assert server.rejected == 3 and server.served == 1 and server.active == 0
    assert [kind for kind, _ in calls] == ["env", "answer"]
    # the first is logged with its detail, the other two are counted into one line (badpeers.py)
    dropped = [r for r in caplog.records if r.getMessage().startswith("FastAGI session from")]
    assert len(dropped) == 1 and dropped[0].levelno == logging.WARNING
    assert "127.0.0.1:" in dropped[0].getMessage() and "closed before sending anything" in dropped[0].getMessage()
    summary = [r.getMessage() for r in caplog.records if "bad FastAGI connections" in r.getMessage()]
    assert len(summary) == 1 and summary[0].startswith("3 bad FastAGI connections from 127.0.0.1 in the last ")
    assert ": 3 closed early (last: connection closed before sending anything)" in summary[0]


@pytest.mark.parametrize(
    "payload, problem",
    [
        (b"GET / HTTP/1.0\nHost: x\n\n", "is not of the form"),
        (b"agi_network: yes\nagi_network_script ivr\n\n", "is not of the form"),
        (b"\n\n", "empty env block"),
        (b"agi_network: yes\nagi_request: agi://x/ivr", "before the env block's blank line"),
    ],
)
async def test_garbage_env_is_dropped_and_server_keeps_serving(caplog, payload: bytes, problem: str) -> None:
    calls: list = []
    async with FastAGIServer(recording_handler(calls), port=0, env_timeout=5) as server:
        reader, writer = await connect(server.port)
        writer.write(payload)
        if not payload.endswith(b"\n\n"):
            writer.write_eof()
        started = time.monotonic()
        assert await read_eof(reader) == b""
        assert time.monotonic() - started < 1  # detected at once, not by the env timeout
        writer.close()
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await asyncio.wait_for(answer_all(reader, writer), 3) == [b"ANSWER\n"]
    assert len(calls) == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and problem in r.getMessage()]
    assert len(warnings) == 1 and "127.0.0.1:" in warnings[0].getMessage()


async def test_env_over_the_limit(caplog) -> None:
    calls: list = []
    async with FastAGIServer(recording_handler(calls), port=0, env_limit=1024) as server:
        # A complete block, but larger than env_limit.
        reader, writer = await connect(server.port)
        writer.write(b"agi_network: yes\n" + b"agi_x: " + b"a" * 2000 + b"\n\n")
        assert await read_eof(reader) == b""
        writer.close()
    async with FastAGIServer(recording_handler(calls), port=0) as server:
        # No blank line at all: dropped when the 64 KiB limit is passed, without waiting for the timeout.
        reader, writer = await connect(server.port)
        started = time.monotonic()
        writer.write(b"agi_network: yes\n" * 5000)  # 85 000 bytes
        assert await read_eof(reader) == b""
        assert time.monotonic() - started < 2
        writer.close()
    assert calls == []
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("2026 bytes is larger than 1024" in m for m in messages)
    assert any("larger than 65536 bytes" in m for m in messages)


async def test_env_timeout(caplog) -> None:
    calls: list = []
    async with FastAGIServer(recording_handler(calls), port=0, env_timeout=0.2) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV[:100])
        started = time.monotonic()
        assert await read_eof(reader) == b""
        assert 0.15 < time.monotonic() - started < 2
        writer.close()
    assert calls == []
    assert any("no complete env block within 0.2 s (100 bytes received)" in r.getMessage() for r in caplog.records)


async def test_non_utf8_caller_id_never_crashes() -> None:
    env = ENV.replace("Иван Петров".encode(), b"\xff\xfe\xd0 Ivan").replace(b"79161234567", b"7916\xc0")
    seen = {}

    async def handler(channel: AGIChannel) -> None:
        seen["name"] = channel.env.caller_name
        seen["number"] = channel.env.caller_number
        seen["reply"] = (await channel.command("GET VARIABLE X")).data

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(env)
        await asyncio.wait_for(answer_all(reader, writer, b"200 result=1 (\xd0\xb0\xff)\n"), 3)
    assert seen == {"name": "\ufffd\ufffd\ufffd Ivan", "number": "7916\ufffd", "reply": "а\ufffd"}


async def test_connection_closed_in_the_middle_of_a_command() -> None:
    outcome = {}

    async def handler(channel: AGIChannel) -> None:
        try:
            await channel.command("STREAM FILE tt-monkeys \"\"")
        except AGIConnectionClosed as exc:
            outcome["error"] = exc
        try:
            await channel.command("NOOP")
        except AGIConnectionClosed as exc:
            outcome["after"] = exc

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await reader.readline() == b'STREAM FILE tt-monkeys ""\n'
        writer.write(b"200 result=0 end")  # half a line, then EOF
        writer.close()
        for _ in range(200):
            if "after" in outcome:
                break
            await asyncio.sleep(0.01)
    assert "partial line b'200 result=0 end'" in str(outcome["error"])
    assert "is closed" in str(outcome["after"])


async def test_allow_list(caplog) -> None:
    calls: list = []
    async with FastAGIServer(recording_handler(calls), port=0, allow=("127.0.0.2",)) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await read_eof(reader) == b""
        writer.close()
        assert server.rejected == 1
    assert calls == []
    refused = [r for r in caplog.records if "not in fastagi.allow" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING and "127.0.0.1:" in refused[0].getMessage()

    for allow in (("127.0.0.1",), ("10.0.0.0/8", "127.0.0.0/8")):
        async with FastAGIServer(recording_handler(calls), port=0, allow=allow) as server:
            reader, writer = await connect(server.port)
            writer.write(ENV)
            assert await asyncio.wait_for(answer_all(reader, writer), 3) == [b"ANSWER\n"]
    assert len(calls) == 4

    with pytest.raises(ValueError, match="'pbx.example' is not an IP address"):
        FastAGIServer(recording_handler(calls), allow=("pbx.example",))


async def test_command_timeout_makes_the_channel_unusable() -> None:
    outcome = {}

    async def handler(channel: AGIChannel) -> None:
        started = time.monotonic()
        try:
            await channel.command("GET DATA beep 4000 1")
        except AGICommandTimeout as exc:
            outcome["timeout"] = (exc, time.monotonic() - started, channel.closed)
        try:
            await channel.command("NOOP")
        except AGIConnectionClosed as exc:
            outcome["after"] = exc

    async with FastAGIServer(handler, port=0, command_timeout=0.2) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await reader.readline() == b"GET DATA beep 4000 1\n"
        assert await read_eof(reader) == b""  # NOOP was never written
        writer.close()
    exc, elapsed, closed = outcome["timeout"]
    assert "GET DATA beep 4000 1" in str(exc) and 0.15 < elapsed < 1.5 and closed
    assert isinstance(outcome["after"], AGIConnectionClosed)


async def test_graceful_close_waits_for_grace_then_cancels() -> None:
    events: list[str] = []
    release = asyncio.Event()

    async def handler(channel: AGIChannel) -> None:
        mode = channel.env.query["mode"]
        try:
            if mode == "quick":
                await release.wait()
                await channel.command("NOOP")  # still allowed while the server drains
                events.append("quick done")
            else:
                await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append(f"{mode} cancelled")
            raise

    async def session(port: int, mode: str) -> list[bytes]:
        reader, writer = await connect(port)
        writer.write(ENV.replace(b"ivr?line=122", b"ivr?mode=" + mode.encode()))
        return await answer_all(reader, writer)

    server = FastAGIServer(handler, port=0)
    await server.start()
    clients = [asyncio.create_task(session(server.port, m)) for m in ("quick", "slow")]
    for _ in range(200):
        if server.active == 2:
            break
        await asyncio.sleep(0.01)
    assert server.active == 2
    asyncio.get_running_loop().call_later(0.1, release.set)
    started = time.monotonic()
    await server.close(grace=0.5)
    elapsed = time.monotonic() - started
    assert 0.45 < elapsed < 2
    assert events == ["quick done", "slow cancelled"]
    quick, slow = await asyncio.wait_for(asyncio.gather(*clients), 3)  # both sockets closed by the server
    assert quick == [b"NOOP\n"] and slow == []
    assert server.active == 0 and server.served == 2
    with pytest.raises(OSError):
        await connect(server.port)


async def test_handler_exception_is_logged_and_server_keeps_serving(caplog) -> None:
    async def handler(channel: AGIChannel) -> None:
        if channel.env.query.get("line") == "122":
            raise RuntimeError("menu blew up")
        await channel.command("ANSWER")

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await read_eof(reader) == b""
        writer.close()
        reader, writer = await connect(server.port)
        writer.write(ENV.replace(b"line=122", b"line=117"))
        assert await asyncio.wait_for(answer_all(reader, writer), 3) == [b"ANSWER\n"]
        assert server.failed == 1 and server.served == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "127.0.0.1:" in errors[0].getMessage() and "uniqueid 1795699537.6" in errors[0].getMessage()
    assert errors[0].exc_info[0] is RuntimeError


async def test_unparseable_and_oversized_reply_lines() -> None:
    outcome = []

    async def handler(channel: AGIChannel) -> None:
        try:
            await channel.command("NOOP")
        except AGIProtocolError as exc:
            outcome.append(str(exc))
        outcome.append(channel.closed)

    for reply, expected in ((b"hello there\n", "unparseable reply line 'hello there'"),
                            (b"200 result=1 (" + b"x" * 2000 + b")\n", "is 2016 bytes, over 1024"),
                            (b"200 result=1 (" + b"x" * 9000 + b")\n", "longer than the stream limit")):
        outcome.clear()
        async with FastAGIServer(handler, port=0, line_limit=1024, env_limit=4096) as server:
            reader, writer = await connect(server.port)
            writer.write(ENV)
            await asyncio.wait_for(answer_all(reader, writer, reply), 3)
        assert expected in outcome[0] and outcome[1] is True


async def test_hangup_while_idle_is_seen_with_the_next_reply() -> None:
    states = []

    async def handler(channel: AGIChannel) -> None:
        await channel.command("ANSWER")
        states.append(channel.hung_up)
        await asyncio.sleep(0.05)  # HANGUP arrives now, while idle
        states.append(channel.hung_up)
        states.append((await channel.command("NOOP")).raw)
        states.append(channel.hung_up)

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n")
        await asyncio.sleep(0.01)
        writer.write(b"HANGUP\n")
        assert await reader.readline() == b"NOOP\n"
        writer.write(b"200 result=0\n")
        assert await read_eof(reader) == b""
        writer.close()
    assert states == [False, False, "200 result=0", True]


async def test_non_loopback_host_is_warned(caplog) -> None:
    async with FastAGIServer(recording_handler([]), host="0.0.0.0", port=0):
        pass
    assert any(r.levelno == logging.WARNING and "not a loopback address" in r.getMessage() for r in caplog.records)
    caplog.clear()
    async with FastAGIServer(recording_handler([]), host="127.0.0.1", port=0):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_thousand_concurrent_sessions() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    sessions = 1000
    all_in = asyncio.Event()
    done = []

    async def handler(channel: AGIChannel) -> None:
        await channel.command("ANSWER")
        if server.active >= sessions:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 10)  # every session is open at the same time
        reply = await channel.get_data("cc/122-menu", 5000, 1)
        await channel.set_variable("IVR_TOPIC", reply.digits)
        done.append(reply.digits)

    async def caller(i: int) -> list[bytes]:
        reader, writer = await connect(server.port)
        writer.write(ENV.replace(b"1795699537.6", f"1795699537.{i}".encode()))
        received = []
        while line := await reader.readline():
            received.append(line)
            writer.write(b"200 result=%d\n" % (i % 10) if line.startswith(b"GET DATA") else b"200 result=0\n")
        writer.close()
        return received

    server = FastAGIServer(handler, port=0)
    await server.start()
    try:
        started = time.monotonic()
        results = await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(sessions))), 30)
        elapsed = time.monotonic() - started
    finally:
        await server.close(grace=1)
    assert server.failed == 0 and server.rejected == 0 and server.served == sessions
    assert sorted(done) == sorted(str(i % 10) for i in range(sessions))
    assert all(r[:2] == [b"ANSWER\n", b'GET DATA cc/122-menu 5000 1\n'] and len(r) == 3 for r in results)
    assert elapsed < 15


@pytest.mark.parametrize(
    "args, wire",
    [
        (("ANSWER",), b"ANSWER\n"),
        (("SET VARIABLE", "IVR_RESULT", "topic"), b"SET VARIABLE IVR_RESULT topic\n"),
        (("SET VARIABLE", "IVR_TOPIC", ""), b'SET VARIABLE IVR_TOPIC ""\n'),
        (("VERBOSE", 'say "hi"', 1), b'VERBOSE "say \\"hi\\"" 1\n'),
        (("VERBOSE", "a\\b", 1), b'VERBOSE "a\\\\b" 1\n'),
        (("VERBOSE", "tab\there", 2), b'VERBOSE "tab\there" 2\n'),
        (("STREAM FILE", "cc/122-menu", Quoted("")), b'STREAM FILE cc/122-menu ""\n'),
        (("STREAM FILE", "cc/greeting", Quoted("123*")), b'STREAM FILE cc/greeting "123*"\n'),
        (("GET DATA", "cc/menu", 5000, 1), b"GET DATA cc/menu 5000 1\n"),
        (("SET VARIABLE", "NAME", "Иван Петров"), 'SET VARIABLE NAME "Иван Петров"\n'.encode()),
    ],
)
def test_format_command_quoting(args, wire) -> None:
    assert format_command(*args) == wire


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "line\n", "nul\x00"])
def test_format_command_rejects_line_breaks(bad) -> None:
    with pytest.raises(AGICommandError, match="line break"):
        format_command("SET VARIABLE", "X", bad)
    with pytest.raises(AGICommandError, match="line break"):
        format_command("VERBOSE" + bad)


def test_format_command_rejects_other_types() -> None:
    with pytest.raises(AGICommandError, match="NoneType"):
        quote_arg(None)  # type: ignore[arg-type]
    with pytest.raises(AGICommandError, match="bool"):
        format_command("WAIT FOR DIGIT", True)  # type: ignore[arg-type]


async def test_command_input_checks_before_anything_is_sent() -> None:
    errors = []

    async def handler(channel: AGIChannel) -> None:
        for bad in ("NOOP\r", "SET VARIABLE X a\nNOOP", b"NOOP", b"NOOP\nNOOP\n", ""):
            try:
                await channel.command(bad)
            except AGICommandError as exc:
                errors.append(str(exc))
        try:
            await channel.stream_file("beep", "12x")
        except AGICommandError as exc:
            errors.append(str(exc))
        await channel.command("NOOP\n")

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await asyncio.wait_for(answer_all(reader, writer), 3) == [b"NOOP\n"]
    assert len(errors) == 6 and "'x' is not a DTMF key" in errors[-1]


async def test_a_second_command_while_one_runs_is_refused_and_nothing_is_sent() -> None:
    outcome: dict = {}

    async def handler(channel: AGIChannel) -> None:
        first = asyncio.ensure_future(channel.stream_file("cc/122-menu", "12"))
        await asyncio.sleep(0)  # the first command is on the wire, its reply not yet read
        try:
            await channel.command("NOOP")
        except AGICommandError as exc:
            outcome["refused"] = str(exc)
        outcome["first"] = (await first).digit
        outcome["after"] = (await channel.command("NOOP")).result

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await asyncio.wait_for(reader.readline(), 3) == b'STREAM FILE cc/122-menu "12"\n'
        await asyncio.sleep(0.05)  # a refused command would have been written by now
        writer.write(b"200 result=50 endpos=1200\n")  # "2" (ASCII 50) interrupted the prompt
        assert await asyncio.wait_for(reader.readline(), 3) == b"NOOP\n"
        writer.write(b"200 result=0\n")
        assert await read_eof(reader) == b""
    assert outcome == {"refused": "NOOP: another command is still running on this session", "first": "2",
                       "after": "0"}


@pytest.mark.parametrize(
    "line, code, result, data, endpos, text",
    [  # every shape of reply line seen in the captures
        ("200 result=0", 200, "0", None, None, ""),
        ("200 result=-1", 200, "-1", None, None, ""),
        ("200 result=-2", 200, "-2", None, None, ""),
        ("200 result=6", 200, "6", None, None, ""),
        ("200 result= (timeout)", 200, "", "timeout", None, ""),
        ("200 result=7 (timeout)", 200, "7", "timeout", None, ""),
        ("200 result=*9", 200, "*9", None, None, ""),
        ("200 result=53 endpos=9760", 200, "53", None, 9760, ""),
        ("200 result=-1 endpos=0", 200, "-1", None, 0, ""),
        ("200 result=0 endpos=-1", 200, "0", None, -1, ""),
        ("200 result=1 (hello world)", 200, "1", "hello world", None, ""),
        ("200 result=1 (Привет, мир)", 200, "1", "Привет, мир", None, ""),
        ("200 result=1 ()", 200, "1", "", None, ""),
        ("200 result=1 (abc\r)", 200, "1", "abc\r", None, ""),
        ("200 result=1 ([abc\r]\r)", 200, "1", "[abc\r]\r", None, ""),
        ("200 result=1 (Local/idle@caller-sim-0000000e;1)", 200, "1", "Local/idle@caller-sim-0000000e;1", None, ""),
        ('200 result=1 ("Тестовый Абонент" <74950000000>)', 200, "1", '"Тестовый Абонент" <74950000000>', None, ""),
        ("200 result=0 Gosub complete", 200, "0", None, None, "Gosub complete"),
        ("100 result=0 Trying...", 100, "0", None, None, "Trying..."),
        ("510 Invalid or unknown command", 510, "", None, None, "Invalid or unknown command"),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, "", None, None,
         "Command Not Permitted on a dead channel or intercept routine"),
        ("520 End of proper usage.", 520, "", None, None, "End of proper usage."),
    ],
)
def test_parse_reply_table(line, code, result, data, endpos, text) -> None:
    reply = parse_reply(line + "\n")
    assert (reply.code, reply.result, reply.data, reply.endpos, reply.text, reply.raw) == (
        code, result, data, endpos, text, line)


@pytest.mark.parametrize("line, digit, digits", [
    ("200 result=53 endpos=9760", "5", "53"), ("200 result=35", "#", "35"), ("200 result=42", "*", "42"),
    ("200 result=0", None, "0"), ("200 result=-1", None, None), ("200 result=1", None, "1"),
    ("200 result=12", None, "12"), ("200 result=*9", None, "*9"), ("200 result= (timeout)", None, ""),
])
def test_reply_digit_and_digits(line, digit, digits) -> None:
    reply = parse_reply(line)
    assert (reply.digit, reply.digits) == (digit, digits)


@pytest.mark.parametrize("line", ["", "HANGUP", "200", "200 ok", "abc result=1", "520-Invalid command syntax.",
                                  "200 result=0 endpos=x1", "٢٠٠ result=0"])
def test_parse_reply_rejects_garbage(line) -> None:
    with pytest.raises(AGIProtocolError):
        parse_reply(line)


def test_parse_env_rules() -> None:
    env = parse_env(b"agi_network_script: ivr?line=122&line=117&x=\nagi_arg_2: b\nagi_arg_1: a\nagi_callerid: unknown\n\n")
    assert env.script == "ivr" and env.query == {"line": "117", "x": ""} and env.args == ["a", "b"]
    assert env.caller_number is None and env.caller_name is None
    env = parse_env(b"agi_request: agi://127.0.0.1:4573/ivr?line=117\n")
    assert env.script == "ivr" and env.query == {"line": "117"}
    env = parse_env(b"agi_network: yes\nagi_accountcode:\nagi_arg_1: a: b\n\n")
    assert env.fields == {"agi_network": "yes", "agi_accountcode": "", "agi_arg_1": "a: b"}
    for bad in (b"", b"\n\n", b"agi_network: yes\n\nagi_x: y\n", b"network: yes\n", b"agi_network yes\n",
                b"agi_network: yes\nagi_bad key: x\n"):
        with pytest.raises(AGIEnvError):
            parse_env(bad)


@pytest.mark.parametrize(
    "lines, expected, usage, hung_up",
    [
        (b"100 result=0 Trying...\n200 result=0 Gosub complete\n", "200 result=0 Gosub complete", None, False),
        (b"HANGUP\n520-Invalid command syntax.  Proper usage follows:\nSets a variable.\n"
         b"    <value>SUCCESS</value>\n520 End of proper usage.\n", AGIUsageError,
         "Sets a variable.\n    <value>SUCCESS</value>", True),
        (b"520 Invalid command syntax.  Proper usage not available.\n", AGIUsageError, "", False),
        (b"511 Command Not Permitted on a dead channel or intercept routine\n", AGIDeadChannel, None, False),
        (b"510 Invalid or unknown command\n", AGIInvalidCommand, None, False),
        (b"403 Forbidden\n", AGIProtocolError, None, False),
    ],
)
async def test_reply_shapes(lines: bytes, expected, usage, hung_up: bool) -> None:
    outcome = {}

    async def handler(channel: AGIChannel) -> None:
        try:
            outcome["reply"] = (await channel.command("NOOP")).raw
        except AGIError as exc:
            outcome["reply"] = exc
        outcome["hung_up"] = channel.hung_up
        outcome["closed"] = channel.closed

    async with FastAGIServer(handler, port=0) as server:
        reader, writer = await connect(server.port)
        writer.write(ENV)
        assert await reader.readline() == b"NOOP\n"
        writer.write(lines)
        assert await read_eof(reader) == b""
        writer.close()
    if isinstance(expected, str):
        assert outcome["reply"] == expected
    else:
        assert type(outcome["reply"]) is expected
        # Error replies leave the session in sync; a broken stream does not.
        assert outcome["closed"] is (expected is AGIProtocolError)
    if usage is not None:
        assert outcome["reply"].usage == usage
    assert outcome["hung_up"] is hung_up
