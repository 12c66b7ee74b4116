"""The canonical event stream -> Gemini's stream: one ``GenerateContentResponse`` chunk per piece.

Gemini streams whole ``GenerateContentResponse`` objects, each with the next parts of the candidate:
text and thought deltas as they come, a function call whole, and a last chunk with ``finishReason``
and ``usageMetadata``. With ``?alt=sse`` each is an SSE ``data:`` frame; without, the stream is one
JSON array written as it goes (``[{...},\\r\\n{...}]``, ``application/json``), Google's default.
A failure after the first chunk is Google's ``{"error": {...}}`` as the last chunk.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.gemini.response import usage_metadata
from ferryman.sse import KEEPALIVE

from .response import Parts, chunk, finish_reason, function_call, inline_image, stream_error

_encode = msgspec.json.encode
_THOUGHTS = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_TEXT = ("response.output_text.delta", "response.refusal.delta")


class GeminiStream:
    """One stream's transcoder (``routes/transcode.py``): SSE frames, or the elements of a JSON array."""

    def __init__(self, *, sse: bool) -> None:
        self.sse = sse
        self.content_type = b"text/event-stream" if sse else b"application/json"
        self.parts = Parts()
        self.response_id: str | None = None
        self.model: str | None = None
        self.elements = 0  # chunks written
        self.opened = False  # a JSON array's "[" is out
        self.failed = False

    def event(self, event: dict[str, Any]) -> bytes:
        kind = event.get("type")
        if kind in _TEXT:
            delta = event.get("delta")
            return self._parts([self.parts.part({"text": delta})]) if delta else b""
        if kind in _THOUGHTS:
            delta = event.get("delta")
            return self._parts([self.parts.thought(delta)]) if delta else b""
        if kind == "response.output_item.done":
            return self._item(event.get("item") or {})
        if kind in ("response.created", "response.in_progress"):
            response = event.get("response") or {}
            self.response_id = response.get("id") or self.response_id
            self.model = response.get("model") or self.model
            return b""
        if kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            out = chunk(self.response_id, self.model, self.parts.end(), finishReason=finish_reason(response))
            out["usageMetadata"] = usage_metadata(response.get("usage") or {})
            return self._frame(out)
        if kind == "error" and not self.failed:
            self.failed = True
            return self._frame(stream_error(event.get("code"), str(event.get("message") or ""), event.get("param")))
        if kind == "response.failed" and not self.failed:
            self.failed = True
            error = (event.get("response") or {}).get("error") or {}
            return self._frame(stream_error(error.get("code"), str(error.get("message") or "The response failed.")))
        return b""

    def _item(self, item: dict[str, Any]) -> bytes:
        kind = item.get("type")
        if kind == "reasoning":
            self.parts.reasoning_done(item)  # its text went out as deltas: its signature waits for the next part
            return b""
        if kind == "function_call":
            return self._parts([self.parts.part(function_call(item))])
        if kind == "image_generation_call" and isinstance(item.get("result"), str):
            return self._parts([self.parts.part(inline_image(item))])
        return b""

    def _parts(self, parts: list[dict[str, Any]]) -> bytes:
        return self._frame(chunk(self.response_id, self.model, parts))

    def _frame(self, obj: dict[str, Any]) -> bytes:
        data = _encode(obj)
        if self.sse:
            return b"data: " + data + b"\r\n\r\n"
        head = b",\r\n" if self.elements else b"" if self.opened else b"["
        self.opened = True
        self.elements += 1
        return head + data

    def keepalive(self) -> bytes:
        if self.sse:
            return KEEPALIVE
        if self.opened:
            return b"\n"  # whitespace between a JSON array's elements
        self.opened = True
        return b"[\n"

    def end(self) -> bytes:
        if self.sse:
            return b""
        return b"]" if self.opened else b"[]"
