"""Sound files as Asterisk finds them, and how long each plays.

Asterisk looks for a prompt ``cc/x`` in the channel's language first, ``<sounds>/<language>/cc/x``,
then in ``<sounds>/cc/x`` (``languageprefix = yes``, its default), and takes any extension one of
its format modules reads; an absolute prompt name is used as it is.

Durations: a ``.wav`` from its header (Asterisk's ``format_wav`` plays only PCM, mono, 16-bit,
8000 Hz; anything else is reported as unplayable), the headerless formats from their size: ``.sln``
is 16-bit 8 kHz (16,000 bytes a second), ``.ulaw`` and ``.alaw`` 8,000 bytes a second, ``.gsm``
33 bytes per 20 ms frame, ``.g722`` 64 kbit/s (8,000 bytes a second).

Modes: what ``prompts build`` writes (sound files, the manifest, directories) is readable by
Asterisk whatever user it runs as, 0644 and 0755 (prompts are not secret), and has the group of
the directory it is in, like the files already there (``set_mode_and_group``).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from asterisk_bridge.config import SOUND_EXTENSIONS, Config
from asterisk_bridge.config.prompts import prompt_uses

FILE_MODE = 0o644
DIR_MODE = 0o755
BYTES_PER_SECOND = {".sln": 16000, ".ulaw": 8000, ".alaw": 8000, ".gsm": 1650, ".g722": 8000}
WAV_RATE, WAV_CHANNELS, WAV_BITS = 8000, 1, 16


@dataclass(frozen=True)
class SoundFile:
    path: Path
    seconds: float | None  # None when it cannot be played
    problem: str | None = None  # why Asterisk cannot play it

    @property
    def playable(self) -> bool:
        return self.problem is None


def sound_stems(sounds_dir: str | os.PathLike[str], language: str, prompt: str) -> list[Path]:
    """Where Asterisk looks for ``prompt``, in order, without the extension."""
    if prompt.startswith("/"):
        return [Path(prompt)]
    base = Path(sounds_dir)
    return [base / language / prompt, base / prompt]


def sound_files(sounds_dir: str | os.PathLike[str], language: str, prompt: str) -> list[Path]:
    """Every file Asterisk could play for ``prompt``, in lookup order."""
    return [path for stem in sound_stems(sounds_dir, language, prompt)
            for ext in SOUND_EXTENSIONS if (path := stem.with_name(stem.name + ext)).is_file()]


def set_mode_and_group(path: Path, mode: int) -> None:
    """``mode`` whatever the umask; the parent directory's group when we may set it."""
    os.chmod(path, mode)
    gid = path.parent.stat().st_gid
    if path.stat().st_gid != gid:
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            pass  # not a member of that group: the file stays readable through its mode


def shown(path: Path, sounds_dir: Path) -> str:
    """``path`` as an admin reads it in output: relative to the sounds directory when inside it."""
    try:
        return str(path.relative_to(sounds_dir))
    except ValueError:
        return str(path)


def missing_sounds(config: Config, sounds_dir: str | os.PathLike[str],
                   language: str = "ru") -> list[tuple[str, str]]:
    """(key path, prompt) for each prompt of the lines and the dialplan with no file Asterisk can play."""
    return [(use.path, use.prompt) for use in prompt_uses(config.lines.values())
            if not any(inspect(p).playable for p in sound_files(sounds_dir, language, use.prompt))]


def inspect(path: Path, ext: str | None = None) -> SoundFile:
    """How long ``path`` plays, or why Asterisk cannot play it; ``ext`` overrides its extension."""
    ext = (ext or path.suffix).lower()
    if ext != ".wav" and ext not in BYTES_PER_SECOND:
        return SoundFile(path, None, f"is not a format Asterisk plays ({', '.join(SOUND_EXTENSIONS)})")
    try:
        if ext == ".wav":
            return _wav(path)
        return SoundFile(path, path.stat().st_size / BYTES_PER_SECOND[ext])
    except OSError as exc:
        return SoundFile(path, None, f"cannot be read: {exc.strerror or exc}")


@dataclass(frozen=True)
class WavHeader:
    encoding: int  # 1 = PCM
    channels: int
    rate: int
    block_align: int
    bits: int
    data_bytes: int


def read_wav_header(path: Path) -> WavHeader | None:
    """The ``fmt `` and ``data`` chunks of a RIFF/WAVE file, as format_wav reads them; None if it is not one."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"fmt ":
                body = f.read(size)
                if len(body) < 16:
                    return None
                fmt = struct.unpack("<HHIIHH", body[:16])
                if size % 2:
                    f.seek(1, os.SEEK_CUR)
            elif kind == b"data":
                if fmt is None:
                    return None
                encoding, channels, rate, _, block_align, bits = fmt
                available = os.fstat(f.fileno()).st_size - f.tell()
                return WavHeader(encoding, channels, rate, block_align, bits, min(size, available))
            else:
                f.seek(size + size % 2, os.SEEK_CUR)


def _wav(path: Path) -> SoundFile:
    header = read_wav_header(path)
    if header is None:
        return SoundFile(path, None, "is not a RIFF/WAVE file")
    h = header
    if (h.encoding, h.channels, h.rate, h.block_align) != (1, WAV_CHANNELS, WAV_RATE, 2):
        kind = "PCM" if h.encoding == 1 else f"encoding {h.encoding}"
        return SoundFile(path, None, f"is {kind}, {h.rate} Hz, {h.channels} channel(s), {h.bits}-bit: "
                                     f"Asterisk plays a .wav only as PCM, 8000 Hz, mono, 16-bit "
                                     f"(sox IN -r 8000 -c 1 -b 16 OUT.wav)")
    return SoundFile(path, h.data_bytes / (h.rate * h.block_align))
