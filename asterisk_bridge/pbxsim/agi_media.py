"""Asterisk 22's answer to the FastAGI commands that play media or wait: ANSWER, EXEC, GET DATA,
GET OPTION, SAY *, STREAM FILE and WAIT FOR DIGIT.

Each is a coroutine: it waits the prompt's length (scaled by the session's speed), cut short by
the server's bytes (A10), and consumes the caller's reaction for the command. Prompt lengths and
the 8 kHz ``endpos`` arithmetic follow the captures in ``tests/fixtures/asterisk/fastagi/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .agi_handlers import USAGE, Handler, Reply, Session, atoi, scan_int, set_variable_value
from .caller_script import KEY_GAP_MS, HangUp, Press
from .sounds import SAMPLES_PER_MS

log = logging.getLogger("asterisk_bridge.pbxsim.agi")

RINGING_ANSWER_MS = 500  # ANSWER on a ringing channel (A12)
GETDATA_FIRST_KEY_MS = 10000  # GET DATA without timeout: the pbx response timeout...
GETDATA_NEXT_KEY_MS = 5000  # ...and the digit timeout
GET_OPTION_TIMEOUT_MS = 5000
SAY_MS_PER_CHAR = 500  # SAY DIGITS 122 took 1.54 s
SENDDTMF_MS_PER_KEY = 450


async def _answer(s: Session, argv: list[str]) -> Reply:
    if s.chan.state != 6:
        await s.pause(RINGING_ANSWER_MS)
        s.chan.state = 6
    return "200 result=0\n"


async def _exec(s: Session, argv: list[str]) -> Reply:
    if len(argv) < 2:
        return USAGE
    app = argv[1].lower()
    data = argv[2] if len(argv) > 2 else ""
    if app in ("verbose", "noop", "log", "userevent", "progress", "ringing", "musiconhold"):
        return "200 result=0\n"
    if app == "set":
        name, sep, value = data.partition("=")
        if sep and name:
            set_variable_value(s, name, value)
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
        reaction = s.take_reaction(False)
        if isinstance(reaction, HangUp):
            await s.pause(min(reaction.after_ms, length))
            s.hang_after_reply = True
            return "200 result=-1\n"
        await s.pause(length)  # an application does not watch the AGI socket
        return "200 result=0\n"
    if s.debug:
        log.debug("AGI %s: EXEC %s is not an application of the simulated PBX", s.chan.uniqueid, argv[1])
    return "200 result=-2\n"


async def _get_data(s: Session, argv: list[str]) -> Reply:
    if len(argv) < 3:
        return USAGE
    prompt = argv[2]
    timeout = atoi(argv[3]) if len(argv) >= 4 else 0
    max_digits = atoi(argv[4]) if len(argv) >= 5 else 1024
    if max_digits <= 0:
        max_digits = 1024
    if not s.exists(prompt):
        return "200 result=-1\n"  # no FAILURE for GET DATA (A7)
    length = s.prompt_len(prompt)
    if timeout > 0:
        first_wait = next_wait = float(timeout)
    elif timeout < 0:
        first_wait = next_wait = float("inf")
    else:
        first_wait, next_wait = float(GETDATA_FIRST_KEY_MS), float(GETDATA_NEXT_KEY_MS)
    reaction = s.take_reaction(True)
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
    if await s.wait_input(seconds):
        return None  # aborted by the server's next bytes, no reply (A10)
    if isinstance(reaction, HangUp):
        s.hang_after_reply = True
        return "200 result=-1\n"
    return f"200 result={digits} (timeout)\n" if timed_out else f"200 result={digits}\n"


async def _get_option(s: Session, argv: list[str]) -> Reply:
    if len(argv) not in (4, 5):
        return USAGE
    prompt, escape = argv[2], argv[3]
    wait_ms = atoi(argv[4]) if len(argv) == 5 else GET_OPTION_TIMEOUT_MS
    if not s.exists(prompt):
        s.failure = True
        return "200 result=-1 endpos=0\n"
    length = s.prompt_len(prompt)
    total = length * SAMPLES_PER_MS
    reaction = s.take_reaction(True)
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
    if await s.wait_input(seconds):
        return None
    if result == -1:
        s.hang_after_reply = True
    return f"200 result={result} endpos={endpos}\n"


def _say_factory(kind: str) -> Handler:
    async def say(s: Session, argv: list[str]) -> Reply:
        if kind == "number":
            if len(argv) not in (4, 5) or scan_int(argv[2]) is None:
                return USAGE
        elif len(argv) != 4 or (kind == "digits" and scan_int(argv[2]) is None):
            return USAGE
        end, result, hung = s.play(SAY_MS_PER_CHAR * len(argv[2]), argv[3])
        if await s.wait_input(end * s.scale):
            return None
        if hung:
            s.hang_after_reply = True
        return f"200 result={result}\n"

    return say


async def _stream_file(s: Session, argv: list[str]) -> Reply:
    if len(argv) not in (4, 5):
        return USAGE
    prompt, escape = argv[2], argv[3]
    offset = 0
    if len(argv) == 5:
        scanned = scan_int(argv[4])
        if scanned is None:
            return USAGE
        offset = max(scanned, 0)
    if not s.exists(prompt):
        s.failure = True  # the whole AGI ends with FAILURE (A7)
        return f"200 result=-1 endpos={offset}\n"
    total = s.prompt_len(prompt) * SAMPLES_PER_MS
    start = min(offset, total)
    end, result, hung = s.play((total - start) / SAMPLES_PER_MS, escape)
    if await s.wait_input(end * s.scale):
        return None  # aborted by the server's next bytes, no reply (A10)
    if hung:
        s.hang_after_reply = True
    return f"200 result={result} endpos={start + int(end * SAMPLES_PER_MS)}\n"


async def _wait_for_digit(s: Session, argv: list[str]) -> Reply:
    if len(argv) != 4:
        return USAGE
    wait_ms = scan_int(argv[3])
    if wait_ms is None:
        return USAGE
    limit = float("inf") if wait_ms < 0 else float(wait_ms)
    reaction = s.take_reaction(True)
    result = 0
    end = limit
    if isinstance(reaction, Press) and reaction.after_ms <= limit:
        end, result = float(reaction.after_ms), ord(reaction.key[0])
    elif isinstance(reaction, HangUp):
        end, result = min(float(reaction.after_ms), limit), -1
    seconds = None if end == float("inf") else end * s.scale
    if await s.wait_input(seconds):
        return "200 result=1\n"  # interrupted by the server's bytes (A10)
    if result == -1:
        s.hang_after_reply = True
    return f"200 result={result}\n"


MEDIA_HANDLERS: Mapping[tuple[str, ...], tuple[Handler, bool]] = {
    ("answer",): (_answer, True),
    ("exec",): (_exec, True),
    ("get", "data"): (_get_data, True),
    ("get", "option"): (_get_option, True),
    ("say", "alpha"): (_say_factory("alpha"), True),
    ("say", "digits"): (_say_factory("digits"), True),
    ("say", "number"): (_say_factory("number"), True),
    ("say", "phonetic"): (_say_factory("phonetic"), True),
    ("stream", "file"): (_stream_file, True),
    ("wait", "for", "digit"): (_wait_for_digit, True),
}
