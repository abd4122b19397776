"""Local days in the configured time zone, as half-open UTC ranges (pure, no I/O).

Calls are stored in UTC but a manager's "yesterday" is a day on the wall clock of the contact
center. The cut is made with zoneinfo so a day with a DST change is 23 or 25 hours long instead
of silently borrowing an hour from its neighbour.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from asterisk_bridge import localdays
from asterisk_bridge.localdays import day_start
from asterisk_bridge.utc import utc_iso

from .errors import PeriodError


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return localdays.zone(name)
    except ValueError as exc:
        raise PeriodError(str(exc)) from None


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` (inclusive) in ``timezone``; ``start_utc``/``end_utc`` half-open."""

    first: date
    last: date
    timezone: str
    start_utc: str
    end_utc: str

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def single_day(self) -> bool:
        return self.first == self.last


def local_period(first: date, last: date, tz_name: str) -> Period:
    """``[first 00:00, last+1 00:00)`` local, as UTC ISO strings for ``started_at`` comparisons."""
    if last < first:
        raise PeriodError(f"period ends ({last.isoformat()}) before it starts ({first.isoformat()})")
    tz = zone(tz_name)
    start = day_start(first, tz)
    end = day_start(last + timedelta(days=1), tz)
    return Period(first, last, tz_name, utc_iso(start.timestamp()), utc_iso(end.timestamp()))


def local_day(day: date, tz_name: str) -> Period:
    return local_period(day, day, tz_name)


def month_to_date(day: date, tz_name: str) -> Period:
    return local_period(day.replace(day=1), day, tz_name)


def local_date_of(epoch: float, tz_name: str) -> date:
    """The local calendar date at ``epoch`` (the scheduler's "today")."""
    return datetime.fromtimestamp(epoch, zone(tz_name)).date()
