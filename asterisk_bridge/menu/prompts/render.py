"""Text to a sound file Asterisk plays without transcoding: espeak-ng, then sox.

espeak-ng speaks the text (its ``ru`` voice for Russian) into a 22,050 Hz WAV; sox converts it to
8 kHz, mono, 16-bit signed PCM in a ``.wav`` (``-G`` guards against clipping in the resampler).
That is Asterisk's signed-linear format: ``format_wav`` reads it directly and it is what the
channel core mixes in, so nothing is transcoded on a call; unlike a headerless ``.sln`` the header
says what the file is, so ``prompts check`` can tell a generated file from a 44.1 kHz stereo
recording Asterisk would refuse, and any audio tool plays it.

A file is written beside its target under a hidden temporary name (an extension Asterisk does not
read) and renamed over it, so a call never hears half a prompt. Mode 0644: Asterisk, whatever
user it runs as, can read it (prompts are not secret); the group is the directory's, like the
files already there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from asterisk_bridge.config.prompts import speakable

from .errors import PromptTextError, RenderError, ToolMissingError
from .files import DIR_MODE, FILE_MODE, WAV_BITS, WAV_CHANNELS, WAV_RATE, inspect, set_mode_and_group
from .manifest import file_sha256

PIPELINE = 1  # bump when the commands below change what a file sounds like: every prompt renders again
TOOL_TIMEOUT = 120.0
VOICES: Mapping[str, str] = MappingProxyType({"ru": "ru", "en": "en"})  # language -> espeak-ng voice


@dataclass(frozen=True)
class Voice:
    language: str
    name: str  # espeak-ng -v
    speed: int = 175  # words a minute, espeak-ng's default

    def settings(self) -> dict[str, Any]:
        """Everything besides the text that changes the sound; part of each file's source hash."""
        return {"engine": "espeak-ng", "voice": self.name, "speed": self.speed, "rate": WAV_RATE,
                "channels": WAV_CHANNELS, "bits": WAV_BITS, "format": "wav", "pipeline": PIPELINE}


def voice_for(language: str) -> Voice:
    return Voice(language, VOICES.get(language, language))


@dataclass(frozen=True)
class Rendered:
    """A prompt spoken into a temporary file beside its target; ``put_in_place`` finishes it."""

    file: Path
    target: Path
    seconds: float
    sha256: str


class Renderer:
    """espeak-ng and sox, found on PATH once; ``render`` writes one prompt."""

    def __init__(self, voice: Voice) -> None:
        self.voice = voice
        self.espeak = _tool("espeak-ng")
        self.sox = _tool("sox")
        version = re.search(r"text-to-speech:\s*(\S+)", _run([self.espeak, "--version"], "espeak-ng --version"))
        self.engine = f"espeak-ng {version.group(1) if version else '(version unknown)'}"
        _run([self.espeak, "-v", voice.name, "-q", "a"],
             f"espeak-ng has no voice {voice.name!r} for language {voice.language!r} "
             f"(espeak-ng --voices lists them)")

    def render(self, prompt: str, text: str, target: Path) -> Rendered:
        """Speak ``text`` into a temporary file beside ``target`` (a .wav); raises naming ``prompt``."""
        if not speakable(text):
            raise PromptTextError(f"{prompt}: the text is empty after stripping; espeak-ng has nothing to say")
        make_dirs(target.parent)
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise RenderError(f"cannot write in {target.parent}: {exc.strerror or exc} "
                              f"(run as a user who may write the sounds directory)") from None
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            with tempfile.TemporaryDirectory(prefix="asterisk-bridge-prompt-") as work:
                speech = Path(work) / "speech.wav"
                _run([self.espeak, "-v", self.voice.name, "-s", str(self.voice.speed), "-b", "1", "--stdin",
                      "-w", str(speech)], f"{prompt}: espeak-ng failed", stdin=text)
                _run([self.sox, "-G", str(speech), "-r", str(WAV_RATE), "-c", str(WAV_CHANNELS),
                      "-b", str(WAV_BITS), "-e", "signed-integer", "-t", "wav", str(tmp)], f"{prompt}: sox failed")
            sound = inspect(tmp, ".wav")
            if sound.seconds is None or sound.seconds < 0.05:
                raise RenderError(f"{prompt}: espeak-ng produced no sound for {text[:60]!r}")
            set_mode_and_group(tmp, FILE_MODE)
            return Rendered(tmp, target, sound.seconds, file_sha256(tmp))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def put_in_place(rendered: Rendered) -> None:
    """The atomic step: a reader sees the old file or the new one, never a part."""
    try:
        os.replace(rendered.file, rendered.target)
    except OSError as exc:
        rendered.file.unlink(missing_ok=True)
        raise RenderError(f"cannot write {rendered.target}: {exc.strerror or exc}") from None


def make_dirs(directory: Path) -> None:
    """Create ``directory`` and its missing parents, 0755, each with its parent's group."""
    missing = []
    for d in (directory, *directory.parents):
        if d.exists():
            break
        missing.append(d)
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise RenderError(f"cannot create {d}: {exc.strerror or exc}") from None
        set_mode_and_group(d, DIR_MODE)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissingError(name)
    return found


def _run(argv: list[str], failure: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{failure}: no result after {TOOL_TIMEOUT:g} s") from None
    except OSError as exc:
        raise RenderError(f"{failure}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise RenderError(f"{failure}: {detail[-1] if detail else f'exit status {done.returncode}'}")
    return done.stdout
