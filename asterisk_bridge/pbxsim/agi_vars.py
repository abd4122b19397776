"""Channel variables, dialplan functions and ``${...}`` expansion of the simulated channel (pure).

GET VARIABLE reads one name: a function when it ends with ``)`` (so ``CHANNEL(language)\\r``
is an unset *variable*, as in agi-crlf-commands), otherwise a builtin or channel variable.
GET FULL VARIABLE expands ``${...}`` like ``pbx_substitute_variables_helper``; an unset
name expands to nothing. Only the functions a contact-center IVR asks for are played.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field


@dataclass
class LiveChannel:
    """The state of one simulated channel while its AGI runs (what the dialplan would see)."""

    name: str
    uniqueid: str
    linkedid: str
    language: str
    context: str
    extension: str
    priority: int
    caller_number: str
    caller_name: str
    variables: dict[str, str]
    database: MutableMapping[str, str] = field(default_factory=dict)  # "/family/key" -> value
    state: int = 6  # 6 = Up, 4 = Ring (A12)
    music: bool = False

    @property
    def tech(self) -> str:
        return self.name.split("/", 1)[0]


_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def _channel_item(chan: LiveChannel, item: str) -> str | None:
    item = item.strip().lower()
    if item == "name":
        return chan.name
    if item == "language":
        return chan.language
    if item == "uniqueid":
        return chan.uniqueid
    if item == "linkedid":
        return chan.linkedid
    if item == "state":
        return _STATE_DESC.get(chan.state, "Unknown")
    if item == "context":
        return chan.context
    if item == "exten":
        return chan.extension
    if item == "priority":
        return str(chan.priority)
    if item == "channeltype":
        return chan.tech
    if item in ("accountcode", "peeraccount", "musicclass", "parkinglot", "callgroup", "pickupgroup"):
        return ""
    return None


def _callerid_item(chan: LiveChannel, item: str) -> str | None:
    item = item.strip().lower()
    if item in ("num", "number"):
        return chan.caller_number
    if item == "name":
        return chan.caller_name
    if item == "all":
        if chan.caller_name:
            return f'"{chan.caller_name}" <{chan.caller_number}>'
        return f"<{chan.caller_number}>"
    return None


def read_function(chan: LiveChannel, call: str) -> str | None:
    """``NAME(args)`` → its value, or None when Asterisk's ``ast_func_read`` would fail."""
    open_at = call.find("(")
    if open_at <= 0 or not call.endswith(")"):
        return None
    fname = call[:open_at].upper()
    arg = call[open_at + 1 : -1]
    if fname == "CHANNEL":
        return _channel_item(chan, arg)
    if fname == "CALLERID":
        return _callerid_item(chan, arg)
    if fname == "DB":
        family, _, key = arg.partition("/")
        return chan.database.get(f"/{family}/{key}", "")
    if fname == "DB_EXISTS":
        family, _, key = arg.partition("/")
        return "1" if f"/{family}/{key}" in chan.database else "0"
    if fname == "LEN":
        return str(len(arg))
    return None


def read_variable(chan: LiveChannel, name: str) -> str | None:
    """A builtin or channel variable as ``pbx_retrieve_variable`` finds it; None when unset."""
    builtin = _BUILTINS.get(name)
    if builtin is not None:
        return builtin(chan)
    return chan.variables.get(name)


_BUILTINS = {
    "EXTEN": lambda c: c.extension,
    "CONTEXT": lambda c: c.context,
    "PRIORITY": lambda c: str(c.priority),
    "CHANNEL": lambda c: c.name,
    "UNIQUEID": lambda c: c.uniqueid,
    "CALLINGPRES": lambda c: "0",
    "CALLINGANI2": lambda c: "0",
    "CALLINGTON": lambda c: "0",
    "CALLINGTNS": lambda c: "0",
}


def get_variable(chan: LiveChannel, name: str) -> str | None:
    """GET VARIABLE: a function when the name ends with ``)``, else a variable."""
    if name.endswith(")"):
        return read_function(chan, name)
    return read_variable(chan, name)


def _lookup(chan: LiveChannel, inner: str) -> str:
    # ${NAME:offset:length}: the colon part only counts outside parentheses
    depth = 0
    cut = -1
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == ":" and depth == 0:
            cut = i
            break
    name, substr = (inner, "") if cut < 0 else (inner[:cut], inner[cut + 1 :])
    value = (read_function(chan, name) if name.endswith(")") else read_variable(chan, name)) or ""
    if substr:
        offset_text, _, length_text = substr.partition(":")
        try:
            offset = int(offset_text or "0")
            length = int(length_text) if length_text else None
        except ValueError:
            return value
        value = value[offset:] if offset >= 0 else value[len(value) + offset :]
        if length is not None:  # a negative length drops that many characters from the end
            value = value[:length]
    return value


def substitute(chan: LiveChannel, text: str) -> str:
    """Expand every ``${...}`` (nested ones first), leaving all other characters alone."""
    if "${" not in text:
        return text
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        if text.startswith("${", i):
            depth = 1
            j = i + 2
            while j < n and depth:
                if text.startswith("${", j):
                    depth += 1
                    j += 2
                    continue
                if text[j] == "}":
                    depth -= 1
                j += 1
            if depth:  # unterminated: Asterisk copies the rest as it is
                out.append(text[i:])
                break
            inner = substitute(chan, text[i + 2 : j - 1])
            out.append(_lookup(chan, inner))
            i = j
        else:
            k = text.find("${", i)
            if k < 0:
                out.append(text[i:])
                break
            out.append(text[i:k])
            i = k
    return "".join(out)


def parse_callerid(text: str) -> tuple[str, str]:
    """``"Name" <number>`` / ``Name <number>`` / ``number`` → (name, number) like ast_callerid_parse."""
    text = text.strip()
    lt = text.rfind("<")
    if lt >= 0 and text.endswith(">"):
        number = text[lt + 1 : -1].strip()
        name = text[:lt].strip()
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1]
        return name, number
    if text and all(ch.isdigit() or ch in "+*#()- " for ch in text):
        return "", "".join(ch for ch in text if ch.isdigit() or ch in "+*#")
    return text.strip('"'), ""
