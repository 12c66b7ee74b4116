"""Every event and response the shared builder produces validates against the Open Responses spec.

``openresponses-types`` is the spec's own generated Python model. One naming difference is by
design: raw reasoning streams as OpenAI's ``response.reasoning_text.*`` (what the openai SDK parses),
which the spec calls ``response.reasoning.*`` with the same fields; those events are checked against
the spec's reasoning models.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import msgspec
import openresponses_types as spec
import pytest
from pydantic import BaseModel

from ferryman.config import config_from_dict
from ferryman.providers.anthropic import AnthropicProvider
from ferryman.providers.bedrock import BedrockProvider
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.cohere import CohereProvider
from ferryman.providers.gemini import GeminiProvider
from ferryman.providers.openai_chat import ChatCompletionsProvider
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder
from tests.fakes.cohere import stream_blocks
from tests.fakes.upstream import FIXTURES, load_fixture

RENAMED = {
    "response.reasoning_text.delta": "response.reasoning.delta",
    "response.reasoning_text.done": "response.reasoning.done",
}


def _models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for name in dir(spec):
        cls = getattr(spec, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name.endswith("StreamingEvent"):
            kind = cls.model_fields["type"].annotation
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                for member in kind:
                    models[member.value] = cls
    return models


MODELS = _models()
CONFIG = config_from_dict(
    {
        "providers": {
            "anthropic": {"keys": [{"value": "k"}]},
            "gemini": {"keys": [{"value": "k"}]},
            "bedrock": {"keys": [{"value": "k"}], "region": "us-east-1"},
            "groq": {"keys": [{"value": "k"}]},
            "cohere": {"keys": [{"value": "k"}]},
        }
    },
    {},
)
ADAPTERS = {
    "anthropic-messages": AnthropicProvider(CONFIG.providers["anthropic"]),
    "gemini-generatecontent": GeminiProvider(CONFIG.providers["gemini"]),
    "groq-chat": ChatCompletionsProvider(CONFIG.providers["groq"]),
    "openai-chat": ChatCompletionsProvider(CONFIG.providers["groq"]),
    "cohere-chat": CohereProvider(CONFIG.providers["cohere"]),
}


def _check_event(event: dict[str, Any]) -> None:
    kind = RENAMED.get(event["type"], event["type"])
    if event.get("item", {}).get("type") in EXTENSION_ITEMS:
        return
    if "response" in event:
        core = [i for i in event["response"]["output"] if i.get("type") not in EXTENSION_ITEMS]
        event = {**event, "response": {**event["response"], "output": core}}
    if "response" in event:
        event = {**event, "response": {**event["response"], "text": _spec_text(event["response"])}}
    model = MODELS.get(kind)
    assert model is not None, f"the spec has no event {kind!r}"
    model.model_validate({**event, "type": kind})


# hosted-tool items OpenAI defines and the core spec does not (it leaves provider tools to extensions)
EXTENSION_ITEMS = frozenset({"web_search_call"})


def _check_response(response: dict[str, Any]) -> None:
    core = [item for item in response["output"] if item.get("type") not in EXTENSION_ITEMS]
    spec.ResponseResource.model_validate({**response, "output": core, "text": _spec_text(response)})


def _spec_text(response: dict[str, Any]) -> dict[str, Any]:
    """``text`` as the spec's generated model can take it: it types a json_schema format's ``schema`` as
    null (a generator slip: the spec says any JSON schema), so that one field is checked by hand here."""
    text: dict[str, Any] = response["text"]
    fmt = text["format"]
    if fmt["type"] != "json_schema":
        return text
    assert isinstance(fmt["schema"], dict) and fmt["schema"], fmt
    return {**text, "format": {**fmt, "schema": None}}


def _builder(stream: bool) -> ResponseBuilder:
    raw, req = validate_request(msgspec.json.encode({"model": "x/m", "input": "hi", "stream": stream}))
    return ResponseBuilder(req, raw, "m")


def _replays() -> list[tuple[str, str]]:
    cases = []
    for folder in ADAPTERS:
        for path in sorted((FIXTURES / folder).glob("*.json")):
            ex = json.loads(path.read_text())
            if ex["response"]["status"] == 200:
                cases.append((folder, path.stem))
    return cases


@pytest.mark.parametrize(("folder", "name"), _replays())
def test_translated_replies_and_streams_follow_the_spec(folder: str, name: str) -> None:
    adapter = ADAPTERS[folder]
    response = load_fixture(f"{folder}/{name}")["response"]
    builder = _builder(stream="sse" in response)
    if "sse" in response:
        builder.start()
        decoder = SSEDecoder()
        translator = adapter.translator(builder)
        for block in response["sse"]:
            for event in decoder.feed(block.encode() + b"\n\n"):
                translator.feed(event)
        if builder.status == "in_progress":
            builder.finish("stop")
        events = msgspec.to_builtins(builder.events())
        assert events[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")
        for event in events:
            _check_event(event)
    else:
        adapter.parse_reply(response["body"], builder)
    _check_response(builder.response())


@pytest.mark.parametrize("name", ["text_basic", "thinking", "tool_call"])
def test_cohere_streams_follow_the_spec(name: str) -> None:
    """Cohere's recordings are whole replies: streamed as Cohere streams them (tests/fakes/cohere.py)."""
    builder = _builder(stream=True)
    builder.start()
    translator = ADAPTERS["cohere-chat"].translator(builder)
    for event in SSEDecoder().feed(
        "\n\n".join(stream_blocks(load_fixture(f"cohere-chat/{name}")["response"]["body"])).encode() + b"\n\n"
    ):
        translator.feed(event)
    events = msgspec.to_builtins(builder.events())
    assert events[-1]["type"] == "response.completed"
    for event in events:
        _check_event(event)
    _check_response(builder.response())


def test_bedrock_streams_follow_the_spec() -> None:
    import base64

    from botocore.eventstream import EventStreamBuffer

    adapter = BedrockProvider(CONFIG.providers["bedrock"])
    for name in ("text_stream", "tool_call_stream", "structured_output_json_schema_stream"):
        raw = base64.b64decode(load_fixture(f"bedrock-converse/{name}")["response"]["eventstream_base64"])
        buffer = EventStreamBuffer()
        buffer.add_data(raw)
        builder = _builder(stream=True)
        builder.start()
        from ferryman.providers.base import SSEEvent

        translator = adapter.translator(builder)
        for message in buffer:
            event_type = message.headers.get(":event-type")
            translator.feed(SSEEvent(event_type, message.payload))
        if builder.status == "in_progress":
            builder.finish("stop")
        for event in msgspec.to_builtins(builder.events()):
            _check_event(event)
        _check_response(builder.response())


def test_failed_and_incomplete_responses_follow_the_spec() -> None:
    builder = _builder(stream=True)
    builder.reasoning("thinking", summary=False)
    builder.text("partial")
    builder.finish("length")
    failed = _builder(stream=True)
    failed.tool_call("1", "call_1", "f", "{}")
    failed.fail("server_error", "overloaded")
    for b in (builder, failed):
        for event in msgspec.to_builtins(b.events()):
            _check_event(event)
        _check_response(b.response())


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
MOCK_REQUESTS = {
    "text": {"input": "hi there"},
    "reasoning": {"input": "why?", "reasoning": {"effort": "low", "summary": "auto"}},
    # the echo carries every field of reasoning and text.format, whatever the request left out
    "reasoning_effort_only": {"input": "why?", "reasoning": {"effort": "low"}},
    "structured": {
        "input": "a city",
        "text": {"format": {"type": "json_schema", "name": "city", "schema": SCHEMA}},
    },
    "structured_chat_shape": {
        "input": "a city",
        "text": {"format": {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}}},
    },
    "json_object": {"input": "a city, as JSON", "text": {"format": {"type": "json_object"}}},
    "tool_call": {
        "input": "weather?",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}}],
    },
    "tool_result": {
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ]
    },
}


@pytest.mark.parametrize("case", sorted(MOCK_REQUESTS))
def test_mock_replies_and_streams_follow_the_spec(case: str) -> None:
    import asyncio

    from ferryman.providers.base import Call
    from ferryman.providers.mock import MockProvider

    mock = MockProvider(CONFIG.providers["mock"])

    async def run(stream: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        body = {"model": "mock/m", "stream": stream, **MOCK_REQUESTS[case]}
        raw, req = validate_request(msgspec.json.encode(body))
        call = Call(req, raw, "m", None)
        if not stream:
            return [], (await mock.create(call)).body
        events = [json.loads(ev.data) async for ev in (await mock.stream(call)).events]
        return events, events[-1]["response"]

    events, streamed = asyncio.run(run(stream=True))
    assert events[-1]["type"] == "response.completed"
    for event in events:
        _check_event(event)
    _check_response(streamed)
    _check_response(asyncio.run(run(stream=False))[1])


def test_namespaced_and_custom_tool_calls_follow_the_spec_and_the_sdk() -> None:
    """A namespaced function call is a core item (its ``namespace`` an addition the spec's model lets
    through); a custom tool call and its ``response.custom_tool_call_input.*`` events are OpenAI's, not
    the core spec's, so those are checked with the openai SDK's own types, and everything with both."""
    from openai.types.responses import Response, ResponseStreamEvent
    from pydantic import TypeAdapter

    sdk_event = TypeAdapter(ResponseStreamEvent)
    tools = [
        {"type": "custom", "name": "apply_patch"},
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [{"type": "function", "name": "find"}]},
    ]
    raw, req = validate_request(msgspec.json.encode({"model": "x/m", "input": "hi", "stream": True, "tools": tools}))
    builder = ResponseBuilder(req, raw, "m")
    builder.tool_call("0", "call_1", "crm__find", '{"id": 7}')
    builder.tool_call("1", "call_2", "apply_patch", '{"input": "patch"}')
    builder.finish("tool_calls")
    events = msgspec.to_builtins(builder.events())
    custom = [e for e in events if e["type"].startswith("response.custom_tool_call_input")]
    assert [e["type"] for e in custom] == [
        "response.custom_tool_call_input.delta",
        "response.custom_tool_call_input.done",
    ]
    for event in events:
        sdk_event.validate_python(event)
        if event in custom or event.get("item", {}).get("type") == "custom_tool_call":
            continue
        if "response" in event:  # the core spec has no custom tools: the echo and the output without them
            out = [i for i in event["response"]["output"] if i["type"] != "custom_tool_call"]
            event = {**event, "response": {**event["response"], "output": out, "tools": []}}
        _check_event(event)
    response = builder.response()
    function, call = response["output"]
    assert function["namespace"] == "crm" and function["name"] == "find"
    assert call == {
        "type": "custom_tool_call",
        "id": call["id"],
        "call_id": "call_2",
        "name": "apply_patch",
        "input": "patch",
    }
    Response.model_validate(response)
    _check_response({**response, "output": [function], "tools": []})
