"""Operators as the store keeps them: a ``MemberSession`` -> its ``operator_sessions`` row, a
``MemberPause`` -> its ``operator_pauses`` row, and back (to follow operators after a restart).

Built when handed in, like the call rows (``rows.py``): a session that could never be written is
refused at the caller, and later tracking cannot change what gets written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..calls.member_model import MEMBERSHIPS, MemberPause, MemberSession
from ..utc import parse_utc_iso
from .errors import RecordError
from .rows import iso_or_none, text_or_none


OPERATOR_SESSION_COLUMNS = (
    "interface", "queue", "logged_in_at", "member_name", "membership", "login_seen", "logged_out_at",
    "logout_seen", "node",
)
OPERATOR_PAUSE_COLUMNS = (
    "interface", "queue", "started_at", "member_name", "reason", "auto", "start_seen", "ended_at", "end_seen",
    "node",
)


#: the tables an ``OperatorRow`` goes to, and their columns (the first three are the key)
OPERATOR_TABLES = {"operator_sessions": OPERATOR_SESSION_COLUMNS, "operator_pauses": OPERATOR_PAUSE_COLUMNS}


@dataclass(frozen=True)
class OperatorRow:
    """An operator's session or pause in one queue: a row of ``table``, in its columns' order."""

    table: str  # one of OPERATOR_TABLES
    values: tuple[Any, ...]

    @property
    def label(self) -> str:
        what = "session" if self.table == "operator_sessions" else "pause"
        return f"operator {what} {self.values[0]} in {self.values[1]} from {self.values[2]}"


def _member_text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"{where}: expected non-empty text, got {value!r}")
    return value


def operator_session_row(session: MemberSession, node: str | None) -> OperatorRow:
    where = f"operator session {session.interface!r} in {session.queue!r}"
    if session.membership not in MEMBERSHIPS:
        raise RecordError(f"{where}: membership {session.membership!r} is not one of {list(MEMBERSHIPS)}")
    return OperatorRow("operator_sessions", (
        _member_text(f"{where}: interface", session.interface), _member_text(f"{where}: queue", session.queue),
        iso_or_none(f"{where}: logged_in_at", session.logged_in_at),
        _member_text(f"{where}: member_name", session.member_name), session.membership, int(session.login_seen),
        iso_or_none(f"{where}: logged_out_at", session.logged_out_at), int(session.logout_seen), node,
    ))


def operator_pause_row(pause: MemberPause, node: str | None) -> OperatorRow:
    where = f"operator pause {pause.interface!r} in {pause.queue!r}"
    return OperatorRow("operator_pauses", (
        _member_text(f"{where}: interface", pause.interface), _member_text(f"{where}: queue", pause.queue),
        iso_or_none(f"{where}: started_at", pause.started_at),
        _member_text(f"{where}: member_name", pause.member_name),
        text_or_none(f"{where}: reason", pause.reason) or "", int(pause.auto), int(pause.start_seen),
        iso_or_none(f"{where}: ended_at", pause.ended_at), int(pause.end_seen), node,
    ))


def session_from_row(row: dict[str, Any]) -> MemberSession:
    """A stored ``operator_sessions`` row -> the tracker's ``MemberSession``."""
    out = row["logged_out_at"]
    return MemberSession(row["interface"], row["queue"], row["member_name"], parse_utc_iso(row["logged_in_at"]),
                         row["membership"], bool(row["login_seen"]), parse_utc_iso(out) if out else None,
                         bool(row["logout_seen"]))


def pause_from_row(row: dict[str, Any]) -> MemberPause:
    """A stored ``operator_pauses`` row -> the tracker's ``MemberPause``."""
    end = row["ended_at"]
    return MemberPause(row["interface"], row["queue"], row["member_name"], parse_utc_iso(row["started_at"]),
                       row["reason"], bool(row["auto"]), bool(row["start_seen"]),
                       parse_utc_iso(end) if end else None, bool(row["end_seen"]))
