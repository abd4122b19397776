#!/usr/bin/env python3
"""Store benchmark: menu records written per second through ``Store.submit_menu`` + ``flush``,
next to raw ``sqlite3`` ``executemany`` into the same schema, in the same run.

Each record is the one the bridge writes for the benchmark caller of agi_bench.py (line 122,
greeting played, "2" housing, "2" age 30-40): one ``menu_sessions`` row and its steps, built by
the package's own ``MenuFlow`` so the step count is the real one. Records are built before the
clock starts; every variant writes to a fresh database file with WAL + synchronous=NORMAL.

Variants (interleaved, order rotated per repetition, medians printed):
  raw executemany      prebuilt tuples, ``executemany`` per table, one transaction per 200
                       records (the Store's batch size): SQLite's own floor
  raw + row building   the same, but the rows are made from the records with the store's own
                       ``session_row`` / ``step_rows`` inside the timed loop
  Store burst          ``submit_menu`` for every record, then ``flush``: the writer thread
                       batches up to 200 per transaction (the bridge under heavy load)
  Store trickle        one ``submit_menu`` per event-loop turn, then ``flush``: batches stay
                       small, about one transaction per record (the bridge at normal load)
  Store burst, no rollups   Store burst with the rollup triggers dropped: the writer before the
                       rollups, so "Store burst" minus this is what keeping them costs per record
The Store variants keep the rollups (built, as ``run`` keeps them); with no calls rows every
session is a call of its own (AMI off), the rollups' heavier case. The raw variants have no
rollup triggers: SQLite's floor.

records/s is wall-clock; CPU us/record is this process's CPU (all threads) per record.
Run ``python bench/store_bench.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from asterisk_bridge.demo import demo_config  # noqa: E402
from asterisk_bridge.menu import NO_KEY, Done, MenuFlow, Pressed  # noqa: E402
from asterisk_bridge.menu import MenuRecord  # noqa: E402
from asterisk_bridge.store import Store  # noqa: E402
from asterisk_bridge.store.rows import session_row, step_rows  # noqa: E402
from rollup_setup import keep_rollups, without_rollups  # noqa: E402

BATCH = 200


def build_records(n: int) -> list[MenuRecord]:
    """n records of the benchmark caller, with real steps from the menu flow."""
    config = demo_config(Path(tempfile.gettempdir()))
    line = config.line_for("122")
    t = [1795699537.0]

    def clock() -> float:
        t[0] += 0.7
        return t[0]

    flow = MenuFlow(line, clock)
    step = flow.start()
    answers = iter([NO_KEY, Pressed("2"), Pressed("2"), NO_KEY, NO_KEY])
    while not isinstance(step, Done):
        step = flow.send(next(answers))
    outcome = step.outcome
    records = []
    for i in range(n):
        started = 1795699537.0 + i * 0.01
        records.append(MenuRecord(
            session_id=uuid.uuid4().hex, node="pbx1", line="122", caller_number="79161234567",
            caller_name="Иван Петров", channel=f"Local/topic2@caller-sim-{i:08x};1", uniqueid=f"1795699537.{i}",
            linkedid=f"1795699537.{i}", agi_script="ivr?line=122", started_at=started, ended_at=started + 4.2,
            result=outcome.result, topic=outcome.topic, queue=outcome.queue, age_group=outcome.age_group,
            ended_in=outcome.ended_in, hung_up=False, error=None, steps=outcome.steps,
        ))
    return records


async def _fresh_store(path: str, rollups: bool = True) -> Store:
    store = Store(path)
    await store.open()
    await (keep_rollups(store) if rollups else without_rollups(store))
    return store


def _schema(path: str) -> None:
    async def make() -> None:
        store = await _fresh_store(path, rollups=False)
        await store.close()

    asyncio.run(make())


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def run_raw(path: str, records: list[MenuRecord], build_in_loop: bool) -> tuple[float, float]:
    _schema(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    cols = _columns(conn, "menu_sessions")
    insert_session = f"INSERT INTO menu_sessions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    insert_step = "INSERT INTO menu_steps (session_id, seq, at, kind, menu, prompt, key) VALUES (?, ?, ?, ?, ?, ?, ?)"
    prebuilt = None
    if not build_in_loop:
        prebuilt = [(tuple(session_row(r)[c] for c in cols), step_rows(r)) for r in records]
    w0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(records), BATCH):
        if prebuilt is not None:
            chunk = prebuilt[start:start + BATCH]
        else:
            chunk = []
            for r in records[start:start + BATCH]:
                row = session_row(r)
                chunk.append((tuple(row[c] for c in cols), step_rows(r)))
        conn.execute("BEGIN")
        conn.executemany(insert_session, [s for s, _ in chunk])
        conn.executemany(insert_step, [step for _, steps in chunk for step in steps])
        conn.execute("COMMIT")
    w1, c1 = time.perf_counter(), time.process_time()
    conn.close()
    return w1 - w0, c1 - c0


def run_store(path: str, records: list[MenuRecord], trickle: bool, rollups: bool = True) -> tuple[float, float]:
    async def go() -> tuple[float, float]:
        store = await _fresh_store(path, rollups)
        try:
            w0, c0 = time.perf_counter(), time.process_time()
            if trickle:
                for r in records:
                    store.submit_menu(r)
                    await asyncio.sleep(0)
            else:
                for r in records:
                    store.submit_menu(r)
            await store.flush(600)
            w1, c1 = time.perf_counter(), time.process_time()
        finally:
            await store.close()
        return w1 - w0, c1 - c0

    return asyncio.run(go())


def count_rows(path: str) -> tuple[int, int]:
    with sqlite3.connect(path) as conn:
        return (conn.execute("SELECT COUNT(*) FROM menu_sessions").fetchone()[0],
                conn.execute("SELECT COUNT(*) FROM menu_steps").fetchone()[0])


VARIANTS = {
    "raw executemany": lambda p, r: run_raw(p, r, build_in_loop=False),
    "raw + row building": lambda p, r: run_raw(p, r, build_in_loop=True),
    "Store burst": lambda p, r: run_store(p, r, trickle=False),
    "Store trickle": lambda p, r: run_store(p, r, trickle=True),
    "Store burst, no rollups": lambda p, r: run_store(p, r, trickle=False, rollups=False),
}


def bench(records_n: int, reps: int, verbose: bool = True) -> list[dict]:
    t0 = time.process_time()
    records = build_records(records_n)
    build_us = (time.process_time() - t0) / records_n * 1e6
    steps = len(records[0].steps)
    names = list(VARIANTS)
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        for rep in range(reps):
            order = names[rep % len(names):] + names[:rep % len(names)]
            for name in order:
                path = os.path.join(tmp, f"{rep}-{name.replace(' ', '_').replace('+', 'p')}.db")
                wall, cpu = VARIANTS[name](path, records)
                sessions, step_count = count_rows(path)
                if sessions != records_n or step_count != records_n * steps:
                    errors += 1
                    print(f"  {name}: {sessions} sessions / {step_count} steps written, expected "
                          f"{records_n} / {records_n * steps}", file=sys.stderr)
                results[name].append((wall, cpu))
                if verbose:
                    print(f"  rep {rep + 1} {name:<20} {records_n / wall:10,.0f} records/s", file=sys.stderr)
                for suffix in ("", "-wal", "-shm"):
                    Path(path + suffix).unlink(missing_ok=True)
    rows = []
    base = None
    for name in names:
        rate = statistics.median(records_n / w for w, _ in results[name])
        cpu_us = statistics.median(c / records_n * 1e6 for _, c in results[name])
        if base is None:
            base = rate
        rows.append({"variant": name, "records_per_s": rate, "cpu_us": cpu_us, "ratio": rate / base,
                     "errors": errors})
    rows.append({"variant": "MenuRecord construction (validation)", "records_per_s": 1e6 / build_us,
                 "cpu_us": build_us, "ratio": float("nan"), "errors": 0})
    for row in rows:
        row["steps"] = steps
    return rows


def format_table(rows: list[dict]) -> str:
    out = ["| variant | records/s | CPU us/record | rate vs raw executemany |", "| --- | --- | --- | --- |"]
    for r in rows:
        ratio = "" if r["ratio"] != r["ratio"] else f"{r['ratio']:.2f}"
        out.append(f"| {r['variant']} | {r['records_per_s']:,.0f} | {r['cpu_us']:,.0f} | {ratio} |")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--records", "-n", type=int, default=20000, help="menu records per variant and repetition")
    p.add_argument("--reps", "-r", type=int, default=3, help="repetitions (variants interleaved, order rotated)")
    args = p.parse_args(argv)
    rows = bench(args.records, args.reps)
    print(f"\nStore: {args.records:,} menu records ({rows[0]['steps']} steps each), {args.reps} reps (medians), "
          f"SQLite {sqlite3.sqlite_version}, WAL + synchronous=NORMAL")
    print(format_table(rows))


if __name__ == "__main__":
    main()
