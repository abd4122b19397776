"""Prompt lengths for the simulated PBX, so prompts take as long as on a real Asterisk.

The lab's sounds last what the captures' ``endpos`` values say (8 kHz samples / 8 = ms) or, where
only the elapsed time was recorded, the time a prompt took. The contact center's own prompts last
as long as their sound files (``prompt_lengths_from_files``: the files ``prompts build`` renders or
the recordings that replace them). Any other prompt lasts DEFAULT_PROMPT_MS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ..config import Config
from ..menu.prompts import survey

DEFAULT_PROMPT_MS = 2000
SAMPLES_PER_MS = 8  # STREAM FILE endpos is in 8 kHz samples (A6)

# ru sounds of the lab (asterisk-core-sounds-ru-gsm 1.6.1)
LAB_PROMPT_MS: Mapping[str, int] = {
    "beep": 440,  # endpos=3520
    "dir-welcome": 1920,  # endpos=15360
    "one-moment-please": 1480,  # endpos=11840
    "please-try-again": 2000,  # endpos=16000
    "pbx-invalid": 4680,  # endpos=37440
    "hello-world": 1020,  # endpos=8160
    "vm-enter-num-to-call": 1827,  # GET DATA ... 4000: 5.827 s until "(timeout)"
}

PromptLengths = Mapping[str, int] | Callable[[str], int] | None


def prompt_length_lookup(prompt_ms: PromptLengths) -> Callable[[str], int]:
    """A function giving a prompt's length in ms from a mapping, a function or None (defaults)."""
    if prompt_ms is None:
        return lambda name: DEFAULT_PROMPT_MS
    if callable(prompt_ms):
        return prompt_ms
    table = dict(prompt_ms)
    return lambda name: table.get(name, DEFAULT_PROMPT_MS)


def prompt_lengths_from_files(config: Config, sounds_dir: str | os.PathLike[str],
                              language: str = "ru") -> dict[str, int]:
    """Prompt name -> ms, for every prompt of ``config`` with a file Asterisk can play in ``sounds_dir``."""
    lengths = {}
    for state in survey(config, sounds_dir, language):
        sound = state.playing
        if sound is not None and sound.seconds is not None:
            lengths[state.script.name] = round(sound.seconds * 1000)
    return lengths
