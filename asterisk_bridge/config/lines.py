"""Readers of ``[[lines]]``: a line's keys and prompts, its menu tree of topics, and the age question.

Checks that span a line (a topic key that clashes with the operator or repeat key, a topic id
used twice, a queue not declared in ``[queues]``, menus nested too deep) live here, next to the
values they compare.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from types import MappingProxyType

from .settings import SOUND_EXTENSIONS, AgeQuestion, Line, Menu, Topic
from .table import MISSING, Table, show

MAX_MENU_DEPTH = 3

_PROMPT_RE = re.compile(r"[^\s\"'&;,|\\]+")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # line numbers, topic ids, node
_CODE_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_KEY_RE = re.compile(r"[0-9]")
_SPECIAL_KEY_RE = re.compile(r"[0-9*#]")


@dataclass
class _LineContext:
    """What every topic of one line is checked against."""

    queues: dict[str, str]
    operator_key: str | None
    repeat_key: str | None
    ids: dict[str, str] = field(default_factory=dict)  # topic id -> key path of its first use


def _prompt(t: Table, key: str, required: bool = False) -> str | None:
    value = t.string(key, required=required, pattern=_PROMPT_RE,
                     what="a sound name (no spaces, quotes, & ; , |)")
    if value and value.lower().endswith(SOUND_EXTENSIONS):
        t.problem(key, f"{value!r} includes a file extension; write it without (Asterisk picks the format)")
    return value or None


def _queue(t: Table, key: str, queues: dict[str, str], required: bool = False) -> str | None:
    value = t.string(key, required=required)
    if value and value not in queues:
        close = difflib.get_close_matches(value, list(queues), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        t.problem(key, f"{value!r} is not declared in [queues]{hint}")
    return value or None


def _special_key(t: Table, key: str, default: str) -> str | None:
    value = t.string(key, default)
    if value and not _SPECIAL_KEY_RE.fullmatch(value):
        t.problem(key, f"{show(value)} is not one key 0-9, * or # (use \"\" to turn it off)")
    return value or None


def _menu(tables: list[Table], owner: Table, path: str, prompt: str | None,
          depth: int, ctx: _LineContext) -> Menu:
    if not tables:
        owner.problem("topics", "a menu needs at least one topic ([[...topics]])")
    topics: dict[str, Topic] = {}
    first_use: dict[str, str] = {}
    for t in tables:
        topic = _topic(t, path, depth, ctx)
        key = topic.key
        if not key:
            continue
        if key in first_use:
            t.problem("key", f"{key!r} is already used by {first_use[key]} in this menu")
        elif key == ctx.operator_key:
            t.problem("key", f"{key!r} is the line's operator_key")
        elif key == ctx.repeat_key:
            t.problem("key", f"{key!r} is the line's repeat_key")
        else:
            first_use[key] = t.path
            topics[key] = topic
    return Menu(path=path, prompt=prompt or "", topics=MappingProxyType(topics))


def _topic(t: Table, parent_path: str, depth: int, ctx: _LineContext) -> Topic:
    key = t.string("key", required=True)
    if key and not _KEY_RE.fullmatch(key):
        t.problem("key", f"{key!r} is not a single digit 0-9")
        key = None  # no clash reports on top of this one
    topic_id = t.string("id", "", required=True, pattern=NAME_RE, what="an id (letters, digits, - _ .)")
    if topic_id in ctx.ids:
        t.problem("id", f"{topic_id!r} is already used by {ctx.ids[topic_id]} (topic ids are unique in a line)")
    elif topic_id:
        ctx.ids[topic_id] = t.at("id")
    name = t.string("name", topic_id)
    queue = _queue(t, "queue", ctx.queues)
    sub_tables = t.tables("topics")
    if sub_tables:
        for k in ("info_prompt", "self_service", "after_info", "offer_prompt"):
            if t.raw(k) is not MISSING:
                t.problem(k, "is not used by a topic with a sub-menu (remove it or move it to its topics)")
        path = f"{parent_path}/{topic_id}"
        if depth + 1 > MAX_MENU_DEPTH:
            t.problem("topics", f"menus nest at most {MAX_MENU_DEPTH} deep; {path!r} would be menu {depth + 1}")
        menu = _menu(sub_tables, t, path, _prompt(t, "menu_prompt", required=True), depth + 1, ctx)
        t.finish()
        return Topic(key=key or "", id=topic_id, name=name, queue=queue, menu=menu)

    if t.has("menu_prompt"):
        t.raw("menu_prompt")
        t.problem("menu_prompt", "is only for a topic with a sub-menu ([[...topics.topics]])")
    self_service = t.boolean("self_service", False)
    info = _prompt(t, "info_prompt", required=self_service)
    after = t.choice("after_info", "end" if self_service else "queue", ("queue", "end", "offer_operator"))
    offer = _prompt(t, "offer_prompt", required=after == "offer_operator")
    if self_service and after == "queue":
        t.problem("after_info", "'queue' is not for self-service topics; use 'end' or 'offer_operator'")
    if not self_service and after != "queue":
        t.problem("after_info", f"{after!r} needs self_service = true")
    if after == "offer_operator" and ctx.operator_key is None:
        t.problem("after_info", "'offer_operator' needs the line's operator_key")
    if offer and after != "offer_operator":
        t.problem("offer_prompt", "is only used with after_info = \"offer_operator\"")
    if queue is None and not (self_service and after == "end") and not t.has("queue"):
        t.problem("queue", "is missing: a topic without a queue must be self-service with after_info = "
                           "\"end\" or have a sub-menu")
    t.finish()
    return Topic(key=key or "", id=topic_id, name=name, queue=queue, info_prompt=info,
                 self_service=self_service, after_info=after, offer_prompt=offer)


def _age_question(t: Table, default_timeout: float) -> AgeQuestion:
    prompt = _prompt(t, "prompt", required=True)
    groups: dict[str, str] = {}
    table = t.table("groups")
    if table is None:
        if not t.has("groups"):
            t.problem("groups", 'is required, e.g. { "1" = "under-30", "2" = "30-40" }')
    else:
        for key in table.data:
            code = table.string(key, required=True, pattern=_CODE_RE, what="a group code (a-z 0-9 - _)")
            if not _KEY_RE.fullmatch(key):
                table.problem(key, f"{key!r} is not a single digit 0-9")
            elif code == "unknown":
                table.problem(key, "'unknown' is reserved for callers who do not answer")
            elif code in groups.values():
                table.problem(key, f"{code!r} is used for two keys")
            elif code:
                groups[key] = code
        if not table.data:
            t.problem("groups", "needs at least one group")
    timeout = t.number("timeout", default_timeout, 1, 30)
    t.finish()
    return AgeQuestion(prompt=prompt or "", groups=MappingProxyType(groups), timeout_ms=round(timeout * 1000))


def read_line(t: Table, queues: dict[str, str]) -> Line:
    number = t.string("number", "", required=True, pattern=NAME_RE, what="a line number like \"122\"")
    operator_key = _special_key(t, "operator_key", "0")
    repeat_key = _special_key(t, "repeat_key", "*")
    if operator_key and operator_key == repeat_key:
        t.problem("repeat_key", f"{repeat_key!r} is also the operator_key")
    ctx = _LineContext(queues, operator_key, repeat_key)
    default_queue = _queue(t, "default_queue", queues, required=True) or ""
    operator_queue = _queue(t, "operator_queue", queues) or default_queue
    key_timeout = t.number("key_timeout", 5.0, 1, 30)
    age = t.table("age_question")
    line = Line(
        number=number, name=t.string("name", number),
        default_queue=default_queue, operator_queue=operator_queue,
        greeting=_prompt(t, "greeting"), invalid_prompt=_prompt(t, "invalid_prompt", required=True) or "",
        timeout_prompt=_prompt(t, "timeout_prompt"), transfer_prompt=_prompt(t, "transfer_prompt"),
        goodbye_prompt=_prompt(t, "goodbye_prompt"), attempts=t.integer("attempts", 3, 1, 9),
        key_timeout_ms=round(key_timeout * 1000), operator_key=operator_key, repeat_key=repeat_key,
        menu=_menu(t.tables("topics"), t, number, _prompt(t, "menu_prompt", required=True), 1, ctx),
        age_question=_age_question(age, key_timeout) if age is not None else None)
    t.finish()
    return line

