"""``asterisk-bridge stats`` and ``asterisk-bridge summary`` (registered in cli.py with add_command).

Exit codes: 0 done, 1 the work failed (no database, SMTP refused, a broken template), 2 the
command line or the configuration is wrong (a bad date, a period that ends before it starts or
starts after today, a summary of a day not over yet, a line that does not exist, --force without
--send, --send without [smtp] host, sender and recipients).

"Today" is the configured ``timezone``'s. A summary mailed for a day not over would be recorded
in the send log as sent, and the service would then never mail that day's full summary.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import date
from pathlib import Path

import click

from asterisk_bridge.cli_options import build_rollups, config_option, load_or_exit, writable_dir_or_exit
from asterisk_bridge.config import Config
from asterisk_bridge.store import StoreError
from asterisk_bridge.store.report_queries import recorded_lines

from .build import build_figures
from .errors import MailError, PeriodError, SummaryTemplateError
from .export import stats_csv, stats_json
from .period import local_date_of
from .render import render_summary
from .schedule import send_summary, write_summary_files


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-11-25") from None


def _fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


@click.command("stats")
@config_option
@click.option("--from", "first", required=True, callback=_date, metavar="DATE", help="First local day (YYYY-MM-DD).")
@click.option("--to", "last", required=True, callback=_date, metavar="DATE", help="Last local day, inclusive.")
@click.option("--line", default=None, metavar="N", help="Only this line (e.g. 122).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
def stats(config: str | None, first: date, last: date, line: str | None, fmt: str) -> None:
    """Figures for any period of local days: per line and in total (JSON keys: see README)."""
    now = time.time()  # what is still open counts up to when the command was given, a build before it aside
    if last < first:
        raise click.BadParameter(f"{last.isoformat()} is before --from {first.isoformat()}", param_hint="'--to'")
    _, cfg = load_or_exit(config)
    today = local_date_of(now, cfg.timezone)
    if first > today:
        raise click.BadParameter(f"{first.isoformat()} is after today ({today.isoformat()} in {cfg.timezone})",
                                 param_hint="'--from'")
    if line is not None:
        _known_line(cfg, line)
    try:
        build_rollups(cfg, err=True, quiet_for=2.0)
        figures = build_figures(cfg.database.path, cfg, first, last, line=line, context=False, notable=0, now=now)
        if fmt == "json":
            click.echo(stats_json(figures), nl=False)
        elif fmt == "csv":
            click.echo(stats_csv(figures, cfg), nl=False)
        else:
            click.echo(render_summary(figures, cfg)[1], nl=False)
    except (PeriodError, FileNotFoundError, StoreError, SummaryTemplateError) as exc:
        _fail(f"stats: {exc}")


@click.command("summary")
@config_option
@click.option("--date", "day", required=True, callback=_date, metavar="DATE", help="Local day (YYYY-MM-DD).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Write summary-DATE.html/.txt here (default: summary.out_dir, else the current directory).")
@click.option("--send", is_flag=True, help="Mail it (multipart/alternative) through [smtp].")
@click.option("--force", is_flag=True, help="With --send: mail it even if this day was already sent.")
def summary(config: str | None, day: date, out: Path | None, send: bool, force: bool) -> None:
    """Write the daily summary of DATE to files and/or mail it."""
    if force and not send:
        raise click.UsageError("--force only applies to --send (mail a day that was already sent)")
    path, cfg = load_or_exit(config)
    today = local_date_of(time.time(), cfg.timezone)
    if day > today or (send and day == today):
        raise click.BadParameter(f"{day.isoformat()} is not over yet (today is {today.isoformat()} in {cfg.timezone})"
                                 + ("; its summary is mailed the morning after" if send else ""), param_hint="'--date'")
    if send and not (cfg.smtp.host and cfg.smtp.sender and cfg.smtp.recipients):
        missing = [key for key, value in (("host", cfg.smtp.host), ("sender", cfg.smtp.sender),
                                          ("recipients", cfg.smtp.recipients)) if not value]
        raise click.UsageError(f"--send needs [smtp] {', '.join(missing)} in {path}")
    if out is not None:
        writable_dir_or_exit(out, "--out")
    try:
        build_rollups(cfg, err=True, quiet_for=2.0)
        if out is not None or not send or cfg.summary.out_dir:
            target = out or Path(cfg.summary.out_dir or ".")
            for path in write_summary_files(cfg, cfg.database.path, day, target):
                click.echo(f"wrote {path}")
        if send:
            if asyncio.run(send_summary(cfg, cfg.database.path, day, force=force)):
                click.echo(f"mailed the summary for {day.isoformat()} to {', '.join(cfg.smtp.recipients)}")
            else:
                click.echo(f"the summary for {day.isoformat()} was already sent; use --force to send it again")
    except (PeriodError, FileNotFoundError, StoreError, SummaryTemplateError, MailError) as exc:
        _fail(f"summary: {exc}")


def _known_line(cfg: Config, line: str) -> None:
    """A line of the configuration, or one the database has records of (a line since removed)."""
    if line in cfg.lines:
        return
    try:
        recorded = recorded_lines(cfg.database.path)
    except (FileNotFoundError, StoreError):
        recorded = []
    if line not in recorded:
        known = list(cfg.lines) + sorted(set(recorded) - set(cfg.lines))
        raise click.BadParameter(f"no line {line!r}: the lines are {', '.join(known) or 'none'}", param_hint="'--line'")
