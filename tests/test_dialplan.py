"""The shipped Asterisk snippets agree with each other and with the example configuration."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIALPLAN = ROOT / "dialplan"
EXTENSIONS = DIALPLAN / "extensions_contact_center.conf"
QUEUES = DIALPLAN / "queues_contact_center.conf"
MANAGER = DIALPLAN / "manager_contact_center.conf"
EXAMPLE_TOML = ROOT / "asterisk-bridge.example.toml"

# queues.conf per-queue options documented for Asterisk 22 (configs/samples/queues.conf.sample)
QUEUE_OPTIONS = {
    "musicclass", "announce", "queue-callerannounce", "strategy", "servicelevel", "context",
    "penaltymemberslimit", "timeout", "retry", "timeoutpriority", "weight", "wrapuptime", "autofill",
    "autopause", "autopausedelay", "autopausebusy", "autopauseunavail", "maxlen", "setinterfacevar",
    "setqueueentryvar", "setqueuevar", "membergosub", "announce-frequency", "min-announce-frequency",
    "periodic-announce-frequency", "periodic-announce-startdelay", "random-periodic-announce",
    "relative-periodic-announce", "announce-holdtime", "announce-position", "announce-to-first-user",
    "announce-position-limit", "announce-round-seconds", "announce-position-only-up", "periodic-announce",
    "monitor-format", "monitor-type", "joinempty", "leavewhenempty", "reportholdtime", "ringinuse",
    "memberdelay", "timeoutrestart", "defaultrule", "member",
}
# keys of the channel snapshot every dialplan UserEvent already carries (fixtures README, M3)
SNAPSHOT_KEYS = {
    "channel", "channelstate", "channelstatedesc", "calleridnum", "calleridname", "connectedlinenum",
    "connectedlinename", "language", "accountcode", "context", "exten", "priority", "uniqueid", "linkedid",
    "event", "privilege", "userevent",
}
AMI_READ_CLASSES = {"system", "call", "log", "verbose", "agent", "user", "config", "command", "dtmf",
                    "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
                    "message", "all"}


@dataclass
class Section:
    name: str
    template: bool = False
    parents: list[str] = field(default_factory=list)
    entries: list[tuple[str, str]] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [value for k, value in self.entries if k == key]


def parse_conf(path: Path) -> dict[str, Section]:
    """Asterisk's ini-like format: [name](!,parent) headers, key = value or key => value, ';' comments."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            flags = [f.strip() for f in (header.group(2) or "").split(",") if f.strip()]
            name = header.group(1)
            assert name not in sections, f"{path.name}:{number}: section [{name}] defined twice"
            current = sections[name] = Section(name, "!" in flags, [f for f in flags if f != "!"])
            continue
        pair = re.fullmatch(r"([\w.-]+)\s*=>?\s*(.*)", line)
        assert pair and current is not None, f"{path.name}:{number}: not 'key = value' in a section: {raw!r}"
        current.entries.append((pair.group(1).lower(), pair.group(2).strip()))
    return sections


def effective_options(sections: dict[str, Section], name: str) -> dict[str, str]:
    """A queue's options with its templates applied (later entries win, as in app_queue)."""
    section = sections[name]
    options: dict[str, str] = {}
    for parent in section.parents:
        assert parent in sections and sections[parent].template, f"[{name}] inherits unknown template {parent}"
        options.update(effective_options(sections, parent))
    options.update((k, v) for k, v in section.entries if k != "member")
    return options


def queue_names() -> set[str]:
    return {name for name, section in parse_conf(QUEUES).items() if not section.template and name != "general"}


def contact_center_priorities() -> list[str]:
    """The applications of the [contact-center] line extension, in order (exten + same lines)."""
    context = parse_conf(EXTENSIONS)["contact-center"]
    steps = []
    in_line_block = False
    for key, value in context.entries:
        if key == "exten":
            in_line_block = value.startswith("_X.,")
        if in_line_block and key in ("exten", "same"):
            steps.append(value)
    return steps


def dialplan_lines() -> set[str]:
    first = contact_center_priorities()[0]
    return set(re.findall(r'"\$\{EXTEN\}" = "(\d+)"', first))


def referenced_queues() -> set[str]:
    """Every queue name the dialplan can send a call to, with ${EXTEN} expanded for each line."""
    text = "\n".join(contact_center_priorities())
    names = set()
    for token in re.findall(r"cc-[A-Za-z0-9${}_-]*[A-Za-z0-9}]", text):
        for line in dialplan_lines():
            names.add(token.replace("${EXTEN}", line))
    return names


def labels_and_jumps(priorities: list[str]) -> tuple[set[str], set[str]]:
    labels = {m.group(1) for p in priorities if (m := re.match(r"n\(([\w-]+)\)", p))}
    jumps = set()
    for p in priorities:
        for target in re.findall(r"(?:\?|:)([A-Za-z][\w-]*)\)", p) + re.findall(r"Goto\(([A-Za-z][\w-]*)\)", p):
            jumps.add(target)
    return labels, jumps


# -- queues ----------------------------------------------------------------------------------------


def test_every_queue_the_dialplan_uses_exists():
    assert dialplan_lines() == {"122", "117"}
    used = referenced_queues()
    assert {"cc-122-default", "cc-117-default"} <= used
    missing = used - queue_names()
    assert not missing, f"queues used in {EXTENSIONS.name} but not defined in {QUEUES.name}: {sorted(missing)}"


def test_queues_cover_the_contact_center_and_share_reporting_settings():
    sections = parse_conf(QUEUES)
    expected = {
        "cc-122-default", "cc-117-default", "cc-122-gov", "cc-122-housing", "cc-122-social", "cc-122-health",
        "cc-122-health-drugs", "cc-122-other", "cc-117-conditions", "cc-117-documents", "cc-117-where",
    }
    assert queue_names() == expected
    for name in sorted(expected):
        options = effective_options(sections, name)
        unknown = set(options) - QUEUE_OPTIONS
        assert not unknown, f"[{name}]: not Asterisk 22 queue options: {sorted(unknown)}"
        for key, value in {
            "servicelevel": "20", "ringinuse": "no", "announce-holdtime": "no", "setinterfacevar": "yes",
            "setqueueentryvar": "yes", "setqueuevar": "yes",
        }.items():
            assert options.get(key) == value, f"[{name}] {key} = {options.get(key)!r}, want {value!r}"
        for key in ("strategy", "timeout", "retry", "wrapuptime", "joinempty", "leavewhenempty"):
            assert options.get(key), f"[{name}] has no {key}"
    # the default queues are the last stop: callers can always join and stay
    for line in ("122", "117"):
        options = effective_options(sections, f"cc-{line}-default")
        assert (options["joinempty"], options["leavewhenempty"]) == ("yes", "no")


# -- extensions ------------------------------------------------------------------------------------


def test_the_menu_runs_on_the_bridge_with_the_line_in_the_url():
    priorities = contact_center_priorities()
    agi_calls = [p for p in priorities if re.search(r"(?<![A-Za-z])AGI\(", p)]
    assert len(agi_calls) == 1
    assert re.search(r"(?<![A-Za-z])AGI\(([^)]*)\)", agi_calls[0]).group(1) == "${CC_AGI}/ivr?line=${EXTEN}"
    before = priorities[: priorities.index(agi_calls[0])]
    # the address is the admin's CC_BRIDGE_AGI global, else the bridge's default listener
    assert before[-2:] == ["n,Set(CC_AGI=${CC_BRIDGE_AGI})",
                           'n,ExecIf($["${CC_AGI}" = ""]?Set(CC_AGI=agi://127.0.0.1:4573))']
    # Asterisk reads every [globals] section, the last value wins (tried on Asterisk 22): one here
    # would override the admin's
    assert "globals" not in parse_conf(EXTENSIONS)
    assert any("Answer()" in p for p in before)
    assert any("Set(CHANNEL(language)=ru)" in p for p in before)
    assert any(re.search(r"Set\(IVR_RESULT=\)$", p) for p in before), "IVR_RESULT must be cleared before AGI"


def test_bridge_down_fallback_is_keyed_on_an_empty_ivr_result():
    priorities = contact_center_priorities()
    agi_at = next(i for i, p in enumerate(priorities) if re.search(r"(?<![A-Za-z])AGI\(", p))
    decision = priorities[agi_at + 1]
    assert re.fullmatch(r'n,GotoIf\(\$\["\$\{IVR_RESULT\}" = ""\]\?([\w-]+)\)', decision), decision
    target = decision.rsplit("?", 1)[1].rstrip(")")
    start = next(i for i, p in enumerate(priorities) if p.startswith(f"n({target})"))
    block = priorities[start:]
    assert "UserEvent(BridgeDown" in block[0]
    assert any("Playback(cc/bridge-down-apology)" in p for p in block[:3])
    assert any("cc-${EXTEN}-default" in p for p in block[:4])
    # AGISTATUS never routes a call on its own (a missing prompt also gives FAILURE, fact A7)
    for p in priorities:
        if re.search(r"(GotoIf|ExecIf|If)\(.*AGISTATUS", p):
            assert "IVR_RESULT" in p, f"routing on AGISTATUS alone: {p}"


def test_results_route_as_the_bridge_intends():
    priorities = contact_center_priorities()
    text = "\n".join(priorities)
    assert re.search(r'GotoIf\(\$\["\$\{IVR_RESULT\}" = "hangup"\]\?hangup\)', text)
    assert re.search(r'GotoIf\(\$\["\$\{IVR_RESULT\}" = "selfservice"\]\?selfservice\)', text)
    assert 'Set(CC_QUEUE=${IF($["${IVR_QUEUE}" != ""]?${IVR_QUEUE}:cc-${EXTEN}-default)})' in text
    queue_calls = re.findall(r"Queue\(([^,]*),,,,([^)]*)\)", text)
    assert queue_calls and all(q == "${CC_QUEUE}" and t for q, t in queue_calls), queue_calls
    labels, jumps = labels_and_jumps(priorities)
    assert jumps <= labels, f"jumps to missing labels: {sorted(jumps - labels)}"
    assert any(p.startswith("n(selfservice),Hangup()") for p in priorities)
    assert any(p.startswith("n(hangup),Hangup()") for p in priorities)


def test_h_extension_reports_the_call_to_ami_without_clashing_keys():
    context = parse_conf(EXTENSIONS)["contact-center"]
    h_block, inside = [], False
    for key, value in context.entries:
        if key == "exten":
            inside = value.startswith("h,")
        if inside:
            h_block.append(value)
    event = next(p for p in h_block if "UserEvent(ContactCenterCall" in p)
    args = re.search(r"UserEvent\((.*)\)$", event).group(1).split(",")
    assert args[0] == "ContactCenterCall"
    headers = dict(a.split(": ", 1) for a in args[1:])
    assert headers == {
        "Line": "${CC_LINE}", "Topic": "${IVR_TOPIC}", "Queue": "${CC_QUEUE}", "IvrQueue": "${IVR_QUEUE}",
        "Result": "${IVR_RESULT}",
        "AgeGroup": "${IVR_AGE_GROUP}", "AgiStatus": "${AGISTATUS}", "QueueStatus": "${QUEUESTATUS}",
        "Cause": "${HANGUPCAUSE}",
    }
    assert not {h.lower() for h in headers} & SNAPSHOT_KEYS  # a repeated key becomes a list in panoramisk
    assert any(re.search(r"Set\(CC_LINE=\$\{EXTEN\}\)", p) for p in contact_center_priorities())


# -- manager ---------------------------------------------------------------------------------------


def test_ami_user_has_least_privilege_and_timestamps_are_required():
    text = MANAGER.read_text(encoding="utf-8")
    assert re.search(r"^;\s+timestampevents = yes", text, re.M), "the [general] timestampevents note is missing"
    sections = parse_conf(MANAGER)
    assert "general" not in sections, "[general] belongs to the admin's manager.conf"
    user = sections["asterisk-bridge"]
    [read], [write] = user.values("read"), user.values("write")
    read_classes = {c.strip() for c in read.split(",")}
    write_classes = {c.strip() for c in write.split(",")}
    assert read_classes <= AMI_READ_CLASSES
    assert {"call", "agent", "user"} <= read_classes
    assert "all" not in read_classes and "all" not in write_classes
    assert not write_classes & {"system", "command", "originate", "config", "call"}
    assert write_classes == {"reporting"}  # CoreShowChannels/Status, read-only
    assert user.values("deny") == ["0.0.0.0/0.0.0.0"]
    assert user.values("permit") == ["127.0.0.1/255.255.255.255"]
    assert user.values("secret"), "the user needs a secret line (placeholder)"


# -- example configuration -------------------------------------------------------------------------


def _example_config() -> dict:
    if not EXAMPLE_TOML.exists():
        pytest.skip(f"{EXAMPLE_TOML.name} is not written yet; nothing to cross-check")
    return tomllib.loads(EXAMPLE_TOML.read_text(encoding="utf-8"))


def _queues_named_in(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("queue", "default_queue", "operator_queue") and isinstance(value, str):
                found.add(value)
            else:
                found |= _queues_named_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= _queues_named_in(item)
    return found


def test_every_queue_in_the_example_config_exists_in_asterisk():
    config = _example_config()
    declared = set(config.get("queues", {}))
    assert declared, f"{EXAMPLE_TOML.name} declares no [queues]"
    missing = declared - queue_names()
    assert not missing, f"[queues] in {EXAMPLE_TOML.name} missing from {QUEUES.name}: {sorted(missing)}"
    used = _queues_named_in(config.get("lines", []))
    assert not used - queue_names(), f"line/topic queues missing from {QUEUES.name}: {sorted(used - queue_names())}"


def test_every_line_in_the_example_config_reaches_the_menu():
    config = _example_config()
    numbers = {str(line["number"]) for line in config.get("lines", [])}
    assert numbers == dialplan_lines()
    for number in numbers:
        assert f"cc-{number}-default" in queue_names()
