"""Anthropic Messages API (``POST {base_url}/v1/messages``), translated to and from the Responses API.

``request.py`` builds the Messages body (its docstring holds the field table and what is refused),
``response.py`` reads a reply or a stream back through the shared ResponseBuilder, ``passthrough.py``
sends the Anthropic door's own body as it is (the fast path). This module is the HTTP side: URL,
headers, and one difference from the shared stream pump. Anthropic may answer
a stream with HTTP 200 and an ``error`` event first (``overloaded_error`` when it is busy); that
event is read before the stream is handed to the relay, so such a failure is still a plain 529
the dispatcher can retry or fall back from, instead of a stream that failed after its first byte.
"""

from __future__ import annotations

from typing import Any

from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.native import MESSAGES, Native
from ferryman.providers.translating import TranslatingProvider

from . import passthrough
from .request import HINTS, TAG, native_request
from .response import MessageReader

__all__ = ["HINTS", "TAG", "AnthropicProvider"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"


class AnthropicProvider(TranslatingProvider):
    def passes(self, native: Native, deployment: str) -> bool:
        return native.api == MESSAGES

    def url_of(self, path: str) -> str:
        return (self.config.base_url or DEFAULT_BASE_URL).rstrip("/") + path

    def url(self, call: Call, *, stream: bool) -> str:
        return self.url_of("/v1/messages")

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-api-key": secret}

    def headers(self, call: Call) -> dict[str, str]:
        headers = super().headers(call)
        # the API version is part of the wire format this adapter speaks; a configured one wins
        if not any(name.lower() == "anthropic-version" for name in headers):
            headers["anthropic-version"] = API_VERSION
        return headers

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        return native_request(call.request, call.raw, self.name, call.deployment, stream=stream, dropped=call.dropping)

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        MessageReader(builder, self.name).reply(body)

    def translator(self, builder: ResponseBuilder) -> MessageReader:
        return MessageReader(builder, self.name)

    async def create(self, call: Call) -> UpstreamReply:
        if call.native is not None:
            return await passthrough.create(self, call)
        return await super().create(call)

    async def stream(self, call: Call) -> EventStream:
        if call.native is not None:
            return await passthrough.stream(self, call)
        resp, native = await self._send(call, stream=True)
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id)
        translator = self.translator(builder)
        # the first event is read before the client gets a byte, so an ``error`` event there (or one
        # that is not Anthropic's) is the plain HTTP error it stands for; read before response.created,
        # the snapshot names the model that answers
        events, _ = await self.first_event(resp, translator.feed)
        return EventStream(
            events=self.relay(events, builder, translator), sent=native, closers=[resp.close], built=True
        )
