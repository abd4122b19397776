"""Config loading and validation: every rule names the key path and the offending value."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from asterisk_bridge.config import (
    ConfigError,
    ConfigProblem,
    describe,
    load_config,
    parse_config,
    resolve_config_path,
)

EXAMPLE = Path(__file__).parent.parent / "asterisk-bridge.example.toml"
SECRET = "s3cr3t-Value"


def minimal() -> dict:
    """The smallest valid config: one line, two topics."""
    return {
        "node": "pbx1",
        "queues": {"q-default": "Общая", "q-a": "A", "q-b": "B"},
        "lines": [{
            "number": "122",
            "default_queue": "q-default",
            "menu_prompt": "cc/menu",
            "invalid_prompt": "cc/invalid",
            "topics": [
                {"key": "1", "id": "a", "name": "А", "queue": "q-a"},
                {"key": "2", "id": "b", "name": "Б", "queue": "q-b"},
            ],
        }],
    }


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return [str(p) for p in info.value.problems]


def with_change(change) -> dict:
    data = minimal()
    change(data)
    return data


def line0(data: dict) -> dict:
    return data["lines"][0]


def example_with_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "ami.secret"
    secret.write_text(SECRET + "\n")
    text = EXAMPLE.read_text(encoding="utf-8").replace("/etc/asterisk-bridge/ami.secret", str(secret))
    path = tmp_path / "asterisk-bridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the shipped example

def test_example_loads_and_matches_the_dialplan_queue_names(tmp_path):
    config = load_config(example_with_secret(tmp_path))
    assert config.node == "pbx1" and config.timezone == "Asia/Irkutsk"
    assert config.database.path == "/var/lib/asterisk-bridge/calls.db"
    assert config.ami.enabled and config.ami.secret == SECRET and not config.mqtt.enabled
    assert set(config.queues) == {
        "cc-122-default", "cc-122-gov", "cc-122-housing", "cc-122-social", "cc-122-health",
        "cc-122-health-drugs", "cc-122-other", "cc-117-default", "cc-117-conditions",
        "cc-117-documents", "cc-117-where"}
    line = config.line_for("122")
    assert [(t.key, t.id, t.queue) for t in line.menu.topics.values()] == [
        ("1", "gov", "cc-122-gov"), ("2", "housing", "cc-122-housing"), ("3", "social", "cc-122-social"),
        ("4", "health", "cc-122-health"), ("5", "other", "cc-122-other")]
    health = line.menu.topics["4"].menu
    assert health.path == "122/health" and health.prompt == "cc/122-health-menu"
    hours = health.topics["3"]
    assert (hours.id, hours.self_service, hours.after_info, hours.offer_prompt, hours.queue) == (
        "health-hours", True, "offer_operator", "cc/offer-operator", "cc-122-health")
    assert health.topics["2"].queue == "cc-122-health-drugs"
    assert (line.operator_key, line.repeat_key, line.operator_queue, line.key_timeout_ms) == ("0", "*", "cc-122-default", 5000)
    assert line.timeout_prompt == "cc/no-choice" and line.menu.prompt == "cc/122-menu"
    line117 = config.line_for("117")
    assert [t.queue for t in line117.menu.topics.values()] == ["cc-117-conditions", "cc-117-documents", "cc-117-where"]
    assert line117.menu.topics["3"].info_prompt == "cc/info-where-to-apply"
    for ln in (line, line117):
        assert dict(ln.age_question.groups) == {"1": "under-30", "2": "30-40", "3": "40-60", "4": "over-60"}
    assert config.line_for("999") is None


@pytest.mark.skipif(Path("/etc/asterisk-bridge/ami.secret").exists(), reason="the real secret file exists here")
def test_example_as_shipped_names_the_missing_secret_file():
    with pytest.raises(ConfigError) as info:
        load_config(EXAMPLE)
    assert [str(p) for p in info.value.problems] == [
        "ami.secret_file: cannot read '/etc/asterisk-bridge/ami.secret': No such file or directory"
        " (`asterisk-bridge init` writes it)"]
    assert str(info.value).startswith(f"{EXAMPLE}: 1 problem\n")


def test_describe_shows_the_menu_tree_and_no_secret(tmp_path):
    config = load_config(example_with_secret(tmp_path))
    text = describe(config)
    assert SECRET not in text and SECRET not in repr(config)
    assert "node pbx1, time zone Asia/Irkutsk" in text
    assert "AMI      on: asterisk-bridge@127.0.0.1:5038, secret from file" in text
    assert "MQTT     off" in text and "queues   11 declared" in text
    assert "  2 → housing (ЖКХ) → cc-122-housing" in text
    assert "  4 → health (Здравоохранение) → sub-menu 122/health, fallback cc-122-health" in text
    assert "      2 → health-drugs (Лекарственное обеспечение) → cc-122-health-drugs" in text
    assert "  age question: 1=under-30, 2=30-40, 3=40-60, 4=over-60" in text
    assert len(text.splitlines()) < 40


# ---------------------------------------------------------------- defaults and conversions

def test_minimal_config_gets_defaults():
    config = parse_config(minimal())
    line = config.line_for("122")
    assert line.operator_queue == "q-default" and line.attempts == 3 and line.key_timeout_ms == 5000
    assert (line.operator_key, line.repeat_key, line.greeting, line.age_question) == ("0", "*", None, None)
    assert line.name == "122" and line.menu.path == "122"
    assert config.fastagi.host == "127.0.0.1" and config.fastagi.port == 4573 and config.fastagi.allow == ()
    assert config.timezone == "Asia/Irkutsk" and config.summary.send_at == "07:30"
    assert not config.ami.enabled and config.smtp.host is None


def test_seconds_become_milliseconds_and_empty_keys_turn_off():
    def change(d):
        line0(d).update(key_timeout=2.5, operator_key="", repeat_key="#")
        line0(d)["age_question"] = {"prompt": "cc/age", "groups": {"1": "young"}}
    line = parse_config(with_change(change)).line_for("122")
    assert line.key_timeout_ms == 2500 and line.operator_key is None and line.repeat_key == "#"
    assert line.age_question.timeout_ms == 2500  # defaults to the line's key timeout


# ---------------------------------------------------------------- validation rules

@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(timezon="Asia/Irkutsk"), "timezon: unknown key; did you mean 'timezone'?"),
    (lambda d: line0(d).update(menu_promt="x"), "lines[0].menu_promt: unknown key; did you mean 'menu_prompt'?"),
    (lambda d: line0(d)["topics"][0].update(queeu="q-a"), "lines[0].topics[0].queeu: unknown key; did you mean 'queue'?"),
    (lambda d: line0(d).update(attempts="3"), "lines[0].attempts: '3' is a string, expected an integer"),
    (lambda d: line0(d).update(number=122), 'lines[0].number: 122 is an integer, expected a string (write "122" in quotes)'),
    (lambda d: line0(d)["topics"][1].update(key=2), 'lines[0].topics[1].key: 2 is an integer, expected a string (write "2" in quotes)'),
    (lambda d: d.update(fastagi={"port": True}), "fastagi.port: true is a boolean, expected an integer"),
    (lambda d: d.update(lines={"number": "122"}), "lines: a table is a table, expected an array of tables (write [[lines]])"),
    (lambda d: line0(d)["topics"][0].update(key="12"), "lines[0].topics[0].key: '12' is not a single digit 0-9"),
    (lambda d: line0(d)["topics"][0].update(key="*"), "lines[0].topics[0].key: '*' is not a single digit 0-9"),
    (lambda d: line0(d)["topics"][1].update(key="1"), "lines[0].topics[1].key: '1' is already used by lines[0].topics[0] in this menu"),
    (lambda d: line0(d)["topics"][1].update(key="0"), "lines[0].topics[1].key: '0' is the line's operator_key"),
    (lambda d: line0(d).update(repeat_key="2"), "lines[0].topics[1].key: '2' is the line's repeat_key"),
    (lambda d: line0(d).update(operator_key="00"), "lines[0].operator_key: '00' is not one key 0-9, * or # (use \"\" to turn it off)"),
    (lambda d: line0(d).update(repeat_key="0"), "lines[0].repeat_key: '0' is also the operator_key"),
    (lambda d: line0(d)["topics"][1].update(id="a"), "lines[0].topics[1].id: 'a' is already used by lines[0].topics[0].id (topic ids are unique in a line)"),
    (lambda d: line0(d)["topics"][1].update(id="b c"), "lines[0].topics[1].id: 'b c' is not an id (letters, digits, - _ .)"),
    (lambda d: line0(d)["topics"][1].update(queue="q-bb"), "lines[0].topics[1].queue: 'q-bb' is not declared in [queues]; did you mean 'q-b'?"),
    (lambda d: line0(d).update(default_queue="cc-122-default"), "lines[0].default_queue: 'cc-122-default' is not declared in [queues]; did you mean 'q-default'?"),
    (lambda d: line0(d).pop("menu_prompt"), "lines[0].menu_prompt: is required but missing"),
    (lambda d: line0(d).update(invalid_prompt=""), "lines[0].invalid_prompt: is empty"),
    (lambda d: line0(d).update(greeting="cc/hello world"), "lines[0].greeting: 'cc/hello world' is not a sound name (no spaces, quotes, & ; , |)"),
    (lambda d: line0(d).update(greeting="cc/hello.wav"), "lines[0].greeting: 'cc/hello.wav' includes a file extension; write it without (Asterisk picks the format)"),
    (lambda d: line0(d).update(attempts=10), "lines[0].attempts: 10 is out of range 1..9"),
    (lambda d: line0(d).update(attempts=0), "lines[0].attempts: 0 is out of range 1..9"),
    (lambda d: line0(d).update(key_timeout=0.5), "lines[0].key_timeout: 0.5 is out of range 1..30 seconds"),
    (lambda d: line0(d).update(key_timeout=5000), "lines[0].key_timeout: 5000 is out of range 1..30 seconds"),
    (lambda d: line0(d)["topics"][1].pop("queue"), 'lines[0].topics[1].queue: is missing: a topic without a queue must be self-service with after_info = "end" or have a sub-menu'),
    (lambda d: line0(d)["topics"][1].update(after_info="end"), "lines[0].topics[1].after_info: 'end' needs self_service = true"),
    (lambda d: line0(d)["topics"][1].update(after_info="hangup"), "lines[0].topics[1].after_info: 'hangup' is not one of queue, end, offer_operator"),
    (lambda d: line0(d)["topics"][1].update(self_service=True), "lines[0].topics[1].info_prompt: is required but missing"),
    (lambda d: line0(d)["topics"][1].update(self_service=True, info_prompt="cc/i", after_info="queue"), "lines[0].topics[1].after_info: 'queue' is not for self-service topics; use 'end' or 'offer_operator'"),
    (lambda d: line0(d)["topics"][1].update(self_service=True, info_prompt="cc/i", after_info="offer_operator"), "lines[0].topics[1].offer_prompt: is required but missing"),
    (lambda d: (line0(d).update(operator_key=""), line0(d)["topics"][1].update(self_service=True, info_prompt="cc/i", after_info="offer_operator", offer_prompt="cc/o")), "lines[0].topics[1].after_info: 'offer_operator' needs the line's operator_key"),
    (lambda d: line0(d)["topics"][1].update(menu_prompt="cc/m"), "lines[0].topics[1].menu_prompt: is only for a topic with a sub-menu ([[...topics.topics]])"),
    (lambda d: line0(d).update(topics=[]), "lines[0].topics: a menu needs at least one topic ([[...topics]])"),
    (lambda d: d["lines"].append(copy.deepcopy(line0(d))), "lines[1].number: '122' is already used by lines[0]"),
    (lambda d: d.pop("lines"), "lines: no [[lines]] are configured"),
    (lambda d: d.update(timezone="Asia/Irkutks"), "timezone: 'Asia/Irkutks' is not a known time zone (e.g. 'Asia/Irkutsk')"),
    (lambda d: d.update(summary={"send_at": "7:30"}), "summary.send_at: '7:30' is not a time of day HH:MM (00:00..23:59)"),
    (lambda d: d.update(summary={"send_at": "24:00"}), "summary.send_at: '24:00' is not a time of day HH:MM (00:00..23:59)"),
    (lambda d: d.update(summary={"abandons": "maybe"}), "summary.abandons: 'maybe' is not one of ignored, against, for"),
    (lambda d: d.update(summary={"language": "de"}), "summary.language: 'de' is not one of ru, en"),
    (lambda d: d.update(smtp={"security": "tls"}), "smtp.security: 'tls' is not one of starttls, ssl, none"),
    (lambda d: d.update(smtp={"host": "mx", "sender": "a@b"}), "smtp.recipients: is required (at least one address) when smtp.host is set"),
    (lambda d: d.update(mqtt={"caller_numbers": "clear"}), "mqtt.caller_numbers: 'clear' is not one of mask, hash, full"),
    (lambda d: d.update(mqtt={"enabled": True}), "mqtt.host: MQTT is enabled but no broker host is given"),
    (lambda d: d.update(fastagi={"allow": ["10.0.0.0/8", "pbx"]}), "fastagi.allow[1]: 'pbx' is not an IP address or network"),
    (lambda d: d.update(ami={"enabled": True}), "ami.secret_file: AMI is enabled but no secret is given (secret_file, secret_env or secret)"),
    (lambda d: d.update(privacy={"hash_after_days": 30}), "privacy.salt_file: hashing caller numbers needs a salt (salt_file, salt_env or salt); unsalted phone hashes are reversible"),
    (lambda d: d["queues"].update({"bad queue": "x"}), "queues.bad queue: 'bad queue' is not a usable Asterisk queue name (no spaces, quotes, , | ; ( ))"),
    (lambda d: line0(d).update(age_question={"prompt": "cc/age", "groups": {"10": "young"}}), "lines[0].age_question.groups.10: '10' is not a single digit 0-9"),
    (lambda d: line0(d).update(age_question={"prompt": "cc/age", "groups": {"1": "unknown"}}), "lines[0].age_question.groups.1: 'unknown' is reserved for callers who do not answer"),
    (lambda d: line0(d).update(age_question={"prompt": "cc/age", "groups": {"1": "x"}, "timeout": 31}), "lines[0].age_question.timeout: 31 is out of range 1..30 seconds"),
    (lambda d: line0(d).update(age_question={"groups": {"1": "x"}}), "lines[0].age_question.prompt: is required but missing"),
])
def test_each_rule_names_key_path_and_value(change, expected):
    assert problems(with_change(change)) == [expected]


def sub_menu(depth: int, prefix: str = "s") -> dict:
    """A topic whose sub-menus nest ``depth`` levels below it."""
    topic = {"key": "1", "id": f"{prefix}{depth}", "queue": "q-a"}
    if depth:
        topic.update(menu_prompt="cc/sub", topics=[sub_menu(depth - 1, prefix)])
    return topic


def test_three_menus_deep_is_allowed_four_is_not():
    ok = with_change(lambda d: line0(d)["topics"].__setitem__(0, sub_menu(2)))
    menu = parse_config(ok).line_for("122").menu
    assert menu.topics["1"].menu.topics["1"].menu.path == "122/s2/s1"
    deep = with_change(lambda d: line0(d)["topics"].__setitem__(0, sub_menu(3)))
    assert problems(deep) == [
        "lines[0].topics[0].topics[0].topics[0].topics: menus nest at most 3 deep; '122/s3/s2/s1' would be menu 4"]


def test_sub_menu_topic_rejects_info_and_ids_are_unique_across_levels():
    def change(d):
        health = sub_menu(1, "h")
        health["info_prompt"] = "cc/x"
        health["topics"][0]["id"] = "a"  # same id as a top-level topic
        line0(d)["topics"].append(dict(health, key="3"))
    assert problems(with_change(change)) == [
        "lines[0].topics[2].info_prompt: is not used by a topic with a sub-menu (remove it or move it to its topics)",
        "lines[0].topics[2].topics[0].id: 'a' is already used by lines[0].topics[0].id (topic ids are unique in a line)"]


def test_all_problems_are_collected_not_just_the_first():
    def change(d):
        d["timezone"] = "Mars/Base"
        line0(d)["attempts"] = 99
        line0(d)["topics"][0]["key"] = "x"
        d["summary"] = {"send_at": "noon"}
    found = problems(with_change(change))
    assert [p.split(":")[0] for p in found] == [
        "timezone", "summary.send_at", "lines[0].attempts", "lines[0].topics[0].key"]


def test_config_error_carries_structured_problems():
    with pytest.raises(ConfigError) as info:
        parse_config(with_change(lambda d: line0(d).update(attempts=0)), source="my.toml")
    assert info.value.problems == [ConfigProblem("lines[0].attempts", "0 is out of range 1..9")]
    assert str(info.value) == "my.toml: 1 problem\nlines[0].attempts: 0 is out of range 1..9"


# ---------------------------------------------------------------- secrets

def test_secret_from_file_env_and_literal(tmp_path, monkeypatch):
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text(f"  {SECRET}\n")
    config = parse_config(with_change(lambda d: d.update(ami={"enabled": True, "secret_file": str(secret_file)})))
    assert config.ami.secret == SECRET and config.ami.secret_source == f"file {secret_file}"
    monkeypatch.setenv("AB_TEST_SECRET", SECRET)
    config = parse_config(with_change(lambda d: d.update(mqtt={"password_env": "AB_TEST_SECRET"})))
    assert config.mqtt.password == SECRET
    config = parse_config(with_change(lambda d: d.update(smtp={"password": SECRET})))
    assert config.smtp.password == SECRET and SECRET not in repr(config) and SECRET not in describe(config)


def test_secret_problems_never_show_the_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("AB_TEST_UNSET", raising=False)
    empty = tmp_path / "empty.secret"
    empty.write_text("\n")

    def change(d):
        d["ami"] = {"enabled": True, "secret_file": str(tmp_path / "nope")}
        d["mqtt"] = {"password_env": "AB_TEST_UNSET"}
        d["smtp"] = {"password": SECRET, "password_file": str(empty)}
        d["privacy"] = {"salt": 12345, "slat": SECRET}
    found = problems(with_change(change))
    assert found == [
        f"ami.secret_file: cannot read '{tmp_path / 'nope'}': No such file or directory"
        " (`asterisk-bridge init` writes it)",
        "mqtt.password_env: environment variable 'AB_TEST_UNSET' is not set or empty",
        "smtp.password_file: give only one of password, password_file, password_env (found password, password_file)",
        f"smtp.password_file: file '{empty}' is empty",
        "privacy.salt: an integer, expected a string",
        "privacy.slat: unknown key; did you mean 'salt'?"]
    assert not any(SECRET in p or "12345" in p for p in found)


# ---------------------------------------------------------------- files and TOML errors

def test_duplicate_toml_key_names_file_line_and_key(tmp_path):
    path = tmp_path / "dup.toml"
    path.write_text('node = "pbx1"\n[ami]\nhost = "127.0.0.1"\nhost = "10.0.0.1"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem.path.startswith(f"{path}:4:")  # tomllib's column points past the value
    assert problem.message == ("TOML syntax error: duplicate key 'host' (Cannot overwrite a value); "
                               "each key may appear only once in a table")


def test_duplicate_table_and_syntax_error_do_not_echo_values(tmp_path):
    path = tmp_path / "dup.toml"
    path.write_text('[ami]\nport = 5038\n[ami]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value.problems[0]).startswith(f"{path}:3:") and "duplicate table [ami]" in str(info.value)
    path.write_text(f'[ami]\nsecret = "{SECRET}\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value.problems[0])
    assert message.startswith(f"{path}:2:") and "in the value of 'secret'" in message and SECRET not in message


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    assert str(info.value.problems[0]) == f"{tmp_path / 'absent.toml'}: cannot read the file: No such file or directory"
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'node = "pbx1"\nname = "\xe9"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value.problems[0]) == f"{path}:2: the file is not UTF-8 text"


def test_resolve_config_path_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASTERISK_BRIDGE_CONFIG", raising=False)
    assert resolve_config_path(None) == Path("/etc/asterisk-bridge/asterisk-bridge.toml")
    (tmp_path / "asterisk-bridge.toml").write_text("")
    assert resolve_config_path(None) == Path("asterisk-bridge.toml")
    monkeypatch.setenv("ASTERISK_BRIDGE_CONFIG", "/srv/ab.toml")
    assert resolve_config_path(None) == Path("/srv/ab.toml")
    assert resolve_config_path("given.toml") == Path("given.toml")


def test_example_toml_is_plain_toml():
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert [line["number"] for line in data["lines"]] == ["122", "117"]


def test_retention_keys_are_described_as_applied():
    """Retention runs (daily in `run`, `db retention`): check-config says what it will do."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["ami"] = {"enabled": False}
    data["privacy"] = {"hash_after_days": 30, "drop_steps_after_days": 7, "salt": "pepper"}
    text = describe(parse_config(data))
    assert "retention: numbers hashed after 30 days, menu steps dropped after 7 days" in text
    assert "NOT APPLIED" not in text and "pepper" not in text
    data["privacy"] = {}
    assert "retention: off (records kept as they are)" in describe(parse_config(data))


# ---------------------------------------------------------------- secrets and file modes

def _with_literal_secret(tmp_path, mode: int):
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'secret_file = "/etc/asterisk-bridge/ami.secret"', f'secret = "{SECRET}"')
    text = text.replace("mask_callers = true", 'mask_callers = true\nhash_after_days = 30\nsalt = "pepper"')
    path = tmp_path / "literal.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_literal_secret_in_a_world_readable_file_is_refused_naming_the_key(tmp_path):
    path = _with_literal_secret(tmp_path, 0o644)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = [str(p) for p in info.value.problems]
    assert [p.split(":")[0] for p in found] == ["ami.secret", "privacy.salt"]
    assert "readable by every user (mode 0644)" in found[0] and "secret_file or secret_env" in found[0]
    assert SECRET not in str(info.value) and "pepper" not in str(info.value)


def test_a_literal_secret_in_a_private_file_is_accepted(tmp_path):
    path = _with_literal_secret(tmp_path, 0o640)
    assert load_config(path).ami.secret == SECRET


def test_a_secret_file_readable_by_others_is_a_warning(tmp_path, caplog):
    path = example_with_secret(tmp_path)
    secret = next(tmp_path.glob("*.secret"))
    secret.chmod(0o644)
    with caplog.at_level("WARNING", logger="asterisk_bridge.config"):
        load_config(path)
    assert any("ami.secret_file" in r.getMessage() and "readable by every user" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    secret.chmod(0o600)
    with caplog.at_level("WARNING", logger="asterisk_bridge.config"):
        load_config(path)
    assert not caplog.records
