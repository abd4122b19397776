"""The caller's script: what the citizen on the line does during each prompt or key read.

One reaction is consumed per key-reading AGI command; a ``HangUp`` also by any other media
command (see ``agi_session.py``). Kept apart from the FastAGI side so the traffic model can
write scripts without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CallerScriptError

DTMF_KEYS = frozenset("0123456789*#ABCD")
KEY_GAP_MS = 300  # between keys of one Press (SendDTMF "12#" took ~0.9 s in agi-dtmf)


@dataclass(frozen=True)
class Press:
    """The caller presses ``key`` (one or more DTMF keys, 300 ms apart) ``after_ms`` into the command."""

    key: str
    after_ms: int = 300

    def __post_init__(self) -> None:
        if not self.key or any(k not in DTMF_KEYS for k in self.key):
            raise CallerScriptError(f"Press key {self.key!r}: keys must be DTMF keys 0-9 * # A-D")
        if self.after_ms < 0:
            raise CallerScriptError(f"Press after_ms {self.after_ms}: must be >= 0")


@dataclass(frozen=True)
class Silence:
    """The caller does nothing during this key read."""


@dataclass(frozen=True)
class HangUp:
    """The caller hangs up ``after_ms`` into the next media command."""

    after_ms: int = 500

    def __post_init__(self) -> None:
        if self.after_ms < 0:
            raise CallerScriptError(f"HangUp after_ms {self.after_ms}: must be >= 0")


Reaction = Press | Silence | HangUp
SILENCE = Silence()


@dataclass
class Caller:
    """Who calls and what they do, one reaction per key-reading command."""

    number: str = "79161234567"
    name: str = "Иван Петров"
    reactions: Sequence[Reaction] = ()

    def __post_init__(self) -> None:
        for i, r in enumerate(self.reactions):
            if not isinstance(r, (Press, Silence, HangUp)):
                raise CallerScriptError(f"reactions[{i}]: {r!r} is not a Press, Silence or HangUp")
