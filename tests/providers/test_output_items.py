"""The typed output items (schemas/output.py) encode exactly as OpenAI's own.

The builder's items are Structs; the response it hands the gateway is still a dict. These tests hold
the dict to the shapes OpenAI recorded (tests/fixtures/providers/openai-responses): the same fields,
always present or left out exactly as OpenAI does, with values of the same kinds.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.output import FunctionCall, Message, OutputText, Reasoning, typed_output
from ferryman.schemas.responses import validate_request
from tests.fakes.upstream import load_fixture


def _recorded(name: str, kind: str) -> dict[str, Any]:
    output = load_fixture(f"openai-responses/{name}")["response"]["body"]["output"]
    return next(item for item in output if item["type"] == kind)


def _shape(value: Any) -> Any:
    """A value's structure: the keys of objects, the kinds of scalars, the shape of the first element."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _built() -> dict[str, Any]:
    raw, req = validate_request(
        msgspec.json.encode(
            {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "get_capital", "parameters": {}}]}
        )
    )
    b = ResponseBuilder(req, raw, "m")
    b.reasoning("Thinking.")
    b.reasoning_signature("opaque")
    b.text("The capital of France is Paris.")
    b.tool_call("1", "call_1", "get_capital", '{"country":"PotatoLand"}')
    b.finish("tool_calls")
    return b.response()


def test_text_reasoning_and_a_tool_call_have_the_recorded_shapes() -> None:
    reasoning, message, call = _built()["output"]
    assert _shape(reasoning) == _shape(_recorded("reasoning_summary", "reasoning"))
    assert _shape(message) == _shape(_recorded("text_basic", "message"))
    assert _shape(call) == _shape(_recorded("tool_call", "function_call"))
    assert message["content"] == [
        {"type": "output_text", "annotations": [], "logprobs": [], "text": "The capital of France is Paris."}
    ]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Thinking."}]
    assert reasoning["encrypted_content"] == "opaque" and "status" not in reasoning and "content" not in reasoning
    assert (call["call_id"], call["name"], call["arguments"], call["status"]) == (
        "call_1",
        "get_capital",
        '{"country":"PotatoLand"}',
        "completed",
    )


def test_raw_reasoning_is_content_and_the_added_event_shows_the_item_as_it_was() -> None:
    raw, req = validate_request(b'{"model": "m", "input": "hi"}')
    b = ResponseBuilder(req, raw, "m")
    b.reasoning("step", summary=False)
    b.text("ok")
    b.finish()
    events = msgspec.to_builtins(b.events())
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert added[0] == {"type": "reasoning", "id": done[0]["id"], "summary": []}
    assert done[0]["content"] == [{"type": "reasoning_text", "text": "step"}] and done[0]["summary"] == []
    message = {"type": "message", "id": done[1]["id"], "status": "in_progress", "role": "assistant", "content": []}
    assert added[1] == message
    assert done[1]["status"] == "completed" and done[1]["content"][0]["text"] == "ok"
    assert b.response()["output"] == done


@pytest.mark.parametrize(
    ("name", "kind", "typed"),
    [
        ("reasoning_summary", "reasoning", Reasoning),
        ("text_basic", "message", Message),
        ("tool_call", "function_call", FunctionCall),
    ],
)
def test_recorded_items_convert_to_typed_and_back_unchanged(name: str, kind: str, typed: type) -> None:
    recorded = _recorded(name, kind)
    item = typed_output(recorded)
    assert isinstance(item, typed)
    assert msgspec.to_builtins(item) == recorded


def test_items_the_typed_form_would_change_stay_dicts() -> None:
    message = _recorded("text_basic", "message")
    assert typed_output({**message, "future_field": 1}) is None  # a field it would drop
    assert typed_output({**message, "status": None}) is None  # a value it cannot hold
    assert typed_output({"type": "web_search_call", "id": "ws_1", "status": "completed"}) is None
    part = typed_output(message)
    assert isinstance(part, Message) and isinstance(part.content[0], OutputText)
