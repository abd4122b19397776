"""Operators through the call follower: the real-Asterisk member captures replayed over loopback
AMI into a real SQLite file (sessions, pauses, ring attempts), a link cut mid-pause, a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ami_fake import FakeAMI, Session, block
from helpers import FIXTURES
from test_calls import empty_list, follower, make_config, wait_until

from asterisk_bridge.ami.frames import parse_frames
from asterisk_bridge.store import Store, queries
from asterisk_bridge.store.queries import reading
from asterisk_bridge.utc import parse_utc_iso

MEMBERS = FIXTURES / "ami" / "members"


def snapshot_of(name: str):
    """A QueueStatus responder answering with the capture's own login snapshot (M4 framing)."""
    items = [f for f in parse_frames((MEMBERS / name).read_bytes())
             if f.get("Event") in ("QueueParams", "QueueMember") and f.get("ActionID")]

    async def answer(session: Session, action: dict[str, str]) -> None:
        aid = ("ActionID", action["actionid"])
        await session.send(block(("Response", "Success"), aid, ("EventList", "start"),
                                 ("Message", "Queue status will follow")))
        for item in items:
            await session.send(block(*[(k, v) for k, v in item.pairs if k != "ActionID"], aid))
        await session.send(block(("Event", "QueueStatusComplete"), aid, ("EventList", "Complete"),
                                 ("ListItems", str(len(items)))))

    return answer


def replaying(*names: str) -> tuple[FakeAMI, list[asyncio.Event]]:
    """A fake Asterisk whose n-th login gets the n-th capture's snapshot and then its events (after
    the snapshot, as the capture had them)."""
    captures = [(MEMBERS / name).read_bytes() for name in names]
    done = [asyncio.Event() for _ in names]
    snapshots = [snapshot_of(name) for name in names]

    async def replay(session: Session) -> None:
        n = len(fake.sessions) - 1
        if n >= len(captures):
            return
        while not any(a.get("action", "").lower() == "queuestatus" for a in session.actions):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the snapshot is answered
        data = captures[n]
        await session.send(data[data.index(b"\r\n") + 2:])
        done[n].set()

    async def queue_status(session: Session, action: dict[str, str]) -> None:
        await snapshots[min(fake.sessions.index(session), len(snapshots) - 1)](session, action)

    fake = FakeAMI(fully_booted=False, after_login=replay)
    fake.responders["coreshowchannels"] = empty_list
    fake.responders["queuestatus"] = queue_status
    return fake, done


def rows(path: Path, table: str) -> list[dict]:
    with reading(path) as db:
        return [dict(r) for r in db.query(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]


async def wait_rows(store: Store, table: str, predicate, timeout: float = 5.0) -> list[dict]:
    async with asyncio.timeout(timeout):
        while True:
            await store.flush(5)
            found = rows(Path(store.path), table)
            if predicate(found):
                return found
            await asyncio.sleep(0.02)


async def test_an_auto_pause_capture_gives_sessions_pauses_and_ring_attempts(tmp_path):
    fake, done = replaying("auto-pause-ring-out.raw")
    async with fake, Store(tmp_path / "calls.db") as store:
        async with follower(make_config(fake.port), store) as follow:
            await asyncio.wait_for(done[0].wait(), 5)
            pauses = await wait_rows(store, "operator_pauses", lambda r: len(r) == 2 and all(x["ended_at"] for x in r))
            calls = await wait_rows(store, "calls", lambda r: len(r) == 1 and r[0]["outcome"])
            sessions = rows(tmp_path / "calls.db", "operator_sessions")
            views = {v.interface: v for v in follow.operators.operators}
    assert [(p["interface"], p["queue"], p["reason"], p["auto"], p["end_seen"]) for p in pauses] == [
        ("Local/2205@operators/n", q, "Auto-Pause", 1, 1) for q in ("cc-117-default", "cc-117-where")]
    assert sorted((s["interface"], s["queue"], s["membership"], s["login_seen"], s["logged_out_at"]) for s in sessions) \
        == [("Local/1201@operators/n", "cc-122-default", "static", 0, None),
            ("Local/1201@operators/n", "cc-122-housing", "static", 0, None),
            ("Local/1205@operators/n", "cc-117-default", "dynamic", 0, None),
            ("Local/2205@operators/n", "cc-117-default", "dynamic", 1, None),
            ("Local/2205@operators/n", "cc-117-where", "dynamic", 1, None)]
    login = next(s for s in sessions if s["interface"].startswith("Local/1205"))["logged_in_at"]
    assert parse_utc_iso(login) == 1795953560.0  # LoginTime of the snapshot: logged in before the bridge looked
    [call] = calls
    assert (call["line"], call["outcome"], call["operator"]) == ("117", "answered", "Оператор 1205")
    attempts = queries.ring_attempts(tmp_path / "calls.db", call["linkedid"])
    assert [(a["member"], a["interface"], a["ring_seconds"], a["result"]) for a in attempts] == [
        ("Оператор 2205", "Local/2205@operators/n", 15.0, "noanswer"),
        ("Оператор 1205", "Local/1205@operators/n", 1.0, "answered")]
    assert views["Local/2205@operators/n"].state == "available" and views["Local/1205@operators/n"].state == "available"


async def test_a_link_cut_mid_pause_and_a_restart(tmp_path):
    fake, done = replaying("reconnect-mid-pause-1.raw", "reconnect-mid-pause-2.raw")
    db = tmp_path / "calls.db"
    now = [1795953556.0]
    async with fake, Store(db) as store:
        async with follower(make_config(fake.port), store, clock=lambda: now[0]) as follow:
            await asyncio.wait_for(done[0].wait(), 5)
            await wait_rows(store, "operator_pauses", lambda r: len(r) == 2)
            fake.sessions[0].abort()  # the link is cut at "now"; 1203 is unpaused while it is down
            await wait_until(lambda: not follow.connected)
            now[0] = 1795953558.5
            await asyncio.wait_for(done[1].wait(), 5)
            pauses = await wait_rows(store, "operator_pauses", lambda r: all(x["ended_at"] for x in r))
    by_operator = {p["interface"]: p for p in pauses}
    p1202, p1203 = by_operator["Local/1202@operators/n"], by_operator["Local/1203@operators/n"]
    # 1203's unpause happened while the link was down: its pause ends where the bridge lost sight of it
    assert (parse_utc_iso(p1203["ended_at"]), p1203["end_seen"], p1203["reason"]) == (1795953556.0, 0, "обед")
    # 1202 stayed paused across the cut: the same row, ended by the unpause seen after it
    assert (parse_utc_iso(p1202["ended_at"]), p1202["end_seen"], p1202["start_seen"]) == (pytest.approx(1795953559.9987, abs=1e-3), 1, 1)
    assert len(pauses) == 2


async def test_a_restart_mid_pause_reloads_the_pauses_and_the_snapshot_settles_them(tmp_path):
    db = tmp_path / "calls.db"
    fake, done = replaying("reconnect-mid-pause-1.raw")
    async with fake, Store(db) as store:
        async with follower(make_config(fake.port), store, clock=lambda: 1795953556.0):
            await asyncio.wait_for(done[0].wait(), 5)
            await wait_rows(store, "operator_pauses", lambda r: len(r) == 2)
    # stopped with both pauses open; while the bridge is down 1203 is unpaused
    assert len(queries.open_operator_pauses(db)) == 2
    last = queries.last_activity(db)
    fake, done = replaying("reconnect-mid-pause-2.raw")
    async with fake, Store(db) as store:
        async with follower(make_config(fake.port), store, clock=lambda: 1795953559.5):
            await asyncio.wait_for(done[0].wait(), 5)
            pauses = await wait_rows(store, "operator_pauses", lambda r: all(x["ended_at"] for x in r))
    by_operator = {p["interface"]: p for p in pauses}
    assert len(pauses) == 2  # the reloaded pauses are the same rows
    # 1203 was gone from the pauses when the bridge came back: ended at the last moment the store knew of
    assert (parse_utc_iso(by_operator["Local/1203@operators/n"]["ended_at"]), by_operator["Local/1203@operators/n"][
        "end_seen"]) == (last, 0)
    # 1202's pause went on, and its unpause was seen
    assert (parse_utc_iso(by_operator["Local/1202@operators/n"]["ended_at"]),
            by_operator["Local/1202@operators/n"]["end_seen"]) == (pytest.approx(1795953559.9987, abs=1e-3), 1)
    sessions = rows(db, "operator_sessions")
    assert len(sessions) == 4 and all(s["logged_out_at"] is None for s in sessions), sessions


async def test_ring_attempts_are_written_with_their_call_and_read_back_after_a_restart(tmp_path):
    from asterisk_bridge.calls.model import CallRecord, QueueLeg, RingAttempt
    from asterisk_bridge.store import RecordError

    leg = QueueLeg(queue="cc-117-where", joined_at=100.0, attempts=[
        RingAttempt("Оператор 2205", "Local/2205@operators/n", "Local/2205@operators-01;1", 100.5, 15.0, "noanswer"),
        RingAttempt("Оператор 1205", "Local/1205@operators/n", "Local/1205@operators-02;1", 117.5)])
    record = CallRecord(linkedid="100.1", uniqueid="100.1", started_at=99.0, line="117", legs=[leg])
    db = tmp_path / "calls.db"
    async with Store(db) as store:
        store.submit_call(record, node="pbx1")
        await store.flush(5)
        leg.attempts = leg.attempts[:1]  # written again with fewer rings: the rows follow the record
        store.submit_call(record, node="pbx1")
        leg.attempts.append(RingAttempt("x", "y", "z", 1.0, result="maybe"))
        try:
            store.submit_call(record, node="pbx1")
        except RecordError as exc:
            assert "attempts[1]: result 'maybe'" in str(exc)
        else:
            raise AssertionError("a ring with an unknown result was accepted")
        await store.flush(5)
    [restored] = queries.open_call_records(db)
    assert [(a.member, a.interface, a.called_at, a.ring_seconds, a.result) for a in restored.legs[0].attempts] == [
        ("Оператор 2205", "Local/2205@operators/n", 100.5, 15.0, "noanswer")]
    assert rows(db, "queue_legs")[0]["ring_attempts"] == 1
