"""A finished response replayed as the event stream that would have produced it (GET ?stream=true)."""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.gateway.streaming import SSE_HEADERS
from ferryman.http import Send
from ferryman.sse import encode_event

TERMINAL_BY_STATUS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}


def replay_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    def emit(type_: str, **fields: Any) -> None:
        events.append({"type": type_, "sequence_number": len(events), **fields})

    start = {**response, "status": "in_progress", "output": []}
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for i, item in enumerate(response.get("output") or []):
        kind = item.get("type")
        item_id = item.get("id")
        if kind == "message":
            emit("response.output_item.added", output_index=i, item={**item, "status": "in_progress", "content": []})
            for j, part in enumerate(item.get("content") or []):
                text = part.get("text", "")
                empty = {**part, "text": ""} if "text" in part else part
                emit("response.content_part.added", item_id=item_id, output_index=i, content_index=j, part=empty)
                if part.get("type") == "output_text":
                    common = {"item_id": item_id, "output_index": i, "content_index": j, "logprobs": []}
                    emit("response.output_text.delta", delta=text, **common)
                    emit("response.output_text.done", text=text, **common)
                emit("response.content_part.done", item_id=item_id, output_index=i, content_index=j, part=part)
        elif kind == "function_call":
            emit("response.output_item.added", output_index=i, item={**item, "status": "in_progress", "arguments": ""})
            args = item.get("arguments", "")
            emit("response.function_call_arguments.delta", item_id=item_id, output_index=i, delta=args)
            emit("response.function_call_arguments.done", item_id=item_id, output_index=i, arguments=args)
        elif kind == "reasoning":
            emit("response.output_item.added", output_index=i, item={**item, "summary": []})
            for j, part in enumerate(item.get("summary") or []):
                common = {"item_id": item_id, "output_index": i, "summary_index": j}
                emit("response.reasoning_summary_part.added", part={**part, "text": ""}, **common)
                emit("response.reasoning_summary_text.delta", delta=part.get("text", ""), **common)
                emit("response.reasoning_summary_text.done", text=part.get("text", ""), **common)
                emit("response.reasoning_summary_part.done", part=part, **common)
        else:
            emit("response.output_item.added", output_index=i, item=item)
        emit("response.output_item.done", output_index=i, item=item)
    emit(TERMINAL_BY_STATUS.get(response.get("status", "completed"), "response.completed"), response=response)
    return events


async def replay_stream(
    send: Send, response: dict[str, Any], final_extra: dict[str, Any] | None = None, headers: list[Any] | None = None
) -> None:
    """Send the replay; with ``final_extra``, events carry extra_fields as a live stream's do."""
    events = replay_events(response)
    if final_extra is not None:
        for i, ev in enumerate(events):
            ev["extra_fields"] = {"chunk_index": i}
        events[-1]["extra_fields"].update(final_extra)
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *(headers or [])]})
    body = b"".join(encode_event(ev["type"], msgspec.json.encode(ev)) for ev in events)
    await send({"type": "http.response.body", "body": body})
