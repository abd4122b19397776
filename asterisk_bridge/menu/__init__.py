"""The IVR menu, pure logic: prompts, keys, retries and topics -> a menu outcome."""

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
    MenuFlowError,
    MenuOutcome,
    NoKey,
    Play,
    Pressed,
    PromptMissing,
    Step,
    error_outcome,
)

__all__ = [
    "Action", "Answer", "Ask", "Done", "HUNG_UP", "HungUp", "MAX_REPEATS", "MenuFlow", "MenuFlowError",
    "MenuOutcome", "NO_KEY", "NoKey", "PROMPT_MISSING", "Play", "Pressed", "PromptMissing", "Step",
    "error_outcome",
]
