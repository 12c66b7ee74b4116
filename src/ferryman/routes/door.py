"""What every front door does around the pipeline, whatever API it speaks.

A door reads the body (within the request-bytes budget), parses its wire format into the canonical
request and an ``Exchange`` (``parse``), hands the exchange to the pipeline, and renders what comes
back: a JSON reply (``reply``), a relayed event stream, a stream replayed from an answer a hook gave
(a cache hit), or the queued response of a background run. Until the provider's answer is in, a
client that leaves cancels the call (``LeaveWatch``); once a stream has begun its relay watches.

The canonical stream is the Responses API's: a door that speaks another API gives the relay a
``send`` that turns those events into its own frames as they go out (``stream_send``, see
``transcode.py``), and its errors are rendered in its own shape (``render_error``); the Responses door
needs neither. Everything between parse and render is the pipeline's, the same for every door.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import quote

import msgspec
from mypy_extensions import mypyc_attr

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Pending
from ferryman.gateway.passthrough import Frames, PassthroughRelay
from ferryman.gateway.pipeline import OpenStream, Pipeline
from ferryman.gateway.streaming import StreamRelay
from ferryman.http import (
    CREDENTIAL_HEADERS,
    BodyBudget,
    ClientGone,
    LeaveWatch,
    Receive,
    Scope,
    Send,
    credential_from,
    header_slots,
    read_body,
    send_json,
)
from ferryman.providers.native import Native
from ferryman.routes.replay import replay_stream
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.responses import ResponsesRequest

log = logging.getLogger("ferryman")

_DROPPED_SAFE = " []()_-.:/"

_TRUE = {"1", "true", "yes", "on"}


def _timeout(value: str | None) -> float | None:
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


def _flag(value: str | None) -> bool | None:
    """A true/false header (``1``/``true``/``yes``/``on`` is true, anything else false); None when absent."""
    return None if value is None else value.strip().lower() in _TRUE


# each request header a door reads, by name: its place in what ``options`` finds (the credential's three first)
_READ = {
    **CREDENTIAL_HEADERS,
    b"x-ferryman-send-back-raw": 3,
    b"x-ferryman-timeout": 4,
    b"x-ferryman-drop-unsupported": 5,
}

Headers = list[tuple[bytes, bytes]]


class Answering:
    """``async with Answering(pipeline, ex):`` until a door has its answer: a failure inside (a refusal, every
    target failed, the client gone, a bug) is recorded once by the hooks' ``failed`` parts and goes on up to be
    rendered. (A class, not ``contextlib.asynccontextmanager``: an async generator per request cost ~3 us.)"""

    __slots__ = ("ex", "pipeline")

    def __init__(self, pipeline: Pipeline, ex: Exchange) -> None:
        self.pipeline = pipeline
        self.ex = ex

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            return
        if isinstance(exc, FerrymanError):
            await self.pipeline.fail(self.ex, exc)
        elif isinstance(exc, ClientGone):
            left = FerrymanError("The client left before its answer.", code="client_closed", status=499)
            await self.pipeline.fail(self.ex, left)
        elif isinstance(exc, Exception):
            await self.pipeline.fail(self.ex, FerrymanError("Ferryman hit an internal error.", code="internal_error"))


class Options:
    """What every exchange takes from a request's own headers (``options``)."""

    def __init__(
        self, credential: str | None, send_back_raw: bool, timeout: float | None, drop_unsupported: bool | None
    ) -> None:
        self.credential = credential
        self.send_back_raw = send_back_raw
        self.timeout = timeout
        self.drop_unsupported = drop_unsupported


def options(scope: Scope) -> Options:
    """What every exchange takes from a request's own headers (one pass over them): the caller's credential,
    the opt-in to ``raw_request``/``raw_response``, a shorter upstream timeout, ``drop_unsupported``."""
    auth, api_key, other_key, raw, timeout, drop = header_slots(scope["headers"], _READ, 6)
    return Options(
        credential_from(auth, api_key, other_key),
        raw is not None and bool(_flag(raw.decode("latin-1"))),
        None if timeout is None else _timeout(timeout.decode("latin-1")),
        None if drop is None else _flag(drop.decode("latin-1")),
    )


def gateway_headers(ex: Exchange, *, whole: bool = False) -> Headers:
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


@mypyc_attr(allow_interpreted_subclasses=True)  # plugins' hooks and doors are interpreted classes
class Door:
    """A front door: ``create`` is its POST handler. Subclasses say how their API is parsed and rendered."""

    route: ClassVar[str] = "responses"  # its name in the request log, the metrics and ``extra_fields.request_type``

    def __init__(self, pipeline: Pipeline, *, max_request_bytes: int, keepalive: float, budget: BodyBudget) -> None:
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes
        self.keepalive = keepalive
        self.budget = budget

    # ---- what a door says about its API ---------------------------------------------------------

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        """The request as an exchange on the canonical request (``self.pipeline.exchange``); bad input raises
        ``InvalidRequestError`` before anything is called."""
        raise NotImplementedError

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        """A whole (non-stream) answer, from the canonical response."""
        raise NotImplementedError

    def stream_send(self, send: Send, ex: Exchange) -> Send:
        """Where the canonical event stream is written: ``send`` itself, or a door's transcoder in front of it."""
        return send

    def frames(self, ex: Exchange) -> Frames:
        """How a passed-through stream goes out (a door that passes its requests through says)."""
        raise NotImplementedError

    def exchange(
        self,
        scope: Scope,
        req: ResponsesRequest,
        raw: dict[str, Any],
        passthrough: Native | None = None,
        *,
        credential: str | None = None,
    ) -> Exchange:
        """The exchange for a parsed request, with the options every door reads from the gateway's headers
        (``x-ferryman-timeout``, ``x-ferryman-send-back-raw``, ``x-ferryman-drop-unsupported``) and the caller's
        credential (from the headers, else ``credential``: one the door found elsewhere, Gemini's ``?key=``);
        ``passthrough`` is the client's request for a target that speaks the door's API (``providers/native.py``)."""
        given = options(scope)
        ex = self.pipeline.exchange(
            req,
            raw,
            scope["headers"],
            credential=given.credential or credential,
            send_back_raw=given.send_back_raw,
            timeout=given.timeout,
            drop_unsupported=given.drop_unsupported,
        )
        ex.compat.native = passthrough
        return ex

    async def render_error(self, send: Send, exc: FerrymanError) -> None:
        """An error before the reply started, in the door's own shape; by default the app's (OpenAI's)."""
        raise exc

    # ---- the flow, the same for every door ------------------------------------------------------

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_request_bytes, self.budget)
        except FerrymanError as exc:
            await self.render_error(send, exc)
            return
        try:
            pending = await self._answer(scope, receive, send, body)
        except FerrymanError as exc:
            await self.render_error(send, exc)
            return
        finally:
            self.budget.give(len(body))  # the reply is out: the body, and what it was parsed into, are let go
        if pending is not None:
            await pending

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> Pending:
        """Answers the request; what is left to finish after the reply (the store's commit) is returned."""
        ex = self.parse(scope, body)
        ex.route = self.route
        pipeline = self.pipeline
        req = ex.responses
        # until the provider's answer is in (``ex.target`` is set with it), a client that leaves cancels the
        # call; a background run is not the client's to cancel
        async with Answering(pipeline, ex):
            with LeaveWatch(receive, lambda: ex.target is None and not req.background):
                await pipeline.prepare(ex)
                if req.background and ex.answer is None:
                    await send_json(send, 200, msgspec.json.encode(await pipeline.background(ex)))
                    return None
                opened = await pipeline.stream(ex) if ex.stream and ex.answer is None else None
                if opened is None:
                    response, pending = await pipeline.create(ex)
        if opened is not None:
            await self._relay(ex, opened, send, receive)
            return None
        if ex.stream:
            await replay_stream(self.stream_send(send, ex), response, response["extra_fields"], gateway_headers(ex))
        else:
            await self.reply(send, ex, response)
        if ex.read_later is not None:  # a passed-through reply, sent priced: the rest of the hooks now
            try:
                pending = await pipeline.after_reply(ex, response)
            except Exception:  # the client has its answer: a hook that fails now is logged, not answered
                log.exception("an after hook failed on a reply already sent")
        return pending

    async def _relay(self, ex: Exchange, opened: OpenStream, send: Send, receive: Receive) -> None:
        """The stream to the client: the canonical events through the door's ``stream_send``, or a passed-through
        stream in the door's own API as it comes (``gateway/passthrough.py``)."""
        assert ex.target is not None
        common: dict[str, Any] = {
            "keepalive": self.keepalive,
            "provider": ex.target.provider,
            "finalize": opened.finalize,
            "resumer": opened.resumer,
            "on_final": opened.on_final,
            "on_event": opened.on_event,
            "on_failed": opened.on_failed,
        }
        relay = (
            PassthroughRelay(send, receive, opened.events, frames=self.frames(ex), **common)
            if opened.events.tee is not None
            else StreamRelay(self.stream_send(send, ex), receive, opened.events, **common)
        )
        await relay.run(gateway_headers(ex))
