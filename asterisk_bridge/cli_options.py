"""What every command shares: the -c/--config option and loading it with a clear error."""

from __future__ import annotations

import sys
from collections.abc import Collection
from pathlib import Path

import click

from .config import DEFAULT_PATHS, ENV_VAR, Config, ConfigError, load_config, resolve_config_path

config_option = click.option(
    "-c", "--config", "config", metavar="FILE", envvar="ASTERISK_BRIDGE_CONFIG",
    help="TOML configuration file (default: $ASTERISK_BRIDGE_CONFIG, ./asterisk-bridge.toml, "
    "/etc/asterisk-bridge/asterisk-bridge.toml).",
)


def config_path_or_exit(config: str | None) -> Path:
    """The configuration file to read; exit 2 when there is none anywhere.

    With neither -c nor $ASTERISK_BRIDGE_CONFIG and no file at a default place, the message lists
    every place looked at and how to make one: a first-time admin otherwise only learns that
    the last of them is missing.
    """
    if not config and not any(candidate.is_file() for candidate in DEFAULT_PATHS):
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
