"""A finished menu session as a record, and the IVR_RESULT values; pure.

Records are checked when they are built, not when they are written: the store retries a failed
write until the database takes it, so a record that could never be written (a bad type, an
unknown result) must be refused here, where the bug is, instead of blocking the store's queue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..utc import is_epoch
from .errors import MenuRecordError
from .flow import Step

#: IVR_RESULT values (what the dialplan reads); anything else is a bug in the caller.
MENU_RESULTS = frozenset({"topic", "operator", "selfservice", "timeout", "hangup", "error"})


@dataclass(frozen=True, kw_only=True)
class MenuRecord:
    """One FastAGI menu session: who called which line, what they pressed, where it ended.

    ``steps`` holds :class:`~asterisk_bridge.menu.flow.Step` objects; they are checked by
    attribute (``at``, ``kind``, ``menu``, ``prompt``, ``key``), so any object with those fields
    will do.
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
    steps: tuple[Step, ...] = field(default=())

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
            raise MenuRecordError(f"MenuRecord.result: {self.result!r} is not one of {sorted(MENU_RESULTS)}")
        if not isinstance(self.hung_up, bool):
            raise MenuRecordError(f"MenuRecord.hung_up: expected True or False, got {self.hung_up!r}")
        if not isinstance(self.steps, (tuple, list)):
            raise MenuRecordError(f"MenuRecord.steps: expected a tuple of steps, got {type(self.steps).__name__}")
        object.__setattr__(self, "steps", tuple(self.steps))
        for seq, step in enumerate(self.steps):
            _check_step(seq, step)

    def channel_variables(self) -> dict[str, str]:
        """The ``IVR_*`` variables the session left on its channel, as the dialplan (and AMI's
        VarSets) saw them when the call went on to a queue: ``ivr.py`` sets all four from the
        outcome at the end of a menu that ran through; a session that failed (``error``) only set
        ``IVR_RESULT`` to ``error`` and ``IVR_QUEUE`` to the line's default queue, and the others
        keep the empty values the dialplan cleared them to. (A session the caller hung up on never
        reaches a queue.)"""
        if self.error is not None:
            return {"IVR_RESULT": "error", "IVR_TOPIC": "", "IVR_QUEUE": self.queue or "", "IVR_AGE_GROUP": ""}
        return {"IVR_RESULT": self.result, "IVR_TOPIC": self.topic or "", "IVR_QUEUE": self.queue or "",
                "IVR_AGE_GROUP": self.age_group}

    @property
    def duration_ms(self) -> int:
        """Time in the menu. Never negative: a wall-clock step back mid-call must not lose the record."""
        return max(0, round((self.ended_at - self.started_at) * 1000))


def _text(record: MenuRecord, name: str, *, required: bool = False, optional: bool = False) -> None:
    value = getattr(record, name)
    if type(value) is str and (value or not required):
        return
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise MenuRecordError(f"MenuRecord.{name}: expected text, got {type(value).__name__}: {value!r}")
    if required and not value:
        raise MenuRecordError(f"MenuRecord.{name}: must not be empty")


def _check_step(seq: int, step: Any) -> None:
    try:  # fast path: a well-formed step (the full checks below name what is wrong)
        at, kind, menu, prompt, key = step.at, step.kind, step.menu, step.prompt, step.key
    except AttributeError:
        pass
    else:
        if (type(at) is float and math.isfinite(at) and type(kind) is str and kind and type(menu) is str
                and (prompt is None or type(prompt) is str) and (key is None or type(key) is str)):
            return
    where = f"MenuRecord.steps[{seq}]"
    for name in ("at", "kind", "menu", "prompt", "key"):
        if not hasattr(step, name):
            raise MenuRecordError(f"{where}: {type(step).__name__} has no attribute {name!r}")
    _epoch(f"{where}.at", step.at)
    if not isinstance(step.kind, str) or not step.kind:
        raise MenuRecordError(f"{where}.kind: expected non-empty text, got {step.kind!r}")
    if not isinstance(step.menu, str):
        raise MenuRecordError(f"{where}.menu: expected text, got {step.menu!r}")
    for name in ("prompt", "key"):
        value = getattr(step, name)
        if value is not None and not isinstance(value, str):
            raise MenuRecordError(f"{where}.{name}: expected text or None, got {value!r}")


def _epoch(where: str, value: Any) -> None:
    if not is_epoch(value):
        raise MenuRecordError(f"{where}: expected epoch seconds (a finite number), got {value!r}")
