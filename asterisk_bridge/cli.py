"""The ``asterisk-bridge`` command line; each command is a thin shell over the library."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import click

from .cli_options import (
    config_option,
    config_path_or_exit,
    global_config_option,
    load_or_exit,
    loop_option,
    refuse_unread_config,
    run_on_loop,
    writable_dir_or_exit,
)
from .config import MENU_SECTIONS, Config, ConfigError, describe, load_config
from .install import DEFAULT_DIR, DEFAULT_SYSTEMD_DIR, own_executable


def _setup_logging(verbose: int, log_format: str = "plain") -> None:
    from .logs import setup

    setup(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING, log_format)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="-v for INFO (one line per call), -vv for protocol DEBUG.")
@click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True,
              envvar="ASTERISK_BRIDGE_LOG_FORMAT", help="Log lines as text or as one JSON object each.")
@global_config_option
@click.version_option(package_name="asterisk-bridge")
@click.pass_context
def main(ctx: click.Context, verbose: int, log_format: str, config: str | None) -> None:
    """Citizen contact-center bridge for Asterisk: topic menu over FastAGI, call records in SQLite."""
    _setup_logging(verbose, log_format)  # -c is read by the command that follows (cli_options.py)
    if config is not None:
        refuse_unread_config(ctx)


@main.command("check-config")
@config_option
@click.option("--sounds-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
              help="Asterisk sounds directory; report every prompt without a sound file Asterisk can play.")
@click.option("--language", default="ru", show_default=True, metavar="LANG", help="Sound language subdirectory.")
def check_config(config: str | None, sounds_dir: Path | None, language: str) -> None:
    """Validate the configuration; exit 2 naming every problem, 0 with a summary.

    With --sounds-dir the prompts are checked even when another section has a problem (the menus
    are read on their own then), so one run names everything to fix."""
    path = config_path_or_exit(config)
    try:
        cfg: Config | None = load_config(path)
    except ConfigError as exc:
        click.echo(f"configuration is not valid: {exc}", err=True)
        cfg = None
    sounds_ok = True
    if sounds_dir is not None:
        sounds_ok = _check_sounds(path, cfg, sounds_dir, language)
    if cfg is None or not sounds_ok:
        sys.exit(2)
    click.echo(f"{path}: OK")
    click.echo(describe(cfg))


def _check_sounds(path: Path, cfg: Config | None, sounds_dir: Path, language: str) -> bool:
    from .menu.prompts import missing_sounds

    if cfg is None:
        try:
            cfg = load_config(path, sections=MENU_SECTIONS)
        except ConfigError:
            return False  # the menus themselves are broken; their problems are printed above
    missing = missing_sounds(cfg, sounds_dir, language)
    if missing:
        click.echo(f"{path}: {len(missing)} prompt(s) have no sound file Asterisk can play in "
                   f"{sounds_dir}:", err=True)
        for key, prompt in missing:
            click.echo(f"  {key}: {prompt!r}", err=True)
        return False
    click.echo(f"{path}: every prompt has a sound file in {sounds_dir / language}")
    return True


@main.command()
@config_option
@loop_option
def run(config: str | None, loop: str) -> None:
    """Run the bridge until SIGTERM or SIGINT: calls in the menu finish (up to fastagi.shutdown_grace),
    then exit 0. SIGHUP reloads the configuration: new calls get the new menu, calls in the menu
    finish on the old one, and an invalid file is logged and the old configuration kept."""
    from .service import run as run_service

    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    from .web import WebAccessError, check_access

    path, cfg = load_or_exit(config)
    try:
        check_access(cfg)
    except WebAccessError as exc:
        click.echo(f"asterisk-bridge run: refusing to start: {exc}", err=True)
        sys.exit(2)
    run_on_loop(run_service(cfg, path), loop)


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"), metavar="DIR",
              show_default=True, help="Directory for the database and the day's summary (HTML and text), and "
              "the prompts it renders (sounds/).")
@click.option("--seed", type=int, default=1, show_default=True, metavar="N", help="Traffic model seed.")
@click.option("--day-seconds", type=click.FloatRange(min=0.1), default=20.0, show_default=True, metavar="S",
              help="Wall-clock seconds one simulated day takes.")
@click.option("--serve", is_flag=True, help="Open the web console on the demo (live during the day) and keep "
              "it open afterwards until Ctrl-C.")
@click.option("--port", type=click.IntRange(0, 65535), default=8122, show_default=True, metavar="PORT",
              help="With --serve: the console's port on 127.0.0.1 (0: any free port).")
@loop_option
def demo(out: Path, seed: int, day_seconds: float, serve: bool, port: int, loop: str) -> None:
    """Run the bridge against the built-in PBX simulator for one simulated day (--serve: with the
    web console open on it)."""
    from .demo import render_demo_prompts, run_demo

    writable_dir_or_exit(out, "--out")
    prompt_ms, note = render_demo_prompts(out)
    click.echo(note)
    click.echo(f"Simulating one day at the contact center (seed {seed}, {day_seconds:g} s) ...")

    async def hold(result) -> None:
        _print_demo(result)
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, stop.set)
        click.echo("The web console stays open on this day; Ctrl-C to stop.")
        await stop.wait()

    def announce(service) -> None:
        click.echo(f"Web console: {service.web.url} (it follows the day live)")

    try:
        result = run_on_loop(run_demo(out, seed=seed, day_seconds=day_seconds, progress=sys.stderr.isatty(),
                                      prompt_ms=prompt_ms, web_port=port if serve else None, announce=announce,
                                      hold=hold if serve else None), loop)
    except OSError as exc:
        click.echo(f"demo: {exc}" + (" (--port picks another port, 0 any free one)" if serve else ""), err=True)
        sys.exit(1)
    if not serve:
        _print_demo(result, hint=f"The same day in the web console, live: {_own_command()} demo --serve "
                    "(then open http://127.0.0.1:8122/ in a browser)")


def _own_command() -> str:
    """How to run this installation's ``asterisk-bridge`` from here: its bare name when PATH finds
    this one, else its path (after ``make demo`` it is ``.venv/bin/asterisk-bridge``)."""
    executable = own_executable()
    found = shutil.which("asterisk-bridge")
    if found and os.path.realpath(found) == os.path.realpath(executable):
        return "asterisk-bridge"
    relative = os.path.relpath(executable)
    return relative if not relative.startswith("..") else str(executable)


def _print_demo(result, hint: str = "") -> None:
    from .demo import format_calls

    failed = [r for r in result.results if r.agistatus == "FAILURE"]
    click.echo(f"{len(result.calls)} calls in {result.seconds:.1f} s; database: {result.database}")
    if failed:
        click.echo(f"{len(failed)} call(s) ended with AGISTATUS=FAILURE", err=True)
    click.echo(f"Simulated day {result.day}: {len(result.call_rows)} call records (AMI), "
               f"{sum(r['calls'] for r in result.counts)} menu sessions")
    click.echo(format_calls(result.config, result.counts, result.call_rows))
    if hint:
        click.echo(hint)
    html, text = result.summary_files[:2]
    click.echo(f"\nThe day's summary email: {html} and {text}\n")
    click.echo(text.read_text(encoding="utf-8"))


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
              metavar="DIR", show_default=True, help="Where to write asterisk-bridge.toml and ami.secret.")
@click.option("--systemd", is_flag=True, help="Also write the systemd unit (into --systemd-dir).")
@click.option("--systemd-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_SYSTEMD_DIR,
              metavar="DIR", show_default=True, help="Where --systemd writes asterisk-bridge.service.")
@click.option("--force", is_flag=True, help="Replace files that already exist.")
def init(directory: Path, systemd: bool, systemd_dir: Path, force: bool) -> None:
    """Write a configuration to start from: the example, a random AMI secret file (0640), the
    systemd unit with --systemd; print the manager.conf account and where the dialplan is."""
    from .install import InitError, init as write_files

    writable_dir_or_exit(directory, "--dir")
    if systemd:
        writable_dir_or_exit(systemd_dir, "--systemd-dir")
    try:
        result = write_files(directory, systemd_dir=systemd_dir if systemd else None, force=force)
    except InitError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        click.echo(f"init: cannot write {exc.filename or directory}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    if result.kept:
        click.echo(f"kept {result.config} and {result.secret_file} (already there; --force replaces them)")
    else:
        click.echo(f"wrote {result.config}: the example for lines 122 and 117; edit it for your contact center")
        owner = f", group {result.group}" if result.group else ""
        click.echo(f"wrote {result.secret_file}: a random AMI secret (mode 0640{owner})")
    if result.unit is not None:
        click.echo(f"wrote {result.unit}: runs {result.executable} with {result.config}")
    click.echo("\nAsterisk: add this account to /etc/asterisk/manager.conf (the [general] lines merge into yours),"
               "\nthen run: asterisk -rx \"manager reload\"\n")
    click.echo("\n".join("    " + line if line else "" for line in result.manager_conf.splitlines()))
    click.echo("\nDialplan snippets: copy each to /etc/asterisk/ and #include it from the file named")
    for path, target in result.dialplan.items():
        click.echo(f"    {path}  ->  /etc/asterisk/{target}")
    click.echo(f"\nNext: asterisk-bridge check-config -c {result.config}")
    if result.unit is not None:
        if result.group is None:
            click.echo("      useradd --system --home-dir /var/lib/asterisk-bridge --shell /usr/sbin/nologin "
                       f"asterisk-bridge && chgrp -R asterisk-bridge {result.config.parent}")
        click.echo("      systemctl daemon-reload && systemctl enable --now asterisk-bridge")


def _register_report_commands() -> None:
    from .report.commands import stats, summary

    main.add_command(stats)
    main.add_command(summary)


def _register_ops_commands() -> None:
    from .ops import db, status

    main.add_command(db)
    main.add_command(status)


def _register_simulate_command() -> None:
    from .pbxsim.commands import simulate

    main.add_command(simulate)


def _register_prompts_commands() -> None:
    from .menu.prompts.commands import prompts

    main.add_command(prompts)


def _register_web_commands() -> None:
    from .web.commands import web

    main.add_command(web)


_register_report_commands()
_register_ops_commands()
_register_simulate_command()
_register_prompts_commands()
_register_web_commands()

if __name__ == "__main__":
    main()
