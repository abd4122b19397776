"""Log lines for admins: plain text or one JSON object per line (for journald/Loki/ELK)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JSONFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (+ ``exc`` with a traceback), one line each."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup(level: int, fmt: str = "plain") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else logging.Formatter(PLAIN))
    logging.basicConfig(level=level, handlers=[handler])
