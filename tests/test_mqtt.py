"""MQTT: payloads against the shipped JSON Schema, gauges, and delivery through a real mosquitto.

The broker is a real mosquitto on a free loopback port (skipped when the binary is missing;
CI installs it with apt-get). Broker-side queueing for an offline subscriber is what makes the
"broker restarted mid-burst" test honest: the subscriber uses a persistent session
(clean_session=False, fixed identifier), exactly as a wallboard should.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import aiomqtt
import pytest

from asterisk_bridge.calls.members import MemberTracker
from asterisk_bridge.calls.model import CallRecord, CallUpdate, QueueLeg
from asterisk_bridge.calls.tracker import CallTracker
from asterisk_bridge.config import parse_config
from asterisk_bridge.menu.flow import Step
from asterisk_bridge.mqtt import CallEvents, EventError, Gauges, MQTTPublisher, payload_schema
from asterisk_bridge.pbxsim.ami_calls import CallScenario, Operator, call_events
from asterisk_bridge.menu import MenuRecord
from asterisk_bridge.store import Store
from asterisk_bridge.privacy import hash_number
from asterisk_bridge.report.definitions import service_level
from asterisk_bridge.mqtt.errors import OutboxError
from asterisk_bridge.mqtt.message import OutboxMessage
from asterisk_bridge.store.outbox import check_events
from helpers import FIXTURES, free_port

T0 = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC = 22:13:20 in Asia/Irkutsk
PREFIX = "cc"
SCHEMA = payload_schema()


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


# -- a tiny JSON Schema validator for the subset schema.json uses -------------------------------

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
}


def schema_errors(value, schema: dict, root: dict = SCHEMA, path: str = "$") -> list[str]:
    if "$ref" in schema:
        return schema_errors(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, path)
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not schema_errors(value, s, root, path)]
        return [] if len(matches) == 1 else [f"{path}: matches {len(matches)} of oneOf, expected 1"]
    errors = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[t](value) for t in types):
            return [f"{path}: {value!r} is not {types}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: too short")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{path}[{n}]")
    if isinstance(value, dict):
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", ()) if key not in value]
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key!r}")
    return errors


def test_the_validator_catches_what_the_schema_forbids():
    good = {"schema": 1, "event": "started", "event_id": str(uuid.uuid4()), "node": "pbx1", "linkedid": "1.1",
            "line": "122", "topic": None, "at": "2026-11-26T13:25:37.252Z", "caller": None,
            "caller_format": "mask", "started_at": "2026-11-26T13:25:37.252Z"}
    assert schema_errors(good, SCHEMA) == []
    assert schema_errors({**good, "extra": 1}, SCHEMA)
    assert schema_errors({**good, "at": "2026-11-26 13:25"}, SCHEMA)
    assert schema_errors({k: v for k, v in good.items() if k != "linkedid"}, SCHEMA)
    assert schema_errors({**good, "caller_format": "plain"}, SCHEMA)


# -- building events (pure) -----------------------------------------------------------------------

def make_config(**mqtt):
    return parse_config({
        "node": "pbx1", "timezone": "Asia/Irkutsk",
        "mqtt": {"enabled": True, "host": "127.0.0.1", "prefix": PREFIX, **mqtt},
        "privacy": {"salt": "pepper"},
        "queues": {"q-default": "Общая", "q-a": "A", "q-b": "B"},
        "lines": [{
            "number": "122", "default_queue": "q-default", "menu_prompt": "cc/menu", "invalid_prompt": "cc/invalid",
            "topics": [{"key": "1", "id": "a", "name": "А", "queue": "q-a"},
                       {"key": "2", "id": "b", "name": "Б", "queue": "q-b"}],
        }],
    })


def menu_record(n: int = 0, *, line: str = "122", caller: str | None = "79161234567") -> MenuRecord:
    started = T0 + n
    return MenuRecord(
        session_id=f"s{n:05d}", node="pbx1", line=line, caller_number=caller, caller_name="Иван",
        channel=f"PJSIP/trunk-{n:08x}", uniqueid=f"{T0 + n:.1f}", linkedid=f"{T0 + n:.1f}", agi_script="ivr",
        started_at=started, ended_at=started + 4.2, result="topic", topic="a", queue="q-a", age_group="30-40",
        ended_in="122", hung_up=False,
        steps=(Step(started, "prompt", "122", "cc/menu"), Step(started + 2, "key", "122", key="1")),
    )


def tracked_updates(*scenarios: CallScenario) -> list[CallUpdate]:
    """Updates from the real tracker fed with the simulator's Asterisk 22 event sequences."""
    tracker = CallTracker()
    updates = []
    for n, scenario in enumerate(scenarios):
        for at, headers in call_events(scenario, T0 + 100 * n):
            updates.extend(tracker.feed(dict(headers), at))
    return updates


ANSWERED = CallScenario(name="answered", queue="q-a", topic="a", operator=Operator("1001", "Оператор 1"))
ABANDONED = CallScenario(name="abandoned", queue="q-b", topic="b", abandon_after=30)


def all_event_messages(builder: CallEvents) -> list[OutboxMessage]:
    out = builder.menu_events(menu_record())
    for update in tracked_updates(ANSWERED, ABANDONED):
        out += builder.call_events(update)
    return out


def test_the_schema_lists_exactly_the_call_domain_values():
    from asterisk_bridge.calls.model import HANGUP_BY, OUTCOMES

    props = SCHEMA["$defs"]["ended"]["properties"]
    assert props["outcome"]["enum"] == list(OUTCOMES)
    assert props["hangup_by"]["enum"] == [*HANGUP_BY, None]


@pytest.mark.parametrize("mode", ["mask", "hash", "full"])
def test_every_event_type_matches_the_schema_and_hides_the_caller(mode):
    builder = CallEvents.from_config(make_config(caller_numbers=mode))
    messages = all_event_messages(builder)
    events = [json.loads(m.payload) for m in messages]
    assert {e["event"] for e in events} == {"started", "menu", "queued", "answered", "ended"}
    for message, event in zip(messages, events, strict=True):
        assert schema_errors(event, SCHEMA) == [], message.payload
        assert message.topic == f"{PREFIX}/pbx1/calls/122/{event['event']}"
        assert message.event_id == event["event_id"] and message.qos == 1 and not message.retain
        assert event["caller_format"] == mode
    callers = {e["caller"] for e in events}
    if mode == "full":
        assert callers == {"79161234567"}
    else:
        assert all("79161234567" not in m.payload for m in messages)
    if mode == "mask":
        assert callers == {"7916***4567"}
    if mode == "hash":
        assert callers == {hash_number("79161234567", "pepper")}


def test_call_events_announce_each_moment_once_with_stable_ids():
    updates = tracked_updates(ANSWERED, ABANDONED)
    builder = CallEvents(node="pbx1")
    first = [json.loads(m.payload) for u in updates for m in builder.call_events(u)]
    kinds = [(e["linkedid"], e["event"]) for e in first]
    answered_call, abandoned_call = dict.fromkeys(k[0] for k in kinds)
    assert kinds == [(answered_call, "started"), (answered_call, "queued"), (answered_call, "answered"),
                     (answered_call, "ended"), (abandoned_call, "started"), (abandoned_call, "queued"),
                     (abandoned_call, "ended")]
    ended = {e["linkedid"]: e for e in first if e["event"] == "ended"}
    assert ended[answered_call]["outcome"] == "answered" and ended[answered_call]["operator"] == "Оператор 1"
    assert ended[abandoned_call]["outcome"] == "abandoned_queue"
    answered = next(e for e in first if e["event"] == "answered")
    assert answered["queue"] == "q-a" and answered["wait_seconds"] >= 0
    # the same moments built again (a replay) carry the same ids
    replay = CallEvents(node="pbx1")
    again = [json.loads(m.payload) for u in updates for m in replay.call_events(u)]
    assert [e["event_id"] for e in again] == [e["event_id"] for e in first]
    assert len({e["event_id"] for e in first}) == len(first)


def test_a_late_update_after_the_end_publishes_nothing():
    builder = CallEvents(node="pbx1")
    updates = tracked_updates(ANSWERED)
    for update in updates:
        builder.call_events(update)
    late = replace(updates[-1], kind="changed")
    assert builder.call_events(late) == []


def test_bad_settings_and_messages_are_named():
    with pytest.raises(EventError, match="caller_numbers: 'plain'"):
        CallEvents(node="pbx1", caller_numbers="plain")
    with pytest.raises(EventError, match="needs privacy.salt"):
        CallEvents(node="pbx1", caller_numbers="hash")
    with pytest.raises(OutboxError, match="topic: 'a/#'"):
        OutboxMessage(topic="a/#", payload="{}", event_id="x")
    with pytest.raises(TypeError, match=r"events\[0\]: expected an OutboxMessage, got dict"):
        check_events([{"topic": "x"}])


def test_queue_names_cannot_inject_topic_levels():
    builder = Gauges(node="pbx1", prefix=PREFIX, queues=("sales/+#",))
    (queue_topic,) = [m.topic for m in builder.messages(T0, force=True) if "/queues/" in m.topic]
    assert queue_topic == f"{PREFIX}/pbx1/gauges/queues/sales___"


# -- gauges (pure) --------------------------------------------------------------------------------

def call(linkedid: str, *, line="122", legs=(), ended_at=None, outcome=None, ivr_result=None) -> CallRecord:
    return CallRecord(linkedid=linkedid, uniqueid=linkedid, started_at=T0, line=line, legs=list(legs),
                      ended_at=ended_at, outcome=outcome, ivr_result=ivr_result, last_event_at=T0)


def leg(queue, joined, *, answered=None, left=None, abandoned=False) -> QueueLeg:
    wait = (answered or left) - joined if (answered or left) else None
    return QueueLeg(queue=queue, joined_at=joined, left_at=left or answered, wait_seconds=wait,
                    answered_at=answered, abandoned=abandoned, answered_by="Оператор 1" if answered else None)


def test_gauges_follow_calls_through_menu_queue_answer_and_abandon():
    gauges = Gauges.from_config(make_config(), interval=5)
    gauges.call_update(CallUpdate("started", call("c1")))  # in the menu (AMI view)
    gauges.call_update(CallUpdate("changed", call("c2", legs=[leg("q-a", T0 + 10)], ivr_result="topic")))
    gauges.call_update(CallUpdate("changed", call("c3", legs=[leg("q-a", T0 + 30)], ivr_result="topic")))
    f = gauges.figures(T0 + 40)
    line, qa = f["lines"]["122"], f["queues"]["q-a"]
    assert (line["in_menu"], line["waiting"], line["longest_wait_seconds"]) == (1, 2, 30.0)
    assert (qa["waiting"], qa["longest_wait_seconds"], qa["answered_today"]) == (2, 30.0, 0)
    assert line["service_level_today"] is None and line["day"] == "2026-09-21"
    # c2 answered after 15 s (within 20), c3 answered after 50 s, c4 abandoned in q-b after 40 s
    gauges.call_update(CallUpdate("changed", call("c2", legs=[leg("q-a", T0 + 10, answered=T0 + 25)])))
    gauges.call_update(CallUpdate("changed", call("c2", legs=[leg("q-a", T0 + 10, answered=T0 + 25)])))
    gauges.call_update(CallUpdate("finished", call("c3", legs=[leg("q-a", T0 + 30, answered=T0 + 80)],
                                                   ended_at=T0 + 200, outcome="answered")))
    gauges.call_update(CallUpdate("finished", call("c4", legs=[leg("q-b", T0, left=T0 + 40, abandoned=True)],
                                                   ended_at=T0 + 40, outcome="abandoned_queue")))
    f = gauges.figures(T0 + 300)
    line, qa, qb = f["lines"]["122"], f["queues"]["q-a"], f["queues"]["q-b"]
    assert (line["waiting"], line["answered_today"], line["abandoned_today"]) == (0, 2, 1)
    assert line["service_level_today"] == round(100 / 3, 1)  # 1 in time of 2 answered + 1 abandoned
    assert (qa["answered_today"], qa["abandoned_today"], qa["service_level_today"]) == (2, 0, 50.0)
    assert (qb["abandoned_today"], qb["service_level_today"]) == (1, 0.0)
    # past local midnight (Irkutsk, 16:00 UTC): today's counts start again
    f = gauges.figures(T0 + 3 * 3600)
    assert f["lines"]["122"]["answered_today"] == 0 and f["lines"]["122"]["day"] == "2026-09-22"


def test_abandon_policy_and_ivr_menu_count():
    gauges = Gauges(node="pbx1", abandons="ignored", service_level_seconds=20)
    gauges.call_update(CallUpdate("changed", call("c1", legs=[leg("q", T0, answered=T0 + 5)])))
    gauges.call_update(CallUpdate("finished", call("c2", legs=[leg("q", T0, left=T0 + 60, abandoned=True)],
                                                   ended_at=T0 + 60, outcome="abandoned_queue")))
    gauges.menu_entered("s1", "122")
    gauges.menu_entered("s2", "122")
    gauges.call_update(CallUpdate("started", call("c9")))  # IVR reports the menu: AMI's view not added
    gauges.menu_finished(replace(menu_record(0), session_id="s1"))
    line = gauges.figures(T0 + 61)["lines"]["122"]
    # "ignored" leaves out only abandons within the threshold (the summary's definition): the
    # 60 s abandon still counts, so 1 answered in time of 2 queued.
    assert line["service_level_today"] == 50.0 and line["abandoned_today"] == 1 and line["in_menu"] == 1
    gauges.call_update(CallUpdate("finished", call("c3", legs=[leg("q", T0, left=T0 + 3, abandoned=True)],
                                                   ended_at=T0 + 3, outcome="abandoned_queue")))
    line = gauges.figures(T0 + 62)["lines"]["122"]
    assert line["service_level_today"] == round(100 * service_level(1, 1, 3, "ignored"), 1) == 50.0
    with pytest.raises(EventError, match="abandons: 'maybe'"):
        Gauges(node="pbx1", abandons="maybe")


def test_gauge_messages_are_retained_throttled_and_only_when_changed():
    gauges = Gauges.from_config(make_config(), interval=5)
    first = gauges.messages(T0)
    assert {m.topic for m in first} == {
        f"{PREFIX}/pbx1/gauges/lines/122", *(f"{PREFIX}/pbx1/gauges/queues/{q}" for q in ("q-default", "q-a", "q-b"))
    }
    for message in first:
        assert message.retain and schema_errors(json.loads(message.payload), SCHEMA) == []
    gauges.call_update(CallUpdate("changed", call("c2", legs=[leg("q-a", T0)])))
    assert gauges.messages(T0 + 1) == []  # within the interval
    changed = gauges.messages(T0 + 6)
    assert {m.topic.rsplit("/", 1)[1] for m in changed} == {"122", "q-a"}
    assert len(gauges.messages(T0 + 12, force=True)) == 4


def test_operator_gauges_from_the_auto_pause_capture():
    """The real-Asterisk auto-pause capture through both trackers: each operator's retained gauge and
    the queues' available / paused counts, every payload valid against the schema."""
    from asterisk_bridge.ami.frames import parse_frames

    frames = parse_frames((FIXTURES / "ami" / "members" / "auto-pause-ring-out.raw").read_bytes())
    snapshot = [f for f in frames if f.get("Event") == "QueueMember"]
    gauges = Gauges(node="pbx1", prefix=PREFIX, timezone="Asia/Irkutsk", interval=0)
    members, calls = MemberTracker(), CallTracker()
    stamps = [float(f["Timestamp"]) for f in frames if "Timestamp" in f]
    for update in members.reconcile(snapshot, stamps[0] - 1):
        if update.operator is not None:
            gauges.operator_update(update.operator)
    paused_at = None
    for frame in frames:
        for update in members.feed(frame, 0.0):
            if update.operator is not None:
                gauges.operator_update(update.operator)
        for update in calls.feed(frame, 0.0):
            gauges.call_update(update)
        if frame.get("Event") == "AgentConnect":
            paused_at = gauges.figures(float(frame["Timestamp"]))
    def topic(interface: str) -> str:
        return f"{PREFIX}/pbx1/gauges/operators/{interface.replace('/', '_')}"

    during = paused_at["queues"]
    assert (during["cc-117-where"]["operators_available"], during["cc-117-where"]["operators_paused"]) == (0, 1)
    assert (during["cc-117-default"]["operators_available"], during["cc-117-default"]["operators_paused"]) == (0, 1)
    operator = paused_at["operators"]["Local/2205@operators/n"]
    assert (operator["state"], operator["reason"], [q["queue"] for q in operator["queues"]]) == (
        "paused", "Auto-Pause", ["cc-117-default", "cc-117-where"])
    assert paused_at["operators"]["Local/1205@operators/n"]["state"] == "on_call"
    messages = {m.topic: json.loads(m.payload) for m in gauges.messages(stamps[-1] + 1, force=True)}
    for payload in messages.values():
        assert schema_errors(payload, SCHEMA) == [], payload
    answered = messages[topic("Local/1205@operators/n")]
    assert (answered["name"], answered["state"], answered["calls_today"], answered["member_name"]) == (
        "Local_1205@operators_n", "available", 1, "Оператор 1205")
    back = messages[topic("Local/2205@operators/n")]
    assert (back["state"], back["reason"], back["calls_today"]) == ("available", None, 0)
    where = messages[f"{PREFIX}/pbx1/gauges/queues/cc-117-where"]
    assert (where["operators_available"], where["operators_paused"]) == (1, 0)


# -- the outbox (real SQLite) ----------------------------------------------------------------------

async def test_events_are_written_with_their_record_and_once(tmp_path):
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    async with Store(tmp_path / "calls.db") as store:
        record = menu_record(1)
        events = builder.menu_events(record)
        store.submit_menu(record, events=events)
        await store.save_menu(record, events=events)  # the same record again: its event stays one row
        assert await store.outbox_depth() == 1
        (row,) = await store.outbox_batch(10)
        assert (row.topic, row.payload, row.event_id) == (events[0].topic, events[0].payload, events[0].event_id)
        assert store._thread.db.execute("SELECT count(*) FROM menu_sessions").fetchone()[0] == 1
        assert await store.outbox_ack([row.id]) == 1 and await store.outbox_depth() == 0
        with pytest.raises(TypeError, match="events: expected a list of OutboxMessage, got OutboxMessage"):
            store.submit_menu(record, events=events[0])


async def test_outbox_bound_drops_the_oldest_counts_and_logs(tmp_path, caplog):
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    path = tmp_path / "calls.db"
    caplog.set_level(logging.WARNING, logger="asterisk_bridge.store.outbox")
    async with Store(path, outbox_max=5) as store:
        records = [menu_record(n) for n in range(8)]
        for record in records:
            store.submit_menu(record, events=builder.menu_events(record))
            await store.flush(5)
        rows = await store.outbox_batch(100)
        assert [json.loads(r.payload)["session_id"] for r in rows] == [r.session_id for r in records[3:]]
        assert await store.outbox_dropped() == 3
    assert "MQTT outbox full (5 events, mqtt.outbox_max): dropped the 1 oldest" in caplog.text
    async with Store(path, outbox_max=5) as store:  # the count survives a restart
        assert (await store.outbox_depth(), await store.outbox_dropped()) == (5, 3)
    with pytest.raises(ValueError, match="outbox_max must be a whole number >= 1, got 0"):
        Store(path, outbox_max=0)


# -- a real broker --------------------------------------------------------------------------------

class Mosquitto:
    """One mosquitto process on a loopback port; stop() is SIGTERM (it saves its sessions)."""

    def __init__(self, workdir: Path, *, port: int | None = None, persistence=False, password_file=None):
        binary = mosquitto_binary()
        if binary is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto); MQTT delivery tests need a broker")
        self.binary, self.workdir, self.port = binary, workdir, port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        # run as whoever runs the tests: a root mosquitto would drop to user "mosquitto", which
        # cannot read pytest's private temp directories
        lines = [f"listener {self.port} 127.0.0.1", f"user {getpass.getuser()}", "log_dest stderr",
                 "log_type error", "max_queued_messages 10000"]
        if password_file:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines += ["allow_anonymous true"]
        lines += (["persistence true", f"persistence_location {workdir}/", "autosave_interval 0"]
                  if persistence else ["persistence false"])
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"mosquitto exited: {self.proc.stderr.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.01)
        pytest.fail(f"mosquitto did not listen on port {self.port} within 5 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


class Subscriber:
    """A wallboard: persistent session, QoS 1, reconnects like the docs say."""

    def __init__(self, port: int, topic: str, identifier: str | None = None):
        self.port, self.topic = port, topic
        self.identifier = identifier or f"wallboard-{uuid.uuid4().hex[:8]}"
        self.messages: list[aiomqtt.Message] = []
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.identifier,
                                          clean_session=False) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for message in client.messages:
                        self.messages.append(message)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def payloads(self, part: str = "/calls/") -> list[dict]:
        """JSON payloads of the messages whose topic contains ``part`` (status is plain text)."""
        return [json.loads(m.payload) for m in self.messages if part in str(m.topic)]

    async def wait_for(self, count: int, part: str = "/calls/", timeout: float = 8.0, *,
                       distinct: bool = False) -> list[dict]:
        """Wait for ``count`` messages (``distinct``: events, a redelivered one counted once: QoS 1
        delivers at least once, and a broker restart may deliver an event twice)."""
        def received() -> int:
            payloads = self.payloads(part)
            return len({p["event_id"] for p in payloads}) if distinct else len(payloads)

        async with asyncio.timeout(timeout):
            while received() < count:
                await asyncio.sleep(0.02)
        return self.payloads(part)


@asynccontextmanager
async def subscribed(port: int, topic: str, identifier: str | None = None):
    subscriber = Subscriber(port, topic, identifier)
    task = asyncio.create_task(subscriber.run())
    try:
        async with asyncio.timeout(5):
            await subscriber.subscribed.wait()
        yield subscriber
    finally:
        task.cancel()
        await asyncio.wait([task])


def publisher_for(port: int, store: Store, **kwargs) -> MQTTPublisher:
    config = make_config(port=port, **kwargs.pop("mqtt", {}))
    kwargs.setdefault("reconnect_initial", 0.05)
    kwargs.setdefault("reconnect_max", 0.4)
    return MQTTPublisher(config, store, **kwargs)


async def wait_until(predicate, timeout: float = 8.0, what: str = "condition"):
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.02)


def submit_menus(store: Store, builder: CallEvents, numbers) -> list[str]:
    ids = []
    for n in numbers:
        record = menu_record(n)
        events = builder.menu_events(record)
        store.submit_menu(record, events=events)
        ids += [e.event_id for e in events]
    return ids


async def test_published_events_arrive_in_order_with_status_and_retained_gauges(broker, tmp_path):
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    gauges = Gauges.from_config(make_config(), interval=0)
    async with Store(tmp_path / "calls.db") as store, subscribed(broker.port, f"{PREFIX}/#") as wallboard:
        publisher = publisher_for(broker.port, store, gauges=gauges, gauge_interval=0.05, clock=lambda: T0 + 500)
        await publisher.start()
        record = menu_record(7)
        expected = builder.menu_events(record)
        store.submit_menu(record, events=expected)
        # an operator logged in to q-a already paused for lunch (as the real QueueAdd with Paused does)
        members = MemberTracker()
        for update in members.feed({
            "Event": "QueueMemberAdded", "Queue": "q-a", "Interface": "PJSIP/1007", "MemberName": "Оператор 7",
            "StateInterface": "PJSIP/1007", "Membership": "dynamic", "Penalty": "0", "CallsTaken": "0",
            "LastCall": "0", "LastPause": str(int(T0)), "LoginTime": str(int(T0)), "InCall": "0", "Status": "1",
            "Paused": "1", "PausedReason": "обед", "Wrapuptime": "0", "Timestamp": f"{T0 + 0.25:.6f}"}, 0.0):
            if update.operator is not None:
                gauges.operator_update(update.operator)
        for update in tracked_updates(ANSWERED, ABANDONED):
            gauges.call_update(update)
            # call events ride with their call record (submit_call); a menu record carries them here
            events = builder.call_events(update)
            store.submit_menu(replace(menu_record(8), session_id=f"carrier-{len(expected)}"), events=events)
            expected += events
        received = await wallboard.wait_for(len(expected))
        assert [p["event_id"] for p in received] == [m.event_id for m in expected]
        assert [str(m.topic) for m in wallboard.messages if "/calls/" in str(m.topic)] == [m.topic for m in expected]
        # the broker's acknowledgements may reach the publisher after the subscriber had the events
        await wait_until(lambda: _true(publisher.published == len(expected)))
        assert publisher.connected
        for payload in received:
            assert schema_errors(payload, SCHEMA) == []
        await wait_until(lambda: _equals(store.outbox_depth(), 0))
        await publisher.stop()
    # a late subscriber still sees the retained status and gauges
    async with subscribed(broker.port, f"{PREFIX}/pbx1/+") as late, subscribed(
        broker.port, f"{PREFIX}/pbx1/gauges/#"
    ) as board:
        await wait_until(lambda: _true(late.messages))
        assert [m.payload for m in late.messages] == [b"offline"] and late.messages[0].retain
        gauge_payloads = await board.wait_for(5, part="/gauges/")
        by_name = {p["name"]: p for p in gauge_payloads}
        assert by_name["122"]["answered_today"] == 1 and by_name["122"]["abandoned_today"] == 1
        for payload in gauge_payloads:
            assert schema_errors(payload, SCHEMA) == []
        # the operator's own retained gauge, and the queue's operators counted
        retained = {str(m.topic): json.loads(m.payload) for m in board.messages if m.retain}
        operator = retained[f"{PREFIX}/pbx1/gauges/operators/PJSIP_1007"]
        assert (operator["kind"], operator["state"], operator["reason"], operator["member_name"]) == (
            "operator", "paused", "обед", "Оператор 7")
        assert (operator["since"], [q["queue"] for q in operator["queues"]]) == (
            "2026-09-21T14:13:20.250Z", ["q-a"])  # the login, seen paused
        queue = retained[f"{PREFIX}/pbx1/gauges/queues/q-a"]
        assert (queue["operators_available"], queue["operators_paused"]) == (0, 1)


async def _true(value) -> bool:
    return bool(value)


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_broker_restarted_during_a_burst_every_event_arrives_in_order(tmp_path):
    broker = Mosquitto(tmp_path / "broker", persistence=True).start()
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    try:
        async with Store(tmp_path / "calls.db") as store, subscribed(
            broker.port, f"{PREFIX}/pbx1/calls/#", identifier="wallboard-1"
        ) as wallboard:
            publisher = publisher_for(broker.port, store)
            await publisher.start()
            expected = submit_menus(store, builder, range(0, 150))
            await wallboard.wait_for(10)
            broker.stop()  # mid-burst: some events delivered, some in flight, most waiting
            expected += submit_menus(store, builder, range(150, 300))  # calls go on while it is away
            await wait_until(lambda: _true(not publisher.connected))
            await store.flush(5)
            assert await store.outbox_depth() > 0
            broker.start()
            received = await wallboard.wait_for(len(set(expected)), timeout=10, distinct=True)
            ids = [p["event_id"] for p in received]
            assert list(dict.fromkeys(ids)) == expected  # every event, in order
            # QoS 1 is at-least-once: only a message in flight at the stop may come twice
            assert len(ids) - len(expected) <= 2
            await wait_until(lambda: _equals(store.outbox_depth(), 0))
            assert publisher.connects == 2
            await publisher.stop()
    finally:
        broker.stop()


async def test_bridge_restarted_with_a_full_outbox_delivers_after_start_and_resends_nothing(broker, tmp_path):
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    path = tmp_path / "calls.db"
    async with subscribed(broker.port, f"{PREFIX}/pbx1/calls/#") as wallboard:
        async with Store(path) as store:  # MQTT not started yet: events wait in the outbox
            first = submit_menus(store, builder, range(0, 20))
        async with Store(path) as store:
            assert await store.outbox_depth() == 20
            async with publisher_for(broker.port, store) as publisher:
                await wallboard.wait_for(20)
                await wait_until(lambda: _equals(store.outbox_depth(), 0))
                second = submit_menus(store, builder, range(20, 25))
                await wallboard.wait_for(25)
            assert publisher.published == 25
        async with Store(path) as store, publisher_for(broker.port, store) as publisher:
            await wait_until(lambda: _true(publisher.connected))
            third = submit_menus(store, builder, range(25, 27))
            await wallboard.wait_for(27)
            await asyncio.sleep(0.2)  # room for a wrong re-send to show up
        assert [p["event_id"] for p in wallboard.payloads()] == first + second + third


def mosquitto_passwd(path: Path, user: str, password: str) -> None:
    tool = shutil.which("mosquitto_passwd") or (
        "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
    )
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed; cannot create the broker's password file")
    subprocess.run([tool, "-c", "-b", str(path), user, password], check=True, capture_output=True)


async def test_wrong_password_is_a_clear_error_and_nothing_is_lost(tmp_path, caplog):
    mosquitto_passwd(tmp_path / "passwd", "bridge", "right-one")
    broker = Mosquitto(tmp_path / "broker", password_file=tmp_path / "passwd").start()
    builder = CallEvents(node="pbx1", prefix=PREFIX)
    caplog.set_level(logging.DEBUG, logger="asterisk_bridge.mqtt.publisher")
    try:
        async with Store(tmp_path / "calls.db") as store:
            expected = submit_menus(store, builder, range(5))
            await store.flush(5)
            wrong = publisher_for(broker.port, store, mqtt={"username": "bridge", "password": "wrong-one"},
                                  reconnect_initial=0.1, reconnect_max=0.2)
            async with wrong:
                await asyncio.sleep(0.6)
                assert not wrong.connected and wrong.connects == 0
                assert 2 <= wrong.attempts <= 6  # backs off, does not spin
            assert "refused the connection" in wrong.last_error and "mqtt.username" in wrong.last_error
            errors = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(errors) == 1  # said once, clearly; the retries are DEBUG
            assert re.search(r"refused the connection: .*(authori[sz]ed|user name or password)", errors[0].message)
            assert "5 events wait in the outbox" in errors[0].message and "wrong-one" not in caplog.text
            assert await store.outbox_depth() == 5
            right = publisher_for(broker.port, store, mqtt={"username": "bridge", "password": "right-one"})
            async with right:
                await wait_until(lambda: _equals(store.outbox_depth(), 0))
            assert right.published == 5 and len(expected) == 5
    finally:
        broker.stop()
