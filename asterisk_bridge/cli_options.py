"""What every command shares: the -c/--config option and loading it with a clear error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .config import Config, ConfigError, load_config, resolve_config_path

config_option = click.option(
    "-c", "--config", "config", metavar="FILE", envvar="ASTERISK_BRIDGE_CONFIG",
    help="TOML configuration file (default: $ASTERISK_BRIDGE_CONFIG, ./asterisk-bridge.toml, "
    "/etc/asterisk-bridge/asterisk-bridge.toml).",
)


def load_or_exit(config: str | None) -> tuple[Path, Config]:
    """Load the configuration; on any problem print every one of them and exit 2."""
    path = resolve_config_path(config)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        click.echo(f"configuration is not valid: {exc}", err=True)
        sys.exit(2)
