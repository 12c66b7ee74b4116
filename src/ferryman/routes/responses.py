"""POST /v1/responses (also under /openai/v1 and /litellm/v1): one handler for every prefix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ferryman.gateway.pipeline import RequestContext, add_cost
from ferryman.gateway.resume import OpenNext, Resumer
from ferryman.gateway.router import Target
from ferryman.gateway.streaming import StreamRelay
from ferryman.http import Receive, Scope, Send, header, read_body, send_json
from ferryman.providers.base import EventStream
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.items import input_items
from ferryman.schemas.responses import ResponsesRequest, validate_request

if TYPE_CHECKING:
    from ferryman.app import Gateway

_TRUE = {"1", "true", "yes", "on"}


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


async def create_response(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    body = await read_body(receive, gw.config.max_request_bytes)
    raw, req = validate_request(body)
    raw_flag = header(scope, b"x-ferryman-send-back-raw")
    ctx = RequestContext(
        model_requested=req.model,
        stream=req.stream,
        send_back_raw=gw.config.send_back_raw or (raw_flag is not None and raw_flag.lower() in _TRUE),
    )
    timeout = _timeout_header(scope)
    targets = gw.router.targets(req.model, req.fallbacks)
    try:
        if req.stream:
            stream, ctx.target = await gw.dispatcher.open_stream(req, raw, targets, ctx.attempts, timeout)
        else:
            reply, ctx.target = await gw.dispatcher.create(req, raw, targets, ctx.attempts, timeout)
    except Exception as exc:
        exc.ferryman_attempts = ctx.attempts  # type: ignore[attr-defined]
        raise
    attempts_header = (b"x-ferryman-attempts", ctx.attempts.header().encode())

    if not req.stream:
        response = reply.body
        add_cost(response, ctx, gw.config)
        response["extra_fields"] = ctx.extra_fields(sent=reply.sent, raw_response=reply.raw)
        await send_json(send, 200, msgspec.json.encode(response), [attempts_header])
        return

    sent = stream.sent
    resumer = None
    rest = targets[targets.index(ctx.target) + 1 :]
    if gw.config.stream_resume and rest:
        resumer = Resumer(_continuation(gw, raw, rest, ctx, timeout), ctx.target)

    def finalize(response: dict[str, Any], index: int) -> dict[str, Any]:
        if resumer is not None and resumer.resumed:
            ctx.target = resumer.served_by
            ctx.resumed = resumer.resumed
        add_cost(response, ctx, gw.config)
        response["extra_fields"] = ctx.extra_fields(sent=sent)
        return {"chunk_index": index, **ctx.extra_fields()}

    relay = StreamRelay(
        send,
        receive,
        stream,
        keepalive=gw.config.stream_keepalive,
        provider=ctx.target.provider,
        finalize=finalize,
        resumer=resumer,
    )
    await relay.run([attempts_header])


def _continuation(
    gw: Gateway, raw: dict[str, Any], targets: list[Target], ctx: RequestContext, timeout: float | None
) -> OpenNext:
    """How a broken stream goes on: the same request, the text so far as an assistant prefix."""

    async def open_next(prefix: str) -> tuple[EventStream, Target] | None:
        items = input_items(raw.get("input"))
        if prefix:
            items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": prefix}]})
        raw2 = {**raw, "input": items, "stream": True}
        raw2.pop("fallbacks", None)
        req2 = msgspec.convert(raw2, ResponsesRequest)
        try:
            return await gw.dispatcher.open_stream(req2, raw2, targets, ctx.attempts, timeout)
        except FerrymanError:
            return None

    return open_next
