"""Bedrock Converse reply and ConverseStream events -> the ResponseBuilder's semantic calls.

A whole reply is read as a stream would deliver it (each content block as a start, its content,
and a stop), so the mapping below is written once:

===============================================  ==================================================
Bedrock Converse                                 Responses
===============================================  ==================================================
text (consecutive blocks)                        one message, ``output_text``
citationsContent {content, citations}            its text, with ``url_citation`` annotations for
  (and stream ``citation`` deltas)               web citations (``location.web.url``)
reasoningContent.reasoningText {text,            reasoning item: summary text, ``encrypted_content``
  signature}                                     ``bedrock:<signature>`` (no signature: no state)
reasoningContent.redactedContent                 reasoning item, no summary, ``encrypted_content``
                                                 ``bedrock:redacted:<base64 data>``
toolUse                                          function_call (call_id = toolUseId)
toolUse type server_tool_use (nova_grounding)    web_search_call {action: search, query}
toolResult (a server tool's result)              left out (the answer text that used it is kept)
usage inputTokens + cacheRead + cacheWrite       usage.input_tokens (cached_tokens = cacheRead,
                                                 cache_write_tokens = cacheWrite)
usage outputTokens                               usage.output_tokens (Bedrock does not break out
                                                 reasoning tokens)
stopReason end_turn / stop_sequence              completed
stopReason tool_use                              completed (finish reason tool_calls)
stopReason max_tokens /                          incomplete, reason max_output_tokens
  model_context_window_exceeded
stopReason guardrail_intervened /                incomplete, reason content_filter
  content_filtered
stopReason malformed_model_output /              failed, error server_error (the model's output
  malformed_tool_use                             cannot be used)
exception frame (throttlingException, ...)       ProviderError with the documented status: throttling
                                                 429, validation 400, serviceUnavailable 503,
                                                 internalServer 500, modelStreamError 424 (or
                                                 the model's own status when it is retryable)
===============================================  ==================================================

In a stream ``messageStop`` (the stop reason) comes before ``metadata`` (the usage): the response
is finished on ``metadata``, or at the end of the stream when a ``messageStop`` had no metadata.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.blocks import ContentBlock, close_block
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import expect, malformed
from ferryman.schemas.errors import RETRYABLE_STATUSES, ProviderError
from ferryman.schemas.items import tag_opaque
from ferryman.schemas.output import Reasoning

from .request import NOVA_GROUNDING, REDACTED, TAG

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})

# Bedrock Runtime exceptions -> HTTP statuses (as its API reference documents them)
ERROR_STATUS = {
    "validationException": 400,
    "serviceQuotaExceededException": 400,
    "accessDeniedException": 403,
    "resourceNotFoundException": 404,
    "modelTimeoutException": 408,
    "modelErrorException": 424,
    "modelStreamErrorException": 424,
    "throttlingException": 429,
    "modelNotReadyException": 429,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}
END = "__end__"  # the synthetic event stream_events yields when the byte stream ends
EXCEPTION = "exception:"  # event-name prefix for exception frames

_decode = msgspec.json.decode
_encode = msgspec.json.encode


class ConverseReader:
    """One Converse message (a whole reply or a stream), fed into one builder."""

    def __init__(self, builder: ResponseBuilder, provider: str) -> None:
        self.b = builder
        self.provider = provider
        self.blocks: dict[int, ContentBlock] = {}
        self.text_len = 0  # characters of text in the builder's open message
        self.usage: dict[str, Any] | None = None
        self.stop_reason: str | None = None

    # ---- a whole reply --------------------------------------------------------------------------

    def reply(self, body: Any) -> None:
        expect(self.provider, body, dict, "the reply")
        output = expect(self.provider, body.get("output"), dict, "'output'")
        message = expect(self.provider, output.get("message"), dict, "'output.message'")
        content = expect(self.provider, message.get("content"), list, "'output.message.content'")
        for index, block in enumerate(content):
            self.whole_block(index, expect(self.provider, block, dict, f"'output.message.content[{index}]'"))
        self.stop_reason = body.get("stopReason")
        self.usage = body.get("usage") if isinstance(body.get("usage"), dict) else None
        self.finish()

    def whole_block(self, index: int, block: dict[str, Any]) -> None:
        if isinstance(block.get("toolUse"), dict):
            tool = block["toolUse"]
            self.block_start(index, {"toolUse": tool})
            if tool.get("input") is not None:
                self.block_delta(index, {"toolUse": {"input": _encode(tool["input"]).decode()}})
        elif isinstance(block.get("text"), str):
            self.block_delta(index, {"text": block["text"]})
        elif isinstance(block.get("reasoningContent"), dict):
            rc = block["reasoningContent"]
            text = rc.get("reasoningText")
            if isinstance(text, dict):
                self.block_delta(index, {"reasoningContent": {"text": text.get("text") or ""}})
                if text.get("signature"):
                    self.block_delta(index, {"reasoningContent": {"signature": text["signature"]}})
            elif rc.get("redactedContent") is not None:
                self.block_delta(index, {"reasoningContent": {"redactedContent": rc["redactedContent"]}})
        elif isinstance(block.get("citationsContent"), dict):
            cc = block["citationsContent"]
            text = "".join(c.get("text", "") for c in cc.get("content") or [] if isinstance(c, dict))
            self.block_delta(index, {"text": text})
            for citation in cc.get("citations") or []:
                if isinstance(citation, dict):
                    self.block_delta(index, {"citation": citation})
        # toolResult (a server tool's own result) and block types added later carry nothing to show
        self.block_stop(index)

    # ---- stream events --------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> None:
        self.event(event.event, event_payload(event, self.provider))

    def event(self, name: str | None, data: dict[str, Any]) -> None:
        if name == "contentBlockDelta":
            self.block_delta(_index(data), data.get("delta") or {})
        elif name == "contentBlockStart":
            self.block_start(_index(data), data.get("start") or {})
        elif name == "contentBlockStop":
            self.block_stop(_index(data))
        elif name == "messageStop":
            self.stop_reason = data.get("stopReason")
        elif name == "metadata":
            self.usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
            if self.stop_reason is not None:
                self.finish()
        elif name == END:
            if self.stop_reason is not None:  # a messageStop without metadata: finish without usage
                self.finish()
        elif name is not None and name.startswith(EXCEPTION):
            raise stream_exception(self.provider, name[len(EXCEPTION) :], data)
        # messageStart (the role) and event types added later carry nothing to translate

    # ---- content blocks -------------------------------------------------------------------------

    def block_start(self, index: int, start: dict[str, Any]) -> None:
        tool = start.get("toolUse")
        if not isinstance(tool, dict):
            return  # toolResult / image starts: a server tool's result, nothing to show
        block = self.blocks[index] = ContentBlock("tool_use")
        if tool.get("type") == "server_tool_use":
            block.kind = "server_tool_use"
            block.id = tool.get("toolUseId") or ""
            block.name = tool.get("name") or ""
            return
        self._not_text()
        self.b.tool_call(str(index), tool.get("toolUseId") or new_id("tooluse"), tool.get("name") or "")

    def block_delta(self, index: int, delta: dict[str, Any]) -> None:
        b = self.b
        if isinstance(delta.get("text"), str):
            block = self._block(index, "text")
            if block.kind == "text":
                self._text(delta["text"])
            return
        if isinstance(delta.get("toolUse"), dict):
            tool = self.blocks.get(index)
            partial = delta["toolUse"].get("input")
            if tool is None or not isinstance(partial, str) or not partial:
                return
            block = tool
            if block.kind == "tool_use":
                b.tool_args(str(index), partial)
                block.fed = True
            elif block.kind == "server_tool_use":
                block.json.append(partial)
            return
        rc = delta.get("reasoningContent")
        if isinstance(rc, dict):
            self._reasoning(index, rc)
            return
        citation = delta.get("citation")
        if isinstance(citation, dict):
            self._block(index, "text").citations.append(citation)

    def block_stop(self, index: int) -> None:
        block = self.blocks.pop(index, None)
        if block is None or close_block(self.b, block, index, self.text_len, _annotation, TAG):
            return
        if block.kind == "server_tool_use" and block.name == NOVA_GROUNDING:
            self._not_text()
            self.b.add_item(self._web_search(block))

    # ---- helpers --------------------------------------------------------------------------------

    def _block(self, index: int, kind: str) -> ContentBlock:
        """The open block at ``index``, opened as ``kind`` by its first delta (text and reasoning have no start)."""
        block = self.blocks.get(index)
        if block is None:
            block = self.blocks[index] = ContentBlock(kind, start=self.text_len)
            if kind == "thinking":
                self._not_text()
                self.b.close_reasoning()  # each reasoning block is its own reasoning item
        return block

    def _reasoning(self, index: int, rc: dict[str, Any]) -> None:
        b = self.b
        if rc.get("redactedContent") is not None:
            self._not_text()
            data = rc["redactedContent"]
            opaque = tag_opaque(TAG, REDACTED + (data if isinstance(data, str) else ""))
            b.add_item(Reasoning(id=new_id("rs"), encrypted_content=opaque))
            return
        block = self._block(index, "thinking")
        if block.kind != "thinking":
            return
        if isinstance(rc.get("text"), str):
            b.reasoning(rc["text"])
        if isinstance(rc.get("signature"), str):
            block.signature += rc["signature"]  # given to the builder when the block stops

    def _text(self, text: str) -> None:
        if text:
            self.b.text(text)
            self.text_len += len(text)

    def _not_text(self) -> None:
        """The builder closes its open message before any other item: offsets start again."""
        self.text_len = 0

    def _web_search(self, block: ContentBlock) -> dict[str, Any]:
        action: dict[str, Any] = {"type": "search"}
        text = "".join(block.json)
        try:
            query = _decode(text) if text.strip() else {}
        except msgspec.DecodeError:
            query = {}
        if isinstance(query, dict) and isinstance(query.get("query"), str):
            action["query"] = query["query"]
        return {"id": new_id("ws"), "type": "web_search_call", "status": "completed", "action": action}

    def finish(self) -> None:
        if self.b.status != "in_progress":
            return
        u = self.usage or {}
        cache_read = _int(u.get("cacheReadInputTokens"))
        cache_write = _int(u.get("cacheWriteInputTokens"))
        if self.usage is not None:
            self.b.set_usage(
                _int(u.get("inputTokens")) + cache_read + cache_write,
                _int(u.get("outputTokens")),
                cached_tokens=cache_read,
                cache_write_tokens=cache_write,
            )
        reason = self.stop_reason or ""
        if reason in MALFORMED:
            self.b.fail("server_error", f"{self.provider}: the model's output could not be used ({reason})")
            return
        self.b.finish(FINISH.get(reason, "stop"))


def _index(data: dict[str, Any]) -> int:
    index = data.get("contentBlockIndex")
    return index if isinstance(index, int) else 0


def _annotation(citation: dict[str, Any], start: int, end: int) -> dict[str, Any] | None:
    """A web citation as the url_citation over the text block it came with."""
    location = citation.get("location")
    web = location.get("web") if isinstance(location, dict) else None
    url = web.get("url") if isinstance(web, dict) else None
    if not isinstance(url, str) or not url:
        return None
    title = citation.get("title")
    return {
        "type": "url_citation",
        "start_index": start,
        "end_index": end,
        "title": title if isinstance(title, str) and title else url,
        "url": url,
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def stream_exception(provider: str, kind: str, data: dict[str, Any]) -> ProviderError:
    """An exception frame (``:exception-type``) as the ProviderError the client gets, status kept."""
    status = ERROR_STATUS.get(kind, 500)
    original_status = data.get("originalStatusCode")
    if status == 424 and isinstance(original_status, int) and original_status in RETRYABLE_STATUSES:
        status = original_status  # the model behind Bedrock was overloaded or failed: worth a retry
    message = data.get("message") or data.get("Message")
    if not isinstance(message, str) or not message:
        message = kind
    original = data.get("originalMessage")
    if isinstance(original, str) and original and original not in message:
        message = f"{message} ({original})"
    # the code lands in response.error.code, which clients validate against OpenAI's list
    code = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else None
    return ProviderError(provider, status, message, type=kind, code=code, body=data)


def event_payload(event: SSEEvent, provider: str) -> dict[str, Any]:
    """An eventstream frame's JSON payload (an exception frame's text as its message)."""
    if not event.data:
        return {}
    try:
        data = _decode(event.data)
    except msgspec.DecodeError:
        if event.event is not None and event.event.startswith(EXCEPTION):
            return {"message": event.data.decode("utf-8", "replace")[:2000]}
        raise malformed(provider, "a stream event is not JSON") from None
    return expect(provider, data, dict, "a stream event")  # type: ignore[no-any-return]
