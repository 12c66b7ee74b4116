"""POST /v1/responses (also under /openai/v1 and /litellm/v1): one handler for every prefix.

The request is validated once, its model resolved to targets, its stored past (if it continues a
response) loaded; then it is answered as JSON, as a relayed stream, or in the background.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import msgspec

from ferryman.gateway.conversation import Conversation
from ferryman.gateway.dispatch import Shape
from ferryman.gateway.pipeline import RequestContext, add_cost
from ferryman.gateway.resume import OpenNext, Resumer
from ferryman.gateway.router import Target
from ferryman.gateway.streaming import StreamRelay
from ferryman.gateway.usage import context_window
from ferryman.http import Receive, Scope, Send, client_credential, header, read_body, send_json
from ferryman.plugins.cache import Hit, Plan, miss_debug
from ferryman.providers.base import EventStream
from ferryman.providers.builder import new_id
from ferryman.routes.replay import replay_stream
from ferryman.schemas.errors import FerrymanError, InvalidRequestError, is_context_overflow
from ferryman.schemas.items import input_items
from ferryman.schemas.responses import ResponsesRequest, validate_request
from ferryman.state.base import owner_of

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
    owner = owner_of(client_credential(scope)) if gw.store is not None else None
    conversation = Conversation(gw.config, gw.store, owner)
    await conversation.load(req, targets[0])
    plan = gw.cache.plan(scope, raw, req) if gw.cache is not None else None
    call = _Call(gw, ctx, req, raw, targets, timeout, conversation, plan)
    if plan is not None:
        hit = await gw.cache.lookup(plan)  # type: ignore[union-attr]
        if hit is not None:
            await call.from_cache(hit, send)
            return
        ctx.cache_debug = miss_debug(plan)
    if req.background:
        await call.in_background(send)
    elif req.stream:
        await call.streamed(send, receive)
    else:
        await call.answered(send)


class _Call:
    def __init__(
        self,
        gw: Gateway,
        ctx: RequestContext,
        req: ResponsesRequest,
        raw: dict[str, Any],
        targets: list[Target],
        timeout: float | None,
        conversation: Conversation,
        plan: Plan | None = None,
    ) -> None:
        self.gw = gw
        self.plan = plan
        self.ctx = ctx
        self.req = req
        self.raw = raw
        self.targets = targets
        self.timeout = timeout
        self.conversation = conversation
        self.shape: Shape | None = conversation.shape if conversation.chain else None

    def _attempts_header(self) -> tuple[bytes, bytes]:
        return (b"x-ferryman-attempts", self.ctx.attempts.header().encode())

    async def _keep(self, response: dict[str, Any]) -> Awaitable[None] | None:
        """For a reply: cache it (``cache``) and start storing it (``store``); the returned write is awaited
        once the reply has gone out, so the client never waits for the database."""
        target = self.ctx.target
        assert target is not None
        record = self.conversation.record(self.req, self.raw, response, target)
        write = self.gw.save_soon(record) if record is not None else None
        if self.plan is not None and self.gw.cache is not None:
            await self.gw.cache.store(self.plan, response, target.provider, target.deployment)
        return write

    async def from_cache(self, hit: Hit, send: Send) -> None:
        """Answer from the cache: a new response id, nothing spent upstream."""
        ctx = self.ctx
        response = dict(hit.response, id=new_id("resp"), created_at=int(time.time()))
        usage = dict(response.get("usage") or {})
        usage["cost"] = {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "request_cost": 0.0, "total_cost": 0.0}
        response["usage"] = usage
        ctx.target = Target(hit.provider, hit.model)
        ctx.cache_debug = hit.debug
        response["extra_fields"] = ctx.extra_fields()
        if hit.provider in self.gw.config.providers:
            record = self.conversation.record(self.req, self.raw, response, ctx.target)
            if record is not None:
                record.native_chain = False  # the provider never saw this id
                await self.gw.save(record)
        if self.req.stream:
            await replay_stream(send, response, {k: v for k, v in response["extra_fields"].items()})
        else:
            await send_json(send, 200, msgspec.json.encode(response))

    async def _dispatch(self, req: ResponsesRequest, raw: dict[str, Any], *, stream: bool) -> Any:
        """Call the targets; with truncation "auto", drop the oldest turns while the prompt is too long."""
        ctx = self.ctx
        run = self.gw.dispatcher.open_stream if stream else self.gw.dispatcher.create
        truncating = req.truncation == "auto" and bool(self.conversation.chain)
        if truncating:
            self._fit_context()
        while True:
            try:
                result, ctx.target = await run(req, raw, self.targets, ctx.attempts, self.timeout, self.shape)
                return result
            except FerrymanError as exc:
                if truncating and is_context_overflow(exc) and self.conversation.drop_oldest():
                    continue
                exc.ferryman_attempts = ctx.attempts  # type: ignore[attr-defined]
                raise

    def _fit_context(self) -> None:
        first = self.targets[0]
        provider = self.gw.config.providers[first.provider]
        window = context_window(provider.name, provider.type, first.deployment)
        if window:
            self.conversation.fit(self.raw, window, reserve=self.req.max_output_tokens or 4096)

    async def _create(self, req: ResponsesRequest, raw: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        reply = await self._dispatch(req, raw, stream=False)
        response: dict[str, Any] = reply.body
        add_cost(response, ctx, self.gw.config)
        response["extra_fields"] = ctx.extra_fields(sent=reply.sent, raw_response=reply.raw)
        return response

    async def answered(self, send: Send) -> None:
        response = await self._create(self.req, self.raw)
        write = await self._keep(response)
        await send_json(send, 200, msgspec.json.encode(response), [self._attempts_header()])
        if write is not None:
            await write

    async def in_background(self, send: Send) -> None:
        """Stored as ``queued`` and returned at once; the provider is called by a gateway task."""
        if self.req.stream:
            raise InvalidRequestError(
                "'background' with 'stream' is not supported: poll GET /v1/responses/{id} or replay it "
                "with ?stream=true once it is done.",
                param="stream",
                code="unsupported_parameter",
            )
        if self.req.store is False or self.gw.store is None:
            raise InvalidRequestError(
                "'background' needs the response to be stored: set store to true (and configure a store).",
                param="background",
                code="invalid_value",
            )
        skeleton = self.gw.background.skeleton(self.raw)
        record = self.conversation.record(self.req, self.raw, skeleton, self.targets[0])
        assert record is not None
        record.status = "queued"
        await self.gw.save(record)
        raw = {k: v for k, v in self.raw.items() if k != "background"}
        req = msgspec.structs.replace(self.req, background=None)

        async def work() -> dict[str, Any]:
            response = await self._create(req, raw)
            assert self.ctx.target is not None
            served = self.conversation.record(self.req, self.raw, {**response, "id": record.id}, self.ctx.target)
            if served is not None:
                record.provider, record.provider_type = served.provider, served.provider_type
                record.native_chain = False  # the provider stored it under its own id, not ours
            return response

        self.gw.background.launch(record, work)
        await send_json(send, 200, msgspec.json.encode(skeleton))

    async def streamed(self, send: Send, receive: Receive) -> None:
        ctx = self.ctx
        stream = await self._dispatch(self.req, self.raw, stream=True)
        assert ctx.target is not None
        sent = stream.sent
        resumer = None
        rest = self.targets[self.targets.index(ctx.target) + 1 :]
        if self.gw.config.stream_resume and rest:
            resumer = Resumer(self._continuation(rest), ctx.target)

        def finalize(response: dict[str, Any], index: int) -> dict[str, Any]:
            if resumer is not None and resumer.resumed:
                ctx.target = resumer.served_by
                ctx.resumed = resumer.resumed
            add_cost(response, ctx, self.gw.config)
            response["extra_fields"] = ctx.extra_fields(sent=sent)
            return {"chunk_index": index, **ctx.extra_fields()}

        relay = StreamRelay(
            send,
            receive,
            stream,
            keepalive=self.gw.config.stream_keepalive,
            provider=ctx.target.provider,
            finalize=finalize,
            resumer=resumer,
            on_final=self._keep,
        )
        await relay.run([self._attempts_header()])

    def _continuation(self, targets: list[Target]) -> OpenNext:
        """How a broken stream goes on: the same request, the text so far as an assistant prefix."""

        async def open_next(prefix: str) -> tuple[EventStream, Target] | None:
            items = input_items(self.raw.get("input"))
            if prefix:
                items.append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": prefix}]}
                )
            raw = {**self.raw, "input": items, "stream": True}
            raw.pop("fallbacks", None)
            req = msgspec.convert(raw, ResponsesRequest)
            try:
                return await self.gw.dispatcher.open_stream(
                    req, raw, targets, self.ctx.attempts, self.timeout, self.shape
                )
            except FerrymanError:
                return None

        return open_next
