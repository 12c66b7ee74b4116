"""The mock adapter: answers every call itself, through the same ResponseBuilder the translating
adapters feed, so its replies and streams have exactly the shapes a real provider's have after translation.

Settings (``providers: {mock: {latency_ms, tokens_per_second}}``) make it behave like a model under
load: ``latency_ms`` before the first token, then each delta after the time its tokens take at
``tokens_per_second``; a whole (non-stream) reply waits for the sum. The waits are asyncio sleeps,
so thousands of paced streams share one event loop. By default it answers at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from typing import Any

from ferryman.ids import new_id
from ferryman.providers.base import Call, EventStream, SSEEvent, UpstreamReply
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.mock import tokens
from ferryman.providers.mock.answer import Answer, compose
from ferryman.providers.mock.config import MockConfig
from ferryman.providers.mock.failure import requested_failure
from ferryman.providers.native import Native

# one builder call and the tokens it says
Step = tuple[Callable[[ResponseBuilder], None], int]


class MockProvider:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.name = config.name
        self.latency = config.latency_ms / 1000
        self.tokens_per_second = config.tokens_per_second
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests watch the pacing here

    async def start(self) -> None:
        return None

    def passes(self, native: Native, deployment: str) -> bool:
        return False  # it answers the canonical request only

    async def stop(self) -> None:
        return None

    def _answer(self, call: Call) -> Answer:
        failure = requested_failure(self.name, call)
        if failure is not None:
            raise failure
        return compose(self.name, call)

    def _pace(self, output_tokens: int) -> float:
        return output_tokens / self.tokens_per_second if self.tokens_per_second else 0.0

    async def create(self, call: Call) -> UpstreamReply:
        answer = self._answer(call)
        wait = self.latency + self._pace(answer.output_tokens)
        if wait:
            await self.sleep(wait)
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id, silent=True)
        for step, _ in _steps(answer):
            step(builder)
        _finish(builder, answer)
        return UpstreamReply(body=builder.response(), sent=_sent(call))

    async def stream(self, call: Call) -> EventStream:
        answer = self._answer(call)  # a failure asked for comes before the first byte, so it can fall back
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id)
        return EventStream(events=self._events(answer, builder), sent=_sent(call), built=True)

    async def _events(self, answer: Answer, builder: ResponseBuilder) -> AsyncIterator[SSEEvent]:
        builder.start()
        for ev in builder.sse():
            yield ev
        for i, (step, said) in enumerate(_steps(answer)):
            wait = self._pace(said) if i else self.latency  # the first delta after the latency
            if wait:
                await self.sleep(wait)
            step(builder)
            for ev in builder.sse():
                yield ev
        _finish(builder, answer)
        for ev in builder.sse():
            yield ev


def _steps(answer: Answer) -> Iterator[Step]:
    """The answer as the builder calls a provider's stream would make, one delta at a time."""
    for piece in tokens.pieces(answer.reasoning):
        yield partial(ResponseBuilder.reasoning, delta=piece), tokens.estimate(piece)
    call = answer.tool_call
    if call is not None:
        call_id = new_id("call")
        yield partial(ResponseBuilder.tool_call, key="0", call_id=call_id, name=call.name), tokens.estimate(call.name)
        for piece in tokens.pieces(call.arguments):
            yield partial(ResponseBuilder.tool_args, key="0", delta=piece), tokens.estimate(piece)
    for piece in tokens.pieces(answer.text):
        yield partial(ResponseBuilder.text, delta=piece), tokens.estimate(piece)


def _finish(builder: ResponseBuilder, answer: Answer) -> None:
    builder.set_usage(answer.input_tokens, answer.output_tokens, reasoning_tokens=answer.reasoning_tokens)
    builder.finish("tool_calls" if answer.tool_call is not None else "stop")


def _sent(call: Call) -> dict[str, Any]:
    """What the mock was asked (``raw_request``): the request as the target got it, its model the deployment."""
    return {**call.raw, "model": call.deployment}
