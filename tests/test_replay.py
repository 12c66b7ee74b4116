"""Replaying a stored response through the builder: shapes the recorded fixtures do not hold."""

from __future__ import annotations

from typing import Any

import msgspec
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from ferryman.routes.replay import replay_events

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
USAGE = {
    "input_tokens": 5,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 7,
    "output_tokens_details": {"reasoning_tokens": 3},
    "total_tokens": 12,
}
LOGPROB = {"token": "Hi", "bytes": [72, 105], "logprob": -0.1, "top_logprobs": []}
CITATION = {"type": "url_citation", "start_index": 0, "end_index": 2, "url": "https://x.test", "title": "x"}


def _stored(output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "completed_at": 1700000005,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "model": "gpt-5",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": USAGE,
        "metadata": {"k": "v"},
    }


def test_summary_parts_logprobs_annotations_and_refusals_replay_as_stored() -> None:
    output = [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "First."}, {"type": "summary_text", "text": "Second."}],
            "encrypted_content": "opaque",
        },
        {
            "id": "msg_1",
            "type": "message",
            "status": "incomplete",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi", "annotations": [CITATION], "logprobs": [LOGPROB]}],
        },
        {
            "id": "msg_2",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "refusal", "refusal": "No."}],
        },
    ]
    stored = _stored(output, status="incomplete")
    events = msgspec.to_builtins(replay_events(stored))
    for event in events:
        EVENTS.validate_python(event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert events[-1]["type"] == "response.incomplete" and events[-1]["response"] == stored
    parts = [(e["summary_index"], e["text"]) for e in events if e["type"] == "response.reasoning_summary_text.done"]
    assert parts == [(0, "First."), (1, "Second.")]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert [(d["delta"], d["logprobs"]) for d in deltas] == [("Hi", [LOGPROB])]
    assert [e["item"] for e in events if e["type"] == "response.output_item.done"] == output
    Response.model_validate(events[-1]["response"])


def test_namespaced_and_custom_tool_calls_replay_as_stored() -> None:
    output = [
        {
            "id": "fc_1",
            "type": "function_call",
            "call_id": "call_1",
            "name": "find",
            "arguments": '{"id": 7}',
            "status": "completed",
            "namespace": "crm",
        },
        {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "patch"},
    ]
    events = msgspec.to_builtins(replay_events(_stored(output)))
    for event in events:
        EVENTS.validate_python(event)
    assert [e["item"] for e in events if e["type"] == "response.output_item.done"] == output
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert added[0]["namespace"] == "crm" and added[1]["input"] == ""  # added before its input streams
    [delta] = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
    [done] = [e["input"] for e in events if e["type"] == "response.custom_tool_call_input.done"]
    assert delta == done == "patch"
    assert events[-1]["response"]["output"] == output
