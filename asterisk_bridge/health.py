"""``asterisk-bridge status``: what the running service is doing, and whether an admin is needed.

The running service writes a small JSON file next to the database every ``INTERVAL`` seconds
(written to a temporary file and renamed, so a reader never sees half a file). ``status``
reads it; no socket, no extra port, works for any user who may read the state directory. A file
that is not refreshed means the service is gone (stale), which monitoring must hear about too.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .config import Config

SCHEMA = 1
INTERVAL = 2.0


def status_path(config: Config) -> Path:
    """``<database>.status.json`` beside the database (the state directory the service may write)."""
    db = Path(config.database.path)
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
             ami_grace: float = 60.0) -> list[str]:
    """Everything that needs an admin; empty when all is well."""
    out = []
    age = now - float(status.get("written_at", 0))
    if status.get("state") == "stopped":
        out.append(f"the service stopped at {_when(status.get('written_at'))}")
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
    mqtt = status.get("mqtt") or {}
    depth = mqtt.get("outbox_depth")
    if mqtt.get("enabled") and isinstance(depth, int) and depth > outbox_warn:
        out.append(f"MQTT outbox holds {depth} events (threshold {outbox_warn})"
                   + ("" if mqtt.get("connected") else ", broker not connected"))
    store = status.get("store") or {}
    if store.get("last_error") and store.get("pending"):
        out.append(f"database writes failing: {store['pending']} record(s) waiting ({store['last_error']})")
    return out


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "never"
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def format_status(status: dict[str, Any], now: float) -> str:
    f, a, m = status.get("fastagi") or {}, status.get("ami") or {}, status.get("mqtt") or {}
    summary, today, retention = status.get("summary") or {}, status.get("today") or {}, status.get("retention")
    lines = [
        f"node {status.get('node')}, pid {status.get('pid')}, {status.get('state')} since "
        f"{_when(status.get('started_at'))} (status written {now - float(status.get('written_at', 0)):.0f} s ago)",
        f"FastAGI  {f.get('listen')}: {f.get('active', 0)} session(s) in the menu now",
    ]
    if a.get("enabled"):
        lines.append("AMI      " + (f"connected since {_when(a.get('connected_since'))}, "
                                    f"{a.get('active_calls', 0)} call(s) followed" if a.get("connected")
                                    else f"NOT connected since {_when(a.get('down_since'))}"))
    else:
        lines.append("AMI      off")
    if m.get("enabled"):
        lines.append(f"MQTT     {'connected' if m.get('connected') else 'NOT connected'}, "
                     f"outbox {m.get('outbox_depth')} event(s)")
    else:
        lines.append("MQTT     off")
    lines.append("summary  " + (f"last sent for {summary['last_day']} at {summary['last_sent_at']}"
                                if summary.get("last_day") else "never sent")
                 + ("" if summary.get("enabled") else " (mail off)"))
    lines.append(f"today    {today.get('menu_sessions', 0)} menu session(s), {today.get('calls', 0)} call record(s)")
    store = status.get("store") or {}
    lines.append(f"database {store.get('path')}: {store.get('pending', 0)} record(s) waiting"
                 + (f", last error {store['last_error']}" if store.get("last_error") else ""))
    if retention:
        lines.append(f"privacy  retention last ran {retention.get('ran_at')}: {retention.get('sessions_hashed')} "
                     f"session(s) and {retention.get('calls_hashed')} call(s) hashed, "
                     f"{retention.get('steps_dropped')} step(s) dropped")
    return "\n".join(lines)


def now() -> float:
    return time.time()
