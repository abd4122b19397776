"""The simulator's traffic model: who calls, when, and what they do in the menu.

Pure and deterministic for a seed. Figures are those of the contact center README.md describes: about 160
calls a day on 122 and 90 on 117, a daytime peak and a quiet night, callers aged 30-40 (45 %),
40-60 (35 %), over 60 (18 %) and younger (the rest). Menu keys are read off the configured menus,
so the model follows whatever menu the admin is rehearsing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..config import AgeQuestion, Config, Line, Menu
from .caller_script import HangUp, Press, Reaction, Silence

# Share of the day's calls that arrive in each local hour (0..23): quiet night, morning peak.
HOURLY_PROFILE: tuple[float, ...] = (
    0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 3.0, 6.5, 9.0, 9.5, 9.0,
    8.0, 8.0, 8.5, 8.0, 7.0, 5.5, 4.0, 3.0, 2.4, 1.8, 1.2, 0.8,
)

DEFAULT_CALLS_PER_DAY: Mapping[str, int] = {"122": 160, "117": 90}

# Relative weights of topics by id; topics not listed weigh 1.0.
DEFAULT_TOPIC_WEIGHTS: Mapping[str, float] = {
    "gov": 1.5, "housing": 3.5, "social": 2.0, "health": 2.0, "other": 1.0,
    "health-appointments": 2.5, "health-drugs": 1.5, "health-hours": 1.0,
    "conditions": 4.5, "documents": 3.0, "where-to-apply": 1.5,
}

# Keys of the age question by age group; "under-30" stands for the source's "the rest".
DEFAULT_AGE_MIX: Mapping[str, float] = {"30-40": 45, "40-60": 35, "over-60": 18, "under-30": 2}


@dataclass(frozen=True)
class Behaviour:
    """How callers act in the menu, as probabilities per call."""

    barge_in: float = 0.10          # press the topic key during the greeting
    invalid_first: float = 0.08     # press a key that is not on the menu first
    silent: float = 0.05            # never press anything (reaches the default queue)
    hang_up_in_menu: float = 0.04
    operator: float = 0.06          # press the operator key straight away
    skip_age: float = 0.15          # let the age question time out
    take_operator_offer: float = 0.4  # after a self-service message
    knows_menu: float = 0.25        # presses the key early instead of waiting to hear it (when prompt lengths are known)


@dataclass(frozen=True)
class PlannedCall:
    line: str
    at: float                     # seconds since the start of the simulated day (local time)
    caller_number: str
    reactions: tuple[Reaction, ...]
    intent: str                   # what the caller meant to do: a topic id, "operator", "silent", "hangup"
    age_group: str = "unknown"


@dataclass
class TrafficModel:
    config: Config
    seed: int = 1
    calls_per_day: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CALLS_PER_DAY))
    topic_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOPIC_WEIGHTS))
    age_mix: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_AGE_MIX))
    behaviour: Behaviour = field(default_factory=Behaviour)
    # Prompt name -> ms (pbxsim/sounds.py). With it, a caller presses a menu key once the menu
    # prompt has said it (or early, ``knows_menu``); without it, 0.3-3 s into the prompt.
    prompt_ms: Mapping[str, int] | None = None

    def day(self, day_index: int = 0) -> list[PlannedCall]:
        """Every call of one simulated day, in arrival order."""
        return list(self.stream(day_index))

    def stream(self, day_index: int = 0) -> Iterator[PlannedCall]:
        """The calls of one simulated day in arrival order, made an hour at a time: only one hour's
        calls are ever held, so a day of millions of calls costs the memory of its busiest hour.

        Each line's calls are shared out over the hours by ``HOURLY_PROFILE`` (largest remainders,
        so the day has exactly its count) and arrive at random moments within their hour."""
        rng = random.Random(f"{self.seed}:{day_index}")
        shares = {number: _apportion(self.calls_per_day.get(number, 0), HOURLY_PROFILE)
                  for number in self.config.lines}
        for hour in range(24):
            calls = [self._call(rng, line, hour * 3600 + rng.random() * 3600)
                     for number, line in self.config.lines.items() for _ in range(shares[number][hour])]
            calls.sort(key=lambda c: c.at)
            yield from calls

    def at_rate(self, rate: float, seconds: float) -> Iterator[PlannedCall]:
        """``rate`` new calls a second, evenly spaced, for ``seconds``: a load test's flat arrivals.
        Lines are drawn in the proportions of ``calls_per_day``; callers act as on any day."""
        if not rate > 0 or not seconds > 0:
            raise ValueError(f"at_rate needs rate > 0 and seconds > 0, got {rate!r} and {seconds!r}")
        rng = random.Random(f"{self.seed}:rate")
        lines = [line for number, line in self.config.lines.items() if self.calls_per_day.get(number, 0) > 0]
        if not lines:
            raise ValueError("at_rate: calls_per_day gives no line any calls")
        weights = [self.calls_per_day[line.number] for line in lines]
        for index in range(int(rate * seconds)):
            yield self._call(rng, rng.choices(lines, weights=weights)[0], index / rate)

    def _call(self, rng: random.Random, line: Line, at: float) -> PlannedCall:
        b = self.behaviour
        caller = "79" + "".join(rng.choice("0123456789") for _ in range(9))
        # The greeting listens for keys too, so it takes one reaction of its own.
        greeting: list[Reaction] = [Silence()] if line.greeting else []
        roll = rng.random()
        if roll < b.hang_up_in_menu:
            hang_up = HangUp(after_ms=rng.randint(500, 4000))
            return PlannedCall(line.number, at, caller, (*greeting, hang_up), "hangup")
        roll -= b.hang_up_in_menu
        if roll < b.silent:
            return PlannedCall(line.number, at, caller, (*greeting, *[Silence()] * line.attempts), "silent")
        roll -= b.silent
        if roll < b.operator and line.operator_key:
            keys, intent = [line.operator_key], "operator"
        else:
            keys, intent = self._topic_keys(rng, line.menu)
        reactions: list[Reaction] = list(greeting)
        listening = self.prompt_ms is not None
        early = False
        if rng.random() < b.invalid_first:
            reactions.append(Press(_invalid_key(line.menu, line), rng.randint(300, 2500)))
            if listening:
                reactions.append(Silence())  # hears "no such option" out, then the menu again
        elif greeting and rng.random() < b.barge_in:
            reactions = []  # the key pressed during the greeting is the choice
            early = True
        menu = line.menu
        for i, key in enumerate(keys):
            early_max = 3000 if i == 0 else 2500
            after = rng.randint(300, early_max) if early and i == 0 else self._press_ms(rng, line, menu, key, early_max)
            reactions.append(Press(key, after))
            topic = menu.topics.get(key)
            menu = topic.menu if topic is not None and topic.menu is not None else menu
        age_group = "unknown"
        if line.age_question is not None:
            age_group = self._age_answer(rng, line.age_question, reactions)
        topic = _topic_by_keys(line.menu, keys)
        if topic is not None and topic.self_service and topic.after_info == "offer_operator":
            if rng.random() < b.take_operator_offer and line.operator_key:
                reactions.append(Press(line.operator_key, rng.randint(300, 1500)))
            else:
                reactions.append(Silence())
        return PlannedCall(line.number, at, caller, tuple(reactions), intent, age_group)

    def _press_ms(self, rng: random.Random, line: Line, menu: Menu, key: str, early_max: int) -> int:
        """When the caller presses ``key`` in ``menu``: once the menu prompt has said it, when its length is known."""
        entries = [*sorted(menu.topics), *(k for k in (line.operator_key, line.repeat_key) if k)]
        return self._listen_ms(rng, menu.prompt, entries, key, early_max)

    def _listen_ms(self, rng: random.Random, prompt: str, entries: Sequence[str], key: str, early_max: int) -> int:
        """A prompt that opens with a heading, then says each entry's key in order: the caller presses
        ``key`` just after hearing it (or early, ``knows_menu``)."""
        length = self.prompt_ms.get(prompt) if self.prompt_ms is not None else None
        if length is None or rng.random() < self.behaviour.knows_menu:
            return rng.randint(300, early_max)
        position = entries.index(key) + 1 if key in entries else len(entries)
        said = length * (position + 1) / (len(entries) + 1)
        return int(said) + rng.randint(300, 1500)

    def _age_answer(self, rng: random.Random, question: AgeQuestion, reactions: list[Reaction]) -> str:
        if rng.random() < self.behaviour.skip_age:
            reactions.append(Silence())
            return "unknown"
        group = rng.choices(list(self.age_mix), weights=list(self.age_mix.values()))[0]
        key = next((k for k, g in question.groups.items() if g == group), None)
        if key is None:
            reactions.append(Silence())
            return "unknown"
        reactions.append(Press(key, self._listen_ms(rng, question.prompt, sorted(question.groups), key, 2500)
                               if self.prompt_ms is not None else rng.randint(400, 2500)))
        return group

    def _topic_keys(self, rng: random.Random, menu: Menu) -> tuple[list[str], str]:
        topics = list(menu.topics.values())
        weights = [self.topic_weights.get(t.id, 1.0) for t in topics]
        topic = rng.choices(topics, weights=weights)[0]
        if topic.menu is not None:
            keys, intent = self._topic_keys(rng, topic.menu)
            return [topic.key, *keys], intent
        return [topic.key], topic.id


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` as whole numbers that add up to it."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _invalid_key(menu: Menu, line: Line) -> str:
    used = set(menu.topics) | {line.operator_key, line.repeat_key}
    return next(k for k in "987654321" if k not in used)


def _topic_by_keys(menu: Menu, keys: Sequence[str]):
    topic = menu.topics.get(keys[0])
    if topic is None:
        return None
    if topic.menu is not None and len(keys) > 1:
        return _topic_by_keys(topic.menu, keys[1:])
    return topic
