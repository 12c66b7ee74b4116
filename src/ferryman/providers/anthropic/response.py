"""Anthropic Messages reply and stream -> the ResponseBuilder's semantic calls.

A whole reply and a stream take the same path: a whole content block is read as a
``content_block_start`` that already holds all its content, followed by its
``content_block_stop``. So the mapping below is written once:

===============================================  ==================================================
Anthropic                                        Responses
===============================================  ==================================================
text (consecutive blocks)                        one message, ``output_text``
text ``citations`` (web_search_result_location)  ``url_citation`` annotations over that block's text
thinking {thinking, signature}                   reasoning item: summary text, ``encrypted_content``
                                                 ``anthropic:<signature>``
redacted_thinking {data}                         reasoning item, no summary, ``encrypted_content``
                                                 ``anthropic-redacted:<data>``
tool_use                                         function_call (call_id = the tool_use id)
server_tool_use web_search +                     web_search_call {action: search, query, sources}
  web_search_tool_result                         (status failed for a search error)
usage input + cache_read + cache_creation        usage.input_tokens (cached_tokens = cache_read,
                                                 cache_write_tokens = cache_creation)
usage output_tokens (thinking_tokens)            usage.output_tokens (reasoning_tokens)
stop_reason end_turn/stop_sequence/pause_turn    completed (the matched ``stop_sequence`` in the
                                                 response's own ``stop_sequence`` field)
stop_reason tool_use                             completed (finish reason tool_calls)
stop_reason max_tokens /                         incomplete, reason max_output_tokens
  model_context_window_exceeded
stop_reason refusal                              incomplete, reason content_filter
event: error                                     ProviderError with the error's type and message
                                                 (overloaded_error: 529)
===============================================  ==================================================
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.blocks import ContentBlock, close_block
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import expect, malformed
from ferryman.schemas.errors import ProviderError
from ferryman.schemas.items import tag_opaque
from ferryman.schemas.output import Reasoning

from .request import REDACTED_TAG, TAG

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}

# Anthropic error types -> HTTP statuses (as its API documents them)
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

_decode = msgspec.json.decode
_encode = msgspec.json.encode


class MessageReader:
    """One Anthropic message (a whole reply or a stream), fed into one builder."""

    def __init__(self, builder: ResponseBuilder, provider: str) -> None:
        self.b = builder
        self.provider = provider
        self.blocks: dict[int, ContentBlock] = {}
        self.text_len = 0  # characters of text in the builder's open message
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.stop_sequence: str | None = None
        self.queries: dict[str, dict[str, Any]] = {}  # server_tool_use id -> its input

    # ---- a whole reply --------------------------------------------------------------------------

    def reply(self, body: Any) -> None:
        expect(self.provider, body, dict, "the reply")
        if body.get("type") == "error":
            raise stream_error(self.provider, body)
        if body.get("type", "message") != "message":
            raise malformed(self.provider, "the reply is not a message ('type' is not \"message\")")
        self._model(body)
        for index, block in enumerate(expect(self.provider, body.get("content"), list, "'content'")):
            self.block_start(index, expect(self.provider, block, dict, f"'content[{index}]'"))
            self.block_stop(index)
        self.usage = dict(body.get("usage") or {})
        self.stop_reason = body.get("stop_reason")
        self.stop_sequence = body.get("stop_sequence")
        self.finish()

    # ---- stream events --------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> None:
        if not event.data.strip():
            return  # an empty event: keep-alive
        data = event_data(event)
        if data is None:
            raise malformed(self.provider, "a stream event is not a JSON object")
        self.event(data)

    def event(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        if kind == "content_block_delta":
            self.block_delta(data.get("index", 0), data.get("delta") or {})
        elif kind == "content_block_start":
            self.block_start(data.get("index", 0), data.get("content_block") or {})
        elif kind == "content_block_stop":
            self.block_stop(data.get("index", 0))
        elif kind == "message_start":
            message = data.get("message") or {}
            self._model(message)
            self.usage = dict(message.get("usage") or {})
        elif kind == "message_delta":
            delta = data.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop_reason = delta["stop_reason"]
                self.stop_sequence = delta.get("stop_sequence")
            # message_delta's usage is cumulative; fields it leaves out keep message_start's values
            for key, value in (data.get("usage") or {}).items():
                if value is not None:
                    self.usage[key] = value
        elif kind == "message_stop":
            self.finish()
        elif kind == "error":
            raise stream_error(self.provider, data)
        # ping and event types added later carry nothing to translate

    # ---- content blocks -------------------------------------------------------------------------

    def block_start(self, index: int, cb: dict[str, Any]) -> None:
        kind = cb.get("type", "")
        block = ContentBlock(kind)
        self.blocks[index] = block
        b = self.b
        if kind == "text":
            block.start = self.text_len
            block.citations = list(cb.get("citations") or [])
            self._text(cb.get("text") or "")
        elif kind == "thinking":
            self._not_text()
            b.close_reasoning()  # each thinking block is its own reasoning item
            b.reasoning(cb.get("thinking") or "")
            block.signature = cb.get("signature") or ""
        elif kind == "redacted_thinking":
            self._not_text()
            b.add_item(Reasoning(id=new_id("rs"), encrypted_content=tag_opaque(REDACTED_TAG, cb.get("data") or "")))
        elif kind == "tool_use":
            self._not_text()
            b.tool_call(str(index), cb.get("id") or new_id("toolu"), cb.get("name") or "")
            if cb.get("input"):  # a whole reply; a stream sends {} here and the JSON as deltas
                b.tool_args(str(index), _encode(cb["input"]).decode())
                block.fed = True
        elif kind == "server_tool_use":
            block.id = cb.get("id") or ""
            block.name = cb.get("name") or ""
            if cb.get("input"):
                block.json.append(_encode(cb["input"]).decode())
        elif kind == "web_search_tool_result":
            self._not_text()
            b.add_item(self._web_search(cb))

    def block_delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self.blocks.get(index)
        if block is None:
            return
        kind = delta.get("type")
        if kind == "text_delta":
            self._text(delta.get("text") or "")
        elif kind == "thinking_delta":
            self.b.reasoning(delta.get("thinking") or "")
        elif kind == "signature_delta":
            block.signature += delta.get("signature") or ""
        elif kind == "input_json_delta":
            partial = delta.get("partial_json") or ""
            if block.kind == "tool_use" and partial:
                self.b.tool_args(str(index), partial)
                block.fed = True
            elif block.kind == "server_tool_use":
                block.json.append(partial)
        elif kind == "citations_delta" and isinstance(delta.get("citation"), dict):
            block.citations.append(delta["citation"])

    def block_stop(self, index: int) -> None:
        block = self.blocks.pop(index, None)
        if block is None or close_block(self.b, block, index, self.text_len, _annotation, TAG):
            return
        if block.kind == "server_tool_use":
            text = "".join(block.json)
            try:
                query = _decode(text) if text.strip() else {}
            except msgspec.DecodeError:
                query = {}
            self.queries[block.id] = query if isinstance(query, dict) else {}

    # ---- helpers --------------------------------------------------------------------------------

    def _model(self, message: dict[str, Any]) -> None:
        """The model that answered (a dated snapshot of the alias asked for), as OpenAI reports it."""
        if isinstance(message.get("model"), str) and message["model"]:
            self.b.model = message["model"]

    def _text(self, text: str) -> None:
        if text:
            self.b.text(text)
            self.text_len += len(text)

    def _not_text(self) -> None:
        """The builder closes its open message before any other item: offsets start again."""
        self.text_len = 0

    def _web_search(self, cb: dict[str, Any]) -> dict[str, Any]:
        query = self.queries.get(cb.get("tool_use_id") or "", {}).get("query")
        action: dict[str, Any] = {"type": "search"}
        if isinstance(query, str):
            action["query"] = query
        content = cb.get("content")
        status = "completed"
        if isinstance(content, list):
            urls = [r["url"] for r in content if isinstance(r, dict) and isinstance(r.get("url"), str)]
            action["sources"] = [{"type": "url", "url": url} for url in urls]
        else:  # {"type": "web_search_tool_result_error", "error_code": ...}
            status = "failed"
        return {"id": new_id("ws"), "type": "web_search_call", "status": status, "action": action}

    def finish(self) -> None:
        u = self.usage
        cache_read = _int(u.get("cache_read_input_tokens"))
        cache_write = _int(u.get("cache_creation_input_tokens"))
        details = u.get("output_tokens_details")
        thinking = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
        self.b.set_usage(
            _int(u.get("input_tokens")) + cache_read + cache_write,
            _int(u.get("output_tokens")),
            cached_tokens=cache_read,
            cache_write_tokens=cache_write,
            reasoning_tokens=thinking,
        )
        if self.stop_reason == "stop_sequence" and isinstance(self.stop_sequence, str):
            self.b.extra["stop_sequence"] = self.stop_sequence  # which one: the Anthropic door says so again
        self.b.finish(FINISH.get(self.stop_reason or "", "stop"))


def _annotation(citation: dict[str, Any], start: int, end: int) -> dict[str, Any] | None:
    """A web search citation as the url_citation over the text block it came with."""
    if citation.get("type") != "web_search_result_location" or not isinstance(citation.get("url"), str):
        return None
    title = citation.get("title")
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "title": title if isinstance(title, str) else citation["url"],
        "url": citation["url"],
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def stream_error(provider: str, data: dict[str, Any]) -> ProviderError:
    """An ``error`` event (or error body) as the ProviderError the client gets, status kept."""
    err = data.get("error")
    err = err if isinstance(err, dict) else {}
    etype: str = err["type"] if isinstance(err.get("type"), str) else "api_error"
    message: str = err["message"] if isinstance(err.get("message"), str) and err["message"] else etype
    status = ERROR_STATUS.get(etype, 500)
    # the code lands in response.error.code, which clients validate against OpenAI's list
    code = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else None
    return ProviderError(provider, status, message, type=etype, code=code, body=data)


def event_data(event: SSEEvent) -> dict[str, Any] | None:
    """A stream event's JSON object (None for anything else, which carries nothing to translate)."""
    try:
        data = _decode(event.data)
    except msgspec.DecodeError:
        return None
    return data if isinstance(data, dict) else None
