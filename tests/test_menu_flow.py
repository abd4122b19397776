"""The menu flow driven directly with caller answers: every path a caller can take, no sockets."""

from __future__ import annotations

import dataclasses

import pytest

from asterisk_bridge.config import parse_config
from asterisk_bridge.menu import (
    HUNG_UP,
    NO_KEY,
    PROMPT_MISSING,
    Ask,
    Done,
    MenuFlow,
    MenuFlowError,
    MenuOutcome,
    Play,
    Pressed,
    Step,
    error_outcome,
)

KEYS = "12450*"  # barge-in keys of the top menu: topics, operator, repeat


class FakeClock:
    """Each reading is half a second after the previous one, so step times are predictable."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start - 0.5

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def make_line(**overrides):
    line = {
        "number": "122", "default_queue": "q-d", "operator_queue": "q-op",
        "greeting": "g", "menu_prompt": "m", "invalid_prompt": "inv", "timeout_prompt": "to",
        "transfer_prompt": "tr", "goodbye_prompt": "bye", "attempts": 3, "key_timeout": 4,
        "age_question": {"prompt": "age", "groups": {"1": "under-30", "2": "30-40"}, "timeout": 3},
        "topics": [
            {"key": "1", "id": "a", "queue": "q-a", "info_prompt": "i-a"},
            {"key": "2", "id": "b", "queue": "q-b"},
            {"key": "4", "id": "health", "queue": "q-h", "menu_prompt": "hm", "topics": [
                {"key": "1", "id": "appt", "queue": "q-h", "info_prompt": "i-appt"},
                {"key": "2", "id": "drugs", "queue": "q-hd"},
                {"key": "3", "id": "hours", "self_service": True, "info_prompt": "i-hours",
                 "after_info": "offer_operator", "offer_prompt": "offer", "queue": "q-h"}]},
            {"key": "5", "id": "faq", "self_service": True, "info_prompt": "i-faq"},
        ],
    }
    line.update(overrides)
    line = {k: v for k, v in line.items() if v is not None}
    queues = {q: q for q in ("q-d", "q-op", "q-a", "q-b", "q-h", "q-hd")}
    return parse_config({"node": "t", "queues": queues, "lines": [line]}).line_for("122")


LINE = make_line()
PLAIN = make_line(greeting=None, timeout_prompt=None, transfer_prompt=None, goodbye_prompt=None,
                  age_question=None)


def ask(prompt: str, timeout_ms: int = 4000) -> Ask:
    return Ask(prompt, timeout_ms, 1)


def key(k: str) -> Pressed:
    return Pressed(k)


def run(line, answers, clock=None):
    """Feed the answers one per action; returns (actions, outcome) and checks every answer was used."""
    flow = MenuFlow(line, clock or FakeClock())
    answers = list(answers)
    actions = []
    action = flow.start()
    while not isinstance(action, Done):
        actions.append(action)
        assert answers, f"the flow wants an answer to {action} but the script has none left"
        action = flow.send(answers.pop(0))
    assert not answers, f"the flow ended with {len(answers)} answers unused"
    assert flow.outcome is action.outcome
    return actions, action.outcome


def kinds(outcome: MenuOutcome) -> list[str]:
    return [s.kind for s in outcome.steps]


def summary(outcome: MenuOutcome) -> tuple:
    return outcome.result, outcome.topic, outcome.queue, outcome.age_group, outcome.ended_in


# ---------------------------------------------------------------- choosing a topic

def test_key_pressed_in_the_greeting_is_the_menu_choice():
    actions, outcome = run(LINE, [key("1"), key("2"), NO_KEY])
    assert actions == [Play("g", KEYS), ask("age", 3000), Play("i-a")]
    assert summary(outcome) == ("topic", "a", "q-a", "30-40", "info:a")
    assert outcome.steps == (
        Step(1000.0, "prompt", "greeting", prompt="g"),
        Step(1000.5, "key", "122", key="1"),
        Step(1001.0, "prompt", "age", prompt="age"),
        Step(1001.5, "age", "age", key="2"),
        Step(1002.0, "prompt", "info:a", prompt="i-a"))


def test_valid_key_in_the_menu_and_a_topic_without_info():
    actions, outcome = run(LINE, [NO_KEY, key("2"), NO_KEY])
    assert actions == [Play("g", KEYS), ask("m"), ask("age", 3000)]
    assert summary(outcome) == ("topic", "b", "q-b", "unknown", "info:b")
    assert kinds(outcome) == ["prompt", "prompt", "key", "prompt", "age"]


def test_no_greeting_configured_starts_with_the_menu():
    actions, outcome = run(PLAIN, [key("1"), NO_KEY])
    assert actions == [ask("m"), Play("i-a")]
    assert summary(outcome) == ("topic", "a", "q-a", "unknown", "info:a")


def test_invalid_then_valid():
    actions, outcome = run(PLAIN, [key("9"), NO_KEY, key("1"), NO_KEY])
    assert actions == [ask("m"), Play("inv", KEYS), ask("m"), Play("i-a")]
    assert kinds(outcome) == ["prompt", "invalid", "prompt", "prompt", "key", "prompt"]
    assert outcome.steps[1] == Step(1000.5, "invalid", "122", key="9")
    assert outcome.result == "topic"


def test_key_pressed_during_the_invalid_prompt_counts_as_the_choice():
    actions, outcome = run(PLAIN, [key("7"), key("2")])
    assert actions == [ask("m"), Play("inv", KEYS)]
    assert summary(outcome) == ("topic", "b", "q-b", "unknown", "info:b")


# ---------------------------------------------------------------- running out of attempts

def test_timeouts_go_to_the_default_queue_after_the_transfer_prompt():
    actions, outcome = run(LINE, [NO_KEY, NO_KEY, NO_KEY, NO_KEY, NO_KEY, NO_KEY, NO_KEY])
    assert actions == [Play("g", KEYS), ask("m"), Play("to", KEYS), ask("m"), Play("to", KEYS), ask("m"), Play("tr")]
    assert summary(outcome) == ("timeout", None, "q-d", "unknown", "122")
    assert kinds(outcome).count("timeout") == 3


def test_invalid_keys_exhaust_attempts_without_prompts_configured():
    actions, outcome = run(PLAIN, [key("9"), NO_KEY, NO_KEY, key("8")])
    assert actions == [ask("m"), Play("inv", KEYS), ask("m"), ask("m")]  # no timeout prompt, no transfer prompt
    assert summary(outcome) == ("timeout", None, "q-d", "unknown", "122")
    assert kinds(outcome) == ["prompt", "invalid", "prompt", "prompt", "timeout", "prompt", "invalid"]


def test_one_attempt_means_the_first_mistake_transfers():
    actions, outcome = run(make_line(attempts=1), [NO_KEY, key("9"), NO_KEY])
    assert actions == [Play("g", KEYS), ask("m"), Play("tr")]
    assert outcome.queue == "q-d"


# ---------------------------------------------------------------- operator and repeat keys

def test_operator_key_goes_to_the_operator_queue_after_the_age_question():
    actions, outcome = run(LINE, [NO_KEY, key("0"), key("1")])
    assert actions == [Play("g", KEYS), ask("m"), ask("age", 3000)]
    assert summary(outcome) == ("operator", None, "q-op", "under-30", "122")
    assert outcome.steps[2] == Step(1001.0, "operator", "122", key="0")


def test_operator_queue_defaults_to_the_default_queue():
    _, outcome = run(make_line(operator_queue=None, age_question=None), [key("0")])
    assert summary(outcome) == ("operator", None, "q-d", "unknown", "122")


def test_repeat_key_replays_the_menu_without_using_an_attempt():
    actions, outcome = run(PLAIN, [key("*"), NO_KEY, NO_KEY, NO_KEY])
    assert actions == [ask("m")] * 4
    assert kinds(outcome) == ["prompt", "repeat", "prompt", "timeout", "prompt", "timeout", "prompt", "timeout"]
    assert outcome.result == "timeout"


def test_fourth_repeat_counts_as_invalid():
    actions, outcome = run(PLAIN, [key("*")] * 4 + [NO_KEY, key("1"), NO_KEY])
    assert actions == [ask("m")] * 4 + [Play("inv", KEYS), ask("m"), Play("i-a")]
    assert kinds(outcome)[:9] == ["prompt", "repeat", "prompt", "repeat", "prompt", "repeat", "prompt", "invalid", "prompt"]
    assert outcome.topic == "a"


def test_keys_turned_off_are_ordinary_invalid_keys():
    topics = [{"key": "1", "id": "a", "queue": "q-a"}, {"key": "2", "id": "b", "queue": "q-b"}]
    line = make_line(operator_key="", repeat_key="", greeting=None, age_question=None, topics=topics)
    actions, outcome = run(line, [key("0"), NO_KEY, key("*"), NO_KEY, key("2")])
    assert actions == [ask("m"), Play("inv", "12"), ask("m"), Play("inv", "12"), ask("m")]
    assert outcome.topic == "b"


# ---------------------------------------------------------------- sub-menus

def test_nested_sub_menu_choice():
    actions, outcome = run(LINE, [key("4"), key("2"), NO_KEY])
    assert actions == [Play("g", KEYS), ask("hm"), ask("age", 3000)]
    assert summary(outcome) == ("topic", "drugs", "q-hd", "unknown", "info:drugs")
    assert [s.menu for s in outcome.steps[:4]] == ["greeting", "122", "122/health", "122/health"]


def test_sub_menu_has_fresh_attempts_and_runs_out_to_the_parent_topic_queue():
    answers = [key("9"), NO_KEY, key("4")] + [key("8"), NO_KEY] * 2 + [key("8"), NO_KEY]
    actions, outcome = run(LINE, [NO_KEY] + answers)
    assert actions[-2:] == [ask("hm"), Play("tr")]
    assert actions.count(Play("inv", "1230*")) == 2
    assert summary(outcome) == ("timeout", "health", "q-h", "unknown", "122/health")


def test_sub_menu_without_a_queue_runs_out_to_the_default_queue():
    topics = [{"key": "4", "id": "health", "menu_prompt": "hm",
               "topics": [{"key": "1", "id": "appt", "queue": "q-h"}]}]
    line = make_line(topics=topics, greeting=None, timeout_prompt=None, transfer_prompt=None)
    _, outcome = run(line, [key("4"), NO_KEY, NO_KEY, NO_KEY])
    assert summary(outcome) == ("timeout", "health", "q-d", "unknown", "122/health")


def test_operator_key_in_a_sub_menu_keeps_the_parent_topic():
    _, outcome = run(PLAIN, [key("4"), key("0")])
    assert summary(outcome) == ("operator", "health", "q-op", "unknown", "122/health")


# ---------------------------------------------------------------- self-service

def test_self_service_end_plays_info_then_goodbye():
    actions, outcome = run(LINE, [key("5"), NO_KEY, NO_KEY, NO_KEY])
    assert actions == [Play("g", KEYS), ask("age", 3000), Play("i-faq"), Play("bye")]
    assert summary(outcome) == ("selfservice", "faq", None, "unknown", "info:faq")
    assert outcome.variables() == {"IVR_RESULT": "selfservice", "IVR_TOPIC": "faq", "IVR_QUEUE": "",
                                   "IVR_AGE_GROUP": "unknown"}


def test_offer_operator_accepted_queues_the_call():
    actions, outcome = run(PLAIN, [key("4"), key("3"), NO_KEY, key("0")])
    assert actions == [ask("m"), ask("hm"), Play("i-hours"), ask("offer")]
    assert summary(outcome) == ("topic", "hours", "q-h", "unknown", "offer:hours")
    assert outcome.steps[-1] == Step(outcome.steps[-1].at, "operator", "offer:hours", key="0")


@pytest.mark.parametrize("answer, step", [(NO_KEY, "timeout"), (key("5"), "key"), (PROMPT_MISSING, "timeout")])
def test_offer_operator_declined_is_self_service(answer, step):
    actions, outcome = run(LINE, [key("4"), key("3"), NO_KEY, NO_KEY, answer, NO_KEY])
    assert actions[-2:] == [ask("offer"), Play("bye")]
    assert summary(outcome) == ("selfservice", "hours", None, "unknown", "offer:hours")
    assert step in kinds(outcome)


def test_hanging_up_on_the_goodbye_is_still_self_service():
    _, outcome = run(LINE, [key("5"), NO_KEY, NO_KEY, HUNG_UP])
    assert summary(outcome) == ("selfservice", "faq", None, "unknown", "info:faq")
    assert kinds(outcome)[-1] == "hangup"


# ---------------------------------------------------------------- the age question

@pytest.mark.parametrize("answer, group", [
    (key("1"), "under-30"), (key("2"), "30-40"), (key("9"), "unknown"), (NO_KEY, "unknown"),
    (PROMPT_MISSING, "unknown")])
def test_age_question_answers(answer, group):
    _, outcome = run(LINE, [key("2"), answer])
    assert outcome.age_group == group and outcome.variables()["IVR_AGE_GROUP"] == group
    age_step = next(s for s in outcome.steps if s.kind == "age")
    assert age_step.key == (answer.key if isinstance(answer, Pressed) else None)


def test_age_question_is_asked_once_after_a_sub_menu_choice():
    actions, _ = run(LINE, [key("4"), key("9"), NO_KEY, key("1"), key("2"), NO_KEY])
    assert actions.count(ask("age", 3000)) == 1
    assert actions[-2:] == [ask("age", 3000), Play("i-appt")]


# ---------------------------------------------------------------- missing prompts

def test_missing_greeting_goes_on_to_the_menu():
    actions, outcome = run(dataclasses.replace(PLAIN, greeting="g"), [PROMPT_MISSING, key("2")])
    assert actions == [Play("g", KEYS), ask("m")]
    assert outcome.steps[1] == Step(1000.5, "missing_prompt", "greeting", prompt="g")
    assert outcome.topic == "b"


def test_missing_menu_prompt_counts_as_a_timeout_and_still_reaches_the_default_queue():
    actions, outcome = run(LINE, [NO_KEY, PROMPT_MISSING, NO_KEY, PROMPT_MISSING, NO_KEY, PROMPT_MISSING, NO_KEY])
    assert actions == [Play("g", KEYS), ask("m"), Play("to", KEYS), ask("m"), Play("to", KEYS), ask("m"), Play("tr")]
    assert kinds(outcome).count("missing_prompt") == 3 and kinds(outcome).count("timeout") == 3
    assert summary(outcome) == ("timeout", None, "q-d", "unknown", "122")


def test_missing_info_prompt_still_queues_the_topic():
    _, outcome = run(PLAIN, [key("1"), PROMPT_MISSING])
    assert summary(outcome) == ("topic", "a", "q-a", "unknown", "info:a")
    assert outcome.steps[-1] == Step(1001.5, "missing_prompt", "info:a", prompt="i-a")


# ---------------------------------------------------------------- hang-ups

@pytest.mark.parametrize("answers, ended_in, topic", [
    ([HUNG_UP], "greeting", None),
    ([NO_KEY, HUNG_UP], "122", None),
    ([NO_KEY, key("9"), HUNG_UP], "122", None),        # during the invalid prompt
    ([key("4"), HUNG_UP], "122/health", None),
    ([key("1"), HUNG_UP], "age", "a"),
    ([key("0"), HUNG_UP], "age", None),
    ([key("1"), key("1"), HUNG_UP], "info:a", "a"),
    ([key("4"), key("3"), NO_KEY, NO_KEY, HUNG_UP], "offer:hours", "hours"),
    ([NO_KEY] * 6 + [HUNG_UP], "122", None),            # during the transfer prompt
])
def test_hang_up_anywhere_ends_with_no_queue(answers, ended_in, topic):
    _, outcome = run(LINE, answers)
    assert summary(outcome)[:3] == ("hangup", topic, None) and outcome.ended_in == ended_in
    assert outcome.steps[-1].kind == "hangup" and outcome.steps[-1].menu == ended_in
    assert outcome.variables()["IVR_QUEUE"] == ""


# ---------------------------------------------------------------- failures and driving errors

def test_fail_sends_the_caller_to_the_default_queue_and_keeps_the_path():
    flow = MenuFlow(LINE, FakeClock())
    flow.start()
    flow.send(key("1"))
    outcome = flow.fail("AGI command timed out")
    assert summary(outcome) == ("error", "a", "q-d", "unknown", "age")
    assert outcome.error == "AGI command timed out"
    assert kinds(outcome) == ["prompt", "key", "prompt", "error"] and outcome.steps[-1].at == 1001.5
    assert outcome.variables() == {"IVR_RESULT": "error", "IVR_TOPIC": "a", "IVR_QUEUE": "q-d",
                                   "IVR_AGE_GROUP": "unknown"}
    with pytest.raises(MenuFlowError, match="already ended"):
        flow.send(NO_KEY)


def test_error_outcome_without_a_line():
    outcome = error_outcome(None, "unknown line '999'", FakeClock())
    assert summary(outcome) == ("error", None, None, "unknown", "start")
    assert outcome.steps == (Step(1000.0, "error", "start"),) and outcome.error == "unknown line '999'"
    assert error_outcome(LINE, "bad env", FakeClock()).queue == "q-d"


def test_driving_the_flow_out_of_order_is_refused():
    flow = MenuFlow(LINE, FakeClock())
    with pytest.raises(MenuFlowError, match="before start"):
        flow.send(NO_KEY)
    assert flow.start() == Play("g", KEYS)
    with pytest.raises(MenuFlowError, match="already called"):
        flow.start()
    with pytest.raises(TypeError, match="an answer must be"):
        flow.send("1")  # type: ignore[arg-type]
    assert flow.send(key("2")) == ask("age", 3000)  # the bad answer did not disturb the flow
    assert isinstance(flow.send(NO_KEY), Done)
    with pytest.raises(MenuFlowError, match="already ended"):
        flow.send(NO_KEY)


@pytest.mark.parametrize("bad", ["", "x", "1 "])
def test_pressed_rejects_what_is_not_a_key(bad):
    with pytest.raises(ValueError, match="send NO_KEY"):
        Pressed(bad)
