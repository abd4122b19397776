"""The record of generated prompts kept beside them: which files are ours and what they were made from.

One ``.asterisk-bridge-prompts.json`` per directory of generated files. For each file it keeps
the SHA-256 of the bytes written (a file whose bytes differ is not ours any more: someone put a
recording there, and it is never overwritten without ``--force``) and the hash of what it was
made from (text, voice, settings; when that changes, the file is rendered again). The text itself
is kept too, so an admin can see what a file says without playing it.

A file is replaced in two steps so an interrupted build never turns a generated file into a
"recording": the entry is first written as pending (new and old file hash both count as ours),
then the file is renamed into place, then the entry is settled.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import PromptError
from .files import FILE_MODE, set_mode_and_group

MANIFEST_NAME = ".asterisk-bridge-prompts.json"
ABOUT = ("Prompts written by `asterisk-bridge prompts build`. A file whose sha256 differs from the one "
         "here is a recording and is left alone unless --force.")


@dataclass(frozen=True)
class Entry:
    source: str  # hash of text + voice + settings (source_hash)
    sha256: str  # of the file's bytes as written
    text: str
    voice: str
    engine: str
    seconds: float
    pending_from: str | None = None  # the previous file's sha256 while the new one is being put in place


def source_hash(text: str, settings: Mapping[str, Any]) -> str:
    blob = json.dumps({"text": text, "settings": dict(settings)}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Manifest:
    """The entries of one directory; every change is written at once (temporary file + rename)."""

    def __init__(self, directory: Path, entries: dict[str, Entry] | None = None) -> None:
        self.directory = directory
        self.entries = entries or {}

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST_NAME

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = {name: Entry(**fields) for name, fields in data["files"].items()}
        except FileNotFoundError:
            return cls(directory)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PromptError(f"{path} cannot be read ({exc}); remove it and run `asterisk-bridge prompts "
                              f"build --force` to render every prompt again") from None
        return cls(directory, entries)

    def owns(self, name: str, sha256: str) -> Entry | None:
        """The entry for file ``name`` when its bytes are the ones we wrote (or were putting in place)."""
        entry = self.entries.get(name)
        if entry is not None and sha256 in (entry.sha256, entry.pending_from):
            return entry
        return None

    def put(self, name: str, entry: Entry) -> None:
        self.entries[name] = entry
        self.save()

    def drop(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.save()

    def save(self) -> None:
        data = {"about": ABOUT, "files": {name: asdict(e) for name, e in sorted(self.entries.items())}}
        text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise PromptError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            set_mode_and_group(Path(tmp), FILE_MODE)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise PromptError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
