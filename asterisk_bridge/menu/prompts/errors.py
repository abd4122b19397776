"""Prompt errors: one type per way turning texts into sound files can fail.

The command line prints each as one line and exits 1; none of them leaves a half-written file
behind (``render.py`` writes through a temporary file and a rename).
"""

from __future__ import annotations

from ..errors import MenuError

INSTALL_HINT = "apt-get install espeak-ng sox"


class PromptError(MenuError):
    """Base class of every prompt error (prompts belong to the menu: ``MenuError`` is their area's root)."""


class PromptTextError(PromptError):
    """A prompt's text cannot be spoken or cannot be written from its menu; the message names it."""


class ToolMissingError(PromptError):
    """espeak-ng or sox is not installed."""

    def __init__(self, tool: str) -> None:
        self.tool = tool
        super().__init__(f"{tool} is not installed ({INSTALL_HINT})")


class RenderError(PromptError):
    """espeak-ng or sox failed on one prompt, or the file could not be written."""
