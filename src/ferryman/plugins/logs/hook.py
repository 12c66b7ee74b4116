"""The request log as a pipeline hook: one entry per client request, answered or failed.

``after`` (an answer: a provider's, or a cache hit) and ``failed`` (refused, every target failed, a
stream broken after its start, the client gone) each build the request's entry from the exchange:
who asked (governance's key and team, when governance is on), what was asked and who served it,
every attempt with its status and time, the tokens and cost of the answer's ``usage``, and, unless
``logs: {content: false}``, the request's input and the answer's output. The entry goes to the
writer's queue (nothing is awaited) and, at ``info``, to the console as one line. ``on_event`` notes
the time of a stream's first delta: its time to first token.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ferryman.gateway.exchange import Exchange, to_ms
from ferryman.gateway.hooks import EVERY_OPERATION, Hook, Pending
from ferryman.gateway.usage import token_counts
from ferryman.plugins.governance.model import VirtualKey
from ferryman.plugins.logs.console import request_line, requests
from ferryman.plugins.logs.native import kept, kept_stream
from ferryman.plugins.logs.writer import LogWriter
from ferryman.schemas.errors import FerrymanError
from ferryman.state.logs import LogEntry, new_log_id

_FIRST = "logs.first_token"  # ex.state: perf_counter() of a stream's first delta


class RequestLogHook(Hook):
    name = "logs"
    observes = True  # an entry of what was answered, written once the client has it
    operations = EVERY_OPERATION  # an entry per request, whichever door it came in by (its ``route``)

    def __init__(self, writer: LogWriter | None, *, content: bool = True) -> None:
        self.writer = writer  # None: console lines only (``logs: false``)
        self.content = content

    def on_event(self, ex: Exchange, event_type: str | None) -> None:
        if event_type is not None and event_type.endswith(".delta") and _FIRST not in ex.state:
            ex.state[_FIRST] = time.perf_counter()

    def reads_output(self, ex: Exchange) -> bool:
        # the output is the entry's content (without it, the usage and id); a passed-through answer is kept as
        # its provider sent it, read when the entry is (``native.py``)
        return self.content and ex.native_reply is None and ex.native_stream is None

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        self._record(ex, 200, None, response)
        return None

    async def failed(self, ex: Exchange, error: FerrymanError) -> None:
        self._record(ex, error.status, error.message, None)

    def _record(self, ex: Exchange, status: int, error: str | None, response: dict[str, Any] | None) -> None:
        writer = self.writer
        printed = requests.isEnabledFor(logging.INFO)
        if writer is None and not printed:
            return
        entry = self.entry(ex, status, error, response, writer.clock() if writer is not None else time.time())
        if writer is not None:
            writer.put(entry)
        if printed:
            key: VirtualKey | None = ex.state.get("governance")
            request_line(entry, key.name if key is not None else None)

    def entry(
        self, ex: Exchange, status: int, error: str | None, response: dict[str, Any] | None, now: float
    ) -> LogEntry:
        key: VirtualKey | None = ex.state.get("governance")  # what the governance hook leaves (None: master key)
        output = response_id = None
        usage: Any = None
        if response is not None:
            usage, response_id, output = response.get("usage"), response.get("id"), response.get("output")
        if not isinstance(usage, dict):
            usage = {}
        input_tokens, output_tokens = token_counts(usage)
        detail = usage.get("cost")
        if not isinstance(detail, dict):
            detail = None
        cost = detail.get("total_cost") if detail is not None else None
        attempts = ex.attempts.log
        target = ex.target if ex.target is not None else (attempts[-1].target if attempts else None)
        first = ex.state.get(_FIRST)
        return LogEntry(
            new_log_id(now),
            now,
            ex.kind,
            response_id if isinstance(response_id, str) else None,
            key.id if key is not None else None,
            key.team_id if key is not None else None,
            ex.request.model,
            target.provider if target is not None else None,
            target.deployment if target is not None else None,
            status,
            error,
            ex.latency_ms(),
            to_ms(first - ex.t0) if first is not None else None,
            input_tokens,
            output_tokens,
            _int(_detail(usage, "input_tokens_details", "cached_tokens")),
            _int(_detail(usage, "output_tokens_details", "reasoning_tokens")),
            float(cost) if isinstance(cost, int | float) else 0.0,
            ex.answer is not None,
            ex.stream,
            [{"target": a.target.label, "status": a.status, "latency_ms": to_ms(a.seconds)} for a in attempts],
            detail,
            (ex.raw.get("input"), _output(ex, output)) if self.content else None,
        )


def _output(ex: Exchange, output: Any) -> Any:
    """The content's output: the answer's items, or a passed-through answer no hook read, kept as it came."""
    if output:
        return output
    if ex.native_reply is not None:
        return kept(ex.native_reply)
    return kept_stream(ex.native_stream()) if ex.native_stream is not None else output


def _detail(usage: dict[str, Any], part: str, name: str) -> Any:
    details = usage.get(part)
    return details.get(name) if isinstance(details, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
