"""The daily summary inside ``asterisk-bridge run``: yesterday's figures mailed at ``summary.send_at``.

Rules: each send is recorded in ``summaries``; a day already recorded is never mailed
again unless forced; on start, days missed while the service was down (up to
``summary.catch_up_days``) are sent oldest first; an SMTP failure is retried with exponential
backoff from 30 s, capped at 5 min so that a mail server back after an outage gets the morning
email within minutes, and the day stays unsent until the server accepts it. The clock is injected
so tests can move time without sleeping for a day.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path

from asterisk_bridge.config import Config
from asterisk_bridge.store import report_queries as rq
from asterisk_bridge.utc import parse_utc_iso

from .build import build_figures
from .errors import MailError
from .export import write_calls_csv
from .mail import build_message, send_message
from .period import local_date_of, zone
from .render import render_summary

log = logging.getLogger(__name__)


async def send_summary(config: Config, db_path: str | Path, day: date, *, force: bool = False,
                       now: float | None = None) -> bool:
    """Mail the summary of local ``day`` once; returns False when it was already sent (not forced).

    Raises :class:`~asterisk_bridge.report.mail.MailError` when the SMTP server does not take it
    (nothing is recorded then, so a retry sends it).
    """
    key = day.isoformat()
    if not force and rq.summary_sent(db_path, key) is not None:
        log.info("summary for %s was already sent; not sending again (use --force)", key)
        return False
    now = time.time() if now is None else now
    figures = await asyncio.to_thread(build_figures, db_path, config, day, day, now=now)
    subject, text, html = render_summary(figures, config)
    msg = build_message(config.smtp, subject, text, html, timezone=config.timezone, now=now)
    await send_message(config.smtp, msg)
    rq.record_summary(db_path, key, sent_at=now, recipients=list(config.smtp.recipients), subject=subject,
                      forced=force, html=html, text=text)
    log.info("summary for %s sent to %s", key, ", ".join(config.smtp.recipients))
    return True


def write_summary_files(config: Config, db_path: str | Path, day: date, out_dir: Path,
                        *, now: float | None = None) -> list[Path]:
    """``summary-DAY.html`` and ``.txt`` (and ``summary-DAY-calls.csv`` with ``summary.csv``) in ``out_dir``."""
    figures = build_figures(db_path, config, day, day, now=now)
    _, text, html = render_summary(figures, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"summary-{day.isoformat()}"
    written = [stem.with_suffix(".html"), stem.with_suffix(".txt")]
    written[0].write_text(html, encoding="utf-8")
    written[1].write_text(text, encoding="utf-8")
    if config.summary.csv:
        path = out_dir / f"summary-{day.isoformat()}-calls.csv"
        write_calls_csv(config, db_path, day, path)
        written.append(path)
    return written


class SummaryScheduler:
    """Sends yesterday's summary every day at ``summary.send_at`` local time, catching up after downtime."""

    def __init__(
        self,
        config: Config,
        store_path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        retry_initial: float = 30.0,
        retry_max: float = 300.0,
    ) -> None:
        self.config = config
        self.store_path = store_path
        self.clock = clock
        self.sleep = sleep
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.sent: list[date] = []  # days sent by this scheduler (for logs and tests)
        self._task: asyncio.Task[None] | None = None
        hour, minute = (int(x) for x in config.summary.send_at.split(":"))
        self._send_at = (hour, minute)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="summary-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def send_day(self, day: date, force: bool = False) -> bool:
        """Send one day, retrying SMTP failures with capped backoff until it is accepted."""
        delay = self.retry_initial
        while True:
            try:
                sent = await send_summary(self.config, self.store_path, day, force=force, now=self.clock())
            except MailError as exc:
                log.warning("summary for %s not sent (%s); retrying in %.0f s", day, exc, delay)
                await self.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            if sent:
                self.sent.append(day)
            return sent

    def due_days(self) -> list[date]:
        """Days whose summary is due by now and not yet sent, oldest first (at most catch_up_days + 1)."""
        now = self.clock()
        today = local_date_of(now, self.config.timezone)
        latest = today - timedelta(days=1) if self._past_send_time(now) else today - timedelta(days=2)
        first_iso = rq.first_record(self.store_path)
        if first_iso is None:
            return []  # nothing recorded yet: no summary of empty days before the first call
        first = local_date_of(parse_utc_iso(first_iso), self.config.timezone)
        days = [latest - timedelta(days=n) for n in range(self.config.summary.catch_up_days, -1, -1)]
        return [d for d in days if d >= first and rq.summary_sent(self.store_path, d.isoformat()) is None]

    def _past_send_time(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, zone(self.config.timezone))
        return (local.hour, local.minute) >= self._send_at

    def seconds_until_next(self) -> float:
        now = self.clock()
        tz = zone(self.config.timezone)
        local = datetime.fromtimestamp(now, tz)
        target = local.replace(hour=self._send_at[0], minute=self._send_at[1], second=0, microsecond=0)
        if target <= local:
            target = datetime.combine(local.date() + timedelta(days=1), target.time(), tzinfo=tz)
        return max(0.0, target.timestamp() - now)

    async def _run(self) -> None:
        if not self.config.smtp.host:
            log.info("summary scheduler: smtp.host is not set; daily summaries are not mailed")
            return
        while True:
            for day in self.due_days():
                await self.send_day(day)
            await self.sleep(min(self.seconds_until_next(), 3600.0))
