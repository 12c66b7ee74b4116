"""The console: one line per request on stderr, as text or as JSON for log shippers, written off the loop.

``setup_console`` puts a queue handler on the root logger: a record is only appended to a queue by the
code that logs it, and a writer thread formats it and writes it to stderr, so a slow terminal or a full
pipe never holds the event loop. The thread wakes on the first line, lets others gather for ``LINGER``
seconds and writes them all at once (one write and one flush, not one per line). ``ferryman serve`` calls
it in its own process, and every worker again (``app_from_env``) from ``FERRYMAN_LOG_LEVEL`` and
``FERRYMAN_LOG_FORMAT``.

A request's line (``request_line``, logger ``ferryman.requests`` at ``info``) is the hot path's: while
that logger has no handler nor filter of its own and the root logger only the console's handler (what
``setup_console`` makes), the request's entry itself is queued, with the time, and the thread makes the
line from it, as a record would have been formatted (``TEXT_FORMAT``, or ``JsonFormatter``'s object with
the line's fields), its names scrubbed of secrets as a record's message is (``scrub.py``; a name seen
before is a lookup, not a scan: ``scrub_name``), and its error too. Otherwise (a handler or a
filter added, pytest's log capture) it is logged as a record with its fields as ``request``.
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
from collections.abc import Callable
from typing import Any

from ferryman.scrub import scrub, scrub_name
from ferryman.state.logs import LogEntry

REQUESTS = "ferryman.requests"  # the logger of the per-request lines
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
LINE = "%s %s model=%s provider=%s status=%d latency_ms=%.1f tokens=%d/%d cost_usd=%.6f key=%s"
LINGER = 0.01  # seconds the writer lets lines gather after the first before it writes them

requests = logging.getLogger(REQUESTS)
_parent = logging.getLogger("ferryman")
_root = logging.getLogger()
# a request's line on the queue: (time.time(), its entry, its key's name)
_Line = tuple[float, LogEntry, str | None]

_console: _Console | None = None
_lock = threading.Lock()


class _Deferred(logging.handlers.QueueHandler):
    """A queue handler that leaves all formatting to the writer's thread (the stock one formats here)."""

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


def request_line(entry: LogEntry, key_name: str | None) -> None:
    """The console line of a request's entry (the caller checked ``requests.isEnabledFor(INFO)``)."""
    console = _console
    if (
        console is not None
        and not requests.handlers
        and not requests.filters
        and requests.propagate
        and not _parent.handlers
        and _parent.propagate
        and len(_root.handlers) == 1
        and _root.handlers[0] is console.handler
    ):
        console.records.put((time.time(), entry, key_name))
        return
    requests.info(LINE, *_arguments(entry, key_name), extra={"request": _fields(entry, key_name)})


def _arguments(entry: LogEntry, key_name: str | None, clean: Callable[[str], str] = str) -> tuple[Any, ...]:
    """``LINE``'s arguments; ``clean`` scrubs the names a secret could hide in (a record is scrubbed whole)."""
    provider = clean(f"{entry.provider}/{entry.model_deployment}") if entry.provider else "-"
    return (
        "POST",
        entry.route,
        clean(entry.model_requested),
        provider,
        entry.status_code,
        entry.latency_ms,
        entry.input_tokens,
        entry.output_tokens,
        entry.cost_usd,
        clean(key_name) if key_name else "-",
    )


def _fields(entry: LogEntry, key_name: str | None) -> dict[str, Any]:
    return {
        "method": "POST",
        "route": entry.route,
        "model": entry.model_requested,
        "provider": entry.provider,
        "model_deployment": entry.model_deployment,
        "status": entry.status_code,
        "latency_ms": entry.latency_ms,
        "input_tokens": entry.input_tokens,
        "output_tokens": entry.output_tokens,
        "cost_usd": entry.cost_usd,
        "key": key_name,
        "cache_hit": entry.cache_hit,
        "stream": entry.stream,
        "response_id": entry.response_id,
        "error": entry.error,
    }


class _Console:
    """The writer thread: what is queued (records, requests' lines), formatted and written in batches."""

    def __init__(self, stream: Any, fmt: str) -> None:
        self.json = fmt == "json"
        self.stream = stream
        self.records: queue.SimpleQueue[logging.LogRecord | _Line | None] = queue.SimpleQueue()
        self.handler = _Deferred(self.records)  # the root logger's handler
        # formats the records and reports a record it cannot format (handleError)
        self.formatting = logging.StreamHandler(stream)
        self.formatting.setFormatter(JsonFormatter() if self.json else logging.Formatter(TEXT_FORMAT))
        self._second = -1  # the second whose time prefix is ``_prefix``
        self._prefix = ""
        self._thread = threading.Thread(target=self._run, name="ferryman-console", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self.records.put(None)
            self._thread.join()

    def direct(self) -> None:
        """Write what is queued, end the thread, and from then on write each line as it is logged."""
        self.stop()
        writer = _Direct(self)
        self.records = writer  # type: ignore[assignment]  # ``put`` is all the records' users call
        self.handler.queue = writer  # type: ignore[assignment]  # and the handler's ``put_nowait``

    def _run(self) -> None:
        get = self.records.get
        while True:
            batch = [get()]
            if batch[0] is not None:
                time.sleep(LINGER)  # the lines of the next few milliseconds join this write
            while True:
                try:
                    batch.append(get(block=False))
                except queue.Empty:
                    break
            if not self._write(batch):
                return

    def _write(self, batch: list[logging.LogRecord | _Line | None]) -> bool:
        """Format and write ``batch`` at once; False once it holds the end."""
        lines: list[str] = []
        going = True
        for item in batch:
            if item is None:
                going = False
            elif isinstance(item, tuple):
                lines.append(self._line(*item))
            else:
                try:
                    lines.append(self.formatting.format(item))
                except Exception:  # noqa: BLE001 - logging's own report of a record it cannot format
                    self.formatting.handleError(item)
        if lines:
            lines.append("")
            try:
                self.stream.write("\n".join(lines))
                self.stream.flush()
            except Exception:  # noqa: BLE001 - stderr is gone or full: nowhere to say so
                pass
        return going

    def _line(self, created: float, entry: LogEntry, key_name: str | None) -> str:
        """A request's line as ``formatting`` would write its record (``created``: its time)."""
        second = int(created)
        msecs = int((created - second) * 1000)
        if second != self._second:  # one strftime a second
            self._second = second
            if self.json:
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        message = LINE % _arguments(entry, key_name, scrub_name)
        if not self.json:
            return f"{self._prefix},{msecs:03d} INFO {REQUESTS}: {message}"
        line = {"time": f"{self._prefix}.{msecs:03d}Z", "level": "info", "logger": REQUESTS, "message": message}
        line.update(_fields(entry, key_name))
        for name in ("model", "provider", "model_deployment", "key"):
            if line[name] is not None:
                line[name] = scrub_name(line[name])
        if entry.error is not None:
            line["error"] = scrub(entry.error)
        return json.dumps(line, default=str)


class _Direct:
    """The records' queue once the process is ending: each item written at once, by the thread that logs it."""

    def __init__(self, console: _Console) -> None:
        self.console = console
        self.lock = threading.Lock()

    def put(self, item: logging.LogRecord | _Line) -> None:
        with self.lock:
            self.console._write([item])

    put_nowait = put


def write_directly() -> None:
    """The end of a process is near: every line from now on is written as it is logged, so none waits in the
    queue. uvicorn ends a graceful shutdown on SIGTERM by raising the signal again with its default action,
    which kills the process without running ``atexit``: the queue's last lines (the shutdown's own, an error
    while stopping) would be lost. The app calls this as its shutdown begins."""
    console = _console
    if console is not None:
        console.direct()


def setup_console(level: str | None = None, fmt: str | None = None) -> None:
    """Route every log record of this process through the queue to stderr (once per process)."""
    global _console
    level = (level or os.environ.get("FERRYMAN_LOG_LEVEL") or "info").upper()
    fmt = fmt or os.environ.get("FERRYMAN_LOG_FORMAT") or "text"
    with _lock:
        if _console is not None:
            return
        console = _Console(sys.stderr, fmt)
        console.start()
        atexit.register(console.stop)
        for old in _root.handlers[:]:
            _root.removeHandler(old)
        _root.addHandler(console.handler)
        _root.setLevel(level)
        _console = console
