"""The console: one line per request on stderr, as text or as JSON for log shippers, written off the loop.

``setup_console`` puts a queue handler on the root logger: a record is only appended to a queue by the
code that logs it, and a listener thread formats it and writes it to stderr, so a slow terminal or a
full pipe never holds the event loop. ``ferryman serve`` calls it in its own process, and every worker
again (``app_from_env``) from ``FERRYMAN_LOG_LEVEL`` and ``FERRYMAN_LOG_FORMAT``.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from typing import Any

REQUESTS = "ferryman.requests"  # the logger of the per-request lines
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

_listener: logging.handlers.QueueListener | None = None
_lock = threading.Lock()


class _Deferred(logging.handlers.QueueHandler):
    """A queue handler that leaves all formatting to the listener's thread (the stock one formats here)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and a request line's fields (``request``)."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "request", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_console(level: str | None = None, fmt: str | None = None) -> None:
    """Route every log record of this process through the queue to stderr (once per process)."""
    global _listener
    level = (level or os.environ.get("FERRYMAN_LOG_LEVEL") or "info").upper()
    fmt = fmt or os.environ.get("FERRYMAN_LOG_FORMAT") or "text"
    with _lock:
        if _listener is not None:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
        records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        _listener = logging.handlers.QueueListener(records, handler)
        _listener.start()
        atexit.register(_listener.stop)
        root = logging.getLogger()
        for old in root.handlers[:]:
            root.removeHandler(old)
        root.addHandler(_Deferred(records))
        root.setLevel(level)
