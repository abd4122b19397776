"""The menu over real FastAGI sessions: the bridge's server, IVR and store against the PBX simulator.

Each test plays one caller through Asterisk's side of the protocol and checks what the dialplan
would see (the channel variables) and what the database keeps.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from asterisk_bridge.demo import demo_config
from asterisk_bridge.ivr import IVR
from asterisk_bridge.pbxsim.fastagi_client import Caller, HangUp, Press, Silence, SimulatedChannel, run_agi_call
from asterisk_bridge.service import Service
from asterisk_bridge.store import queries
from helpers import free_port

SPEED = 200.0  # prompts of 2 s take 10 ms


@pytest.fixture
def config(tmp_path: Path):
    return demo_config(tmp_path)


async def call(service: Service, line: str, *reactions, seq: int = 1, sounds=None, script: str | None = None):
    channel = SimulatedChannel.for_call(line, sequence=seq, **({"script": script} if script else {}))
    result = await run_agi_call(
        "127.0.0.1", service.fastagi.port, channel, Caller(reactions=reactions), speed=SPEED, sounds=sounds, timeout=20
    )
    await service.store.flush(5)
    return result


def sessions(config) -> list[dict]:
    return list(queries.menu_sessions(config.database.path, steps=True))


async def test_topic_with_age_reaches_the_topic_queue(config):
    async with Service(config) as service:
        # greeting heard out, "2" housing, age key "2" (30-40)
        result = await call(service, "122", Silence(), Press("2"), Press("2"))
    assert result.agistatus == "SUCCESS"
    assert {k: result.variables.get(k) for k in ("IVR_RESULT", "IVR_TOPIC", "IVR_QUEUE", "IVR_AGE_GROUP")} == {
        "IVR_RESULT": "topic", "IVR_TOPIC": "housing", "IVR_QUEUE": "cc-122-housing", "IVR_AGE_GROUP": "30-40",
    }
    [row] = sessions(config)
    assert (row["line"], row["result"], row["topic"], row["queue"], row["age_group"]) == (
        "122", "topic", "housing", "cc-122-housing", "30-40")
    assert row["caller_number"] == "79161234567"
    assert row["linkedid"] == result.variables.get("CHANNEL(linkedid)", row["linkedid"]) and row["linkedid"]
    assert row["uniqueid"] and row["channel"].startswith("Local/")
    kinds = [s["kind"] for s in row["steps"]]
    assert kinds[0] == "prompt" and "key" in kinds and "age" in kinds


async def test_key_pressed_during_the_greeting_is_the_choice(config):
    async with Service(config) as service:
        result = await call(service, "117", Press("1", after_ms=200), Silence())
    assert result.variables["IVR_RESULT"] == "topic"
    assert result.variables["IVR_QUEUE"] == "cc-117-conditions"
    assert result.variables["IVR_AGE_GROUP"] == "unknown"
    # the greeting was interrupted: no GET DATA for the menu was needed
    gets = [c for c in result.commands if c.startswith("GET DATA cc/117-menu")]
    assert gets == []


async def test_invalid_then_valid_and_nested_menu(config):
    async with Service(config) as service:
        result = await call(service, "122", Silence(), Press("9"), Press("4"), Press("2"), Silence())
    v = result.variables
    assert (v["IVR_RESULT"], v["IVR_TOPIC"], v["IVR_QUEUE"]) == ("topic", "health-drugs", "cc-122-health-drugs")
    [row] = sessions(config)
    assert [s["kind"] for s in row["steps"]].count("invalid") == 1


async def test_silence_reaches_the_default_queue_after_the_attempts(config):
    async with Service(config) as service:
        result = await call(service, "122")  # a caller who never presses anything
    assert (result.variables["IVR_RESULT"], result.variables["IVR_QUEUE"]) == ("timeout", "cc-122-default")
    [row] = sessions(config)
    assert [s["kind"] for s in row["steps"]].count("timeout") == config.line_for("122").attempts


async def test_operator_key(config):
    async with Service(config) as service:
        result = await call(service, "117", Silence(), Press("0"), Press("4"))
    assert (result.variables["IVR_RESULT"], result.variables["IVR_QUEUE"]) == ("operator", "cc-117-default")
    assert result.variables["IVR_AGE_GROUP"] == "over-60"


async def test_self_service_then_end(config):
    async with Service(config) as service:
        # where-to-apply is self-service with an operator offer; the caller declines
        result = await call(service, "117", Silence(), Press("3"), Silence(), Silence())
    assert result.variables["IVR_RESULT"] == "selfservice"
    assert result.variables["IVR_QUEUE"] == ""


async def test_hang_up_in_the_menu_is_recorded_and_the_session_closed(config):
    async with Service(config) as service:
        result = await call(service, "122", Silence(), HangUp(after_ms=300))
    assert result.agistatus == "HANGUP"
    assert not result.timed_out  # the bridge closed the session itself (fact A9)
    assert result.variables["IVR_RESULT"] == "hangup"
    [row] = sessions(config)
    assert row["result"] == "hangup" and row["hung_up"] == 1 and row["ended_in"] == "122"
    assert row["steps"][-1]["kind"] == "hangup"


async def test_missing_menu_prompt_is_logged_and_the_call_still_routed(config, caplog):
    caplog.set_level(logging.ERROR, logger="asterisk_bridge.ivr")
    present = {"cc/122-greeting", "cc/invalid-choice", "cc/no-choice", "cc/transfer-operator", "cc/age-question"}
    async with Service(config) as service:
        result = await call(service, "122", Silence(), sounds=present)
    assert (result.variables["IVR_RESULT"], result.variables["IVR_QUEUE"]) == ("timeout", "cc-122-default")
    assert "cc/122-menu" in caplog.text and "missing" in caplog.text
    [row] = sessions(config)
    assert "missing_prompt" in [s["kind"] for s in row["steps"]]
    assert row["hung_up"] == 0


async def test_unknown_line_sets_error_so_the_dialplan_falls_back(config):
    async with Service(config) as service:
        result = await call(service, "999", Silence())
    assert result.variables["IVR_RESULT"] == "error"
    assert "IVR_QUEUE" not in result.variables or result.variables["IVR_QUEUE"] == ""
    [row] = sessions(config)
    assert row["result"] == "error" and "no line" in row["error"]


async def test_routing_falls_back_to_the_extension(config):
    async with Service(config) as service:
        result = await call(service, "117", Silence(), Press("2"), Silence(), script="ivr")
    assert result.variables["IVR_QUEUE"] == "cc-117-documents"


async def test_a_failure_inside_the_session_still_sends_the_caller_to_an_operator(config, caplog):
    class BrokenIVR(IVR):
        async def _perform(self, agi, action):
            if action.prompt.endswith("-menu"):
                raise RuntimeError("simulated bug")
            return await super()._perform(agi, action)

    async with Service(config) as service:
        service.ivr.__class__ = BrokenIVR
        result = await call(service, "122", Silence())
    assert (result.variables["IVR_RESULT"], result.variables["IVR_QUEUE"]) == ("error", "cc-122-default")
    [row] = sessions(config)
    assert row["result"] == "error" and "simulated bug" in row["error"]


async def test_a_failing_database_never_fails_a_call(config):
    async with Service(config) as service:
        locker = sqlite3.connect(config.database.path, timeout=0.1)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            channel = SimulatedChannel.for_call("122", sequence=7)
            result = await asyncio.wait_for(
                run_agi_call("127.0.0.1", service.fastagi.port, channel,
                             Caller(reactions=(Silence(), Press("1"), Silence())), speed=SPEED),
                10,
            )
            assert (result.variables["IVR_RESULT"], result.variables["IVR_QUEUE"]) == ("topic", "cc-122-gov")
            assert service.store.pending >= 1
        finally:
            locker.rollback()
            locker.close()
        await service.store.flush(10)
    assert [r["topic"] for r in sessions(config)] == ["gov"]


async def test_bridge_unreachable_leaves_ivr_result_empty():
    """What the dialplan's fallback keys on: nothing listening, AGISTATUS=FAILURE, no IVR_RESULT."""
    channel = SimulatedChannel.for_call("122", sequence=1)
    result = await run_agi_call("127.0.0.1", free_port(), channel, Caller(), speed=SPEED)
    assert result.agistatus == "FAILURE"
    assert not result.variables.get("IVR_RESULT")


async def test_many_concurrent_calls_all_recorded(config):
    async with Service(config) as service:
        port = service.fastagi.port
        results = await asyncio.gather(*(
            run_agi_call("127.0.0.1", port, SimulatedChannel.for_call("122", sequence=i),
                         Caller(reactions=(Silence(), Press("5"), Press("3"))), speed=SPEED, timeout=30)
            for i in range(300)
        ))
        await service.store.flush(10)
    assert {r.variables["IVR_QUEUE"] for r in results} == {"cc-122-other"}
    rows = sessions(config)
    assert len(rows) == 300 and {r["age_group"] for r in rows} == {"40-60"}
