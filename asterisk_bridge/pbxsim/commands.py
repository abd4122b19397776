"""``asterisk-bridge simulate``: the command line shell over ``simulate.run_simulation``."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

import click

from ..cli_options import config_option, load_or_exit, loop_option, run_on_loop


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
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, metavar="N",
              help="A load test instead of days: N new calls a second, evenly spaced, for --seconds; menus "
                   "play in real time, each call's queue and talk 600 times faster.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              metavar="S", help="How long --rate offers calls.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, metavar="N",
              help="Processes that play the calls (one AMI server for the bridge all the same).")
@click.option("--progress/--no-progress", default=None, help="Progress bar [default: on a terminal].")
@loop_option
def simulate(config: str | None, fastagi: str | None, ami_listen: str | None, ami_username: str | None,
             ami_secret: str | None, ami_wait: float, seed: int, days: int, calls_per_day: str | None,
             day_seconds: float, sounds_dir: Path | None, language: str, rate: float | None, seconds: float,
             workers: int, progress: bool | None, loop: str) -> None:
    """Drive a RUNNING bridge with the traffic model to rehearse a configuration.

    Plays Asterisk's side of every call: the menu over FastAGI at the bridge's address (-c is the
    TOML the bridge runs, so callers press the keys of its menus), then the queue, operator and
    hang-up as AMI events on an AMI server offered here for the bridge's [ami] to connect to.
    """
    from .ami_server import AMIServer
    from .driver import print_progress
    from .members import register_static
    from .queues import QueueModel
    from .simulate import WORKER_EXTENS, Plan, format_simulation, run_simulation, wait_for_bridge
    from .tally import format_turnaround
    from .errors import SimulationWorkerError
    from .workers import run_workers

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
    show = (sys.stderr.isatty() if progress is None else progress) and workers == 1
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
            for worker in range(workers):  # every worker's round-the-clock operators, before the bridge looks
                register_static(pbx, QueueModel(cfg.queues, seed=seed,
                                                first_exten=QueueModel.first_exten + worker * WORKER_EXTENS),
                                time.time())
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
            plan = Plan(seed=seed, days=days, calls_per_day=per_day, day_seconds=day_seconds, rate=rate,
                        seconds=seconds, prompt_ms=prompt_ms)
            what = (f"{rate:g} new calls a second for {seconds:g} s" if rate is not None
                    else f"{days} simulated day(s), {day_seconds:g} s a day")
            click.echo(f"Driving {what} against FastAGI {agi[0]}:{agi[1]} (config {path}, seed {seed}"
                       + (f", {workers} worker processes" if workers > 1 else "") + ") ...")

            def day_done(index: int, calls: int, driven) -> None:
                if show:
                    sys.stderr.write("\n")
                if rate is None:
                    click.echo(f"day {index + 1}: {calls} calls")

            if workers > 1:
                try:
                    result = await run_workers(path, pbx, agi, plan, workers, loop=loop)
                except SimulationWorkerError as exc:
                    click.echo(f"simulate: {exc}", err=True)
                    return 1
            else:
                result = await run_simulation(cfg, pbx, agi, plan=plan, keep=False, day_done=day_done,
                                              progress=print_progress if show else None)
        tally = result.tally
        click.echo(f"{tally.calls} calls in {result.seconds:.1f} s ({tally.offered_per_second:.1f} new calls "
                   f"a second; the latest began {tally.late_max * 1000:.0f} ms after its moment)")
        click.echo(format_simulation(result))
        click.echo(format_turnaround(tally))
        if tally.failed:
            errors = "; ".join(sorted(tally.failures))
            click.echo(f"{tally.failed} call(s) ended with AGISTATUS=FAILURE: {errors[:300]}", err=True)
            return 1
        return 0

    sys.exit(run_on_loop(main(), loop))

