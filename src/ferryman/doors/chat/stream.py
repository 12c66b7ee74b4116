"""The canonical (Responses) event stream -> ``chat.completion.chunk`` frames, as OpenAI streams them.

``response.created`` opens the stream with a chunk holding the role; text, refusal and reasoning
deltas become content / ``refusal`` / ``reasoning_content`` deltas; a tool call starts with a
``tool_calls`` delta holding its ``index``, ``id``, type and name, and its argument deltas follow under
the same index (a custom tool's input arrives whole, when its item is done). The terminal event gives
the last choice chunk its ``finish_reason`` (and the logprobs, which the canonical deltas do not
carry), then, with ``stream_options.include_usage``, a chunk with no choices and the usage (every
chunk before it has ``usage: null``, as OpenAI sends them). Ferryman's ``extra_fields`` ride on the
last chunk. A failure (the relay's ``error`` event, or a ``response.failed`` without one) is
OpenAI's in-stream error, ``data: {"error": {...}}``; a stream that ended well ends with
``data: [DONE]``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.sse import KEEPALIVE

from .response import completion_id, finish_reason, output_logprobs, tool_call, usage

_encode = msgspec.json.encode
DONE = b"data: [DONE]\n\n"
TERMINAL = ("response.completed", "response.incomplete")


class ChatTranscoder:
    content_type = b"text/event-stream; charset=utf-8"

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.head: dict[str, Any] = {}  # id, object, created, model: the same on every chunk
        self.tools: dict[str, int] = {}  # item id -> the tool call's index
        self.failed = False

    def _body(self, delta: dict[str, Any], **choice: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self.head,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None, **choice}],
        }
        if self.include_usage:
            body["usage"] = None
        return body

    def _chunk(self, delta: dict[str, Any]) -> bytes:
        return _frame(self._body(delta))

    def event(self, event: dict[str, Any]) -> bytes:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            return self._chunk({"content": event["delta"]})
        if kind == "response.function_call_arguments.delta":
            index = self.tools.get(event.get("item_id", ""))
            if index is None:
                return b""
            return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": event["delta"]}}]})
        if kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
            return self._chunk({"reasoning_content": event["delta"]})
        if kind == "response.refusal.delta":
            return self._chunk({"refusal": event["delta"]})
        if kind == "response.output_item.added":
            return self._call(event["item"], started=True)
        if kind == "response.output_item.done":
            return self._call(event["item"], started=False)
        if kind == "response.created":
            response = event["response"]
            self.head = {
                "id": completion_id(response.get("id", "")),
                "object": "chat.completion.chunk",
                "created": response.get("created_at") or 0,
                "model": response.get("model"),
                "system_fingerprint": None,
            }
            return self._chunk({"role": "assistant", "content": "", "refusal": None})
        if kind in TERMINAL:
            return self._end(event)
        if kind == "error":
            return self._error({k: event.get(k) for k in ("message", "code", "param")})
        if kind == "response.failed" and not self.failed:
            error = event["response"].get("error") or {}
            return self._error({"message": error.get("message", "The response failed."), "code": error.get("code")})
        return b""

    def _call(self, item: dict[str, Any], *, started: bool) -> bytes:
        kind = item.get("type")
        if kind == "function_call" and started:
            index = self.tools[item.get("id", "")] = len(self.tools)
            call = tool_call({**item, "arguments": ""})
        elif kind == "custom_tool_call" and not started:
            index = self.tools[item.get("id", "")] = len(self.tools)
            call = tool_call(item)
        else:
            return b""
        assert call is not None
        return self._chunk({"tool_calls": [{"index": index, **call}]})

    def _end(self, event: dict[str, Any]) -> bytes:
        response = event["response"]
        logprobs = output_logprobs(response)
        last = self._body(
            {},
            finish_reason=finish_reason(response, bool(self.tools)),
            logprobs={"content": logprobs, "refusal": None} if logprobs is not None else None,
        )
        out = b""
        if self.include_usage:
            out = _frame(last)
            last = {**self.head, "choices": [], "usage": usage(response.get("usage"))}
        extra = response.get("extra_fields")
        if extra is not None:
            last["extra_fields"] = extra
        return out + _frame(last)

    def _error(self, error: dict[str, Any]) -> bytes:
        self.failed = True
        return error_frame(error)

    def keepalive(self) -> bytes:
        return KEEPALIVE

    def end(self) -> bytes:
        return b"" if self.failed else DONE


def error_frame(error: dict[str, Any]) -> bytes:
    """OpenAI's in-stream error: ``data: {"error": {...}}`` (no ``[DONE]`` after it)."""
    return _frame({"error": {"type": "server_error", **error}})


def _frame(body: dict[str, Any]) -> bytes:
    return b"data: " + _encode(body) + b"\n\n"
