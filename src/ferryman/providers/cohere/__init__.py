"""Cohere's v2 chat API (``POST {base_url}/v2/chat``), translated to and from the Responses API.

``request.py`` builds the v2 body (its docstring holds the field table and what is refused),
``response.py`` reads a reply or a stream (Cohere's ``message-start`` ... ``message-end`` events)
back through the shared ResponseBuilder. This module is the HTTP side: the URL, Bearer auth (the
shared default) and Cohere's error bodies (``{"id", "message"}`` or ``{"message"}``, which the
shared mapping reads), with its 498 "invalid token" said as the 401 it means.

Cohere's OpenAI-compatibility API stays reachable through the ``openai-chat`` type (see
``providers/catalog.py``); this adapter is the default of the well-known ``cohere`` entry.
"""

from __future__ import annotations

from typing import Any

from ferryman.client import UpstreamResponse
from ferryman.providers.base import Call
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import ProviderError

from .request import EXTENSIONS, HINTS, TAG, native_request
from .response import Reader

__all__ = ["DEFAULT_BASE_URL", "EXTENSIONS", "HINTS", "TAG", "CohereProvider"]

DEFAULT_BASE_URL = "https://api.cohere.com"
INVALID_TOKEN = 498  # Cohere's status for a key it does not take


class CohereProvider(TranslatingProvider):
    def url(self, call: Call, *, stream: bool) -> str:
        base = (self.config.base_url or DEFAULT_BASE_URL).rstrip("/")
        return f"{base}/v2/chat"

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        return native_request(call.request, call.raw, self.name, call.deployment, stream=stream, dropped=call.dropping)

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        Reader(builder, self.name).reply(body)

    def translator(self, builder: ResponseBuilder) -> Reader:
        return Reader(builder, self.name)

    def http_error(self, resp: UpstreamResponse, payload: bytes) -> ProviderError:
        exc = super().http_error(resp, payload)
        if exc.status != INVALID_TOKEN:
            return exc
        return ProviderError(
            self.name, 401, exc.provider_message, code="invalid_api_key", headers=exc.headers, body=exc.body
        )
