#!/usr/bin/env python3
"""FastAGI benchmark: the bridge's menu sessions against a bare asyncio FastAGI server.

Why this shape: machines are shared and noisy, so only ratios against a baseline measured in the
same run mean anything. Each server variant runs as
its own subprocess (its CPU is read from /proc/<pid>/stat, utime+stime, over the measured window
only), variants are interleaved with the order rotated every repetition, and medians of the
repetitions are printed.

The load generator in this process plays Asterisk's side with the package's PBX simulator
(``asterisk_bridge.pbxsim.fastagi_client``, the one the tests hold to the captures): each session
is the channel of the capture ``tests/fixtures/asterisk/fastagi/agi-ivr-topic2.txt`` (its
environment block byte for byte; only ``agi_uniqueid`` differs per session, as on a real PBX, and
``agi_request`` names the port in use), answered command by command like Asterisk 22. The caller
lets the greeting play, presses "2" (housing) at the menu and "2" (30-40) at the age question.

The command script of the bare server is not written by hand: a first session against the
bridge records what the bridge really sends, and the bare server sends exactly those commands.
Every later session of either server is checked against that script (a difference is an error).

Figures:
  calls/s          session-equivalents per second: commands answered in the window / commands
                   per session / window length (sessions started together finish in waves, so
                   counting whole sessions in a short window is biased; this is not)
  CPU us/session   server CPU in the window / session-equivalents in the window; the bridge's
                   CPU includes its SQLite writer thread
  turnaround       time from the generator writing a reply (or the env block) to receiving the
                   server's next command: the server's think time plus loopback and the
                   generator's own scheduling delay
  errors           failed connects, resets, sessions that differ from the script, IVR_RESULT
                   not "topic", server-side handler failures, missing database rows

Run ``python bench/agi_bench.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from asterisk_bridge.pbxsim.fastagi_client import (  # noqa: E402
    AGICallResult,
    Caller,
    Press,
    Silence,
    SimulatedChannel,
    run_agi_call,
)

CAPTURE = REPO / "tests" / "fixtures" / "asterisk" / "fastagi" / "agi-ivr-topic2.txt"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- shared helpers


def capture_env(path: Path = CAPTURE) -> dict[str, str]:
    """The environment block Asterisk sent in the capture, as key -> value."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        _, direction, payload = line.split(" ", 2)
        if direction != "<":
            continue
        text = json.loads(payload)
        if text == "\n":
            return env
        key, _, value = text[:-1].partition(": ")
        env[key] = value
    raise SystemExit(f"{path}: no complete env block in the capture")


def capture_channel(env: dict[str, str], uniqueid: str) -> SimulatedChannel:
    """The capture's channel under another ``agi_uniqueid`` (and so Linkedid)."""
    args = [env[k] for k in sorted((k for k in env if k.startswith("agi_arg_")), key=lambda k: int(k[8:]))]
    return SimulatedChannel(
        line=env["agi_extension"], uniqueid=uniqueid, channel=env["agi_channel"], context=env["agi_context"],
        extension=env["agi_extension"], priority=int(env["agi_priority"]), language=env["agi_language"],
        script=env["agi_network_script"], args=args, threadid=int(env["agi_threadid"]))


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def uvloop_installed() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def use_uvloop() -> bool:
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    fields = data[data.rindex(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_peak_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# ----------------------------------------------------------------------------- server subprocess


def serve_bare(script_path: str, loop_kind: str) -> None:
    """The floor: start_server, readuntil the env block, minimal parsing, the fixed script."""
    script = [c.encode() for c in json.loads(Path(script_path).read_text())]
    served = failed = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served, failed
        try:
            block = await reader.readuntil(b"\n\n")
            env = dict(line.split(": ", 1) for line in block.decode("utf-8", "replace").splitlines() if ": " in line)
            if not env.get("agi_network_script", "").startswith("ivr"):
                return
            for command in script:
                writer.write(command)
                reply = await reader.readuntil(b"\n")
                if not reply.startswith(b"200"):
                    failed += 1
                    return
            served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            failed += 1
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        await _serve_until_term(server.sockets[0].getsockname()[1])
        server.close()
        print(f"DONE served={served} failed={failed} rejected=0", flush=True)

    _run(main(), loop_kind)


class _Partial:
    """Diagnostic servers built from the package's own parts, for a cost breakdown (``--servers``):
    ``channel`` = the package's FastAGIServer + AGIChannel sending the fixed script (protocol layer only);
    ``ivr`` = FastAGIServer + IVR + menu flow, no store (records are dropped)."""

    def __init__(self, kind: str, config, script_path: str | None):
        from asterisk_bridge.fastagi import FastAGIServer
        from asterisk_bridge.ivr import IVR

        self.store = None
        if kind == "channel":
            script = [c.encode() for c in json.loads(Path(script_path).read_text())]

            async def handler(agi) -> None:
                for command in script:
                    await agi.command(command)
        else:
            handler = IVR(config, None).handle
        s = config.fastagi
        self.fastagi = FastAGIServer(handler, host=s.host, port=s.port, allow=s.allow, env_limit=s.env_limit,
                                     env_timeout=s.env_timeout, command_timeout=s.command_timeout)

    async def start(self) -> None:
        await self.fastagi.start()

    async def stop(self) -> None:
        await self.fastagi.close(30.0)


def serve_bridge(kind: str, db_dir: str, loop_kind: str, log_level: str, profile: str | None,
                 script_path: str | None) -> None:
    """The product: Service (FastAGI server + IVR + menu flow + SQLite store), logging like `run`."""
    import logging

    sys.path.insert(0, str(REPO))
    from asterisk_bridge.demo import demo_config
    from asterisk_bridge.logs import setup as setup_logging
    from asterisk_bridge.service import Service

    setup_logging(getattr(logging, log_level.upper()))
    config = demo_config(Path(db_dir))
    if kind == "bridge":  # the database as the bridge keeps it once started: its rollups' calendar
        from asterisk_bridge.report.build import rollup_settings  # written (about 0.5 s CPU, once)
        from asterisk_bridge.store import maintenance

        maintenance.migrate(config.database.path)
        maintenance.build_rollups(config.database.path, rollup_settings(config))

    async def main() -> None:
        service = Service(config) if kind == "bridge" else _Partial(kind, config, script_path)
        await service.start()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
            loop.add_signal_handler(signal.SIGUSR2, profiler.disable)
        await _serve_until_term(service.fastagi.port)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        await service.stop()
        f = service.fastagi
        print(f"DONE served={f.served} failed={f.failed} rejected={f.rejected}", flush=True)

    _run(main(), loop_kind)


async def _serve_until_term(port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"READY {port}", flush=True)
    await stop.wait()


def _run(coro, loop_kind: str) -> None:
    raise_fd_limit()
    if loop_kind == "uvloop" and not use_uvloop():
        raise SystemExit("uvloop requested but not installed")
    asyncio.run(coro)


@dataclass
class ServerProcess:
    name: str
    proc: subprocess.Popen
    port: int
    db_dir: str | None
    profile: str | None = None

    @classmethod
    def start(cls, kind: str, loop_kind: str, script_path: str, log_level: str, profile: str | None = None):
        db_dir = None
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--serve-loop", loop_kind]
        cmd += ["--script-file", script_path]
        if kind != "bare":
            db_dir = tempfile.mkdtemp(prefix="agi-bench-db-")
            cmd += ["--db-dir", db_dir, "--bridge-log", log_level]
            if profile:
                cmd += ["--profile-out", profile]
        stderr = open(os.path.join(db_dir, "bridge.log"), "wb") if db_dir else subprocess.DEVNULL
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.kill()
            raise SystemExit(f"server {kind} did not start: {line!r} (see {db_dir or 'stderr'})")
        name = kind + ("+uvloop" if loop_kind == "uvloop" else "")
        return cls(name, proc, int(line.split()[1]), db_dir, profile)

    def stop(self) -> dict[str, int]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        stats = {}
        for line in out.splitlines():
            if line.startswith("DONE "):
                stats = {k: int(v) for k, v in (p.split("=") for p in line.split()[1:])}
        return stats

    def db_counts(self) -> tuple[int, int]:
        """(menu_sessions rows, rows with result 'topic' and queue cc-122-housing)."""
        if self.db_dir is None:
            return -1, -1
        with sqlite3.connect(os.path.join(self.db_dir, "asterisk-bridge.db")) as db:
            total = db.execute("SELECT COUNT(*) FROM menu_sessions").fetchone()[0]
            good = db.execute(
                "SELECT COUNT(*) FROM menu_sessions WHERE result='topic' AND queue='cc-122-housing' "
                "AND age_group='30-40'"
            ).fetchone()[0]
        return total, good

    def rows_missing(self, sessions: int) -> int:
        """Sessions served whose record is not in the database (the learning session has its row too)."""
        _, good = self.db_counts()
        return max(0, sessions - (good - 1))

    def discard(self) -> None:
        """Kill the process if it still runs, and delete its database."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.cleanup()

    def cleanup(self) -> None:
        if self.db_dir:
            for name in os.listdir(self.db_dir):
                os.unlink(os.path.join(self.db_dir, name))
            os.rmdir(self.db_dir)


# ----------------------------------------------------------------------------- load generator

@dataclass
class Stats:
    measuring: bool = False
    completed: int = 0  # sessions closed by the server in the window
    commands: int = 0  # commands received in the window
    turnaround: list[float] = field(default_factory=list)
    errors: int = 0  # over the whole run, not just the window
    error_kinds: dict[str, int] = field(default_factory=dict)
    sessions_total: int = 0  # sessions completed in the whole run (for the database check)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def command(self, line: str, turnaround: float) -> None:
        """run_agi_call's tap: one command received, ``turnaround`` s after our previous bytes."""
        if self.measuring:
            self.commands += 1
            self.turnaround.append(turnaround)


class Generator:
    """Sessions of the capture's channel and caller, one after another per slot, played by pbxsim."""

    def __init__(self, port: int, env: dict[str, str], script: list[bytes] | None, media_ms: float, seed: int = 1):
        self.port = port
        self.env = env
        self.expected = None if script is None else [c.decode()[:-1] for c in script]
        self.media_ms = media_ms
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.stop = False
        self.sequence = 1000

    def _paced(self) -> float:
        """A prompt's length or a key's delay: uniform(0.5, 1.5) x media ms (0: at once)."""
        return self.media_ms * self.rng.uniform(0.5, 1.5) if self.media_ms > 0 else 0.0

    async def one(self) -> AGICallResult | None:
        """One session; its result, or None when it failed (counted in the stats)."""
        self.sequence += 1
        channel = capture_channel(self.env, f"1795699537.{self.sequence}")
        # silent through the greeting, "2" (housing) at the menu, "2" (30-40) at the age question
        caller = Caller(number=self.env["agi_callerid"], name=self.env["agi_calleridname"],
                        reactions=(Silence(), Press("2", round(self._paced())), Press("2", round(self._paced()))))
        result = await run_agi_call("127.0.0.1", self.port, channel, caller, prompt_ms=lambda _: self._paced(),
                                    timeout=120.0, on_command=self.stats.command)
        stats = self.stats
        if result.connect_error is not None:
            stats.error(f"connect: {result.connect_error.split(':')[0]}")
            await asyncio.sleep(0.01)
            return None
        if result.timed_out:
            stats.error("session stuck > 120 s")
        elif self.expected is not None and result.commands != self.expected:
            n, m = len(result.commands), len(self.expected)
            stats.error("script differs" if result.commands[:m] != self.expected[:n] else
                        f"{n} commands instead of {m}")
        elif result.agistatus != "SUCCESS":
            stats.error(f"AGISTATUS={result.agistatus}")
        elif result.variables.get("IVR_RESULT") != "topic":
            stats.error(f"IVR_RESULT={result.variables.get('IVR_RESULT')!r}")
        else:
            stats.sessions_total += 1
            if stats.measuring:
                stats.completed += 1
            return result
        return None

    async def slot(self, start_delay: float) -> None:
        if start_delay > 0:
            await asyncio.sleep(start_delay)
        while not self.stop:
            await self.one()


@dataclass
class RunResult:
    server: str
    conc: int
    window: float
    calls_per_s: float
    cpu_us_per_session: float
    server_cpu_pct: float
    gen_cpu_pct: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_kinds: dict[str, int]
    peak_rss_mb: float
    sessions: int


async def learn_script(port: int, env: dict[str, str]) -> list[bytes]:
    gen = Generator(port, env, None, 0.0)
    result = await gen.one()
    if result is None or gen.stats.errors:
        raise SystemExit(f"the first session against the bridge failed: {gen.stats.error_kinds}")
    return [f"{command}\n".encode() for command in result.commands]


async def drive(server: ServerProcess, env: dict[str, str], script: list[bytes], conc: int, seconds: float,
                warmup: float, ramp: float, media_ms: float, seed: int) -> RunResult:
    gen = Generator(server.port, env, script, media_ms, seed)
    slots = [asyncio.create_task(gen.slot(ramp * i / conc)) for i in range(conc)]
    pid = server.proc.pid
    await asyncio.sleep(warmup)
    if server.profile:
        os.kill(pid, signal.SIGUSR1)
    cpu0, gen0, t0 = proc_cpu_seconds(pid), time.process_time(), time.perf_counter()
    gen.stats.measuring = True
    await asyncio.sleep(seconds - warmup)
    gen.stats.measuring = False
    cpu1, gen1, t1 = proc_cpu_seconds(pid), time.process_time(), time.perf_counter()
    if server.profile:
        os.kill(pid, signal.SIGUSR2)
    gen.stop = True
    await asyncio.wait(slots, timeout=max(30.0, 3 * media_ms / 1000 * 6))
    for task in slots:
        task.cancel()
    stats = gen.stats
    window = t1 - t0
    equivalents = stats.commands / len(script)
    samples = sorted(stats.turnaround)

    def pct(q: float) -> float:
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000 if samples else float("nan")

    return RunResult(
        server=server.name, conc=conc, window=window,
        calls_per_s=equivalents / window,
        cpu_us_per_session=(cpu1 - cpu0) / equivalents * 1e6 if equivalents else float("nan"),
        server_cpu_pct=100 * (cpu1 - cpu0) / window,
        gen_cpu_pct=100 * (gen1 - gen0) / window,
        p50_ms=pct(0.50), p99_ms=pct(0.99), max_ms=samples[-1] * 1000 if samples else float("nan"),
        errors=stats.errors, error_kinds=dict(stats.error_kinds), peak_rss_mb=0.0,
        sessions=stats.sessions_total,
    )


def run_one(kind: str, loop_kind: str, script_path: str, env: dict[str, str], script: list[bytes], conc: int,
            args, rep: int, profile: str | None = None) -> RunResult:
    server = ServerProcess.start(kind, loop_kind, script_path, args.bridge_log, profile)
    try:
        result = asyncio.run(drive(server, env, script, conc, args.seconds, args.warmup_for(conc), args.ramp_for(conc),
                                   args.media_ms, seed=rep * 7919 + conc))
        result.peak_rss_mb = proc_peak_rss_mb(server.proc.pid)
        done = server.stop()
        if done.get("failed"):
            result.errors += done["failed"]
            result.error_kinds["server handler failed"] = done["failed"]
        if kind == "bridge":
            _, good = server.db_counts()
            missing = result.sessions - good  # every session the generator saw end must have its row
            if missing > 0:
                result.errors += missing
                result.error_kinds["database rows missing"] = missing
    finally:
        server.discard()
    return result


# ----------------------------------------------------------------------------- reporting


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def summarize(results: list[RunResult], variants: list[str], concs: list[int]) -> list[dict]:
    """Medians per (conc, server), with two ratios of CPU per session: ``ratio`` against the bare
    server on asyncio's default loop, ``ratio_same_loop`` against the bare server on the same loop
    (bridge+uvloop / bare+uvloop: what the bridge's own work costs, the loop's gain taken out)."""
    rows = []
    for conc in concs:
        bases: dict[str, float] = {}
        for name in variants:
            runs = [r for r in results if r.conc == conc and r.server == name]
            if name.startswith("bare") and runs:
                bases[name] = median([r.cpu_us_per_session for r in runs])
        base = bases.get("bare")
        for name in variants:
            runs = [r for r in results if r.conc == conc and r.server == name]
            if not runs:
                continue
            cpu = median([r.cpu_us_per_session for r in runs])
            same = bases.get("bare+uvloop" if name.endswith("+uvloop") else "bare")
            kinds: dict[str, int] = {}
            for r in runs:
                for k, v in r.error_kinds.items():
                    kinds[k] = kinds.get(k, 0) + v
            rows.append({
                "conc": conc, "server": name, "calls_per_s": median([r.calls_per_s for r in runs]),
                "cpu_us": cpu, "ratio": cpu / base if base else float("nan"),
                "ratio_same_loop": cpu / same if same else float("nan"),
                "cpu_pct": median([r.server_cpu_pct for r in runs]),
                "gen_pct": median([r.gen_cpu_pct for r in runs]),
                "p50": median([r.p50_ms for r in runs]), "p99": median([r.p99_ms for r in runs]),
                "max": median([r.max_ms for r in runs]), "errors": sum(r.errors for r in runs),
                "error_kinds": kinds, "rss": median([r.peak_rss_mb for r in runs]),
                "sessions": sum(r.sessions for r in runs), "reps": len(runs),
            })
    return rows


def format_table(rows: list[dict]) -> str:
    head = ("| conc | server | calls/s | server CPU us/session | ratio vs bare (asyncio) | ratio vs bare, same loop "
            "| server CPU % | gen CPU % | turnaround p50 / p99 / max ms | peak RSS MB | sessions | errors |")
    out = [head, "| --- " * (head.count("|") - 1) + "|"]
    for r in rows:
        out.append(
            f"| {r['conc']} | {r['server']} | {r['calls_per_s']:,.0f} | {r['cpu_us']:,.0f} | {r['ratio']:.2f} "
            f"| {r['ratio_same_loop']:.2f} "
            f"| {r['cpu_pct']:.0f} | {r['gen_pct']:.0f} | {r['p50']:.2f} / {r['p99']:.2f} / {r['max']:.1f} "
            f"| {r['rss']:.0f} | {r['sessions']:,} | {r['errors']}"
            + (f" {r['error_kinds']}" if r["errors"] else "") + " |"
        )
    return "\n".join(out)


def print_profile(path: str, limit: int = 30) -> None:
    import pstats

    print(f"\ncProfile of the bridge server over the measured windows ({path}), top {limit} by own time:")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="FastAGI benchmark: bridge (Service: FastAGI + IVR + menu + SQLite store) vs a bare asyncio "
        "FastAGI server running the same command script; ratios from the same run, medians of --reps.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--conc", "-c", default="1,100,1000", help="comma-separated concurrent session counts")
    p.add_argument("--seconds", "-s", type=float, default=6.0, help="length of each run, warm-up included")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the measured window (default: 1 s, or ramp + one session length + 0.5 s when paced)")
    p.add_argument("--ramp", type=float, default=None,
                   help="seconds over which the sessions are started (default 0, or 2 when --media-ms is set)")
    p.add_argument("--reps", "-r", type=int, default=3, help="repetitions (variants interleaved, order rotated)")
    p.add_argument("--media-ms", type=float, default=0.0,
                   help="pace STREAM FILE / GET DATA replies like playing prompts: each waits uniform(0.5, 1.5) x M ms "
                   "(0 = reply at once: closed-loop saturation)")
    p.add_argument("--uvloop", action="store_true", help="also run both servers on uvloop (if installed)")
    p.add_argument("--servers", default="bare,bridge",
                   help="server kinds to run: bare, bridge; for a cost breakdown also channel (the package's "
                   "FastAGIServer + AGIChannel sending the fixed script) and ivr (+ IVR and menu flow, no store)")
    p.add_argument("--gen-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="event loop of the load generator (uvloop falls back to asyncio when missing)")
    p.add_argument("--bridge-log", default="info", choices=("info", "warning"),
                   help="bridge log level; info = one line per call, as `asterisk-bridge run` logs (to a file)")
    p.add_argument("--profile", action="store_true",
                   help="run the bridge under cProfile over the measured windows and print where the time goes")
    p.add_argument("--json", metavar="FILE", help="also write the summary rows as JSON")
    # server subprocess mode (internal)
    p.add_argument("--serve", choices=("bare", "channel", "ivr", "bridge"), help=argparse.SUPPRESS)
    p.add_argument("--serve-loop", default="asyncio", help=argparse.SUPPRESS)
    p.add_argument("--script-file", help=argparse.SUPPRESS)
    p.add_argument("--db-dir", help=argparse.SUPPRESS)
    p.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    media = args.media_ms / 1000

    def ramp_for(conc: int) -> float:
        if args.ramp is not None:
            return args.ramp if conc > 1 else 0.0
        return 2.0 if media and conc > 1 else 0.0

    def warmup_for(conc: int) -> float:
        if args.warmup is not None:
            return args.warmup
        return ramp_for(conc) + 4 * media + 0.5 if media else 1.0  # ramp, then one session length

    args.ramp_for = ramp_for
    args.warmup_for = warmup_for
    return args


def run(args) -> list[dict]:
    raise_fd_limit()
    concs = [int(c) for c in str(args.conc).split(",") if c]
    kinds = [k for k in args.servers.split(",") if k]
    loops = ["asyncio"]
    if args.uvloop:
        try:
            import uvloop  # noqa: F401
            loops.append("uvloop")
        except ImportError:
            print("uvloop is not installed: --uvloop ignored", file=sys.stderr)
    for conc in concs:
        if args.seconds <= args.warmup_for(conc) + 0.5:
            raise SystemExit(f"--seconds {args.seconds} leaves no measured window after the warm-up "
                             f"{args.warmup_for(conc):.1f} s at conc {conc}")
    env = capture_env()
    work = tempfile.mkdtemp(prefix="agi-bench-")
    script_path = os.path.join(work, "script.json")

    # The bare server's script is what the bridge really sends for this caller.
    probe = ServerProcess.start("bridge", "asyncio", script_path, args.bridge_log)
    try:
        script = asyncio.run(learn_script(probe.port, env))
    finally:
        probe.stop()
        probe.cleanup()
    Path(script_path).write_text(json.dumps([c.decode() for c in script]))
    print(f"command script ({len(script)} commands, learned from the bridge): "
          + " | ".join(c.decode().strip() for c in script), file=sys.stderr)

    variants = [(k, lp) for lp in loops for k in kinds]
    names = [k + ("+uvloop" if lp == "uvloop" else "") for k, lp in variants]
    results: list[RunResult] = []
    profile = os.path.join(work, "bridge.prof") if args.profile else None
    profiles: list[str] = []
    for rep in range(args.reps):
        for conc in concs:
            shift = (rep + concs.index(conc)) % len(variants)
            for kind, loop_kind in variants[shift:] + variants[:shift]:
                prof = None
                if profile and kind == "bridge" and loop_kind == "asyncio":
                    prof = f"{profile}.{rep}.{conc}"
                    profiles.append(prof)
                r = run_one(kind, loop_kind, script_path, env, script, conc, args, rep, prof)
                results.append(r)
                print(f"  rep {rep + 1} conc {conc:>5} {r.server:<15} {r.calls_per_s:8,.0f} calls/s "
                      f"{r.cpu_us_per_session:7,.0f} us/session  p99 {r.p99_ms:7.2f} ms  errors {r.errors}"
                      + (f" {r.error_kinds}" if r.errors else ""), file=sys.stderr, flush=True)
    rows = summarize(results, names, concs)
    if profiles:
        import pstats

        merged = pstats.Stats(profiles[0])
        for extra in profiles[1:]:
            merged.add(extra)
        merged.dump_stats(profile)
        args.profile_path = profile
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.serve == "bare":
        serve_bare(args.script_file, args.serve_loop)
        return
    if args.serve in ("bridge", "channel", "ivr"):
        serve_bridge(args.serve, args.db_dir, args.serve_loop, args.bridge_log, args.profile_out, args.script_file)
        return
    if args.gen_loop == "uvloop":
        use_uvloop()
    rows = run(args)
    print(f"\nFastAGI: {args.seconds:g} s runs, media {args.media_ms:g} ms, {args.reps} reps (medians), "
          f"generator on {args.gen_loop}, bridge log level {args.bridge_log}")
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if args.profile:
        print_profile(args.profile_path)


if __name__ == "__main__":
    main()
