"""Shared test helpers: the Asterisk capture files and free loopback ports."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"


@dataclass(frozen=True)
class Record:
    """One record of a lab transcript: seconds since connect, direction, one protocol line."""

    t: float
    direction: str  # "<" from Asterisk, ">" sent to Asterisk, "!" recorder note
    payload: str


@dataclass(frozen=True)
class Transcript:
    path: Path
    headers: dict[str, str]
    records: tuple[Record, ...]

    def received(self) -> list[str]:
        return [r.payload for r in self.records if r.direction == "<"]

    def sent(self) -> list[str]:
        return [r.payload for r in self.records if r.direction == ">"]

    def received_bytes(self) -> bytes:
        return "".join(self.received()).encode()

    def env_block(self) -> list[str]:
        """The agi_* lines Asterisk sent first, up to and including the blank line."""
        lines = []
        for line in self.received():
            lines.append(line)
            if line == "\n":
                break
        return lines


def read_transcript(path: str | Path) -> Transcript:
    """Read a "lab transcript v1" file (format described in tests/fixtures/asterisk/README.md)."""
    path = Path(path)
    if not path.is_absolute():
        path = FIXTURES / path
    headers: dict[str, str] = {}
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(": ")
            if sep:
                headers[key] = value
            continue
        if not line.strip():
            continue
        t, d, p = line.strip().split(" ", 2)
        records.append(Record(float(t), d, json.loads(p)))
    return Transcript(path, headers, tuple(records))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
