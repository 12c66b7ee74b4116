"""A fake Cohere v2 chat model: a whole reply, or the same reply as Cohere streams it.

    fake.add("/v2/chat", cohere_answer(reply_body))     # JSON when the request says stream: false,
                                                        # Cohere's SSE events when it says stream: true

``reply_body`` is a v2 chat reply (``{id, finish_reason, message, usage}``, as the recordings in
``tests/fixtures/providers/cohere-chat/`` hold); ``stream_blocks`` turns it into the events Cohere's
``/v2/chat`` sends with ``stream: true``: ``message-start``, then per content block ``content-start``,
``content-delta``s (with the ``citation-start`` / ``citation-end`` pairs of that block after its text)
and ``content-end``, then ``tool-plan-delta``s, per call ``tool-call-start``, ``tool-call-delta``s and
``tool-call-end``, and ``message-end`` with the finish reason and usage; each as ``event: <type>`` and a
``data:`` line, the stream closed by ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.fakes.upstream import Received, Reply

PATH = "/v2/chat"
SSE_HEADERS = {"content-type": "text/event-stream"}


def pieces(text: str, size: int = 7) -> list[str]:
    """``text`` in the small pieces a stream delivers it in."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def stream_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A whole v2 chat reply as the stream events that carry it."""
    message = body.get("message") or {}
    empty = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[dict[str, Any]] = [{"type": "message-start", "id": body.get("id"), "delta": {"message": empty}}]
    citations = list(message.get("citations") or [])
    for index, block in enumerate(message.get("content") or []):
        kind = block["type"]
        events.append(
            {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
        )
        for piece in pieces(block[kind]):
            events.append({"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}})
        for n, citation in enumerate(citations):
            if (citation.get("content_index") or 0) == index:
                events.append({"type": "citation-start", "index": n, "delta": {"message": {"citations": citation}}})
                events.append({"type": "citation-end", "index": n})
        events.append({"type": "content-end", "index": index})
    for piece in pieces(message.get("tool_plan") or "") if message.get("tool_plan") else []:
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        start = {**call, "function": {"name": function["name"], "arguments": ""}}
        events.append({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": start}}})
        for piece in pieces(function.get("arguments") or ""):
            delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
            events.append({"type": "tool-call-delta", "index": index, "delta": delta})
        events.append({"type": "tool-call-end", "index": index})
    end = {"finish_reason": body.get("finish_reason"), "usage": body.get("usage")}
    events.append({"type": "message-end", "id": body.get("id"), "delta": end})
    return events


def stream_blocks(body: dict[str, Any]) -> list[str]:
    """The SSE blocks of ``stream_events(body)``, as Cohere writes them."""
    blocks = [f"event: {e['type']}\ndata: {json.dumps(e)}" for e in stream_events(body)]
    return [*blocks, "data: [DONE]"]


def cohere_answer(body: dict[str, Any]) -> Callable[[Received], Reply]:
    """Answer a v2 chat request with ``body``: whole, or streamed when the request asks for a stream."""

    def answer(received: Received) -> Reply:
        if received.json.get("stream"):
            return Reply(sse=stream_blocks(body), headers=SSE_HEADERS)
        return Reply(json=body)

    return answer
