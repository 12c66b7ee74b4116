"""Gemini ``GenerateContentResponse`` (a whole reply, or one SSE chunk of a stream) -> the ResponseBuilder.

A stream is a sequence of whole ``GenerateContentResponse`` objects, each holding the next parts of
the first candidate; the last one carries ``finishReason`` and the final ``usageMetadata``. A reply
is the same object once, so one ``Reader`` serves both.

Parts become output items in order:

- ``thought: true`` text -> a reasoning item's summary (``reasoning_summary_text``);
- ``thoughtSignature`` (on a function call, a text part, or an empty text part at the end) -> the
  ``encrypted_content`` of a reasoning item emitted right before the item the signed part opens,
  tagged ``gemini:`` so the next turn can put it back on the same part (request.py);
- text -> a message; ``functionCall`` -> a function_call (Gemini's ``id`` kept as ``call_id``; older
  models send none, so ``call_<hex>`` is made up); ``inlineData`` -> an image_generation_call;
- ``groundingMetadata`` (Google Search) -> a web_search_call item with the queries and sources, and
  ``url_citation`` annotations on the message text (Gemini counts segment offsets in UTF-8 bytes).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.builder import FINISH, ResponseBuilder
from ferryman.providers.malformed import expect, malformed
from ferryman.schemas.errors import ProviderError
from ferryman.schemas.items import tag_opaque

TAG = "gemini"

# finishReason -> builder finish reason; anything missing here reads as "stop"
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "LANGUAGE": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
# the other way (a door speaking Gemini): a canonical response's incomplete_details.reason -> finishReason,
# the first Gemini name of each builder reason
FINISH_REASONS = {FINISH[ours][1]: theirs for theirs, ours in reversed(_FINISH.items()) if FINISH[ours][1] is not None}
# finish reasons that mean the model's answer is broken, not merely short: the client gets an error
_FAILED = frozenset(
    {"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "NO_IMAGE", "IMAGE_OTHER"}
)


class Reader:
    """The reading state of one reply or one stream (which reasoning item is open, calls, grounding)."""

    def __init__(self, provider: str, builder: ResponseBuilder) -> None:
        self.provider = provider
        self.builder = builder
        self.reasoning_open = False  # the builder's open item is a reasoning item we may add to
        self.reasoning_signed = False  # ... and it already holds a signature
        self.calls = 0
        self.message: list[str] = []  # text of the current message, for citation offsets
        self.in_message = False
        self.grounding: dict[str, Any] | None = None

    def feed(self, event: SSEEvent) -> None:
        """One stream chunk (a GenerateContentResponse as SSE data)."""
        try:
            chunk = msgspec.json.decode(event.data)
        except msgspec.DecodeError:
            raise malformed(self.provider, "a stream chunk is not JSON") from None
        self.read(chunk, whole=False)

    def read(self, body: Any, *, whole: bool) -> None:
        """One GenerateContentResponse; a whole reply is always finished afterwards."""
        builder = self.builder
        expect(self.provider, body, dict, "the reply" if whole else "a stream chunk")
        error = body.get("error")
        if isinstance(error, dict):  # an error frame inside a stream
            raise stream_error(self.provider, error)
        usage = body.get("usageMetadata")
        if isinstance(usage, dict):
            _usage(usage, builder)
        candidates = expect(self.provider, body.get("candidates") or [], list, "'candidates'")
        candidate = expect(self.provider, candidates[0], dict, "'candidates[0]'") if candidates else None
        if candidate is None:
            feedback = body.get("promptFeedback")
            if isinstance(feedback, dict) and feedback.get("blockReason"):
                builder.finish("content_filter")  # the prompt itself was blocked
            elif whole:
                raise malformed(self.provider, "the reply has no 'candidates'")
            return
        grounding = candidate.get("groundingMetadata")
        if isinstance(grounding, dict) and (grounding.get("groundingChunks") or grounding.get("webSearchQueries")):
            self.grounding = grounding
            if whole:  # a whole reply can list the search first, as OpenAI does
                self._search_call(builder)
        content = expect(self.provider, candidate.get("content") or {}, dict, "'candidates[0].content'")
        for part in expect(self.provider, content.get("parts") or [], list, "'candidates[0].content.parts'"):
            self._part(expect(self.provider, part, dict, "a part"), builder)
        reason = candidate.get("finishReason")
        if reason or whole:
            self._finish(str(reason or "STOP"), candidate, builder, searched=whole)

    # ---- parts ----------------------------------------------------------------------------------

    def _part(self, part: dict[str, Any], builder: ResponseBuilder) -> None:
        sig = part.get("thoughtSignature")
        sig = sig if isinstance(sig, str) and sig else None
        if part.get("thought"):
            text = part.get("text")
            if not isinstance(text, str) or (not text and sig is None):
                return  # thought images of image models are not reasoning text
            if self.reasoning_signed:  # a signed item is complete: this thought starts the next one
                builder.close_reasoning()
            builder.reasoning(text)
            self.reasoning_open, self.reasoning_signed, self.in_message = True, False, False
            if sig is not None:
                builder.reasoning_signature(tag_opaque(TAG, sig))
                self.reasoning_signed = True
            return
        if sig is not None:
            self._signature(sig, builder)
        text = part.get("text")
        call = part.get("functionCall")
        blob = part.get("inlineData")
        if isinstance(text, str):
            if text:
                if not self.in_message:
                    self.message, self.in_message = [], True
                self.message.append(text)
                builder.text(text)
                self.reasoning_open = self.reasoning_signed = False
        elif isinstance(call, dict):
            call_id = call.get("id") or f"call_{secrets.token_hex(12)}"
            key = f"fc{self.calls}"
            self.calls += 1
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            builder.tool_call(key, str(call_id), str(call.get("name") or ""), msgspec.json.encode(args).decode())
            builder.close_tool(key)
            self.reasoning_open = self.reasoning_signed = self.in_message = False
        elif isinstance(blob, dict) and isinstance(blob.get("data"), str):
            mime = str(blob.get("mimeType") or "image/png")
            item = {"id": new_id("ig"), "type": "image_generation_call", "status": "completed", "result": blob["data"]}
            if mime.startswith("image/"):
                item["output_format"] = mime.removeprefix("image/")
            builder.add_item(item)
            self.reasoning_open = self.reasoning_signed = self.in_message = False

    def _signature(self, sig: str, builder: ResponseBuilder) -> None:
        """The signature goes in a reasoning item right before the item its part opens."""
        if not self.reasoning_open or self.reasoning_signed:
            builder.close_reasoning()
        builder.reasoning_signature(tag_opaque(TAG, sig))  # opens an empty reasoning item if none is
        self.reasoning_open = self.reasoning_signed = True
        self.in_message = False

    # ---- the end --------------------------------------------------------------------------------

    def _finish(self, reason: str, candidate: dict[str, Any], builder: ResponseBuilder, *, searched: bool) -> None:
        if reason in _FAILED:
            why = candidate.get("finishMessage")
            raise ProviderError(
                self.provider,
                502,
                f"the model stopped with {reason}" + (f": {why}" if isinstance(why, str) and why else ""),
                code=reason.lower(),
            )
        if self.grounding is not None:
            self._annotate(builder)
            if not searched:  # a stream learns about the search only at its end
                self._search_call(builder)
        finish = _FINISH.get(reason, "stop")
        builder.finish("tool_calls" if finish == "stop" and self.calls else finish)

    def _search_call(self, builder: ResponseBuilder) -> None:
        grounding = self.grounding or {}
        queries = [q for q in grounding.get("webSearchQueries") or [] if isinstance(q, str)]
        sources = [{"type": "url", "url": web["uri"]} for web in _webs(grounding) if isinstance(web.get("uri"), str)]
        action: dict[str, Any] = {"type": "search", "query": queries[0] if queries else "", "sources": sources}
        if len(queries) > 1:
            action["queries"] = queries
        builder.add_item({"id": new_id("ws"), "type": "web_search_call", "status": "completed", "action": action})
        self.reasoning_open = self.reasoning_signed = self.in_message = False

    def _annotate(self, builder: ResponseBuilder) -> None:
        grounding = self.grounding or {}
        chunks = grounding.get("groundingChunks") or []
        text = "".join(self.message)
        encoded = text.encode("utf-8")
        for support in grounding.get("groundingSupports") or []:
            segment = support.get("segment") if isinstance(support, dict) else None
            if not isinstance(segment, dict):
                continue
            span = _span(text, encoded, segment)
            if span is None:
                continue
            for index in support.get("groundingChunkIndices") or []:
                web = chunks[index].get("web") if isinstance(index, int) and 0 <= index < len(chunks) else None
                if not isinstance(web, dict) or not isinstance(web.get("uri"), str):
                    continue
                builder.annotate(
                    {
                        "type": "url_citation",
                        "start_index": span[0],
                        "end_index": span[1],
                        "url": web["uri"],
                        "title": str(web.get("title") or web["uri"]),
                    }
                )


def _span(text: str, encoded: bytes, segment: dict[str, Any]) -> tuple[int, int] | None:
    """Character offsets of a grounding segment (Gemini gives UTF-8 byte offsets) in the message."""
    quoted = segment.get("text")
    start, end = segment.get("startIndex", 0), segment.get("endIndex")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(encoded):
        s = len(encoded[:start].decode("utf-8", "ignore"))
        e = len(encoded[:end].decode("utf-8", "ignore"))
        if not isinstance(quoted, str) or text[s:e] == quoted:
            return s, e
    if isinstance(quoted, str) and quoted:  # offsets of another part: find the quoted text instead
        found = text.find(quoted)
        if found >= 0:
            return found, found + len(quoted)
    return None


def _webs(grounding: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = grounding.get("groundingChunks") or []
    return [c["web"] for c in chunks if isinstance(c, dict) and isinstance(c.get("web"), dict)]


def _usage(usage: dict[str, Any], builder: ResponseBuilder) -> None:
    """promptTokenCount already includes cachedContentTokenCount; tool-use prompt tokens (search
    results) are billed as input; thoughts are output, as OpenAI counts reasoning tokens."""

    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else 0

    thoughts = count("thoughtsTokenCount")
    builder.set_usage(
        count("promptTokenCount") + count("toolUsePromptTokenCount"),
        count("candidatesTokenCount") + thoughts,
        cached_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def usage_metadata(usage: dict[str, Any]) -> dict[str, Any]:
    """A canonical ``usage`` as Gemini's ``usageMetadata``: the inverse of ``_usage`` (reasoning tokens are
    Gemini's ``thoughtsTokenCount``, outside ``candidatesTokenCount``)."""
    prompt = usage.get("input_tokens") or 0
    output = usage.get("output_tokens") or 0
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    thoughts = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    out: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output - thoughts,
        "totalTokenCount": usage.get("total_tokens") or prompt + output,
    }
    if cached:
        out["cachedContentTokenCount"] = cached
    if thoughts:
        out["thoughtsTokenCount"] = thoughts
    return out


def stream_error(provider: str, error: dict[str, Any]) -> ProviderError:
    """Gemini's ``{"error": {"code", "message", "status"}}``, met inside a stream."""
    status = error.get("code")
    google_status = error.get("status")
    return ProviderError(
        provider,
        status if isinstance(status, int) and 400 <= status < 600 else 500,
        str(error.get("message") or "the provider reported an error mid-stream"),
        code=google_status.lower() if isinstance(google_status, str) else None,
        body={"error": error},
    )
