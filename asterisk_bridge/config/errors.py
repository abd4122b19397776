"""The configuration area's errors: one ``ConfigError`` carrying every problem found, each at its key path."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AsteriskBridgeError


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, at one key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(AsteriskBridgeError):
    """The configuration cannot be used; ``problems`` lists everything wrong, not just the first."""

    def __init__(self, problems: list[ConfigProblem], source: str = "<config>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(str(p) for p in self.problems)]))
