"""The member tracker against queue-member events captured from the real Asterisk 22
(tests/fixtures/asterisk/ami/members/, README there): logins and logouts, pauses with a reason,
a link cut mid-pause, an auto-pause after a ring-out, an operator in two queues."""

from __future__ import annotations

import pytest
from helpers import FIXTURES

from asterisk_bridge.ami.frames import Frame, parse_frames
from asterisk_bridge.calls.member_model import MemberPause, MemberSession, MemberUpdate
from asterisk_bridge.calls.members import MemberTracker
from asterisk_bridge.calls.tracker import CallTracker

MEMBERS = FIXTURES / "ami" / "members"
L1201, L1202, L1203, L1204 = (f"Local/{n}@operators/n" for n in ("1201", "1202", "1203", "1204"))
L1205, L1206, L2205 = "Local/1205@operators/n", "Local/1206@operators/n", "Local/2205@operators/n"


def capture(name: str) -> tuple[list[Frame], list[Frame]]:
    """(the QueueMember items of the login snapshot, every message after the snapshot)."""
    frames = parse_frames((MEMBERS / name).read_bytes())
    done = next(i for i, f in enumerate(frames) if f.get("Event") == "QueueStatusComplete")
    return [f for f in frames[:done] if f.get("Event") == "QueueMember"], frames[done + 1:]


def stamp(frame: Frame) -> float:
    return float(frame["Timestamp"])


def first(frames: list[Frame], event: str, **match: str) -> Frame:
    return next(f for f in frames if f.get("Event") == event and all(f.get(k) == v for k, v in match.items()))


def play(name: str, tracker: MemberTracker | None = None, *, now: float | None = None):
    """Reconcile with the capture's snapshot, then feed its events. Returns (tracker, updates of
    the snapshot, updates of the events)."""
    tracker = tracker or MemberTracker()
    items, events = capture(name)
    at = now if now is not None else stamp(next(f for f in events if "Timestamp" in f)) - 0.5
    snapshot = tracker.reconcile(items, at)
    updates: list[MemberUpdate] = []
    for frame in events:
        updates += tracker.feed(frame, 0.0)
    return tracker, snapshot, updates


def stored(updates: list[MemberUpdate]) -> tuple[dict, dict]:
    """The latest version of every session and pause the updates hand to the store, by key."""
    sessions = {u.session.key: u.session for u in updates if u.kind == "session"}
    pauses = {u.pause.key: u.pause for u in updates if u.kind == "pause"}
    return sessions, pauses


def states(updates: list[MemberUpdate], interface: str) -> list[tuple[str, str | None]]:
    """The operator's successive states (a change of queues alone is an update too, not a new state)."""
    out: list[tuple[str, str | None]] = []
    for u in updates:
        if u.kind == "state" and u.operator.interface == interface:
            if not out or out[-1] != (u.operator.state, u.operator.reason):
                out.append((u.operator.state, u.operator.reason))
    return out


# ------------------------------------------------------------------ logins and logouts


def test_queue_add_and_remove_in_two_queues_and_a_member_added_paused():
    tracker, snapshot, updates = play("queue-add-remove.raw")
    _, events = capture("queue-add-remove.raw")
    # the login snapshot: the static member, in both its queues, since Asterisk loaded them
    static = {u.session.queue: u.session for u in snapshot if u.kind == "session"}
    assert set(static) == {"cc-122-housing", "cc-122-default"}
    assert all((s.interface, s.member_name, s.membership, s.login_seen, s.logged_in_at) ==
               (L1201, "Оператор 1201", "static", False, 1795953549.0) for s in static.values())
    sessions, pauses = stored(updates)
    added = [f for f in events if f.get("Event") == "QueueMemberAdded"]
    removed = [f for f in events if f.get("Event") == "QueueMemberRemoved"]
    for frame, gone in zip(added, removed, strict=True):
        session = sessions[(frame["Interface"], frame["Queue"], stamp(frame))]
        assert (session.member_name, session.membership, session.login_seen) == (frame["MemberName"], "dynamic", True)
        assert (session.logged_out_at, session.logout_seen) == (stamp(gone), True)
    # logged in paused: the QueueMemberAdded says so, and no QueueMemberPause follows
    [pause] = pauses.values()
    assert (pause.interface, pause.queue, pause.reason, pause.auto) == (L1206, "cc-122-social", "обучение", False)
    assert (pause.started_at, pause.ended_at, pause.end_seen) == (stamp(added[2]), stamp(removed[2]), True)
    # one person in two queues is one operator; logged out of both at the end
    views = {v.interface: v for v in tracker.operators()}
    assert (views[L1204].state, views[L1204].queues) == ("logged_out", ())
    assert [m.queue for m in views[L1201].queues] == ["cc-122-default", "cc-122-housing"]
    assert states(updates, L1204) == [("available", None), ("logged_out", None)]
    assert states(updates, L1206) == [("paused", "обучение"), ("logged_out", None)]


def test_replaying_the_same_events_stores_the_same_rows():
    tracker, _, updates = play("queue-pause-reason.raw")
    _, events = capture("queue-pause-reason.raw")
    again = [u for frame in events for u in tracker.feed(frame, 0.0)]
    # the same pauses again, under the same keys: the store's upserts leave the rows as they were
    assert stored(updates + again) == stored(updates)
    assert stored(again)[1].keys() == stored(updates)[1].keys()


# ------------------------------------------------------------------ pauses


def test_a_pause_with_a_reason_in_one_queue_then_in_every_queue():
    tracker, _, updates = play("queue-pause-reason.raw")
    _, events = capture("queue-pause-reason.raw")
    pauses = stored(updates)[1]
    times = [stamp(f) for f in events if f.get("Event") == "QueueMemberPause"]
    assert sorted((p.queue, p.reason, p.started_at, p.ended_at) for p in pauses.values()) == [
        ("cc-122-default", "перерыв", times[3], times[5]),
        ("cc-122-housing", "обед", times[0], times[1]),
        ("cc-122-housing", "перерыв", times[2], times[4]),
    ]
    assert all(p.start_seen and p.end_seen and not p.auto for p in pauses.values())
    # paused in one of two queues the operator still takes calls; paused in both, he is paused
    assert states(updates, L1204) == [("available", None), ("paused", "перерыв"), ("available", None)]
    counts = []
    check = MemberTracker()
    items, _ = capture("queue-pause-reason.raw")
    check.reconcile(items, times[0] - 1)
    for frame in events:
        check.feed(frame, 0.0)
        if frame.get("Event") == "QueueMemberPause":
            counts.append(check.queue_counts()["cc-122-housing"])
    # (available, paused) in cc-122-housing, where 1201 (static) is always available
    assert counts == [(1, 1), (2, 0), (1, 1), (1, 1), (2, 0), (2, 0)]


def test_a_link_cut_mid_pause_keeps_the_pause_that_went_on_and_ends_the_one_that_did_not():
    tracker, _, before = play("reconnect-mid-pause-1.raw")
    _, events = capture("reconnect-mid-pause-1.raw")
    cut = stamp(events[-1]) + 0.5
    tracker.link_lost(cut)
    items, after_events = capture("reconnect-mid-pause-2.raw")
    reconnected = stamp(after_events[0]) - 1.0
    snapshot = tracker.reconcile(items, reconnected)
    # 1203 was unpaused while the link was down: its pause ends where the bridge lost sight of it
    assert [(u.pause.interface, u.pause.ended_at, u.pause.end_seen) for u in snapshot if u.kind == "pause"] == [
        (L1203, cut, False)]
    assert not [u for u in snapshot if u.kind == "session"]  # nobody logged in or out meanwhile
    after = [u for frame in after_events for u in tracker.feed(frame, 0.0)]
    pauses = stored(before + snapshot + after)[1]
    p1202 = next(p for p in pauses.values() if p.interface == L1202)
    began = stamp(first(events, "QueueMemberPause", Interface=L1202))
    # 1202's pause went on across the cut: one pause, from its start to the unpause seen after it
    assert (p1202.started_at, p1202.reason, p1202.ended_at, p1202.end_seen) == (
        began, "перерыв", stamp(first(after_events, "QueueMemberPause")), True)
    assert len([p for p in pauses.values() if p.interface == L1202]) == 1


def test_a_restart_mid_pause_restores_and_reconciles_the_same_way():
    _, events = capture("reconnect-mid-pause-1.raw")
    began = stamp(first(events, "QueueMemberPause", Interface=L1202))
    sessions = [MemberSession(L1202, "cc-122-housing", "Оператор 1202", 1795953555.2),
                MemberSession(L1203, "cc-122-housing", "Оператор 1203", 1795953555.2),
                MemberSession(L1201, "cc-122-housing", "Оператор 1201", 1795953549.0, "static", False)]
    pauses = [MemberPause(L1202, "cc-122-housing", "Оператор 1202", began, "перерыв"),
              MemberPause(L1203, "cc-122-housing", "Оператор 1203", began + 0.01, "обед")]
    tracker = MemberTracker()
    last_seen = began + 1.0
    assert tracker.restore(sessions, pauses, last_seen) == 3
    items, _ = capture("reconnect-mid-pause-2.raw")
    updates = tracker.reconcile(items, began + 4.0)
    # static 1201 is also in cc-122-default: a session the store did not have, since LoginTime
    assert sorted((u.kind, (u.session or u.pause).interface) for u in updates if u.kind != "state") == [
        ("pause", L1203), ("session", L1201)]
    assert next(u.pause for u in updates if u.kind == "pause").ended_at == last_seen
    assert {v.interface: v.state for v in tracker.operators()} == {
        L1201: "available", L1202: "paused", L1203: "available"}
    assert [(m.queue, m.paused, m.reason) for m in next(v for v in tracker.operators() if v.interface == L1202).queues
            ] == [("cc-122-housing", True, "перерыв")]


# ------------------------------------------------------------------ ringing, talking, auto-pause


def test_an_auto_pause_after_a_ring_out_in_both_queues_then_the_free_operator_answers():
    tracker, _, updates = play("auto-pause-ring-out.raw")
    _, events = capture("auto-pause-ring-out.raw")
    rna = first(events, "AgentRingNoAnswer")
    pauses = stored(updates)[1]
    assert sorted((p.queue, p.reason, p.auto, p.started_at > stamp(rna), p.end_seen) for p in pauses.values()) == [
        ("cc-117-default", "Auto-Pause", True, True, True), ("cc-117-where", "Auto-Pause", True, True, True)]
    # paused in its first queue it could still take calls from the second, for a few microseconds
    assert states(updates, L2205) == [
        ("available", None), ("ringing", None), ("available", None), ("paused", "Auto-Pause"), ("available", None)]
    assert states(updates, L1205) == [("ringing", None), ("on_call", None), ("available", None)]
    ringing = next(u.operator for u in updates if u.kind == "state" and u.operator.state == "ringing"
                   and u.operator.interface == L1205)
    assert ringing.since == stamp(first(events, "AgentCalled", Interface=L1205))
    # the same stream through the call tracker: each ring with its member, interface, time and result
    calls = CallTracker()
    finished = [u.record for f in events for u in calls.feed(f, 0.0) if u.kind == "finished"]
    [leg] = finished[0].legs
    assert [(a.member, a.interface, a.ring_seconds, a.result) for a in leg.attempts] == [
        ("Оператор 2205", L2205, 15.0, "noanswer"), ("Оператор 1205", L1205, 1.0, "answered")]


def test_the_queue_counts_follow_the_auto_pause():
    tracker = MemberTracker()
    items, events = capture("auto-pause-ring-out.raw")
    tracker.reconcile(items, stamp(events[0]) - 1)
    seen = []
    for frame in events:
        tracker.feed(frame, 0.0)
        if frame.get("Event") in ("AgentRingNoAnswer", "QueueMemberPause", "AgentConnect", "AgentComplete"):
            seen.append((frame["Event"], tracker.queue_counts().get("cc-117-where")))
    assert seen == [("AgentRingNoAnswer", (1, 0)), ("QueueMemberPause", (1, 0)), ("QueueMemberPause", (0, 1)),
                    ("AgentConnect", (0, 1)), ("AgentComplete", (0, 1)),
                    ("QueueMemberPause", (0, 1)), ("QueueMemberPause", (1, 0))]


def test_an_agent_complete_without_the_member_channel_still_ends_the_talk():
    tracker = MemberTracker()
    base = {"Queue": "cc-122-housing", "Interface": L1204, "MemberName": "Оператор 1204"}
    tracker.feed({"Event": "QueueMemberAdded", **base, "Membership": "dynamic", "LoginTime": "100",
                  "Status": "1", "Paused": "0", "Timestamp": "100.2"}, 0)
    tracker.feed({"Event": "AgentConnect", **base, "DestChannel": "Local/1204@operators-0001;1", "Timestamp": "200"}, 0)
    assert tracker.operators()[0].state == "on_call"
    # Asterisk publishes AgentComplete after the channels are gone: no Dest* fields (fixtures README M10)
    updates = tracker.feed({"Event": "AgentComplete", **base, "TalkTime": "30", "Timestamp": "230"}, 0)
    assert states(updates, L1204) == [("available", None)]


def test_an_unreachable_phone_and_a_call_ended_while_blind():
    tracker = MemberTracker()
    base = {"Queue": "q", "Interface": "PJSIP/1001", "MemberName": "Оператор 1001", "Membership": "static",
            "LoginTime": "100", "Paused": "0"}
    assert states(tracker.feed({"Event": "QueueMemberStatus", **base, "Status": "5", "Timestamp": "150"}, 0),
                  "PJSIP/1001") == [("unavailable", None)]
    tracker.feed({"Event": "QueueMemberStatus", **base, "Status": "1", "Timestamp": "160"}, 0)
    tracker.feed({"Event": "AgentConnect", **base, "DestChannel": "PJSIP/1001-01", "Timestamp": "170"}, 0)
    tracker.link_lost(180)
    snapshot = {"Event": "QueueMember", "Queue": "q", "Name": "Оператор 1001", "Location": "PJSIP/1001",
                "Membership": "static", "LoginTime": "100", "Status": "1", "Paused": "0", "LastPause": "0"}
    # the call tracker says nobody is on a call now: the AgentComplete was missed
    assert states(tracker.reconcile([snapshot], 200, on_call={}), "PJSIP/1001") == [("available", None)]
    [view] = tracker.operators()
    assert (view.since, view.queues[0].since) == (200, 100)


@pytest.mark.parametrize("name", sorted(p.name for p in MEMBERS.glob("*.raw")))
def test_every_capture_is_read_without_a_stray_update(name):
    """Every session and pause a capture opens has its interface, queue and member name."""
    _, snapshot, updates = play(name)
    for update in snapshot + updates:
        record = update.session or update.pause or update.operator
        assert record is not None and record.interface.startswith("Local/")
        if update.kind != "state":
            assert record.queue.startswith("cc-") and record.member_name.startswith("Оператор")
