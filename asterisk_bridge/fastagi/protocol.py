"""FastAGI wire format, pure: the env block, reply lines and command lines.

No I/O here, so every rule can be tested against the lab captures directly.
Facts referenced as A1..A14 are in tests/fixtures/asterisk/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import parse_qs, urlsplit

from .errors import AGICommandError, AGIEnvError, AGIProtocolError

__all__ = [
    "AGIEnv",
    "Quoted",
    "Reply",
    "format_command",
    "parse_env",
    "parse_reply",
    "quote_arg",
]

# A3: "<code> result=<value>[ (<data>)][ key=val ...][ trailing text]".
# Greedy data: a value may itself contain ")" (e.g. "([abc\r]\r)"); re.S keeps "\r".
_REPLY_RE = re.compile(
    r"([12][0-9]{2}) result=(\S*)(?: \((.*)\))?((?: [A-Za-z_]+=\S*)*)(?: (.*))?", re.S
)
# 510/511/520 and friends: a code and free text, no result=.
_ERROR_RE = re.compile(r"([3-5][0-9]{2})(?: (.*))?", re.S)
# Asterisk splits arguments on blanks and treats \ and " specially (res_agi parse_args, A13).
_NEEDS_QUOTES_RE = re.compile(r'[ \t"\\]')
_LINE_BREAKS_RE = re.compile(r"[\r\n\x00]")
_DTMF = frozenset("0123456789*#ABCDabcd")
_MISSING = ("", "unknown")
_QUERIES: dict[str, dict[str, str]] = {}  # AGIEnv.query's parsed query strings  # Asterisk writes "unknown" for absent caller id / dnid / rdnis


@dataclass
class AGIEnv:
    """The agi_* variables Asterisk sends when the session opens (A2).

    ``fields`` keeps every key in the order received, so nothing is lost even
    when Asterisk adds keys; the properties are the parts the bridge routes on.
    """

    fields: dict[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)

    @cached_property
    def script(self) -> str:
        """Path of the AGI URL without "?query" (``ivr`` for ``ivr?line=122``)."""
        network_script = self.fields.get("agi_network_script")
        if network_script is not None:
            return network_script.partition("?")[0].lstrip("/")
        return urlsplit(self.fields.get("agi_request", "")).path.lstrip("/")

    @cached_property
    def query(self) -> dict[str, str]:
        """Query string of the AGI URL; a repeated key keeps its last value, blanks are kept."""
        network_script = self.fields.get("agi_network_script")
        if network_script is not None:
            query = network_script.partition("?")[2]
        else:
            query = urlsplit(self.fields.get("agi_request", "")).query
        if not query:
            return {}
        parsed = _QUERIES.get(query)
        if parsed is None:  # every call of a line has the same query: parse each once (bounded)
            if len(_QUERIES) >= 1024:
                _QUERIES.clear()
            parsed = _QUERIES[query] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        return dict(parsed)

    @cached_property
    def args(self) -> list[str]:
        """Dialplan arguments after the URL (agi_arg_1..N), empty ones kept."""
        numbered = []
        for key, value in self.fields.items():
            if key.startswith("agi_arg_") and key[8:].isdigit():
                numbered.append((int(key[8:]), value))
        numbered.sort()
        return [value for _, value in numbered]

    @property
    def channel(self) -> str:
        return self.fields.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        return self.fields.get("agi_uniqueid", "")

    @property
    def context(self) -> str:
        return self.fields.get("agi_context", "")

    @property
    def extension(self) -> str:
        return self.fields.get("agi_extension", "")

    @property
    def language(self) -> str:
        return self.fields.get("agi_language", "")

    @property
    def caller_number(self) -> str | None:
        """agi_callerid; None when absent or "unknown"."""
        value = self.fields.get("agi_callerid", "")
        return None if value in _MISSING else value

    @property
    def caller_name(self) -> str | None:
        """agi_calleridname (raw UTF-8); None when absent or "unknown"."""
        value = self.fields.get("agi_calleridname", "")
        return None if value in _MISSING else value

    @property
    def dnid(self) -> str | None:
        """agi_dnid; None when absent or "unknown" (always so for Local channels)."""
        value = self.fields.get("agi_dnid", "")
        return None if value in _MISSING else value


def parse_env(block: bytes) -> AGIEnv:
    """Parse the env block up to (and optionally including) its blank line.

    Bytes that are not UTF-8 become U+FFFD instead of failing the call: a
    broken caller name must not cost the caller the menu.
    """
    text = block.decode("utf-8", "replace").rstrip("\n")
    if not text:
        raise AGIEnvError("empty env block (no agi_* lines before the blank line)")
    lines = text.split("\n")
    # Fast path (every real block): each line starts with "agi_" and has ": ".
    if text.startswith("agi_") and text.count("\nagi_") == len(lines) - 1:
        try:
            fields = dict([line.split(": ", 1) for line in lines])
        except ValueError:
            pass  # a line without ": "; the loop below names it
        else:
            if not any([" " in key for key in fields]):
                return AGIEnv(fields)
    fields = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, sep, value = line[:-1], ":", ""
        if not sep or not key.startswith("agi_") or " " in key:
            raise AGIEnvError(f"env line {line[:80]!r} is not of the form 'agi_<name>: <value>'")
        fields[key] = value
    return AGIEnv(fields)


@dataclass(slots=True)
class Reply:
    """One final reply line: ``200 result=<result> (<data>) endpos=<endpos> <text>``.

    ``result`` stays a string because it is not always a number (A5: GET DATA
    gives "*9" or "" on timeout). ``raw`` is the line without its "\\n".
    """

    code: int
    result: str
    data: str | None
    endpos: int | None
    raw: str
    text: str = ""

    @property
    def timed_out(self) -> bool:
        """GET DATA ran out of time ("200 result= (timeout)"), with or without partial digits."""
        return self.data == "timeout"

    @property
    def failed(self) -> bool:
        """result=-1: missing prompt (A7) OR hangup (A8); check hung_up/channel_status to tell."""
        return self.result == "-1"

    @property
    def digit(self) -> str | None:
        """STREAM FILE / WAIT FOR DIGIT / GET OPTION / SAY: the key from its ASCII code (A5).

        None when nothing was pressed (0), on failure (-1) and for codes that are
        not DTMF keys (an interrupted WAIT FOR DIGIT returns 1, A10).
        """
        try:
            code = int(self.result)
        except ValueError:
            return None
        if code <= 0 or code > 127:
            return None
        key = chr(code)
        return key if key in _DTMF else None

    @property
    def digits(self) -> str | None:
        """GET DATA: the keys themselves ("12", "*9", "" when none); None on -1."""
        return None if self.result == "-1" else self.result


def parse_reply(line: str) -> Reply:
    """Parse one final reply line (the channel handles 100, 520- blocks and HANGUP)."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.startswith("200 result="):  # fast path: "200 result=N" and "200 result=N endpos=M"
        result, sep, tail = line[11:].partition(" ")
        if result.isascii() and (result.isdigit() or (result[:1] == "-" and result[1:].isdigit())):
            if not sep:
                return Reply(200, result, None, None, line)
            if tail.startswith("endpos=") and tail.isascii() and tail[7:].isdigit():
                return Reply(200, result, None, int(tail[7:]), line)
    match = _REPLY_RE.fullmatch(line)
    if match is not None:
        code, result, data, pairs, text = match.groups()
        endpos = None
        if pairs:
            for pair in pairs.split():
                key, _, value = pair.partition("=")
                if key == "endpos":
                    try:
                        endpos = int(value)
                    except ValueError:
                        raise AGIProtocolError(f"endpos {value!r} is not an integer in reply {line!r}") from None
        return Reply(int(code), result, data, endpos, line, text or "")
    match = _ERROR_RE.fullmatch(line)
    if match is not None:
        return Reply(int(match[1]), "", None, None, line, match[2] or "")
    raise AGIProtocolError(f"unparseable reply line {line[:200]!r}")


class Quoted(str):
    """An argument that is always sent in double quotes, even when it needs none.

    STREAM FILE escape digits are sent as ``"0123456789*#"`` (``""`` for none),
    exactly like the captures, so an empty set is never mistaken for no argument.
    """

    __slots__ = ()


def quote_arg(arg: str | int) -> str:
    """One argument as Asterisk's parser will read it back (A13)."""
    if type(arg) is str:  # fast path: a plain word (prompt names, variable names and values)
        if arg and not ("\n" in arg or " " in arg or '"' in arg or "\\" in arg or "\t" in arg or "\r" in arg
                        or "\x00" in arg):
            return arg
    elif type(arg) is int:
        return str(arg)
    if isinstance(arg, bool) or not isinstance(arg, (str, int)):
        raise AGICommandError(f"argument {arg!r} is a {type(arg).__name__}, expected str or int")
    text = arg if isinstance(arg, str) else str(arg)
    if _LINE_BREAKS_RE.search(text):
        raise AGICommandError(f"argument {text[:80]!r} contains a line break or NUL; it would split the command")
    if text == "" or isinstance(arg, Quoted) or _NEEDS_QUOTES_RE.search(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_command(name: str, *args: str | int) -> bytes:
    """``name`` plus quoted arguments, terminated by "\\n" only (A1: "\\r\\n" breaks Asterisk)."""
    if not name or "\n" in name or "\r" in name or "\x00" in name:
        raise AGICommandError(f"command name {name!r} is empty or contains a line break")
    if not args:
        return (name + "\n").encode()
    return (name + " " + " ".join([quote_arg(a) for a in args]) + "\n").encode()
