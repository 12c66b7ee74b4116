"""POST /v1/responses (every prefix): the OpenAI Responses front door.

It parses the body once into the canonical request, reads its own headers (``x-ferryman-timeout``,
``x-ferryman-send-back-raw``, ``x-ferryman-drop-unsupported``), hands the exchange to the pipeline,
and renders what comes back (with the ``x-ferryman-attempts`` and ``x-ferryman-dropped`` headers): a JSON
reply, a relayed event stream, a stream replayed from an answer a hook gave (a cache hit), or the
queued response of a background run. Everything in between is the pipeline's. A client that leaves
before the provider's answer is in cancels the call (``LeaveWatch``); once a stream has begun its relay
watches for that.
"""

from __future__ import annotations

from urllib.parse import quote

import msgspec

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Pending
from ferryman.gateway.pipeline import OpenStream, Pipeline
from ferryman.gateway.streaming import StreamRelay
from ferryman.http import (
    BodyBudget,
    ClientGone,
    LeaveWatch,
    Receive,
    Scope,
    Send,
    client_credential,
    header,
    read_body,
    send_json,
)
from ferryman.routes.replay import replay_stream
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.responses import validate_request

_TRUE = {"1", "true", "yes", "on"}
_DROPPED_SAFE = " []()_-.:/"


def _timeout_header(scope: Scope) -> float | None:
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


def _flag_header(scope: Scope, name: bytes) -> bool | None:
    """A true/false header (``1``/``true``/``yes``/``on`` is true, anything else false); None when absent."""
    value = header(scope, name)
    return None if value is None else value.strip().lower() in _TRUE


def _gateway_headers(ex: Exchange, *, whole: bool = False) -> list[tuple[bytes, bytes]]:
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


class ResponsesDoor:
    def __init__(self, pipeline: Pipeline, *, max_request_bytes: int, keepalive: float, budget: BodyBudget) -> None:
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes
        self.keepalive = keepalive
        self.budget = budget

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive, self.max_request_bytes, self.budget)
        try:
            pending = await self._answer(scope, receive, send, body)
        finally:
            self.budget.give(len(body))  # the reply is out: the body, and what it was parsed into, are let go
        if pending is not None:
            await pending

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> Pending:
        """Answers the request; what is left to finish after the reply (the store's commit) is returned."""
        raw, req = validate_request(body)
        pipeline = self.pipeline
        ex = pipeline.exchange(
            req,
            raw,
            scope["headers"],
            credential=client_credential(scope),
            send_back_raw=bool(_flag_header(scope, b"x-ferryman-send-back-raw")),
            timeout=_timeout_header(scope),
            drop_unsupported=_flag_header(scope, b"x-ferryman-drop-unsupported"),
        )
        # until the provider's answer is in (``ex.target`` is set with it), a client that leaves cancels the
        # call; a background run is not the client's to cancel
        try:
            with LeaveWatch(receive, lambda: ex.target is None and not req.background):
                await pipeline.prepare(ex)
                if req.background and ex.answer is None:
                    await send_json(send, 200, msgspec.json.encode(await pipeline.background(ex)))
                    return None
                opened = await pipeline.stream(ex) if req.stream and ex.answer is None else None
                if opened is None:
                    response, pending = await pipeline.create(ex)
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
        if opened is not None:
            await self._relay(ex, opened, send, receive)
            return None
        if req.stream:
            await replay_stream(send, response, response["extra_fields"], _gateway_headers(ex))
        else:
            await send_json(send, 200, msgspec.json.encode(response), _gateway_headers(ex, whole=True))
        return pending

    async def _relay(self, ex: Exchange, opened: OpenStream, send: Send, receive: Receive) -> None:
        assert ex.target is not None
        relay = StreamRelay(
            send,
            receive,
            opened.events,
            keepalive=self.keepalive,
            provider=ex.target.provider,
            finalize=opened.finalize,
            resumer=opened.resumer,
            on_final=opened.on_final,
            on_event=opened.on_event,
            on_failed=opened.on_failed,
        )
        await relay.run(_gateway_headers(ex))
