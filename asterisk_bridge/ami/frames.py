"""AMI wire framing: bytes -> case-insensitive messages. The one AMI parser: the client
(``client.py``), the simulator's AMI server (``pbxsim/ami_server.py``, the actions it is sent),
the tests and the benchmark all read through it.

Why a parser of our own (tests/fixtures/asterisk/README.md, M1): Asterisk frames
messages with ``\\r\\n\\r\\n``, sends a banner line *without* a blank line after
it, repeats keys (``Output:``), spells one key several ways (``Uniqueid``/``UniqueID``)
and sends raw UTF-8 that TCP may split mid-character. We buffer bytes and decode
whole messages, so nothing is lost, and lookups ignore key case.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

BANNER_PREFIX = b"Asterisk Call Manager/"
_SEP = b"\r\n\r\n"
_CR, _LF = 13, 10
#: a banner line longer than this is not a banner: read the bytes as messages
BANNER_MAX = 256


class Frame(Mapping[str, str]):
    """One AMI message. ``frame["uniqueid"] == frame["UniqueID"]``.

    A repeated key maps to its values joined by ``"\\n"`` (``Output`` lines of a
    ``Command`` response read as text); ``getall`` gives them one by one.
    Iteration yields the keys as Asterisk spelled them (first occurrence).
    Only the lower-cased lookup dict is built eagerly: it is all the tracker
    reads, and it keeps parsing cheap (the benchmark target is >= 20k events/s).
    ``received_at`` is the epoch time the AMI client read the message (None when
    parsed from a capture); the tracker falls back to it when there is no Timestamp.
    """

    __slots__ = ("_values", "_pairs", "_text", "received_at")

    def __init__(self, pairs: list[tuple[str, str]] | None, values: dict[str, str] | None = None, text: str = ""):
        self._pairs = pairs
        self._text = text  # pairs are split from it on demand
        self.received_at: float | None = None
        if values is None:
            pairs = pairs or []
            values = {}
            for key, value in pairs:
                lower = key.lower()
                values[lower] = values[lower] + "\n" + value if lower in values else value
        self._values = values

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(key, value) as received, in order, repeats kept."""
        if self._pairs is None:
            self._pairs = _split_pairs(self._text)
        return self._pairs

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, _ in self.pairs:
            lower = key.lower()
            if lower not in seen:
                seen.add(lower)
                yield key

    def __len__(self) -> int:
        return len(self._values)

    def getall(self, key: str) -> list[str]:
        lower = key.lower()
        return [v for k, v in self.pairs if k.lower() == lower]

    def __repr__(self) -> str:
        head = self._values.get("event") or self._values.get("response") or "?"
        return f"<Frame {head!r} {len(self._values)} keys>"


def parse_message(block: bytes | bytearray) -> Frame:
    """Parse one message (without its terminating blank line).

    Undecodable bytes become U+FFFD instead of raising: a hostile caller-ID must
    not stop the event stream. Lines without a colon carry no header and are
    dropped; ``Key:`` with nothing after it is an empty value.
    """
    text = block.decode("utf-8", errors="replace")
    parts = [line.partition(": ") for line in text.split("\r\n")]
    values = {p[0].lower(): p[2] for p in parts if p[1]}
    if len(values) == len(parts):  # every line "Key: value", no key twice
        return Frame(None, values, text)
    # rare: repeated keys, "Key:" without a space, or lines with no colon
    return Frame(_split_pairs(text))


def read_message(block: bytes | bytearray) -> tuple[Frame | None, list[str]]:
    """One block as the AMI client reads it: its Frame, or None when it has neither an ``Event``
    nor a ``Response`` key (not an AMI message); and the lines that carry no header (no colon).

    Keeps what Asterisk sent: an empty value on the last line (``Value: ``), ``Result`` not
    url-decoded (tests/fixtures/asterisk/README.md, M13), repeated keys (``getall``).
    """
    frame = parse_message(block)
    bad: list[str] = []
    if len(frame) <= block.count(b"\r\n"):  # fewer keys than lines: a repeat or a malformed line
        bad = [line for line in block.decode("utf-8", "replace").split("\r\n") if ":" not in line]
    if "event" not in frame and "response" not in frame:
        return None, bad
    return frame, bad


def _split_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key, value[1:] if value[:1] == " " else value))
    return pairs


class FrameParser:
    """Incremental framing: feed any chunks, get whole messages back.

    Holds bytes (not text) until a message is complete, so a multi-byte character split across
    reads is decoded intact. A read that completes no message costs a scan of its own bytes only
    (the search resumes where the last one stopped), so a large message trickling in byte by
    byte is not scanned again and again.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scan = 0  # no message separator starts before this offset of the buffer
        self.banner_checked = False
        self.banner: str | None = None  # "Asterisk Call Manager/11.0.0", None without a banner

    def blocks(self, data: bytes) -> list[bytes]:
        """The whole messages ``data`` completes, as raw blocks without their blank line (CR/LF
        around a block stripped, empty blocks dropped); the rest waits for the next read."""
        buffer = self._buffer
        buffer += data
        if not self.banner_checked and not self._take_banner():
            return []
        end = buffer.rfind(_SEP, self._scan)
        if end < 0:
            self._scan = max(0, len(buffer) - len(_SEP) + 1)
            return []
        whole = bytes(buffer[:end])
        del buffer[:end + len(_SEP)]
        self._scan = max(0, len(buffer) - len(_SEP) + 1)
        out = []
        for block in whole.split(_SEP):
            if block and (block[0] in (_CR, _LF) or block[-1] in (_CR, _LF)):
                block = block.strip(b"\r\n")
            if block:
                out.append(block)
        return out

    def feed(self, data: bytes) -> list[Frame]:
        return [parse_message(block) for block in self.blocks(data)]

    def _take_banner(self) -> bool:
        """Skip the banner line (it has no blank line after it); False while it may still come."""
        buffer = self._buffer
        if len(buffer) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buffer):
            return False
        if buffer.startswith(BANNER_PREFIX):
            end = buffer.find(b"\r\n")
            if end < 0 and len(buffer) < BANNER_MAX:
                return False
            if end >= 0:
                self.banner = buffer[:end].decode("utf-8", errors="replace")
                del buffer[:end + 2]
        self.banner_checked = True
        return True

    @property
    def pending(self) -> bytes:
        """Bytes of an unfinished message (a stream cut mid-message)."""
        return bytes(self._buffer)

    @property
    def pending_size(self) -> int:
        return len(self._buffer)

    def clear(self) -> None:
        """Drop the unfinished message (an oversized one the reader gave up on)."""
        self._buffer.clear()
        self._scan = 0


def parse_frames(data: bytes) -> list[Frame]:
    """All complete messages of a captured AMI byte stream (banner skipped)."""
    return FrameParser().feed(data)
