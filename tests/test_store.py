"""The store against real SQLite files: schema, round trips, ordering, a locked database, shutdown."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlite_utils import Database

from asterisk_bridge.menu import MenuRecord
from asterisk_bridge.menu import MenuRecordError as RecordError  # MenuRecord's own checks
from asterisk_bridge.store import (
    RecordRejectedError,
    Store,
    StoreClosedError,
    StoreOpenError,
)
from asterisk_bridge.store import queries
from asterisk_bridge.store.schema import apply_migrations, applied_migrations
from asterisk_bridge.utc import parse_utc_iso, utc_iso

T0 = 1795699224.252  # 2026-11-26T13:20:24.252Z, the capture day


@dataclass(frozen=True)
class Step:
    """Same fields as asterisk_bridge.menu.flow.Step (the store reads steps by attribute)."""

    at: float
    kind: str
    menu: str
    prompt: str | None = None
    key: str | None = None


def make_record(n: int = 0, **changes) -> MenuRecord:
    started = T0 + n
    fields = dict(
        session_id=f"{n:032x}",
        node="pbx1",
        line="122",
        caller_number="79161234567",
        caller_name="Иван Петров",
        channel=f"Local/122@contact-center-{n:08x};1",
        uniqueid=f"1795699224.{n}",
        linkedid=f"1795699224.{n}",
        agi_script="ivr?line=122",
        started_at=started,
        ended_at=started + 7.5,
        result="topic",
        topic="housing",
        queue="cc-122-housing",
        age_group="30-40",
        ended_in="122",
        hung_up=False,
        error=None,
        steps=(
            Step(started, "prompt", "greeting", "cc/122-greeting"),
            Step(started + 2.0, "key", "122", "cc/122-menu", "9"),
            Step(started + 2.1, "invalid", "122", "cc/invalid-choice", "9"),
            Step(started + 5.0, "key", "122", "cc/122-menu", "2"),
            Step(started + 5.5, "prompt", "info:housing", "cc/122-housing-info"),
        ),
    )
    fields.update(changes)
    return MenuRecord(**fields)


def fast_store(path, **overrides) -> Store:
    options = dict(busy_timeout=0.05, retry_initial=0.02, retry_max=0.1)
    options.update(overrides)
    return Store(path, **options)


def written_ids(path) -> list[str]:
    with Database(path) as db:
        return [row["session_id"] for row in db["menu_sessions"].rows_where(order_by="rowid")]


# -- records ---------------------------------------------------------------------------------------


def test_utc_iso_is_utc_with_milliseconds_and_round_trips():
    assert utc_iso(T0) == "2026-11-26T13:20:24.252Z"
    assert utc_iso(0) == "1970-01-01T00:00:00.000Z"
    assert utc_iso(1.9996) == "1970-01-01T00:00:02.000Z"  # rounds, carrying into the seconds
    assert parse_utc_iso(utc_iso(T0)) == pytest.approx(T0, abs=0.0005)
    with pytest.raises(ValueError, match="finite"):
        utc_iso(float("nan"))
    with pytest.raises(TypeError, match="str"):
        utc_iso("1795699224")
    with pytest.raises(ValueError, match="2026-11-26 13:20:24"):
        parse_utc_iso("2026-11-26 13:20:24")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"result": "answered"}, "MenuRecord.result: 'answered' is not one of"),
        ({"session_id": ""}, "MenuRecord.session_id: must not be empty"),
        ({"hung_up": 1}, "MenuRecord.hung_up"),
        ({"started_at": float("inf")}, "MenuRecord.started_at"),
        ({"caller_number": 79161234567}, "MenuRecord.caller_number: expected text, got int"),
        ({"steps": (Step(T0, "key", "122", None, 2),)}, r"steps\[0\].key"),
        ({"steps": (Step(T0, "", "122"),)}, r"steps\[0\].kind"),
        ({"steps": ("prompt",)}, r"steps\[0\]: str has no attribute 'at'"),
    ],
)
def test_bad_records_are_refused_where_they_are_built(changes, message):
    with pytest.raises(RecordError, match=message):
        make_record(**changes)


def test_duration_never_negative_when_the_clock_steps_back():
    record = make_record(ended_at=T0 - 1)
    assert record.duration_ms == 0
    assert make_record().duration_ms == 7500


def test_real_flow_steps_are_accepted():
    flow = pytest.importorskip("asterisk_bridge.menu.flow", reason="menu.flow not written yet")
    record = make_record(steps=(flow.Step(at=T0, kind="key", menu="122", prompt=None, key="1"),))
    assert record.steps[0].key == "1"


# -- schema ----------------------------------------------------------------------------------------


async def test_migrations_are_applied_once_and_recorded(tmp_path):
    path = tmp_path / "calls.db"
    async with Store(path):
        pass
    async with Store(path):  # a second open applies nothing new
        pass
    with Database(path) as db:
        applied = applied_migrations(db)
        assert applied[:2] == ["m001_menu", "m002_calls"] and applied == sorted(applied)
        assert apply_migrations(db) == []
        assert db.journal_mode == "wal"
        assert db["menu_sessions"].strict and db["menu_steps"].strict
        assert db["menu_sessions"].pks == ["session_id"]
        assert db["menu_steps"].pks == ["session_id", "seq"]
        assert [(fk.column, fk.other_table) for fk in db["menu_steps"].foreign_keys] == [
            ("session_id", "menu_sessions")
        ]
        indexed = {tuple(index.columns) for index in db["menu_sessions"].indexes}
        assert {("line", "started_at"), ("started_at",), ("uniqueid",), ("linkedid",)} <= indexed
        assert db["_sqlite_migrations"].count == len(applied)  # each recorded once
        assert db["calls"].strict and db["queue_legs"].strict and db["operator_inputs"].strict
        assert db["calls"].pks == ["linkedid"] and db["queue_legs"].pks == ["linkedid", "seq"]
        assert {("started_at",), ("line", "started_at"), ("uniqueid",)} <= {
            tuple(index.columns) for index in db["calls"].indexes}


async def test_strict_tables_refuse_wrong_types(tmp_path):
    path = tmp_path / "calls.db"
    async with Store(path):
        pass
    with Database(path) as db, pytest.raises(sqlite3.IntegrityError):
        db["menu_steps"].insert({"session_id": "x", "seq": "first", "at": "t", "kind": "k", "menu": "m"})


async def test_open_reports_the_path_it_cannot_open(tmp_path):
    missing = tmp_path / "no-such-dir" / "calls.db"
    with pytest.raises(StoreOpenError, match="no-such-dir"):
        await Store(missing).open()


# -- round trips -----------------------------------------------------------------------------------


async def test_saved_record_reads_back_field_by_field(tmp_path):
    path = tmp_path / "calls.db"
    record = make_record(7, caller_name="<script>Иван</script>", linkedid=None, error="x")
    async with Store(path) as store:
        await store.save_menu(record)
        assert store.pending == 0
    [row] = queries.menu_sessions(path, steps=True)
    assert row == {
        "session_id": record.session_id,
        "node": "pbx1",
        "line": "122",
        "caller_number": "79161234567",
        "caller_name": "<script>Иван</script>",
        "channel": record.channel,
        "uniqueid": "1795699224.7",
        "linkedid": None,
        "agi_script": "ivr?line=122",
        "started_at": "2026-11-26T13:20:31.252Z",
        "ended_at": "2026-11-26T13:20:38.752Z",
        "duration_ms": 7500,
        "result": "topic",
        "topic": "housing",
        "queue": "cc-122-housing",
        "age_group": "30-40",
        "ended_in": "122",
        "hung_up": False,
        "error": "x",
        "step_count": 5,
        "steps": [
            {"seq": 0, "at": "2026-11-26T13:20:31.252Z", "kind": "prompt", "menu": "greeting",
             "prompt": "cc/122-greeting", "key": None},
            {"seq": 1, "at": "2026-11-26T13:20:33.252Z", "kind": "key", "menu": "122",
             "prompt": "cc/122-menu", "key": "9"},
            {"seq": 2, "at": "2026-11-26T13:20:33.352Z", "kind": "invalid", "menu": "122",
             "prompt": "cc/invalid-choice", "key": "9"},
            {"seq": 3, "at": "2026-11-26T13:20:36.252Z", "kind": "key", "menu": "122",
             "prompt": "cc/122-menu", "key": "2"},
            {"seq": 4, "at": "2026-11-26T13:20:36.752Z", "kind": "prompt", "menu": "info:housing",
             "prompt": "cc/122-housing-info", "key": None},
        ],
    }


async def test_saving_again_is_idempotent_and_replaces_steps(tmp_path):
    path = tmp_path / "calls.db"
    first = make_record(1)
    async with Store(path) as store:
        await store.save_menu(first)
        await store.save_menu(first)
        once = list(queries.menu_sessions(path, steps=True))
        await store.save_menu(first)
        assert list(queries.menu_sessions(path, steps=True)) == once
        shorter = replace(first, result="hangup", queue=None, hung_up=True, steps=first.steps[:2])
        await store.save_menu(shorter)
    [row] = queries.menu_sessions(path, steps=True)
    assert (row["result"], row["queue"], row["hung_up"], row["step_count"]) == ("hangup", None, True, 2)
    assert [step["seq"] for step in row["steps"]] == [0, 1]
    with Database(path) as db:
        assert db["menu_steps"].count == 2


async def test_many_tasks_submitting_at_once_are_written_in_submission_order(tmp_path):
    path = tmp_path / "calls.db"
    order: list[str] = []

    async def caller_sessions(task: int, store: Store) -> None:
        for i in range(40):
            record = make_record(task * 1000 + i)
            store.submit_menu(record)
            order.append(record.session_id)
            await asyncio.sleep(0)

    async with fast_store(path, batch_max=16) as store:
        await asyncio.gather(*(caller_sessions(task, store) for task in range(25)))
        # the last submission of a session wins, even if it is still queued behind the first
        update = replace(make_record(0), result="operator", queue="cc-122-default")
        store.submit_menu(update)
        await store.flush(10)
        assert store.pending == 0
    assert written_ids(path) == order
    [row] = queries.menu_sessions(path, T0, T0 + 0.5)
    assert (row["result"], row["queue"]) == ("operator", "cc-122-default")


async def test_writing_never_blocks_the_event_loop(tmp_path):
    path = tmp_path / "calls.db"
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    records = [make_record(i, steps=make_record(i).steps * 4) for i in range(2000)]
    async with Store(path) as store:
        ticking = asyncio.create_task(ticker())
        await asyncio.sleep(0.03)
        began = time.perf_counter()
        for record in records:
            store.submit_menu(record)
        submit_took = time.perf_counter() - began
        assert store.pending == 2000
        await store.flush(30)
        flush_took = time.perf_counter() - began
        stop.set()
        await ticking
    assert submit_took < 0.05, f"submitting 2,000 records took {submit_took:.3f} s"
    assert len(written_ids(path)) == 2000
    # 40,000 step rows take far longer than one tick; the loop kept ticking all along
    assert flush_took > 0.05
    assert max(gaps) < 0.1, f"event loop stalled for {max(gaps):.3f} s while writing ({flush_took:.2f} s)"
    assert len(gaps) >= flush_took / 0.02


# -- failures --------------------------------------------------------------------------------------


def hold_write_lock(path) -> sqlite3.Connection:
    """Another process's long write transaction: the store's writes get 'database is locked'."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


async def test_locked_database_delays_records_but_never_loses_them(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="asterisk_bridge.store")
    path = tmp_path / "calls.db"
    async with fast_store(path) as store:
        other = hold_write_lock(path)
        began = time.perf_counter()
        for i in range(3):
            store.submit_menu(make_record(i))
        assert time.perf_counter() - began < 0.01  # submit never waits for the database
        await asyncio.sleep(0.4)  # several retries, all refused
        assert store.pending == 3
        assert "database is locked" in store.last_error
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1, "one ERROR per outage, not one per retry"
        assert "database is locked" in errors[0].getMessage()
        with pytest.raises(TimeoutError, match="3 menu records still not written"):
            await store.flush(0.05)
        other.execute("ROLLBACK")
        other.close()
        await store.flush(5)
        assert store.pending == 0
    assert written_ids(path) == [make_record(i).session_id for i in range(3)]
    recovered = [r for r in caplog.records if r.levelno == logging.INFO and "writing again" in r.getMessage()]
    assert len(recovered) == 1


async def test_save_menu_timeout_leaves_the_record_queued(tmp_path):
    path = tmp_path / "calls.db"
    async with fast_store(path) as store:
        other = hold_write_lock(path)
        with pytest.raises(TimeoutError, match="stays queued"):
            await store.save_menu(make_record(5), timeout=0.1)
        assert store.pending == 1
        other.execute("ROLLBACK")
        other.close()
        await store.flush(5)
    assert written_ids(path) == [make_record(5).session_id]


async def test_keep_menu_waits_for_the_commit_but_never_on_a_failing_database(tmp_path):
    path = tmp_path / "calls.db"
    async with fast_store(path, coalesce=1.0) as store:
        began = time.perf_counter()
        assert await store.keep_menu(make_record(1), wait=5) is True
        assert written_ids(path) == [make_record(1).session_id]  # on disk when it returns
        assert time.perf_counter() - began < 0.5  # alone: written at once, no coalescing wait
        store.submit_menu(make_record(4))  # queued: the writer now waits for company
        began = time.perf_counter()
        assert await store.keep_menu(make_record(5), wait=5) is True
        assert time.perf_counter() - began >= 0.9  # it shared the window instead of forcing a commit

        retention = asyncio.ensure_future(store.maintain(lambda db: time.sleep(0.3)))  # holds the writer
        await asyncio.sleep(0.05)
        began = time.perf_counter()
        assert await store.keep_menu(make_record(0), wait=5) is False
        assert time.perf_counter() - began < 0.05  # no wait behind maintenance
        await retention
        await store.flush(5)  # it is written once maintenance lets go of the writer

        other = hold_write_lock(path)
        began = time.perf_counter()
        assert await store.keep_menu(make_record(2), wait=0.2) is False  # the database is locked: gave up
        assert 0.19 <= time.perf_counter() - began < 1
        await asyncio.sleep(0.1)  # a retry fails: the store knows the database is unhappy now
        assert store.last_error is not None
        began = time.perf_counter()
        assert await store.keep_menu(make_record(3), wait=5) is False
        assert time.perf_counter() - began < 0.05  # no wait at all during an outage
        assert store.pending == 2
        other.execute("ROLLBACK")
        other.close()
        await store.flush(5)
    assert sorted(written_ids(path)) == sorted(make_record(i).session_id for i in (0, 1, 2, 3, 4, 5))


async def test_a_record_the_database_refuses_does_not_hold_up_the_others(tmp_path, caplog):
    path = tmp_path / "calls.db"
    async with Store(path):
        pass
    with Database(path) as db:  # e.g. an admin's trigger; the record itself is the problem
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON menu_sessions WHEN NEW.caller_name = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
        )
    bad = make_record(1, caller_name="bad")
    async with Store(path) as store:
        store.submit_menu(make_record(0))
        saving_bad = asyncio.ensure_future(store.save_menu(bad))
        store.submit_menu(make_record(2))
        with pytest.raises(RecordRejectedError, match="refused by trigger"):
            await saving_bad
        await store.flush(5)
        assert store.rejected == [bad]
        assert store.pending == 0
    assert written_ids(path) == [make_record(0).session_id, make_record(2).session_id]
    assert any(bad.session_id in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


async def test_close_writes_what_is_pending(tmp_path):
    path = tmp_path / "calls.db"
    store = await Store(path).open()
    for i in range(300):
        store.submit_menu(make_record(i))
    await store.close()
    assert not store.is_open
    assert len(written_ids(path)) == 300


async def test_close_gives_up_after_its_deadline_and_names_what_was_lost(tmp_path, caplog):
    path = tmp_path / "calls.db"
    store = await fast_store(path).open()
    other = hold_write_lock(path)
    try:
        store.submit_menu(make_record(3))
        began = time.perf_counter()
        await store.close(timeout=0.2)
        assert time.perf_counter() - began < 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    lost = [r.getMessage() for r in caplog.records if "not written at shutdown" in r.getMessage()]
    assert len(lost) == 1 and make_record(3).session_id in lost[0]


async def test_wrong_use_gets_specific_errors(tmp_path):
    store = Store(tmp_path / "calls.db")
    with pytest.raises(StoreClosedError, match="not open"):
        store.submit_menu(make_record())
    async with store:
        with pytest.raises(TypeError, match="expected a MenuRecord, got dict"):
            store.submit_menu({"session_id": "x"})
    with pytest.raises(ValueError, match="batch_max"):
        Store(tmp_path / "x.db", batch_max=0)


# -- queries ---------------------------------------------------------------------------------------


async def test_menu_counts_by_period_and_group(tmp_path):
    path = tmp_path / "calls.db"
    async with Store(path) as store:
        for i, (line, topic, result, age) in enumerate([
            ("122", "housing", "topic", "30-40"),
            ("122", "housing", "topic", "over-60"),
            ("122", None, "timeout", "unknown"),
            ("117", "documents", "topic", "30-40"),
            ("122", "housing", "topic", "30-40"),  # i=4: one hour later
        ]):
            started = T0 + (3600 if i == 4 else i)
            store.submit_menu(make_record(i, line=line, topic=topic, result=result, age_group=age,
                                          started_at=started, ended_at=started + 1))
        await store.flush(5)
    hour = datetime.fromtimestamp(T0 + 1800, timezone.utc)
    assert queries.menu_counts(path, end_utc=hour) == [
        {"line": "117", "topic": "documents", "result": "topic", "calls": 1},
        {"line": "122", "topic": None, "result": "timeout", "calls": 1},
        {"line": "122", "topic": "housing", "result": "topic", "calls": 2},
    ]
    assert queries.menu_counts(path, hour, by=("line", "age_group")) == [
        {"line": "122", "age_group": "30-40", "calls": 1}
    ]
    # half-open: a call starting exactly at the end belongs to the next period
    assert queries.menu_counts(path, T0, T0 + 1, by=("line",)) == [{"line": "122", "calls": 1}]
    assert queries.menu_counts(path, "2026-11-26T13:20:24.252Z", T0 + 2, by=("line",)) == [
        {"line": "122", "calls": 2}
    ]
    assert [s["line"] for s in queries.menu_sessions(path, line="117")] == ["117"]
    with pytest.raises(ValueError, match="caller_number"):
        queries.menu_counts(path, by=("caller_number",))
    with pytest.raises(ValueError, match="no time zone"):
        queries.menu_counts(path, datetime(2026, 11, 26))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError, match="before start_utc"):
        queries.menu_counts(path, T0, T0 - timedelta(hours=1).total_seconds())


def test_queries_never_create_a_database(tmp_path):
    missing = tmp_path / "typo.db"
    with pytest.raises(FileNotFoundError, match="typo.db"):
        queries.menu_counts(missing)
    assert not missing.exists()


async def test_records_left_at_close_are_written_when_the_store_reopens(tmp_path):
    path = tmp_path / "calls.db"
    store = await fast_store(path).open()
    other = hold_write_lock(path)
    try:
        store.submit_menu(make_record(1))
        saving = asyncio.ensure_future(store.save_menu(make_record(2)))
        await store.close(timeout=0.1)
        with pytest.raises(StoreClosedError, match="closed before the record was written"):
            await saving
        assert store.pending == 2
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with store:  # the same instance still holds them
        await store.flush(5)
    assert written_ids(path) == [make_record(1).session_id, make_record(2).session_id]


async def test_a_newer_state_of_a_queued_call_replaces_it_and_its_events_keep_their_place(tmp_path):
    """A busy call changes many times a second: a state still queued is overwritten by the next one
    (one write instead of several), while every MQTT event stays where it was handed in."""
    from asterisk_bridge.calls.model import CallRecord, QueueLeg
    from asterisk_bridge.mqtt.message import OutboxMessage

    def state(n: int, **fields) -> CallRecord:
        record = CallRecord(linkedid="1795699537.6", uniqueid="1795699537.6", started_at=1795699537.0,
                            line="122", last_event_at=1795699537.0 + n, **fields)
        return record

    def event(name: str) -> tuple[OutboxMessage]:
        return (OutboxMessage(topic=f"t/{name}", payload="{}", event_id=name),)

    path = tmp_path / "calls.db"
    store = fast_store(path, coalesce=1.0)  # nothing is written before the flush below
    async with store:
        store.submit_call(state(1), events=event("started"))
        store.submit_menu(make_record(1), events=event("menu"))
        store.submit_call(state(2, ivr_result="topic"))  # no events: only the rows are replaced
        joined = state(3, ivr_result="topic")
        joined.legs.append(QueueLeg(queue="cc-122-housing", joined_at=1795699540.0))
        store.submit_call(joined, events=event("joined"))
        assert store.pending == 3  # the two later states went into the first one's place (+ one for events)
        await store.flush(5)
        # a state handed in after a save_call is written after it, not in the place of an older one
        store.submit_call(state(4, ivr_result="operator"))
        saved = asyncio.create_task(store.save_call(state(5, ivr_result="timeout")))
        await asyncio.sleep(0)
        store.submit_call(state(6, ivr_result="selfservice"))
        await saved
        await store.flush(5)
        assert store.pending == 0
    db = sqlite3.connect(path)
    assert db.execute("SELECT ivr_result FROM calls").fetchall() == [("selfservice",)]
    assert db.execute("SELECT count(*) FROM queue_legs").fetchone()[0] == 0
    assert [r[0] for r in db.execute("SELECT event_id FROM outbox ORDER BY id")] == ["started", "menu", "joined"]


async def test_a_queued_call_state_is_written_with_its_newest_legs(tmp_path):
    from asterisk_bridge.calls.model import CallRecord, QueueLeg

    store = fast_store(tmp_path / "calls.db", coalesce=1.0)
    async with store:
        record = CallRecord(linkedid="1795699537.6", uniqueid="1795699537.6", started_at=1795699537.0, line="122")
        store.submit_call(record)
        record.legs.append(QueueLeg(queue="cc-122-housing", joined_at=1795699540.0))
        store.submit_call(record)
        assert store.pending == 1
    db = sqlite3.connect(tmp_path / "calls.db")
    assert db.execute("SELECT queue FROM queue_legs").fetchall() == [("cc-122-housing",)]
