"""``asterisk-bridge status``: what the running service is doing, and whether an admin is needed.

The running service writes a small JSON file next to the database every ``INTERVAL`` seconds
(written to a temporary file and renamed, so a reader never sees half a file). ``status``
reads it; no socket, no extra port, works for any user who may read the state directory. A file
that is not refreshed means the service is gone (stale), which monitoring must hear about too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .config import Config
from .report.period import local_date_of, local_day
from .store import maintenance
from .utc import parse_utc_iso

SCHEMA = 1
INTERVAL = 2.0


def status_path(config: Config) -> Path:
    """``<database>.status.json`` beside the database (the state directory the service may write)."""
    db = Path(config.database.path).absolute()
    return db.with_name(db.name + ".status.json")


def write_status(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> dict[str, Any]:
    """The last status the service wrote; FileNotFoundError / ValueError when there is none usable."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not an asterisk-bridge status file (schema {SCHEMA})")
    return data


def with_records(status: dict[str, Any], config: Config, now: float) -> dict[str, Any]:
    """``status`` with what the database says now: today's counts, the last summary sent (the
    send log, so a ``summary --send`` run a moment ago shows even when the service is stopped and
    its file is old) and the last retention run. The file's values stay when the database
    cannot be read."""
    day = local_day(local_date_of(now, config.timezone), config.timezone)
    try:
        figures = maintenance.status_figures(config.database.path, day.start_utc, day.end_utc)
    except (OSError, sqlite3.Error):
        return status
    sent = figures.get("summary") or {}
    return {
        **status,
        "summary": {**(status.get("summary") or {}), "last_day": sent.get("day"), "last_sent_at": sent.get("sent_at")},
        "today": {"menu_sessions": figures.get("menu_sessions", 0), "calls": figures.get("calls", 0)},
        "retention": figures.get("retention"),
    }


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # runs as another user (asterisk-bridge): it exists
    return True


def problems(status: dict[str, Any], now: float, *, stale_after: float = 30.0, outbox_warn: int = 1000,
             ami_grace: float = 60.0, timezone: str = "UTC") -> list[str]:
    """Everything that needs an admin; empty when all is well."""
    out = []
    age = now - float(status.get("written_at", 0))
    if status.get("state") == "stopped":
        out.append(f"the service stopped at {_when(status.get('written_at'), timezone)}")
        return out
    if age > stale_after or not _alive(status.get("pid")):
        out.append(f"status is stale ({age:.0f} s old, pid {status.get('pid')} "
                   f"{'running' if _alive(status.get('pid')) else 'not running'}): the service is not working")
    ami = status.get("ami") or {}
    if ami.get("enabled") and not ami.get("connected"):
        down = now - float(ami.get("down_since") or now)
        if down >= ami_grace:
            out.append(f"AMI is configured but not connected for {down:.0f} s"
                       + (f" ({ami['last_error']})" if ami.get("last_error") else ""))
    elif ami.get("enabled") and ami.get("reconcile_pending_since") is not None:
        pending = now - float(ami["reconcile_pending_since"])
        if pending >= ami_grace:
            error = ami.get("reconcile_error")
            out.append(f"calls not reconciled with Asterisk for {pending:.0f} s (CoreShowChannels / QueueStatus"
                       " not answered in time" + (f": {error})" if error else ")"))
    mqtt = status.get("mqtt") or {}
    depth = mqtt.get("outbox_depth")
    if mqtt.get("enabled") and isinstance(depth, int) and depth > outbox_warn:
        out.append(f"MQTT outbox holds {depth} events (threshold {outbox_warn})"
                   + ("" if mqtt.get("connected") else ", broker not connected"))
    store = status.get("store") or {}
    if store.get("last_error") and store.get("pending"):
        out.append(f"database writes failing: {store['pending']} record(s) waiting ({store['last_error']})")
    return out


def _when(moment: Any, tz: str) -> str:
    """Epoch seconds or a stored UTC ISO time, on the contact center's clock (``timezone``): the
    host's zone may differ, and every other time the bridge shows is in ``timezone``."""
    if isinstance(moment, str):
        try:
            moment = parse_utc_iso(moment)
        except ValueError:
            return moment
    if not isinstance(moment, (int, float)):
        return "never"
    return datetime.fromtimestamp(moment, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _reconcile(ami: dict[str, Any], tz: str) -> str:
    if ami.get("reconcile_pending_since") is None:
        return ""
    return (f", reconcile pending since {_when(ami['reconcile_pending_since'], tz)}"
            + (f" ({ami['reconcile_error']})" if ami.get("reconcile_error") else ""))


def format_status(status: dict[str, Any], now: float, timezone: str) -> str:
    """The status for people, every time in ``timezone``."""
    f, a, m = status.get("fastagi") or {}, status.get("ami") or {}, status.get("mqtt") or {}
    summary, today, retention = status.get("summary") or {}, status.get("today") or {}, status.get("retention")
    if status.get("state") == "stopped":
        state = (f"stopped at {_when(status.get('written_at'), timezone)} "
                 f"(had run since {_when(status.get('started_at'), timezone)})")
    else:
        state = (f"{status.get('state')} since {_when(status.get('started_at'), timezone)} "
                 f"(status written {now - float(status.get('written_at', 0)):.0f} s ago)")
    lines = [
        f"node {status.get('node')}, pid {status.get('pid')}, {state}",
        f"FastAGI  {f.get('listen')}: {f.get('active', 0)} session(s) in the menu now",
    ]
    if a.get("enabled"):
        lines.append("AMI      " + (f"connected since {_when(a.get('connected_since'), timezone)}, "
                                    f"{a.get('active_calls', 0)} call(s) followed" + _reconcile(a, timezone)
                                    if a.get("connected")
                                    else f"NOT connected since {_when(a.get('down_since'), timezone)}"))
    else:
        lines.append("AMI      off")
    if m.get("enabled"):
        lines.append(f"MQTT     {'connected' if m.get('connected') else 'NOT connected'}, "
                     f"outbox {m.get('outbox_depth')} event(s)")
    else:
        lines.append("MQTT     off")
    lines.append("summary  " + (f"last sent for {summary['last_day']} at {_when(summary['last_sent_at'], timezone)}"
                                if summary.get("last_day") else "never sent")
                 + ("" if summary.get("enabled") else " (mail off)"))
    lines.append(f"today    {today.get('menu_sessions', 0)} menu session(s), {today.get('calls', 0)} call record(s)")
    store = status.get("store") or {}
    lines.append(f"database {store.get('path')}: {store.get('pending', 0)} record(s) waiting"
                 + (f", last error {store['last_error']}" if store.get("last_error") else ""))
    if retention:
        lines.append(f"privacy  retention last ran {_when(retention.get('ran_at'), timezone)}: "
                     f"{retention.get('sessions_hashed')} "
                     f"session(s) and {retention.get('calls_hashed')} call(s) hashed, "
                     f"{retention.get('steps_dropped')} step(s) dropped")
    return "\n".join(lines)


def now() -> float:
    return time.time()
