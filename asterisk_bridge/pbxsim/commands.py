"""``asterisk-bridge simulate``: the command line shell over ``simulate.run_simulation``."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path

import click

from ..cli_options import config_option, load_or_exit


def _address(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint=what)
    return host.strip("[]") or "127.0.0.1", int(port)


def _calls_per_day(value: str | None) -> dict[str, int] | None:
    if not value:
        return None
    out = {}
    for part in value.split(","):
        line, sep, count = part.strip().partition("=")
        if not sep or not count.strip().isdigit():
            raise click.BadParameter(f"{part!r} is not LINE=COUNT (e.g. 122=160,117=90)",
                                     param_hint="--calls-per-day")
        out[line.strip()] = int(count)
    return out


@click.command()
@config_option
@click.option("--fastagi", "fastagi", metavar="HOST:PORT", default=None,
              help="The running bridge's FastAGI address [default: 127.0.0.1 and the config's [fastagi] port].")
@click.option("--ami-listen", metavar="HOST:PORT", default=None,
              help="Where the simulator offers AMI for the bridge's [ami] to connect to "
                   "[default: the config's [ami] host and port].")
@click.option("--ami-username", default=None, metavar="USER",
              help="AMI user the bridge logs in as [default: the config's].")
@click.option("--ami-secret", default=None, metavar="SECRET",
              help="AMI secret [default: the config's when it can be read, else a new one, printed].")
@click.option("--ami-wait", type=float, default=60.0, show_default=True, metavar="S",
              help="Seconds to wait for the bridge to log in to the simulator's AMI (0: do not wait).")
@click.option("--seed", type=int, default=1, show_default=True, metavar="N", help="Traffic model seed.")
@click.option("--days", type=click.IntRange(1), default=1, show_default=True, metavar="N", help="Simulated days.")
@click.option("--calls-per-day", metavar="LINE=N,...", default=None,
              help="Calls a day per line, e.g. 122=160,117=90 [default: the traffic model's].")
@click.option("--day-seconds", type=click.FloatRange(min=0.1), default=60.0, show_default=True, metavar="S",
              help="Wall-clock seconds one simulated day takes (86400: real time).")
@click.option("--sounds-dir", type=click.Path(file_okay=False, path_type=Path), default=None, metavar="DIR",
              help="Asterisk's sounds directory: prompts play as long as their files there "
                   "[default: 2 s each].")
@click.option("--language", default="ru", show_default=True, metavar="LANG", help="Sound language subdirectory.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal].")
def simulate(config: str | None, fastagi: str | None, ami_listen: str | None, ami_username: str | None,
             ami_secret: str | None, ami_wait: float, seed: int, days: int, calls_per_day: str | None,
             day_seconds: float, sounds_dir: Path | None, language: str, progress: bool | None) -> None:
    """Drive a RUNNING bridge with the traffic model to rehearse a configuration.

    Plays Asterisk's side of every call: the menu over FastAGI at the bridge's address (-c is the
    TOML the bridge runs, so callers press the keys of its menus), then the queue, operator and
    hang-up as AMI events on an AMI server offered here for the bridge's [ami] to connect to.
    """
    from .ami_server import AMIServer
    from .driver import print_progress
    from .members import register_static
    from .queues import QueueModel
    from .simulate import format_simulation, run_simulation, wait_for_bridge

    per_day = _calls_per_day(calls_per_day)  # argument errors first, then the configuration's
    agi = _address(fastagi, "--fastagi") if fastagi else None
    listen = _address(ami_listen, "--ami-listen") if ami_listen else None
    path, cfg = load_or_exit(config)
    unknown = sorted(set(per_day or {}) - set(cfg.lines))
    if unknown:
        raise click.BadParameter(f"no line {', '.join(map(repr, unknown))} in {path}: the lines are "
                                 f"{', '.join(cfg.lines)}", param_hint="--calls-per-day")
    agi = agi or ("127.0.0.1", cfg.fastagi.port)
    listen = listen or (cfg.ami.host, cfg.ami.port)
    username = ami_username or cfg.ami.username
    given = ami_secret or cfg.ami.secret
    generated = given is None
    secret = secrets.token_urlsafe(16) if given is None else given
    show = sys.stderr.isatty() if progress is None else progress
    prompt_ms = None
    if sounds_dir is not None:
        from .sounds import prompt_lengths_from_files

        prompt_ms = prompt_lengths_from_files(cfg, sounds_dir, language)
        click.echo(f"{len(prompt_ms)} prompt(s) play as long as their files in {sounds_dir / language}; "
                   f"any other lasts 2 s.")

    async def main() -> int:
        async with AMIServer(listen[0], listen[1], username=username, secret=secret,
                             timestampevents=True) as pbx:
            click.echo(f"Simulator AMI listening on {listen[0]}:{pbx.port} (user {username!r}).")
            register_static(pbx, QueueModel(cfg.queues, seed=seed), time.time())  # before the bridge looks
            if generated:
                click.echo("Put this in the bridge's [ami] (and restart it or send SIGHUP):\n"
                           f'  enabled = true\n  host = "{listen[0]}"\n  port = {pbx.port}\n'
                           f'  username = "{username}"\n  secret = "{secret}"')
            if ami_wait > 0:
                click.echo(f"Waiting up to {ami_wait:g} s for the bridge to log in ...")
                if not await wait_for_bridge(pbx, ami_wait):
                    click.echo("the bridge did not log in to the simulator's AMI; check its [ami] "
                               "(or pass --ami-wait 0 to drive the menu only)", err=True)
                    return 2
            click.echo(f"Driving {days} simulated day(s) against FastAGI {agi[0]}:{agi[1]} "
                       f"(config {path}, seed {seed}, {day_seconds:g} s a day) ...")

            def day_done(index, calls, driven) -> None:
                if show:
                    sys.stderr.write("\n")
                click.echo(f"day {index + 1}: {len(calls)} calls")

            result = await run_simulation(cfg, pbx, agi, seed=seed, days=days, calls_per_day=per_day,
                                          day_seconds=day_seconds, progress=print_progress if show else None,
                                          day_done=day_done, prompt_ms=prompt_ms)
        failed = [r for r in result.results if r.agistatus == "FAILURE"]
        click.echo(f"{len(result.calls)} calls in {result.seconds:.1f} s; "
                   f"{len(result.scenarios)} played over AMI")
        click.echo(format_simulation(result))
        if failed:
            errors = sorted({r.connect_error or "AGISTATUS=FAILURE" for r in failed})
            click.echo(f"{len(failed)} call(s) ended with AGISTATUS=FAILURE: {'; '.join(errors)[:300]}", err=True)
            return 1
        return 0

    sys.exit(asyncio.run(main()))
