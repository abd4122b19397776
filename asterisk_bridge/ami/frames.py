"""AMI wire framing: bytes -> case-insensitive messages.

Why a parser of our own (README M1, item 10/13): Asterisk frames messages with
``\\r\\n\\r\\n``, sends a banner line *without* a blank line after it, repeats
keys (``Output:``), spells one key several ways (``Uniqueid``/``UniqueID``) and
sends raw UTF-8 that TCP may split mid-character. We buffer bytes and decode
whole messages, so nothing is lost, and lookups ignore key case. The tests,
the benchmark and the simulator reuse this to replay the ``.raw`` captures.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

BANNER_PREFIX = b"Asterisk Call Manager/"
_SEP = b"\r\n\r\n"


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

    @classmethod
    def from_mapping(cls, data: Mapping[str, str]) -> Frame:
        return cls(list(data.items()))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(key, value) as received, in order, repeats kept."""
        if self._pairs is None:
            self._pairs = _split_pairs(self._text)
        return self._pairs

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def get(self, key: str, default=None):  # type: ignore[override]
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


def parse_message(block: bytes) -> Frame:
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


def _split_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key, value[1:] if value[:1] == " " else value))
    return pairs


class FrameParser:
    """Incremental parser: feed any chunks, get whole messages back.

    Holds bytes (not text) until a message is complete, so a multi-byte
    character split across reads is decoded intact.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._banner_checked = False
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer + data
        if not self._banner_checked:
            if len(buffer) < len(BANNER_PREFIX) and BANNER_PREFIX.startswith(buffer):
                self._buffer = buffer
                return []
            if buffer.startswith(BANNER_PREFIX):
                end = buffer.find(b"\r\n")
                if end < 0:
                    self._buffer = buffer
                    return []
                self.banner = buffer[:end].decode("utf-8", errors="replace")
                buffer = buffer[end + 2 :]
            self._banner_checked = True
        blocks = buffer.split(_SEP)
        self._buffer = blocks.pop()
        return [parse_message(block) for block in blocks if block]

    @property
    def pending(self) -> bytes:
        """Bytes of an unfinished message (a stream cut mid-message)."""
        return self._buffer


def parse_frames(data: bytes) -> list[Frame]:
    """All complete messages of a captured AMI byte stream (banner skipped)."""
    return FrameParser().feed(data)
