"""``asterisk-bridge prompts build | check | text`` (registered in cli.py with add_command)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from asterisk_bridge.cli_options import config_option, group_config_option, load_or_exit, writable_dir_or_exit
from asterisk_bridge.config import MENU_SECTIONS

from .build import (
    GENERATED,
    MISSING,
    OUTDATED,
    RECORDED,
    UNCHANGED,
    UNPLAYABLE,
    BuildStep,
    PromptState,
    build,
    survey,
)
from .errors import PromptError
from .files import shown
from .texts import MENU_LIMIT_SECONDS, prompt_scripts

DEFAULT_SOUNDS_DIR = Path("/var/lib/asterisk/sounds")

sounds_dir_option = click.option(
    "--sounds-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SOUNDS_DIR, metavar="DIR",
    show_default=True, help="Asterisk's sounds directory; prompts go to <dir>/<language>/.")
language_option = click.option("--language", default="ru", show_default=True, metavar="LANG",
                                help="Prompt language: the [prompts.<language>] texts and the sounds subdirectory.")


@click.group()
@group_config_option
def prompts() -> None:
    """Prompt texts in the configuration -> sound files Asterisk plays (espeak-ng + sox)."""


@prompts.command("build")
@config_option
@sounds_dir_option
@language_option
@click.option("--force", is_flag=True, help="Render every prompt again, replacing recordings too.")
def build_command(config: str | None, sounds_dir: Path, language: str, force: bool) -> None:
    """Render every prompt whose text is new or changed; recordings are left alone.

    Exit 0 when every prompt has a file, 1 when some still have none (or on an error)."""
    path, cfg = load_or_exit(config, MENU_SECTIONS)
    writable_dir_or_exit(sounds_dir, "--sounds-dir")
    tty = sys.stdout.isatty()

    def progress(index: int, total: int, step: BuildStep) -> None:
        if tty or step.action != UNCHANGED:
            click.echo(f"[{index:>{len(str(total))}}/{total}] {format_step(step)}")

    try:
        report = build(cfg, sounds_dir, language, force=force, progress=progress)
    except PromptError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    counts = ", ".join(f"{n} {action}" for action, n in report.counts.items())
    click.echo(f"{len(report.steps)} prompts in {sounds_dir / language}: {counts} ({report.seconds:.1f} s)")
    if report.missing:
        click.echo(f"{len(report.missing)} prompt(s) would play nothing: "
                   f"{', '.join(s.prompt for s in report.missing)}", err=True)
        sys.exit(1)


def format_step(step: BuildStep) -> str:
    length = f"{step.seconds:5.1f} s" if step.seconds is not None else "      -"
    return f"{step.prompt:<32} {step.action:<15} {length}  {step.detail}"


@prompts.command("check")
@config_option
@sounds_dir_option
@language_option
def check_command(config: str | None, sounds_dir: Path, language: str) -> None:
    """List every prompt: recorded, generated, outdated or missing, and how long it plays.

    Exit 1 when a prompt has no file Asterisk can play."""
    path, cfg = load_or_exit(config, MENU_SECTIONS)
    try:
        states = survey(cfg, sounds_dir, language)
    except PromptError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{'prompt':<32} {'status':<11} {'length':>7}  file")
    for state in states:
        sound = state.playing
        length = f"{sound.seconds:5.1f} s" if sound is not None and sound.seconds is not None else "      -"
        click.echo(f"{state.script.name:<32} {state.status:<11} {length}  {_where(state, sounds_dir, language)}")
    for state in states:
        if state.too_long and state.playing is not None:
            click.echo(f"warning: {state.script.name} is a menu prompt of {state.playing.seconds:.1f} s, "
                       f"longer than {MENU_LIMIT_SECONDS:g} s: callers lose the first topics before the last "
                       f"(shorten topic names or move topics to a sub-menu)", err=True)
    counts = {s: sum(1 for st in states if st.status == s)
              for s in (GENERATED, RECORDED, OUTDATED, UNPLAYABLE, MISSING)}
    click.echo(f"{len(states)} prompts in {sounds_dir / language}: "
               + ", ".join(f"{n} {status}" for status, n in counts.items() if n))
    if counts[MISSING] or counts[UNPLAYABLE]:
        sys.exit(1)


def _where(state: PromptState, sounds_dir: Path, language: str) -> str:
    files = ", ".join(shown(f.path, sounds_dir) + (f" {f.problem}" if f.problem else "") for f in state.files)
    has_text = state.script.text is not None
    note = {
        GENERATED: "",
        RECORDED: "a generated file is here too: `prompts build` removes it" if state.ours else "",
        OUTDATED: ("its text changed: run `asterisk-bridge prompts build`" if has_text
                   else f"no text in [prompts.{language}] any more"),
        UNPLAYABLE: "replace it, or `prompts build --force` generates it" if has_text else "replace it",
        MISSING: ("text given: run `asterisk-bridge prompts build`" if has_text
                  else f"no text in [prompts.{language}]: record it or write its text"),
    }[state.status]
    return "; ".join(part for part in (files, note) if part)


@prompts.command("text")
@config_option
@language_option
def text_command(config: str | None, language: str) -> None:
    """Print what every prompt says (menus without a text are written from the menu)."""
    path, cfg = load_or_exit(config, MENU_SECTIONS)
    try:
        scripts = prompt_scripts(cfg, language)
    except PromptError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for script in scripts:
        origin = "written from the menu" if script.generated else ("no text" if script.text is None else "text")
        click.echo(f"{script.name}  [{origin}; {script.where}]")
        click.echo(f"  {script.text}" if script.text is not None else "  (needs a recording)")
