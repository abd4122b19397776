"""Where the report reads its numbers: the rollups (``store/rollup_queries.py``) for every period
they serve, else the rows (``store/report_queries.py``, ``store/operator_queries.py``). Both give
the same shapes and, a test holds, the same figures; the rows answer while the rollups are being
built, after the time zone or a threshold changed, and for periods outside their calendar.

Operator time for one line (its queues only) is swept from the rows: who counts as paused depends
on the queues looked at, and the rollups keep each operator's time over all his queues.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from asterisk_bridge.calls.operator_time import OperatorTime
from asterisk_bridge.store import operator_queries as oq
from asterisk_bridge.store import report_queries as rq
from asterisk_bridge.store import rollup_queries as ru
from asterisk_bridge.store.rollups import RollupSettings
from asterisk_bridge.utc import parse_utc_iso

from .compute import local_hours
from .definitions import menu_bucket, outcome_bucket
from .operators import times_from_rows
from .period import Period


@dataclass
class PeriodInputs:
    """What ``compute.compute_period`` needs for one period."""

    groups: list[dict[str, Any]]
    menu: list[dict[str, Any]]
    hours: list[dict[str, Any]]
    longest: dict[str | None, float | None] | None
    missed: int

    @property
    def incomplete(self) -> int:
        return sum(int(g["incomplete"] or 0) for g in self.groups)


@dataclass
class RowSource:
    """The figures from the rows of ``db``."""

    db: Database
    settings: RollupSettings

    @property
    def threshold(self) -> float:
        return self.settings.service_level_seconds

    def period(self, p: Period, line: str | None) -> PeriodInputs:
        start, end = p.start_utc, p.end_utc
        groups = rq.call_groups(self.db, start, end, threshold=self.threshold, line=line)
        return PeriodInputs(groups, rq.menu_only_groups(self.db, start, end, line=line),
                            local_hours(rq.hour_counts(self.db, start, end, line=line), p.timezone), None,
                            rq.menu_missed(self.db, start, end, line=line))

    def buckets(self, p: Period, line: str | None) -> list[dict[str, Any]]:
        return rq.bucket_totals(self.db, p.start_utc, p.end_utc, line=line)

    def queue_groups(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        return oq.queue_groups(self.db, p.start_utc, p.end_utc, threshold=self.threshold,
                               short_abandon=self.settings.short_abandon_seconds, queues=queues)

    def operator_answers(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        return oq.operator_answers(self.db, p.start_utc, p.end_utc, queues=queues)

    def operator_rings(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        return oq.operator_rings(self.db, p.start_utc, p.end_utc, queues=queues)

    def operator_times(self, p: Period, queues: Sequence[str] | None, now: float) -> dict[str, OperatorTime]:
        sessions = oq.operator_sessions(self.db, p.start_utc, p.end_utc, queues=queues)
        pauses = oq.operator_pauses(self.db, p.start_utc, p.end_utc, queues=queues)
        return times_from_rows(sessions, pauses, start=parse_utc_iso(p.start_utc),
                               end=min(parse_utc_iso(p.end_utc), now))


@dataclass
class RollupSource(RowSource):
    """The figures from the rollups of ``db`` wherever they serve the period, else from its rows."""

    _serves: dict[tuple[Any, ...], bool] = field(default_factory=dict)

    def serves(self, p: Period, *, hours: bool = False) -> bool:
        key = (p.first, p.last, hours)
        if key not in self._serves:
            self._serves[key] = ru.serves(self.db.conn, self.settings, p.first, p.last, hours=hours)
        return self._serves[key]

    def period(self, p: Period, line: str | None) -> PeriodInputs:
        if not self.serves(p, hours=True):
            return super().period(p, line)
        conn = self.db.conn
        longest, missed = ru.line_figures(conn, p.first, p.last, line=line)
        return PeriodInputs(ru.call_groups(conn, p.first, p.last, line=line),
                            ru.menu_only_groups(conn, p.first, p.last, line=line),
                            ru.local_hours(conn, p.first, p.last, line=line), longest, missed)

    def buckets(self, p: Period, line: str | None) -> list[dict[str, Any]]:
        if not self.serves(p):
            return super().buckets(p, line)
        return [{"line": r["line"], "calls": r["calls"],
                 "bucket": outcome_bucket(r["outcome"] or None) if r["source"] == "call" else menu_bucket(r["outcome"])}
                for r in ru.bucket_rows(self.db.conn, p.first, p.last, line=line)]

    def queue_groups(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        if not self.serves(p):
            return super().queue_groups(p, queues)
        return ru.queue_groups(self.db.conn, p.first, p.last, queues=queues)

    def operator_answers(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        if not self.serves(p):
            return super().operator_answers(p, queues)
        return ru.operator_answers(self.db.conn, p.first, p.last, queues=queues)

    def operator_rings(self, p: Period, queues: Sequence[str] | None) -> list[dict[str, Any]]:
        if not self.serves(p):
            return super().operator_rings(p, queues)
        return ru.operator_rings(self.db.conn, p.first, p.last, queues=queues)

    def operator_times(self, p: Period, queues: Sequence[str] | None, now: float) -> dict[str, OperatorTime]:
        if queues is not None or not self.serves(p):
            return super().operator_times(p, queues, now)
        return ru.operator_times(self.db.conn, p.first, p.last, now=now)
