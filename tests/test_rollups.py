"""Rollups: on random call sets every figure read from the rollups equals the figure read from the rows.

Each case is a contact center in one time zone over a week around a DST change (or a half-hour
zone): calls written as they progress (a first row, a queue leg with rings, the end; a few move
their start, get an operator's age group later, or are deleted), menu sessions (AMI gaps, several
sessions for one call, sessions without a linkedid, sessions saved again), operators' sessions and
pauses (open ones, one pause in two queues, a pause that lasted no time), all through the store's
own SQL (``store/writes.py``, as its writer thread runs it). The rollups are built halfway, in small
chunks while calls keep being written, then kept by the triggers; privacy retention runs; the
thresholds change and they are built again. After each stage the summary and ``stats`` of several
periods are compared, every field, to the figures computed from the rows alone.
"""

from __future__ import annotations

import os
import random
import sqlite3
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlite_utils import Database

from report_fixture import CONFIG_TOML

from asterisk_bridge.calls.model import HANGUP_BY, OUTCOMES
from asterisk_bridge.config import load_config
from asterisk_bridge.localdays import day_start
from asterisk_bridge.menu.flow import Step
from asterisk_bridge.menu.record import MenuRecord
from asterisk_bridge.report.build import build_figures, rollup_settings
from asterisk_bridge.store import maintenance, operator_days, rollups
from asterisk_bridge.store import rollup_queries as ru
from asterisk_bridge.store.report_queries import CALL_BUCKET_SQL, MENU_BUCKET_SQL, MENU_BUCKETS
from asterisk_bridge.store.rollup_queries import call_windows
from asterisk_bridge.store.call_search import CallFilter, search_calls
from asterisk_bridge.store.operator_rows import OperatorRow
from asterisk_bridge.store.rows import CALL_COLUMNS, CallRows, OperatorInputRow
from asterisk_bridge.store.schema import apply_migrations
from asterisk_bridge.store.writes import write_batch
from asterisk_bridge.utc import utc_iso

#: zone -> a day of the week looked at (a DST change, or none: a half-hour zone and the default zone)
ZONES = {
    "Europe/Berlin": date(2026, 3, 29),  # 02:00 -> 03:00; the week spans March and April
    "America/New_York": date(2026, 11, 1),  # 02:00 -> 01:00; the week spans October and November
    "Australia/Adelaide": date(2026, 4, 5),  # +10:30 -> +09:30
    "Asia/Kolkata": date(2026, 6, 30),  # +05:30 all year; the week spans June and July
    "Asia/Irkutsk": date(2026, 11, 25),
}
LINES = ["122", "122", "122", "117", None]
TOPICS = ["housing", "health-drugs", "hours", "conditions", None]
QUEUES = ["q-default", "q-housing", "q-health", "q-other"]
AGES = ["under-30", "30-40", "40-60", "over-60", "unknown"]
OPERATORS = [("PJSIP/1001", "Оператор 1"), ("PJSIP/1002", "Оператор 2"), ("Local/1117@agents", "Оператор 117")]


def config_text(db: Path, tz: str, *, threshold: int = 20, short: float = 5.0) -> str:
    text = CONFIG_TOML.format(abandons="against", language="ru", db=db.as_posix())
    text = text.replace('timezone = "Asia/Irkutsk"', f'timezone = "{tz}"')
    return text.replace("[summary]\n", f"[ami]\nshort_abandon = {short}\n[summary]\nservice_level_seconds = {threshold}\n"
                        ).replace("service_level_seconds = 20\n", "", 1)


class Scenario:
    """Random writes for one zone, as the store would make them, in a random but causal order."""

    def __init__(self, rng: random.Random, tz: str, middle: date):
        self.rng, self.tz = rng, tz
        zone = ZoneInfo(tz)
        self.first, self.last = middle - timedelta(days=3), middle + timedelta(days=3)
        self.start = day_start(self.first, zone).timestamp()
        self.end = day_start(self.last + timedelta(days=1), zone).timestamp()
        # the instants where a mistake shows: local midnights and the zone's offset changes
        self.edges = [day_start(self.first + timedelta(days=n), zone).timestamp() for n in range(8)]
        at = self.start
        while at < self.end:
            if datetime.fromtimestamp(at, zone).utcoffset() != datetime.fromtimestamp(at + 900, zone).utcoffset():
                self.edges.append(at + 900)
            at += 900
        self.writes: list[list[object]] = []  # per thing: its writes, in order

    def moment(self) -> float:
        if self.rng.random() < 0.08:  # the weeks before: whole months in "since the first record"
            return round(self.rng.uniform(self.start - 62 * 86400, self.start), 3)
        if self.rng.random() < 0.25:
            return self.rng.choice(self.edges) + self.rng.choice([-0.001, 0.0, 0.001, -30.0, 30.0])
        return round(self.rng.uniform(self.start, self.end), 3)

    def seconds(self, top: float) -> float:
        return self.rng.choice([0.0, 3.0, 20.0, 20.000001, round(self.rng.uniform(0, top), 6)])

    def calls(self, n: int) -> list[str]:
        ids = []
        for i in range(n):
            linkedid = f"17{self.rng.randrange(10**8):08d}.{i}"
            ids.append(linkedid)
            self.writes.append(self.call_versions(linkedid))
        return ids

    def call_versions(self, linkedid: str) -> list[object]:
        rng = self.rng
        started = self.moment()
        base = {c: None for c in CALL_COLUMNS}
        base.update(linkedid=linkedid, uniqueid=linkedid, node="pbx1", line=rng.choice(LINES), started_at=utc_iso(started),
                    caller_number=f"7916{rng.randrange(10**7):07d}", caller_name="Иван", age_group="unknown",
                    complete=0, source="ami", updated_at=utc_iso(started))
        versions = [CallRows(linkedid, dict(base), ())]
        legs, attempts = [], []
        for seq in range(rng.choice([0, 1, 1, 1, 2])):
            queue = rng.choice(QUEUES + [None])
            answered = rng.random() < 0.6
            who = rng.choice(OPERATORS)
            leg = {"linkedid": linkedid, "seq": seq, "queue": queue, "joined_at": utc_iso(started + 10),
                   "left_at": rng.choice([None, utc_iso(started + 30)]), "position": 1,
                   "wait_seconds": rng.choice([None, self.seconds(400)]), "answered_by": who[1] if answered else None,
                   "answered_interface": rng.choice([who[0], who[0], None]) if answered else None,
                   "answered_at": utc_iso(started + 30) if answered else None,
                   "talk_seconds": rng.choice([None, self.seconds(900)]) if answered else None,
                   "completed_by": None, "abandoned": int(not answered and rng.random() < 0.5),
                   "left_reason": rng.choice([None, "ended", "abandoned", "timeout", "answered"]), "ring_attempts": 0}
            legs.append(leg)
            for n in range(rng.choice([0, 1, 2, 3])):
                ringer = rng.choice(OPERATORS)
                attempts.append((linkedid, seq, n, queue, ringer[1], rng.choice([ringer[0], None]),
                                 utc_iso(started + 12), rng.choice([None, self.seconds(20)]),
                                 rng.choice([None, "answered", "noanswer"])))
        waiting = dict(base, queue=rng.choice(QUEUES), topic=rng.choice(TOPICS), ivr_result="topic",
                       age_group=rng.choice(AGES))
        versions.append(CallRows(linkedid, waiting, tuple(dict(leg, wait_seconds=None, answered_at=None) for leg in legs),
                                 tuple(attempts[: len(attempts) // 2])))
        final = dict(waiting, outcome=rng.choice([*OUTCOMES, None]), complete=rng.choice([0, 1, 1]),
                     queued_seconds=rng.choice([None, self.seconds(400)]),
                     talk_seconds=rng.choice([None, self.seconds(900)]), hangup_by=rng.choice([*HANGUP_BY, None]),
                     ended_at=utc_iso(started + 600), queue=rng.choice([*QUEUES, None]))
        versions.append(CallRows(linkedid, final, tuple(legs), tuple(attempts)))
        if rng.random() < 0.1:  # a later queue_log fill moves its start (another day, perhaps)
            moved = dict(final, started_at=utc_iso(self.moment()))
            versions.append(CallRows(linkedid, moved, tuple(legs), tuple(attempts)))
        if rng.random() < 0.15:  # the operator's age group arrives after the call
            versions.append(OperatorInputRow(linkedid, utc_iso(started + 700), rng.choice(AGES[:-1]), None))
        if rng.random() < 0.05:
            versions.append(("delete", linkedid))
        return versions

    def sessions(self, linkedids: list[str | None]) -> None:
        rng = self.rng
        for n, linkedid in enumerate(linkedids):
            started = self.moment()
            record = MenuRecord(
                session_id=f"{rng.randrange(16**12):012x}{n:04d}", node="pbx1", line=rng.choice(["122", "117"]),
                caller_number="79160000000", caller_name=None, channel="PJSIP/trunk", uniqueid=linkedid,
                linkedid=linkedid, agi_script="ivr", started_at=started, ended_at=started + 20,
                result=rng.choice(["topic", "operator", "selfservice", "timeout", "hangup", "error"]),
                topic=rng.choice(TOPICS), queue=rng.choice([*QUEUES, None]), age_group=rng.choice(AGES), ended_in="122",
                hung_up=False, steps=(Step(started, "prompt", "122", "cc/menu"), Step(started + 1, "key", "122", None, "1")))
            versions: list[object] = [record]
            if rng.random() < 0.15:  # saved again with another outcome (the upsert path)
                versions.append(MenuRecord(**{**_fields(record), "result": "hangup", "topic": rng.choice(TOPICS)}))
            self.writes.append(versions)

    def operators(self) -> None:
        rng = self.rng
        for interface, name in OPERATORS:
            for queue in ("q-default", "q-housing"):
                for _ in range(rng.randrange(1, 4)):
                    begin = self.moment()
                    end = begin + rng.uniform(600, 3 * 86400)
                    values = [interface, queue, utc_iso(begin), name, "dynamic", 1, None, 0, "pbx1"]
                    closed = list(values)
                    closed[6], closed[7] = utc_iso(end), 1
                    self.writes.append([OperatorRow("operator_sessions", tuple(values))]
                                       + ([OperatorRow("operator_sessions", tuple(closed))] if rng.random() < 0.8 else []))
            for _ in range(rng.randrange(2, 6)):
                begin = self.moment()
                reason = rng.choice(["обед", "перерыв", "Auto-Pause"])
                length = rng.choice([0.0, rng.uniform(1, 7200)])
                queues = ["q-default", "q-housing"] if rng.random() < 0.5 else [rng.choice(["q-default", "q-housing"])]
                for k, queue in enumerate(queues):  # one pause in two queues: the second event 0.1 s later
                    at = begin + 0.1 * k
                    values = [interface, queue, utc_iso(at), name, reason, int(reason == "Auto-Pause"), 1, None, 0, "pbx1"]
                    closed = list(values)
                    closed[7], closed[8] = utc_iso(at + length), 1
                    self.writes.append([OperatorRow("operator_pauses", tuple(values))]
                                       + ([OperatorRow("operator_pauses", tuple(closed))] if rng.random() < 0.85 else []))

    def ordered(self) -> list[object]:
        """Every write, each thing's own in order, things interleaved at random."""
        queues = [list(w) for w in self.writes]
        out = []
        while queues:
            chosen = self.rng.randrange(len(queues))
            out.append(queues[chosen].pop(0))
            if not queues[chosen]:
                queues.pop(chosen)
        return out


def _fields(record: MenuRecord) -> dict:
    return {f: getattr(record, f) for f in record.__dataclass_fields__}


def apply(conn: sqlite3.Connection, writes: list[object]) -> None:
    for item in writes:
        with conn:
            if isinstance(item, tuple):
                conn.execute("DELETE FROM calls WHERE linkedid = ?", [item[1]])
            else:
                write_batch(conn, [item], [()], 1000)  # type: ignore[list-item]


def compare(db: Path, cfg_path: Path, periods: list[tuple[date, date, str | None, bool]], now: float) -> None:
    cfg = load_config(cfg_path)
    conn = sqlite3.connect(db)
    try:
        for first, last, _, _ in periods:
            assert ru.serves(conn, rollup_settings(cfg), first, last), (first, last)
    finally:
        conn.close()
    for first, last, line, context in periods:
        kept = build_figures(db, cfg, first, last, line=line, context=context, now=now)
        rows = build_figures(db, cfg, first, last, line=line, context=context, now=now, rows=True)
        assert asdict(kept) == asdict(rows), (cfg.timezone, first, last, line, context)
        assert kept.to_json() == rows.to_json()


@pytest.mark.parametrize("tz", list(ZONES))
def test_rollups_equal_the_row_figures(tmp_path, tz):
    rng = random.Random(f"rollups {tz} {os.environ.get('ROLLUP_SEED', '')}")
    middle = ZONES[tz]
    scenario = Scenario(rng, tz, middle)
    linked = scenario.calls(70)
    gaps = [f"gap.{n}" for n in range(12)]
    scenario.sessions([*rng.sample(linked, 45), *gaps, *gaps[:4], gaps[0], *linked[:3], None, None, None])
    scenario.operators()
    writes = scenario.ordered()
    db = tmp_path / "calls.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = ON")
    apply_migrations(Database(conn))
    cfg_path = tmp_path / "asterisk-bridge.toml"
    cfg_path.write_text(config_text(db, tz), encoding="utf-8")
    settings = rollup_settings(load_config(cfg_path))

    # the first third written before the rollups exist, the second while they are built
    third = len(writes) // 3
    apply(conn, writes[:third])
    mid_now = day_start(middle, ZoneInfo(tz)).timestamp() + 3600
    rollups.reset(conn, settings, now=mid_now)
    building = writes[third: 2 * third]
    while not rollups.step(conn, chunk=7, now=mid_now).done:
        apply(conn, building[:5])
        building = building[5:]
    apply(conn, building + writes[2 * third:])
    assert rollups.read_state(conn).built

    week = (scenario.first, scenario.last)
    periods = [(middle, middle, None, True), (middle - timedelta(days=1), middle - timedelta(days=1), None, True),
               (*week, None, False), (*week, "122", False), (middle.replace(day=1), scenario.last, None, False)]
    compare(db, cfg_path, periods, now=mid_now)  # the middle day is today: operators' time up to now

    maintenance.apply_retention(Database(conn), now=scenario.end + 40 * 86400, hash_after_days=1,
                                drop_steps_after_days=1, salt="s")
    after = scenario.end + 86400
    with conn:
        conn.execute("BEGIN")
        assert operator_days.settle(conn, scenario.last.isoformat()) >= 0
    compare(db, cfg_path, periods + [(scenario.last, scenario.last, "117", True)], now=after)

    # another threshold: built again from the rows
    cfg_path.write_text(config_text(db, tz, threshold=30, short=7.5), encoding="utf-8")
    assert rollups.differs(rollups.read_state(conn), rollup_settings(load_config(cfg_path))) is not None
    rollups.build(conn, rollup_settings(load_config(cfg_path)), now=lambda: after)
    compare(db, cfg_path, periods, now=after)

    figures = build_figures(db, load_config(cfg_path), *week, context=False, now=after).to_json()
    assert figures["total"]["counts"]["offered"] > 50 and figures["source"] == "mixed"
    assert len(figures["operators"]) == 3 and any(q["offered"] for q in figures["queues"])
    conn.close()


def _all_pages(db: Path, f: CallFilter) -> list[tuple[str, str]]:
    found, before = [], None
    while True:
        page, before = search_calls(db, f, before=before, limit=4)
        found += [(r["started_at"], r["id"]) for r in page]
        if before is None:
            return found


def test_the_call_search_reads_only_the_days_the_rollups_say_have_matches(tmp_path):
    tz = "America/New_York"
    scenario = Scenario(random.Random("search"), tz, ZONES[tz])
    linked = scenario.calls(120)
    scenario.sessions([*linked[:40], "gap.1", "gap.1", "gap.2", None, None])
    db = tmp_path / "calls.db"
    conn = sqlite3.connect(db)
    apply_migrations(Database(conn))
    apply(conn, scenario.ordered())
    plain = tmp_path / "plain.db"
    conn.execute("VACUUM INTO ?", [str(plain)])  # rollups never built: every day is read
    rollups.build(conn, rollups.RollupSettings(tz, 20, 5.0))
    conn.close()

    start, end = utc_iso(scenario.start - 70 * 86400), utc_iso(scenario.end)
    filters = [CallFilter(start, end, line=line, bucket=bucket, queue=queue)
               for line in ("122", "117", None) for bucket in ("abandoned_queue", "answered", "in_progress",
                                                               "unanswered", "abandoned_menu", "no_ami", None)
               for queue in ("q-housing", None)]
    filters.append(CallFilter(utc_iso(scenario.start + 86400), utc_iso(scenario.start + 1.5 * 86400), line="122"))
    for f in filters:
        assert _all_pages(db, f) == _all_pages(plain, f), f
    rare = CallFilter(start, end, line="117", bucket="answered")
    with sqlite3.connect(db) as conn:
        windows = call_windows(conn, start, end, [("line", "117")], (CALL_BUCKET_SQL, "answered"))
    listed = _all_pages(db, rare)
    assert windows is not None and listed and len(windows) < 20  # of 77 days
    assert all(any(a <= at < b for a, b in windows) for at, _ in listed)
    with sqlite3.connect(db) as conn:  # the period leaves the rollups' calendar: they cannot say
        assert call_windows(conn, "1989-06-01T00:00:00.000Z", end, [("line", "117")], None) is None


def test_menu_buckets_name_every_bucket_a_menu_session_can_have():
    conn = sqlite3.connect(":memory:")
    for result in ("topic", "operator", "selfservice", "timeout", "hangup", "error", "anything", None):
        bucket = conn.execute(f"SELECT {MENU_BUCKET_SQL} FROM (SELECT ? AS result)", [result]).fetchone()[0]
        assert bucket in MENU_BUCKETS, result
