"""The canonical (Responses) event stream -> Anthropic's Messages stream, event by event.

Anthropic's sequence is ``message_start``, then per content block ``content_block_start``, its
``content_block_delta``s and ``content_block_stop``, then ``message_delta`` (stop reason, usage) and
``message_stop``; ``ping`` keeps a silent stream open, and a failure is an ``error`` event. Each
canonical event maps to a few of those frames:

=======================================  ==========================================================
Responses event                          Anthropic frames
=======================================  ==========================================================
response.created                         message_start (usage 0: the count comes at the end)
content_part.added (output_text,         content_block_start text
  refusal)
output_text.delta, refusal.delta         content_block_delta text_delta
content_part.done                        content_block_stop
output_item.added reasoning              content_block_start thinking (redacted_thinking when its
                                         state says so)
reasoning_summary_text.delta,            content_block_delta thinking_delta
  reasoning_text.delta
output_item.done reasoning               content_block_delta signature_delta, content_block_stop
output_item.added function_call          content_block_start tool_use {id, name, input: {}}
function_call_arguments.delta            content_block_delta input_json_delta
output_item.done function_call           (the arguments, if none came as deltas), content_block_stop
response.completed / incomplete          message_delta {stop_reason, stop_sequence, usage},
                                         message_stop
error, response.failed                   one ``error`` event (the stream ends there)
the relay's keep-alive                   ping
=======================================  ==========================================================
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.doors.anthropic.errors import error_body
from ferryman.doors.anthropic.response import message_id, reasoning_block, stop_reason, usage

_encode = msgspec.json.encode
PING = b'event: ping\ndata: {"type": "ping"}\n\n'


def frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _encode(data) + b"\n\n"


class MessagesTranscoder:
    content_type = b"text/event-stream; charset=utf-8"

    def __init__(self) -> None:
        self.index = -1  # the open (or last) content block's index
        self.open = False  # a content block is open
        self.args_sent = False  # the open tool_use block had its arguments as deltas
        self.ended = False  # message_stop or error has gone out

    def keepalive(self) -> bytes:
        return b"" if self.ended else PING

    def end(self) -> bytes:
        return b""

    def event(self, event: dict[str, Any]) -> bytes:
        if self.ended:
            return b""
        kind = event.get("type", "")
        if kind.endswith(".delta"):
            return self._delta(kind, event)
        if kind == "response.created":
            return self._start(event.get("response") or {})
        if kind == "response.content_part.added":
            part = event.get("part") or {}
            if part.get("type") in ("output_text", "refusal"):
                return self._open({"type": "text", "text": ""})
            return b""
        if kind == "response.content_part.done":
            return self._close()
        if kind == "response.output_item.added":
            return self._item_added(event.get("item") or {})
        if kind == "response.output_item.done":
            return self._item_done(event.get("item") or {})
        if kind in ("response.completed", "response.incomplete"):
            return self._finish(event.get("response") or {})
        if kind in ("error", "response.failed"):
            self.ended = True
            return frame("error", error_body(*_failure(event)))
        return b""

    # ---- blocks ---------------------------------------------------------------------------------

    def _start(self, response: dict[str, Any]) -> bytes:
        message: dict[str, Any] = {
            "id": message_id(response.get("id")),
            "type": "message",
            "role": "assistant",
            "model": response.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return frame("message_start", {"type": "message_start", "message": message})

    def _open(self, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.open = True
        self.args_sent = False
        start = {"type": "content_block_start", "index": self.index, "content_block": block}
        return out + frame("content_block_start", start)

    def _close(self) -> bytes:
        if not self.open:
            return b""
        self.open = False
        return frame("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _send_delta(self, delta: dict[str, Any]) -> bytes:
        return frame("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def _delta(self, kind: str, event: dict[str, Any]) -> bytes:
        if not self.open:
            return b""
        text = event.get("delta") or ""
        if not text:
            return b""
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            return self._send_delta({"type": "text_delta", "text": text})
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._send_delta({"type": "thinking_delta", "thinking": text})
        if kind == "response.function_call_arguments.delta":
            self.args_sent = True
            return self._send_delta({"type": "input_json_delta", "partial_json": text})
        return b""

    def _item_added(self, item: dict[str, Any]) -> bytes:
        kind = item.get("type")
        if kind == "reasoning":
            block = reasoning_block(item)
            if block["type"] == "thinking":
                block = {"type": "thinking", "thinking": "", "signature": ""}
            return self._open(block)
        if kind == "function_call":
            return self._open({"type": "tool_use", "id": item.get("call_id"), "name": item.get("name"), "input": {}})
        return b""

    def _item_done(self, item: dict[str, Any]) -> bytes:
        kind = item.get("type")
        out = b""
        if kind == "reasoning" and self.open:
            block = reasoning_block(item)
            if block["type"] == "thinking" and block["signature"]:
                out = self._send_delta({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "function_call" and self.open and not self.args_sent:
            arguments = item.get("arguments") or ""
            if arguments:
                out = self._send_delta({"type": "input_json_delta", "partial_json": arguments})
        elif kind != "message":
            return b""
        return out + self._close()

    def _finish(self, response: dict[str, Any]) -> bytes:
        self.ended = True
        reason, sequence = stop_reason(response)
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": usage(response),
        }
        return self._close() + frame("message_delta", delta) + frame("message_stop", {"type": "message_stop"})


def _failure(event: dict[str, Any]) -> tuple[int, str]:
    """The status and message of a failure the relay (or a provider) put in the stream."""
    if event.get("type") == "error":
        code = event.get("code")
        message = event.get("message") or "The stream failed."
    else:
        error = (event.get("response") or {}).get("error") or {}
        code = error.get("code")
        message = error.get("message") or "The stream failed."
    status = {"rate_limit_exceeded": 429, "upstream_timeout": 504, "client_closed": 499}.get(str(code), 500)
    if isinstance(code, str) and "overloaded" in code:
        status = 529
    return status, str(message)
