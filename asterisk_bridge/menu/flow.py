"""The IVR menu of one call as pure logic: actions out, caller answers in, an outcome at the end.

No I/O and no asyncio, so every path a caller can take is tested without sockets and the
session runner (``ivr.py``) only translates actions into AGI commands and replies into answers:

    flow = MenuFlow(line)
    action = flow.start()
    while not isinstance(action, Done):
        action = flow.send(run_over_agi(action))     # Pressed / NO_KEY / PROMPT_MISSING / HUNG_UP
    set_variables(action.outcome.variables())

Internally the menu is a generator that yields actions and receives answers; that keeps the
call's path readable top to bottom instead of spread over a state table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple

from asterisk_bridge.config import Line, Menu, Topic

from .errors import MenuFlowError

__all__ = [
    "Action", "Answer", "Ask", "Done", "HUNG_UP", "HungUp", "MAX_REPEATS", "MenuFlow", "MenuFlowError",
    "MenuOutcome", "NO_KEY", "NoKey", "PROMPT_MISSING", "Play", "Pressed", "PromptMissing", "Step",
    "error_outcome",
]

MAX_REPEATS = 3  # repeat-key presses per menu before the key counts as invalid
_DTMF = re.compile(r"[0-9*#A-D]+")


# ---------------------------------------------------------------- actions (what to do on the channel)

@dataclass(frozen=True)
class Play:
    """STREAM FILE prompt "<keys>"; ``keys`` are the digits that interrupt it (barge-in)."""

    prompt: str
    keys: str = ""


@dataclass(frozen=True)
class Ask:
    """GET DATA prompt timeout_ms max_digits: play the prompt and wait for a key."""

    prompt: str
    timeout_ms: int
    max_digits: int = 1


Action = Play | Ask


# ---------------------------------------------------------------- answers (what the channel said)

@dataclass(frozen=True)
class Pressed:
    """A key: the digit GET DATA returned, or the escape digit that stopped a Play."""

    key: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _DTMF.fullmatch(self.key):
            raise ValueError(f"Pressed needs DTMF digits (0-9 * # A-D), got {self.key!r}; "
                             "send NO_KEY when nothing was pressed")


@dataclass(frozen=True)
class NoKey:
    """The Play ran to its end, or the Ask timed out, with no key."""


@dataclass(frozen=True)
class PromptMissing:
    """The sound file does not exist (result -1 while the channel is still up)."""


@dataclass(frozen=True)
class HungUp:
    """The caller hung up."""


NO_KEY = NoKey()
PROMPT_MISSING = PromptMissing()
HUNG_UP = HungUp()
Answer = Pressed | NoKey | PromptMissing | HungUp


# ---------------------------------------------------------------- the record of the call's path

class Step(NamedTuple):
    """One event on the call's path through the menu, for the store.

    kind: prompt | key | invalid | timeout | repeat | operator | missing_prompt | hangup | age | error;
    menu: where it happened ("122", "122/health", "greeting", "age", "info:<topic>", "offer:<topic>").
    A named tuple rather than a dataclass: a session makes several, and tuples are cheap to build
    and drop out of the garbage collector's work once it has seen them.
    """

    at: float
    kind: str
    menu: str
    prompt: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class MenuOutcome:
    """How the menu ended: what the dialplan gets as IVR_* variables, and the path for the store."""

    result: str  # topic | operator | selfservice | timeout | hangup | error
    topic: str | None
    queue: str | None
    age_group: str
    ended_in: str
    steps: tuple[Step, ...]
    error: str | None = None  # the reason, for result "error"

    def variables(self) -> dict[str, str]:
        return {"IVR_RESULT": self.result, "IVR_TOPIC": self.topic or "",
                "IVR_QUEUE": self.queue or "", "IVR_AGE_GROUP": self.age_group}


@dataclass(frozen=True)
class Done:
    outcome: MenuOutcome


class _CallerGone(Exception):
    """Unwinds the menu generator when the caller hangs up."""


def error_outcome(line: Line | None, reason: str, clock: Callable[[], float] = time.time) -> MenuOutcome:
    """The outcome for a session that never got a flow (unknown line, bad env): an operator, if any."""
    return MenuOutcome(result="error", topic=None, queue=line.default_queue if line else None,
                       age_group="unknown", ended_in="start", steps=(Step(clock(), "error", "start"),),
                       error=reason)


# ---------------------------------------------------------------- the menu itself

class _Call:
    """The menu generator and the state it leaves behind (steps, where the call is, choices made)."""

    def __init__(self, line: Line, clock: Callable[[], float]) -> None:
        self.line, self.clock = line, clock
        self.steps: list[Step] = []
        self.where = "start"
        self.topic: Topic | None = None
        self.age_group = "unknown"

    def step(self, kind: str, prompt: str | None = None, key: str | None = None) -> None:
        self.steps.append(Step(self.clock(), kind, self.where, prompt, key))

    def outcome(self, result: str, queue: str | None, error: str | None = None) -> MenuOutcome:
        return MenuOutcome(result, self.topic.id if self.topic else None, queue, self.age_group,
                           self.where, tuple(self.steps), error)

    def run(self) -> Generator[Action, Answer, MenuOutcome]:
        try:
            key = None
            if self.line.greeting:
                self.where = "greeting"
                key = yield from self.play(self.line.greeting, self.menu_keys(self.line.menu))
            return (yield from self.menu(self.line.menu, key, parent=None))
        except _CallerGone:
            return self.outcome("hangup", None)

    # -- one prompt

    def play(self, prompt: str, keys: str = "") -> Generator[Action, Answer, str | None]:
        self.step("prompt", prompt)
        return self.key_of((yield Play(prompt, keys)), prompt)

    def ask(self, prompt: str, timeout_ms: int) -> Generator[Action, Answer, str | None]:
        self.step("prompt", prompt)
        return self.key_of((yield Ask(prompt, timeout_ms, 1)), prompt)

    def key_of(self, answer: Answer, prompt: str) -> str | None:
        """The key pressed, or None; a missing prompt is carried on as if it played with no key."""
        if isinstance(answer, HungUp):
            self.step("hangup")
            raise _CallerGone
        if isinstance(answer, PromptMissing):
            self.step("missing_prompt", prompt)
        return answer.key if isinstance(answer, Pressed) else None

    def menu_keys(self, menu: Menu) -> str:
        keys = [*menu.topics, self.line.operator_key or "", self.line.repeat_key or ""]
        return "".join(dict.fromkeys(k for k in keys if k))

    # -- menus and choices

    def menu(self, menu: Menu, key: str | None, parent: Topic | None) -> Generator[Action, Answer, MenuOutcome]:
        """Ask until a valid choice; ``key`` is one already pressed (in the greeting or an error prompt)."""
        line = self.line
        failures = repeats = 0
        while True:
            self.where = menu.path
            if key is None:
                key = yield from self.ask(menu.prompt, line.key_timeout_ms)
            if key is None:
                self.step("timeout")
                retry_prompt = line.timeout_prompt
            elif key == line.repeat_key and repeats < MAX_REPEATS:
                repeats += 1
                self.step("repeat", key=key)
                key = None
                continue
            elif key == line.operator_key:
                self.step("operator", key=key)
                self.topic = parent
                yield from self.age()
                return self.outcome("operator", line.operator_queue)
            elif key in menu.topics:
                self.step("key", key=key)
                topic = menu.topics[key]
                if topic.menu is not None:
                    return (yield from self.menu(topic.menu, None, parent=topic))
                return (yield from self.chosen(topic))
            else:
                self.step("invalid", key=key)
                retry_prompt = line.invalid_prompt
            failures += 1
            if failures >= line.attempts:
                return (yield from self.transfer(parent))
            key = (yield from self.play(retry_prompt, self.menu_keys(menu))) if retry_prompt else None

    def transfer(self, parent: Topic | None) -> Generator[Action, Answer, MenuOutcome]:
        """Attempts ran out: the sub-menu's topic queue if it has one, else the default queue."""
        self.topic = parent
        queue = parent.queue if parent is not None and parent.queue else self.line.default_queue
        if self.line.transfer_prompt:
            yield from self.play(self.line.transfer_prompt)
        return self.outcome("timeout", queue)

    def age(self) -> Generator[Action, Answer, None]:
        question = self.line.age_question
        if question is None:
            return
        where, self.where = self.where, "age"
        key = yield from self.ask(question.prompt, question.timeout_ms)
        self.age_group = question.groups.get(key, "unknown") if key else "unknown"
        self.step("age", key=key)
        self.where = where

    def chosen(self, topic: Topic) -> Generator[Action, Answer, MenuOutcome]:
        line = self.line
        self.topic = topic
        yield from self.age()
        self.where = f"info:{topic.id}"
        if topic.info_prompt:
            yield from self.play(topic.info_prompt)
        if not topic.self_service:
            return self.outcome("topic", topic.queue or line.default_queue)
        if topic.after_info == "offer_operator" and topic.offer_prompt and line.operator_key:
            self.where = f"offer:{topic.id}"
            key = yield from self.ask(topic.offer_prompt, line.key_timeout_ms)
            if key == line.operator_key:
                self.step("operator", key=key)
                return self.outcome("topic", topic.queue or line.operator_queue)
            self.step("key" if key else "timeout", key=key)
        if line.goodbye_prompt:
            try:
                yield from self.play(line.goodbye_prompt)
            except _CallerGone:
                pass  # the information was heard: hanging up on the goodbye is still self-service
        return self.outcome("selfservice", None)


class MenuFlow:
    """Drives one call's menu: ``start()``, then ``send(answer)`` for each action until ``Done``."""

    def __init__(self, line: Line, clock: Callable[[], float] = time.time) -> None:
        self.line = line
        self._call = _Call(line, clock)
        self._gen = self._call.run()
        self._started = False
        self.outcome: MenuOutcome | None = None

    @property
    def where(self) -> str:
        return self._call.where

    def start(self) -> Action | Done:
        if self._started:
            raise MenuFlowError("start() was already called")
        self._started = True
        return self._advance(None)

    def send(self, answer: Answer) -> Action | Done:
        if not self._started:
            raise MenuFlowError("send() before start()")
        if self.outcome is not None:
            raise MenuFlowError(f"the menu already ended ({self.outcome.result}); no more answers")
        if not isinstance(answer, (Pressed, NoKey, PromptMissing, HungUp)):
            raise TypeError(f"an answer must be Pressed, NO_KEY, PROMPT_MISSING or HUNG_UP, got {answer!r}")
        return self._advance(answer)

    def fail(self, reason: str) -> MenuOutcome:
        """The session broke (AGI error, timeout): send the caller to the default queue, keep the path."""
        self._gen.close()
        self._started = True
        self._call.step("error")
        self.outcome = self._call.outcome("error", self.line.default_queue, error=reason)
        return self.outcome

    def _advance(self, answer: Answer | None) -> Action | Done:
        try:
            return self._gen.send(answer)  # type: ignore[arg-type]  # None primes the generator
        except StopIteration as stop:
            self.outcome = stop.value
            return Done(stop.value)
