"""Prompts: texts in the configuration, menus written from the menu, sound files rendered with the
real espeak-ng and sox, and what `prompts build` / `prompts check` / `check-config` say about them."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import stat
import struct
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from asterisk_bridge.cli import main
from asterisk_bridge.config import MENU_SECTIONS, ConfigError, load_config, parse_config
from asterisk_bridge.config.prompts import DIALPLAN_PROMPTS, InfoText
from asterisk_bridge.menu.prompts import (
    GENERATED,
    OUTDATED,
    PHRASES,
    RECORDED,
    PromptTextError,
    build,
    inspect,
    menu_text,
    missing_sounds,
    prompt_scripts,
    spoken,
    survey,
)
from asterisk_bridge.menu.prompts.manifest import MANIFEST_NAME, Manifest, file_sha256
from asterisk_bridge.menu.prompts.render import Renderer, voice_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "asterisk-bridge.example.toml"
EXTENSIONS = ROOT / "dialplan" / "extensions_contact_center.conf"
HAVE_TOOLS = bool(shutil.which("espeak-ng") and shutil.which("sox"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="espeak-ng or sox is not installed "
                                 "(apt-get install espeak-ng sox; .ci/run installs both)")

SMALL = """
node = "pbx1"
[queues]
q-default = "Общая"
q-a = "А"
q-b = "Б"

[[lines]]
number = "122"
default_queue = "q-default"
greeting = "cc/greeting"
menu_prompt = "cc/menu"
invalid_prompt = "cc/invalid"

[[lines.topics]]
key = "1"
id = "housing"
name = "Жилищные вопросы"
queue = "q-a"
info_prompt = "cc/info-housing"

[[lines.topics]]
key = "2"
id = "social"
name = "Социальная помощь"
queue = "q-b"

[prompts.ru]
"cc/greeting" = "Здравствуйте! Вы позвонили на линию 122."
"cc/invalid" = "Такого номера в меню нет."
"cc/bridge-down-apology" = "Извините, меню недоступно. Соединяем с оператором."
"cc/no-operator-apology" = "Извините, все операторы заняты. Перезвоните позже."
"cc/info-housing".how = "Оператор примет заявку."
"cc/info-housing".when = "Ответ придёт в течение месяца."
"cc/info-housing".now = "Приготовьте адрес."
"""


def small(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(text, encoding="utf-8")
    return path


def example(**replace: str) -> dict:
    import tomllib

    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return {k: v for k, v in tomllib.loads(text).items() if k in MENU_SECTIONS}


def write_wav(path: Path, seconds: float, rate: int = 8000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * channels * int(rate * seconds))
    return path


def soxi(path: Path, option: str) -> str:
    return subprocess.run(["soxi", option, str(path)], capture_output=True, text=True, check=True).stdout.strip()


# ---------------------------------------------------------------- texts (pure)

def keys_said(text: str, language: str = "ru") -> list[str]:
    """The keys a menu text tells the caller to press, in the order it says them."""
    names = {v: k for k, v in PHRASES[language].keys.items()}
    word = {"ru": "нажмите", "en": "press"}[language]
    return [names.get(k, k) for k in re.findall(rf"{word} (\w+|\S)\.", text)]


def test_generated_menu_text_lists_exactly_the_configured_keys_in_key_order():
    config = parse_config(example())
    scripts = {s.name: s for s in prompt_scripts(config, "ru")}
    line122, line117 = config.line_for("122"), config.line_for("117")
    health = line122.menu.topics["4"].menu
    for line, menu in ((line122, line122.menu), (line122, health), (line117, line117.menu)):
        script = scripts[menu.prompt]
        assert script.generated and script.text == menu_text(menu, line, "ru", None if menu is line.menu else "Здравоохранение")
        assert keys_said(script.text) == [*sorted(menu.topics), "0", "*"]
        for topic in menu.topics.values():
            assert f"{topic.name} — нажмите {topic.key}." in script.text
    assert scripts["cc/122-health-menu"].text.startswith("Здравоохранение. Выберите вопрос.")
    # another line's keys: no operator key, # repeats; topics written out of key order are said in key order
    data = example()
    line = data["lines"][1]
    line.update(operator_key="", repeat_key="#")
    for topic, key in zip(line["topics"], ("2", "5", "1"), strict=True):
        topic["key"] = key
        topic.pop("offer_prompt", None)
        if topic.get("after_info") == "offer_operator":
            topic["after_info"] = "end"
    config = parse_config(data)
    text = {s.name: s for s in prompt_scripts(config, "ru")}["cc/117-menu"].text
    assert keys_said(text) == ["1", "2", "5", "#"] and "решётку" in text and "оператор" not in text
    assert text.index("Куда обратиться — нажмите 1.") < text.index("Условия службы и выплаты — нажмите 2.")
    english = menu_text(config.line_for("117").menu, config.line_for("117"), "en")
    assert keys_said(english, "en") == ["1", "2", "5", "#"] and english.endswith("press hash.")


def test_the_examples_english_menus_written_out_say_exactly_the_keys_of_their_menus():
    config = parse_config(example())
    en = {s.name: s for s in prompt_scripts(config, "en")}
    line122, line117 = config.line_for("122"), config.line_for("117")
    for menu in (line122.menu, line122.menu.topics["4"].menu, line117.menu):
        assert not en[menu.prompt].generated
        assert keys_said(en[menu.prompt].text, "en") == [*sorted(menu.topics), "0", "*"], menu.prompt


def test_a_given_menu_text_wins_and_a_language_without_phrases_needs_it_written():
    config = parse_config(example())
    en = {s.name: s for s in prompt_scripts(config, "en")}
    assert not en["cc/122-menu"].generated and en["cc/122-menu"].text.startswith("Please choose the topic")
    de = {s.name: s for s in prompt_scripts(config, "de")}
    assert de["cc/122-menu"].text is None and de["cc/122-greeting"].text is None


def test_information_message_is_how_when_now_in_that_order():
    text = InfoText(how="Оператор примет заявку", when="Ответ через\n  тридцать дней.", now="Приготовьте адрес!")
    assert spoken(text) == "Оператор примет заявку. Ответ через тридцать дней. Приготовьте адрес!"


def test_the_example_has_a_text_for_every_prompt_in_ru_and_en_and_the_dialplan_plays_its_own():
    config = parse_config(example())
    for language in ("ru", "en"):
        scripts = prompt_scripts(config, language)
        assert [s.name for s in scripts if s.text is None] == []
        assert {"cc/bridge-down-apology", "cc/no-operator-apology"} <= {s.name for s in scripts}
    assert {p for p in dialplan_sounds() if p.startswith("cc/")} == set(DIALPLAN_PROMPTS)


# Sounds of Asterisk's own core sound packages the shipped dialplan plays (not the contact center's).
STOCK_SOUNDS = {"ss-noservice"}  # a number that is not a contact-center line


def dialplan_sounds() -> set[str]:
    """Every sound the shipped dialplan plays, whatever application plays it."""
    names = set()
    for line in EXTENSIONS.read_text(encoding="utf-8").splitlines():
        code = line.split(";", 1)[0]
        for app, args in re.findall(r"\b(Playback|Background|BackGround|ControlPlayback|Read)\(([^)]*)\)", code):
            files = args.split(",")[1 if app == "Read" else 0]  # Read(variable,filename,...)
            names.update(f.strip() for f in files.split("&") if f.strip())
    return names


def test_every_sound_the_dialplan_plays_is_a_prompt_with_a_text_or_one_of_asterisks_own():
    sounds = dialplan_sounds()
    assert sounds - set(DIALPLAN_PROMPTS) == STOCK_SOUNDS
    assert set(DIALPLAN_PROMPTS) <= sounds


def test_a_menu_prompt_shared_by_menus_with_different_topics_cannot_be_written():
    data = example()
    data["lines"][1]["menu_prompt"] = "cc/122-menu"
    del data["prompts"]["en"]["cc/117-menu"]
    config = parse_config(data)
    with pytest.raises(PromptTextError, match=r"'cc/122-menu' is the prompt of menus with different topics"):
        prompt_scripts(config, "ru")
    assert {s.name: s for s in prompt_scripts(config, "en")}["cc/122-menu"].text  # written out: fine


# ---------------------------------------------------------------- texts in check-config

@pytest.mark.parametrize("replace, expected", [
    ({'"cc/info-housing".when = """': '"cc/info-housing".whenn = """'},
     ["prompts.ru.\"cc/info-housing\".whenn: unknown key; did you mean 'when'?",
      "prompts.ru.\"cc/info-housing\": lacks 'when' (when the official answer comes), which the information "
      "message of topic 'housing' (lines[0].topics[1]) must say"]),
    ({'"cc/no-choice" = "Вы не выбрали тему."': '"cc/no-choice" = " ... "'},
     ["prompts.ru.\"cc/no-choice\": is empty after stripping: espeak-ng has nothing to say (write the text, "
      "or remove it and record the prompt)"]),
    ({'"cc/goodbye" = "Спасибо за звонок. До свидания!"': '"cc/goodby" = "Спасибо за звонок. До свидания!"'},
     ["prompts.ru.\"cc/goodby\": no line and no dialplan prompt plays 'cc/goodby'; did you mean 'cc/goodbye'?"]),
    ({'"cc/goodbye" = "Спасибо за звонок. До свидания!"': '"cc/goodbye".how = "Спасибо"'},
     ["prompts.ru.\"cc/goodbye\": how, when and now are for a topic's "
      "information message; lines[0].goodbye_prompt plays it: write one string"]),
    ({'"cc/info-health-drugs".now = "Приготовьте рецепт, полис ОМС и СНИЛС."': ""},
     ["prompts.ru.\"cc/info-health-drugs\": lacks 'now' (what the caller can do now), which the information "
      "message of topic 'health-drugs' (lines[0].topics[3].topics[1]) must say"]),
    ({'"cc/info-other".now = "Пока ждёте ответа оператора, подумайте, как кратко изложить суть вопроса."':
      '"cc/info-other2" = "x"'},
     ["prompts.ru.\"cc/info-other2\": no line and no dialplan prompt plays 'cc/info-other2'"]),
    ({'[prompts.en]': '[prompts.EN]'}, ["prompts.EN: 'EN' is not a language code like \"ru\" or \"en\""]),
    ({'"cc/invalid-choice" = "There is no such option in the menu."': '"cc/invalid-choice" = 3'},
     ["prompts.en.\"cc/invalid-choice\": 3 is an integer, expected a string"]),
])
def test_text_problems_name_the_prompt_and_the_topic(replace, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(example(**replace))
    found = [str(p) for p in info.value.problems]
    for wanted in expected:
        assert any(p.startswith(wanted) for p in found), (wanted, found)


def test_an_information_message_written_as_one_string_names_its_topic():
    data = example()
    data["prompts"]["ru"]["cc/info-gov"] = "Оператор примет обращение."
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert [str(p) for p in info.value.problems] == [
        "prompts.ru.\"cc/info-gov\": is one string, but it is the information message of topic 'gov' "
        "(lines[0].topics[0]): write it as a table of how, when and now"]


def with_secret(tmp_path: Path, text: str | None = None) -> Path:
    """The example (or ``text``) with its AMI secret file in ``tmp_path``, as `init` would install it."""
    secret = tmp_path / "ami.secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    path = tmp_path / "cc.toml"
    text = EXAMPLE.read_text(encoding="utf-8") if text is None else text
    path.write_text(text.replace("/etc/asterisk-bridge/ami.secret", str(secret)), encoding="utf-8")
    return path


def test_check_config_names_a_topic_without_when(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    text = re.sub(r'"cc/info-housing"\.when = """.*?"""\n', "", text, flags=re.S)
    path = with_secret(tmp_path, text)
    result = CliRunner().invoke(main, ["check-config", "-c", str(path)])
    assert result.exit_code == 2
    assert ("prompts.ru.\"cc/info-housing\": lacks 'when' (when the official answer comes), which the "
            "information message of topic 'housing' (lines[0].topics[1]) must say") in result.output


# ---------------------------------------------------------------- sound files (no tools needed)

def test_durations_come_from_the_header_or_the_size_and_odd_wavs_are_unplayable(tmp_path):
    assert inspect(write_wav(tmp_path / "a.wav", 2.5)).seconds == pytest.approx(2.5)
    # the data chunk's own size counts, not the file's: 1 s of sound between a LIST chunk and a trailer
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    chunks = [b"fmt " + struct.pack("<I", len(fmt)) + fmt, b"LIST" + struct.pack("<I", 8000) + b"\0" * 8000,
              b"data" + struct.pack("<I", 16000) + b"\0" * 16000, b"id3 " + struct.pack("<I", 4000) + b"\0" * 4000]
    body = b"WAVE" + b"".join(chunks)
    (tmp_path / "tagged.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert inspect(tmp_path / "tagged.wav").seconds == pytest.approx(1.0)
    (tmp_path / "b.gsm").write_bytes(b"\0" * 33 * 150)  # 150 frames of 20 ms
    (tmp_path / "c.sln").write_bytes(b"\0" * 16000 * 3)
    (tmp_path / "d.ulaw").write_bytes(b"\0" * 8000)
    (tmp_path / "e.g722").write_bytes(b"\0" * 4000)
    assert [inspect(tmp_path / n).seconds for n in ("b.gsm", "c.sln", "d.ulaw", "e.g722")] == [3.0, 3.0, 1.0, 0.5]
    studio = inspect(write_wav(tmp_path / "studio.wav", 1.0, rate=44100, channels=2))
    assert studio.seconds is None and "44100 Hz, 2 channel(s)" in studio.problem
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    assert inspect(tmp_path / "junk.wav").problem == "is not a RIFF/WAVE file"


def test_missing_sounds_lists_key_paths_without_a_playable_file(tmp_path):
    config = parse_config(example())
    sounds = tmp_path / "sounds"
    present = {"cc/122-greeting": ".wav", "cc/122-menu": ".gsm", "cc/invalid-choice": ".ulaw",
               "cc/no-choice": ".alaw", "cc/transfer-operator": ".sln", "cc/goodbye": ".g722",
               "cc/age-question": ".wav", "cc/offer-operator": ".wav", "cc/122-health-menu": ".wav",
               "cc/117-greeting": ".wav", "cc/117-menu": ".wav", "cc/bridge-down-apology": ".gsm"}
    for topic in ("gov", "housing", "social", "health-appointments", "health-hours", "other",
                  "conditions", "documents"):
        present[f"cc/info-{topic}"] = ".wav"
    for name, ext in present.items():
        target = sounds / "ru" / (name + ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_wav(target, 1.0) if ext == ".wav" else target.write_bytes(b"\0" * 1650)
    (sounds / "ru" / "cc" / "info-health-drugs.mp3").write_bytes(b"x")  # not a format Asterisk plays
    write_wav(sounds / "cc" / "info-where-to-apply.wav", 1.0)  # the language-less fallback counts
    write_wav(sounds / "ru" / "cc" / "no-operator-apology.wav", 1.0, rate=44100)  # Asterisk refuses it
    assert missing_sounds(config, sounds) == [
        ("lines[0].topics[3].topics[1].info_prompt", "cc/info-health-drugs"),
        ("dialplan/extensions_contact_center.conf", "cc/no-operator-apology")]
    missing_en = missing_sounds(config, sounds, language="en")
    assert ("lines[0].greeting", "cc/122-greeting") in missing_en
    assert ("lines[1].topics[2].info_prompt", "cc/info-where-to-apply") not in missing_en


def test_a_replacement_cut_short_leaves_the_old_file_ours_and_outdated(tmp_path):
    config = load_config(small(tmp_path), sections=MENU_SECTIONS)
    target = write_wav(tmp_path / "sounds" / "ru" / "cc" / "greeting.wav", 1.0)
    manifest = Manifest(target.parent)
    manifest.put(target.name, _entry(sha256="0" * 64, pending_from=file_sha256(target)))
    state = {s.script.name: s for s in survey(config, tmp_path / "sounds")}["cc/greeting"]
    assert state.status == OUTDATED and state.ours is not None
    manifest.put(target.name, _entry(sha256="1" * 64))  # bytes nobody wrote: a recording
    state = {s.script.name: s for s in survey(config, tmp_path / "sounds")}["cc/greeting"]
    assert state.status == RECORDED and state.ours is None


def _entry(**fields):
    from asterisk_bridge.menu.prompts.manifest import Entry

    return Entry(**{"source": "x", "sha256": "", "text": "t", "voice": "ru", "engine": "espeak-ng", "seconds": 1.0,
                    **fields})


def test_missing_tools_are_one_clear_line(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = CliRunner().invoke(main, ["prompts", "build", "-c", str(small(tmp_path)),
                                       "--sounds-dir", str(tmp_path / "sounds")])
    assert result.exit_code == 1
    assert result.output.strip() == "error: espeak-ng is not installed (apt-get install espeak-ng sox)"
    espeak = shutil.which("espeak-ng", path=os.defpath + ":/usr/local/bin:/usr/bin")
    if espeak is not None:  # espeak-ng without sox
        (empty / "espeak-ng").symlink_to(espeak)
        result = CliRunner().invoke(main, ["prompts", "build", "-c", str(small(tmp_path)),
                                           "--sounds-dir", str(tmp_path / "sounds")])
        assert result.exit_code == 1
        assert result.output.strip() == "error: sox is not installed (apt-get install espeak-ng sox)"
    assert not (tmp_path / "sounds").exists() or not list((tmp_path / "sounds").rglob("*.wav"))


# ---------------------------------------------------------------- rendering with espeak-ng and sox

@needs_tools
def test_the_example_builds_every_prompt_and_check_config_then_reports_none_missing(tmp_path):
    sounds = tmp_path / "sounds"
    result = CliRunner().invoke(main, ["prompts", "build", "-c", str(EXAMPLE), "--sounds-dir", str(sounds)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith(f"23 prompts in {sounds / 'ru'}: 23 rendered (")
    files = sorted((sounds / "ru" / "cc").glob("*.wav"))
    config = load_config(EXAMPLE, sections=MENU_SECTIONS)
    assert {f"cc/{f.stem}" for f in files} == {s.name for s in prompt_scripts(config, "ru")} >= set(DIALPLAN_PROMPTS)
    for f in files:  # what sox itself reads back, not our own parser
        assert (soxi(f, "-r"), soxi(f, "-c"), soxi(f, "-b"), soxi(f, "-e")) == ("8000", "1", "16", "Signed Integer PCM")
        assert float(soxi(f, "-D")) > 0.5
        assert f.stat().st_mode & 0o777 == 0o644
    manifest = json.loads((sounds / "ru" / "cc" / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {f.name for f in files}
    assert manifest["files"]["goodbye.wav"]["text"] == "Спасибо за звонок. До свидания!"
    assert not list((sounds / "ru" / "cc").glob(".*.tmp"))
    checked = CliRunner().invoke(main, ["check-config", "-c", str(EXAMPLE), "--sounds-dir", str(sounds)])
    assert f"every prompt has a sound file in {sounds / 'ru'}" in checked.output
    assert "no sound file" not in checked.output
    # the whole check passes once the AMI secret file the example names exists (`init` writes it)
    installed = with_secret(tmp_path)
    checked = CliRunner().invoke(main, ["check-config", "-c", str(installed), "--sounds-dir", str(sounds)])
    assert checked.exit_code == 0, checked.output
    assert checked.output.startswith(f"{installed}: every prompt has a sound file in {sounds / 'ru'}\n{installed}: OK\n")
    listed = CliRunner().invoke(main, ["prompts", "check", "-c", str(EXAMPLE), "--sounds-dir", str(sounds)])
    assert listed.exit_code == 0 and listed.output.splitlines()[-1] == f"23 prompts in {sounds / 'ru'}: 23 generated"
    assert "warning" not in listed.output  # every menu of the example runs under 20 s


@needs_tools
def test_a_second_build_renders_nothing_and_one_changed_text_renders_exactly_that_file(tmp_path):
    sounds = tmp_path / "sounds"
    path = small(tmp_path)
    first = build(load_config(path), sounds)
    assert first.counts == {"rendered": 6}
    stamps = {f.name: f.stat().st_mtime_ns for f in (sounds / "ru" / "cc").glob("*.wav")}
    again = build(load_config(path), sounds)
    assert again.counts == {"unchanged": 6}
    assert {f.name: f.stat().st_mtime_ns for f in (sounds / "ru" / "cc").glob("*.wav")} == stamps
    small(tmp_path, SMALL.replace("Приготовьте адрес.", "Приготовьте адрес и номер лицевого счёта."))
    changed = build(load_config(path), sounds)
    assert [(s.prompt, s.action) for s in changed.steps if s.action != "unchanged"] == [("cc/info-housing", "rendered")]
    now = {f.name: f.stat().st_mtime_ns for f in (sounds / "ru" / "cc").glob("*.wav")}
    assert [n for n in now if now[n] != stamps[n]] == ["info-housing.wav"]
    # a topic renamed: the generated menu text changes, so the menu is rendered again, nothing else
    small(tmp_path, SMALL.replace("Приготовьте адрес.", "Приготовьте адрес и номер лицевого счёта.")
          .replace('name = "Социальная помощь"', 'name = "Социальная поддержка"'))
    renamed = build(load_config(path), sounds)
    assert [s.prompt for s in renamed.steps if s.action == "rendered"] == ["cc/menu"]


@needs_tools
def test_a_foreign_recording_is_left_alone_unless_force(tmp_path):
    sounds = tmp_path / "sounds"
    path = small(tmp_path)
    build(load_config(path), sounds)
    cc = sounds / "ru" / "cc"
    studio = write_wav(cc / "greeting.wav", 3.0)  # a studio recording over the generated greeting
    recorded = studio.read_bytes()
    (cc / "invalid.gsm").write_bytes(b"\1" * 33 * 100)  # a recording in another format beside ours
    small(tmp_path, SMALL.replace("на линию 122", "на линию сто двадцать два"))  # its text changes too
    result = CliRunner().invoke(main, ["prompts", "build", "-c", str(path), "--sounds-dir", str(sounds)])
    assert result.exit_code == 0, result.output
    assert studio.read_bytes() == recorded
    assert "cc/greeting" in result.output and "ru/cc/greeting.wav is used" in result.output
    assert "--force replaces it" in result.output
    assert not (cc / "invalid.wav").exists() and (cc / "invalid.gsm").exists()
    assert "removed the generated ru/cc/invalid.wav so Asterisk plays the recording" in result.output
    states = {s.script.name: s.status for s in survey(load_config(path), sounds)}
    assert states["cc/greeting"] == states["cc/invalid"] == RECORDED and states["cc/menu"] == GENERATED
    forced = CliRunner().invoke(main, ["prompts", "build", "-c", str(path), "--sounds-dir", str(sounds), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "replaced a recording, --force" in forced.output and "removed the recording ru/cc/invalid.gsm" in forced.output
    assert studio.read_bytes() != recorded and not (cc / "invalid.gsm").exists()
    assert {s.script.name: s.status for s in survey(load_config(path), sounds)} == dict.fromkeys(states, GENERATED)


@needs_tools
def test_check_says_recorded_generated_outdated_missing_and_warns_on_a_long_menu(tmp_path):
    sounds = tmp_path / "sounds"
    long_menu = "Чтобы узнать о работе многофункциональных центров и о графике приёма граждан, слушайте дальше. " * 4
    path = small(tmp_path, SMALL + f'"cc/menu" = "{long_menu}"\n')
    build(load_config(path), sounds)
    cc = sounds / "ru" / "cc"
    write_wav(sounds / "cc" / "greeting.wav", 2.0)  # a language-less recording counts as recorded
    (cc / "greeting.wav").unlink()
    (cc / "bridge-down-apology.wav").unlink()
    small(tmp_path, SMALL.replace("Приготовьте адрес.", "Приготовьте паспорт.") + f'"cc/menu" = "{long_menu}"\n')
    result = CliRunner().invoke(main, ["prompts", "check", "-c", str(path), "--sounds-dir", str(sounds)])
    assert result.exit_code == 1
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("cc/")}
    assert rows["cc/greeting"].split()[1:4] == ["recorded", "2.0", "s"]
    assert rows["cc/info-housing"].split()[1] == "outdated" and "its text changed" in rows["cc/info-housing"]
    assert rows["cc/bridge-down-apology"].split()[1:3] == ["missing", "-"]
    assert rows["cc/invalid"].split()[1] == "generated"
    seconds = float(rows["cc/menu"].split()[2])
    assert seconds > 20
    assert f"warning: cc/menu is a menu prompt of {seconds:.1f} s, longer than 20 s" in result.output
    assert result.output.splitlines()[-1].endswith("3 generated, 1 recorded, 1 outdated, 1 missing")


@needs_tools
def test_a_text_espeak_cannot_speak_is_an_error_naming_the_prompt(tmp_path):
    renderer = Renderer(voice_for("ru"))
    with pytest.raises(PromptTextError, match=r"^cc/empty: the text is empty after stripping"):
        renderer.render("cc/empty", " … — ", tmp_path / "cc" / "empty.wav")
    assert not list(tmp_path.rglob("*.wav")) and not list(tmp_path.rglob("*.tmp"))


@needs_tools
def test_english_prompts_go_to_their_own_directory(tmp_path):
    sounds = tmp_path / "sounds"
    report = build(load_config(EXAMPLE, sections=MENU_SECTIONS), sounds, "en")
    assert report.counts == {"rendered": 23} and not (sounds / "ru").exists()
    assert json.loads((sounds / "en" / "cc" / MANIFEST_NAME).read_text())["files"]["goodbye.wav"]["voice"] == "en"


def test_prompts_text_prints_every_prompt_with_the_menus_written_out(tmp_path):
    result = CliRunner().invoke(main, ["prompts", "text", "-c", str(small(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "cc/menu  [written from the menu; lines[0].menu_prompt]\n  Выберите тему обращения. Жилищные вопросы — " \
           "нажмите 1. Социальная помощь — нажмите 2. Чтобы поговорить с оператором, нажмите 0." in result.output
    assert "cc/info-housing  [text; lines[0].topics[0].info_prompt]\n  Оператор примет заявку. Ответ придёт в " \
           "течение месяца. Приготовьте адрес." in result.output


# ---------------------------------------------------------------- how build writes and what it prints

@needs_tools
def test_a_rendered_file_replaces_the_old_one_by_rename_never_in_place(tmp_path):
    sounds = tmp_path / "sounds"
    path = small(tmp_path)
    build(load_config(path), sounds)
    greeting = sounds / "ru" / "cc" / "greeting.wav"
    old = greeting.read_bytes()
    held = tmp_path / "held.wav"  # a second name for the old file's inode, as a call playing it holds it open
    os.link(greeting, held)
    small(tmp_path, SMALL.replace("на линию 122", "на линию сто двадцать два"))
    changed = build(load_config(path), sounds)
    assert [s.prompt for s in changed.steps if s.action == "rendered"] == ["cc/greeting"]
    assert held.read_bytes() == old  # the old inode was never written to
    assert greeting.stat().st_ino != held.stat().st_ino and greeting.read_bytes() != old
    assert inspect(greeting).seconds > 0.5
    assert not [p for p in greeting.parent.iterdir() if p.name.endswith(".tmp")]


@needs_tools
def test_files_and_directories_get_asterisks_mode_and_the_sounds_directorys_group_whatever_the_umask(tmp_path):
    other = [g for g in os.getgroups() if g != os.getegid()]
    if os.geteuid() == 0:
        group = 4242  # root may give any group
    elif other:
        group = other[0]
    else:
        pytest.skip("needs root or a second group to tell the directory's group from the user's own")
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    os.chown(sounds, -1, group)
    sounds.chmod(0o755)  # no setgid bit: the group must come from build itself
    mask = os.umask(0o077)
    try:
        build(load_config(small(tmp_path)), sounds)
    finally:
        os.umask(mask)
    made = [sounds / "ru", sounds / "ru" / "cc", *(sounds / "ru" / "cc").iterdir()]
    assert len(made) == 2 + 6 + 1  # two directories, six prompts, the manifest
    for p in made:
        assert (p.stat().st_gid, stat.S_IMODE(p.stat().st_mode)) == (group, 0o755 if p.is_dir() else 0o644), p


@needs_tools
def test_build_prints_a_line_per_prompt_on_a_terminal_and_only_what_changed_otherwise(tmp_path):
    sounds = tmp_path / "sounds"
    path = small(tmp_path)
    build(load_config(path), sounds)
    argv = [sys.executable, "-m", "asterisk_bridge", "prompts", "build", "-c", str(path), "--sounds-dir", str(sounds)]
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.STDOUT)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode("utf-8").replace("\r\n", "\n").splitlines()
    assert [line.split()[:3] for line in shown[:-1]] == [
        [f"[{i}/6]", name, "unchanged"] for i, name in enumerate(
            ("cc/greeting", "cc/invalid", "cc/menu", "cc/info-housing", "cc/bridge-down-apology",
             "cc/no-operator-apology"), 1)]
    assert shown[-1].startswith(f"6 prompts in {sounds / 'ru'}: 6 unchanged (")
    small(tmp_path, SMALL.replace("Приготовьте адрес.", "Приготовьте паспорт."))
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert len(lines) == 2 and lines[0].split()[:3] == ["[4/6]", "cc/info-housing", "rendered"]
    assert lines[1].startswith(f"6 prompts in {sounds / 'ru'}: 5 unchanged, 1 rendered (")


@needs_tools
def test_a_change_of_voice_settings_makes_every_file_outdated_and_build_renders_them_again(tmp_path, monkeypatch):
    sounds = tmp_path / "sounds"
    path = small(tmp_path)
    build(load_config(path), sounds)
    assert {s.status for s in survey(load_config(path), sounds)} == {GENERATED}
    from asterisk_bridge.menu.prompts import render

    monkeypatch.setattr(render, "PIPELINE", render.PIPELINE + 1)  # what a change of the espeak-ng/sox commands does
    assert {s.status for s in survey(load_config(path), sounds)} == {OUTDATED}
    assert build(load_config(path), sounds).counts == {"rendered": 6}
    monkeypatch.setattr(render, "VOICES", {"ru": "ru+f3"})  # another voice for the same language
    assert build(load_config(path), sounds).counts == {"rendered": 6}
    entry = json.loads((sounds / "ru" / "cc" / MANIFEST_NAME).read_text(encoding="utf-8"))["files"]["greeting.wav"]
    assert entry["voice"] == "ru+f3"
    assert build(load_config(path), sounds).counts == {"unchanged": 6}
