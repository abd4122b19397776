"""Log lines for admins: plain text or one JSON object per line (for journald/Loki/ELK)."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import datetime, timezone

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PlainFormatter(logging.Formatter):
    """``2026-11-26 16:13:28,512 INFO asterisk_bridge.ivr: menu line=122 ...`` in local time.

    The date and time part is formatted once per second: a busy bridge writes a line per call,
    and ``strftime`` was a fifth of each line's cost.
    """

    def __init__(self) -> None:
        super().__init__(PLAIN)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:  # a race between threads only formats the same second twice
            self._text, self._second = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)), second
        return f"{self._text},{int(record.msecs):03d}"


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
    # Neither format shows the source line, thread or process: skip collecting them for every
    # record (the optimisations listed in the logging HOWTO).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if sys.version_info >= (3, 12):
        logging.logAsyncioTasks = False
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else PlainFormatter())
    logging.basicConfig(level=level, handlers=[handler])
