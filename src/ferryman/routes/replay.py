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
from ferryman.schemas.output import CustomToolCall, FunctionCall, Message, OutputText, Reasoning, typed_output
from ferryman.sse import encode_event


def replay_events(response: dict[str, Any]) -> list[Event]:
    builder = ResponseBuilder.replaying(response)
    builder.start()
    for index, item in enumerate(response.get("output") or []):
        _feed(builder, item, str(index))
    builder.end(response.get("status") or "completed")
    return builder.events()


def _feed(b: ResponseBuilder, stored: dict[str, Any], key: str) -> None:
    item = typed_output(stored)
    if isinstance(item, Message) and _one_text(item):
        part = item.content[0]
        assert isinstance(part, OutputText)
        b.text(part.text, logprobs=part.logprobs or None, item=item)
        for annotation in part.annotations:
            b.annotate(annotation)
        b.close_all()
    elif isinstance(item, Reasoning) and (item.summary or item.content) and _one_kind(item):
        if item.content:
            b.reasoning(item.content[0].text, summary=False, item=item)
        for i, summary in enumerate(item.summary):
            if i:
                b.reasoning_part()
            b.reasoning(summary.text, item=item)
        b.close_reasoning()
    elif isinstance(item, FunctionCall | CustomToolCall):
        b.tool_call(key, item.call_id, item.name, item=item)
        b.tool_args(key, item.arguments if isinstance(item, FunctionCall) else item.input)
        b.close_tool(key)
    else:
        b.add_item(stored)


def _one_text(item: Message) -> bool:
    """A message the builder streams: one non-empty output_text part."""
    return len(item.content) == 1 and isinstance(item.content[0], OutputText) and bool(item.content[0].text)


def _one_kind(item: Reasoning) -> bool:
    """A reasoning item the builder streams: a summary, or one raw text part, not both."""
    if not item.content:
        return True
    return not item.summary and len(item.content) == 1


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
