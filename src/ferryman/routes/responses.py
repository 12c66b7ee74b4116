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

import msgspec

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Pending
from ferryman.gateway.pipeline import OpenStream, Pipeline
from ferryman.gateway.streaming import StreamRelay
from ferryman.http import (
    BodyBudget,
    LeaveWatch,
    Receive,
    Scope,
    Send,
    send_json,
)
from ferryman.routes.door import Door, answering, flag_header, gateway_headers
from ferryman.routes.replay import replay_stream
from ferryman.schemas.responses import validate_request


class ResponsesDoor(Door):
    def __init__(self, pipeline: Pipeline, *, max_request_bytes: int, keepalive: float, budget: BodyBudget) -> None:
        super().__init__(pipeline, max_request_bytes=max_request_bytes, budget=budget)
        self.keepalive = keepalive

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> Pending:
        """Answers the request; what is left to finish after the reply (the store's commit) is returned."""
        raw, req = validate_request(body)
        pipeline = self.pipeline
        ex = pipeline.exchange(
            req,
            raw,
            scope["headers"],
            **self.options(scope),
            drop_unsupported=flag_header(scope, b"x-ferryman-drop-unsupported"),
        )
        # until the provider's answer is in (``ex.target`` is set with it), a client that leaves cancels the
        # call; a background run is not the client's to cancel
        async with answering(pipeline, ex):
            with LeaveWatch(receive, lambda: ex.target is None and not req.background):
                await pipeline.prepare(ex)
                if req.background and ex.answer is None:
                    await send_json(send, 200, msgspec.json.encode(await pipeline.background(ex)))
                    return None
                opened = await pipeline.stream(ex) if req.stream and ex.answer is None else None
                if opened is None:
                    response, pending = await pipeline.create(ex)
        if opened is not None:
            await self._relay(ex, opened, send, receive)
            return None
        if req.stream:
            await replay_stream(send, response, response["extra_fields"], gateway_headers(ex))
        else:
            await send_json(send, 200, msgspec.json.encode(response), gateway_headers(ex, whole=True))
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
        await relay.run(gateway_headers(ex))
