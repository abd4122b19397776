"""What every command shares: the -c/--config option and loading it with a clear error.

``-c FILE`` may come before the command (``asterisk-bridge -c FILE stats ...``) or after it
(``asterisk-bridge stats -c FILE ...``); after it wins when both are given. Without either,
``$ASTERISK_BRIDGE_CONFIG``, then ``./asterisk-bridge.toml``, then the ``/etc`` path.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Collection, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from .config import DEFAULT_PATHS, ENV_VAR, Config, ConfigError, load_config, resolve_config_path

T = TypeVar("T")

_DEFAULTS = "$ASTERISK_BRIDGE_CONFIG, ./asterisk-bridge.toml, /etc/asterisk-bridge/asterisk-bridge.toml"


_GIVEN = "asterisk_bridge.config"  # ctx.meta key (shared by nested contexts): the -c given before


def _or_given_before(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The command's own -c, else the nearest one given before the command (``db -c FILE``,
    then ``asterisk-bridge -c FILE``)."""
    if value is not None:
        return value
    given: str | None = ctx.meta.get(_GIVEN)
    return given


def _given_before(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.meta[_GIVEN] = value  # a group's -c, parsed after the root's, replaces it
    return value


config_option = click.option(
    "-c", "--config", "config", metavar="FILE", callback=_or_given_before,
    help=f"TOML configuration file; wins over a -c given before the command (default: {_DEFAULTS}).",
)

global_config_option = click.option(
    "-c", "--config", "config", metavar="FILE", callback=_given_before,
    help=f"TOML configuration file for the command that follows; a -c after the command wins "
    f"(default: {_DEFAULTS}).",
)

#: ``db -c FILE migrate``: the same, on a group of commands (read by the command that follows)
group_config_option = click.option(
    "-c", "--config", "config", metavar="FILE", callback=_given_before, expose_value=False,
    help="TOML configuration file for the command that follows; a -c after the command wins.",
)


def reads_config(command: click.Command) -> bool:
    """Whether ``command`` (for a group: a command under it) takes ``-c/--config``."""
    if isinstance(command, click.Group):
        return any(reads_config(sub) for sub in command.commands.values())
    return any(param.name == "config" for param in command.params)


def refuse_unread_config(ctx: click.Context) -> None:
    """Exit 2 when a -c given before the command would be ignored: ``-c FILE demo`` or
    ``-c FILE init`` must not look as if FILE had been used."""
    name = ctx.invoked_subcommand
    group = ctx.command
    command = group.get_command(ctx, name) if name and isinstance(group, click.Group) else None
    if command is not None and not reads_config(command):
        raise click.UsageError(f"-c/--config: `{name}` does not read a configuration file; "
                               f"drop -c (the commands that read one: see --help)", ctx)


def _usable_loop(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse ``--loop uvloop`` where uvloop is not installed before anything starts."""
    from .eventloop import EventLoopError, loop_factory

    try:
        loop_factory(value)
    except EventLoopError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


loop_option = click.option(
    "--loop", "loop", type=click.Choice(["auto", "uvloop", "asyncio"]), default="auto", show_default=True,
    callback=_usable_loop,
    help="Event loop: auto = uvloop when installed (a dependency on Linux with CPython), else asyncio's own.",
)


def run_on_loop(main: Coroutine[Any, Any, T], loop: str) -> T:
    """``main`` on the event loop ``--loop`` names; exit 2 when it cannot be used here."""
    from .eventloop import EventLoopError, run

    try:
        return run(main, loop)
    except EventLoopError as exc:
        raise click.BadParameter(str(exc), param_hint="--loop") from None


def writable_dir_or_exit(directory: Path, option: str) -> None:
    """Create ``directory`` (an option's value) now, or exit 2 naming it and why it cannot be.

    Checked before any work: the demo otherwise simulated its whole day before failing to write
    its database, and an OS error at the end read like a failure of the work, not of the input.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".asterisk-bridge-write-test.{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(directory) else ""
        raise click.BadParameter(f"cannot write to {directory}: {reason}{where}", param_hint=f"'{option}'") from None


def config_path_or_exit(config: str | None) -> Path:
    """The configuration file to read; exit 2 when there is none anywhere.

    With neither -c nor $ASTERISK_BRIDGE_CONFIG and no file at a default place, the message lists
    every place looked at and how to make one: a first-time admin otherwise only learns that
    the last of them is missing.
    """
    if not config and not os.environ.get(ENV_VAR) and not any(candidate.is_file() for candidate in DEFAULT_PATHS):
        places = "\n".join(f"  {candidate.resolve() if not candidate.is_absolute() else candidate}: no such file"
                           for candidate in DEFAULT_PATHS)
        click.echo(f"no configuration found; looked at:\n  -c/--config: not given\n  ${ENV_VAR}: not set\n{places}\n"
                   "Write one with `asterisk-bridge init` (or `init --dir DIR`), or pass -c FILE.", err=True)
        sys.exit(2)
    return resolve_config_path(config)


def load_or_exit(config: str | None, sections: Collection[str] | None = None) -> tuple[Path, Config]:
    """Load the configuration (only ``sections`` when given); on any problem print every one and exit 2."""
    path = config_path_or_exit(config)
    try:
        return path, load_config(path, sections=sections)
    except ConfigError as exc:
        click.echo(f"configuration is not valid: {exc}", err=True)
        sys.exit(2)


def build_rollups(cfg: Config, *, err: bool, quiet_for: float = 0.0, signature: bool = False) -> None:
    """Build the database's rollups for ``cfg`` when they do not serve it (``store/rollups.py``),
    printing why and how far it got every 2 s (to stderr with ``err``); nothing is printed when
    the work takes under ``quiet_for`` seconds, or there were no calls. ``signature``: also rebuild after a tzdata update
    (``store/rollups.py``; ``db migrate`` and ``run`` check it, the report checks the days it reads). A database that cannot be written is only noted:
    the figures are then read from the call rows."""
    from .report.build import rollup_settings
    from .store import maintenance, rollups

    began = time.monotonic()
    said: list[str] = []

    def say(line: str) -> None:
        click.echo(f"rollups: {line}", err=err)

    def started(reason: str) -> None:
        settings = rollup_settings(cfg)
        said.append(f"building for {settings.timezone} (service level {settings.service_level_seconds:g} s, "
                    f"short abandon {settings.short_abandon_seconds:g} s): {reason}")

    def progress(where: rollups.Progress) -> None:
        elapsed = time.monotonic() - began
        if where.done and (elapsed < quiet_for or not where.calls_total):  # nothing worth saying
            return
        while said:
            say(said.pop(0))
        say(f"built from {where.describe()} in {elapsed:.1f} s" if where.done else f"{where.describe()}, {elapsed:.0f} s")

    try:
        maintenance.build_rollups(cfg.database.path, rollup_settings(cfg), started=started, progress=progress,
                                  signature=signature)
    except sqlite3.Error as exc:
        click.echo(f"rollups: cannot build them ({exc}); the figures are read from the call rows", err=True)
