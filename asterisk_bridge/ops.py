"""Commands for operating the bridge: ``db migrate|backup|check|retention`` and ``status``.

Thin shells over :mod:`asterisk_bridge.store.maintenance` and :mod:`asterisk_bridge.health`.
Exit codes: 0 all well, 1 something needs an admin (or the command failed), 2 the command line
or the configuration is not valid.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import click

from .cli_options import build_rollups, config_option, group_config_option, load_or_exit
from .store import maintenance

log = logging.getLogger("asterisk_bridge.ops")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


@click.group("db")
@group_config_option
def db() -> None:
    """Database care: migrate, check, online backup, privacy retention."""


@db.command("migrate")
@config_option
def db_migrate(config: str | None) -> None:
    """Create the database or bring its schema up to date, and build its rollups (the service also does this on start)."""
    _, cfg = load_or_exit(config)
    try:
        applied = maintenance.migrate(cfg.database.path)
    except Exception as exc:  # noqa: BLE001 - any failure is a message, not a traceback
        _fail(f"cannot migrate {cfg.database.path}: {exc}")
    click.echo(f"{cfg.database.path}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    build_rollups(cfg, err=False, signature=True)


@db.command("check")
@config_option
def db_check(config: str | None) -> None:
    """integrity_check, foreign_key_check and pending migrations; exit 1 on any problem."""
    _, cfg = load_or_exit(config)
    try:
        result = maintenance.check(cfg.database.path)
    except FileNotFoundError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001
        _fail(f"cannot check {cfg.database.path}: {exc}")
    for line in result.integrity:
        click.echo(f"integrity: {line}", err=True)
    for line in result.foreign_keys:
        click.echo(f"foreign key: {line}", err=True)
    if result.pending:
        click.echo(f"pending migrations: {', '.join(result.pending)} (run `asterisk-bridge db migrate`)", err=True)
    if not result.ok:
        sys.exit(1)
    click.echo(f"{cfg.database.path}: integrity ok, foreign keys ok, schema up to date")


@db.command("backup")
@config_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def db_backup(config: str | None, file: Path, force: bool) -> None:
    """Copy the database to FILE, consistent and online (the service may keep running)."""
    _, cfg = load_or_exit(config)
    if file.exists() and not force:
        raise click.BadParameter(f"{file} exists (use --force to replace it)", param_hint="FILE")
    if not file.absolute().parent.is_dir():
        raise click.BadParameter(f"{file.absolute().parent} is not a directory (create it first)", param_hint="FILE")
    started = time.monotonic()
    try:
        maintenance.backup(cfg.database.path, file, overwrite=force)
    except Exception as exc:  # noqa: BLE001
        _fail(f"backup failed: {exc}")
    click.echo(f"{cfg.database.path} -> {file}: {file.stat().st_size} bytes in "
               f"{time.monotonic() - started:.1f} s, integrity ok")


@db.command("retention")
@config_option
def db_retention(config: str | None) -> None:
    """Apply privacy retention now (the service also runs it daily)."""
    _, cfg = load_or_exit(config)
    p = cfg.privacy
    if p.hash_after_days is None and p.drop_steps_after_days is None:
        click.echo("no retention configured ([privacy] hash_after_days / drop_steps_after_days)")
        return
    try:
        result = maintenance.apply_retention_to_file(
            cfg.database.path, hash_after_days=p.hash_after_days,
            drop_steps_after_days=p.drop_steps_after_days, salt=p.salt)
    except Exception as exc:  # noqa: BLE001
        _fail(f"retention failed on {cfg.database.path}: {exc}")
    log.info("retention: %s", result.describe())
    click.echo(f"{cfg.database.path}: {result.describe()}")


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status file as JSON (plus a 'problems' list).")
@click.option("--stale-after", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="S",
              help="Seconds after which an unrefreshed status means the service is not working.")
@click.option("--outbox-warn", type=click.IntRange(min=0), default=1000, show_default=True, metavar="N",
              help="MQTT outbox depth that needs an admin.")
@click.option("--ami-grace", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="S",
              help="Seconds AMI may be down before it needs an admin.")
def status(config: str | None, as_json: bool, stale_after: float, outbox_warn: int, ami_grace: float) -> None:
    """What the running service is doing; exit 1 when something needs an admin (for monitoring)."""
    from .health import format_status, problems, read_status, status_path, with_records

    _, cfg = load_or_exit(config)
    path = status_path(cfg)
    try:
        data = read_status(path)
    except FileNotFoundError:
        _fail(f"CRITICAL: no status file {path}: the service is not running (or never ran with this config)")
    except (OSError, ValueError) as exc:
        _fail(f"CRITICAL: cannot read the status file {path}: {exc}")
    now = time.time()
    data = with_records(data, cfg, now)
    found = problems(data, now, stale_after=stale_after, outbox_warn=outbox_warn, ami_grace=ami_grace,
                     timezone=cfg.timezone)
    if as_json:
        click.echo(json.dumps({**data, "problems": found}, ensure_ascii=False, indent=1))
    else:
        click.echo(format_status(data, now, cfg.timezone))
        click.echo("status   " + ("OK" if not found else "NEEDS AN ADMIN:"))
        for problem in found:
            click.echo(f"  - {problem}")
    if found:
        sys.exit(1)
