"""A finished response replayed as the event stream that would have produced it (GET ?stream=true).

The replay is a fold of the stored output through the same ``ResponseBuilder`` that live translated
streams go through, so its events are the ones a live stream has (``function_call_arguments.done``
names its function, summaries keep their parts, ...). The builder keeps the stored response's id,
creation time, usage, status and echoed fields, and each item's id and fields; what it cannot
re-create delta by delta (a message with several parts or a refusal, hosted tool calls) goes whole.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.gateway.streaming import SSE_HEADERS
from ferryman.http import Send
from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.events import Event, event_type
from ferryman.sse import encode_event


def replay_events(response: dict[str, Any]) -> list[Event]:
    builder = ResponseBuilder.replaying(response)
    builder.start()
    for index, item in enumerate(response.get("output") or []):
        _feed(builder, item, str(index))
    builder.end(response.get("status") or "completed")
    return builder.events()


def _feed(b: ResponseBuilder, item: dict[str, Any], key: str) -> None:
    kind = item.get("type")
    if kind == "message" and _one_text(item):
        part = item["content"][0]
        b.text(part["text"], logprobs=part.get("logprobs") or None, item=item)
        for annotation in part.get("annotations") or []:
            b.annotate(annotation)
        b.close_all()
    elif kind == "reasoning" and (item.get("summary") or item.get("content")) and _one_kind(item):
        if item.get("content"):
            b.reasoning(item["content"][0].get("text") or "", summary=False, item=item)
        for i, part in enumerate(item.get("summary") or []):
            if i:
                b.reasoning_part()
            b.reasoning(part.get("text") or "", item=item)
        b.close_reasoning()
    elif kind == "function_call":
        b.tool_call(key, item.get("call_id") or "", item.get("name") or "", item=item)
        b.tool_args(key, item.get("arguments") or "")
        b.close_tool(key)
    else:
        b.add_item(item)


def _one_text(item: dict[str, Any]) -> bool:
    """A message the builder streams: one non-empty output_text part."""
    content = item.get("content") or []
    return len(content) == 1 and content[0].get("type") == "output_text" and bool(content[0].get("text"))


def _one_kind(item: dict[str, Any]) -> bool:
    """A reasoning item the builder streams: a summary, or one raw text part, not both."""
    content = item.get("content") or []
    if not content:
        return True
    return not item.get("summary") and len(content) == 1 and content[0].get("type") == "reasoning_text"


async def replay_stream(
    send: Send, response: dict[str, Any], final_extra: dict[str, Any] | None = None, headers: list[Any] | None = None
) -> None:
    """Send the replay; with ``final_extra``, events carry extra_fields as a live stream's do."""
    events = replay_events(response)
    if final_extra is not None:
        for i, ev in enumerate(events):
            ev.extra_fields = {"chunk_index": i}
        events[-1].extra_fields = {"chunk_index": len(events) - 1, **final_extra}
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *(headers or [])]})
    body = b"".join(encode_event(event_type(ev), msgspec.json.encode(ev)) for ev in events)
    await send({"type": "http.response.body", "body": body})
