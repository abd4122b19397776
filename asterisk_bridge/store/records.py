"""What the store keeps, as plain Python values, and the one time format every record uses.

Records are checked when they are built, not when they are written: the writer retries a failed
write until the database takes it, so a record that could never be written (a bad type, an
unknown result) must be refused at the caller, where the bug is, instead of blocking the queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Real
from typing import Any

#: IVR_RESULT values (team contract); anything else is a bug in the caller.
MENU_RESULTS = frozenset({"topic", "operator", "selfservice", "timeout", "hangup", "error"})

_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"


class RecordError(ValueError):
    """A record field has a value the store cannot keep; the message names the field."""


def utc_iso(epoch: float) -> str:
    """Epoch seconds -> ``2026-11-26T13:25:37.252Z`` (UTC, milliseconds, rounded).

    Fixed width and always UTC, so the text sorts like the time it names: range queries on
    ``started_at`` compare strings and use the index.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, Real):
        raise TypeError(f"utc_iso() needs epoch seconds as a number, got {type(epoch).__name__}: {epoch!r}")
    if not math.isfinite(epoch):
        raise ValueError(f"utc_iso() needs finite epoch seconds, got {epoch!r}")
    millis = round(epoch * 1000)  # round, so 0.252 stored as 0.25199999 still reads .252
    seconds, ms = divmod(millis, 1000)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(_ISO_FORMAT) + f".{ms:03d}Z"


def parse_utc_iso(text: str) -> float:
    """``2026-11-26T13:25:37.252Z`` -> epoch seconds; the inverse of :func:`utc_iso`."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"not a UTC ISO time ending in 'Z': {text!r}")
    try:
        moment = datetime.strptime(text[:-1], _ISO_FORMAT + ".%f").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"not a UTC ISO time like 2026-11-26T13:25:37.252Z: {text!r}") from None
    return round(moment.timestamp(), 3)


@dataclass(frozen=True, kw_only=True)
class MenuRecord:
    """One FastAGI menu session: who called which line, what they pressed, where it ended.

    ``steps`` holds ``asterisk_bridge.menu.flow.Step`` objects; they are read by attribute
    (``at``, ``kind``, ``menu``, ``prompt``, ``key``) so the store does not import the menu.
    """

    session_id: str
    node: str
    line: str
    caller_number: str | None
    caller_name: str | None
    channel: str | None
    uniqueid: str | None
    linkedid: str | None
    agi_script: str | None
    started_at: float
    ended_at: float
    result: str
    topic: str | None
    queue: str | None
    age_group: str
    ended_in: str | None
    hung_up: bool
    error: str | None = None
    steps: tuple = field(default=())

    def __post_init__(self) -> None:
        for name in ("session_id", "node"):
            _text(self, name, required=True)
        for name in ("line", "age_group"):
            _text(self, name)
        for name in ("caller_number", "caller_name", "channel", "uniqueid", "linkedid", "agi_script",
                     "topic", "queue", "ended_in", "error"):
            _text(self, name, optional=True)
        for name in ("started_at", "ended_at"):
            _epoch(f"MenuRecord.{name}", getattr(self, name))
        if self.result not in MENU_RESULTS:
            raise RecordError(f"MenuRecord.result: {self.result!r} is not one of {sorted(MENU_RESULTS)}")
        if not isinstance(self.hung_up, bool):
            raise RecordError(f"MenuRecord.hung_up: expected True or False, got {self.hung_up!r}")
        if not isinstance(self.steps, (tuple, list)):
            raise RecordError(f"MenuRecord.steps: expected a tuple of steps, got {type(self.steps).__name__}")
        object.__setattr__(self, "steps", tuple(self.steps))
        for seq, step in enumerate(self.steps):
            _check_step(seq, step)

    @property
    def duration_ms(self) -> int:
        """Time in the menu. Never negative: a wall-clock step back mid-call must not lose the record."""
        return max(0, round((self.ended_at - self.started_at) * 1000))


def _text(record: MenuRecord, name: str, *, required: bool = False, optional: bool = False) -> None:
    value = getattr(record, name)
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise RecordError(f"MenuRecord.{name}: expected text, got {type(value).__name__}: {value!r}")
    if required and not value:
        raise RecordError(f"MenuRecord.{name}: must not be empty")


def _epoch(where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise RecordError(f"{where}: expected epoch seconds (a finite number), got {value!r}")


def _check_step(seq: int, step: Any) -> None:
    where = f"MenuRecord.steps[{seq}]"
    for name in ("at", "kind", "menu", "prompt", "key"):
        if not hasattr(step, name):
            raise RecordError(f"{where}: {type(step).__name__} has no attribute {name!r}")
    _epoch(f"{where}.at", step.at)
    if not isinstance(step.kind, str) or not step.kind:
        raise RecordError(f"{where}.kind: expected non-empty text, got {step.kind!r}")
    if not isinstance(step.menu, str):
        raise RecordError(f"{where}.menu: expected text, got {step.menu!r}")
    for name in ("prompt", "key"):
        value = getattr(step, name)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"{where}.{name}: expected text or None, got {value!r}")
