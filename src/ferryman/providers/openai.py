"""OpenAI Responses API, and any server that speaks it natively: the fast path.

The client's body is forwarded with only ``model`` swapped and gateway-only fields removed, and the
stream is relayed event by event as it arrives. Nothing is translated, so nothing is lost.

A stream is returned once its first event has arrived and is well-formed: a provider that goes
silent or sends garbage before it fails here, with a status the dispatcher can still fall back on.
Its body is not capped as a whole (the relay holds one event at a time); one event is, at
``max_upstream_bytes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import msgspec

from ferryman.providers.base import Call, EventStream, HttpProvider, SSEEvent, UpstreamReply, stream_failure
from ferryman.providers.native import CHAT, Native
from ferryman.schemas.errors import UpstreamConnectionError
from ferryman.schemas.events import read_head
from ferryman.schemas.items import unsupported
from ferryman.schemas.responses import OPENAI_MISSING, native_openai_body
from ferryman.sse import flatten, iter_sse_batches

if TYPE_CHECKING:
    from ferryman.providers.openai_chat import ChatCompletionsProvider


class OpenAIResponsesProvider(HttpProvider):
    path = "/responses"
    _chat: ChatCompletionsProvider | None = None

    def passes(self, native: Native, deployment: str) -> bool:
        return native.api == CHAT  # its Chat Completions API, beside the Responses API

    def chat_api(self) -> ChatCompletionsProvider:
        """The same provider's Chat Completions API (the Chat Completions door's fast path), on its pool."""
        if self._chat is None:
            from ferryman.providers.openai_chat import QUIRKS, ChatCompletionsProvider

            self._chat = ChatCompletionsProvider(self.config, QUIRKS["openai"])
            self._chat.share_pool(self)
        return self._chat

    def url(self) -> str:
        return f"{self.config.base_url}{self.path}"

    def body(self, call: Call) -> dict[str, Any]:
        # ``stream`` is left as the client sent it: the dispatcher chose create() or stream() from it
        raw = call.raw
        if "stop" in raw or "top_k" in raw:  # the Anthropic door's extensions (one look-up each otherwise)
            raw = self._without_extensions(call)
        return native_openai_body(dict(raw), call.deployment)

    def _without_extensions(self, call: Call) -> dict[str, Any]:
        """The body without the extensions the Responses API has no field for: refused (a 400 naming the
        field), or left out and named in ``dropped`` under ``compat.drop_unsupported``."""
        raw = dict(call.raw)
        for name in OPENAI_MISSING:
            if raw.get(name) is None:
                raw.pop(name, None)
                continue
            if call.dropping is None:
                raise unsupported(name, self.name, "the Responses API has no such field")
            raw.pop(name)
            call.dropped.append(name)
        return raw

    async def create(self, call: Call) -> UpstreamReply:
        if call.native is not None:
            return await self.chat_api().create(call)
        headers = self.headers(call)
        sent = self.body(call)
        resp = await self.post(self.url(), msgspec.json.encode(sent), headers, call, stream=False)
        body, payload = await self.read_json(resp)
        if not isinstance(body, dict):
            raise UpstreamConnectionError(
                f"{self.name}: the provider answered with an unexpected body", code="upstream_bad_response"
            )
        return UpstreamReply(body=body, sent=sent, raw=payload)

    async def stream(self, call: Call) -> EventStream:
        if call.native is not None:
            return await self.chat_api().stream(call)
        headers = self.headers(call)
        headers["accept"] = "text/event-stream"
        sent = self.body(call)
        resp = await self.post(self.url(), msgspec.json.encode(sent), headers, call, stream=True)
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            # a server that ignored stream=true: relay its one JSON answer as a stream would end
            payload = await self.read_body(resp)
            raise UpstreamConnectionError(
                f"{self.name}: asked for a stream, the provider answered {ctype or 'no content-type'}"
                f" ({payload[:200].decode('utf-8', 'replace')})",
                code="upstream_bad_response",
            )
        resp.max_bytes = None  # relayed as it comes: only one event is held, capped below
        rest = iter_sse_batches(resp.content.iter_any(), self.config.max_upstream_bytes)
        try:
            first = await anext(rest, None)
            if first is None:
                raise UpstreamConnectionError(
                    f"{self.name}: the stream ended before its first event", code="upstream_stream_incomplete"
                )
            read_head(first[0].data)  # the first event decides the status; the relay reads every later one
        except Exception as exc:  # noqa: BLE001 - every failure reaches the dispatcher as a FerrymanError
            resp.close()
            raise stream_failure(self.name, exc) from None
        batches = _chain(first, rest)
        return EventStream(events=flatten(batches), sent=sent, closers=[resp.close], batches=batches)


async def _chain(first: list[SSEEvent], rest: AsyncIterator[list[SSEEvent]]) -> AsyncIterator[list[SSEEvent]]:
    yield first
    async for batch in rest:
        yield batch
