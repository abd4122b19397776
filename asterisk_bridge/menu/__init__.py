"""The menu domain, pure: the IVR flow (prompts, keys, retries, topics -> a menu outcome) and the
record of a finished menu session with the IVR_RESULT values."""

from asterisk_bridge.menu.errors import MenuError, MenuFlowError, MenuRecordError
from asterisk_bridge.menu.flow import (
    HUNG_UP,
    MAX_REPEATS,
    NO_KEY,
    PROMPT_MISSING,
    Action,
    Answer,
    Ask,
    Done,
    HungUp,
    MenuFlow,
    MenuOutcome,
    NoKey,
    Play,
    Pressed,
    PromptMissing,
    Step,
    error_outcome,
)
from asterisk_bridge.menu.record import MENU_RESULTS, MenuRecord

__all__ = [
    "Action", "Answer", "Ask", "Done", "HUNG_UP", "HungUp", "MAX_REPEATS", "MENU_RESULTS", "MenuError",
    "MenuFlow", "MenuFlowError", "MenuOutcome", "MenuRecord", "MenuRecordError", "NO_KEY", "NoKey",
    "PROMPT_MISSING", "Play", "Pressed", "PromptMissing", "Step", "error_outcome",
]
