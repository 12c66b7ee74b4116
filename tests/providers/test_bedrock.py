"""Bedrock Converse adapter: every recorded exchange, the request out and the reply back.

Three layers, as for the other adapters: the request a Responses client would send must become the
recorded Converse request (compared field by field); the recorded reply or binary event stream must
become the right Responses output, every stream event one the openai SDK accepts; and the whole
path runs end to end, the official ``openai`` SDK talking to a real gateway on a real port, in
front of a fake Bedrock that replays the recordings, authenticated by API key or SigV4 signature.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import re
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import msgspec
import openai
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.eventstream import EventStreamBuffer
from openai.types.responses import Response

from ferryman.config import Secret
from ferryman.providers.base import Call, SSEEvent
from ferryman.providers.bedrock import HINTS, BedrockProvider
from ferryman.providers.bedrock.config import BedrockConfig
from ferryman.providers.bedrock.request import ModelFamily
from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.errors import AuthenticationError, InvalidRequestError, ProviderError, UpstreamConnectionError
from ferryman.schemas.responses import validate_request
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FIXTURES, FakeUpstream, Reply, load_fixture
from tests.providers.stream_checks import check_events

FOLDER = "bedrock-converse"
API_KEY = "bedrock-api-key-test-0123456789"
AKID, SECRET_KEY, SESSION_TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example"
NOVA_MICRO = "us.amazon.nova-micro-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
PROVIDER = BedrockProvider(BedrockConfig(name="bedrock", type="bedrock", base_url=None, keys=[], region="us-east-1"))


# ---- helpers ------------------------------------------------------------------------------------


def _fixture(name: str) -> dict[str, Any]:
    return load_fixture(f"{FOLDER}/{name}")


def _path(model: str, stream: bool = False) -> str:
    """The path the fake upstream sees (aiohttp decodes the quoted model id)."""
    return f"/model/{model}/{'converse-stream' if stream else 'converse'}"


def _call(body: dict[str, Any], model: str) -> Call:
    raw, req = validate_request(msgspec.json.encode({"model": f"bedrock/{model}", **body}))
    return Call(req, raw, model, None)


def _native(body: dict[str, Any], model: str = SONNET) -> dict[str, Any]:
    return PROVIDER.native_request(_call(body, model), stream=False)


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """One normal form for both sides: the structured-output schema is JSON text, compared as JSON."""
    body = copy.deepcopy(body)
    fmt = body.get("outputConfig", {}).get("textFormat", {}).get("structure", {}).get("jsonSchema")
    if fmt is not None:
        fmt["schema"] = msgspec.json.decode(fmt["schema"])
    return body


def _reply(body: dict[str, Any], model: str, reply: Any) -> tuple[dict[str, Any], Response]:
    """A whole Converse reply read back: the response dict (as the client gets it) and its SDK model."""
    call = _call(body, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    PROVIDER.parse_reply(reply, builder)
    check_events(msgspec.to_builtins(builder.events()))  # a whole reply makes the same calls; they must be sound too
    out = builder.response()
    return out, Response.model_validate(out)


class _Content:
    def __init__(self, data: bytes, size: int) -> None:
        self.chunks = [data[i : i + size] for i in range(0, len(data), size)]

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class _Resp:
    """Just enough of an aiohttp response for stream_events: the body in small chunks."""

    def __init__(self, data: bytes, size: int = 7) -> None:
        self.content = _Content(data, size)


def _decode_stream(data: bytes, size: int = 7) -> list[SSEEvent]:
    async def collect() -> list[SSEEvent]:
        return [ev async for ev in PROVIDER.stream_events(_Resp(data, size))]  # type: ignore[arg-type]

    return asyncio.run(collect())


def _stream(body: dict[str, Any], model: str, data: bytes) -> tuple[list[dict[str, Any]], Response]:
    """A recorded event stream through stream_events and a translator: every event, and the final response."""
    call = _call({**body, "stream": True}, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    builder.start()
    events = msgspec.to_builtins(builder.events())
    translator = PROVIDER.translator(builder)
    for ev in _decode_stream(data):
        translator.feed(ev)
        events += msgspec.to_builtins(builder.events())
        if builder.status != "in_progress":
            break
    check_events(events)
    return events, Response.model_validate(events[-1]["response"])


def _usage(resp: Response) -> tuple[int, int, int, int, int]:
    u = resp.usage
    assert u is not None
    details = u.input_tokens_details.model_dump()
    return (
        u.input_tokens,
        u.output_tokens,
        details["cached_tokens"],
        details.get("cache_write_tokens", 0),
        u.output_tokens_details.reasoning_tokens,
    )


# ---- the AWS event stream wire format, for building streams the recordings lack -----------------


def _frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One eventstream message: prelude (total and headers length, CRC), string headers, payload, CRC."""
    head = b"".join(
        len(k).to_bytes(1, "big") + k.encode() + b"\x07" + len(v.encode()).to_bytes(2, "big") + v.encode()
        for k, v in headers.items()
    )
    prelude = (16 + len(head) + len(payload)).to_bytes(4, "big") + len(head).to_bytes(4, "big")
    prelude += binascii.crc32(prelude).to_bytes(4, "big")
    message = prelude + head + payload
    return message + binascii.crc32(message).to_bytes(4, "big")


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return _frame(headers, msgspec.json.encode(payload))


def _exception(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return _frame(headers, msgspec.json.encode(payload))


def _recorded_frames(name: str) -> list[tuple[dict[str, str], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(base64.b64decode(_fixture(name)["response"]["eventstream_base64"]))
    return [(dict(m.headers), m.payload) for m in buffer]


def _recorded(name: str) -> bytes:
    return base64.b64decode(_fixture(name)["response"]["eventstream_base64"])


def test_frame_encoder_reproduces_the_recorded_bytes() -> None:
    """The test encoder is byte-exact against AWS's own frames, so streams built with it are real."""
    for name in ("text_stream", "tool_call_stream", "structured_output_json_schema_stream"):
        frames = _recorded_frames(name)
        assert b"".join(_frame(h, p) for h, p in frames) == _recorded(name)


# ---- the Responses request a user would send, for every recording --------------------------------

WEATHER_TOOL = {
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
CITY_SCHEMA = {
    "additionalProperties": False,
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "country", "population"],
    "type": "object",
}
CITY_QUESTION = "What is the capital of France? Give me the city name, country, and population."
CITY_FORMAT = {
    "format": {
        "type": "json_schema",
        "name": "CityInfo",
        "description": "Information about a city.",
        "schema": CITY_SCHEMA,
        "strict": True,
    }
}


def _lookup_tool(name: str, description: str, arg: str) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "parameters": {
            "properties": {arg: {"description": f"The {arg} name.", "title": arg.title(), "type": "string"}},
            "required": [arg],
            "type": "object",
            "additionalProperties": False,
        },
    }


def _image_bytes() -> str:
    content = _fixture("image_input")["request"]["body"]["messages"][0]["content"]
    return content[1]["image"]["source"]["bytes"]


CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "text_basic": (NOVA_MICRO, {"instructions": "You are a chatbot.", "input": "Hello!"}),
    "text_stream": (
        NOVA_MICRO,
        {"instructions": "You are a helpful chatbot.", "input": "What is the capital of France?", "temperature": 0.0},
    ),
    "tool_call": (SONNET, {"input": "What's the weather in Paris?", "tools": [WEATHER_TOOL], "tool_choice": "auto"}),
    "tool_call_stream": (
        NOVA_MICRO,
        {
            "instructions": "You are a helpful chatbot.",
            "input": "What is the temperature of the capital of France?",
            "top_p": 0.5,
            "tools": [
                _lookup_tool("get_capital", "Get the capital of a country.", "country"),
                _lookup_tool("get_temperature", "Get the temperature in a city.", "city"),
            ],
        },
    ),
    "reasoning": (
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
        {
            "input": "What is the largest city in the user country?",
            "tools": [
                {
                    "type": "function",
                    "name": "get_user_country",
                    "parameters": {"additionalProperties": False, "properties": {}, "type": "object"},
                }
            ],
            "reasoning": {"max_tokens": 1024},
        },
    ),
    "structured_output_json_schema": (
        "mistral.mistral-large-3-675b-instruct",
        {"input": CITY_QUESTION, "text": CITY_FORMAT},
    ),
    "structured_output_json_schema_stream": (
        SONNET,
        {"input": CITY_QUESTION, "text": CITY_FORMAT},
    ),
    "image_input": (
        "us.amazon.nova-pro-v1:0",
        {
            "instructions": "You are a helpful chatbot.",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this vegetable?"},
                        {
                            "type": "input_image",
                            "image_url": f"data:image/jpeg;base64,{_image_bytes()}",
                            "detail": "auto",
                        },
                    ],
                }
            ],
        },
    ),
    "error_400": ("us.does-not-exist-model-v1:0", {"input": "hello"}),
    "error_400_stream": ("us.does-not-exist-model-v1:0", {"input": "hello"}),
}


def _tool_call_turn() -> dict[str, Any]:
    """The second turn of the weather conversation, built from the first turn's Responses output."""
    first, _ = _reply(CASES["tool_call"][1], SONNET, _fixture("tool_call")["response"]["body"])
    call = first["output"][0]
    return {
        "input": [
            {"role": "user", "content": "What's the weather in Paris?"},
            call,  # the client sends the function_call item back as it got it
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 22C in Paris"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
    }


def _case(name: str) -> tuple[str, dict[str, Any]]:
    if name == "tool_result_multi_turn":
        return SONNET, _tool_call_turn()
    return CASES[name]


ALL_FIXTURES = [*CASES, "tool_result_multi_turn"]


def test_every_recording_has_a_case() -> None:
    on_disk = {p.stem for p in (FIXTURES / FOLDER).glob("*.json")}
    assert on_disk == set(ALL_FIXTURES)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_request_matches_recording(name: str) -> None:
    recorded = _fixture(name)["request"]
    model, body = _case(name)
    stream = recorded["path"].endswith("/converse-stream")
    call = _call({**body, "stream": stream}, model)
    assert PROVIDER.url(call, stream=stream) == "https://bedrock-runtime.us-east-1.amazonaws.com" + recorded["path"]
    got = PROVIDER.native_request(call, stream=stream)
    assert _comparable(got) == _comparable(recorded["body"])


# ---- replies: the recorded answer as Responses output ---------------------------------------------


def test_text_basic_reply() -> None:
    out, resp = _reply(CASES["text_basic"][1], NOVA_MICRO, _fixture("text_basic")["response"]["body"])
    assert resp.status == "completed" and resp.incomplete_details is None
    assert resp.output_text.startswith("Hello! How can I assist you today?")
    assert [item.type for item in resp.output] == ["message"]
    assert _usage(resp) == (7, 30, 0, 0, 0)
    assert out["model"] == NOVA_MICRO and out["instructions"] == "You are a chatbot."


def test_tool_call_reply() -> None:
    _, resp = _reply(CASES["tool_call"][1], SONNET, _fixture("tool_call")["response"]["body"])
    assert resp.status == "completed"
    [call] = resp.output
    assert call.type == "function_call"
    assert call.call_id == "tooluse_XjTErzm6TpyMMpDviNVY3g" and call.name == "get_weather"
    assert msgspec.json.decode(call.arguments) == {"city": "Paris"}
    assert _usage(resp) == (572, 53, 0, 0, 0)


def test_tool_result_turn_carries_the_call_id() -> None:
    native = _native(_tool_call_turn())
    use, result = native["messages"][1]["content"][0]["toolUse"], native["messages"][2]["content"][0]["toolResult"]
    assert use["toolUseId"] == result["toolUseId"] == "tooluse_XjTErzm6TpyMMpDviNVY3g"
    assert use["input"] == {"city": "Paris"}
    _, resp = _reply(_tool_call_turn(), SONNET, _fixture("tool_result_multi_turn")["response"]["body"])
    assert resp.output_text.startswith("The weather in Paris is currently sunny")
    assert _usage(resp) == (646, 31, 0, 0, 0)


def test_reasoning_reply() -> None:
    model, body = CASES["reasoning"]
    recorded = _fixture("reasoning")["response"]["body"]
    _, resp = _reply(body, model, recorded)
    reasoning, message, call = resp.output
    thinking = recorded["output"]["message"]["content"][0]["reasoningContent"]["reasoningText"]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == thinking["text"]  # type: ignore[union-attr]
    assert reasoning.encrypted_content == "bedrock:" + thinking["signature"]  # type: ignore[union-attr]
    assert message.type == "message"
    assert resp.output_text == "I'll need to check what country you're from to answer that question."
    assert call.type == "function_call" and call.call_id == "tooluse_W9DaUFg4Tj2cRPpndqxWSg"
    assert call.arguments == "{}"
    assert _usage(resp) == (397, 130, 0, 0, 0)


def _reasoning_turn() -> dict[str, Any]:
    """The second turn of the largest-city conversation, from the first turn's Responses output."""
    model, body = CASES["reasoning"]
    first, _ = _reply(body, model, _fixture("reasoning")["response"]["body"])
    call = first["output"][2]
    return {
        **body,
        "input": [
            {"role": "user", "content": body["input"]},
            *first["output"],  # reasoning (signature in encrypted_content), message, function_call
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Mexico"},
        ],
    }


def test_reasoning_turn_sends_the_signature_back_unchanged() -> None:
    model, _ = CASES["reasoning"]
    recorded = _fixture("reasoning")["response"]["body"]["output"]["message"]
    native = PROVIDER.native_request(_call(_reasoning_turn(), model), stream=False)
    assert native["messages"][1] == recorded  # reasoningContent with its signature, text, toolUse: exact
    assert native["messages"][2] == {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "tooluse_W9DaUFg4Tj2cRPpndqxWSg",
                    "content": [{"text": "Mexico"}],
                    "status": "success",
                }
            }
        ],
    }
    assert native["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}


def test_structured_output_reply() -> None:
    model, body = CASES["structured_output_json_schema"]
    out, resp = _reply(body, model, _fixture("structured_output_json_schema")["response"]["body"])
    assert msgspec.json.decode(resp.output_text) == {"city": "Paris", "country": "France", "population": 2102650}
    assert out["text"]["format"]["type"] == "json_schema"
    assert _usage(resp) == (21, 26, 0, 0, 0)


def test_image_reply() -> None:
    model, body = CASES["image_input"]
    _, resp = _reply(body, model, _fixture("image_input")["response"]["body"])
    assert resp.output_text.startswith("The image shows a potato.")
    assert _usage(resp) == (1837, 82, 0, 0, 0)


# ---- streams ------------------------------------------------------------------------------------


def test_text_stream() -> None:
    model, body = CASES["text_stream"]
    events, resp = _stream(body, model, _recorded("text_stream"))
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas[:3] == ["The", " capital of France is Paris.", " Paris is not"]
    assert len(deltas) == 29
    assert resp.output_text == "".join(deltas) and resp.output_text.endswith('or "The City of Love."')
    assert resp.status == "completed"
    assert _usage(resp) == (13, 82, 0, 0, 0)


def test_tool_call_stream() -> None:
    model, body = CASES["tool_call_stream"]
    events, resp = _stream(body, model, _recorded("tool_call_stream"))
    message, call = resp.output
    assert message.type == "message" and resp.output_text.startswith("<thinking> To find the temperature")
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == (
        "tooluse_lAG_zP8QRHmSYOwZzzaCqA",
        "get_temperature",
        '{"city":"Paris"}',
    )
    done = [e["arguments"] for e in events if e["type"] == "response.function_call_arguments.done"]
    assert done == ['{"city":"Paris"}']
    assert resp.status == "completed"
    assert _usage(resp) == (471, 91, 0, 0, 0)


def test_structured_output_stream() -> None:
    model, body = CASES["structured_output_json_schema_stream"]
    _, resp = _stream(body, model, _recorded("structured_output_json_schema_stream"))
    assert msgspec.json.decode(resp.output_text) == {"city": "Paris", "country": "France", "population": 2161000}
    assert _usage(resp) == (210, 18, 0, 0, 0)


@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_stream_frames_survive_any_chunking(size: int) -> None:
    events = _decode_stream(_recorded("tool_call_stream"), size)
    names = [ev.event for ev in events]
    assert names[0] == "messageStart" and names[-3:] == ["messageStop", "metadata", "__end__"]
    assert names.count("contentBlockDelta") == 20
    start = msgspec.json.decode(events[names.index("contentBlockStart")].data)
    assert start["start"]["toolUse"]["name"] == "get_temperature"


def test_corrupt_frame_is_a_bad_response() -> None:
    data = bytearray(_recorded("text_stream"))
    data[40] ^= 0xFF  # inside the first message: its CRC no longer matches
    with pytest.raises(UpstreamConnectionError) as info:
        _decode_stream(bytes(data))
    assert info.value.code == "upstream_bad_response"


REASONING_STREAM = [
    _event("messageStart", {"role": "assistant"}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Let me "}}}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think."}}}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqoB"}}}),
    _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "Sig=="}}}),
    _event("contentBlockStop", {"contentBlockIndex": 0}),
    _event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "cmVk"}}}),
    _event("contentBlockStop", {"contentBlockIndex": 1}),
    _event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "Paris."}}),
    _event("contentBlockStop", {"contentBlockIndex": 2}),
    _event("messageStop", {"stopReason": "end_turn"}),
    _event(
        "metadata",
        {
            "usage": {
                "inputTokens": 10,
                "outputTokens": 20,
                "cacheReadInputTokens": 100,
                "cacheWriteInputTokens": 50,
                "totalTokens": 180,
            },
            "metrics": {"latencyMs": 1},
        },
    ),
]


def test_reasoning_stream_with_signature_and_redacted_block() -> None:
    body = {"input": "q", "reasoning": {"effort": "low"}, "include": ["reasoning.encrypted_content"]}
    events, resp = _stream(body, SONNET, b"".join(REASONING_STREAM))
    reasoning, redacted, message = resp.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think."  # type: ignore[union-attr]
    assert reasoning.encrypted_content == "bedrock:EqoBSig=="  # type: ignore[union-attr]
    assert redacted.type == "reasoning" and redacted.summary == []  # type: ignore[union-attr]
    assert redacted.encrypted_content == "bedrock:redacted:cmVk"  # type: ignore[union-attr]
    assert message.type == "message" and resp.output_text == "Paris."
    types = [e["type"] for e in events]
    assert types.index("response.reasoning_summary_text.done") < types.index("response.output_text.delta")
    assert _usage(resp) == (160, 20, 100, 50, 0)  # input counts cached and cache-written tokens, as OpenAI does
    # and both come back as the blocks they were
    native = _native({"input": [{"role": "user", "content": "q"}, *resp.model_dump()["output"]]})
    assert native["messages"][1]["content"][:2] == [
        {"reasoningContent": {"reasoningText": {"text": "Let me think.", "signature": "EqoBSig=="}}},
        {"reasoningContent": {"redactedContent": "cmVk"}},
    ]


def test_stream_without_metadata_still_finishes() -> None:
    frames = _recorded_frames("text_stream")[:-1]  # no metadata frame
    events, resp = _stream({"input": "q"}, NOVA_MICRO, b"".join(_frame(h, p) for h, p in frames))
    assert resp.status == "completed" and resp.usage is None
    assert events[-1]["type"] == "response.completed"


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("throttlingException", 429, "rate_limit_exceeded"),
        ("validationException", 400, None),
        ("serviceUnavailableException", 503, "server_error"),
        ("internalServerException", 500, "server_error"),
        ("modelStreamErrorException", 424, None),
    ],
)
def test_exception_frames_raise_with_status(kind: str, status: int, code: str | None) -> None:
    call = _call({"input": "q", "stream": True}, SONNET)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    [event, end] = _decode_stream(_exception(kind, {"message": "Something went wrong."}))
    assert end.event == "__end__"
    with pytest.raises(ProviderError) as info:
        PROVIDER.translator(builder).feed(event)
    assert (info.value.status, info.value.code, info.value.type) == (status, code, kind)
    assert info.value.message == "bedrock: Something went wrong."
    assert info.value.retryable is (status in (429, 500, 503))


def test_error_message_frame_raises() -> None:
    frame = _frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, b"")
    [event, _] = _decode_stream(frame)
    call = _call({"input": "q", "stream": True}, SONNET)
    with pytest.raises(ProviderError) as info:
        PROVIDER.translator(ResponseBuilder(call.request, call.raw, call.deployment)).feed(event)
    assert info.value.status == 500 and info.value.message == "bedrock: boom"


# ---- request mapping ----------------------------------------------------------------------------


def test_system_developer_and_merged_turns() -> None:
    native = _native(
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "input_text", "text": "b"}, {"type": "input_text", "text": ""}]},
                {"role": "system", "content": [{"type": "input_text", "text": "No emoji."}]},
                {"role": "assistant", "content": "calling"},
                {"type": "function_call", "call_id": "t1", "name": "f", "arguments": '{"x": 1}'},
                {"type": "function_call", "call_id": "t2", "name": "f", "arguments": ""},
                {"role": "user", "content": "and also"},
                {"type": "function_call_output", "call_id": "t1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "t2",
                    "output": [{"type": "input_text", "text": "two"}],
                },
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        }
    )
    assert native["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}, {"text": "No emoji."}]
    assert [m["role"] for m in native["messages"]] == ["user", "assistant", "user"]
    assert native["messages"][0]["content"] == [{"text": "a"}, {"text": "b"}]  # empty text left out
    assert native["messages"][1]["content"] == [
        {"text": "calling"},
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"x": 1}}},
        {"toolUse": {"toolUseId": "t2", "name": "f", "input": {}}},
    ]
    assert native["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "one"}], "status": "success"}},
        {"toolResult": {"toolUseId": "t2", "content": [{"text": "two"}], "status": "success"}},
        {"text": "and also"},
    ]
    assert native["inferenceConfig"] == {} and "additionalModelRequestFields" not in native


def test_images_documents_and_cache_points() -> None:
    native = _native(
        {
            "instructions": "sys",
            "input": [
                {
                    "role": "system",
                    "content": [{"type": "input_text", "text": "long policy", "cache_control": {"type": "ephemeral"}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0K"},
                        {"type": "input_image", "image_url": "s3://bucket/photos/cat.webp"},
                        {
                            "type": "input_file",
                            "filename": "Q3 report (final).pdf",
                            "file_data": "data:application/pdf;base64,JVBERi0x",
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        },
                        {"type": "input_file", "filename": "notes.md", "file_data": "aGVsbG8="},
                        {"type": "input_file", "file_url": "s3://bucket/sheet.xlsx"},
                    ],
                },
            ],
            "tools": [{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        }
    )
    assert native["system"] == [{"text": "sys"}, {"text": "long policy"}, {"cachePoint": {"type": "default"}}]
    assert native["messages"][0]["content"] == [
        {"image": {"format": "png", "source": {"bytes": "iVBORw0K"}}},
        {"image": {"format": "webp", "source": {"s3Location": {"uri": "s3://bucket/photos/cat.webp"}}}},
        {"document": {"format": "pdf", "name": "Q3 report (final)", "source": {"bytes": "JVBERi0x"}}},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
        {"document": {"format": "md", "name": "notes", "source": {"bytes": "aGVsbG8="}}},
        {
            "document": {
                "format": "xlsx",
                "name": "Document 3",
                "source": {"s3Location": {"uri": "s3://bucket/sheet.xlsx"}},
            }
        },
    ]
    assert native["toolConfig"]["tools"][1] == {"cachePoint": {"type": "default"}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "name": "get_weather"}, {"tool": {"name": "get_weather"}}),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]},
            {"any": {}},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    other = {**WEATHER_TOOL, "name": "other", "strict": True}
    native = _native({"input": "q", "tools": [WEATHER_TOOL, other], "tool_choice": choice})
    assert native["toolConfig"]["toolChoice"] == expected
    names = [t["toolSpec"]["name"] for t in native["toolConfig"]["tools"]]
    assert names == (
        ["get_weather"]
        if isinstance(choice, dict) and choice["type"] == "allowed_tools"
        else [
            "get_weather",
            "other",
        ]
    )
    if "other" in names:
        assert native["toolConfig"]["tools"][1]["toolSpec"]["strict"] is True
    assert "strict" not in native["toolConfig"]["tools"][0]["toolSpec"]


def test_tool_choice_none() -> None:
    native = _native({"input": "q", "tools": [WEATHER_TOOL], "tool_choice": "none"})
    assert "toolConfig" not in native  # the model cannot call tools it is not given
    with pytest.raises(InvalidRequestError) as info:
        _native({**_tool_call_turn(), "tool_choice": "none"})
    assert info.value.param == "tool_choice" and "'bedrock'" in info.value.message
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "q", "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "name": "nope"}})
    assert info.value.param == "tool_choice.name"


def test_web_search_on_nova_is_grounding() -> None:
    native = _native({"input": "news?", "tools": [{"type": "web_search"}]}, "us.amazon.nova-premier-v1:0")
    assert native["toolConfig"] == {"tools": [{"systemTool": {"name": "nova_grounding"}}]}
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "news?", "tools": [{"type": "web_search"}]}, SONNET)
    assert info.value.param == "tools[0].type"


def test_grounded_reply_has_citations_and_search_call() -> None:
    reply = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "tu1",
                            "name": "nova_grounding",
                            "input": {"query": "renewable energy news"},
                            "type": "server_tool_use",
                        }
                    },
                    {"toolResult": {"toolUseId": "tu1", "content": [{"text": "..."}], "type": "nova_grounding_result"}},
                    {
                        "citationsContent": {
                            "content": [{"text": "Solar grew 20%."}],
                            "citations": [
                                {"title": "IEA", "location": {"web": {"url": "https://iea.org/x", "domain": "iea.org"}}}
                            ],
                        }
                    },
                ],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 6, "totalTokens": 11},
    }
    _, resp = _reply({"input": "news?", "tools": [{"type": "web_search"}]}, "us.amazon.nova-premier-v1:0", reply)
    search, message = resp.output
    assert search.type == "web_search_call" and search.action.query == "renewable energy news"  # type: ignore[union-attr]
    assert resp.output_text == "Solar grew 20%."
    [cite] = message.content[0].annotations  # type: ignore[union-attr]
    assert (cite.url, cite.title, cite.start_index, cite.end_index) == ("https://iea.org/x", "IEA", 0, 15)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("model", "reasoning", "extra"),
    [
        (SONNET, {"effort": "medium"}, {"thinking": {"type": "enabled", "budget_tokens": 4096}}),
        (SONNET, {"max_tokens": 2048}, {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        (
            "global.anthropic.claude-opus-4-6-v1",
            {"effort": "high"},
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
        ),
        (
            "us.amazon.nova-2-lite-v1:0",
            {"effort": "minimal"},
            {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}},
        ),
        ("openai.gpt-oss-120b-1:0", {"effort": "high"}, {"reasoning_effort": "high"}),
        ("qwen.qwen3-32b-v1:0", {"effort": "medium"}, {"reasoning_config": "high"}),
        (SONNET, {"effort": "none"}, None),
        (SONNET, {"max_tokens": 0}, None),
    ],
)
def test_reasoning_mapping(model: str, reasoning: dict[str, Any], extra: dict[str, Any] | None) -> None:
    assert _native({"input": "q", "reasoning": reasoning}, model).get("additionalModelRequestFields") == extra


def test_thinking_budget_fits_max_output_tokens() -> None:
    native = _native({"input": "q", "reasoning": {"effort": "high"}, "max_output_tokens": 8000})
    assert native["inferenceConfig"] == {"maxTokens": 8000}
    assert native["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 7999
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "q", "reasoning": {"max_tokens": 4096}, "max_output_tokens": 4096})
    assert info.value.param == "reasoning.max_tokens"


def test_model_family() -> None:
    assert ModelFamily("us.anthropic.claude-sonnet-4-5-20250929-v1:0").adaptive is False
    assert ModelFamily("anthropic.claude-sonnet-4-6").adaptive is True
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-6-v1"
    assert ModelFamily(arn).claude and ModelFamily(arn).adaptive
    assert ModelFamily("global.amazon.nova-2-lite-v1:0").nova
    assert ModelFamily("mistral.mistral-large-3-675b-instruct").vendor == "mistral"


def test_sampling_and_service_tier() -> None:
    native = _native({"input": "q", "temperature": 0.3, "top_p": 0.9, "max_output_tokens": 50, "service_tier": "flex"})
    assert native["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3, "topP": 0.9}
    assert native["serviceTier"] == {"type": "flex"}
    assert "serviceTier" not in _native({"input": "q", "service_tier": "auto"})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"temperature": 1.5}, "temperature"),
        ({"max_tool_calls": 2}, "max_tool_calls"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format"),
        ({"reasoning": {"effort": "turbo"}}, "reasoning.effort"),
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}]}]},
            "input[0].content[0].image_url",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input[0].content[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ],
)
def test_unsupported_fields_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "q", **body})
    assert info.value.status == 400 and info.value.code == "unsupported_parameter"
    assert info.value.param == param and "'bedrock'" in info.value.message


def test_reasoning_effort_is_a_hint_where_bedrock_has_no_setting() -> None:
    for model in ("mistral.mistral-large-3-675b-instruct", "anthropic.claude-3-5-sonnet-20240620-v1:0"):
        native = _native({"input": "q", "reasoning": {"effort": "high"}}, model)
        assert "additionalModelRequestFields" not in native
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "q", "reasoning": {"max_tokens": 2000}}, "us.amazon.nova-2-lite-v1:0")
    assert info.value.param == "reasoning.max_tokens"


def test_hints_are_ignored_not_refused() -> None:
    assert {"parallel_tool_calls", "store", "metadata", "include", "prompt_cache_key", "text.verbosity"} <= HINTS
    hinted = {
        "parallel_tool_calls": False,
        "store": False,
        "metadata": {"k": "v"},
        "user": "u1",
        "include": ["reasoning.encrypted_content"],
        "safety_identifier": "s",
        "truncation": "auto",
        "text": {"verbosity": "low"},
        "client_metadata": {"x-codex-turn": "1"},
    }
    assert _native({"input": "q", **hinted}) == _native({"input": "q"})
    llama = "meta.llama3-3-70b-instruct-v1:0"  # takes no cachePoint: prompt_cache_key is a hint there
    assert _native({"input": "q", "prompt_cache_key": "k"}, llama) == _native({"input": "q"}, llama)


def test_prompt_cache_key_sets_cache_points() -> None:
    body = {"instructions": "sys", "input": [{"role": "user", "content": "q"}], "prompt_cache_key": "k"}
    native = _native(body)
    point = {"cachePoint": {"type": "default"}}
    assert native["system"] == [{"text": "sys"}, point]
    assert native["messages"] == [{"role": "user", "content": [{"text": "q"}, point]}]
    # marks the client set count against Bedrock's four: three on parts leave room for one
    marked = {"type": "input_text", "text": "m", "cache_control": {"type": "ephemeral"}}
    parts = [marked, marked, marked, {"type": "input_text", "text": "last"}]
    native = _native({**body, "input": [{"role": "user", "content": parts}]})
    assert native["messages"][0]["content"][-1] == point and native["system"] == [{"text": "sys"}]
    assert sum("cachePoint" in b for b in native["messages"][0]["content"]) == 4


def test_foreign_reasoning_is_left_out() -> None:
    native = _native(
        {
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:sig"},
                {"role": "assistant", "content": "a"},
            ]
        }
    )
    assert native["messages"][1] == {"role": "assistant", "content": [{"text": "a"}]}


@pytest.mark.parametrize(
    ("stop_reason", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("stop_sequence", "completed", None),
        ("tool_use", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("model_context_window_exceeded", "incomplete", "max_output_tokens"),
        ("guardrail_intervened", "incomplete", "content_filter"),
        ("content_filtered", "incomplete", "content_filter"),
        ("malformed_tool_use", "failed", None),
    ],
)
def test_stop_reasons(stop_reason: str, status: str, reason: str | None) -> None:
    reply = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": stop_reason, "usage": {}}
    _, resp = _reply({"input": "q"}, SONNET, reply)
    assert resp.status == status
    assert (resp.incomplete_details.reason if resp.incomplete_details else None) == reason
    if status == "failed":
        assert resp.error is not None and resp.error.code == "server_error"


# ---- URL and authentication ---------------------------------------------------------------------


def test_url_region_and_quoting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    provider = BedrockProvider(BedrockConfig(name="b", type="bedrock", base_url=None, keys=[]))
    arn = "arn:aws:bedrock:eu-west-3:123456789012:application-inference-profile/abc123"
    assert provider.url(_call({"input": "q"}, arn), stream=True) == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
        "arn%3Aaws%3Abedrock%3Aeu-west-3%3A123456789012%3Aapplication-inference-profile%2Fabc123/converse-stream"
    )
    configured = BedrockProvider(BedrockConfig(name="b", type="bedrock", base_url=None, keys=[], region="ap-south-1"))
    assert configured.url(_call({"input": "q"}, NOVA_MICRO), stream=False).startswith(
        "https://bedrock-runtime.ap-south-1.amazonaws.com/model/us.amazon.nova-micro-v1%3A0/"
    )


def test_wire_path_is_the_signed_path() -> None:
    """The model id goes out quoted (``%3A``), as signed, not normalised back to ``:`` by the HTTP client."""
    raw_paths: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        raw_paths.append(request.raw_path)
        return web.json_response(_fixture("text_basic")["response"]["body"])

    async def run() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        provider = BedrockProvider(
            BedrockConfig(name="bedrock", type="bedrock", base_url=f"http://127.0.0.1:{port}", keys=[])
        )
        await provider.start()
        try:
            call = _call({"input": "q"}, NOVA_MICRO)
            resp = await provider.post(provider.url(call, stream=False), b"{}", {}, call, stream=False)
            resp.release()
        finally:
            await provider.stop()
            await runner.cleanup()

    asyncio.run(run())
    assert raw_paths == ["/model/us.amazon.nova-micro-v1%3A0/converse"]


def _static_provider(token: str | None) -> BedrockProvider:
    return BedrockProvider(
        BedrockConfig(
            name="bedrock-sigv4",
            type="bedrock",
            base_url=None,
            keys=[],
            region="us-west-2",
            aws_access_key_id=Secret(AKID, "literal"),
            aws_secret_access_key=Secret(SECRET_KEY, "literal"),
            aws_session_token=Secret(token, "literal") if token else None,
        )
    )


@pytest.mark.parametrize("token", [SESSION_TOKEN, None])
def test_sigv4_signature(token: str | None) -> None:
    provider = _static_provider(token)
    call = _call({"input": "q"}, NOVA_MICRO)
    url = provider.url(call, stream=False)
    headers = provider.sign(url, b'{"messages":[]}', {"content-type": "application/json"}, call)
    lower = {k.lower(): v for k, v in headers.items()}
    assert re.fullmatch(
        rf"AWS4-HMAC-SHA256 Credential={AKID}/\d{{8}}/us-west-2/bedrock/aws4_request, "
        r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}",
        lower["authorization"],
    )
    assert re.fullmatch(r"\d{8}T\d{6}Z", lower["x-amz-date"])
    assert lower.get("x-amz-security-token") == token
    assert SECRET_KEY not in str(headers)


def test_bearer_key_is_not_signed() -> None:
    key_config = BedrockConfig(name="bedrock", type="bedrock", base_url=None, keys=[], region="us-west-2")
    provider = BedrockProvider(key_config)
    call = _call({"input": "q"}, NOVA_MICRO)
    assert provider.auth_headers(API_KEY) == {"authorization": f"Bearer {API_KEY}"}
    headers = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}
    assert provider.sign(provider.url(call, stream=False), b"{}", headers, call) == headers


def test_no_credentials_is_a_clear_401() -> None:
    provider = BedrockProvider(BedrockConfig(name="bedrock", type="bedrock", base_url=None, keys=[]))
    call = _call({"input": "q"}, NOVA_MICRO)
    with pytest.raises(AuthenticationError) as info:
        provider.sign(provider.url(call, stream=False), b"{}", {}, call)
    assert info.value.status == 401 and "AWS_BEARER_TOKEN_BEDROCK" in info.value.message


def test_credential_chain_is_resolved_at_start_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    provider = BedrockProvider(BedrockConfig(name="bedrock", type="bedrock", base_url=None, keys=[]))

    async def run() -> dict[str, str]:
        await provider.start()
        try:
            call = _call({"input": "q"}, NOVA_MICRO)
            return provider.sign(provider.url(call, stream=False), b"{}", {}, call)
        finally:
            await provider.stop()

    headers = asyncio.run(run())
    assert "Credential=AKIDFROMENV/" in headers["Authorization"]


def test_refreshable_credentials_are_refreshed_in_a_worker_thread() -> None:
    threads: list[str] = []

    def refresh() -> dict[str, str]:
        threads.append(threading.current_thread().name)
        expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        return {"access_key": "AKIDNEW", "secret_key": "new-secret", "token": "new-token", "expiry_time": expiry}

    soon = (datetime.now(UTC) + timedelta(seconds=60)).isoformat()
    metadata = {"access_key": "AKIDOLD", "secret_key": "old", "token": "old-token", "expiry_time": soon}
    provider = _static_provider(None)
    provider._credentials = RefreshableCredentials.create_from_metadata(metadata, refresh, "test")
    asyncio.run(provider._fresh_credentials())
    assert threads and threads[0] != threading.main_thread().name
    call = _call({"input": "q"}, NOVA_MICRO)
    headers = provider.sign(provider.url(call, stream=False), b"{}", {}, call)
    assert "Credential=AKIDNEW/" in headers["Authorization"] and headers["X-Amz-Security-Token"] == "new-token"
    assert len(threads) == 1  # signing did not refresh again, on the loop or off it


# ---- end to end: the openai SDK, a real gateway, a fake Bedrock -----------------------------------


@pytest.fixture(scope="module")
def gateway_bedrock(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    keyed = {"type": "bedrock", "base_url": upstream.url, "keys": [{"value": API_KEY}], "max_retries": 0}
    signed = {
        "type": "bedrock",
        "base_url": upstream.url,
        "region": "us-west-2",
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET_KEY,
        "aws_session_token": SESSION_TOKEN,
        "max_retries": 0,
    }
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('bedrock-store')}/store.db",
        "providers": {
            "bedrock": keyed,
            "bedrock-retry": {**keyed, "max_retries": 1},
            "bedrock-sigv4": signed,
            "bedrock-sigv4-notoken": {k: v for k, v in signed.items() if k != "aws_session_token"},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_bedrock: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_bedrock.url}/v1", api_key="client-key", max_retries=0)


def _sent(fake: FakeUpstream, path: str) -> dict[str, Any]:
    [received] = fake.requests_to(path)
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in headers
    return received.json


def test_e2e_create_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    model, body = CASES["text_basic"]
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/text_basic"))
    resp = sdk.responses.create(model=f"bedrock/{model}", **body)
    assert resp.output_text.startswith("Hello! How can I assist you today?")
    assert resp.status == "completed" and resp.model == model
    assert resp.extra_fields["provider"] == "bedrock"  # type: ignore[attr-defined]
    assert resp.usage is not None and resp.usage.input_tokens == 7 and resp.usage.output_tokens == 30
    assert _sent(fake, _path(model)) == _fixture("text_basic")["request"]["body"]
    assert API_KEY not in resp.model_dump_json()


@pytest.mark.parametrize("provider", ["bedrock-sigv4", "bedrock-sigv4-notoken"])
def test_e2e_sigv4_signed_request(sdk: openai.OpenAI, fake: FakeUpstream, provider: str) -> None:
    model, body = CASES["text_basic"]
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/text_basic"))
    resp = sdk.responses.create(model=f"{provider}/{model}", **body)
    assert resp.output_text.startswith("Hello!")
    [received] = fake.requests_to(_path(model))
    headers = {k.lower(): v for k, v in received.headers.items()}
    auth = headers["authorization"]
    m = re.fullmatch(
        rf"AWS4-HMAC-SHA256 Credential={AKID}/(\d{{8}})/us-west-2/bedrock/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        auth,
    )
    assert m is not None, auth
    assert headers["x-amz-date"].startswith(m.group(1))
    signed = m.group(2).split(";")
    assert {"host", "x-amz-date", "content-type"} <= set(signed)
    if provider == "bedrock-sigv4":
        assert headers["x-amz-security-token"] == SESSION_TOKEN and "x-amz-security-token" in signed
    else:
        assert "x-amz-security-token" not in headers
    # the signature is right for what arrived: recompute it as AWS would, over the quoted path
    request = AWSRequest(
        method="POST",
        url=f"{fake.url}/model/{quote(model, safe='')}/converse",
        data=received.body,
        headers={name: headers[name] for name in signed},
    )
    request.context["timestamp"] = headers["x-amz-date"]
    token = SESSION_TOKEN if provider == "bedrock-sigv4" else None
    signer = SigV4Auth(Credentials(AKID, SECRET_KEY, token), "bedrock", "us-west-2")
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert m.group(3) == expected
    assert SECRET_KEY not in str(received.headers)


def test_e2e_stream_helper_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    model, body = CASES["text_stream"]
    fake.add(_path(model, stream=True), Reply.fixture(f"{FOLDER}/text_stream"))
    with sdk.responses.stream(model=f"bedrock/{model}", **body) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 29
    assert final.output_text.startswith("The capital of France is Paris.")
    assert final.usage is not None and final.usage.output_tokens == 82
    assert _sent(fake, _path(model, stream=True)) == _fixture("text_stream")["request"]["body"]


def test_e2e_tool_call_create_and_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    model, body = CASES["tool_call"]
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/tool_call"))
    resp = sdk.responses.create(model=f"bedrock/{model}", **body)
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "tooluse_XjTErzm6TpyMMpDviNVY3g"
    # the next turn, from the SDK's own objects
    fake.reset()
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/tool_result_multi_turn"))
    second = sdk.responses.create(
        model=f"bedrock/{model}",
        input=[
            {"role": "user", "content": "What's the weather in Paris?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 22C in Paris"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="auto",
    )
    assert second.output_text.startswith("The weather in Paris is currently sunny")
    assert _sent(fake, _path(model)) == _fixture("tool_result_multi_turn")["request"]["body"]
    # and a streamed tool call, raw events
    fake.reset()
    model, body = CASES["tool_call_stream"]
    fake.add(_path(model, stream=True), Reply.fixture(f"{FOLDER}/tool_call_stream"))
    events = list(sdk.responses.create(model=f"bedrock/{model}", stream=True, **body))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert done == ['{"city":"Paris"}']
    assert events[-1].type == "response.completed"
    assert [item.type for item in events[-1].response.output] == ["message", "function_call"]


def test_e2e_reasoning_create_and_next_turn(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    model, body = CASES["reasoning"]
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/reasoning"))
    first = sdk.responses.create(model=f"bedrock/{model}", **body)
    assert [item.type for item in first.output] == ["reasoning", "message", "function_call"]
    assert _sent(fake, _path(model)) == _fixture("reasoning")["request"]["body"]
    fake.reset()
    fake.add(_path(model), Reply.fixture(f"{FOLDER}/text_basic"))
    sdk.responses.create(
        model=f"bedrock/{model}",
        input=[
            {"role": "user", "content": body["input"]},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"type": "function_call_output", "call_id": first.output[2].call_id, "output": "Mexico"},  # type: ignore[union-attr]
        ],
        tools=body["tools"],
        reasoning=body["reasoning"],
    )
    recorded = _fixture("reasoning")["response"]["body"]["output"]["message"]
    assert _sent(fake, _path(model))["messages"][1] == recorded  # the signature went back unchanged


def test_e2e_raw_stream_reasoning(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(_path(SONNET, stream=True), Reply(eventstream=b"".join(REASONING_STREAM)))
    events = list(
        sdk.responses.create(
            model=f"bedrock/{SONNET}",
            stream=True,
            input="q",
            reasoning={"effort": "low"},
            include=["reasoning.encrypted_content"],
        )
    )
    assert any(e.type == "response.reasoning_summary_text.delta" for e in events)
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output[0].encrypted_content == "bedrock:EqoBSig=="  # type: ignore[union-attr]
    assert final.response.usage is not None and final.response.usage.input_tokens_details.cached_tokens == 100
    sent = _sent(fake, _path(SONNET, stream=True))
    assert sent["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}


@pytest.mark.parametrize("stream", [False, True])
def test_e2e_provider_error(sdk: openai.OpenAI, fake: FakeUpstream, stream: bool) -> None:
    name = "error_400_stream" if stream else "error_400"
    model, body = CASES[name]
    errortype = "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"
    fake.add(_path(model, stream), Reply.fixture(f"{FOLDER}/{name}", headers={"x-amzn-errortype": errortype}))
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(sdk.responses.create(model=f"bedrock/{model}", stream=True, **body))
        else:
            sdk.responses.create(model=f"bedrock/{model}", **body)
    assert info.value.status_code == 400
    error = info.value.body
    assert isinstance(error, dict)
    assert error["message"] == "bedrock: The provided model identifier is invalid."
    assert error["provider"] == "bedrock" and error["code"] == "ValidationException"
    assert API_KEY not in str(error)


def test_e2e_exception_frame_mid_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    frames = [_frame(h, p) for h, p in _recorded_frames("text_stream")[:3]]  # messageStart and two deltas
    crash = _exception(
        "modelStreamErrorException",
        {"message": "The model stream failed.", "originalStatusCode": 500, "originalMessage": "overloaded"},
    )
    fake.add(_path(NOVA_MICRO, stream=True), Reply(eventstream=b"".join([*frames, crash])))
    events = list(sdk.responses.create(model=f"bedrock/{NOVA_MICRO}", stream=True, input="hi"))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types.count("response.output_text.delta") == 2
    assert types[-2:] == ["error", "response.failed"]
    error, failed = events[-2], events[-1]
    assert error.message == "bedrock: The model stream failed. (overloaded)"  # type: ignore[union-attr]
    assert failed.response.status == "failed"  # type: ignore[union-attr]
    assert failed.response.error.message == error.message  # type: ignore[union-attr]


def test_e2e_throttling_as_first_frame_is_a_retryable_status(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    throttled = Reply(eventstream=_exception("throttlingException", {"message": "Too many requests, please wait."}))
    path = _path(NOVA_MICRO, stream=True)
    fake.add(path, throttled)
    with pytest.raises(openai.APIStatusError) as info:
        list(sdk.responses.create(model=f"bedrock/{NOVA_MICRO}", stream=True, input="hi"))
    assert info.value.status_code == 429
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"] == "bedrock: Too many requests, please wait."
    fake.reset()
    fake.add(path, throttled, times=1)
    fake.add(path, Reply.fixture(f"{FOLDER}/text_stream"))
    events = list(sdk.responses.create(model=f"bedrock-retry/{NOVA_MICRO}", stream=True, input="hi"))
    assert events[-1].type == "response.completed"
    assert len(fake.requests_to(path)) == 2


def test_e2e_unsupported_field(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model=f"bedrock/{NOVA_MICRO}",
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is this?"},
                        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
                    ],
                }
            ],
        )
    body = info.value.body
    assert isinstance(body, dict)
    assert body["param"] == "input[0].content[1].image_url" and "'bedrock'" in body["message"]
    assert fake.received == []


def test_e2e_max_output_tokens_truncation(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    reply = {**_fixture("text_basic")["response"]["body"], "stopReason": "max_tokens"}
    fake.add(_path(NOVA_MICRO), Reply(json=reply))
    resp = sdk.responses.create(model=f"bedrock/{NOVA_MICRO}", input="q", max_output_tokens=10)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert _sent(fake, _path(NOVA_MICRO))["inferenceConfig"] == {"maxTokens": 10}
    fake.reset()
    frames = [
        (h, p.replace(b'"stopReason":"end_turn"', b'"stopReason":"max_tokens"'))
        for h, p in _recorded_frames("text_stream")
    ]
    fake.add(_path(NOVA_MICRO, stream=True), Reply(eventstream=b"".join(_frame(h, p) for h, p in frames)))
    events = list(sdk.responses.create(model=f"bedrock/{NOVA_MICRO}", stream=True, input="q", max_output_tokens=82))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]


def test_model_stream_error_keeps_a_retryable_original_status() -> None:
    call = _call({"input": "q", "stream": True}, SONNET)
    frame = _exception("modelStreamErrorException", {"message": "Model failed.", "originalStatusCode": 529})
    [event, _] = _decode_stream(frame)
    with pytest.raises(ProviderError) as info:
        PROVIDER.translator(ResponseBuilder(call.request, call.raw, call.deployment)).feed(event)
    assert info.value.status == 529 and info.value.retryable


def test_e2e_access_denied_capitalised_message(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    denied = Reply(
        status=403,
        json={"Message": "User: arn:aws:iam::123:user/x is not authorized to perform: bedrock:InvokeModel"},
        headers={
            "x-amzn-errortype": "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        },
    )
    fake.add(_path(NOVA_MICRO), denied)
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk.responses.create(model=f"bedrock/{NOVA_MICRO}", input="q")
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "AccessDeniedException" and body["provider"] == "bedrock"
    assert body["message"].startswith("bedrock: User: arn:aws:iam::123:user/x is not authorized")


def test_auto_tool_choice_is_only_spelt_out_where_models_take_it() -> None:
    body = {"input": "q", "tools": [WEATHER_TOOL], "tool_choice": "auto"}
    llama = _native(body, "us.meta.llama3-3-70b-instruct-v1:0")
    assert "toolChoice" not in llama["toolConfig"] and len(llama["toolConfig"]["tools"]) == 1
    nova = _native({"input": "q", "tools": [WEATHER_TOOL], "tool_choice": "auto"}, NOVA_MICRO)
    assert nova["toolConfig"]["toolChoice"] == {"auto": {}}
