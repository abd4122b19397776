"""The contact center on a real Asterisk 22: the shipped dialplan, queues and AMI user, the
example configuration, and one caller per menu path, all at once.

The calls of this module run together against one ``asterisk-bridge run`` (several calls at once
is itself a scenario: the tracker must keep interleaved calls apart). Each test then checks one
caller: what the dialplan saw, what the bridge stored and what Asterisk wrote to queue_log agree
(``pbx_checks.assert_agree``), plus what that path must show. The last tests compare the day's
``stats --format json`` with figures computed from queue_log alone.

Beside them, on the 117 "where to apply" queue, a caller meets an operator who never answers next
to a free one who took the previous call: with ``leastrecent`` alone the queue would ring the one who
never answers again and again (a ring without an answer is not a call); the shipped template's
auto-pause pauses him after one ring-out and the free operator answers.

Prompts are short tones written per run (``pbx_bridge.prompts``); ``cc/info-other`` is left out
on purpose (the missing prompt scenario). Operators per queue in ``STAFF`` (``tests/pbx.py``: 1xxx
answer and hang up after 3 s, 2xxx never answer, 3xxx talk until the caller hangs up);
``cc-122-gov`` has nobody logged in.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

import pbx as harness
from pbx import ENV_VAR, AsteriskTree, Pbx, find_asterisk
from pbx_bridge import MISSING_PROMPT, Bridge, check_config, linkedids, prompt_names, stats, wait_stored, write_config
from pbx_calls import AMI, Call, HangUpAfter, HangUpIn, Press, queue_log, queue_log_settled, run_call
from pbx_checks import SHORT_ABANDON, Played, dialplan_queues, dialplan_saw, queue_log_call

pytestmark = pytest.mark.timeout(180)

STAFF = {
    "cc-122-default": ["1001", "1003"],
    "cc-122-housing": ["1002"],
    "cc-122-health": ["1005"],
    "cc-122-health-drugs": ["1004"],
    "cc-122-social": ["2001"],  # never answers: callers abandon
    "cc-122-other": ["3001"],  # talks until the caller hangs up
    "cc-117-default": ["1010", "1012"],
    "cc-117-conditions": ["1011", "1013"],
    "cc-117-where": ["1041"],
}
#: logs in after 1041 took a call: a member who never answers beside a free one
NEVER_ANSWERS = {"cc-117-where": ["2041"]}
#: the 117 self-service topic, then the operator key it offers: queue cc-117-where
WHERE = (Press("3", "cc/117-greeting"), Press("0", "cc/offer-operator"))

SCENARIOS = [
    Call("greeting_key", "122", (Press("2", "cc/122-greeting"),)),
    Call("invalid_then_valid", "117", (Press("9", "cc/117-menu"), Press("1", "cc/117-menu", 2))),
    Call("silence", "122"),
    Call("operator_key", "117", (Press("0", "cc/117-menu"),)),
    Call("submenu", "122", (Press("4", "cc/122-menu"), Press("2", "cc/122-health-menu"))),
    Call("selfservice_end", "117", (Press("3", "cc/117-menu"),)),
    Call("selfservice_operator", "122", (Press("4", "cc/122-menu"), Press("3", "cc/122-health-menu"),
                                         Press("0", "cc/offer-operator"))),
    Call("age", "117", (Press("1", "cc/117-menu"), Press("4", "cc/age-question"))),
    Call("menu_hangup", "122", (HangUpIn("cc/122-menu"),)),
    Call("short_abandon", "122", (Press("3", "cc/122-menu"), HangUpAfter("QueueCallerJoin", 2))),
    Call("long_abandon", "122", (Press("3", "cc/122-menu"), HangUpAfter("QueueCallerJoin", 8))),
    Call("missing_prompt", "122", (Press("5", "cc/122-menu"), HangUpAfter("AgentConnect", 2))),
    Call("nobody_in_topic", "122", (Press("1", "cc/122-menu"),)),
    Call("through_local", "117", (Press("1", "cc/117-greeting"),), context="inbound"),
]


@dataclass
class Day(Played):
    """What the scenario set left behind."""

    config: Path
    bridge_exit: int
    seconds: float


async def _starving_queue(ami: AMI) -> list[Call]:
    """One call answered by 1041, then 2041 logs in from his phone (the dialplan's AddQueueMember)
    and the next caller waits: 1041 is free."""
    first = await run_call(ami, Call("where_first", "117", WHERE))
    for queue, extensions in NEVER_ANSWERS.items():
        for extension in extensions:
            await ami.login_by_dialplan(queue, extension)
    # ringing 2041 for the queue's timeout (15 s), a retry (2 s), then 1041 (1 s) would take 18 s
    return [first, await run_call(ami, Call("starved", "117", (*WHERE, HangUpAfter("QueueCallerJoin", 24))))]


async def _play_the_day(pbx: Pbx, folder: Path) -> Day:
    config = write_config(folder, pbx)
    ami = await AMI.connect(pbx)
    bridge = Bridge(config, pbx, "scenario set")
    await ami.login_operators(STAFF)
    started = time.monotonic()
    try:
        await bridge.start(ami)
        calls = [Call(c.name, c.line, c.script, c.context) for c in SCENARIOS]
        starving = asyncio.create_task(_starving_queue(ami))
        tasks = []
        for call in calls:
            tasks.append(asyncio.create_task(run_call(ami, call)))
            await asyncio.sleep(0.2)  # calls arrive a little apart, and overlap in menu and queues
        await asyncio.gather(*tasks)
        calls += await starving
        await queue_log_settled(pbx.queue_log, calls)
        try:
            await wait_stored(config.parent / "calls.db", [c.linkedid for c in calls])
        except AssertionError as exc:  # say what was stored instead (a channel taken for a call?)
            extra = linkedids(config.parent / "calls.db") - {c.linkedid for c in calls}
            raise AssertionError(f"{exc}; records of no placed call: {sorted(extra)}") from None
    finally:
        code = await bridge.stop()
        await ami.logout_operators({**STAFF, **NEVER_ANSWERS})
        await ami.close()
    return Day({c.name: c for c in calls}, config.parent / "calls.db",
               queue_log(pbx.queue_log, [c.callid for c in calls]), bridge.log_text(), config, code,
               time.monotonic() - started)


@pytest.fixture(scope="module")
def day(pbx: Pbx, prompts, tmp_path_factory) -> Day:
    return asyncio.run(_play_the_day(pbx, tmp_path_factory.mktemp("scenario-set")))


def steps(session: dict) -> list[tuple]:
    return [(s["kind"], s["menu"], s["prompt"], s["key"]) for s in session["steps"]]


# ------------------------------------------------------------------ the harness says why it skips

def test_no_asterisk_is_a_skip_reason_naming_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert find_asterisk() == f"no sbin/asterisk under {tmp_path}"
    (tmp_path / "sbin").mkdir()
    binary = tmp_path / "sbin" / "asterisk"
    binary.write_text("#!/bin/sh\necho 'error while loading shared libraries: libjansson.so.4' >&2\nexit 127\n")
    binary.chmod(0o755)
    assert "no Asterisk modules" in find_asterisk()
    (tmp_path / "lib" / "asterisk" / "modules").mkdir(parents=True)
    (tmp_path / "lib" / "asterisk" / "modules" / "app_queue.so").touch()
    (tmp_path / "var" / "lib" / "asterisk").mkdir(parents=True)
    reason = find_asterisk()
    assert reason.startswith(f"{binary} cannot start: ") and "libjansson.so.4" in reason and ".ci/run" in reason


def test_no_build_is_a_skip_reason_naming_the_variable_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(harness, "_shared_folders", lambda: [tmp_path / "shared"])
    assert find_asterisk() == (f"no Asterisk build: set {ENV_VAR} or put the shared build in "
                               f"{tmp_path / 'shared' / 'asterisk'}")


def test_ci_installs_every_debian_package_the_shared_builds_readme_names():
    readme = next((f / "asterisk" / "README.md" for f in harness._shared_folders()
                   if (f / "asterisk" / "README.md").exists()), None)
    if readme is None:
        pytest.skip("no shared/asterisk/README.md beside the clone")
    command = re.search(r"apt-get install -y ((?:[^\n]*\\\n)*[^\n]*)", readme.read_text(encoding="utf-8"))
    assert command, f"{readme}: no apt-get install line"
    named = set(command.group(1).replace("\\", " ").split())
    script = (harness.REPO / ".ci" / "run").read_text(encoding="utf-8")
    listed = re.search(r"^packages=\((.*?)^\)", script, re.S | re.M)
    installed = {word for line in listed.group(1).splitlines() for word in line.split("#", 1)[0].split()}
    assert named and named <= installed, f".ci/run does not install {sorted(named - installed)} ({readme})"


def test_a_failing_test_gets_the_modules_messages_log_and_the_bridges_logs(tmp_path, monkeypatch):
    """The report hooks of conftest.py: a failing test that used the PBX gets Asterisk's
    messages.log from where its module began, and the logs of the bridges run since then."""
    pbx = Pbx(AsteriskTree(tmp_path, tmp_path / "sbin" / "asterisk", tmp_path, tmp_path), tmp_path / "run")
    pbx.messages_log.parent.mkdir(parents=True)
    pbx.messages_log.write_text("NOTICE an earlier module's line\n")
    earlier = tmp_path / "earlier.log"
    earlier.write_text("an earlier module's bridge\n")
    pbx.bridge_logs.append(("asterisk-bridge log (earlier)", earlier))
    monkeypatch.setattr(harness, "ACTIVE", pbx)
    monkeypatch.setattr(harness, "_MARKS", {})
    item = SimpleNamespace(module=SimpleNamespace(__name__="test_module"), fixturenames=["pbx"])
    harness.note_test_start(item)
    with pbx.messages_log.open("a") as log:
        log.write("WARNING this module's line\n")
    bridge = tmp_path / "bridge.log"
    bridge.write_text("this module's bridge\n")
    pbx.bridge_logs.append(("asterisk-bridge log (this)", bridge))
    passed, failed = SimpleNamespace(failed=False, sections=[]), SimpleNamespace(failed=True, sections=[])
    harness.attach_logs(item, passed)
    harness.attach_logs(item, failed)
    assert passed.sections == []
    assert failed.sections == [("Asterisk messages.log", "WARNING this module's line\n"),
                               ("asterisk-bridge log (this)", "this module's bridge\n")]
    without_pbx = SimpleNamespace(module=item.module, fixturenames=["tmp_path"])
    harness.attach_logs(without_pbx, report := SimpleNamespace(failed=True, sections=[]))
    assert report.sections == []


# ------------------------------------------------------------------ several calls at once

def test_every_call_is_one_record_and_the_bridge_stopped_cleanly(day: Day, pbx: Pbx):
    stored = linkedids(day.db)
    placed = {c.linkedid for c in day.calls.values()}
    # Local halves, operator channels and ring attempts never become calls of their own
    assert stored == placed, f"extra: {stored - placed}, missing: {placed - stored}"
    for call in day.calls.values():
        row = day.row(call.name)
        assert (row["complete"], row["source"]) == (1, "ami"), (call.name, row)
        assert (day.session(call.name) or {}).get("linkedid") == call.linkedid, call.name
        # the shipped dialplan found the bridge through the CC_BRIDGE_AGI global
        assert call.final_variable("CC_AGI") == f"agi://127.0.0.1:{pbx.agi_port}", call.name
    assert day.bridge_exit == 0, day.bridge_log
    assert "Traceback" not in day.bridge_log


# ------------------------------------------------------------------ the menu paths

def test_a_key_in_the_greeting_chooses_the_topic(day: Day):
    call, session, row, logged = day.view("greeting_key")
    assert (session["result"], session["topic"], session["queue"]) == ("topic", "housing", "cc-122-housing")
    assert steps(session)[:2] == [("prompt", "greeting", "cc/122-greeting", None), ("key", "122", None, "2")]
    assert not any("cc/122-menu" in c for c in call.agi_commands()), "the menu prompt played after a barge-in"
    assert (row["outcome"], logged.agent, logged.ended_by) == ("answered", "Оператор 1002", "operator")
    day.agree("greeting_key")


def test_an_invalid_key_then_a_valid_one(day: Day):
    call, session, row, logged = day.view("invalid_then_valid")
    kinds = [(kind, key) for kind, _, _, key in steps(session) if kind in ("invalid", "key")]
    assert kinds == [("invalid", "9"), ("key", "1")]
    assert any(prompt == "cc/invalid-choice" for _, _, prompt, _ in steps(session))
    assert (session["result"], session["topic"], row["outcome"]) == ("topic", "conditions", "answered")
    assert logged.entered == ["cc-117-conditions"]
    day.agree("invalid_then_valid")


def test_silence_goes_to_the_default_queue(day: Day):
    call, session, row, logged = day.view("silence")
    assert (session["result"], session["topic"], session["queue"]) == ("timeout", None, "cc-122-default")
    assert [kind for kind, *_ in steps(session)].count("timeout") == 2  # attempts = 2
    assert ("prompt", "122", "cc/transfer-operator", None) in steps(session)
    assert (dialplan_saw(call)["Result"], logged.entered, row["outcome"]) == ("timeout", ["cc-122-default"], "answered")
    day.agree("silence")


def test_the_operator_key(day: Day):
    call, session, row, logged = day.view("operator_key")
    assert (session["result"], session["queue"], logged.entered) == ("operator", "cc-117-default", ["cc-117-default"])
    assert row["outcome"] == "answered"
    day.agree("operator_key")


def test_a_sub_menu(day: Day):
    call, session, row, logged = day.view("submenu")
    assert (session["result"], session["topic"], session["queue"]) == ("topic", "health-drugs", "cc-122-health-drugs")
    assert ("key", "122/health", None, "2") in steps(session)
    assert (logged.agent, row["outcome"]) == ("Оператор 1004", "answered")
    day.agree("submenu")


def test_self_service_ends_the_call(day: Day):
    call, session, row, logged = day.view("selfservice_end")
    assert (session["result"], session["topic"], session["queue"]) == ("selfservice", "where-to-apply", None)
    assert session["ended_in"] == "offer:where-to-apply" and ("prompt", "offer:where-to-apply", "cc/goodbye", None) \
        in steps(session)
    assert (row["outcome"], row["legs"], logged.entered) == ("selfservice", [], [])
    assert call.named("QueueCallerJoin") == []
    day.agree("selfservice_end")


def test_self_service_offers_the_operator(day: Day):
    call, session, row, logged = day.view("selfservice_operator")
    assert (session["result"], session["topic"], session["queue"]) == ("topic", "health-hours", "cc-122-health")
    assert ("operator", "offer:health-hours", None, "0") in steps(session)
    assert (logged.agent, row["outcome"]) == ("Оператор 1005", "answered")
    day.agree("selfservice_operator")


def test_the_age_question(day: Day):
    call, session, row, logged = day.view("age")
    assert session["age_group"] == "over-60" and ("age", "age", None, "4") in steps(session)
    assert (dialplan_saw(call)["AgeGroup"], row["age_group"]) == ("over-60", "over-60")
    # everyone else stayed silent at the question
    assert day.session("greeting_key")["age_group"] == "unknown"
    day.agree("age")


def test_a_hang_up_in_the_menu(day: Day):
    call, session, row, logged = day.view("menu_hangup")
    assert (session["result"], session["hung_up"], session["ended_in"]) == ("hangup", 1, "122")
    assert (row["outcome"], row["hangup_by"], row["legs"]) == ("abandoned_menu", "caller", [])
    assert (dialplan_saw(call)["AgiStatus"], logged.entered) == ("HANGUP", [])
    day.agree("menu_hangup")


@pytest.mark.parametrize("name, outcome", [("short_abandon", "short_abandon"), ("long_abandon", "abandoned_queue")])
def test_an_abandon_in_the_queue(day: Day, name: str, outcome: str):
    call, session, row, logged = day.view(name)
    assert (row["outcome"], logged.abandoned, logged.entered) == (outcome, True, ["cc-122-social"])
    assert row["legs"][0]["abandoned"] == 1 and row["legs"][0]["left_reason"] == "abandoned"
    assert (logged.wait <= SHORT_ABANDON) == (outcome == "short_abandon")
    assert row["hangup_by"] == "caller"
    day.agree(name)


def test_a_missing_prompt_file_does_not_misroute_the_call(day: Day):
    call, session, row, logged = day.view("missing_prompt")
    assert ("missing_prompt", "info:other", MISSING_PROMPT, None) in steps(session)
    assert (session["result"], session["queue"], session["error"]) == ("topic", "cc-122-other", None)
    # Asterisk ends such an AGI with FAILURE (fixtures README A7); the dialplan must not take it for a
    # bridge that is down
    assert dialplan_saw(call)["AgiStatus"] == "FAILURE" and call.user_event("BridgeDown") is None
    assert (logged.entered, logged.agent, row["outcome"]) == (["cc-122-other"], "Оператор 3001", "answered")
    assert (logged.ended_by, row["hangup_by"]) == ("caller", "caller")
    assert f"prompt '{MISSING_PROMPT}' is missing" in day.bridge_log
    day.agree("missing_prompt")


def test_check_config_names_the_missing_prompt_file(day: Day, pbx: Pbx):
    result = check_config(day.config, pbx.sounds.parent)
    assert MISSING_PROMPT in result.stdout + result.stderr
    assert sum(f"{name}" in result.stdout + result.stderr for name in prompt_names()) == 1


def test_a_topic_queue_with_nobody_logged_in_spills_to_the_default_queue(day: Day):
    call, session, row, logged = day.view("nobody_in_topic")
    assert (session["result"], session["topic"], session["queue"]) == ("topic", "gov", "cc-122-gov")
    # cc-122-gov refused the caller (joinempty) without a queue_log line; the dialplan moved on
    assert (dialplan_queues(call), logged.entered) == (["cc-122-gov", "cc-122-default"], ["cc-122-default"])
    assert call.final_variable("QUEUESTATUS") == "JOINEMPTY"
    assert (row["outcome"], row["queue"]) == ("answered", "cc-122-default")
    day.agree("nobody_in_topic")


def test_a_call_that_reaches_the_menu_through_a_local_channel_is_one_call(day: Day):
    """The inbound context dials Local/117@contact-center: the menu and the queue run on a Local
    half (Uniqueid != Linkedid). The call is still stored once, under the caller's Linkedid; a
    tracker that took channels rather than Linkedids for calls would store the Local half."""
    call, session, row, logged = day.view("through_local")
    assert call.menu_uniqueid != call.linkedid
    channel = call.named("VarSet", Uniqueid=call.menu_uniqueid)[0]["Channel"]
    assert channel.startswith("Local/117@contact-center-") and channel.endswith(";2"), channel
    assert (session["linkedid"], session["uniqueid"]) == (call.linkedid, call.menu_uniqueid)
    assert (row["linkedid"], row["line"], row["caller_number"]) == (call.linkedid, "117", call.caller_number)
    assert (session["topic"], logged.entered, row["outcome"]) == ("conditions", ["cc-117-conditions"], "answered")
    day.agree("through_local")


def test_a_member_who_never_answers_does_not_starve_the_queue(day: Day):
    call, session, row, logged = day.view("starved")
    assert (day.row("where_first")["operator"], session["queue"]) == ("Оператор 1041", "cc-117-where")
    # leastrecent rings 2041 first (he has taken no call); he lets it ring out once, the template's
    # auto-pause pauses him, and the free operator answers
    assert [e["MemberName"] for e in call.named("AgentCalled")] == ["Оператор 2041", "Оператор 1041"]
    assert (row["outcome"], logged.agent) == ("answered", "Оператор 1041")
    paused = day.pauses("Local/2041@operators/n")
    assert [(p["queue"], p["reason"], p["auto"]) for p in paused] == [("cc-117-where", "Auto-Pause", 1)]
    assert [(a["member"], a["result"]) for a in day.attempts("starved")] == [
        ("Оператор 2041", "noanswer"), ("Оператор 1041", "answered")]
    day.agree("starved")


# ------------------------------------------------------------------ the day's figures

def _local_day(day: Day) -> str:
    zone = ZoneInfo("Asia/Irkutsk")  # the example configuration's time zone
    first = min(c.placed_at for c in day.calls.values())
    return datetime.fromtimestamp(first, zone).date().isoformat()


def _from_queue_log(day: Day, line: str, threshold: float = 20.0) -> dict:
    """The queue figures of one line from queue_log alone (README "How the figures are defined")."""
    calls = [queue_log_call(c.callid, day.lines) for c in day.calls.values()]
    calls = [c for c in calls if c.entered and c.line == line]
    answered = [c for c in calls if c.outcome == "answered"]
    abandoned = [c for c in calls if c.outcome == "abandoned_queue"]
    unanswered = [c for c in calls if c.outcome in ("queue_timeout", "queue_empty")]
    queued = len(answered) + len(abandoned) + len(unanswered)
    waits = [c.wait for c in calls if c.wait is not None]
    return {
        "reached_a_queue": len(calls), "answered": len(answered), "abandoned_queue": len(abandoned),
        "short_abandon": sum(c.outcome == "short_abandon" for c in calls), "unanswered": len(unanswered),
        "queued": queued, "answered_within": sum(c.wait <= threshold for c in answered),
        "service_level": sum(c.wait <= threshold for c in answered) / queued,
        "asa_seconds": sum(c.wait for c in answered) / len(answered),
        "longest_wait_seconds": max(waits),
        "avg_talk_seconds": sum(c.talk for c in answered) / len(answered),
        "abandon_rate": len(abandoned) / (len(answered) + len(abandoned)),
    }


@pytest.mark.parametrize("line", ["122", "117"])
def test_daily_figures_match_queue_log(day: Day, line: str):
    figures = stats(day.config, _local_day(day), _local_day(day))
    section = next(s for s in figures["lines"] if s["line"] == line)
    counts, queue = section["counts"], section["queue"]
    expected = _from_queue_log(day, line)
    # calls that never reached a queue are not in queue_log: the menu hang-up and the self-service end
    assert counts["offered"] - counts["abandoned_menu"] - counts["selfservice"] == expected["reached_a_queue"]
    assert (counts["abandoned_menu"], counts["selfservice"]) == {"122": (1, 0), "117": (0, 1)}[line]
    for key in ("answered", "abandoned_queue", "short_abandon", "unanswered"):
        assert counts[key] == expected[key], (key, counts, expected)
    assert (counts["unknown_end"], counts["in_progress"], counts["no_ami"]) == (0, 0, 0)
    assert (queue["queued"], queue["answered_within"]) == (expected["queued"], expected["answered_within"])
    assert queue["service_level"] == pytest.approx(expected["service_level"], abs=1e-4)
    assert queue["abandon_rate"] == pytest.approx(expected["abandon_rate"], abs=1e-4)
    for key in ("asa_seconds", "longest_wait_seconds", "avg_talk_seconds"):  # whole seconds in queue_log
        assert abs(queue[key] - expected[key]) <= 1.0, (key, queue[key], expected[key])
    assert figures["completeness"]["complete"] is True, figures["completeness"]
    # every caller counted once, in its line, and nothing else (no Local halves, no operator channels)
    assert figures["total"]["counts"]["offered"] == len(day.calls)
    assert counts["offered"] == sum(c.line == line for c in day.calls.values())


# ------------------------------------------------------------------ operators and queues

def test_every_ring_the_bridge_stored_is_one_asterisk_logged(day: Day):
    """Per call, the rings the bridge stored that rang out are queue_log's RINGNOANSWER lines, and
    the ring that was answered is its CONNECT, with the same member."""
    for name, call in day.calls.items():
        attempts = day.attempts(name)
        logged = [line for line in day.lines if line.callid == call.callid]
        assert [a["member"] for a in attempts if a["result"] == "noanswer"] == [
            line.agent for line in logged if line.event == "RINGNOANSWER"], name
        assert [a["member"] for a in attempts if a["result"] == "answered"] == [
            line.agent for line in logged if line.event == "CONNECT"], name


def test_operators_sessions_and_the_days_operator_figures(day: Day):
    sessions = {(s["interface"], s["queue"]): s for s in day.operator_sessions()}
    # the staff logged in (QueueAdd) before the bridge started: found in its first QueueStatus; 2041
    # was seen logging in from his phone (AddQueueMember); everyone was still logged in when the
    # bridge stopped
    for queue, extensions in STAFF.items():
        for extension in extensions:
            session = sessions[(f"Local/{extension}@operators/n", queue)]
            assert (session["membership"], session["login_seen"], session["logged_out_at"]) == ("dynamic", 0, None)
    late = sessions[("Local/2041@operators/n", "cc-117-where")]
    assert (late["member_name"], late["membership"], late["login_seen"], late["logged_out_at"]) == (
        "Оператор 2041", "dynamic", 1, None)
    figures = stats(day.config, _local_day(day), _local_day(day))
    operators = {o["name"]: o for o in figures["operators"]}
    never = operators["Оператор 2041"]
    assert (never["calls_answered"], never["ring_outs"], never["auto_pauses"], never["flagged"]) == (0, 1, 1, True)
    assert never["paused_by_reason"][0]["reason"] == "Auto-Pause" and never["paused_seconds"] > 0
    free = operators["Оператор 1041"]
    assert (free["calls_answered"], free["ring_outs"], free["flagged"]) == (2, 0, False)
    assert free["logged_in_seconds"] > 0 and free["occupancy"] is not None
    # every answered call counts for its operator: the operators' answers add up to the lines'
    assert sum(o["calls_answered"] for o in figures["operators"]) == figures["total"]["counts"]["answered"]
    where = next(q for q in figures["queues"] if q["queue"] == "cc-117-where")
    assert (where["offered"], where["answered"], where["lines"]) == (2, 2, ["117"])
    assert [q["queue"] for q in figures["queues"]][:2] == ["cc-122-default", "cc-122-gov"]  # [queues] order
