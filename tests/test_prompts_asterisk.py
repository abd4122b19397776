"""A real Asterisk 22 plays the generated prompts: found in the channel's language, played for as
long as `prompts check` says, and a studio WAV that `check` calls unplayable is refused by it too.

The Asterisk is the one of the real-PBX tests (``tests/pbx.py``: ``$ASTERISK_BRIDGE_TEST_ASTERISK``
or the shared build beside the repository), in a run folder of this test's own with just the
dialplan below; prompts are rendered into its sounds directory and played on a Local channel
from the CLI (``channel originate``), no network needed.
"""

from __future__ import annotations

import re
import shutil
import time
import wave
from pathlib import Path

import pytest

from asterisk_bridge.config import MENU_SECTIONS, load_config
from asterisk_bridge.menu.prompts import build, inspect, survey
from pbx import Pbx, find_asterisk

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                reason="espeak-ng or sox is not installed (apt-get install espeak-ng sox; "
                                       ".ci/run installs both)")

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


@pytest.fixture
def asterisk(tmp_path):
    tree = find_asterisk()
    if isinstance(tree, str):
        pytest.skip(f"real Asterisk: {tree}")
    pbx = Pbx(tree, tmp_path / "run")
    pbx.prepare()
    (pbx.run / "etc" / "queues.conf").write_text("[general]\n")
    (pbx.run / "etc" / "manager.conf").write_text("[general]\nenabled = no\n")
    (pbx.run / "etc" / "extensions.conf").write_text(DIALPLAN)
    yield pbx
    pbx.stop()


def test_asterisk_plays_a_generated_prompt_for_as_long_as_check_says(asterisk):
    sounds = asterisk.sounds.parent
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
    asterisk.boot()
    assert asterisk.cli("channel originate Local/s@play extension s@wait").returncode == 0
    deadline = time.monotonic() + 30
    while "PROMPT-END cc/studio" not in asterisk.log_tail() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = asterisk.log_tail()
    assert "Playing 'cc/goodbye.slin' (language 'ru')" in log
    start = float(re.search(r"PROMPT-START cc/goodbye (\d+\.\d+)", log).group(1))
    status, end = re.search(r"PROMPT-END cc/goodbye (\w+) (\d+\.\d+)", log).groups()
    assert status == "SUCCESS"
    assert abs((float(end) - start) - expected) < 0.4, (float(end) - start, expected)
    assert re.search(r"PROMPT-END cc/studio FAILED", log)
    assert "Unexpected frequency mismatch 44100 (expecting 8000)" in log
