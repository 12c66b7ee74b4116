"""Anthropic Messages adapter, driven by every recorded exchange in anthropic-messages/."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from ferryman.config import config_from_dict
from ferryman.providers.anthropic import AnthropicProvider
from ferryman.providers.base import Call
from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

EVENTS = TypeAdapter(ResponseStreamEvent)
PROVIDER = AnthropicProvider(
    config_from_dict({"providers": {"anthropic": {"keys": [{"value": "sk-ant"}]}}}, {}).providers["anthropic"]
)


def _fx(name: str) -> dict[str, Any]:
    return load_fixture(f"anthropic-messages/{name}")


def _call(body: dict[str, Any]) -> Call:
    raw, req = validate_request(msgspec.json.encode(body))
    return Call(req, raw, req.model.split("/", 1)[-1], None)


def _native(body: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    return PROVIDER.native_request(_call(body), stream=stream)


def _reply(name: str, body: dict[str, Any] | None = None) -> Response:
    call = _call(body or {"model": "anthropic/claude", "input": "hi"})
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    PROVIDER.parse_reply(_fx(name)["response"]["body"], builder)
    return Response.model_validate(builder.response())


def _stream(name: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    call = _call(body or {"model": "anthropic/claude", "input": "hi", "stream": True})
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    builder.start()
    decoder = SSEDecoder()
    for block in _fx(name)["response"]["sse"]:
        for ev in decoder.feed(block.encode() + b"\n\n"):
            PROVIDER.on_event(ev, builder)
    events = builder.events()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        EVENTS.validate_python(e)
    return events


def _same_messages(native: dict[str, Any], recorded: dict[str, Any]) -> None:
    assert native["messages"] == recorded["messages"]


# ---- requests -----------------------------------------------------------------------------------


def test_text_basic_request() -> None:
    rec = _fx("text_basic")["request"]["body"]
    native = _native(
        {
            "model": "anthropic/claude-3-opus-latest",
            "instructions": "You are a helpful assistant.",
            "input": [{"role": "user", "content": "What is the capital of France?"}],
        }
    )
    _same_messages(native, rec)
    assert native["system"].strip() == rec["system"].strip()
    assert native["max_tokens"] == rec["max_tokens"] and native["model"] == rec["model"]


def test_tool_call_and_result_requests() -> None:
    tool = {
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "additionalProperties": False,
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "type": "object",
        },
    }
    first = _native(
        {
            "model": "anthropic/claude-sonnet-4-5",
            "input": "What's the weather in Paris?",
            "tools": [tool],
            "tool_choice": "auto",
        }
    )
    rec = _fx("tool_call")["request"]["body"]
    _same_messages(first, rec)
    assert first["tools"] == rec["tools"] and first["tool_choice"] == rec["tool_choice"]

    # turn 2: the function call from turn 1's output, and its result
    call = _reply("tool_call").output[0]
    second = _native(
        {
            "model": "anthropic/claude-sonnet-4-5",
            "tools": [tool],
            "tool_choice": "auto",
            "input": [
                {"role": "user", "content": "What's the weather in Paris?"},
                call.model_dump(exclude_none=True),
                {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 22C in Paris"},  # type: ignore[union-attr]
            ],
        }
    )
    rec2 = _fx("tool_result_multi_turn")["request"]["body"]
    for got, want in zip(second["messages"], rec2["messages"], strict=True):
        assert got["role"] == want["role"]
        for g, w in zip(got["content"], want["content"], strict=True):
            assert {k: v for k, v in g.items()} == {k: v for k, v in w.items() if k != "is_error"}


def test_thinking_round_trip_keeps_the_signature() -> None:
    rec = _fx("thinking")["request"]["body"]
    native = _native(
        {
            "model": "anthropic/claude-sonnet-4-5",
            "input": "How do I cross the street?",
            "reasoning": {"max_tokens": 1024},
            "max_output_tokens": 4096,
        }
    )
    assert native["thinking"] == rec["thinking"]
    _same_messages(native, rec)
    first = _reply("thinking")
    reasoning = first.output[0]
    assert reasoning.type == "reasoning"
    recorded_block = _fx("thinking")["response"]["body"]["content"][0]
    assert reasoning.encrypted_content == "anthropic:" + recorded_block["signature"]
    second = _native(
        {
            "model": "anthropic/claude-sonnet-4-5",
            "reasoning": {"max_tokens": 1024},
            "max_output_tokens": 4096,
            "input": [
                {"role": "user", "content": "How do I cross the street?"},
                *[item.model_dump(exclude_none=True) for item in first.output],
                {
                    "role": "user",
                    "content": _fx("thinking_multi_turn")["request"]["body"]["messages"][2]["content"][0]["text"],
                },
            ],
        }
    )
    _same_messages(second, _fx("thinking_multi_turn")["request"]["body"])


def test_structured_output_and_image_requests() -> None:
    schema = _fx("structured_output_json_schema")["request"]["body"]["output_config"]["format"]["schema"]
    native = _native(
        {
            "model": "anthropic/claude-sonnet-4-5",
            "input": "Tell me about London",
            "text": {"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
        }
    )
    assert native["output_config"] == _fx("structured_output_json_schema")["request"]["body"]["output_config"]
    url = _fx("image_input")["request"]["body"]["messages"][0]["content"][1]["source"]["url"]
    image = _native(
        {
            "model": "anthropic/claude-haiku-4-5",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this vegetable?"},
                        {"type": "input_image", "image_url": url},
                    ],
                }
            ],
        }
    )
    _same_messages(image, _fx("image_input")["request"]["body"])
    rec = _fx("image_input_base64_stream")["request"]["body"]
    block = rec["messages"][0]["content"][0]
    data_url = f"data:{block['source'].get('media_type', 'image/png')};base64,{block['source']['data']}"
    parts = [{"type": "input_image", "image_url": data_url}] + [
        {"type": "input_text", "text": b["text"]} for b in rec["messages"][0]["content"][1:]
    ]
    native = _native(
        {"model": "anthropic/claude-sonnet-4-5", "input": [{"role": "user", "content": parts}]}, stream=True
    )
    assert native["messages"][0]["content"][0]["source"]["data"] == block["source"]["data"]
    assert native["stream"] is True


def test_web_search_tool_and_cache_control() -> None:
    native = _native(
        {
            "model": "anthropic/claude-sonnet-4-0",
            "instructions": "You are a helpful assistant.",
            "input": "Give me the top 3 news in the world today.",
            "tool_choice": "auto",
            "tools": [
                {"type": "web_search"},
                {
                    "type": "function",
                    "name": "f",
                    "parameters": {"type": "object"},
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        }
    )
    rec = _fx("web_search_stream")["request"]["body"]
    assert native["tools"][0] == {"type": "web_search_20250305", "name": "web_search"}
    assert rec["tools"][0]["type"] == "web_search_20250305"
    assert native["tools"][1]["cache_control"] == {"type": "ephemeral"}


def test_parallel_and_choice_mapping() -> None:
    tool = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    n = _native(
        {"model": "anthropic/c", "input": "x", "tools": [tool], "tool_choice": "required", "parallel_tool_calls": False}
    )
    assert n["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    n = _native(
        {"model": "anthropic/c", "input": "x", "tools": [tool], "tool_choice": {"type": "function", "name": "f"}}
    )
    assert n["tool_choice"] == {"type": "tool", "name": "f"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}, "tools[0].type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ],
)
def test_unsupported_fields_name_field_and_provider(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native({"model": "anthropic/c", "input": "x", **body})
    assert info.value.param == param and "anthropic" in info.value.message


def test_foreign_reasoning_is_left_out() -> None:
    native = _native(
        {
            "model": "anthropic/c",
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-openai-blob"},
                {"role": "assistant", "content": "hello"},
            ],
        }
    )
    assert native["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "hello"}]}


# ---- replies and streams ------------------------------------------------------------------------


def test_replies() -> None:
    text = _reply("text_basic")
    assert text.output_text == "The capital of France is Paris." and text.status == "completed"
    assert text.usage is not None and text.usage.input_tokens == 20 and text.usage.output_tokens == 10
    call = _reply("tool_call").output[0]
    assert call.type == "function_call" and call.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert call.call_id == "toolu_01WN4AuToBnJyXNQXwQBBebj"  # type: ignore[union-attr]
    structured = _reply("structured_output_json_schema")
    assert json.loads(structured.output_text)["city"] == "London"
    assert _reply("image_input").output_text.startswith("This is a potato")
    assert _reply("thinking_multi_turn").output[0].type == "reasoning"


def test_max_tokens_is_incomplete() -> None:
    body = dict(_fx("text_basic")["response"]["body"], stop_reason="max_tokens")
    call = _call({"model": "anthropic/c", "input": "hi"})
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    PROVIDER.parse_reply(body, builder)
    assert builder.status == "incomplete" and builder.incomplete_details == {"reason": "max_output_tokens"}


def test_thinking_stream() -> None:
    events = _stream("thinking_stream")
    types = [e["type"] for e in events]
    assert "response.reasoning_summary_text.delta" in types and types[-1] == "response.completed"
    final = Response.model_validate(events[-1]["response"])
    assert final.output[0].encrypted_content.startswith("anthropic:EuYD")  # type: ignore[union-attr]
    assert "Pouch" in final.output_text
    assert final.usage is not None and final.usage.output_tokens == 133


def test_parallel_tool_call_stream() -> None:
    final = Response.model_validate(_stream("tool_call_stream")[-1]["response"])
    calls = [i for i in final.output if i.type == "function_call"]
    assert [c.call_id for c in calls] == ["toolu_01LtHJmixrs9NcWQkK8hu8hj", "toolu_01N8a4jWyf116qKTMqKKmjyt"]  # type: ignore[union-attr]


def test_web_search_stream() -> None:
    events = _stream("web_search_stream")
    final = Response.model_validate(events[-1]["response"])
    searches = [i for i in final.output if i.type == "web_search_call"]
    assert len(searches) == 2 and searches[0].action.query  # type: ignore[union-attr]
    messages = [i for i in final.output if i.type == "message"]
    annotations = [a for m in messages for a in m.content[0].annotations]  # type: ignore[union-attr]
    assert annotations and all(a.end_index > a.start_index for a in annotations)  # type: ignore[union-attr]
    text = messages[-1].content[0].text  # type: ignore[union-attr]
    assert text[annotations[0].start_index : annotations[0].end_index].startswith("European leaders")  # type: ignore[union-attr]
    assert "Air Canada" in final.output_text


def test_other_streams_validate() -> None:
    for name in ("text_stream", "image_input_base64_stream"):
        final = Response.model_validate(_stream(name)[-1]["response"])
        assert final.output_text and final.status == "completed"


# ---- end to end ---------------------------------------------------------------------------------


@pytest.fixture
def gw(fake: FakeUpstream) -> GatewayServer:
    config = base_config(fake)
    config["providers"]["anthropic"] = {"base_url": fake.url, "keys": [{"value": "sk-ant-secret"}], "max_retries": 0}
    server = GatewayServer(config).start()
    yield server  # type: ignore[misc]
    server.stop()


def _client(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)


def test_sdk_end_to_end(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/tool_call"), times=1)
    response = _client(gw).responses.create(
        model="anthropic/claude-sonnet-4-5",
        input="What's the weather in Paris?",
        tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}],
    )
    sent = fake.requests_to("/v1/messages")[-1]
    assert sent.headers["x-api-key"] == "sk-ant-secret" and sent.headers["anthropic-version"] == "2023-06-01"
    assert response.output[0].type == "function_call"
    assert response.extra_fields["provider"] == "anthropic"  # type: ignore[attr-defined]
    assert response.usage.cost["total_cost"] > 0  # type: ignore[union-attr]

    fake.add("/v1/messages", Reply.fixture("anthropic-messages/thinking_stream"), times=1)
    with _client(gw).responses.stream(
        model="anthropic/claude-haiku-4-5", input="Two names", reasoning={"effort": "low"}
    ) as stream:
        kinds = {e.type for e in stream}
        final = stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds and "Pouch" in final.output_text


def test_errors_end_to_end(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/error_404_model_not_found"), times=1)
    with pytest.raises(openai.NotFoundError) as info:
        _client(gw).responses.create(model="anthropic/claude-sonet-4-5", input="hello")
    assert "anthropic" in info.value.message and "claude-sonet-4-5" in info.value.message
    blocks = _fx("text_stream")["response"]["sse"][:3] + [
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    ]
    fake.add("/v1/messages", Reply(sse=blocks), times=1)
    events = list(_client(gw).responses.create(model="anthropic/claude-sonnet-4-5", input="hi", stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert "Overloaded" in events[-2].message  # type: ignore[union-attr]


def test_conversation_from_openai_to_anthropic(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"), times=1)
    first = _client(gw).responses.create(model="openai/gpt-4o", input="What is the capital of France?")
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_basic"), times=1)
    _client(gw).responses.create(
        model="anthropic/claude-3-opus-latest", input="And Italy?", previous_response_id=first.id
    )
    sent = fake.requests_to("/v1/messages")[-1].json
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The capital of France is Paris."}]},
        {"role": "user", "content": [{"type": "text", "text": "And Italy?"}]},
    ]
