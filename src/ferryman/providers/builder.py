"""The one Responses state machine every translating adapter feeds.

An adapter turns its provider's reply or stream into a few semantic calls — ``text``, ``reasoning``,
``reasoning_signature``, ``tool_call`` / ``tool_args``, ``add_item``, ``set_usage``, ``finish`` —
and the builder owns everything the Responses API is picky about: output items opened and closed
in order, ``output_index``, ``content_index``, ``summary_index``, ``item_id``, ``sequence_number``,
the text buffers behind every ``*.done`` event, and the final response object. A non-streaming
reply makes the same calls and reads ``response()``; a streaming one also drains ``events()``
after each call and relays them. So every provider emits the same correct sequence, and a bug in
sequencing is fixed here, once.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from ferryman.providers.base import SSEEvent
from ferryman.schemas.responses import ResponsesRequest

# finish reasons adapters report -> (status, incomplete_details.reason)
FINISH = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}

_encode = msgspec.json.encode


_ID_BYTES = 24
_random = b""
_taken = 0


def new_id(prefix: str) -> str:
    """``prefix_`` and 48 random hex digits (from os.urandom, drawn 6 KB at a time: one syscall per 256 ids)."""
    global _random, _taken
    if _taken + _ID_BYTES > len(_random):
        _random, _taken = os.urandom(_ID_BYTES * 256), 0
    chunk = _random[_taken : _taken + _ID_BYTES]
    _taken += _ID_BYTES
    return f"{prefix}_{chunk.hex()}"


class ResponseBuilder:
    def __init__(self, req: ResponsesRequest, raw: dict[str, Any], model: str) -> None:
        self.req = req
        self.raw = raw
        self.model = model
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.status = "in_progress"
        self.completed_at: int | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.output: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}  # provider-specific top-level fields (search_results, citations)
        self.scratch: dict[str, Any] = {}  # an adapter's own state while it reads one stream
        self._seq = 0
        self._events: list[dict[str, Any]] = []
        self._message: int | None = None  # output index of the open message
        self._reasoning: int | None = None  # output index of the open reasoning item
        self._reasoning_kind = "summary"
        self._tools: dict[str, int] = {}  # adapter's key -> output index of an open function call
        self._texts: dict[int, list[str]] = {}  # output index -> text chunks of its open part
        self.started = False

    # ---- events ---------------------------------------------------------------------------------

    def _emit(self, type_: str, **fields: Any) -> None:
        self._events.append({"type": type_, "sequence_number": self._seq, **fields})
        self._seq += 1

    def events(self) -> list[dict[str, Any]]:
        """The events produced since the last call (the stream path relays them in order)."""
        out, self._events = self._events, []
        return out

    def sse(self) -> list[SSEEvent]:
        return [SSEEvent(ev["type"], _encode(ev)) for ev in self.events()]

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        snapshot = self.response()
        self._emit("response.created", response=snapshot)
        self._emit("response.in_progress", response=snapshot)

    # ---- text -----------------------------------------------------------------------------------

    def text(self, delta: str) -> None:
        if not delta:
            return
        self.start()
        if self._message is None:
            self._close_reasoning()
            self._message = self._open_item(
                {"id": new_id("msg"), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            )
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            self._emit(
                "response.content_part.added",
                item_id=self.output[self._message]["id"],
                output_index=self._message,
                content_index=0,
                part=part,
            )
            self._texts[self._message] = []
        idx = self._message
        self._texts[idx].append(delta)
        self._emit(
            "response.output_text.delta",
            item_id=self.output[idx]["id"],
            output_index=idx,
            content_index=0,
            delta=delta,
            logprobs=[],
        )

    def annotate(self, annotation: dict[str, Any]) -> None:
        """An annotation (url_citation, ...) on the open message's text, or on the last message's."""
        if self._message is not None:
            self.output[self._message].setdefault("_annotations", []).append(annotation)
            return
        for item in reversed(self.output):
            if item["type"] == "message" and item["content"]:
                item["content"][0]["annotations"].append(annotation)
                return

    def _close_message(self) -> None:
        idx = self._message
        if idx is None:
            return
        self._message = None
        item = self.output[idx]
        text = "".join(self._texts.pop(idx))
        annotations = item.pop("_annotations", [])
        part = {"type": "output_text", "annotations": annotations, "logprobs": [], "text": text}
        self._emit(
            "response.output_text.done", item_id=item["id"], output_index=idx, content_index=0, text=text, logprobs=[]
        )
        self._emit("response.content_part.done", item_id=item["id"], output_index=idx, content_index=0, part=part)
        item["content"] = [part]
        self._done_item(idx)

    # ---- reasoning ------------------------------------------------------------------------------

    def reasoning(self, delta: str, *, summary: bool = True) -> None:
        """Reasoning text: a summary (``reasoning_summary_text.*``) or raw (``reasoning_text.*``)."""
        self.start()
        kind = "summary" if summary else "text"
        if self._reasoning is not None and self._reasoning_kind != kind:
            self._close_reasoning()
        if self._reasoning is None:
            self._open_reasoning(kind)
        if not delta:
            return
        idx = self._reasoning
        assert idx is not None
        self._texts[idx].append(delta)
        item_id = self.output[idx]["id"]
        if kind == "summary":
            self._emit(
                "response.reasoning_summary_text.delta",
                item_id=item_id,
                output_index=idx,
                summary_index=0,
                delta=delta,
            )
        else:
            self._emit("response.reasoning_text.delta", item_id=item_id, output_index=idx, content_index=0, delta=delta)

    def reasoning_signature(self, opaque: str) -> None:
        """Opaque state (a signature) for the open reasoning item, or for a new empty one."""
        self.start()
        if self._reasoning is None:
            self._open_reasoning(self._reasoning_kind)
        assert self._reasoning is not None
        item = self.output[self._reasoning]
        item["encrypted_content"] = (item.get("encrypted_content") or "") + opaque

    def close_reasoning(self) -> None:
        self._close_reasoning()

    def _open_reasoning(self, kind: str) -> None:
        self._close_message()
        self._reasoning_kind = kind
        idx = self._open_item({"id": new_id("rs"), "type": "reasoning", "summary": []})
        self._reasoning = idx
        self._texts[idx] = []
        if kind == "summary":
            self._emit(
                "response.reasoning_summary_part.added",
                item_id=self.output[idx]["id"],
                output_index=idx,
                summary_index=0,
                part={"type": "summary_text", "text": ""},
            )

    def _close_reasoning(self) -> None:
        idx = self._reasoning
        if idx is None:
            return
        self._reasoning = None
        item = self.output[idx]
        text = "".join(self._texts.pop(idx))
        if self._reasoning_kind == "summary":
            part = {"type": "summary_text", "text": text}
            self._emit(
                "response.reasoning_summary_text.done", item_id=item["id"], output_index=idx, summary_index=0, text=text
            )
            self._emit(
                "response.reasoning_summary_part.done", item_id=item["id"], output_index=idx, summary_index=0, part=part
            )
            item["summary"] = [part] if text else []
        else:
            self._emit("response.reasoning_text.done", item_id=item["id"], output_index=idx, content_index=0, text=text)
            item["content"] = [{"type": "reasoning_text", "text": text}]
        self._done_item(idx)

    # ---- tool calls -----------------------------------------------------------------------------

    def tool_call(self, key: str, call_id: str, name: str, arguments: str = "") -> None:
        """Open a function call; ``key`` is how the adapter refers to it (block index, call index)."""
        self.start()
        self._close_message()
        self._close_reasoning()
        idx = self._open_item(
            {
                "id": new_id("fc"),
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": name,
                "arguments": "",
            }
        )
        self._tools[key] = idx
        self._texts[idx] = []
        if arguments:
            self.tool_args(key, arguments)

    def tool_args(self, key: str, delta: str) -> None:
        if not delta:
            return
        idx = self._tools[key]
        self._texts[idx].append(delta)
        self._emit(
            "response.function_call_arguments.delta", item_id=self.output[idx]["id"], output_index=idx, delta=delta
        )

    def close_tool(self, key: str) -> None:
        idx = self._tools.pop(key, None)
        if idx is None:
            return
        item = self.output[idx]
        args = "".join(self._texts.pop(idx))
        item["arguments"] = args
        self._emit(
            "response.function_call_arguments.done",
            item_id=item["id"],
            output_index=idx,
            name=item["name"],
            arguments=args,
        )
        self._done_item(idx)

    # ---- whole items ----------------------------------------------------------------------------

    def add_item(self, item: dict[str, Any]) -> None:
        """A complete item (web_search_call, a redacted reasoning item, ...), added and done at once."""
        self.start()
        self._close_message()
        self._close_reasoning()
        idx = self._open_item(item, status=item.get("status"))
        self._done_item(idx)

    def _open_item(self, item: dict[str, Any], status: str | None = "in_progress") -> int:
        idx = len(self.output)
        self.output.append(item)
        added = dict(item)
        if status is not None and "status" in item:
            added["status"] = status
        self._emit("response.output_item.added", output_index=idx, item=added)
        return idx

    def _done_item(self, idx: int) -> None:
        item = self.output[idx]
        if "status" in item:
            item["status"] = "completed" if item["status"] in ("in_progress", None) else item["status"]
        self._emit("response.output_item.done", output_index=idx, item=item)

    # ---- the end --------------------------------------------------------------------------------

    def set_usage(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        """Input tokens include cached and cache-written ones, as OpenAI counts them."""
        details: dict[str, Any] = {"cached_tokens": cached_tokens, "cache_write_tokens": cache_write_tokens}
        self.usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": details,
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        }

    def close_all(self) -> None:
        self._close_message()
        self._close_reasoning()
        for key in list(self._tools):
            self.close_tool(key)

    def finish(self, reason: str | None = "stop") -> None:
        """Close what is open and emit the terminal event."""
        self.start()
        self.close_all()
        status, why = FINISH.get(reason or "stop", ("completed", None))
        self.status = status
        self.completed_at = int(time.time())
        self.incomplete_details = {"reason": why} if why else None
        self._emit(f"response.{status}", response=self.response())

    def fail(self, code: str, message: str) -> None:
        self.start()
        self.close_all()
        self.status = "failed"
        self.completed_at = int(time.time())
        self.error = {"code": code, "message": message}
        self._emit("response.failed", response=self.response())

    def response(self) -> dict[str, Any]:
        req = self.req
        text = self.raw.get("text") or {"format": {"type": "text"}}
        terminal = self.status != "in_progress"
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": self.completed_at if terminal else None,
            "status": self.status,
            "background": False,
            "error": self.error,
            "incomplete_details": self.incomplete_details,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": req.max_tool_calls,
            "model": self.model,
            "output": list(self.output) if terminal else [],
            "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id,
            "reasoning": self.raw.get("reasoning") or {"effort": None, "summary": None},
            "store": True if req.store is None else req.store,
            "temperature": 1.0 if req.temperature is None else req.temperature,
            "top_p": 1.0 if req.top_p is None else req.top_p,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "top_logprobs": req.top_logprobs or 0,
            "text": text,
            "tool_choice": req.tool_choice or "auto",
            "tools": [_echo_tool(t) for t in self.raw.get("tools") or []],
            "truncation": req.truncation or "disabled",
            "usage": self.usage,
            "user": req.user,
            "metadata": req.metadata or {},
            "service_tier": req.service_tier or "default",
            "safety_identifier": req.safety_identifier,
            "prompt_cache_key": req.prompt_cache_key,
        }
        body.update(self.extra)
        return body


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A request tool as the response echoes it: function tools carry every field, null when unset."""
    if tool.get("type") != "function":
        return tool
    echoed = {k: v for k, v in tool.items() if k != "cache_control"}
    echoed.setdefault("description", None)
    echoed.setdefault("parameters", None)
    echoed.setdefault("strict", None)
    return echoed
