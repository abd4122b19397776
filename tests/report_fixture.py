"""A hand-checked contact-center day for the report tests (local day 2026-11-25, Asia/Irkutsk = UTC+8).

The local day is [2026-11-24T16:00Z, 2026-11-25T16:00Z). Every outcome occurs; the calls that
waited in a queue have their queue legs and rings, three operators their sessions and pauses. The
expected figures are worked out by hand in tests/test_report.py next to the asserts.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from asterisk_bridge.store.schema import apply_migrations

CONFIG_TOML = """
node = "pbx1"
timezone = "Asia/Irkutsk"
[summary]
service_level_seconds = 20
abandons = "{abandons}"
language = "{language}"
[database]
path = "{db}"
[queues]
q-default = "Общая"
q-housing = "ЖКХ"
q-health = "Здоровье"
[[lines]]
number = "122"
name = "Линия 122"
default_queue = "q-default"
menu_prompt = "cc/menu"
invalid_prompt = "cc/invalid"
[[lines.topics]]
key = "1"
id = "housing"
name = "ЖКХ"
queue = "q-housing"
info_prompt = "cc/info-housing"
[[lines.topics]]
key = "2"
id = "health"
name = "Здравоохранение"
queue = "q-health"
menu_prompt = "cc/health"
  [[lines.topics.topics]]
  key = "1"
  id = "health-drugs"
  name = "Лекарства"
  queue = "q-health"
  info_prompt = "cc/drugs"
[[lines.topics]]
key = "3"
id = "hours"
name = "Режим работы"
self_service = true
info_prompt = "cc/hours"
after_info = "end"
[[lines]]
number = "117"
name = "Линия 117"
default_queue = "q-default"
menu_prompt = "cc/menu117"
invalid_prompt = "cc/invalid"
[[lines.topics]]
key = "1"
id = "conditions"
name = "Условия службы"
queue = "q-default"
info_prompt = "cc/cond"
"""

HOSTILE = "<script>alert(1)</script>"


def write_config(tmp: Path, db: Path, *, abandons: str = "against", language: str = "ru", extra: str = "") -> Path:
    path = tmp / "asterisk-bridge.toml"
    text = CONFIG_TOML.format(abandons=abandons, language=language, db=db.as_posix())
    path.write_text(extra + text, encoding="utf-8")
    return path


def call(n: int, started: str, outcome: str | None, *, line: str = "122", wait: float | None = None,
         talk: float | None = None, topic: str | None = None, age: str = "unknown", complete: int = 1,
         number: str = "79161234567", name: str | None = "Иван Петров", queue: str = "q-housing") -> dict:
    return {
        "linkedid": f"1795600000.{n}", "uniqueid": f"1795600000.{n}", "node": "pbx1",
        "channel": f"PJSIP/trunk-{n:08x}", "line": line, "caller_number": number, "caller_name": name,
        "started_at": started, "ended_at": started, "ivr_result": "topic" if topic else None, "topic": topic,
        "age_group": age, "queue": queue if wait is not None else None, "queued_seconds": wait,
        "answered_at": started if outcome == "answered" else None, "operator": "Оператор 1" if talk else None,
        "talk_seconds": talk, "outcome": outcome, "complete": complete, "source": "ami", "updated_at": started,
    }


def menu(n: int, started: str, result: str, *, line: str = "122", topic: str | None = None,
         age: str = "unknown", linkedid: str | None = None) -> dict:
    return {
        "session_id": f"{n:032x}", "node": "pbx1", "line": line, "caller_number": "79160000000",
        "caller_name": None, "channel": f"PJSIP/trunk-m{n}", "uniqueid": linkedid, "linkedid": linkedid,
        "agi_script": f"ivr?line={line}", "started_at": started, "ended_at": started, "duration_ms": 5000,
        "result": result, "topic": topic, "queue": None, "age_group": age, "ended_in": line,
        "hung_up": int(result == "hangup"), "error": None, "step_count": 3,
    }


# The day (2026-11-25 local). Comments: local time.
DAY_CALLS = [
    call(1, "2026-11-24T16:00:00.000Z", "answered", wait=10, talk=100, topic="housing", age="30-40"),  # 00:00
    call(2, "2026-11-25T01:10:00.000Z", "answered", wait=30, talk=200, topic="housing", age="40-60"),  # 09:10
    call(3, "2026-11-25T01:20:00.000Z", "answered", wait=20, talk=60, topic="health-drugs", age="over-60",
         queue="q-health"),
    call(4, "2026-11-25T01:30:00.000Z", "abandoned_queue", wait=15, topic="housing"),
    call(5, "2026-11-25T02:05:00.000Z", "abandoned_queue", wait=45, topic="health-drugs", queue="q-health"),  # 10:05
    call(6, "2026-11-25T02:10:00.000Z", "short_abandon", wait=3),
    call(7, "2026-11-25T02:20:00.000Z", "abandoned_menu"),
    call(8, "2026-11-25T02:30:00.000Z", "selfservice", topic="hours"),
    call(9, "2026-11-25T03:00:00.000Z", "queue_timeout", wait=300, topic="housing",
         name="+7 916 123-45-67"),  # 11:00; a trunk that sends the number as the name
    call(10, "2026-11-25T03:30:00.000Z", "unknown_end", topic="housing", complete=0),
    call(11, "2026-11-25T04:00:00.000Z", "failed"),  # 12:00
    call(12, "2026-11-25T15:50:00.000Z", None, complete=0),  # 23:50, still in progress
    call(13, "2026-11-25T01:00:00.000Z", "answered", line="117", wait=5, talk=50, topic="conditions", age="under-30",
         queue="q-default"),
    call(14, "2026-11-25T01:40:00.000Z", "queue_full", line="117", topic="conditions"),
    call(15, "2026-11-25T15:59:59.999Z", "answered", line="117", wait=25, talk=40, topic="conditions",
         age="40-60", name=HOSTILE, queue="q-default"),  # 23:59:59.999; no menu session: the bridge was down
]
OTHER_CALLS = [
    call(20, "2026-11-24T15:59:59.999Z", "answered", wait=5, talk=30),  # 2026-11-24 23:59 local
    call(21, "2026-11-25T16:00:00.000Z", "answered", wait=5, talk=30),  # 2026-11-26 00:00 local
    call(22, "2026-11-18T02:00:00.000Z", "answered", wait=5, talk=30),  # a week before
    call(23, "2026-11-18T03:00:00.000Z", "abandoned_queue", wait=50),
    call(24, "2026-10-10T03:00:00.000Z", "answered", wait=5, talk=30),  # first record
]
DAY_CALLS[11]["queue"] = "q-default"  # call 12 is still waiting there
DAY_MENUS = [
    menu(1, "2026-11-25T05:00:00.000Z", "topic", topic="housing", age="under-30", linkedid="gap.1"),  # AMI gap
    menu(2, "2026-11-24T16:00:00.100Z", "topic", topic="housing", linkedid="1795600000.1"),  # = call 1
]
# the menu ran for every other call that reached a queue, but call 15 (the bridge was down)
DAY_MENUS += [menu(100 + n, DAY_CALLS[n - 1]["started_at"], "topic", line=DAY_CALLS[n - 1]["line"],
                   topic=DAY_CALLS[n - 1]["topic"], linkedid=DAY_CALLS[n - 1]["linkedid"])
              for n in (2, 3, 4, 5, 6, 9, 12, 13)]

P1, P2, P117 = ("PJSIP/1001", "Оператор 1"), ("PJSIP/1002", "Оператор 2"), ("PJSIP/1117", "Оператор 117")


def leg(n: int, queue: str, *, answered_by: tuple[str, str] | None = None, talk: float | None = None,
        abandoned: bool = False, left_reason: str | None = None, interface: bool = True) -> dict:
    """Call n's queue leg (its wait and start from the call row)."""
    c = DAY_CALLS[n - 1]
    return {"linkedid": c["linkedid"], "seq": 0, "queue": queue, "joined_at": c["started_at"],
            "left_at": None if left_reason == "waiting" else c["started_at"], "position": 1,
            "wait_seconds": c["queued_seconds"], "answered_by": answered_by[1] if answered_by else None,
            "answered_interface": answered_by[0] if answered_by and interface else None,
            "answered_at": c["started_at"] if answered_by else None, "talk_seconds": talk,
            "completed_by": "agent" if answered_by else None, "abandoned": int(abandoned),
            "left_reason": None if left_reason == "waiting" else left_reason or (
                "answered" if answered_by else "abandoned" if abandoned else None), "ring_attempts": 0}


DAY_LEGS = [
    leg(1, "q-housing", answered_by=P1, talk=100),
    leg(2, "q-housing", answered_by=P2, talk=200),
    leg(3, "q-health", answered_by=P1, talk=60, interface=False),  # filled from queue_log: the name only
    leg(4, "q-housing", abandoned=True),
    leg(5, "q-health", abandoned=True),
    leg(6, "q-housing", abandoned=True),
    leg(9, "q-housing", left_reason="timeout"),
    leg(12, "q-default", left_reason="waiting"),
    leg(13, "q-default", answered_by=P117, talk=50),
    leg(15, "q-default", answered_by=P117, talk=40),
]


def ring(n: int, seq: int, who: tuple[str, str], seconds: float | None, result: str | None) -> dict:
    c = DAY_CALLS[n - 1]
    return {"linkedid": c["linkedid"], "leg": 0, "seq": seq, "queue": c["queue"], "member": who[1],
            "interface": who[0], "called_at": c["started_at"], "ring_seconds": seconds, "result": result}


DAY_RINGS = [
    ring(1, 0, P1, 4.0, "answered"),
    ring(2, 0, P1, 15.0, "noanswer"), ring(2, 1, P2, 6.0, "answered"),  # Оператор 1 let it ring out
    ring(4, 0, P2, None, None),  # cut short by the abandon
    ring(9, 0, P2, 15.0, "noanswer"),  # ... and Оператор 2 was auto-paused
    ring(13, 0, P117, 3.0, "answered"), ring(15, 0, P117, 2.0, "answered"),
]


def session(who: tuple[str, str], queue: str, logged_in: str, logged_out: str | None) -> dict:
    return {"interface": who[0], "queue": queue, "logged_in_at": logged_in, "member_name": who[1],
            "membership": "dynamic", "login_seen": 1, "logged_out_at": logged_out, "logout_seen": int(bool(logged_out)),
            "node": "pbx1"}


def pause(who: tuple[str, str], queue: str, started: str, ended: str | None, reason: str) -> dict:
    return {"interface": who[0], "queue": queue, "started_at": started, "member_name": who[1], "reason": reason,
            "auto": int(reason == "Auto-Pause"), "start_seen": 1, "ended_at": ended, "end_seen": int(bool(ended)),
            "node": "pbx1"}


DAY_SESSIONS = [
    session(P1, "q-housing", "2026-11-24T15:00:00.000Z", "2026-11-25T04:00:00.000Z"),  # from the day before
    session(P1, "q-default", "2026-11-25T00:00:00.000Z", "2026-11-25T04:00:00.000Z"),
    session(P2, "q-housing", "2026-11-25T01:00:00.000Z", None),  # still logged in
    session(P117, "q-default", "2026-11-25T00:30:00.000Z", "2026-11-25T02:00:00.000Z"),
    session(P117, "q-default", "2026-11-25T15:00:00.000Z", None),
]
DAY_PAUSES = [
    pause(P1, "q-housing", "2026-11-25T01:45:00.000Z", "2026-11-25T01:55:00.000Z", "перерыв"),  # q-default open
    pause(P1, "q-housing", "2026-11-25T02:40:00.000Z", "2026-11-25T03:10:00.000Z", "обед"),  # in both queues
    pause(P1, "q-default", "2026-11-25T02:40:00.100Z", "2026-11-25T03:10:00.000Z", "обед"),
    pause(P2, "q-housing", "2026-11-25T03:00:15.000Z", "2026-11-25T03:20:00.000Z", "Auto-Pause"),
]


def make_db(path: Path, calls: list[dict] | None = None, menus: list[dict] | None = None, **tables: list[dict]) -> Path:
    """A migrated database with these rows; ``tables``: any other table's rows by its name."""
    db = Database(path)
    apply_migrations(db)
    if calls:
        db["calls"].insert_all(calls)
    if menus:
        db["menu_sessions"].insert_all(menus)
    for table, rows in tables.items():
        if rows:
            db[table].insert_all(rows)
    db.conn.close()
    return path


def day_db(path: Path) -> Path:
    return make_db(path, DAY_CALLS + OTHER_CALLS, DAY_MENUS, queue_legs=DAY_LEGS, ring_attempts=DAY_RINGS,
                   operator_sessions=DAY_SESSIONS, operator_pauses=DAY_PAUSES)
