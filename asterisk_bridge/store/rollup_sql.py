"""The SQL pieces the rollup triggers (``rollup_ddl.py``, ``rollup_rows.py``) and the build
(``rollups.py``) share: the state the triggers read, local days and hours of a UTC time through
``rollup_calendar`` / ``rollup_zone``, sums in whole microseconds (so adding and taking out are
exact), and the trigger text itself."""

from __future__ import annotations


def _state(column: str) -> str:
    return f"(SELECT {column} FROM rollup_state WHERE id = 1)"


def counted(call_id: str) -> str:
    """True when the build has passed ``call_id`` (so its rows are counted)."""
    return f"(SELECT calls_through IS NULL OR {call_id} <= calls_through FROM rollup_state WHERE id = 1)"


UNLINKED_COUNTED = _state("unlinked_done")
THRESHOLD = _state("service_level_seconds")
SHORT = _state("short_abandon_seconds")
#: rows a day's maximum is read again from: those the build has passed (``c`` is calls)
COUNTED_ROWS = f"c.linkedid <= COALESCE({_state('calls_through')}, c.linkedid)"


def day_of(t: str) -> str:
    """The local day (``YYYY-MM-DD``) of UTC ISO time ``t``; NULL outside the calendar."""
    return (f"(SELECT day FROM rollup_calendar WHERE start_utc <= {t} AND end_utc > {t} "
            "ORDER BY start_utc DESC LIMIT 1)")


def hour_of(t: str) -> str:
    offset = f"(SELECT offset_seconds FROM rollup_zone WHERE since_utc <= {t} ORDER BY since_utc DESC LIMIT 1)"
    return f"CAST(strftime('%H', {t}, {offset} || ' seconds') AS INTEGER)"


def micros(x: str) -> str:
    return f"CAST(round({x} * 1000000) AS INTEGER)"


def keep_max(column: str) -> str:
    return (f"{column} = CASE WHEN excluded.{column} IS NULL THEN {column} "
            f"WHEN {column} IS NULL OR excluded.{column} > {column} THEN excluded.{column} ELSE {column} END")


def adding(*columns: str) -> str:
    return ", ".join(f"{c} = {c} + excluded.{c}" for c in columns)


def row_source(r: str, fields: tuple[str, ...]) -> str:
    """Trigger row ``r`` (NEW or OLD) as a one-row table."""
    return "(SELECT " + ", ".join(f"{r}.{f} AS {f}" for f in fields) + ")"


def trigger(name: str, when: str, table: str, condition: str, statements: list[str]) -> str:
    body = ";\n".join(statements)
    guard = f" WHEN {condition}" if condition else ""
    return f"CREATE TRIGGER {name} {when} ON {table}{guard} BEGIN\n{body};\nEND"


def changed(columns: tuple[str, ...]) -> str:
    return "(" + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns) + ")"
