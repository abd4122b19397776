"""Prompts: what each one says (``texts``, pure) and the sound files Asterisk plays (the edges:
``files`` reads them, ``render`` writes them with espeak-ng and sox, ``build`` decides which)."""

from asterisk_bridge.menu.prompts.build import (
    GENERATED,
    MISSING,
    OUTDATED,
    RECORDED,
    UNPLAYABLE,
    BuildReport,
    BuildStep,
    PromptState,
    build,
    survey,
)
from asterisk_bridge.menu.prompts.errors import PromptError, PromptTextError, RenderError, ToolMissingError
from asterisk_bridge.menu.prompts.files import SoundFile, inspect, missing_sounds, sound_files
from asterisk_bridge.menu.prompts.texts import PHRASES, PromptScript, menu_text, prompt_scripts, spoken

__all__ = [
    "GENERATED", "MISSING", "OUTDATED", "PHRASES", "RECORDED", "UNPLAYABLE", "BuildReport", "BuildStep",
    "PromptError", "PromptScript", "PromptState", "PromptTextError", "RenderError", "SoundFile",
    "ToolMissingError", "build", "inspect", "menu_text", "missing_sounds", "prompt_scripts", "sound_files",
    "spoken", "survey",
]
