"""The ``[prompts]`` section of the configuration: what every prompt says, per language.

Texts are keyed by prompt name under one table per language (``[prompts.ru]``, ``[prompts.en]``),
the way Asterisk finds the sound file (``sounds/<language>/<prompt>``): one text is one file, a
prompt two lines share (``cc/invalid-choice``) is written once, and the dialplan's own prompts
have a place too. A topic's information message is a table of three parts, ``how`` (how the
question is handled), ``when`` (when the official answer comes) and ``now`` (what the caller can
do now), because that is the promise of the line (see the README's "Prompts" section).

Also here: :func:`prompt_uses`, every place a prompt is played (the lines' keys and the shipped
dialplan), which both the checks below and the prompts package (``menu/prompts/``) read.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import ConfigProblem
from .settings import InfoText, Line, Menu, PromptText, Topic
from .table import Table, show, type_name

# Prompts the shipped dialplan (dialplan/extensions_contact_center.conf) plays itself.
DIALPLAN_FILE = "dialplan/extensions_contact_center.conf"
DIALPLAN_PROMPTS: Mapping[str, str] = MappingProxyType({
    "cc/bridge-down-apology": "the bridge did not run the menu; the caller goes to the default queue",
    "cc/no-operator-apology": "no operator answered in the queues; the call ends",
})
INFO_PARTS: Mapping[str, str] = MappingProxyType({
    "how": "how the question is handled",
    "when": "when the official answer comes",
    "now": "what the caller can do now",
})

_LANGUAGE_RE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]+)*")
_SPEAKABLE_RE = re.compile(r"\w")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PromptUse:
    """One place a prompt is played: a line's key, a topic's key, or the dialplan."""

    path: str  # TOML key path ("lines[0].topics[1].info_prompt") or the dialplan file
    prompt: str
    kind: str  # "menu" (read with GET DATA), "info", "prompt" (any other line prompt), "dialplan"
    line: Line | None = None
    menu: Menu | None = None  # the menu a "menu" prompt reads
    topic: Topic | None = None  # the topic of an "info" prompt, or the topic that opens a sub-menu


def prompt_uses(lines: Iterable[Line]) -> list[PromptUse]:
    """Every prompt the lines and the shipped dialplan play, in config order, dialplan last."""
    uses: list[PromptUse] = []

    def add(path: str, prompt: str | None, kind: str, line: Line, **owner) -> None:
        if prompt:
            uses.append(PromptUse(path, prompt, kind, line, **owner))

    def walk(line: Line, menu: Menu, path: str, prompt_key: str, opened_by: Topic | None) -> None:
        add(f"{path}.{prompt_key}", menu.prompt, "menu", line, menu=menu, topic=opened_by)
        for i, topic in enumerate(menu.topics.values()):
            tp = f"{path}.topics[{i}]"
            if topic.menu is not None:
                walk(line, topic.menu, tp, "menu_prompt", topic)
            add(f"{tp}.info_prompt", topic.info_prompt, "info", line, topic=topic)
            add(f"{tp}.offer_prompt", topic.offer_prompt, "prompt", line, topic=topic)

    for n, line in enumerate(lines):
        lp = f"lines[{n}]"
        for key in ("greeting", "invalid_prompt", "timeout_prompt", "transfer_prompt", "goodbye_prompt"):
            add(f"{lp}.{key}", getattr(line, key), "prompt", line)
        walk(line, line.menu, lp, "menu_prompt", None)
        if line.age_question is not None:
            add(f"{lp}.age_question.prompt", line.age_question.prompt, "prompt", line)
    uses += [PromptUse(DIALPLAN_FILE, name, "dialplan") for name in DIALPLAN_PROMPTS]
    return uses


def speakable(text: str) -> bool:
    """espeak-ng says nothing for a text without a letter or digit (blank, only punctuation)."""
    return bool(_SPEAKABLE_RE.search(text))


def _quoted(key: str) -> str:
    return key if _BARE_KEY_RE.fullmatch(key) else f'"{key}"'


def read_prompt_texts(top: Table) -> dict[str, dict[str, PromptText]]:
    """``[prompts.<language>]`` -> {language: {prompt: text}}; shape problems are recorded on ``top``."""
    section = top.table("prompts")
    texts: dict[str, dict[str, PromptText]] = {}
    if section is None:
        return texts
    for language in section.data:
        table = section.table(language)
        if not _LANGUAGE_RE.fullmatch(language):
            section.problem(language, f"{language!r} is not a language code like \"ru\" or \"en\" "
                                      "(texts go in [prompts.ru], [prompts.en], ...)")
            continue
        if table is None:
            continue
        texts[language] = {name: text for name in table.data
                           if (text := _read_text(table, name)) is not None}
    return texts


def _read_text(table: Table, name: str) -> PromptText | None:
    value = table.raw(name)
    path = f"{table.path}.{_quoted(name)}"
    if isinstance(value, str):
        if not speakable(value):
            table.problems.append(ConfigProblem(path, "is empty after stripping: espeak-ng has nothing to say "
                                                      "(write the text, or remove it and record the prompt)"))
            return None
        return value
    if not isinstance(value, dict):
        table.problems.append(ConfigProblem(path, f"{show(value)} is {type_name(value)}, expected a string "
                                                  "(or, for an information message, a table of how, when, now)"))
        return None
    parts = Table(value, path, table.problems)
    found = {}
    for part in INFO_PARTS:
        text = parts.string(part)
        if text is not None and not speakable(text):
            parts.problem(part, "is empty after stripping: espeak-ng has nothing to say")
            text = None
        found[part] = text or ""
    parts.finish()
    return InfoText(**found)


def prompt_text_problems(texts: Mapping[str, Mapping[str, PromptText]],
                         uses: list[PromptUse]) -> list[ConfigProblem]:
    """Texts that cannot be what their prompt needs: unknown prompts, information messages not in
    three parts (naming the topic), three parts where one text is played."""
    by_name: dict[str, list[PromptUse]] = {}
    for use in uses:
        by_name.setdefault(use.prompt, []).append(use)
    problems = []
    for language, entries in texts.items():
        for name, text in entries.items():
            path = f"prompts.{language}.{_quoted(name)}"
            played = by_name.get(name)
            if not played:
                close = difflib.get_close_matches(name, list(by_name), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(ConfigProblem(path, f"no line and no dialplan prompt plays {name!r}{hint}"))
                continue
            info = [u for u in played if u.kind == "info"]
            if info and not isinstance(text, InfoText):
                problems.append(ConfigProblem(path, f"is one string, but it is the information message of "
                                                    f"{_topics(info)}: write it as a table of how, when and now"))
            elif isinstance(text, InfoText) and not info:
                problems.append(ConfigProblem(path, f"how, when and now are for a topic's information "
                                                    f"message; {played[0].path} plays it: write one string"))
            elif isinstance(text, InfoText):
                for part, meaning in INFO_PARTS.items():
                    if not getattr(text, part):
                        problems.append(ConfigProblem(path, f"lacks {part!r} ({meaning}), which the information "
                                                            f"message of {_topics(info)} must say"))
    return problems


def _topics(uses: list[PromptUse]) -> str:
    return ", ".join(f"topic {u.topic.id!r} ({u.path.rsplit('.', 1)[0]})" for u in uses if u.topic is not None)


def count_texts(texts: Mapping[str, Mapping[str, PromptText]]) -> str:
    """"ru 20, en 23" for the check-config summary."""
    return ", ".join(f"{language} {len(entries)}" for language, entries in texts.items()) or "none"


__all__ = [
    "DIALPLAN_FILE", "DIALPLAN_PROMPTS", "INFO_PARTS", "InfoText", "PromptText", "PromptUse",
    "count_texts", "prompt_text_problems", "prompt_uses", "read_prompt_texts", "speakable",
]
