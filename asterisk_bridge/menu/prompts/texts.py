"""What each prompt says, pure: the configured texts, information messages joined, menus written
from the menu.

A menu prompt without a text of its own is written from the menu it reads, topic by topic in key
order, then the operator key and the repeat key (the keys ``menu/flow.py`` accepts in every menu),
so what the caller hears cannot disagree with the keys the bridge takes. The wording comes from
``PHRASES`` for the language; a language without phrases needs its menu texts written out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from asterisk_bridge.config import Config, InfoText, Line, Menu, PromptText
from asterisk_bridge.config.prompts import PromptUse, prompt_uses

from .errors import PromptTextError

MENU_LIMIT_SECONDS = 20.0  # a longer menu prompt loses callers before the last topic


@dataclass(frozen=True)
class Phrases:
    """How a generated menu is worded in one language; ``{name}`` is a topic's name."""

    heading: str  # opens a line's menu
    sub_heading: str  # opens a sub-menu; {name} is the topic that opened it
    topic: str
    operator: str
    repeat: str
    keys: Mapping[str, str]  # how * and # are said


PHRASES: Mapping[str, Phrases] = MappingProxyType({
    "ru": Phrases(
        heading="Выберите тему обращения.",
        sub_heading="{name}. Выберите вопрос.",
        topic="{name} — нажмите {key}.",
        operator="Чтобы поговорить с оператором, нажмите {key}.",
        repeat="Чтобы прослушать меню ещё раз, нажмите {key}.",
        keys=MappingProxyType({"*": "звёздочку", "#": "решётку"})),
    "en": Phrases(
        heading="Please choose the topic of your call.",
        sub_heading="{name}. Please choose your question.",
        topic="For {name}, press {key}.",
        operator="To speak to an operator, press {key}.",
        repeat="To hear the menu again, press {key}.",
        keys=MappingProxyType({"*": "star", "#": "hash"})),
})


@dataclass(frozen=True)
class PromptScript:
    """One prompt (one sound file per language): where it is played and what it says."""

    name: str
    uses: tuple[PromptUse, ...]
    text: str | None  # None: no text in this language; the prompt must be recorded
    generated: bool = False  # the text was written from the menu

    @property
    def is_menu(self) -> bool:
        return any(u.kind == "menu" for u in self.uses)

    @property
    def where(self) -> str:
        return self.uses[0].path + (f" (+{len(self.uses) - 1} more)" if len(self.uses) > 1 else "")


def spoken(text: PromptText) -> str:
    """The text as one utterance (line breaks are spaces): an information message is how, when and
    now in that order, each ending a sentence."""
    if isinstance(text, InfoText):
        parts = [" ".join(p.split()) for p in (text.how, text.when, text.now)]
        return " ".join(p if p[-1:] in ".!?…" else p + "." for p in parts if p)
    return " ".join(text.split())


def menu_text(menu: Menu, line: Line, language: str, opened_by_name: str | None = None) -> str | None:
    """The menu read aloud: every topic in key order, then the operator and repeat keys.

    None when the language has no phrases (its menu texts must be written in the configuration)."""
    phrases = PHRASES.get(language)
    if phrases is None:
        return None

    def key(k: str) -> str:
        return phrases.keys.get(k, k)

    out = [phrases.sub_heading.format(name=opened_by_name) if opened_by_name else phrases.heading]
    out += [phrases.topic.format(name=topic.name, key=key(k)) for k, topic in sorted(menu.topics.items())]
    if line.operator_key:
        out.append(phrases.operator.format(key=key(line.operator_key)))
    if line.repeat_key:
        out.append(phrases.repeat.format(key=key(line.repeat_key)))
    return " ".join(out)


def prompt_scripts(config: Config, language: str) -> list[PromptScript]:
    """Every prompt the configuration and the shipped dialplan play, each once, in config order."""
    texts = config.prompts.get(language, {})
    by_name: dict[str, list[PromptUse]] = {}
    for use in prompt_uses(config.lines.values()):
        by_name.setdefault(use.prompt, []).append(use)
    scripts = []
    for name, uses in by_name.items():
        if name in texts:
            scripts.append(PromptScript(name, tuple(uses), spoken(texts[name])))
            continue
        generated = _generated_menu(name, uses, language)
        scripts.append(PromptScript(name, tuple(uses), generated, generated is not None))
    return scripts


def _generated_menu(name: str, uses: list[PromptUse], language: str) -> str | None:
    menus = [u for u in uses if u.kind == "menu"]
    if not menus or len(menus) != len(uses):
        return None  # not a menu prompt, or also played elsewhere: it needs its own text
    written = {menu_text(u.menu, u.line, language, u.topic.name if u.topic else None)
               for u in menus if u.menu is not None and u.line is not None}
    if len(written) > 1:
        raise PromptTextError(f"{name!r} is the prompt of menus with different topics "
                              f"({', '.join(u.path for u in menus)}): give each menu its own prompt, "
                              f"or write its text in [prompts.{language}]")
    return written.pop()
