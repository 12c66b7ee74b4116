"""The stream resumer's watch of a relayed stream: typed events, and the ones the typed union lacks."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ferryman.gateway.resume import Resumer
from ferryman.gateway.router import Target
from ferryman.providers.base import EventStream

SEARCH = {"id": "ws_1", "type": "web_search_call", "status": "in_progress", "action": {"type": "search"}}
MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
PART = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}


def _events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": SEARCH},
        {"type": "response.web_search_call.searching", "output_index": 0, "item_id": "ws_1"},
        {"type": "response.output_item.done", "output_index": 0, "item": {**SEARCH, "status": "completed"}},
        {"type": "response.output_item.added", "output_index": 1, "item": MESSAGE},
        {
            "type": "response.content_part.added",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "part": PART,
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": "Hel",
        },
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 1,
            "content_index": 0,
            "delta": "lo",
        },
    ]
    return [{**e, "sequence_number": i} for i, e in enumerate(events)]


def test_resumer_follows_a_stream_with_hosted_tool_progress_and_continues_its_text() -> None:
    asked: list[str] = []

    async def open_next(prefix: str) -> tuple[EventStream, Target] | None:
        asked.append(prefix)
        return None

    resumer = Resumer(open_next, Target("openai", "gpt-4o"))
    for event in _events():
        resumer.observe(event["type"], msgspec.json.encode(event))
    assert resumer.sequence == 7 and resumer.response_id == "resp_1"
    assert resumer.done == {0: {**SEARCH, "status": "completed"}}
    assert asyncio.run(resumer.resume(8, "upstream_timeout")) is None
    assert asked == ["Hello"]  # the message's text so far, after a search it does not count
