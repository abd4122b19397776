"""Outages on a real Asterisk 22: the bridge stopped while calls come in, and its AMI link cut and
restored mid-call. Asterisk's own output (AMI events on the tests' connection, queue_log) is the
reference for what the bridge stores afterwards.

- Bridge stopped: the shipped dialplan's fallback (keyed on an empty IVR_RESULT, not on AGISTATUS)
  queues the callers in the line's default queue, both when nothing listens on the bridge's port
  (AGISTATUS FAILURE) and when something there closes before the first command (SUCCESS). After
  the restart, calls that ended meanwhile are rebuilt from queue_log, and a call still talking is
  adopted and followed to its end.
- AMI cut: through ``AMIRelay``. A call that ended while the link was down is closed as unknown_end
  and filled from queue_log; a call talking across the cut is followed to its end; a call that
  began during the cut is adopted from ``CoreShowChannels``/``QueueStatus``; a caller routed
  through a Local channel who calls and hangs up during the cut is rebuilt from queue_log, which
  names it by the Local half, as one call under its Linkedid (its menu session says which), with
  the topic, menu result and age group the dialplan had from the menu.
- AMI cut in the menu: a call AMI saw start loses its link before the menu ends and ends during the
  cut; closed as unknown_end and filled from queue_log, it has the menu's outcome from its menu
  session, as the dialplan had it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pbx import Pbx
from pbx_bridge import AMIRelay, Bridge, database, linkedids, stats, wait_stored, write_config
from pbx_calls import AMI, Call, HangUpAfter, Press, place, queue_log, queue_log_settled, run_call
from pbx_checks import Played, dialplan_saw

pytestmark = pytest.mark.timeout(180)


async def _connected(ami: AMI, call: Call, timeout: float = 30.0) -> dict:
    return await ami.wait_for(lambda: next(iter(call.named("AgentConnect")), None), timeout,
                              f"{call.name}: an operator answering")


async def _hang_up(ami: AMI, call: Call) -> None:
    await ami.action("Hangup", Channel=call.caller_channel)
    await ami.wait_for(call.ended, 20, f"{call.name}: the end of the call")


# ------------------------------------------------------------------ the bridge stopped

STOPPED_STAFF = {"cc-122-housing": ["1022"], "cc-122-default": ["1021", "3021"]}


async def _closes_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A FastAGI peer that reads Asterisk's request and closes before any command."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        await reader.readuntil(b"\n\n")
    writer.close()


async def _bridge_stopped(pbx: Pbx, folder: Path) -> Played:
    config = write_config(folder, pbx)
    ami = await AMI.connect(pbx)
    await ami.login_operators(STOPPED_STAFF)
    bridge = Bridge(config, pbx, "bridge stopped, first run")
    calls = {"before": Call("before", "122", (Press("2", "cc/122-greeting"),)),
             "down_1": Call("down_1", "122"), "down_2": Call("down_2", "122"),
             # both operators are busy with down_1 and down_2: it gives up after 2 s in the queue
             "closed_early": Call("closed_early", "122", (HangUpAfter("QueueCallerJoin", 2),))}
    try:
        await bridge.start(ami)
        await run_call(ami, calls["before"])  # the database knows a call from before the stop
        await wait_stored(database(config), [calls["before"].linkedid])
        assert await bridge.stop() == 0
        # the bridge is down: both callers go through the dialplan's fallback to the default queue
        for name in ("down_1", "down_2"):
            await place(ami, calls[name])
            await _connected(ami, calls[name])
        # one reached the operator who hangs up after a few seconds, the other one who talks on
        short, long_ = sorted((calls["down_1"], calls["down_2"]),
                              key=lambda c: c.named("AgentConnect")[0]["MemberName"] != "Оператор 1021")
        # something else on the bridge's port accepts and closes at once: AGISTATUS is SUCCESS
        closer = await asyncio.start_server(_closes_at_once, "127.0.0.1", pbx.agi_port)
        try:
            await run_call(ami, calls["closed_early"])
        finally:
            closer.close()
            await closer.wait_closed()
        await ami.wait_for(short.ended, 20, f"{short.name}: the end of the call")
        restarted = Bridge(config, pbx, "bridge stopped, restarted")
        await restarted.start(ami)
        await asyncio.sleep(1.0)  # reconciliation after the login
        await _hang_up(ami, long_)
        await queue_log_settled(pbx.queue_log, calls.values())
        await wait_stored(database(config), [c.linkedid for c in calls.values()],
                          settled=lambda row: row["complete"] == 1)
        assert await restarted.stop() == 0
    finally:
        await bridge.stop()
        await ami.logout_operators(STOPPED_STAFF)
        await ami.close()
    calls = {"before": calls["before"], "ended_while_down": short, "up_at_restart": long_,
             "closed_early": calls["closed_early"]}
    return Played(calls, database(config), queue_log(pbx.queue_log, [c.callid for c in calls.values()]),
                  bridge.log_text() + restarted.log_text())


@pytest.fixture(scope="module")
def stopped(pbx: Pbx, prompts, tmp_path_factory) -> Played:
    return asyncio.run(_bridge_stopped(pbx, tmp_path_factory.mktemp("bridge-stopped")))


@pytest.mark.parametrize("name, agi_status", [("ended_while_down", "FAILURE"), ("up_at_restart", "FAILURE"),
                                              ("closed_early", "SUCCESS")])
def test_the_dialplan_fallback_queues_callers_while_the_bridge_is_down(stopped: Played, name: str, agi_status: str):
    call = stopped.calls[name]
    down = call.user_event("BridgeDown")
    assert down is not None and (down["Line"], down["AgiStatus"]) == ("122", agi_status)
    seen = dialplan_saw(call)
    assert (seen["Result"], seen["Queue"], seen["AgiStatus"]) == ("", "cc-122-default", agi_status)
    assert any("cc/bridge-down-apology" in e.get("AppData", "") for e in call.named("Newexten"))
    assert stopped.logged(name).entered == ["cc-122-default"]
    assert stopped.session(name) is None  # no menu ran


def test_a_call_that_ended_while_the_bridge_was_down_is_filled_from_queue_log(stopped: Played):
    row = stopped.row("ended_while_down")
    logged = stopped.logged("ended_while_down")
    assert (row["source"], row["complete"], row["outcome"]) == ("queue_log", 1, "answered")
    assert (row["operator"], logged.agent, row["hangup_by"]) == ("Оператор 1021", "Оператор 1021", "operator")
    assert f"call {row['linkedid']} known only from queue_log" in stopped.bridge_log
    # its line is the line of its queue (cc-122-default belongs to 122 alone in the configuration)
    assert row["line"] == "122"
    stopped.agree("ended_while_down")


def test_a_call_that_gave_up_while_the_bridge_was_down_is_filled_from_queue_log(stopped: Played):
    row = stopped.row("closed_early")
    assert (row["source"], row["complete"], row["outcome"], row["line"]) == ("queue_log", 1, "short_abandon", "122")
    assert (row["operator"], stopped.logged("closed_early").abandoned) == (None, True)
    stopped.agree("closed_early")


def test_a_call_up_at_the_restart_is_adopted_and_followed_to_its_end(stopped: Played):
    row = stopped.row("up_at_restart")
    # its only queue event after the restart is AgentComplete, often sent without the caller's channel
    assert (row["source"], row["complete"], row["outcome"], row["line"]) == ("ami", 1, "answered", "122")
    assert row["operator"] == "Оператор 3021"
    stopped.agree("up_at_restart")


def test_a_call_adopted_while_talking_keeps_its_wait(stopped: Played):
    row = stopped.row("up_at_restart")
    leg = row["legs"][0]
    assert leg["joined_at"] <= leg["answered_at"]
    assert abs(row["queued_seconds"] - stopped.logged("up_at_restart").wait) <= 1.0, row["queued_seconds"]


def test_the_call_before_the_stop_is_kept(stopped: Played):
    row = stopped.row("before")
    assert (row["complete"], row["outcome"], row["operator"]) == (1, "answered", "Оператор 1022")
    assert stopped.session("before")["topic"] == "housing"
    stopped.agree("before")


# ------------------------------------------------------------------ the AMI link cut and restored

CUT_STAFF = {"cc-122-housing": ["1031"], "cc-117-conditions": ["3031"], "cc-122-social": ["2031"]}
# log in while the link is cut; 1033 answers the caller through a Local channel (3031 is busy with "talking")
LATE_OPERATOR = {"cc-122-default": ["1032"], "cc-117-conditions": ["1033"]}


@dataclass
class Outage(Played):
    config: Path


def _local_days(played: Played) -> tuple[str, str]:
    """The first and last local day of the calls (the example configuration's time zone)."""
    zone = ZoneInfo("Asia/Irkutsk")
    days = sorted(datetime.fromtimestamp(c.placed_at, zone).date().isoformat() for c in played.calls.values())
    return days[0], days[-1]


async def _relayed(pbx: Pbx, folder: Path) -> tuple[AMIRelay, Path, Path, AMI]:
    """A relay to cut the bridge's AMI link through, the configuration that uses it, its database,
    and the tests' own AMI connection."""
    relay = AMIRelay(pbx.ami_port)
    await relay.start()
    config = write_config(folder, pbx, ami_port=relay.port)
    return relay, config, database(config), await AMI.connect(pbx)


async def _ami_cut(pbx: Pbx, folder: Path) -> Outage:
    relay, config, db, ami = await _relayed(pbx, folder)
    await ami.login_operators(CUT_STAFF)
    bridge = Bridge(config, pbx, "AMI cut")
    talking = Call("talking", "117", (Press("1", "cc/117-menu"),))  # talks across the cut
    waiting = Call("waiting", "122", (Press("0", "cc/122-greeting"),))  # waits, answered and gone during the cut
    answered = Call("answered_then_cut", "122", (Press("2", "cc/122-greeting"),))  # answered, gone during the cut
    newcomer = Call("newcomer", "122", (Press("3", "cc/122-greeting"),))  # calls during the cut, waits
    # calls through a Local channel during the cut, is answered by 1033 and gone before the link is back
    through_local = Call("local_in_cut", "117", (Press("1", "cc/117-greeting"),), context="inbound")
    tasks = []
    try:
        await bridge.start(ami)
        tasks += [asyncio.create_task(run_call(ami, call, timeout=90)) for call in (talking, waiting)]
        await _connected(ami, talking)
        await wait_stored(db, [talking.linkedid], settled=lambda row: row["operator"])
        tasks.append(asyncio.create_task(run_call(ami, answered, timeout=90)))
        await wait_stored(db, [waiting.linkedid], settled=lambda row: row["queue"] == "cc-122-default")
        await _connected(ami, answered)
        await wait_stored(db, [answered.linkedid], settled=lambda row: row["operator"])
        await relay.drop()  # the operator of answered_then_cut hangs up 3 s from now
        await ami.login_operators(LATE_OPERATOR)
        tasks.append(asyncio.create_task(run_call(ami, newcomer, timeout=90)))
        tasks.append(asyncio.create_task(run_call(ami, through_local, timeout=90)))
        for call in (answered, waiting, through_local):
            await ami.wait_for(call.ended, 30, f"{call.name}: the end of the call during the cut")
        joined = await ami.wait_for(lambda: next(iter(newcomer.named("QueueCallerJoin")), None), 30,
                                    "newcomer: in the queue")
        await relay.restore()
        await ami.wait_for(lambda: relay.connections >= 2, 15, "the bridge back on AMI")
        await asyncio.sleep(2.0)  # login and reconciliation
        await _hang_up(ami, talking)
        await asyncio.sleep(max(0.0, float(joined["Timestamp"]) + 8 - time.time()))  # well past short_abandon
        await _hang_up(ami, newcomer)
        await asyncio.gather(*tasks)
        calls = [talking, waiting, answered, newcomer, through_local]
        await queue_log_settled(pbx.queue_log, calls)
        await wait_stored(db, [talking.linkedid, newcomer.linkedid], settled=lambda row: row["complete"] == 1)
        with contextlib.suppress(AssertionError):  # not stored under its Linkedid: its test names what was
            await wait_stored(db, [through_local.linkedid], settled=lambda row: row["complete"] == 1)
        await wait_stored(db, [waiting.linkedid, answered.linkedid], settled=lambda row: row["outcome"] == "answered")
    finally:
        for task in tasks:
            task.cancel()
        await bridge.stop()
        await relay.drop()
        await ami.logout_operators({**CUT_STAFF, **LATE_OPERATOR})
        await ami.close()
    return Outage({c.name: c for c in calls}, db, queue_log(pbx.queue_log, [c.callid for c in calls]),
                  bridge.log_text(), config)


@pytest.fixture(scope="module")
def cut(pbx: Pbx, prompts, tmp_path_factory) -> Outage:
    return asyncio.run(_ami_cut(pbx, tmp_path_factory.mktemp("ami-cut")))


def test_the_bridge_notices_the_cut_and_reconciles(cut: Played):
    assert "AMI connection lost: 3 call(s) in progress will be reconciled on reconnect" in cut.bridge_log
    assert "AMI connection back after" in cut.bridge_log
    assert "Traceback" not in cut.bridge_log


def test_a_call_waiting_at_the_cut_and_gone_after_it_is_filled_from_queue_log(cut: Played):
    row = cut.row("waiting")
    assert (row["complete"], row["outcome"], row["line"], row["operator"]) == (0, "answered", "122", "Оператор 1032")
    assert f"queue_log filled call {row['linkedid']} missed by AMI: answered" in cut.bridge_log
    assert cut.session("waiting")["result"] == "operator"
    cut.agree("waiting")


def test_a_call_answered_before_the_cut_and_gone_after_it_is_closed(cut: Played):
    row = cut.row("answered_then_cut")
    assert (row["complete"], row["outcome"], row["line"], row["operator"]) == (0, "answered", "122", "Оператор 1031")
    cut.agree("answered_then_cut")


def test_a_call_answered_before_the_cut_gets_its_talk_time_from_queue_log(cut: Played):
    row, logged = cut.row("answered_then_cut"), cut.logged("answered_then_cut")
    assert row["talk_seconds"] is not None and abs(row["talk_seconds"] - logged.talk) <= 1.0, row["talk_seconds"]
    assert row["hangup_by"] == logged.ended_by == "operator"


def test_a_call_talking_across_the_cut_is_followed_to_its_end(cut: Played):
    row = cut.row("talking")
    assert (row["complete"], row["outcome"], row["line"], row["operator"]) == (1, "answered", "117", "Оператор 3031")
    cut.agree("talking")


def test_a_call_that_began_during_the_cut_is_adopted(cut: Played):
    row = cut.row("newcomer")
    assert (row["complete"], row["outcome"], row["line"], row["queue"]) == (
        1, "abandoned_queue", "122", "cc-122-social")
    session = cut.session("newcomer")  # FastAGI does not depend on AMI: the menu ran as usual
    assert (session["result"], session["topic"]) == ("topic", "social")
    cut.agree("newcomer")


def test_a_call_adopted_after_the_cut_keeps_the_menu_outcome(cut: Played):
    row = cut.row("newcomer")
    assert (row["ivr_result"], row["topic"], row["ivr_queue"]) == ("topic", "social", "cc-122-social")


def test_a_call_through_a_local_channel_during_the_cut_is_one_call_under_its_linkedid(cut: Outage):
    """queue_log names the call by the Local half that waited in the queue; the menu session, which
    ran on that half while AMI was down, names the call's Linkedid: one record, under the Linkedid."""
    call = cut.calls["local_in_cut"]
    assert call.callid != call.linkedid  # queue_log's callid is the Local half
    session = cut.session("local_in_cut")
    assert (session["linkedid"], session["uniqueid"], session["topic"]) == (call.linkedid, call.callid, "conditions")
    row = cut.row("local_in_cut")
    assert row is not None, f"no record under the Linkedid {call.linkedid}; stored: {sorted(linkedids(cut.db))}"
    assert (row["source"], row["complete"], row["outcome"], row["line"], row["operator"]) == (
        "queue_log", 1, "answered", "117", "Оператор 1033")
    # AMI saw none of it, the menu ran: the record has what the menu left on the channel
    assert (row["topic"], row["ivr_result"], row["ivr_queue"]) == (
        call.final_variable("IVR_TOPIC"), call.final_variable("IVR_RESULT"), call.final_variable("IVR_QUEUE")) == (
        "conditions", "topic", "cc-117-conditions")
    assert row["age_group"] == (call.final_variable("IVR_AGE_GROUP") or "unknown")
    assert f"call {call.linkedid} known only from queue_log" in cut.bridge_log
    # nothing stored under the Local half, nor any other channel: one record per call placed
    assert linkedids(cut.db) == {c.linkedid for c in cut.calls.values()}
    cut.agree("local_in_cut")


def test_the_days_figures_after_the_cut_agree_with_queue_log(cut: Outage):
    """Every caller counted once, in its line, with queue_log's outcome and under the topic the
    dialplan had from the menu; no menu session counted as a call of its own (the Local caller's
    would be, beside a record of its Local half)."""
    first, last = _local_days(cut)
    figures = stats(cut.config, first, last)
    assert figures["total"]["counts"]["offered"] == len(cut.calls)
    for line in ("122", "117"):
        section = next(s for s in figures["lines"] if s["line"] == line)
        counts = section["counts"]
        calls = [name for name, c in cut.calls.items() if c.line == line]
        chosen = Counter(cut.calls[name].final_variable("IVR_TOPIC") or "" for name in calls)
        assert {t["key"]: t["calls"] for t in section["topics"]} == chosen, (line, section["topics"])
        logged = Counter(cut.logged(name).outcome for name in calls)
        assert counts["offered"] == len(calls), (line, counts)
        for outcome in ("answered", "abandoned_queue", "short_abandon"):
            assert counts[outcome] == logged[outcome], (line, outcome, counts, logged)
        assert (counts["no_ami"], counts["unknown_end"], counts["in_progress"]) == (0, 0, 0), (line, counts)


# ------------------------------------------------------------------ the AMI link cut while the caller is in the menu


@dataclass
class CutInMenu(Outage):
    cut_at: float  # when the link went down


async def _ami_cut_in_menu(pbx: Pbx, folder: Path) -> CutInMenu:
    relay, config, db, ami = await _relayed(pbx, folder)
    bridge = Bridge(config, pbx, "AMI cut in the menu")
    # lets the menu play twice, chooses documents (nobody there: the dialplan moves it to the
    # default queue, nobody there either) and gives up 8 s after joining, all during the cut
    in_menu = Call("in_menu_at_cut", "117", (Press("2", "cc/117-menu", occurrence=2), HangUpAfter("QueueCallerJoin", 8)))
    task = None
    try:
        await bridge.start(ami)
        task = asyncio.create_task(run_call(ami, in_menu, timeout=90))
        await ami.wait_for(lambda: in_menu.linkedid or None, 15, "in_menu_at_cut: placed")
        # AMI saw the menu start: the session's first act, IVR_RESULT=error, is in the record
        await wait_stored(db, [in_menu.linkedid], settled=lambda row: row["ivr_result"] == "error")
        await relay.drop()
        cut_at = time.time()
        await ami.wait_for(in_menu.ended, 90, "in_menu_at_cut: the end of the call during the cut")
        await relay.restore()
        await ami.wait_for(lambda: relay.connections >= 2, 15, "the bridge back on AMI")
        await queue_log_settled(pbx.queue_log, [in_menu])
        await wait_stored(db, [in_menu.linkedid], settled=lambda row: row["outcome"] not in (None, "unknown_end"))
        await task
    finally:
        if task is not None:
            task.cancel()
        await bridge.stop()
        await relay.drop()
        await ami.close()
    return CutInMenu({in_menu.name: in_menu}, db, queue_log(pbx.queue_log, [in_menu.callid]), bridge.log_text(),
                     config, cut_at)


@pytest.fixture(scope="module")
def cut_in_menu(pbx: Pbx, prompts, tmp_path_factory) -> CutInMenu:
    return asyncio.run(_ami_cut_in_menu(pbx, tmp_path_factory.mktemp("ami-cut-in-menu")))


def test_a_call_ami_lost_in_its_menu_takes_the_menus_outcome_from_its_menu_session(cut_in_menu: CutInMenu):
    call, session, row, logged = cut_in_menu.view("in_menu_at_cut")
    # the scenario: AMI saw the menu start (IVR_RESULT=error), the menu's outcome was set after the cut
    topics = [e for e in call.named("VarSet", Variable="IVR_TOPIC", Uniqueid=call.menu_uniqueid) if e.get("Value")]
    assert topics and float(topics[0]["Timestamp"]) > cut_in_menu.cut_at, "the menu ended before the cut"
    assert row is not None and row["source"] == "ami", row
    # queue_log's queue part, the end never seen
    assert (row["complete"], row["outcome"], row["queue"]) == (0, logged.outcome, logged.entered[-1]) == (
        0, "abandoned_queue", "cc-117-default")
    # what the menu decided, as the dialplan had it (the h extension's report), from the menu session
    seen = dialplan_saw(call)
    assert (row["ivr_result"], row["topic"], row["ivr_queue"], row["age_group"]) == (
        seen["Result"], seen["Topic"], seen["IvrQueue"], seen["AgeGroup"] or "unknown") == (
        session["result"], session["topic"], session["queue"], session["age_group"])
    assert (row["topic"], row["ivr_queue"]) == ("documents", "cc-117-documents")
    # what AMI gave stays: its line and caller; the AGI status went by during the cut and stays unknown
    assert (row["line"], row["caller_number"], row["agi_status"]) == ("117", call.caller_number, None)
    assert f"queue_log filled call {call.linkedid} missed by AMI: abandoned_queue" in cut_in_menu.bridge_log
    assert "Traceback" not in cut_in_menu.bridge_log
