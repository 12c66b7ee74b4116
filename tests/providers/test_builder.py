"""The shared Responses state machine: every event it emits is one the openai SDK accepts."""

from __future__ import annotations

import msgspec
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.responses import validate_request

EVENTS = TypeAdapter(ResponseStreamEvent)


def _builder(**body: object) -> ResponseBuilder:
    raw, req = validate_request(msgspec.json.encode({"model": "anthropic/claude", "input": "hi", **body}))
    return ResponseBuilder(req, raw, "claude-sonnet-4-5")


def _check_sequence(events: list[dict]) -> None:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        EVENTS.validate_python(e)  # raises if the SDK would not accept the event


def test_reasoning_text_tools_sequence() -> None:
    b = _builder(reasoning={"effort": "high"}, tools=[{"type": "function", "name": "f", "parameters": {}}])
    b.reasoning("Let me ")
    b.reasoning("think.")
    b.reasoning_signature("anthropic:sig123")
    b.text("Calling ")
    b.text("f.")
    b.tool_call("1", "toolu_1", "f", '{"a"')
    b.tool_args("1", ": 1}")
    b.tool_call("2", "toolu_2", "f", "{}")
    b.set_usage(10, 20, cached_tokens=4, reasoning_tokens=5)
    b.finish("tool_calls")
    events = msgspec.to_builtins(b.events())
    _check_sequence(events)
    types = [e["type"] for e in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    final = Response.model_validate(events[-1]["response"])
    assert [i.type for i in final.output] == ["reasoning", "message", "function_call", "function_call"]
    assert final.output[0].summary[0].text == "Let me think."  # type: ignore[union-attr]
    assert final.output[0].encrypted_content == "anthropic:sig123"  # type: ignore[union-attr]
    assert final.output_text == "Calling f."
    assert final.output[2].arguments == '{"a": 1}'  # type: ignore[union-attr]
    assert final.output[3].call_id == "toolu_2"  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.total_tokens == 30
    assert final.status == "completed"
    indices = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert indices == [0, 1, 2, 3]


def test_raw_reasoning_and_truncation() -> None:
    b = _builder(max_output_tokens=5)
    b.reasoning("thinking", summary=False)
    b.text("partial")
    b.finish("length")
    events = msgspec.to_builtins(b.events())
    _check_sequence(events)
    assert "response.reasoning_text.delta" in [e["type"] for e in events]
    final = Response.model_validate(events[-1]["response"])
    assert events[-1]["type"] == "response.incomplete"
    assert final.status == "incomplete"
    assert final.incomplete_details is not None and final.incomplete_details.reason == "max_output_tokens"
    assert final.output[0].content[0].text == "thinking"  # type: ignore[union-attr,index]


def test_failure_and_whole_items() -> None:
    b = _builder()
    b.add_item(
        {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}}
    )
    b.text("so far")
    b.fail("server_error", "overloaded")
    events = msgspec.to_builtins(b.events())
    _check_sequence(events)
    final = Response.model_validate(events[-1]["response"])
    assert final.status == "failed" and final.error is not None and final.error.message == "overloaded"
    assert [i.type for i in final.output] == ["web_search_call", "message"]
