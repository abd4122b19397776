"""The console's call search reads a caller's calls through the caller-tail indexes (m009).

A search by caller over months must not read every call of the period: each form that knows the
number's last four characters (masked, full, retention hash) is looked up by them. The plan is
checked on the statements ``search_calls`` really runs, so a change that stops naming the indexed
expression fails here, and the results are checked against a plain filter of the same rows.
"""

from __future__ import annotations

from sqlite_utils import Database

from report_fixture import call, make_db, menu

from asterisk_bridge.store.call_search import CallerMatch, CallFilter, search_calls

PERIOD = ("2026-01-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z")


def _db(tmp_path) -> Database:
    calls = [call(n, f"2026-{1 + n % 11:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00.000Z", "answered", wait=5, talk=30,
                  number=f"7916{1000000 + n * 37:07d}") for n in range(300)]
    menus = [dict(menu(1000 + n, f"2026-{1 + n % 11:02d}-{1 + n % 28:02d}T{n % 24:02d}:30:00.000Z", "hangup"),
                  caller_number=f"7903{2000000 + n * 41:07d}") for n in range(100)]
    return Database(make_db(tmp_path / "calls.db", calls, menus))


def _searched(db: Database, match: CallerMatch) -> tuple[list[str], list[str]]:
    """The ids found, and the query plans of the statements the search ran."""
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        rows, _ = search_calls(db, CallFilter(*PERIOD, caller=match), limit=500)
    finally:
        db.conn.set_trace_callback(None)
    plans = []
    for sql in statements:
        if sql.lstrip().upper().startswith("SELECT") and "caller_number" in sql:
            plans.append(" | ".join(r[3] for r in db.conn.execute(f"EXPLAIN QUERY PLAN {sql}")))
    return [r["id"] for r in rows], plans


def test_masked_full_and_hashed_numbers_are_looked_up_by_their_last_four(tmp_path):
    db = _db(tmp_path)
    numbers = {r["linkedid"]: r["caller_number"] for r in db.query("SELECT linkedid, caller_number FROM calls")}
    numbers |= {r["session_id"]: r["caller_number"] for r in db.query(
        "SELECT session_id, caller_number FROM menu_sessions WHERE linkedid IS NULL")}
    some_call, some_menu = numbers["1795600000.7"], numbers[f"{1005:032x}"]
    cases = {
        CallerMatch(prefix="7916", suffix=some_call[-4:]): lambda n: n[:4] == "7916" and n[-4:] == some_call[-4:],
        CallerMatch(prefix="7903", suffix=some_menu[-4:]): lambda n: n[:4] == "7903" and n[-4:] == some_menu[-4:],
        CallerMatch(exact=(some_call, "+" + some_call)): lambda n: n == some_call,
        CallerMatch(exact=("h:0123456789abcdef",)): lambda n: False,
    }
    for match, wanted in cases.items():
        found, plans = _searched(db, match)
        assert sorted(found) == sorted(i for i, n in numbers.items() if wanted(n)), match
        assert plans and all("caller_tail" in plan for plan in plans), (match, plans)


def test_a_short_numbers_mask_has_no_tail_and_still_finds_its_calls(tmp_path):
    db = make_db(tmp_path / "calls.db", [
        call(1, "2026-03-01T10:00:00.000Z", "answered", wait=5, talk=30, number="10042"),
        call(2, "2026-03-02T10:00:00.000Z", "answered", wait=5, talk=30, number="100042"),
        call(3, "2026-03-03T10:00:00.000Z", "answered", wait=5, talk=30, number="79161000042"),
    ])
    found, _ = _searched(Database(db), CallerMatch(suffix="42", length=5))
    assert found == ["1795600000.1"]
