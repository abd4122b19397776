"""Times as every record keeps them: UTC ISO text with milliseconds, and back to epoch seconds.

Pure and domain-neutral: the store writes this text, the reports and MQTT payloads print it, the
call follower reads it back.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from numbers import Real

_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"


def utc_iso(epoch: float) -> str:
    """Epoch seconds -> ``2026-11-26T13:25:37.252Z`` (UTC, milliseconds, rounded).

    Fixed width and always UTC, so the text sorts like the time it names: range queries on
    ``started_at`` compare strings and use the index.
    """
    if type(epoch) is not float or not math.isfinite(epoch):  # fast path: a finite float
        if isinstance(epoch, bool) or not isinstance(epoch, Real):
            raise TypeError(f"utc_iso() needs epoch seconds as a number, got {type(epoch).__name__}: {epoch!r}")
        if not math.isfinite(epoch):
            raise ValueError(f"utc_iso() needs finite epoch seconds, got {epoch!r}")
    millis = round(epoch * 1000)  # round, so 0.252 stored as 0.25199999 still reads .252
    seconds, ms = divmod(millis, 1000)
    # Steps of one session (and sessions of one busy minute) share their seconds: format each once.
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()  # bounded; dict operations are atomic across threads
        prefix = _SECONDS[seconds] = datetime.fromtimestamp(seconds, UTC).strftime(_ISO_FORMAT)
    return prefix + _MILLIS[ms]


_SECONDS: dict[int, str] = {}
_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def is_epoch(value: object) -> bool:
    """True for epoch seconds a record may hold: a finite number (not a bool)."""
    if type(value) is float:
        return math.isfinite(value)
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def parse_utc_iso(text: str) -> float:
    """``2026-11-26T13:25:37.252Z`` -> epoch seconds; the inverse of :func:`utc_iso`."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"not a UTC ISO time ending in 'Z': {text!r}")
    try:
        moment = datetime.strptime(text[:-1], _ISO_FORMAT + ".%f").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"not a UTC ISO time like 2026-11-26T13:25:37.252Z: {text!r}") from None
    return round(moment.timestamp(), 3)
