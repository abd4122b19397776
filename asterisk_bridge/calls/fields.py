"""Reading AMI event fields for the tracker: any mapping in, numbers and durations out.

Frames (``ami/frames.py``) and panoramisk messages look keys up case-insensitively; a plain dict
(tests, the follower's synthetic events) is read through a lower-cased copy, so ``Uniqueid`` and
``UniqueID`` are the same key everywhere. Values Asterisk sends malformed read as ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: ``get(key)`` of one event: the value, or None when the event does not carry the key.
Get = Callable[[str], Any]


class _Lowered(dict[str, Any]):
    """A plain dict event with lower-cased keys, read through ``get``."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:
        return dict.get(self, key.lower(), default)


def reader(event: Mapping[str, str]) -> Get:
    """``get`` for one event. Plain dicts are case-sensitive: their keys are lowered once (a
    shallow pass); Frame and panoramisk Message already look keys up case-insensitively."""
    if type(event) is dict:
        return _Lowered({k.lower(): v for k, v in event.items() if isinstance(k, str)}).get
    if not isinstance(event, Mapping):
        raise TypeError(f"an AMI event must be a mapping, got {type(event).__name__}")
    return event.get


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def to_float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def duration(value: str | None) -> float | None:
    """CoreShowChannel ``Duration: HH:MM:SS`` -> seconds."""
    if not value:
        return None
    seconds = 0
    try:
        for part in value.split(":"):
            seconds = seconds * 60 + int(part)
    except ValueError:
        return None
    return float(seconds)
