"""Local days and UTC offsets of a time zone, from zoneinfo. Pure and domain-neutral, like ``utc.py``.

Reports cut periods into local days (``report/period.py``); the store's rollups keep figures per
local day and local hour (``store/rollups.py``). Both take their days from :func:`day_start`, so a
day means the same instants everywhere, DST days (23 or 25 hours) and midnights that do not exist
included. The store cannot ask zoneinfo inside SQL, so it keeps :func:`calendar` (each day's
bounds) and :func:`offsets` (the UTC offset from each change on) in tables.
"""

from __future__ import annotations

import hashlib
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from .utc import utc_iso

#: the local days the store's tables cover; a period outside them is read from the call rows
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2099, 12, 31)


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone ``name``; ``ValueError`` naming it when zoneinfo does not know it."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: {exc}") from None


def day_start(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    """The first instant of ``day`` on the local clock, in UTC.

    For a midnight that does not exist (a DST jump at 00:00) ``fold=0`` resolves to the offset
    before the jump, which is exactly the instant the day begins.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def calendar(tz_name: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> Iterator[tuple[str, str, str]]:
    """``(day, start_utc, end_utc)`` for each local day ``first``..``last``: ISO date, UTC ISO bounds."""
    tz = zone(tz_name)
    day = first
    start = utc_iso(day_start(day, tz).timestamp())
    while day <= last:
        following = day + timedelta(days=1)
        end = utc_iso(day_start(following, tz).timestamp())
        yield day.isoformat(), start, end
        day, start = following, end


@lru_cache(maxsize=16)
def offsets(tz_name: str, first: date = FIRST_DAY, last: date = LAST_DAY) -> tuple[tuple[str, int], ...]:
    """``(since_utc, offset_seconds)``: the zone's UTC offset from each change on (the first row's
    ``since_utc`` is ``""``: from the beginning). Found by checking the offset every 6 hours and
    narrowing each change down to the second (tzdata changes offsets on whole seconds); zones change their offset at most a few times
    a year, never twice within 6 hours."""
    tz = zone(tz_name)
    step = 6 * 3600

    def offset(epoch: float) -> int:
        value = datetime.fromtimestamp(epoch, tz).utcoffset()
        assert value is not None
        return int(value.total_seconds())

    begin = int(day_start(first, tz).timestamp()) - 86400
    stop = int(day_start(last + timedelta(days=1), tz).timestamp()) + 86400
    changes = [("", offset(begin))]
    at, current = begin, changes[0][1]
    while at < stop:
        following = at + step
        now = offset(following)
        if now != current:
            low, high = at, following  # offset(low) == current, offset(high) == now: whole seconds
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            changes.append((utc_iso(float(high)), now))
            current = now
        at = following
    return tuple(changes)


def signature(tz_name: str) -> str:
    """A digest of the zone's days and offsets as this Python's zoneinfo knows them: the store's
    rollups were cut with a zone of this signature, and a tzdata update that moves a change makes
    it differ."""
    digest = hashlib.sha256(tz_name.encode())
    for since, seconds in offsets(tz_name):
        digest.update(f"{since}={seconds};".encode())
    return digest.hexdigest()[:16]
