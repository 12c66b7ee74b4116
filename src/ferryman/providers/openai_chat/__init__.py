"""Any Chat Completions server (``POST {base_url}/chat/completions``), as the Responses API.

Mistral, Groq, DeepSeek, xAI, Together, Fireworks, Cerebras, Perplexity, OpenRouter, Cohere's
compatibility API, Ollama, vLLM, LM Studio and every other OpenAI-compatible server: one adapter,
with the differences between them in ``quirks.QUIRKS`` (one line per provider, looked up by the
config entry's name, then its base URL's host). ``request.py`` builds the body (its docstring holds
the field table and what is refused), ``response.py`` reads replies and streams back through the
shared ResponseBuilder. This module is the HTTP side:

- Bearer auth (a provider without a key, such as a local Ollama, gets no auth header);
- provider error bodies made readable: Mistral's validation errors (a ``message`` that is an
  object), FastAPI-style ``detail``, Groq's ``failed_generation``, OpenRouter's upstream
  ``metadata.raw`` are kept in the message;
- streams: the first chunk is read before the stream is handed to the relay, so an error chunk in
  place of an answer is still a plain error status the dispatcher can retry or fall back from; a
  server that ignored ``stream: true`` and answered with JSON is replayed as a stream; a body that
  ends after a finish_reason without ``[DONE]`` still completes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from ferryman.client import UpstreamResponse
from ferryman.providers.base import Call, EventStream, SSEEvent, UpstreamReply
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.extensions import EXTENSIONS
from ferryman.providers.malformed import reading
from ferryman.providers.native import CHAT, Native
from ferryman.providers.spec import ProviderConfig
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import FerrymanError, ProviderError
from ferryman.sse import iter_sse

from . import passthrough
from .quirks import DEFAULT, QUIRKS, Quirks, quirks_for
from .request import HINTS, TAG, native_request
from .response import EOF, ChatReader, with_details

__all__ = ["DEFAULT", "EXTENSIONS", "HINTS", "QUIRKS", "TAG", "ChatCompletionsProvider", "Quirks", "quirks_for"]


class ChatCompletionsProvider(TranslatingProvider):
    def __init__(self, config: ProviderConfig, quirks: Quirks | None = None) -> None:
        super().__init__(config)
        self.quirks = quirks if quirks is not None else quirks_for(config.name, config.base_url)

    # ---- the request ----------------------------------------------------------------------------

    def url(self, call: Call, *, stream: bool) -> str:
        if not self.config.base_url:
            raise FerrymanError(f"provider {self.name!r} has no base_url configured", code="provider_misconfigured")
        return f"{self.config.base_url.rstrip('/')}/chat/completions"

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        return native_request(
            call.request, call.raw, self.name, call.deployment, self.quirks, stream=stream, dropped=call.dropping
        )

    def http_error(self, resp: UpstreamResponse, payload: bytes) -> ProviderError:
        return self._readable(super().http_error(resp, payload))

    def _readable(self, exc: ProviderError) -> ProviderError:
        """The provider's error with the details its body holds beside (or instead of) a message."""
        body = exc.body
        if not isinstance(body, dict):
            return exc
        message = exc.provider_message
        err = body.get("error")
        if isinstance(err, dict):
            if isinstance(err.get("message"), dict | list):
                message = msgspec.json.encode(err["message"]).decode()
            message = with_details(message, err)
        elif isinstance(body.get("message"), dict | list):  # Mistral's 422: {"message": {"detail": [...]}}
            message = msgspec.json.encode(body["message"]).decode()
        elif body.get("detail") and message.startswith("upstream returned HTTP"):  # FastAPI servers
            detail = body["detail"]
            message = detail if isinstance(detail, str) else msgspec.json.encode(detail).decode()
        if message == exc.provider_message:
            return exc
        return ProviderError(
            self.name,
            exc.status,
            message,
            type=exc.type,
            param=exc.param,
            code=exc.code,
            headers=exc.headers,
            body=body,
        )

    # ---- the reply ------------------------------------------------------------------------------

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        ChatReader(builder, self.name, self.quirks).reply(body)

    def translator(self, builder: ResponseBuilder) -> ChatReader:
        return ChatReader(builder, self.name, self.quirks)

    def stream_events(self, resp: UpstreamResponse) -> AsyncIterator[SSEEvent]:
        async def events() -> AsyncIterator[SSEEvent]:
            async for event in iter_sse(resp.content.iter_any()):
                yield event
            yield SSEEvent(EOF, b"")

        return events()

    def passes(self, native: Native, deployment: str) -> bool:
        return native.api == CHAT

    async def create(self, call: Call) -> UpstreamReply:
        if call.native is not None:
            return await passthrough.create(self, call)
        return await super().create(call)

    async def replayed(self, resp: UpstreamResponse, builder: ResponseBuilder, sent: dict[str, Any]) -> EventStream:
        """A server that ignored stream=true (or put an error in a 200): its whole answer, replayed."""
        body, _ = await self.read_json(resp)
        with reading(self.name, "the reply"):
            self.parse_reply(body, builder)
        return EventStream(events=_drain(builder), sent=sent, built=True)

    async def stream(self, call: Call) -> EventStream:
        if call.native is not None:
            return await passthrough.stream(self, call)
        resp, native = await self._send(call, stream=True)
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return await self.replayed(resp, builder, native)
        # an error chunk first raises in feed, before any byte went out
        translator = self.translator(builder)
        events, _ = await self.first_event(resp, translator.feed)
        return EventStream(
            events=self.relay(events, builder, translator), sent=native, closers=[resp.close], built=True
        )


async def _drain(builder: ResponseBuilder) -> AsyncIterator[SSEEvent]:
    for ev in builder.sse():
        yield ev
