"""Exports: ``stats --format json|csv`` and the day's calls beside the summary (``summary.csv``).

Both are opened in spreadsheets, and some cells hold text anyone can set: a caller ID name such
as ``=HYPERLINK("http://…","click")`` would run as a formula. Every text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, OWASP's rule for CSV
injection, so the spreadsheet shows it as text (numbers stay numbers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from asterisk_bridge.config import Config
from asterisk_bridge.privacy import mask_name, mask_number
from asterisk_bridge.store import report_queries as rq

from .definitions import BUCKETS
from .figures import Figures, Section
from .period import local_day
from .render import labels

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: ``stats --format csv`` columns. ``kind``: ``line`` (one per line), ``total`` (all lines),
#: ``topic``, ``age`` and ``hour`` (only ``offered`` and ``share`` filled; ``key`` is the topic
#: id, the age group code or the hour ``00``..``23``; ``line`` is empty for all lines); then
#: ``queue`` (``key`` the queue, ``name`` its description, ``line`` the lines that use it),
#: ``operator`` (``key`` the interface, ``name`` the member name, ``answered`` the calls answered)
#: and ``pause`` (one per operator and reason: ``key`` the reason, ``name`` the operator). Columns
#: are only ever added at the end.
STATS_COLUMNS = (
    "kind", "line", "name", "key", "offered", *BUCKETS, "selfservice_rate", "share", "queued", "answered_within",
    "abandoned_within", "service_level", "asa_seconds", "longest_wait_seconds", "avg_talk_seconds", "abandon_rate",
    "abandoned", "unknown", "talk_seconds", "avg_ring_seconds", "ring_outs", "auto_pauses", "logged_in_seconds",
    "paused_seconds", "pauses", "auto", "occupancy", "flagged",
)


def spreadsheet_safe(value: Any) -> Any:
    """``value``, with a leading ``'`` when it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _write(out: io.TextIOBase, columns: Iterable[str], rows: Iterable[Mapping[str, Any]], *,
           lineterminator: str = "\r\n") -> int:
    columns = tuple(columns)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator=lineterminator)
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: spreadsheet_safe("" if row.get(k) is None else row[k]) for k in columns})
        count += 1
    return count


def stats_json(figures: Figures) -> str:
    """``stats --format json`` exactly (the web console's download is the same bytes)."""
    return json.dumps(figures.to_json(), ensure_ascii=False, indent=2) + "\n"


def stats_csv(figures: Figures, config: Config) -> str:
    """One row per line and a total row (every count and queue figure), then the topic, age group
    and hour rows of each line and of the total, named in the summary's language."""
    words = labels(figures, config)
    main = figures.main
    sections = [*main.lines, main.total]
    rows: list[dict[str, Any]] = []
    for section in sections:
        data = section.to_json()
        counts = data["counts"]
        rows.append({"kind": "line" if section.line else "total", "line": section.line,
                     "name": section.name or words.total, **counts,
                     **(data["queue"] or {})})
    for section in main.lines:
        for topic in section.topics:
            rows.append(_share_row("topic", section, topic.key, topic.name or topic.key or words.no_topic,
                                   topic.calls, topic.share))
    for section in sections:
        for age in section.ages:
            rows.append(_share_row("age", section, age.key, words.age.get(age.key, age.key), age.calls, age.share))
    for section in sections:
        offered = section.counts.offered
        for hour, calls in enumerate(section.hours):
            rows.append(_share_row("hour", section, f"{hour:02d}", f"{hour:02d}:00", calls,
                                   round(calls / offered, 4) if offered else None))
    for queue in figures.queues:
        data = queue.to_json()
        rows.append({"kind": "queue", "line": " ".join(queue.lines), "key": queue.queue, "name": queue.name,
                     **{k: v for k, v in data.items() if k not in ("queue", "name", "lines")}})
    for operator in figures.operators:
        data = operator.to_json()
        rows.append({"kind": "operator", "key": operator.interface, "name": operator.name,
                     "answered": operator.answered, "flagged": int(operator.flagged),
                     **{k: v for k, v in data.items() if k in STATS_COLUMNS and k != "flagged"}})
        for pause in operator.paused:
            rows.append({"kind": "pause", "key": pause.reason, "name": operator.name,
                         "paused_seconds": round(pause.seconds, 1), "pauses": pause.pauses, "auto": int(pause.auto)})
    out = io.StringIO()
    _write(out, STATS_COLUMNS, rows, lineterminator="\n")  # printed on stdout
    return out.getvalue()


def _share_row(kind: str, section: Section, key: str, name: str, calls: int, share: float | None) -> dict[str, Any]:
    return {"kind": kind, "line": section.line, "name": name, "key": key, "offered": calls,
            "share": None if share is None else round(share, 4)}


def write_calls_csv(config: Config, db_path: str | Path, day: date, path: Path) -> int:
    """The day's calls, one row each; caller numbers (and numbers inside caller names) masked
    unless ``privacy.mask_callers`` is off."""
    period = local_day(day, config.timezone)
    mask = config.privacy.mask_callers

    def rows() -> Iterable[Mapping[str, Any]]:
        for row in rq.day_calls(db_path, period.start_utc, period.end_utc):
            if mask:
                row = {**row, "caller_number": mask_number(row["caller_number"]),
                       "caller_name": mask_name(row["caller_name"])}
            yield row

    with path.open("w", encoding="utf-8", newline="") as fh:
        return _write(fh, rq.CSV_COLUMNS, rows())
