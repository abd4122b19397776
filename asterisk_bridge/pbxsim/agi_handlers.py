"""Asterisk 22's answer to each FastAGI command that plays no media, on a simulated channel.

Each handler takes the session and the parsed words and returns the reply line(s), USAGE
(res_agi's RESULT_SHOWUSAGE, answered with the 520 block) or None (aborted, no reply, A10).
Handlers see the session only through :class:`Session`, so this module and ``agi_media.py`` do
not depend on the session's class (``agi_session.py`` imports them, not the reverse). Facts
A1-A14 are listed in ``tests/fixtures/asterisk/README.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping
from typing import Any, Final, Protocol

from .agi_vars import LiveChannel, get_variable, parse_callerid, substitute
from .caller_script import Reaction

log = logging.getLogger("asterisk_bridge.pbxsim.agi")


class Session(Protocol):
    """What a command handler may use of the session that plays the call."""

    chan: LiveChannel
    dead: bool  # the channel hung up and Asterisk noticed: only dead_ok commands run
    failure: bool  # set when a prompt is missing: AGISTATUS=FAILURE (A7)
    hang_after_reply: bool  # hang the channel up once the reply is sent
    scale: float  # call-time ms -> real seconds
    debug: bool
    sounds: Container[str] | None
    prompt_len: Callable[[str], float]

    async def pause(self, ms: float) -> None: ...

    async def wait_input(self, seconds: float | None) -> bool: ...

    def take_reaction(self, reads_keys: bool) -> Reaction: ...

    def exists(self, prompt: str) -> bool: ...

    def play(self, length_ms: float, escape: str) -> tuple[float, int, bool]: ...


class _Usage:
    """The type of USAGE."""


USAGE: Final = _Usage()  # a handler's "show usage" answer (RESULT_SHOWUSAGE)
Reply = str | _Usage | None  # the reply line(s), USAGE, or None: no reply (aborted, A10)
Handler = Callable[[Session, list[str]], Any]  # returns a Reply, or a coroutine of one


def scan_int(text: str) -> int | None:
    """sscanf("%d"): optional sign and leading digits; None when there are none."""
    s = text.lstrip()
    end = 1 if s[:1] in ("-", "+") else 0
    while end < len(s) and s[end].isdigit():
        end += 1
    digits = s[:end]
    return int(digits) if digits not in ("", "-", "+") else None


def atoi(text: str) -> int:
    value = scan_int(text)
    return 0 if value is None else value


# --- command handlers: return a reply, USAGE, or None (no reply) ---------------------------

def _asyncagi_break(s: Session, argv: list[str]) -> Reply:
    return "200 result=0\n"


def _channel_status(s: Session, argv: list[str]) -> Reply:
    if len(argv) == 2:
        return f"200 result={s.chan.state}\n"
    if len(argv) == 3:
        return f"200 result={s.chan.state}\n" if argv[2] == s.chan.name else "200 result=-1\n"
    return USAGE


def _db_key(family: str, key: str) -> str:
    return f"/{family}/{key}"


def _database_put(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 5:
        return USAGE
    s.chan.database[_db_key(argv[2], argv[3])] = argv[4]
    return "200 result=1\n"


def _database_get(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 4:
        return USAGE
    value = s.chan.database.get(_db_key(argv[2], argv[3]))
    return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"


def _database_del(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 4:
        return USAGE
    s.chan.database.pop(_db_key(argv[2], argv[3]), None)
    return "200 result=1\n"  # even for a missing key (A13)


def _database_deltree(s: Session, argv: list[str]) -> Reply:
    if len(argv) not in (3, 4):
        return USAGE
    prefix = f"/{argv[2]}/" if len(argv) == 3 else f"/{argv[2]}/{argv[3]}/"
    doomed = [k for k in s.chan.database if k.startswith(prefix) or k == prefix[:-1]]
    for key in doomed:
        del s.chan.database[key]
    return "200 result=0\n" if doomed else "200 result=1\n"  # inverted in 22 (A13)


def _get_full_variable(s: Session, argv: list[str]) -> Reply:
    if len(argv) not in (4, 5):
        return USAGE
    if len(argv) == 5 and argv[4] != s.chan.name:
        return "200 result=0\n"
    return f"200 result=1 ({substitute(s.chan, argv[3])})\n"


def _get_variable(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 3:
        return USAGE
    value = get_variable(s.chan, argv[2])
    return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"


def _hangup(s: Session, argv: list[str]) -> Reply:
    if len(argv) == 1 or (len(argv) == 2 and argv[1] == s.chan.name):
        s.hang_after_reply = True  # only requests the hangup; the server closes (A12)
        return "200 result=1\n"
    if len(argv) == 2:
        return "200 result=-1\n"
    return USAGE


def _noop(s: Session, argv: list[str]) -> Reply:
    return "200 result=0\n"


def _send_text(s: Session, argv: list[str]) -> Reply:
    return USAGE if len(argv) != 3 else "200 result=0\n"


def _set_autohangup(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 3 or scan_int(argv[2]) is None:
        return USAGE
    return "200 result=0\n"


def _set_callerid(s: Session, argv: list[str]) -> Reply:
    if len(argv) >= 3:
        s.chan.caller_name, s.chan.caller_number = parse_callerid(argv[2])
    return "200 result=1\n"


def _set_context(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 3:
        return USAGE
    s.chan.context = argv[2]
    return "200 result=0\n"


def _set_extension(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 3:
        return USAGE
    s.chan.extension = argv[2]
    return "200 result=0\n"


def _set_music(s: Session, argv: list[str]) -> Reply:
    if len(argv) < 3:
        return USAGE
    s.chan.music = argv[2].lower() == "on"
    return "200 result=0\n"  # also for an unknown class (A13)


def _set_priority(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 3:
        return USAGE
    priority = scan_int(argv[2])
    if priority is None or priority < 1:  # labels would need the dialplan
        return USAGE
    s.chan.priority = priority
    return "200 result=0\n"


def set_variable_value(s: Session, name: str, value: str) -> None:
    upper = name.upper()
    if upper == "CHANNEL(LANGUAGE)":
        s.chan.language = value
    elif upper in ("CALLERID(NUM)", "CALLERID(NUMBER)"):
        s.chan.caller_number = value
    elif upper == "CALLERID(NAME)":
        s.chan.caller_name = value
    elif upper == "CALLERID(ALL)":
        s.chan.caller_name, s.chan.caller_number = parse_callerid(value)
    else:
        s.chan.variables[name] = value


def _set_variable(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 4:
        return USAGE
    set_variable_value(s, argv[2], argv[3])
    return "200 result=1\n"


def _tdd_mode(s: Session, argv: list[str]) -> Reply:
    return USAGE if len(argv) != 3 else "200 result=0\n"  # a Local channel is not TDD-capable


def _verbose(s: Session, argv: list[str]) -> Reply:
    if len(argv) < 2:
        return USAGE
    if s.debug:
        log.debug("AGI %s verbose: %s", s.chan.uniqueid, argv[1])
    return "200 result=1\n"


HANDLERS: Mapping[tuple[str, ...], tuple[Handler, bool]] = {
    ("asyncagi", "break"): (_asyncagi_break, False),
    ("channel", "status"): (_channel_status, False),
    ("database", "del"): (_database_del, False),
    ("database", "deltree"): (_database_deltree, False),
    ("database", "get"): (_database_get, False),
    ("database", "put"): (_database_put, False),
    ("get", "full", "variable"): (_get_full_variable, False),
    ("get", "variable"): (_get_variable, False),
    ("hangup",): (_hangup, False),
    ("noop",): (_noop, False),
    ("send", "text"): (_send_text, False),
    ("set", "autohangup"): (_set_autohangup, False),
    ("set", "callerid"): (_set_callerid, False),
    ("set", "context"): (_set_context, False),
    ("set", "extension"): (_set_extension, False),
    ("set", "music"): (_set_music, False),
    ("set", "priority"): (_set_priority, False),
    ("set", "variable"): (_set_variable, False),
    ("tdd", "mode"): (_tdd_mode, False),
    ("verbose",): (_verbose, False),
}
