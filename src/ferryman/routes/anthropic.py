"""POST /anthropic/v1/messages and /anthropic/v1/messages/count_tokens: the Anthropic Messages front door.

A Messages request becomes the canonical request (``doors/anthropic/request.py``) and goes through the
pipeline like any other: a Claude model name reaches the ``anthropic`` provider, ``openai/gpt-4o`` OpenAI,
an alias its targets. The answer comes back as a Messages reply (``response.py``) or as Anthropic's event
stream (``stream.py``, a transcoder in front of the relay), and errors in Anthropic's shape (``errors.py``).
The query (``?beta=true``, as Claude Code sends) and the ``anthropic-version`` / ``anthropic-beta``
headers are read no further by a translated request: the canonical request says what is asked. The
Anthropic SDK sends its key as ``x-api-key``, which is the caller's credential here as everywhere.

The fast path: a target of the ``anthropic`` type gets the client's own body with only ``model`` changed,
its query and its ``anthropic-*`` headers (``providers/anthropic/passthrough.py``), and the client gets
Anthropic's reply and events as they came, priced (``doors/anthropic/passthrough.py``). What the door cannot
translate (``mcp_servers``, a block type it does not know) is refused only when the request goes to a target
of another type.

count_tokens asks the Anthropic provider's own count endpoint when the model routes to one (the client's
body with only ``model`` changed, its query and ``anthropic-*`` headers, as a call passes them through);
for any other target it estimates, and
says so in the ``x-ferryman-token-estimate`` header: about four characters a token over the text of the
system prompt, messages and tools (tool inputs as JSON), and 1,600 tokens an image or document (Anthropic's
figure for an image of about 1.15 megapixels, its largest without resizing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import msgspec

from ferryman.doors.anthropic import passthrough
from ferryman.doors.anthropic.errors import of_exception
from ferryman.doors.anthropic.request import responses_request
from ferryman.doors.anthropic.response import message
from ferryman.doors.anthropic.stream import MessagesTranscoder
from ferryman.gateway.exchange import Exchange
from ferryman.gateway.passthrough import Frames
from ferryman.gateway.pipeline import Pipeline
from ferryman.http import BodyBudget, Receive, Scope, Send, error_headers, read_body, send_json
from ferryman.providers.anthropic import AnthropicProvider
from ferryman.providers.anthropic.passthrough import forwarded, headers_for, url_for
from ferryman.providers.base import Call
from ferryman.providers.native import MESSAGES, Native
from ferryman.routes.door import Door, gateway_headers
from ferryman.routes.transcode import TranscodingSend
from ferryman.schemas.errors import FerrymanError, InvalidRequestError, UpstreamConnectionError
from ferryman.schemas.responses import decode_json, validate_dict

CHARS_PER_TOKEN = 4
MEDIA_TOKENS = 1600

_encode = msgspec.json.encode


def _messages_body(body: bytes) -> dict[str, Any]:
    raw = decode_json(body)
    if not isinstance(raw, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return raw


class AnthropicDoor(Door):
    route = "anthropic_messages"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        native = _messages_body(body)
        deferred: list[InvalidRequestError] = []
        raw, req = validate_dict(responses_request(native, deferred=deferred))
        own = Native(MESSAGES, body, native, deferred=deferred, headers=forwarded(scope["headers"]))
        own.query = scope.get("query_string", b"").decode("latin-1")
        return self.exchange(scope, req, raw, own)

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        if ex.native_reply is not None:
            body = passthrough.reply(ex.native_reply, response)
        else:
            body = _encode(message(response))
        await send_json(send, 200, body, gateway_headers(ex, whole=True))

    def stream_send(self, send: Send, ex: Exchange) -> Send:
        return TranscodingSend(send, MessagesTranscoder())

    def frames(self, ex: Exchange) -> Frames:
        return passthrough.MessagesFrames()

    async def render_error(self, send: Send, exc: FerrymanError) -> None:
        await send_error(send, exc)


async def send_error(send: Send, exc: FerrymanError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """``exc`` in Anthropic's shape, with the headers a client should see (``retry-after``, ``x-ratelimit-*``)."""
    await send_json(send, exc.status, _encode(of_exception(exc)), [*error_headers(exc), *headers])


class CountTokens:
    """``POST /anthropic/v1/messages/count_tokens``: ``{"input_tokens": N}``."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        max_request_bytes: int,
        budget: BodyBudget,
        authenticate: Any = None,
    ) -> None:
        self.pipeline = pipeline
        self.max_request_bytes = max_request_bytes
        self.budget = budget
        self.authenticate = authenticate  # with governance: a valid key first (else 401)

    async def count(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_request_bytes, self.budget)
        except FerrymanError as exc:
            await send_error(send, exc)
            return
        try:
            if self.authenticate is not None:
                self.authenticate(scope["headers"])
            tokens, estimated = await self._count(scope, body)
        except FerrymanError as exc:
            await send_error(send, exc)
            return
        finally:
            self.budget.give(len(body))
        headers = [(b"x-ferryman-token-estimate", b"true")] if estimated else []
        await send_json(send, 200, _encode({"input_tokens": tokens}), headers)

    async def _count(self, scope: Scope, sent: bytes) -> tuple[int, bool]:
        body = _messages_body(sent)
        deferred: list[InvalidRequestError] = []
        raw, req = validate_dict(responses_request(body, count_only=True, deferred=deferred))
        target = self.pipeline.router.targets(req.model)[0]
        provider = self.pipeline.dispatcher.providers.get(target.provider)
        if not isinstance(provider, AnthropicProvider):
            if deferred:
                raise deferred[0]
            return estimate(body), True
        key = self.pipeline.dispatcher.keys[target.provider].pick(target.deployment)
        call = Call(req, raw, target.deployment, key)
        own = Native(MESSAGES, sent, body, headers=forwarded(scope["headers"]))
        own.query = scope.get("query_string", b"").decode("latin-1")
        url = url_for(provider, own, "/v1/messages/count_tokens")
        resp = await provider.post(
            url, own.body_for(target.deployment), headers_for(provider, call, own), call, stream=False
        )
        answer, _ = await provider.read_json(resp)
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, int):
            raise UpstreamConnectionError(
                f"{provider.name}: count_tokens answered without input_tokens", code="upstream_bad_response"
            )
        return tokens, False


def estimate(body: dict[str, Any]) -> int:
    """About four characters a token over the request's text, and ``MEDIA_TOKENS`` an image or document."""
    chars = 0
    media = 0
    stack: list[Any] = [body.get("system"), body.get("messages"), body.get("tools")]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            if value.get("type") in ("image", "document") and isinstance(value.get("source"), dict):
                media += 1
                continue
            for key, inner in value.items():
                if key in ("input", "input_schema"):
                    chars += len(_encode(inner))
                elif key not in ("type", "role", "cache_control", "signature", "id", "tool_use_id"):
                    stack.append(inner)
    return math.ceil(chars / CHARS_PER_TOKEN) + media * MEDIA_TOKENS
