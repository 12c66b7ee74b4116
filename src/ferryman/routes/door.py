"""What every POST door shares: the body read within its bounds and given back to the in-flight budget once
the reply is out, the headers Ferryman reads on every model request (``x-ferryman-timeout``, true/false
flags), the ``x-ferryman-*`` headers of a reply, and failures recorded once by the hooks' ``failed`` parts.
A door subclasses ``Door`` and says how it answers (``_answer``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Pending
from ferryman.gateway.pipeline import Pipeline
from ferryman.http import BodyBudget, ClientGone, Receive, Scope, Send, client_credential, header, read_body
from ferryman.schemas.errors import FerrymanError, InvalidRequestError

_TRUE = {"1", "true", "yes", "on"}
_DROPPED_SAFE = " []()_-.:/"


@contextlib.asynccontextmanager
async def answering(pipeline: Pipeline, ex: Exchange) -> AsyncIterator[None]:
    """Until a door has its answer: a failure inside (a refusal, every target failed, the client gone, a
    bug) is recorded once by the hooks' ``failed`` parts and goes on up to be rendered."""
    try:
        yield
    except FerrymanError as exc:
        await pipeline.fail(ex, exc)
        raise
    except ClientGone:
        left = FerrymanError("The client left before its answer.", code="client_closed", status=499)
        await pipeline.fail(ex, left)
        raise
    except Exception:
        await pipeline.fail(ex, FerrymanError("Ferryman hit an internal error.", code="internal_error"))
        raise


def timeout_header(scope: Scope) -> float | None:
    value = header(scope, b"x-ferryman-timeout")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidRequestError(
            "Header x-ferryman-timeout must be a positive number of seconds.",
            param="x-ferryman-timeout",
            code="invalid_header",
        )
    return seconds


def flag_header(scope: Scope, name: bytes) -> bool | None:
    """A true/false header (``1``/``true``/``yes``/``on`` is true, anything else false); None when absent."""
    value = header(scope, name)
    return None if value is None else value.strip().lower() in _TRUE


def gateway_headers(ex: Exchange, *, whole: bool = False) -> list[tuple[bytes, bytes]]:
    """What the gateway says about the request in the reply's headers: the attempts, what was dropped, what the
    hooks add (governance's ``x-ratelimit-*``) and, on a ``whole`` reply (JSON: its headers go out at its end),
    the gateway's own time (a stream's final event has it in ``extra_fields.overhead_ms``)."""
    headers = [(b"x-ferryman-attempts", ex.attempts.header().encode()), *ex.reply_headers]
    if whole:
        headers.append((b"x-ferryman-overhead-ms", b"%.3f" % ex.overhead_ms()))
    if ex.compat.dropped:  # tool types are client text: percent-encoded to a header-safe ASCII token
        headers.append(
            (b"x-ferryman-dropped", ", ".join(quote(d, safe=_DROPPED_SAFE) for d in ex.compat.dropped).encode())
        )
    return headers


class Door:
    def __init__(self, pipeline: Pipeline, *, max_request_bytes: int, budget: BodyBudget) -> None:
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes
        self.budget = budget

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive, self.max_request_bytes, self.budget)
        try:
            pending = await self._answer(scope, receive, send, body)
        finally:
            self.budget.give(len(body))  # the reply is out: the body, and what it was parsed into, are let go
        if pending is not None:
            await pending

    @staticmethod
    def options(scope: Scope) -> dict[str, Any]:
        """What every exchange takes from a request's own headers: the caller's credential, the opt-in to
        ``raw_request``/``raw_response``, a shorter upstream timeout."""
        return {
            "credential": client_credential(scope),
            "send_back_raw": bool(flag_header(scope, b"x-ferryman-send-back-raw")),
            "timeout": timeout_header(scope),
        }

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> Pending:
        """Answers the request; what is left to finish after the reply (the store's commit) is returned."""
        raise NotImplementedError
