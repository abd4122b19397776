"""What the wallboard gauges (``mqtt/gauges.py``) had counted today before the service started.

The gauges count answers and abandons as they happen; after a restart at noon they would start
from zero and a wall screen would show "answered today: 3". These two reads give back the day so
far, with the same attribution the gauges use: an answer counts on its queue by the leg, and on
its line once (the call's first answered leg); an abandon counts on the call's last queue.
Only calls that started at most ``lookback`` seconds before the day are read (index range on
``started_at``): a call that waited in a queue longer than that is not realistic.
"""

from __future__ import annotations

from typing import Any

from .queries import DatabaseLike, period_clause, reading
from .report_queries import has_calls
from ..utc import parse_utc_iso, utc_iso


def day_so_far(db: DatabaseLike, start_utc: str, end_utc: str, *, lookback: float = 86400.0) -> dict[str, list[dict[str, Any]]]:
    """``{"answered": [{linkedid, seq, line, queue, wait_seconds, answered_at, answered_interface, first_answer}],
    "abandoned": [{linkedid, line, queue, wait_seconds, ended_at}]}`` for ``[start_utc, end_utc)``."""
    out: dict[str, list[dict[str, Any]]] = {"answered": [], "abandoned": []}
    started, started_params = period_clause(utc_iso(parse_utc_iso(start_utc) - lookback), end_utc, alias="c",
                                            bounded=True)
    with reading(db) as database:
        if not has_calls(database):
            return out
        out["answered"] = [dict(r) for r in database.query(
            """SELECT c.linkedid, l.seq, c.line, l.queue, l.wait_seconds, l.answered_at, l.answered_interface,
                      l.seq = (SELECT MIN(f.seq) FROM queue_legs f WHERE f.linkedid = c.linkedid
                               AND f.answered_at IS NOT NULL) AS first_answer
               FROM calls c JOIN queue_legs l ON l.linkedid = c.linkedid
               WHERE {started} AND l.answered_at >= ? AND l.answered_at < ?""".format(started=started),
            [*started_params, start_utc, end_utc])]
        out["abandoned"] = [dict(r) for r in database.query(
            """SELECT c.linkedid, c.line, l.queue, l.wait_seconds, c.ended_at
               FROM calls c JOIN queue_legs l ON l.linkedid = c.linkedid
                    AND l.seq = (SELECT MAX(x.seq) FROM queue_legs x WHERE x.linkedid = c.linkedid)
               WHERE {started} AND c.outcome = 'abandoned_queue'
                     AND c.ended_at >= ? AND c.ended_at < ?""".format(started=started),
            [*started_params, start_utc, end_utc])]
    return out
