"""``prompts build`` and ``prompts check``: each prompt's files, whose they are, and what to do.

A prompt's generated file is ``<sounds>/<language>/<prompt>.wav``, where Asterisk looks first. It
is *ours* when the manifest beside it (``manifest.py``) holds its exact bytes; every other file
Asterisk could play for the prompt is a *recording*. A recording always wins: ``build`` never
writes over one (unless ``force``) and removes a generated file that would compete with it, so an
admin replaces a generated prompt by putting the studio file in place and running ``build``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from asterisk_bridge.config import Config

from .errors import PromptError
from .files import SoundFile, inspect, shown, sound_files, sound_stems
from .manifest import Entry, Manifest, file_sha256, source_hash
from .render import Renderer, Voice, put_in_place, voice_for
from .texts import MENU_LIMIT_SECONDS, PromptScript, prompt_scripts

GENERATED, OUTDATED, RECORDED, UNPLAYABLE, MISSING = "generated", "outdated", "recorded", "unplayable", "missing"


@dataclass(frozen=True)
class PromptState:
    """One prompt as found on disk."""

    script: PromptScript
    target: Path | None  # where its generated file goes; None for an absolute prompt name
    files: tuple[SoundFile, ...]  # every file Asterisk could play for it, in lookup order
    ours: SoundFile | None  # the generated file, while its bytes are the ones written
    entry: Entry | None  # its manifest entry
    status: str

    @property
    def recordings(self) -> tuple[SoundFile, ...]:
        return tuple(f for f in self.files if self.ours is None or f.path != self.ours.path)

    @property
    def playing(self) -> SoundFile | None:
        """The file a call hears: a playable recording first, else the generated one."""
        return next((f for f in self.recordings if f.playable), None) or self.ours

    @property
    def too_long(self) -> bool:
        sound = self.playing
        return self.script.is_menu and sound is not None and (sound.seconds or 0) > MENU_LIMIT_SECONDS


class PromptFiles:
    """The prompts of one language under one sounds directory, with the manifests read once."""

    def __init__(self, sounds_dir: str | os.PathLike[str], language: str, voice: Voice | None = None) -> None:
        self.sounds_dir = Path(sounds_dir)
        self.language = language
        self.voice = voice or voice_for(language)
        self._manifests: dict[Path, Manifest] = {}

    def manifest(self, directory: Path) -> Manifest:
        if directory not in self._manifests:
            self._manifests[directory] = Manifest.load(directory)
        return self._manifests[directory]

    def target(self, prompt: str) -> Path | None:
        if prompt.startswith("/"):
            return None
        stem = sound_stems(self.sounds_dir, self.language, prompt)[0]
        return stem.with_name(stem.name + ".wav")

    def expected(self, script: PromptScript) -> str | None:
        return source_hash(script.text, self.voice.settings()) if script.text is not None else None

    def state(self, script: PromptScript) -> PromptState:
        files = tuple(inspect(p) for p in sound_files(self.sounds_dir, self.language, script.name))
        target = self.target(script.name)
        ours = entry = None
        settled = False
        for sound in files:
            if target is not None and sound.path == target and sound.playable:
                sha = file_sha256(target)
                entry = self.manifest(target.parent).entries.get(target.name)
                if entry is not None and sha in (entry.sha256, entry.pending_from):
                    ours, settled = sound, sha == entry.sha256
                else:
                    entry = None
        others = [f for f in files if f is not ours]
        if any(f.playable for f in others):
            status = RECORDED
        elif ours is not None:
            current = settled and entry is not None and entry.source == self.expected(script)
            status = GENERATED if current else OUTDATED
        elif others:
            status = UNPLAYABLE
        else:
            status = MISSING
        return PromptState(script, target, files, ours, entry, status)

    def shown(self, path: Path) -> str:
        return shown(path, self.sounds_dir)


def survey(config: Config, sounds_dir: str | os.PathLike[str], language: str = "ru") -> list[PromptState]:
    """Every prompt of the configuration and the dialplan, as found under ``sounds_dir``."""
    files = PromptFiles(sounds_dir, language)
    return [files.state(s) for s in prompt_scripts(config, language)]


# ---------------------------------------------------------------- build

RENDERED, UNCHANGED, KEPT, SKIPPED = "rendered", "unchanged", "recording kept", "skipped"


@dataclass(frozen=True)
class BuildStep:
    prompt: str
    action: str  # rendered, unchanged, recording kept, missing, outdated, unplayable, skipped
    detail: str = ""
    seconds: float | None = None


@dataclass
class BuildReport:
    sounds_dir: Path
    language: str
    steps: list[BuildStep] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> Counter[str]:
        return Counter(s.action for s in self.steps)

    @property
    def missing(self) -> list[BuildStep]:
        """Prompts a call would not hear after this build."""
        return [s for s in self.steps if s.action in (MISSING, UNPLAYABLE)]


Progress = Callable[[int, int, BuildStep], None]


def build(config: Config, sounds_dir: str | os.PathLike[str], language: str = "ru", *, force: bool = False,
          progress: Progress | None = None) -> BuildReport:
    """Render every prompt whose text is new or changed; keep recordings (replace them with ``force``).

    espeak-ng and sox are looked for only when something needs rendering, so an up-to-date
    directory builds without them. Raises a ``PromptError`` naming the prompt on the first failure;
    every file finished before it stays."""
    started = time.monotonic()
    files = PromptFiles(sounds_dir, language)
    scripts = prompt_scripts(config, language)
    report = BuildReport(files.sounds_dir, language)
    renderer: list[Renderer] = []

    def render_with() -> Renderer:
        if not renderer:
            renderer.append(Renderer(files.voice))
        return renderer[0]

    for index, script in enumerate(scripts, 1):
        step = _build_one(files, files.state(script), force, render_with)
        report.steps.append(step)
        if progress is not None:
            progress(index, len(scripts), step)
    report.seconds = time.monotonic() - started
    return report


def _build_one(files: PromptFiles, state: PromptState, force: bool,
               render_with: Callable[[], Renderer]) -> BuildStep:
    script, target = state.script, state.target
    name = script.name
    if target is None:
        return BuildStep(name, SKIPPED, "an absolute path: generated prompts go under the sounds directory only")
    recorded = [f for f in state.recordings if f.playable]
    blocking = [f for f in state.recordings if f.path == target]  # a foreign file where ours would go
    if recorded and not force:
        detail = f"{files.shown(recorded[0].path)} is used"
        if state.ours is not None:
            _remove(state.ours.path)
            files.manifest(target.parent).drop(target.name)
            detail += f"; removed the generated {files.shown(target)} so Asterisk plays the recording"
        if script.text is not None:
            detail += " (--force replaces it with the generated prompt)"
        return BuildStep(name, KEPT, detail, recorded[0].seconds)
    if script.text is None:
        if state.ours is not None:
            return BuildStep(name, OUTDATED, f"no text in [prompts.{files.language}] any more; "
                                             f"{files.shown(target)} stays until a text or a recording replaces it")
        return BuildStep(name, MISSING, f"no text in [prompts.{files.language}] and no recording")
    if blocking and not force:
        return BuildStep(name, UNPLAYABLE, f"{files.shown(target)} is not ours and Asterisk cannot play it: "
                                           f"{blocking[0].problem} (--force replaces it)")
    if state.status == GENERATED and not force:
        return BuildStep(name, UNCHANGED, files.shown(target), state.ours.seconds if state.ours else None)
    removed = []
    if force:
        for other in state.recordings:
            if other.path.parent == target.parent and other.path.stem == target.stem and other.path != target:
                _remove(other.path)
                removed.append(files.shown(other.path))
    rendered = render_with().render(name, script.text, target)
    manifest = files.manifest(target.parent)
    entry = Entry(source=files.expected(script) or "", sha256=rendered.sha256, text=script.text,
                  voice=files.voice.name, engine=render_with().engine, seconds=round(rendered.seconds, 3))
    previous = file_sha256(target) if state.ours is not None and target.exists() else None
    manifest.put(target.name, replace(entry, pending_from=previous))
    put_in_place(rendered)
    manifest.put(target.name, entry)
    detail = files.shown(target)
    if blocking:
        detail += " (replaced a recording, --force)"
    if removed:
        detail += f"; removed the recording {', '.join(removed)} (--force)"
    return BuildStep(name, RENDERED, detail, rendered.seconds)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise PromptError(f"cannot remove {path}: {exc.strerror or exc}") from None
