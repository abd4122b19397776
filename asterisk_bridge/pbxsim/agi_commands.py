"""Asterisk 22's FastAGI command table, argument parser and fixed reply texts (pure, no I/O).

The simulator must answer byte for byte like Asterisk's res_agi, so the parser splits a command
line the way it does (quotes toggle, ``\\`` escapes the next character, a quote met right
after whitespace starts a word, nothing else is special) and the usage blocks are copied from
the captures (tests/fixtures/asterisk/fastagi/). Usage texts for commands that were never captured
are the res_agi XML descriptions rendered the same way (one line per paragraph, whitespace
collapsed); they are marked ``_from_docs`` below because no capture vouches for them.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ARGS = 128  # res_agi MAX_ARGS: words past 127 are dropped with a warning

REPLY_INVALID = "510 Invalid or unknown command\n"
REPLY_DEAD = "511 Command Not Permitted on a dead channel or intercept routine\n"
USAGE_HEAD = "520-Invalid command syntax.  Proper usage follows:\n"
USAGE_TAIL = "520 End of proper usage.\n"
HANGUP_LINE = "HANGUP\n"


@dataclass(frozen=True)
class CommandSpec:
    """One AGI command: its words, whether it runs on a dead channel, its usage text."""

    words: tuple[str, ...]
    dead_ok: bool
    usage: tuple[str, ...]  # lines without "\n"; empty = never shows usage

    @property
    def name(self) -> str:
        return " ".join(self.words).upper()

    def usage_block(self) -> tuple[str, str]:
        """(first line, rest) of the 520 reply; Asterisk sends them ~40 ms apart (A4)."""
        body = "".join(line + "\n" for line in self.usage)
        return USAGE_HEAD, body + USAGE_TAIL


def parse_args(line: str) -> list[str]:
    """Split a command line exactly like res_agi ``parse_args`` (A13, A1).

    ``SET VARIABLE X "a b" extra`` gives 5 words; ``GET VARIABLE X\\r`` keeps the ``\\r``.
    """
    if '"' not in line and "\\" not in line and "\t" not in line:
        words = [w for w in line.split(" ") if w]
        return words[: MAX_ARGS - 1]
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                if len(argv) >= MAX_ARGS - 1:
                    continue
                cur = []
                argv.append("")  # placeholder, filled when the word ends
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                argv[-1] = "".join(cur)
                cur = None
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:
                escaped = False
                continue
            cur = []
            argv.append("")
            whitespace = False
        if cur is not None:
            cur.append(ch)
        escaped = False
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


# --- usage texts -------------------------------------------------------------------------
# Captured (agi-basic.txt, agi-crlf-commands.txt, agi-pipelined.txt): byte exact.
_STREAM_FILE = (
    "Send the given file, allowing playback to be interrupted by the given digits, if any. Returns "
    "<literal>0</literal> if playback completes without a digit being pressed, or the ASCII numerical "
    "value of the digit if one was pressed, or <literal>-1</literal> on error or if the channel was "
    "disconnected. If musiconhold is playing before calling stream file it will be automatically stopped "
    "and will not be restarted after completion.",
    "It sets the following channel variables upon completion:",
    "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.",
    "    <value>SUCCESS</value>",
    "    <value>FAILED</value>",
)
_GET_DATA = (
    "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
    "Returns the digits received from the channel at the other end.",
)
_DATABASE_GET = (
    "Retrieves an entry in the Asterisk database for a given <replaceable>family</replaceable> and "
    "<replaceable>key</replaceable>.",
    "Returns <literal>0</literal> if <replaceable>key</replaceable> is not set. Returns <literal>1</literal> "
    "if <replaceable>key</replaceable> is set and returns the variable in parenthesis.",
    "Example return code: 200 result=1 (testvariable)",
)
_WAIT_FOR_DIGIT = (
    "Waits up to <replaceable>timeout</replaceable> milliseconds for channel to receive a DTMF digit. "
    "Returns <literal>-1</literal> on channel failure, <literal>0</literal> if no digit is received in the "
    "timeout, or the numerical value of the ascii of the digit if one is received. Use <literal>-1</literal> "
    "for the <replaceable>timeout</replaceable> value if you desire the call to block indefinitely.",
)
_SET_VARIABLE = ("Sets a variable to the current channel.",)
_GET_VARIABLE = (
    "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set. Returns "
    "<literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the variable in "
    "parentheses.",
    "Example return code: 200 result=1 (testvariable)",
)

# _from_docs: rendered from the res_agi XML documentation, not seen in a capture.
_VERBOSE = (
    "Sends <replaceable>message</replaceable> to the console via verbose message system. "
    "<replaceable>level</replaceable> is the verbose level (1-4). Always returns <literal>1</literal>",
)
_GET_FULL_VARIABLE = (
    "Returns <literal>0</literal> if <replaceable>variablename</replaceable> is not set or channel does not "
    "exist. Returns <literal>1</literal> if <replaceable>variablename</replaceable> is set and returns the "
    "variable in parenthesis. Understands complex variable names and builtin variables, unlike GET VARIABLE.",
    "Example return code: 200 result=1 (testvariable)",
)
_GET_OPTION = ("Behaves similar to STREAM FILE but used with a timeout option.",)
_EXEC = (
    "Executes <replaceable>application</replaceable> with given <replaceable>options</replaceable>.",
    "Returns whatever the <replaceable>application</replaceable> returns, or <literal>-2</literal> on "
    "failure to find <replaceable>application</replaceable>.",
)
_DATABASE_PUT = (
    "Adds or updates an entry in the Asterisk database for a given <replaceable>family</replaceable>, "
    "<replaceable>key</replaceable>, and <replaceable>value</replaceable>.",
    "Returns <literal>1</literal> if successful, <literal>0</literal> otherwise.",
)
_DATABASE_DEL = (
    "Deletes an entry in the Asterisk database for a given <replaceable>family</replaceable> and "
    "<replaceable>key</replaceable>.",
    "Returns <literal>1</literal> if successful, <literal>0</literal> otherwise.",
)
_DATABASE_DELTREE = (
    "Deletes a <replaceable>family</replaceable> or specific <replaceable>keytree</replaceable> within a "
    "<replaceable>family</replaceable> in the Asterisk database.",
    "Returns <literal>1</literal> if successful, <literal>0</literal> otherwise.",
)
_SAY = (
    "Say a given {what}, returning early if any of the given DTMF digits are received on the channel. "
    "Returns <literal>0</literal> if playback completes without a digit being pressed, or the ASCII "
    "numerical value of the digit if one was pressed or <literal>-1</literal> on error/hangup.",
)
_SET_MUSIC = (
    "Enables/Disables the music on hold generator. If <replaceable>class</replaceable> is not specified, "
    "then the <literal>default</literal> music on hold class will be used. This generator will be stopped "
    "automatically when playing a file.",
    "Always returns <literal>0</literal>.",
)
_SET_AUTOHANGUP = (
    "Cause the channel to automatically hangup at <replaceable>time</replaceable> seconds in the future. "
    "Of course it can be hungup before then as well. Setting to <literal>0</literal> will cause the "
    "autohangup feature to be disabled on this channel.",
)
_HANGUP = ("Hangs up the specified channel. If no channel name is given, hangs up the current channel",)
_CHANNEL_STATUS = (
    "Returns the status of the specified <replaceable>channelname</replaceable>. If no channel name is "
    "given then returns the status of the current channel.",
)
_SET_CONTEXT = ("Sets the context for continuation upon exiting the application.",)
_SET_EXTENSION = ("Changes the extension for continuation upon exiting the application.",)
_SET_PRIORITY = (
    "Changes the priority for continuation upon exiting the application. The priority must be a valid "
    "priority or label.",
)
_SEND_TEXT = (
    "Sends the given text on a channel. Most channels do not support the transmission of text. Returns "
    "<literal>0</literal> if text is sent, or if the channel does not support text transmission. Returns "
    "<literal>-1</literal> only on error/hangup.",
)
_TDD_MODE = (
    "Enable/Disable TDD transmission/reception on a channel. Returns <literal>1</literal> if successful, or "
    "<literal>0</literal> if channel is not TDD-capable.",
)


def _say(what: str) -> tuple[str, ...]:
    return (_SAY[0].format(what=what),)


_TABLE = (
    CommandSpec(("answer",), False, ()),
    CommandSpec(("asyncagi", "break"), True, ()),
    CommandSpec(("channel", "status"), False, _CHANNEL_STATUS),
    CommandSpec(("database", "del"), True, _DATABASE_DEL),
    CommandSpec(("database", "deltree"), True, _DATABASE_DELTREE),
    CommandSpec(("database", "get"), True, _DATABASE_GET),
    CommandSpec(("database", "put"), True, _DATABASE_PUT),
    CommandSpec(("exec",), True, _EXEC),
    CommandSpec(("get", "data"), False, _GET_DATA),
    CommandSpec(("get", "full", "variable"), True, _GET_FULL_VARIABLE),
    CommandSpec(("get", "option"), False, _GET_OPTION),
    CommandSpec(("get", "variable"), True, _GET_VARIABLE),
    CommandSpec(("hangup",), False, _HANGUP),
    CommandSpec(("noop",), True, ()),
    CommandSpec(("say", "alpha"), False, _say("character string")),
    CommandSpec(("say", "digits"), False, _say("digit string")),
    CommandSpec(("say", "number"), False, _say("number")),
    CommandSpec(("say", "phonetic"), False, _say("character string with phonetics")),
    CommandSpec(("send", "text"), False, _SEND_TEXT),
    CommandSpec(("set", "autohangup"), False, _SET_AUTOHANGUP),
    CommandSpec(("set", "callerid"), False, ()),
    CommandSpec(("set", "context"), False, _SET_CONTEXT),
    CommandSpec(("set", "extension"), False, _SET_EXTENSION),
    CommandSpec(("set", "music"), False, _SET_MUSIC),
    CommandSpec(("set", "priority"), False, _SET_PRIORITY),
    CommandSpec(("set", "variable"), True, _SET_VARIABLE),
    CommandSpec(("stream", "file"), False, _STREAM_FILE),
    CommandSpec(("tdd", "mode"), False, _TDD_MODE),
    CommandSpec(("verbose",), True, _VERBOSE),
    CommandSpec(("wait", "for", "digit"), False, _WAIT_FOR_DIGIT),
)

# Real Asterisk 22 commands this simulator does not play (answered 510 with a warning log).
NOT_SIMULATED = frozenset(
    {
        ("control", "stream", "file"), ("record", "file"), ("receive", "char"), ("receive", "text"),
        ("gosub",), ("send", "image"), ("say", "date"), ("say", "time"), ("say", "datetime"),
        ("speech", "create"), ("speech", "set"), ("speech", "destroy"), ("speech", "load"),
        ("speech", "unload"), ("speech", "activate"), ("speech", "deactivate"), ("speech", "recognize"),
    }
)

COMMANDS: dict[tuple[str, ...], CommandSpec] = {spec.words: spec for spec in _TABLE}


def find_command(argv: list[str]) -> CommandSpec | None:
    """res_agi ``find_command``: the command whose words start argv, case-insensitively (ASCII)."""
    if not argv:
        return None
    lowered = [w.lower() for w in argv[:3]]
    for n in (3, 2, 1):
        if len(lowered) >= n:
            spec = COMMANDS.get(tuple(lowered[:n]))
            if spec is not None:
                return spec
    return None


def not_simulated(argv: list[str]) -> bool:
    lowered = tuple(w.lower() for w in argv[:3])
    return any(lowered[:n] in NOT_SIMULATED for n in (3, 2, 1))
