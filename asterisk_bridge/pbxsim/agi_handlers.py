"""Asterisk 22's answer to each FastAGI command, played on a simulated channel.

Each handler takes the session and the parsed words and returns the reply line(s), USAGE
(res_agi's RESULT_SHOWUSAGE, answered with the 520 block) or None (aborted, no reply, A10).
Media handlers are coroutines: they wait the prompt's length, cut short by the server's bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .agi_vars import get_variable, parse_callerid, substitute
from .caller import KEY_GAP_MS, HangUp, Press
from .sounds import SAMPLES_PER_MS

log = logging.getLogger("asterisk_bridge.pbxsim.agi")

if TYPE_CHECKING:
    from .agi_caller import _AGISession

RINGING_ANSWER_MS = 500  # ANSWER on a ringing channel (A12)
GETDATA_FIRST_KEY_MS = 10000  # GET DATA without timeout: the pbx response timeout...
GETDATA_NEXT_KEY_MS = 5000  # ...and the digit timeout
GET_OPTION_TIMEOUT_MS = 5000
SAY_MS_PER_CHAR = 500  # SAY DIGITS 122 took 1.54 s
SENDDTMF_MS_PER_KEY = 450

USAGE = object()  # a handler's "show usage" answer (RESULT_SHOWUSAGE)


def _scan_int(text: str) -> int | None:
    """sscanf("%d"): optional sign and leading digits; None when there are none."""
    s = text.lstrip()
    end = 1 if s[:1] in ("-", "+") else 0
    while end < len(s) and s[end].isdigit():
        end += 1
    digits = s[:end]
    return int(digits) if digits not in ("", "-", "+") else None


def _atoi(text: str) -> int:
    value = _scan_int(text)
    return 0 if value is None else value


# --- command handlers: return a reply, USAGE, or None (no reply) ---------------------------

async def _answer(s: _AGISession, argv: list[str]) -> str:
    if s.chan.state != 6:
        await s._pause(RINGING_ANSWER_MS)
        s.chan.state = 6
    return "200 result=0\n"


def _asyncagi_break(s: _AGISession, argv: list[str]) -> str:
    return "200 result=0\n"


def _channel_status(s: _AGISession, argv: list[str]):
    if len(argv) == 2:
        return f"200 result={s.chan.state}\n"
    if len(argv) == 3:
        return f"200 result={s.chan.state}\n" if argv[2] == s.chan.name else "200 result=-1\n"
    return USAGE


def _db_key(family: str, key: str) -> str:
    return f"/{family}/{key}"


def _database_put(s: _AGISession, argv: list[str]):
    if len(argv) != 5:
        return USAGE
    s.chan.database[_db_key(argv[2], argv[3])] = argv[4]
    return "200 result=1\n"


def _database_get(s: _AGISession, argv: list[str]):
    if len(argv) != 4:
        return USAGE
    value = s.chan.database.get(_db_key(argv[2], argv[3]))
    return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"


def _database_del(s: _AGISession, argv: list[str]):
    if len(argv) != 4:
        return USAGE
    s.chan.database.pop(_db_key(argv[2], argv[3]), None)
    return "200 result=1\n"  # even for a missing key (A13)


def _database_deltree(s: _AGISession, argv: list[str]):
    if len(argv) not in (3, 4):
        return USAGE
    prefix = f"/{argv[2]}/" if len(argv) == 3 else f"/{argv[2]}/{argv[3]}/"
    doomed = [k for k in s.chan.database if k.startswith(prefix) or k == prefix[:-1]]
    for key in doomed:
        del s.chan.database[key]
    return "200 result=0\n" if doomed else "200 result=1\n"  # inverted in 22 (A13)


async def _exec(s: _AGISession, argv: list[str]):
    if len(argv) < 2:
        return USAGE
    app = argv[1].lower()
    data = argv[2] if len(argv) > 2 else ""
    if app in ("verbose", "noop", "log", "userevent", "progress", "ringing", "musiconhold"):
        return "200 result=0\n"
    if app == "set":
        name, sep, value = data.partition("=")
        if sep and name:
            _set_variable_value(s, name, value)
        return "200 result=0\n"
    if app == "answer":
        if s.dead:
            return "200 result=-1\n"
        s.chan.state = 6
        return "200 result=0\n"
    if app == "hangup":
        if not s.dead:
            s.hang_after_reply = True
        return "200 result=-1\n"
    if app in ("playback", "wait", "senddtmf"):
        if s.dead:
            return "200 result=-1\n"
        if app == "playback":
            files = data.split(",", 1)[0].split("&")
            length = sum(s.prompt_len(f) for f in files if f and (s.sounds is None or f in s.sounds))
        elif app == "wait":
            try:
                length = max(0.0, float(data or "0")) * 1000
            except ValueError:
                length = 0.0
        else:
            length = SENDDTMF_MS_PER_KEY * len(data.split(",", 1)[0])
        reaction = s._take_reaction(False)
        if isinstance(reaction, HangUp):
            await s._pause(min(reaction.after_ms, length))
            s.hang_after_reply = True
            return "200 result=-1\n"
        await s._pause(length)  # an application does not watch the AGI socket
        return "200 result=0\n"
    if s.debug:
        log.debug("AGI %s: EXEC %s is not an application of the simulated PBX", s.chan.uniqueid, argv[1])
    return "200 result=-2\n"


async def _get_data(s: _AGISession, argv: list[str]):
    if len(argv) < 3:
        return USAGE
    prompt = argv[2]
    timeout = _atoi(argv[3]) if len(argv) >= 4 else 0
    max_digits = _atoi(argv[4]) if len(argv) >= 5 else 1024
    if max_digits <= 0:
        max_digits = 1024
    if not s._exists(prompt):
        return "200 result=-1\n"  # no FAILURE for GET DATA (A7)
    length = s.prompt_len(prompt)
    if timeout > 0:
        first_wait = next_wait = float(timeout)
    elif timeout < 0:
        first_wait = next_wait = float("inf")
    else:
        first_wait, next_wait = float(GETDATA_FIRST_KEY_MS), float(GETDATA_NEXT_KEY_MS)
    reaction = s._take_reaction(True)
    keys: list[tuple[float, str]] = []
    if isinstance(reaction, Press):
        keys = [(reaction.after_ms + i * KEY_GAP_MS, k) for i, k in enumerate(reaction.key)]
    digits = ""
    deadline = length + first_wait
    end: float | None = None
    timed_out = True
    for at, key in keys:
        if at > deadline:
            break
        if key == "#":  # the terminator ends input and is not returned (A5)
            end, timed_out = at, False
            break
        digits += key
        if len(digits) >= max_digits:
            end, timed_out = at, False
            break
        deadline = at + next_wait
    if end is None:
        end = deadline
    if isinstance(reaction, HangUp):
        end = min(float(reaction.after_ms), end)
    seconds = None if end == float("inf") else end * s.scale
    if await s._wait_input(seconds):
        return None  # aborted by the server's next bytes, no reply (A10)
    if isinstance(reaction, HangUp):
        s.hang_after_reply = True
        return "200 result=-1\n"
    return f"200 result={digits} (timeout)\n" if timed_out else f"200 result={digits}\n"


def _get_full_variable(s: _AGISession, argv: list[str]):
    if len(argv) not in (4, 5):
        return USAGE
    if len(argv) == 5 and argv[4] != s.chan.name:
        return "200 result=0\n"
    return f"200 result=1 ({substitute(s.chan, argv[3])})\n"


async def _get_option(s: _AGISession, argv: list[str]):
    if len(argv) not in (4, 5):
        return USAGE
    prompt, escape = argv[2], argv[3]
    wait_ms = _atoi(argv[4]) if len(argv) == 5 else GET_OPTION_TIMEOUT_MS
    if not s._exists(prompt):
        s.failure = True
        return "200 result=-1 endpos=0\n"
    length = s.prompt_len(prompt)
    total = length * SAMPLES_PER_MS
    reaction = s._take_reaction(True)
    end, result, endpos = float(length), 0, total
    if isinstance(reaction, Press):
        keys = [(reaction.after_ms + i * KEY_GAP_MS, k) for i, k in enumerate(reaction.key)]
        for at, key in keys:
            if at < length:
                if key in escape:
                    end, result, endpos = at, ord(key), int(at * SAMPLES_PER_MS)
                    break
                continue
            if wait_ms < 0 or at <= length + wait_ms:  # first key after the prompt decides
                end, result = at, (ord(key) if key in escape else 0)
            else:
                end = length + wait_ms
            break
        else:
            end = length + max(wait_ms, 0)
    elif isinstance(reaction, HangUp):
        limit = length + wait_ms if wait_ms >= 0 else float("inf")
        end = min(float(reaction.after_ms), limit)
        result, endpos = -1, int(min(end, length) * SAMPLES_PER_MS)
    else:
        end = length + wait_ms if wait_ms >= 0 else float("inf")
    seconds = None if end == float("inf") else end * s.scale
    if await s._wait_input(seconds):
        return None
    if result == -1:
        s.hang_after_reply = True
    return f"200 result={result} endpos={endpos}\n"


def _get_variable(s: _AGISession, argv: list[str]):
    if len(argv) != 3:
        return USAGE
    value = get_variable(s.chan, argv[2])
    return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"


def _hangup(s: _AGISession, argv: list[str]):
    if len(argv) == 1 or (len(argv) == 2 and argv[1] == s.chan.name):
        s.hang_after_reply = True  # only requests the hangup; the server closes (A12)
        return "200 result=1\n"
    if len(argv) == 2:
        return "200 result=-1\n"
    return USAGE


def _noop(s: _AGISession, argv: list[str]) -> str:
    return "200 result=0\n"


def _say_factory(kind: str):
    async def say(s: _AGISession, argv: list[str]):
        if kind == "number":
            if len(argv) not in (4, 5) or _scan_int(argv[2]) is None:
                return USAGE
        elif len(argv) != 4 or (kind == "digits" and _scan_int(argv[2]) is None):
            return USAGE
        end, result, hung = s._play(SAY_MS_PER_CHAR * len(argv[2]), argv[3])
        if await s._wait_input(end * s.scale):
            return None
        if hung:
            s.hang_after_reply = True
        return f"200 result={result}\n"

    return say


def _send_text(s: _AGISession, argv: list[str]):
    return USAGE if len(argv) != 3 else "200 result=0\n"


def _set_autohangup(s: _AGISession, argv: list[str]):
    if len(argv) != 3 or _scan_int(argv[2]) is None:
        return USAGE
    return "200 result=0\n"


def _set_callerid(s: _AGISession, argv: list[str]):
    if len(argv) >= 3:
        s.chan.caller_name, s.chan.caller_number = parse_callerid(argv[2])
    return "200 result=1\n"


def _set_context(s: _AGISession, argv: list[str]):
    if len(argv) != 3:
        return USAGE
    s.chan.context = argv[2]
    return "200 result=0\n"


def _set_extension(s: _AGISession, argv: list[str]):
    if len(argv) != 3:
        return USAGE
    s.chan.extension = argv[2]
    return "200 result=0\n"


def _set_music(s: _AGISession, argv: list[str]):
    if len(argv) < 3:
        return USAGE
    s.chan.music = argv[2].lower() == "on"
    return "200 result=0\n"  # also for an unknown class (A13)


def _set_priority(s: _AGISession, argv: list[str]):
    if len(argv) != 3:
        return USAGE
    priority = _scan_int(argv[2])
    if priority is None or priority < 1:  # labels would need the dialplan
        return USAGE
    s.chan.priority = priority
    return "200 result=0\n"


def _set_variable_value(s: _AGISession, name: str, value: str) -> None:
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


def _set_variable(s: _AGISession, argv: list[str]):
    if len(argv) != 4:
        return USAGE
    _set_variable_value(s, argv[2], argv[3])
    return "200 result=1\n"


async def _stream_file(s: _AGISession, argv: list[str]):
    if len(argv) not in (4, 5):
        return USAGE
    prompt, escape = argv[2], argv[3]
    offset = 0
    if len(argv) == 5:
        scanned = _scan_int(argv[4])
        if scanned is None:
            return USAGE
        offset = max(scanned, 0)
    if not s._exists(prompt):
        s.failure = True  # the whole AGI ends with FAILURE (A7)
        return f"200 result=-1 endpos={offset}\n"
    total = s.prompt_len(prompt) * SAMPLES_PER_MS
    start = min(offset, total)
    end, result, hung = s._play((total - start) / SAMPLES_PER_MS, escape)
    if await s._wait_input(end * s.scale):
        return None  # aborted by the server's next bytes, no reply (A10)
    if hung:
        s.hang_after_reply = True
    return f"200 result={result} endpos={start + int(end * SAMPLES_PER_MS)}\n"


def _tdd_mode(s: _AGISession, argv: list[str]):
    return USAGE if len(argv) != 3 else "200 result=0\n"  # a Local channel is not TDD-capable


def _verbose(s: _AGISession, argv: list[str]):
    if len(argv) < 2:
        return USAGE
    if s.debug:
        log.debug("AGI %s verbose: %s", s.chan.uniqueid, argv[1])
    return "200 result=1\n"


async def _wait_for_digit(s: _AGISession, argv: list[str]):
    if len(argv) != 4:
        return USAGE
    wait_ms = _scan_int(argv[3])
    if wait_ms is None:
        return USAGE
    limit = float("inf") if wait_ms < 0 else float(wait_ms)
    reaction = s._take_reaction(True)
    result = 0
    end = limit
    if isinstance(reaction, Press) and reaction.after_ms <= limit:
        end, result = float(reaction.after_ms), ord(reaction.key[0])
    elif isinstance(reaction, HangUp):
        end, result = min(float(reaction.after_ms), limit), -1
    seconds = None if end == float("inf") else end * s.scale
    if await s._wait_input(seconds):
        return "200 result=1\n"  # interrupted by the server's bytes (A10)
    if result == -1:
        s.hang_after_reply = True
    return f"200 result={result}\n"


HANDLERS: Mapping[tuple[str, ...], tuple[Callable, bool]] = {
    ("answer",): (_answer, True),
    ("asyncagi", "break"): (_asyncagi_break, False),
    ("channel", "status"): (_channel_status, False),
    ("database", "del"): (_database_del, False),
    ("database", "deltree"): (_database_deltree, False),
    ("database", "get"): (_database_get, False),
    ("database", "put"): (_database_put, False),
    ("exec",): (_exec, True),
    ("get", "data"): (_get_data, True),
    ("get", "full", "variable"): (_get_full_variable, False),
    ("get", "option"): (_get_option, True),
    ("get", "variable"): (_get_variable, False),
    ("hangup",): (_hangup, False),
    ("noop",): (_noop, False),
    ("say", "alpha"): (_say_factory("alpha"), True),
    ("say", "digits"): (_say_factory("digits"), True),
    ("say", "number"): (_say_factory("number"), True),
    ("say", "phonetic"): (_say_factory("phonetic"), True),
    ("send", "text"): (_send_text, False),
    ("set", "autohangup"): (_set_autohangup, False),
    ("set", "callerid"): (_set_callerid, False),
    ("set", "context"): (_set_context, False),
    ("set", "extension"): (_set_extension, False),
    ("set", "music"): (_set_music, False),
    ("set", "priority"): (_set_priority, False),
    ("set", "variable"): (_set_variable, False),
    ("stream", "file"): (_stream_file, True),
    ("tdd", "mode"): (_tdd_mode, False),
    ("verbose",): (_verbose, False),
    ("wait", "for", "digit"): (_wait_for_digit, True),
}
