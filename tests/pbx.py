"""A real Asterisk 22 for the tests: one PBX per test run, running the project's own dialplan,
queues and AMI user (``dialplan/*.conf``, included unchanged except the AMI secret).

Where the Asterisk comes from, first found:

1. ``$ASTERISK_BRIDGE_TEST_ASTERISK``: an unpacked tree or an install prefix (``sbin/asterisk``, its
   modules in ``lib/asterisk/modules`` or ``lib/<arch>/asterisk/modules``);
2. the relocatable build ``shared/asterisk/*.tar.xz`` beside the repository (for a git worktree
   also beside its main checkout), unpacked once into ``~/.cache/asterisk-bridge-tests/``.

Without either, or when the binary cannot start (Debian libraries missing; ``.ci/run`` installs
them), every test that uses the ``pbx`` fixture is skipped with the reason.

The run folder (configs, control socket, logs, queue_log, sounds) is the test run's own, so
several runs can share a machine; AMI and FastAGI get free ports. The base configs are the build's
own (``tests/fixtures/asterisk-etc``, copies of ``shared/asterisk/etc``); the test adds the
contexts of its callers and operators beside the shipped dialplan, and points the dialplan at the
bridge the way an admin does, with the ``CC_BRIDGE_AGI`` global in ``extensions.conf``.

A failing test that used the PBX gets Asterisk's ``messages.log`` (from where its module began)
and the logs of the bridges it ran attached to its report.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers import free_port

REPO = Path(__file__).resolve().parent.parent
DIALPLAN = REPO / "dialplan"
BASE_CONFIGS = Path(__file__).parent / "fixtures" / "asterisk-etc"
ENV_VAR = "ASTERISK_BRIDGE_TEST_ASTERISK"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "asterisk-bridge-tests"
DEBIAN_SOUNDS = Path("/usr/share/asterisk/sounds")
TEST_AMI_USER = "bridge-tests"
#: seconds an answering operator (1xxx) talks before hanging up
OPERATOR_TALK = 3

# The test's own contexts, beside the shipped [contact-center]. Callers are the ;2 halves of
# originated Local channels (the test presses keys and hangs up on them over AMI), sent straight
# to [contact-center] or through [inbound]; operators are Local queue members whose extension
# says how they behave.
TEST_CONTEXTS = f"""
[callers]
exten => hold,1,Answer()
 same => n,Wait(300)
 same => n,Hangup()

[inbound]
; a caller routed to the contact center through a Local channel: the menu and the queue run on
; the ;2 half of Local/<line>@contact-center, whose Uniqueid is not the call's Linkedid
exten => _X.,1,Dial(Local/${{EXTEN}}@contact-center/n)
 same => n,Hangup()

[operators]
; 1xxx answer after a second of ringing, talk {OPERATOR_TALK} s and hang up
exten => _1XXX,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait({OPERATOR_TALK})
 same => n,Hangup()
; 2xxx ring and never answer
exten => _2XXX,1,Ringing()
 same => n,Wait(300)
; 3xxx answer after a second of ringing and talk until the caller hangs up
exten => _3XXX,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(300)

[operator-login]
; an operator logs in from his phone, as a site's login code does: AddQueueMember in the dialplan
; (the queue in LOGIN_QUEUE, set by the AMI Originate that stands in for the phone)
exten => _XXXX,1,Answer()
 same => n,AddQueueMember(${{LOGIN_QUEUE}},Local/${{EXTEN}}@operators/n,0,,Оператор ${{EXTEN}})
 same => n,Hangup()
"""


@dataclass(frozen=True)
class AsteriskTree:
    """Where an Asterisk lives: its binary, modules and data folder."""

    root: Path
    binary: Path
    modules: Path
    data: Path

    def env(self) -> dict[str, str]:
        libs = self.root / "lib"
        path = os.pathsep.join(p for p in (str(libs), os.environ.get("LD_LIBRARY_PATH", "")) if p)
        return {**os.environ, "LD_LIBRARY_PATH": path}


def _shared_folders() -> list[Path]:
    """``shared/`` beside the repository and, for a git worktree, beside its main checkout."""
    folders = [REPO.parent / "shared"]
    dotgit = REPO / ".git"
    if dotgit.is_file():  # a worktree: "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(dotgit.read_text().split(":", 1)[1].strip())
        common = gitdir / "commondir"
        main_git = (gitdir / common.read_text().strip()).resolve() if common.exists() else gitdir.parent.parent
        folders.append(main_git.parent.parent / "shared")
    return list(dict.fromkeys(folders))


def _tree(root: Path) -> AsteriskTree | str:
    """The Asterisk under ``root``, or why there is none."""
    binary = root / "sbin" / "asterisk"
    modules = next((p for p in [root / "lib" / "asterisk" / "modules", *sorted(root.glob("lib*/*/asterisk/modules")),
                                root / "lib64" / "asterisk" / "modules"] if (p / "app_queue.so").exists()), None)
    data = next((p for p in (root / "var" / "lib" / "asterisk", root / "share" / "asterisk") if p.is_dir()), None)
    if not binary.exists():
        return f"no sbin/asterisk under {root}"
    if modules is None or data is None:
        return f"no Asterisk modules (app_queue.so) or data folder under {root}"
    tree = AsteriskTree(root, binary, modules, data)
    try:
        version = subprocess.run([binary, "-V"], env=tree.env(), capture_output=True, text=True, timeout=20)
    except OSError as exc:
        return f"{binary} cannot run: {exc}"
    if version.returncode != 0 or not version.stdout.startswith("Asterisk"):
        ldd = subprocess.run(["ldd", str(binary)], env=tree.env(), capture_output=True, text=True)
        missing = re.findall(r"^\s*(\S+) => not found", ldd.stdout, re.M)
        why = f"missing libraries {', '.join(missing)}" if missing else (version.stderr or version.stdout).strip()
        return (f"{binary} cannot start: {why} (the Debian packages are listed in "
                "../shared/asterisk/README.md; .ci/run installs them)")
    return tree


def _unpack(tarball: Path) -> Path:
    """Unpack the build once into the cache (keyed by its content); return the tree's root."""
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()[:12]
    target = CACHE / f"{tarball.name.removesuffix('.tar.xz')}-{digest}"
    if not (target / ".unpacked").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".unpack-", dir=CACHE))
        with tarfile.open(tarball) as tar:
            tar.extractall(scratch, filter="data")
        (scratch / ".unpacked").write_text(f"{tarball}\n")
        try:
            scratch.rename(target)
        except OSError:  # another run unpacked it meanwhile
            shutil.rmtree(scratch, ignore_errors=True)
    roots = [p for p in target.iterdir() if (p / "sbin" / "asterisk").exists()]
    return roots[0] if roots else target


def find_asterisk() -> AsteriskTree | str:
    """The Asterisk to test against, or the reason the real-PBX tests are skipped."""
    given = os.environ.get(ENV_VAR)
    if given:
        return _tree(Path(given).expanduser())
    tarballs = [t for folder in _shared_folders() for t in sorted((folder / "asterisk").glob("*.tar.xz"))]
    if not tarballs:
        places = " or ".join(str(f / "asterisk") for f in _shared_folders())
        return f"no Asterisk build: set {ENV_VAR} or put the shared build in {places}"
    return _tree(_unpack(tarballs[0]))


def write_prompt(path: Path, seconds: float, tone: float = 425.0) -> None:
    """A prompt Asterisk plays without transcoding: 8 kHz mono 16-bit WAV, a quiet tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = bytearray()
    for n in range(int(8000 * seconds)):
        frames += int(3000 * math.sin(2 * math.pi * tone * n / 8000)).to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(frames))


@dataclass
class Pbx:
    """One running Asterisk: its run folder, ports, AMI users, logs."""

    tree: AsteriskTree
    run: Path
    ami_port: int = field(default_factory=free_port)
    agi_port: int = field(default_factory=free_port)  # where the bridges of this run listen
    bridge_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    test_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    process: subprocess.Popen | None = None
    bridge_logs: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.run / "etc" / "asterisk.conf"

    @property
    def messages_log(self) -> Path:
        return self.run / "log" / "messages.log"

    @property
    def queue_log(self) -> Path:
        return self.run / "log" / "queue_log"

    @property
    def sounds(self) -> Path:
        """Where the prompts of the Russian menu go (``<sounds>/cc/122-greeting.wav``)."""
        return self.run / "data" / "sounds" / "ru"

    # -- the run folder

    def prepare(self) -> None:
        """The run folder with the build's base configs and the run's own sounds, nothing else:
        a test that needs an Asterisk for something other than the contact center adds its own
        extensions.conf, queues.conf and manager.conf, then calls ``boot``."""
        etc = self.run / "etc"
        for sub in ("etc", "run", "log", "var/lib", "var/spool", "var/cache", "data/sounds/ru/cc"):
            (self.run / sub).mkdir(parents=True, exist_ok=True)
        for base in BASE_CONFIGS.glob("*.conf"):
            shutil.copyfile(base, etc / base.name)
        directories = {"astmoddir": self.tree.modules, "astdatadir": self.run / "data",
                       "astagidir": self.run / "data" / "agi-bin", "astsbindir": self.tree.binary.parent}
        text = (BASE_CONFIGS / "asterisk.conf").read_text().replace("@RUN@", str(self.run))
        for key, value in directories.items():
            text = re.sub(rf"^{key} => .*$", f"{key} => {value}", text, flags=re.M)
        self.conf.write_text(text)
        # the data folder is the build's, with the run's own sounds (prompts are written per run)
        for entry in self.tree.data.iterdir():
            if entry.name not in ("sounds", "agi-bin"):
                (self.run / "data" / entry.name).symlink_to(entry)
        (self.run / "data" / "agi-bin").mkdir(exist_ok=True)
        for language, voice in (("ru", "ru_RU_f_IvrvoiceRU"), ("en", "en_US_f_Allison")):
            if (DEBIAN_SOUNDS / voice).is_dir():
                (self.run / "data" / "sounds" / language).mkdir(parents=True, exist_ok=True)
                for entry in (DEBIAN_SOUNDS / voice).iterdir():
                    if entry.name != "cc":
                        (self.run / "data" / "sounds" / language / entry.name).symlink_to(entry)

    def write_contact_center(self) -> None:
        """The project's snippets, unchanged but for the AMI secret, included from the files an
        admin writes; the tests' callers and operators; the tests' AMI user."""
        etc = self.run / "etc"
        for name in ("extensions_contact_center.conf", "queues_contact_center.conf"):
            shutil.copyfile(DIALPLAN / name, etc / name)
        manager = (DIALPLAN / "manager_contact_center.conf").read_text(encoding="utf-8")
        manager, replaced = re.subn(r"^secret = CHANGE-ME\S*$", f"secret = {self.bridge_secret}", manager, flags=re.M)
        assert replaced == 1, "manager_contact_center.conf: the secret placeholder line is gone"
        (etc / "manager_contact_center.conf").write_text(manager, encoding="utf-8")
        (etc / "extensions.conf").write_text(
            "[globals]\n"
            f"CC_BRIDGE_AGI = agi://127.0.0.1:{self.agi_port}\n\n"
            "#include extensions_contact_center.conf\n" + TEST_CONTEXTS, encoding="utf-8")
        (etc / "queues.conf").write_text(
            "[general]\nshared_lastcall = yes\npersistentmembers = no\n\n#include queues_contact_center.conf\n")
        (etc / "manager.conf").write_text(
            "[general]\nenabled = yes\n"
            f"port = {self.ami_port}\nbindaddr = 127.0.0.1\ntimestampevents = yes\n\n"
            "#include manager_contact_center.conf\n\n"
            f"; the tests' own user: places calls, presses keys, logs operators in, reads everything\n"
            f"[{TEST_AMI_USER}]\nsecret = {self.test_secret}\ndeny = 0.0.0.0/0.0.0.0\n"
            "permit = 127.0.0.1/255.255.255.255\nread = all\nwrite = all\nwritetimeout = 5000\n")

    # -- running

    def cli(self, command: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
        return subprocess.run([self.tree.binary, "-C", str(self.conf), "-rx", command], env=self.tree.env(),
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        """The contact center's Asterisk: prepare, write the contact center, boot."""
        self.prepare()
        self.write_contact_center()
        self.boot()

    def boot(self) -> None:
        """Start Asterisk on the run folder and wait until it is fully booted (and AMI, if on)."""
        console = open(self.run / "log" / "console.txt", "wb")
        self.process = subprocess.Popen([self.tree.binary, "-C", str(self.conf), "-f", "-n"], cwd=self.run,
                                        env=self.tree.env(), stdin=subprocess.DEVNULL, stdout=console,
                                        stderr=subprocess.STDOUT)
        console.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Asterisk exited with {self.process.returncode} while booting:\n{self.log_tail()}")
            if (self.run / "run" / "asterisk.ctl").exists() and self.cli("core waitfullybooted").returncode == 0:
                if not self._ami_enabled() or _accepts(self.ami_port):
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Asterisk did not boot within 60 s:\n{self.log_tail()}")

    def _ami_enabled(self) -> bool:
        manager = self.run / "etc" / "manager.conf"
        return manager.exists() and re.search(r"^enabled\s*=\s*yes", manager.read_text(), re.M) is not None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.cli("core stop now")
            self.process.wait(10)
        except (subprocess.TimeoutExpired, OSError):
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- logs for failing tests

    def log_tail(self, offset: int = 0, limit: int = 200_000) -> str:
        console = self.run / "log" / "console.txt"
        path = self.messages_log if self.messages_log.exists() else console
        try:
            data = path.read_bytes()[offset:]
        except OSError:
            return f"({path} is missing)"
        if len(data) > limit:
            data = b"[... earlier lines cut ...]\n" + data[-limit:]
        return data.decode("utf-8", errors="replace")



def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


#: the PBX of this test run, once a test asked for it (the report hooks read it)
ACTIVE: Pbx | None = None
#: where messages.log and the list of bridge logs stood when each module's first PBX test began
_MARKS: dict[str, tuple[int, int]] = {}


@pytest.fixture(scope="session")
def pbx(tmp_path_factory) -> Pbx:
    """The test run's Asterisk, booted on first use and stopped at the end of the run."""
    global ACTIVE
    tree = find_asterisk()
    if isinstance(tree, str):
        pytest.skip(f"real Asterisk: {tree}")
    pbx = Pbx(tree, tmp_path_factory.mktemp("asterisk"))
    ACTIVE = pbx
    pbx.start()
    try:
        yield pbx
    finally:
        pbx.stop()


def note_test_start(item) -> None:
    """Called before each test's setup: remember where the log stood when its module began."""
    module = item.module.__name__
    if "pbx" not in getattr(item, "fixturenames", ()) or module in _MARKS:
        return
    if ACTIVE is None:  # the PBX boots for this module: its log starts here
        _MARKS[module] = (0, 0)
    else:
        log = ACTIVE.messages_log
        _MARKS[module] = (log.stat().st_size if log.exists() else 0, len(ACTIVE.bridge_logs))


def attach_logs(item, report) -> None:
    """Add Asterisk's messages.log and the bridges' logs to a failing test's report."""
    if not report.failed or ACTIVE is None or "pbx" not in getattr(item, "fixturenames", ()):
        return
    offset, first_bridge = _MARKS.get(item.module.__name__, (0, 0))
    report.sections.append(("Asterisk messages.log", ACTIVE.log_tail(offset)))
    for title, path in ACTIVE.bridge_logs[first_bridge:]:
        try:
            report.sections.append((title, path.read_text(encoding="utf-8", errors="replace")[-100_000:]))
        except OSError:
            pass
