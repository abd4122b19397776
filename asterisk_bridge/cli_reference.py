"""The README's command table, generated from the commands themselves so it cannot fall behind.

Every command and subcommand of ``asterisk-bridge`` becomes one row: its usage built from its
click options and arguments, and the first paragraph of its ``--help``. README.md holds the
table between two marker lines; ``make readme`` (``python -m asterisk_bridge.cli_reference
README.md``) rewrites it there, and a test fails when the README's copy differs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from .cli import main as cli

BEGIN = "<!-- commands: generated from --help by `make readme`; edit the commands' help, not this table -->"
END = "<!-- end of commands -->"


def command_paths(group: click.Group, ctx: click.Context) -> Iterator[tuple[click.Context, click.Command]]:
    """Every visible command under ``group``, depth first in name order, with its context."""
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        yield sub, command
        if isinstance(command, click.Group):
            yield from command_paths(command, sub)


def usage(ctx: click.Context, command: click.Command) -> str:
    """``asterisk-bridge db backup [-c FILE] [--force] FILE``: options first, then arguments."""
    words = [ctx.command_path]
    params = command.get_params(ctx)
    for param in params:
        if isinstance(param, click.Option) and not param.hidden and "--help" not in param.opts:
            name = "/".join([param.opts[0], *param.secondary_opts[:1]])
            shown = name if param.is_flag or param.count else f"{name} {_metavar(param)}"
            words.append(shown if param.required else f"[{shown}]")
    words += [_metavar(param) for param in params if isinstance(param, click.Argument)]
    if isinstance(command, click.Group):
        words.append("COMMAND …")
    return " ".join(words)


def _metavar(param: click.Parameter) -> str:
    """What the value looks like: the option's own metavar, ``[a|b]`` for a choice, else its type."""
    if param.metavar:
        return param.metavar
    if isinstance(param.type, click.Choice):
        return "[" + "|".join(str(choice) for choice in param.type.choices) + "]"
    return param.name.upper() if isinstance(param, click.Argument) and param.name else param.type.name.upper()


def summary(command: click.Command) -> str:
    """The first paragraph of the command's help, on one line."""
    text = (command.help or "").split("\n\n", 1)[0]
    return " ".join(text.replace("\b", "").split())


def markdown_table(main: click.Group) -> str:
    root = click.Context(main, info_name="asterisk-bridge")
    rows = [(usage(root, main), summary(main))]
    rows += [(usage(ctx, command), summary(command)) for ctx, command in command_paths(main, root)]
    out = ["| command | what it does |", "| --- | --- |"]
    out += [f"| `{cell(u)}` | {cell(s)} |" for u, s in rows]
    return "\n".join(out)


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    try:
        head, rest = readme.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"README has no command table between {BEGIN!r} and {END!r}") from None
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Rewrite the table in the README given (``--check``: only say whether it is current)."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    path = Path(next((a for a in args if a != "--check"), "README.md"))
    text = path.read_text(encoding="utf-8")
    updated = with_table(text, markdown_table(cli))
    if updated == text:
        return 0
    if check:
        print(f"{path}: the command table is not what --help says; run `make readme`", file=sys.stderr)
        return 1
    path.write_text(updated, encoding="utf-8")
    print(f"{path}: command table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
