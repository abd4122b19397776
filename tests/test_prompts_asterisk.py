"""A real Asterisk 22 plays the generated prompts: found in the channel's language, played for as
long as `prompts check` says, and a studio WAV that `check` calls unplayable is refused by it too.

The relocatable Asterisk build of ``$ASTERISK_BRIDGE_TEST_ASTERISK`` (default: the shared one)
is unpacked into the test's temporary folder; prompts are rendered into its sounds directory and
played on a Local channel from the CLI (``channel originate``), no network needed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
import wave
from pathlib import Path

import pytest

from asterisk_bridge.config import MENU_SECTIONS, load_config
from asterisk_bridge.menu.prompts import build, inspect, survey

ROOT = Path(__file__).resolve().parent.parent
TARBALL = Path(os.environ.get("ASTERISK_BRIDGE_TEST_ASTERISK",
                              "/work/shared/asterisk/asterisk-22.10.1-debian12-amd64.tar.xz"))
ETC = TARBALL.parent / "etc"

pytestmark = [
    pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                       reason="espeak-ng or sox is not installed (apt-get install espeak-ng sox; .ci/run installs both)"),
    pytest.mark.skipif(not TARBALL.is_file(), reason=f"no Asterisk build at {TARBALL} (ASTERISK_BRIDGE_TEST_ASTERISK)"),
]

DIALPLAN = """
[play]
exten => s,1,Answer()
 same => n,Set(CHANNEL(language)=ru)
 same => n,Verbose(0,PROMPT-START cc/goodbye ${STRFTIME(,,%s.%3q)})
 same => n,Playback(cc/goodbye)
 same => n,Verbose(0,PROMPT-END cc/goodbye ${PLAYBACKSTATUS} ${STRFTIME(,,%s.%3q)})
 same => n,Playback(cc/studio)
 same => n,Verbose(0,PROMPT-END cc/studio ${PLAYBACKSTATUS} ${STRFTIME(,,%s.%3q)})
 same => n,Hangup()

[wait]
exten => s,1,Answer()
 same => n,Wait(60)
"""


class Asterisk:
    def __init__(self, root: Path, run: Path) -> None:
        self.root, self.run = root, run
        self.conf = run / "etc" / "asterisk.conf"
        self.env = {**os.environ, "LD_LIBRARY_PATH": str(root / "lib")}
        self.process: subprocess.Popen | None = None

    def cli(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.root / "sbin" / "asterisk"), "-C", str(self.conf), "-rx", command],
                              env=self.env, capture_output=True, text=True, timeout=20)

    def start(self) -> None:
        self.process = subprocess.Popen([str(self.root / "sbin" / "asterisk"), "-C", str(self.conf), "-f", "-n"],
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.run / "log" / "messages.log")
                tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
                pytest.skip(f"Asterisk did not start here (exit {self.process.returncode}): {tail}")
            if self.cli("core waitfullybooted").returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError("Asterisk did not finish booting in 20 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.cli("core stop now")
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def log(self) -> str:
        return (self.run / "log" / "messages.log").read_text(errors="replace")


@pytest.fixture
def asterisk(tmp_path):
    with tarfile.open(TARBALL) as tar:
        tar.extractall(tmp_path / "pbx", filter="tar")
    root = next((tmp_path / "pbx").glob("asterisk-*"))
    run = tmp_path / "run"
    for sub in ("etc", "run", "log", "var/lib", "var/spool", "var/cache"):
        (run / sub).mkdir(parents=True)
    for conf in ETC.glob("*.conf"):
        text = conf.read_text(encoding="utf-8").replace("@ROOT@", str(root)).replace("@RUN@", str(run))
        (run / "etc" / conf.name).write_text(text, encoding="utf-8")
    (run / "etc" / "queues.conf").write_text("[general]\n")
    (run / "etc" / "manager.conf").write_text("[general]\nenabled = no\n")
    (run / "etc" / "extensions.conf").write_text(DIALPLAN)
    pbx = Asterisk(root, run)
    yield pbx
    pbx.stop()


def test_asterisk_plays_a_generated_prompt_for_as_long_as_check_says(asterisk):
    sounds = asterisk.root / "var" / "lib" / "asterisk" / "sounds"
    config = load_config(ROOT / "asterisk-bridge.example.toml", sections=MENU_SECTIONS)
    report = build(config, sounds, "ru")
    assert report.counts["rendered"] == 23
    expected = {s.script.name: s.playing.seconds for s in survey(config, sounds)}["cc/goodbye"]
    studio = sounds / "ru" / "cc" / "studio.wav"  # a CD-quality recording nobody converted
    with wave.open(str(studio), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"\0\0" * 44100)
    assert "44100 Hz" in inspect(studio).problem  # what `prompts check` says about it
    asterisk.start()
    assert asterisk.cli("channel originate Local/s@play extension s@wait").returncode == 0
    deadline = time.monotonic() + 30
    while "PROMPT-END cc/studio" not in asterisk.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = asterisk.log()
    assert "Playing 'cc/goodbye.slin' (language 'ru')" in log
    start = float(re.search(r"PROMPT-START cc/goodbye (\d+\.\d+)", log).group(1))
    status, end = re.search(r"PROMPT-END cc/goodbye (\w+) (\d+\.\d+)", log).groups()
    assert status == "SUCCESS"
    assert abs((float(end) - start) - expected) < 0.4, (float(end) - start, expected)
    assert re.search(r"PROMPT-END cc/studio FAILED", log)
    assert "Unexpected frequency mismatch 44100 (expecting 8000)" in log
