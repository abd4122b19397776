"""``asterisk-bridge web adduser|deluser|users``: who may sign in to the console."""

from __future__ import annotations

import sys

import click

from ..cli_options import config_option, group_config_option, load_or_exit
from .errors import UsersFileError
from .users import MIN_PASSWORD, UsersFile


def _users(config: str | None) -> UsersFile:
    path, cfg = load_or_exit(config)
    if not cfg.web.users_file:
        click.echo(f"{path}: set [web] users_file first (e.g. users_file = \"/etc/asterisk-bridge/web-users\")",
                   err=True)
        sys.exit(2)
    return UsersFile(cfg.web.users_file)


@click.group("web")
@group_config_option
def web() -> None:
    """The web console's users (the file named by [web] users_file)."""


@web.command("adduser")
@config_option
@click.argument("name")
@click.option("--admin", is_flag=True, help="May also re-send summaries (default: viewer).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin "
              "(for scripts) instead of asking twice.")
def adduser(config: str | None, name: str, admin: bool, password_stdin: bool) -> None:
    """Add NAME (or set a new password and role); the file is written with mode 0600."""
    users = _users(config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {name} (at least {MIN_PASSWORD} characters)", hide_input=True,
                                confirmation_prompt=True)
    role = "admin" if admin else "viewer"
    try:
        new = users.add(name, password, role)
    except UsersFileError as exc:
        click.echo(f"web adduser: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{'added' if new else 'updated'} {name} ({role}) in {users.path}; "
               "a running service picks it up at the next sign-in")


@web.command("deluser")
@config_option
@click.argument("name")
def deluser(config: str | None, name: str) -> None:
    """Remove NAME; their open sessions end at their next request."""
    users = _users(config)
    try:
        removed = users.remove(name)
    except UsersFileError as exc:
        click.echo(f"web deluser: {exc}", err=True)
        sys.exit(1)
    if not removed:
        click.echo(f"web deluser: no user {name!r} in {users.path}", err=True)
        sys.exit(1)
    click.echo(f"removed {name} from {users.path}")


@web.command("users")
@config_option
def list_users(config: str | None) -> None:
    """List the users and their roles (never their password hashes)."""
    users = _users(config)
    try:
        found = users.users()
    except UsersFileError as exc:
        click.echo(f"web users: {exc}", err=True)
        sys.exit(1)
    for user in found:
        click.echo(f"{user.name}\t{user.role}")
    if not found:
        click.echo(f"no users in {users.path}", err=True)
