"""The FastAGI PBX simulator held to the real Asterisk 22 captures (tests/fixtures/asterisk/fastagi/).

A test-side FastAGI server replays the ``>`` commands of a capture, one at a time, waiting for
each reply; the simulator, given the capture's channel and a matching caller script, must send
exactly the capture's ``<`` lines (env block, replies, usage blocks, HANGUP lines), only the
listening port in ``agi_request`` differs.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import free_port, read_transcript

from asterisk_bridge.pbxsim.agi_commands import REPLY_DEAD, find_command, parse_args
from asterisk_bridge.pbxsim.fastagi_client import (
    AGICallResult,
    Caller,
    CallerScriptError,
    HangUp,
    Press,
    Silence,
    SimulatedChannel,
    run_agi_call,
)
from asterisk_bridge.pbxsim.sounds import LAB_PROMPT_MS

FAST = 1000.0  # 2 s prompts take 2 ms
PROMPTS = {**LAB_PROMPT_MS, "demo-congrats": 5000}


def exchanges(transcript) -> list[tuple[str, list[str]]]:
    """The capture as (command sent, lines received until the next command)."""
    groups: list[tuple[str, list[str]]] = []
    for record in transcript.records:
        if record.direction == ">":
            groups.append((record.payload, []))
        elif record.direction == "<" and groups:
            groups[-1][1].append(record.payload)
    return groups


def channel_from_capture(transcript, **variables: str) -> tuple[SimulatedChannel, Caller]:
    env = dict(line[:-1].split(": ", 1) for line in transcript.env_block()[:-1])
    args = [env[k] for k in sorted((k for k in env if k.startswith("agi_arg_")), key=lambda k: int(k[8:]))]
    channel = SimulatedChannel(
        line=env["agi_extension"], uniqueid=env["agi_uniqueid"], channel=env["agi_channel"],
        context=env["agi_context"], extension=env["agi_extension"], priority=int(env["agi_priority"]),
        language=env["agi_language"], script=env["agi_network_script"], args=args,
        threadid=int(env["agi_threadid"]), variables=dict(variables),
    )
    return channel, Caller(number=env["agi_callerid"], name=env["agi_calleridname"])


async def read_reply(reader: asyncio.StreamReader, got: list[str]) -> None:
    """One complete reply: skips (but records) HANGUP and 100 lines, reads 520 blocks whole."""
    while True:
        raw = await reader.readline()
        assert raw, f"EOF while waiting for a reply; got so far: {got[-3:]}"
        line = raw.decode()
        got.append(line)
        if line == "HANGUP\n" or line.startswith("100 "):
            continue
        if line.startswith("520-"):
            while not line.startswith("520 "):
                line = (await reader.readline()).decode()
                got.append(line)
        return


async def replay(capture: str, reactions=(), *, skip=None, variables=None, sounds=None,
                 speed=FAST) -> tuple[AGICallResult, list[str], list[str]]:
    """Run the simulator against a server replaying ``capture``; (result, got, expected)."""
    transcript = read_transcript(f"fastagi/{capture}.txt")
    groups = exchanges(transcript)
    if skip is not None:
        groups = [g for i, g in enumerate(groups) if not skip(i, g[0])]
    got: list[str] = []

    async def handle(reader, writer):
        while True:
            line = (await reader.readline()).decode()
            got.append(line)
            if line in ("\n", ""):
                break
        for command, _ in groups:
            writer.write(command.encode())
            await writer.drain()
            await read_reply(reader, got)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel, caller = channel_from_capture(transcript, **(variables or {}))
    caller.reactions = tuple(reactions)
    async with server:
        result = await run_agi_call("127.0.0.1", port, channel, caller, speed=speed,
                                    prompt_ms=PROMPTS, sounds=sounds, timeout=10)
    expected = [line.replace("127.0.0.1:4573/", f"127.0.0.1:{port}/") for line in transcript.env_block()]
    expected += [line for _, lines in groups for line in lines]
    return result, got, expected


async def test_topic_chosen_in_menu_matches_capture():
    result, got, expected = await replay("agi-ivr-topic2", [Silence(), Press("2", 290)],
                                         variables={"SCENARIO": "topic2"})
    assert got == expected
    assert result.sent_lines() == got
    assert result.agistatus == "SUCCESS" and not result.hung_up
    assert result.variables["IVR_QUEUE"] == "housing"


async def test_invalid_then_valid_key_matches_capture():
    reactions = [Silence(), Press("9", 280), Press("1", 2770)]
    result, got, expected = await replay("agi-ivr-invalid-then-valid", reactions,
                                         variables={"SCENARIO": "invalid-then-valid"})
    assert got == expected
    assert result.agistatus == "SUCCESS"


async def test_menu_timeouts_match_capture():
    result, got, expected = await replay("agi-ivr-timeout", [Silence()] * 3, variables={"SCENARIO": "timeout"})
    assert got == expected
    assert got.count("200 result= (timeout)\n") == 2
    assert "IVR_QUEUE" not in result.variables


async def test_abandon_scenario_menu_matches_capture():
    result, got, expected = await replay("agi-ivr-abandon", [Silence(), Press("3", 286)],
                                         variables={"SCENARIO": "abandon"})
    assert got == expected


async def test_hangup_in_menu_sends_minus_one_then_hangup_line():
    result, got, expected = await replay("agi-ivr-hangup-in-menu", [Silence(), HangUp(83)],
                                         variables={"SCENARIO": "hangup-in-menu"})
    assert got == expected
    assert got[-4:] == ["200 result=-1\n", "HANGUP\n", "200 result=1\n", "200 result=1\n"]
    assert result.agistatus == "HANGUP" and result.hung_up
    assert result.variables["IVR_RESULT"] == "hangup"


async def test_missing_prompt_matches_capture_and_fails_the_agi():
    sounds = {"beep", "dir-welcome", "vm-enter-num-to-call"}
    result, got, expected = await replay("agi-missing-prompt", sounds=sounds)
    assert got == expected
    assert result.agistatus == "FAILURE"


async def test_get_data_of_missing_prompt_alone_does_not_fail_the_agi():
    result, got, _ = await replay("agi-missing-prompt", sounds={"beep"},
                                  skip=lambda i, cmd: cmd.startswith("STREAM FILE no-such-file"))
    assert "200 result=-1\n" in got
    assert result.agistatus == "SUCCESS"


async def test_hangup_mid_command_and_dead_channel_table_match_capture():
    result, got, expected = await replay("agi-hangup-mid-command", [HangUp(1820)])
    assert got == expected  # endpos=14560, HANGUP, then the 511/200/510 table
    assert result.agistatus == "HANGUP"
    assert result.variables["AFTER_HANGUP"] == "yes"


async def test_hangup_command_matches_capture():
    result, got, expected = await replay("agi-hangup-command")
    assert got == expected
    assert result.agistatus == "HANGUP"


async def test_crlf_commands_match_capture():
    result, got, expected = await replay("agi-crlf-commands")
    assert got == expected
    assert result.variables["CRLF_TEST"] == "abc\r"
    assert result.commands[0] == "NOOP\r"


async def test_basic_session_with_usage_blocks_matches_capture():
    # everything in agi-basic up to GOSUB, which the simulator does not play
    transcript = read_transcript("fastagi/agi-basic.txt")
    gosub_at = next(i for i, (cmd, _) in enumerate(exchanges(transcript)) if cmd.startswith("GOSUB"))
    result, got, expected = await replay("agi-basic", skip=lambda i, cmd: i >= gosub_at)
    assert got == expected
    assert result.agistatus == "SUCCESS"
    assert result.variables["UTF8_TEST"] == "Привет, мир"


async def test_dtmf_handling_matches_capture():
    reactions = [
        Press("5", 1220), Silence(), Press("7", 500),  # escape digit, nothing, non-escape digit
        Press("12#", 800), Press("456", 800), Silence(), Press("7", 800),  # GET DATA: #, max, timeouts
        Press("3", 1000), Press("*9#", 800),  # barge-in, *9#
        Press("8", 1000), Silence(), Press("*", 1000),  # WAIT FOR DIGIT
        Press("2", 1000), Silence(), Press("1", 500), Silence(),  # GET OPTION, SAY DIGITS, idle DTMF lost
    ]
    transcript = read_transcript("fastagi/agi-dtmf.txt")
    groups = exchanges(transcript)
    control_from = next(i for i, (c, _) in enumerate(groups) if c.startswith("CONTROL STREAM FILE"))
    option_from = next(i for i, (c, _) in enumerate(groups) if c.startswith("GET OPTION"))
    result, got, expected = await replay("agi-dtmf", reactions,
                                         skip=lambda i, cmd: control_from <= i < option_from)
    assert got == expected


async def test_bytes_written_during_a_command_abort_it_without_reply():
    """A10, agi-write-during-command: the same lines arrive when a command is written mid-prompt."""
    transcript = read_transcript("fastagi/agi-write-during-command.txt")
    commands = transcript.sent()
    got: list[str] = []

    async def handle(reader, writer):
        while (await reader.readline()) != b"\n":
            pass
        writer.write(commands[0].encode())  # ANSWER
        await read_reply(reader, got)
        for running, interrupting in ((1, 2), (3, 4), (5, 6)):
            writer.write(commands[running].encode())
            await asyncio.sleep(0.05)  # the command is playing (5 s at speed 10)
            writer.write(commands[interrupting].encode())
            await read_reply(reader, got)
        if commands[5].startswith("WAIT FOR DIGIT"):
            await read_reply(reader, got)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    channel, caller = channel_from_capture(transcript)
    started = time.monotonic()
    async with server:
        result = await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], channel, caller,
                                    speed=10, prompt_ms=PROMPTS, timeout=10)
    assert time.monotonic() - started < 1.0  # three 500 ms prompts were cut short
    assert got == transcript.received()[len(transcript.env_block()):]
    assert result.agistatus == "SUCCESS"


async def test_pipelined_commands_wait_for_new_bytes_like_asterisk():
    """agi-pipelined: only the first of 7 commands is answered until more bytes arrive."""
    transcript = read_transcript("fastagi/agi-pipelined.txt")
    sent = transcript.sent()
    burst, noops = "".join(sent[:7]), sent[7:]
    expected = transcript.received()[len(transcript.env_block()):]
    got: list[str] = []

    async def handle(reader, writer):
        while (await reader.readline()) != b"\n":
            pass
        writer.write(burst.encode())
        got.append((await reader.readline()).decode())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await reader.readline()  # nothing more until we write again
        for noop in noops:
            writer.write(noop.encode())
            while len(got) < len(expected):
                try:
                    async with asyncio.timeout(0.1):
                        line = await reader.readline()
                except TimeoutError:
                    break
                got.append(line.decode())
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    channel, caller = channel_from_capture(transcript)
    async with server:
        await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], channel, caller,
                           speed=FAST, prompt_ms=PROMPTS, timeout=10)
    assert got == expected


async def test_connect_refused_gives_failure_without_raising():
    result = await run_agi_call("127.0.0.1", free_port(), SimulatedChannel(), Caller())
    assert result.agistatus == "FAILURE"
    assert result.connect_error and "ConnectionRefused" in result.connect_error
    assert result.transcript == [] and not result.hung_up


async def _script_server(script):
    """A FastAGI server running ``script(reader, writer)`` after reading the env block."""

    async def handle(reader, writer):
        while (await reader.readline()) not in (b"\n", b""):
            pass
        try:
            await script(reader, writer)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def ask(reader, writer, command: str) -> list[str]:
    got: list[str] = []
    writer.write(command.encode())
    await read_reply(reader, got)
    return got


async def test_dead_channel_refuses_media_and_state_commands():
    answers: dict[str, list[str]] = {}

    async def script(reader, writer):
        assert await ask(reader, writer, 'STREAM FILE beep ""\n') == ["200 result=-1 endpos=800\n"]
        for command in ("ANSWER", 'STREAM FILE beep ""', "GET DATA beep 100 1", "WAIT FOR DIGIT 10",
                        "CHANNEL STATUS", "SET MUSIC ON default", "HANGUP", "GET OPTION beep 1",
                        "SAY DIGITS 12 \"\"", "SET VARIABLE A b", "GET VARIABLE A",
                        "GET FULL VARIABLE ${A}", "VERBOSE hi 1", "DATABASE PUT f k v", "EXEC NoOp x",
                        "NOOP", "FOO", "SET VARIABLE", "STREAM FILE"):
            answers[command] = await ask(reader, writer, command + "\n")

    server = await _script_server(script)
    async with server:
        result = await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], SimulatedChannel(),
                                    Caller(reactions=[HangUp(100)]), speed=FAST, timeout=10)
    assert answers["ANSWER"] == ["HANGUP\n", REPLY_DEAD]  # the HANGUP line comes first
    dead = ["STREAM FILE beep \"\"", "GET DATA beep 100 1", "WAIT FOR DIGIT 10", "CHANNEL STATUS",
            "SET MUSIC ON default", "HANGUP", "GET OPTION beep 1", 'SAY DIGITS 12 ""', "STREAM FILE"]
    assert {c: answers[c] for c in dead} == {c: [REPLY_DEAD] for c in dead}  # even a usage error (A4)
    assert answers["SET VARIABLE"][-1] == "520 End of proper usage.\n"  # runs dead, so 520
    assert answers["GET VARIABLE A"] == ["200 result=1 (b)\n"]
    assert answers["GET FULL VARIABLE ${A}"] == ["200 result=1 (b)\n"]
    assert answers["VERBOSE hi 1"] == ["200 result=1\n"]
    assert answers["DATABASE PUT f k v"] == ["200 result=1\n"]
    assert answers["EXEC NoOp x"] == ["200 result=0\n"]
    assert answers["NOOP"] == ["200 result=0\n"]
    assert answers["FOO"] == ["510 Invalid or unknown command\n"]
    assert result.agistatus == "HANGUP" and result.hung_up


async def test_hangup_line_arrives_by_itself_when_the_server_is_idle():
    lines: list[str] = []

    async def script(reader, writer):
        lines.extend(await ask(reader, writer, "GET DATA beep 1000 1\n"))
        lines.append((await asyncio.wait_for(reader.readline(), 1)).decode())

    server = await _script_server(script)
    async with server:
        result = await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], SimulatedChannel(),
                                    Caller(reactions=[HangUp(50)]), speed=10, timeout=10)
    assert lines == ["200 result=-1\n", "HANGUP\n"]
    t_reply, t_hangup = (t for t, d, p in result.transcript if p in ("200 result=-1\n", "HANGUP\n"))
    assert 0.002 <= t_hangup - t_reply < 0.2  # ~40 ms / speed 10


async def test_session_stays_open_after_hangup_until_timeout():
    async def script(reader, writer):
        await ask(reader, writer, "HANGUP\n")
        await asyncio.sleep(5)

    server = await _script_server(script)
    async with server:
        started = time.monotonic()
        result = await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], SimulatedChannel(),
                                    Caller(), speed=FAST, timeout=0.3)
    assert result.timed_out and result.agistatus == "HANGUP"
    assert result.sent_lines()[-2:] == ["200 result=1\n", "HANGUP\n"]
    assert time.monotonic() - started < 2


async def test_prompt_lengths_and_speed_set_the_timing():
    async def script(reader, writer):
        assert await ask(reader, writer, 'STREAM FILE greeting ""\n') == ["200 result=0 endpos=24000\n"]
        assert await ask(reader, writer, "GET DATA menu 2000 1\n") == ["200 result= (timeout)\n"]

    server = await _script_server(script)
    async with server:
        started = time.monotonic()
        await run_agi_call("127.0.0.1", server.sockets[0].getsockname()[1], SimulatedChannel(), Caller(),
                           speed=20, prompt_ms={"greeting": 3000, "menu": 1000}, timeout=10)
    elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 1.0  # (3000 + 1000 + 2000) ms / 20


async def test_two_hundred_concurrent_calls_complete():
    async def script(reader, writer):
        assert await ask(reader, writer, "ANSWER\n") == ["200 result=0\n"]
        greeting = await ask(reader, writer, 'STREAM FILE cc/greeting "123"\n')
        menu = await ask(reader, writer, "GET DATA cc/menu 5000 1\n")
        key = greeting[0].split("result=")[1].split()[0]
        chosen = chr(int(key)) if key != "0" else menu[0].split("result=")[1].strip()
        await ask(reader, writer, f"SET VARIABLE IVR_TOPIC {chosen}\n")

    server = await _script_server(script)
    port = server.sockets[0].getsockname()[1]
    async with server:
        calls = [
            run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=i),
                         Caller(reactions=[Press("2", 100)] if i % 2 else [Silence(), Press("3", 100)]),
                         speed=FAST, timeout=20)
            for i in range(200)
        ]
        results = await asyncio.gather(*calls)
    assert [r.agistatus for r in results] == ["SUCCESS"] * 200
    assert [r.variables["IVR_TOPIC"] for r in results] == ["2" if i % 2 else "3" for i in range(200)]
    assert len({r.sent_lines()[3] for r in results}) == 200  # distinct agi_channel names


async def test_variables_and_functions_of_the_channel():
    got: dict[str, list[str]] = {}
    commands = ["GET VARIABLE CHANNEL(linkedid)", "GET VARIABLE CHANNEL(name)", "GET VARIABLE CALLERID(num)",
                "GET VARIABLE CALLERID(name)", "GET VARIABLE LINE_NAME", "GET VARIABLE NOPE",
                'GET FULL VARIABLE "${CALLERID(num):-4}/${LINE_NAME}/${NOPE}/${EXTEN}"',
                "SET VARIABLE CHANNEL(language) en", "GET FULL VARIABLE ${CHANNEL(language)}",
                "GET FULL VARIABLE ${UNIQUEID} Local/other@x-00000001;1"]

    async def script(reader, writer):
        for command in commands:
            got[command] = await ask(reader, writer, command + "\n")

    channel = SimulatedChannel(line="117", uniqueid="1795699537.6", linkedid="1795699537.4",
                               channel="Local/a@caller-sim-00000003;1", variables={"LINE_NAME": "Линия 117"})
    server = await _script_server(script)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await run_agi_call("127.0.0.1", port, channel, Caller(number="79990001122", name="Анна"),
                                    speed=FAST, timeout=10)
    assert [got[c][0] for c in commands] == [
        "200 result=1 (1795699537.4)\n", "200 result=1 (Local/a@caller-sim-00000003;1)\n",
        "200 result=1 (79990001122)\n", "200 result=1 (Анна)\n", "200 result=1 (Линия 117)\n",
        "200 result=0\n", "200 result=1 (1122/Линия 117//117)\n", "200 result=1\n", "200 result=1 (en)\n",
        "200 result=0\n",
    ]
    assert result.sent_lines()[2] == f"agi_request: agi://127.0.0.1:{port}/ivr?line=117\n"
    assert result.variables == {"LINE_NAME": "Линия 117"}


def test_argument_parsing_follows_res_agi():
    assert parse_args('SET VARIABLE MULTI "a b" extra words') == ["SET", "VARIABLE", "MULTI", "a b", "extra", "words"]
    assert parse_args('SET CALLERID "\\"Тестовый Абонент\\" <74950000000>"') == [
        "SET", "CALLERID", '"Тестовый Абонент" <74950000000>']
    assert parse_args('STREAM FILE beep ""\r') == ["STREAM", "FILE", "beep", "\r"]
    assert parse_args('STREAM  FILE   beep ""') == ["STREAM", "FILE", "beep", ""]
    assert parse_args("NOOP\r") == ["NOOP\r"]
    assert find_command(parse_args("NOOP\r")) is None
    assert find_command(["answer"]).name == "ANSWER"
    assert find_command(["get", "FULL", "variable", "x"]).name == "GET FULL VARIABLE"
    assert find_command([]) is None


def test_caller_scripts_are_checked():
    with pytest.raises(CallerScriptError, match="'x'"):
        Press("x")
    with pytest.raises(CallerScriptError, match="after_ms -1"):
        HangUp(-1)
    with pytest.raises(CallerScriptError, match=r"reactions\[1\]"):
        Caller(reactions=[Silence(), "2"])


async def test_speed_must_be_positive():
    with pytest.raises(ValueError, match="speed 0"):
        await run_agi_call("127.0.0.1", 1, SimulatedChannel(), Caller(), speed=0)
