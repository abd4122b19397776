"""A hand-checked contact-center day for the report tests (local day 2026-11-25, Asia/Irkutsk = UTC+8).

The local day is [2026-11-24T16:00Z, 2026-11-25T16:00Z). Every outcome occurs; the expected
figures are worked out by hand in tests/test_report.py next to the asserts.
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
         number: str = "79161234567", name: str | None = "Иван Петров") -> dict:
    return {
        "linkedid": f"1795600000.{n}", "uniqueid": f"1795600000.{n}", "node": "pbx1",
        "channel": f"PJSIP/trunk-{n:08x}", "line": line, "caller_number": number, "caller_name": name,
        "started_at": started, "ended_at": started, "ivr_result": "topic" if topic else None, "topic": topic,
        "age_group": age, "queue": "q-housing" if wait is not None else None, "queued_seconds": wait,
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
    call(3, "2026-11-25T01:20:00.000Z", "answered", wait=20, talk=60, topic="health-drugs", age="over-60"),
    call(4, "2026-11-25T01:30:00.000Z", "abandoned_queue", wait=15, topic="housing"),
    call(5, "2026-11-25T02:05:00.000Z", "abandoned_queue", wait=45, topic="health-drugs"),  # 10:05
    call(6, "2026-11-25T02:10:00.000Z", "short_abandon", wait=3),
    call(7, "2026-11-25T02:20:00.000Z", "abandoned_menu"),
    call(8, "2026-11-25T02:30:00.000Z", "selfservice", topic="hours"),
    call(9, "2026-11-25T03:00:00.000Z", "queue_timeout", wait=300, topic="housing",
         name="+7 916 123-45-67"),  # 11:00; a trunk that sends the number as the name
    call(10, "2026-11-25T03:30:00.000Z", "unknown_end", topic="housing", complete=0),
    call(11, "2026-11-25T04:00:00.000Z", "failed"),  # 12:00
    call(12, "2026-11-25T15:50:00.000Z", None, complete=0),  # 23:50, still in progress
    call(13, "2026-11-25T01:00:00.000Z", "answered", line="117", wait=5, talk=50, topic="conditions", age="under-30"),
    call(14, "2026-11-25T01:40:00.000Z", "queue_full", line="117", topic="conditions"),
    call(15, "2026-11-25T15:59:59.999Z", "answered", line="117", wait=25, talk=40, topic="conditions",
         age="40-60", name=HOSTILE),  # 23:59:59.999
]
OTHER_CALLS = [
    call(20, "2026-11-24T15:59:59.999Z", "answered", wait=5, talk=30),  # 2026-11-24 23:59 local
    call(21, "2026-11-25T16:00:00.000Z", "answered", wait=5, talk=30),  # 2026-11-26 00:00 local
    call(22, "2026-11-18T02:00:00.000Z", "answered", wait=5, talk=30),  # a week before
    call(23, "2026-11-18T03:00:00.000Z", "abandoned_queue", wait=50),
    call(24, "2026-10-10T03:00:00.000Z", "answered", wait=5, talk=30),  # first record
]
DAY_MENUS = [
    menu(1, "2026-11-25T05:00:00.000Z", "topic", topic="housing", age="under-30", linkedid="gap.1"),  # AMI gap
    menu(2, "2026-11-24T16:00:00.100Z", "topic", topic="housing", linkedid="1795600000.1"),  # = call 1
]


def make_db(path: Path, calls: list[dict] | None = None, menus: list[dict] | None = None) -> Path:
    db = Database(path)
    apply_migrations(db)
    if calls:
        db["calls"].insert_all(calls)
    if menus:
        db["menu_sessions"].insert_all(menus)
    db.conn.close()
    return path


def day_db(path: Path) -> Path:
    return make_db(path, DAY_CALLS + OTHER_CALLS, DAY_MENUS)
