"""Anthropic Messages adapter: every recorded exchange, the request out and the reply back.

Three layers: the request a Responses client would send must become the recorded Messages request
(compared field by field, not byte for byte); the recorded reply or stream must become the right
Responses output, every stream event one the openai SDK accepts; and the whole path runs end to
end, the official ``openai`` SDK talking to a real gateway on a real port, in front of a fake
Anthropic that replays the recordings.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
import openai
import pytest
from openai.types.responses import Response

from ferryman.config import ProviderConfig
from ferryman.providers.anthropic import HINTS, AnthropicProvider
from ferryman.providers.anthropic.request import ModelTraits
from ferryman.providers.base import Call
from ferryman.providers.builder import ResponseBuilder
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FIXTURES, FakeUpstream, Reply, load_fixture
from tests.providers.stream_checks import check_events

FOLDER = "anthropic-messages"
PATH = "/v1/messages"
SECRET = "sk-ant-test-secret-0123456789"
PROVIDER = AnthropicProvider(
    ProviderConfig(name="anthropic", type="anthropic", base_url="https://api.anthropic.com", keys=[])
)


# ---- helpers ------------------------------------------------------------------------------------


def _fixture(name: str) -> dict[str, Any]:
    return load_fixture(f"{FOLDER}/{name}")


def _call(body: dict[str, Any], model: str) -> Call:
    raw, req = validate_request(msgspec.json.encode({"model": f"anthropic/{model}", **body}))
    return Call(req, raw, model, None)


def _native(body: dict[str, Any], model: str = "claude-sonnet-4-5", *, stream: bool = False) -> dict[str, Any]:
    return PROVIDER.native_request(_call(body, model), stream=stream)


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """What a Responses request can express, in one normal form for both sides.

    pydantic-ai appends a blank line to its system prompt and sends ``is_error: false`` on every
    tool result and ``null`` for unset web search options; a Responses request has no way to say
    any of that, and Anthropic reads all of them as absent.
    """
    body = copy.deepcopy(body)
    body.pop("stream", None)
    system = body.get("system")
    if isinstance(system, list):
        system = "\n\n".join(block["text"] for block in system)
    if isinstance(system, str):
        body["system"] = system.strip()
    for message in body.get("messages", []):
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "tool_result" and block.get("is_error") is False:
                del block["is_error"]
    body["tools"] = [{k: v for k, v in tool.items() if v is not None} for tool in body.get("tools", [])]
    if not body["tools"]:
        del body["tools"]
    return body


def _reply(body: dict[str, Any], model: str, reply: Any) -> tuple[dict[str, Any], Response]:
    """A whole Anthropic reply read back: the response dict (as the client gets it) and its SDK model."""
    call = _call(body, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    PROVIDER.parse_reply(reply, builder)
    check_events(msgspec.to_builtins(builder.events()))  # a whole reply makes the same calls; they must be sound too
    out = builder.response()
    return out, Response.model_validate(out)


def _stream(body: dict[str, Any], model: str, blocks: list[str]) -> tuple[list[dict[str, Any]], Response]:
    """Recorded SSE blocks through the adapter's translator: every event, and the final response."""
    call = _call({**body, "stream": True}, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    builder.start()
    events = msgspec.to_builtins(builder.events())
    translator = PROVIDER.translator(builder)
    for ev in SSEDecoder().feed(("\n\n".join(blocks) + "\n\n").encode()):
        translator.feed(ev)
        events += msgspec.to_builtins(builder.events())
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
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAKYAAAEaAgMAAADmmcReAAAACVBMVEX///8A/wD+AQASdAFKAAAAR0lEQVR42u3YMREAMAjAwC5d6q8mUY"
    "kEVuA+8yvIkVr0oghFURRFURRFURRFUdRCkSRJM7u/CEVRFEVRFEVRFEXRpdQXkcaVBRUPn8UJn6QAAAAASUVORK5CYII="
)

CASES: dict[str, dict[str, Any]] = {
    "text_basic": {
        "instructions": "You are a helpful assistant.",
        "input": "What is the capital of France?",
        "max_output_tokens": 4096,
    },
    "text_stream": {"input": "Two names for a pet pelican, be brief", "max_output_tokens": 8192, "temperature": 1.0},
    "tool_call": {
        "input": "What's the weather in Paris?",
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "max_output_tokens": 4096,
    },
    "tool_call_stream": {
        "input": "Two names for a pet pelican",
        "tools": [
            {
                "type": "function",
                "name": "pelican_name_generator",
                "description": "",
                "parameters": {"properties": {}, "type": "object"},
            }
        ],
        "max_output_tokens": 8192,
        "temperature": 1.0,
    },
    "thinking": {
        "input": "How do I cross the street?",
        "reasoning": {"effort": "low"},
        "max_output_tokens": 4096,
        "include": ["reasoning.encrypted_content"],
    },
    "thinking_stream": {
        "input": "Two names for a pet pelican, be brief",
        "reasoning": {"max_tokens": 1024},
        "max_output_tokens": 8192,
        "temperature": 1.0,
        "include": ["reasoning.encrypted_content"],
    },
    "structured_output_json_schema": {
        "input": "Tell me about London",
        "text": {"format": {"type": "json_schema", "name": "CityLocation", "schema": CITY_SCHEMA, "strict": True}},
        "max_output_tokens": 4096,
    },
    "image_input": {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this vegetable?"},
                    {
                        "type": "input_image",
                        "image_url": "https://t3.ftcdn.net/jpg/00/85/79/92/"
                        "360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg",
                        "detail": "auto",
                    },
                ],
            }
        ],
        "max_output_tokens": 4096,
    },
    "image_input_base64_stream": {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "auto"},
                    {"type": "input_text", "text": "Describe image in three words"},
                ],
            }
        ],
        "max_output_tokens": 8192,
        "temperature": 1.0,
    },
    "web_search_stream": {
        "instructions": "You are a helpful assistant.",
        "input": "Give me the top 3 news in the world today.",
        "tools": [{"type": "web_search"}],
        "tool_choice": "auto",
        "max_output_tokens": 4096,
    },
    "error_400": {"input": "What is 2+2?", "reasoning": {"effort": "xhigh"}, "max_output_tokens": 4096},
    "error_404_model_not_found": {"input": "hello", "max_output_tokens": 4096},
}


def _tool_call_turn() -> dict[str, Any]:
    """The second turn of the weather conversation, built from the first turn's Responses output."""
    first, _ = _reply(CASES["tool_call"], "claude-sonnet-4-5", _fixture("tool_call")["response"]["body"])
    call = first["output"][0]
    return {
        "input": [
            {"role": "user", "content": "What's the weather in Paris?"},
            call,  # the client sends the function_call item back as it got it
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 22C in Paris"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "max_output_tokens": 4096,
    }


def _thinking_turn() -> dict[str, Any]:
    """The second turn of the street-crossing conversation, from the first turn's output items."""
    first, _ = _reply(CASES["thinking"], "claude-sonnet-4-5", _fixture("thinking")["response"]["body"])
    return {
        "input": [
            {"role": "user", "content": "How do I cross the street?"},
            *first["output"],  # reasoning item (signature in encrypted_content) + assistant message
            {
                "role": "user",
                "content": "Considering the way to cross the street, analogously, how do I cross the river?",
            },
        ],
        "reasoning": {"effort": "low"},
        "max_output_tokens": 4096,
        "include": ["reasoning.encrypted_content"],
    }


def _case(name: str) -> dict[str, Any]:
    if name == "tool_result_multi_turn":
        return _tool_call_turn()
    if name == "thinking_multi_turn":
        return _thinking_turn()
    return CASES[name]


ALL_FIXTURES = [*CASES, "tool_result_multi_turn", "thinking_multi_turn"]


def test_every_recording_has_a_case() -> None:
    on_disk = {p.stem for p in (FIXTURES / FOLDER).glob("*.json")}
    assert on_disk == set(ALL_FIXTURES)


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_request_matches_recording(name: str) -> None:
    recorded = _fixture(name)["request"]
    assert recorded["path"].split("?")[0] == PATH
    want = recorded["body"]
    got = _native(_case(name), want["model"], stream=want.get("stream", False))
    assert got["stream"] is want.get("stream", False)
    if name == "error_400":
        # the recorder set Anthropic's effort alone; Responses' reasoning.effort also turns thinking
        # on, adaptively on Claude 4.6 (the effort level is what the provider rejected)
        assert got.pop("thinking") == {"type": "adaptive"}
    assert _comparable(got) == _comparable(want)


# ---- replies: the recorded answer as Responses output ---------------------------------------------


def test_text_basic_reply() -> None:
    out, resp = _reply(CASES["text_basic"], "claude-3-opus-latest", _fixture("text_basic")["response"]["body"])
    assert resp.status == "completed" and resp.incomplete_details is None
    assert resp.output_text == "The capital of France is Paris."
    assert [item.type for item in resp.output] == ["message"]
    assert _usage(resp) == (20, 10, 0, 0, 0)
    assert out["model"] == "claude-3-opus-20240229"  # the snapshot that answered, as OpenAI reports it
    assert out["instructions"] == "You are a helpful assistant."


def test_tool_call_reply() -> None:
    _, resp = _reply(CASES["tool_call"], "claude-sonnet-4-5", _fixture("tool_call")["response"]["body"])
    assert resp.status == "completed"
    [call] = resp.output
    assert call.type == "function_call"
    assert call.call_id == "toolu_01WN4AuToBnJyXNQXwQBBebj"
    assert call.name == "get_weather"
    assert msgspec.json.decode(call.arguments) == {"city": "Paris"}
    assert _usage(resp) == (572, 53, 0, 0, 0)


def test_tool_result_turn_carries_the_call_id() -> None:
    native = _native(_tool_call_turn())
    assistant, result = native["messages"][1]["content"][0], native["messages"][2]["content"][0]
    assert assistant["id"] == result["tool_use_id"] == "toolu_01WN4AuToBnJyXNQXwQBBebj"
    body = _fixture("tool_result_multi_turn")["response"]["body"]
    _, resp = _reply(_tool_call_turn(), "claude-sonnet-4-5", body)
    assert resp.output_text.startswith("The weather in Paris is currently sunny")
    assert _usage(resp) == (646, 31, 0, 0, 0)


def test_thinking_reply() -> None:
    body = _fixture("thinking")["response"]["body"]
    _, resp = _reply(CASES["thinking"], "claude-sonnet-4-5", body)
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert reasoning.summary[0].text == body["content"][0]["thinking"]
    assert reasoning.encrypted_content == "anthropic:" + body["content"][0]["signature"]
    assert resp.output_text == body["content"][1]["text"]
    assert _usage(resp) == (43, 321, 0, 0, 0)


def test_thinking_turn_sends_the_signature_back_unchanged() -> None:
    first = _fixture("thinking")["response"]["body"]["content"]
    native = _native(_thinking_turn())
    assert native["messages"][1] == {"role": "assistant", "content": first}  # thinking block first, exact
    body = _fixture("thinking_multi_turn")["response"]["body"]
    _, resp = _reply(_thinking_turn(), "claude-sonnet-4-5", body)
    assert resp.output[0].encrypted_content == "anthropic:" + body["content"][0]["signature"]
    assert resp.output_text.startswith("# How to Cross a River")


def test_structured_output_reply() -> None:
    body = _fixture("structured_output_json_schema")["response"]["body"]
    out, resp = _reply(CASES["structured_output_json_schema"], "claude-sonnet-4-5", body)
    assert msgspec.json.decode(resp.output_text) == {
        "city": "London",
        "country": "United Kingdom",
        "population": 9002488,
    }
    assert out["text"]["format"]["type"] == "json_schema"


def test_image_url_reply() -> None:
    _, resp = _reply(CASES["image_input"], "claude-haiku-4-5", _fixture("image_input")["response"]["body"])
    assert resp.output_text.startswith("This is a potato.")
    assert _usage(resp) == (296, 91, 0, 0, 0)


# ---- streams ------------------------------------------------------------------------------------


def test_text_stream() -> None:
    blocks = _fixture("text_stream")["response"]["sse"]
    events, resp = _stream(CASES["text_stream"], "claude-sonnet-4-5", blocks)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["-", " Captain", "\n- Sc", "oop"]
    assert resp.output_text == "- Captain\n- Scoop"
    assert resp.status == "completed"
    assert _usage(resp) == (17, 10, 0, 0, 0)


def test_image_base64_stream() -> None:
    blocks = _fixture("image_input_base64_stream")["response"]["sse"]
    _, resp = _stream(CASES["image_input_base64_stream"], "claude-sonnet-4-5", blocks)
    assert resp.output_text == "Red square, green square."
    assert _usage(resp) == (83, 9, 0, 0, 0)


def test_tool_call_stream() -> None:
    blocks = _fixture("tool_call_stream")["response"]["sse"]
    events, resp = _stream(CASES["tool_call_stream"], "claude-haiku-4-5-20251001", blocks)
    assert [(c.type, c.call_id, c.name, c.arguments) for c in resp.output] == [  # type: ignore[union-attr]
        ("function_call", "toolu_01LtHJmixrs9NcWQkK8hu8hj", "pelican_name_generator", "{}"),
        ("function_call", "toolu_01N8a4jWyf116qKTMqKKmjyt", "pelican_name_generator", "{}"),
    ]
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [e["arguments"] for e in done] == ["{}", "{}"]
    assert resp.status == "completed"
    assert _usage(resp) == (542, 62, 0, 0, 0)


def test_thinking_stream() -> None:
    blocks = _fixture("thinking_stream")["response"]["sse"]
    events, resp = _stream(CASES["thinking_stream"], "claude-haiku-4-5-20251001", blocks)
    thinking = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta")
    assert thinking.startswith("The user wants two names for a pet pelican")
    signature = next(
        msgspec.json.decode(b.split("data: ", 1)[1])["delta"]["signature"] for b in blocks if "signature_delta" in b
    )
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == thinking  # type: ignore[union-attr]
    assert reasoning.encrypted_content == f"anthropic:{signature}"  # type: ignore[union-attr]
    assert (
        resp.output_text == '1. **Pouch** - references their iconic bill pouch\n2. **Pelé** - playful take on "pelican"'
    )
    types = [e["type"] for e in events]
    assert types.index("response.reasoning_summary_text.done") < types.index("response.output_text.delta")
    assert _usage(resp) == (46, 133, 0, 0, 0)


def test_web_search_stream() -> None:
    blocks = _fixture("web_search_stream")["response"]["sse"]
    _, resp = _stream(CASES["web_search_stream"], "claude-sonnet-4-0", blocks)
    assert [item.type for item in resp.output] == ["web_search_call", "message", "web_search_call", "message"]
    first, _, second, answer = resp.output
    assert first.action.query == "top world news today"  # type: ignore[union-attr]
    assert second.action.query == "breaking news headlines August 14 2025"  # type: ignore[union-attr]
    assert first.action.sources[0].url == "https://www.cnn.com/world"  # type: ignore[union-attr]
    assert first.status == "completed"  # type: ignore[union-attr]
    text = answer.content[0].text  # type: ignore[union-attr]
    assert text.startswith("Based on the search results") and text.endswith("affecting North America.")
    citations = answer.content[0].annotations  # type: ignore[union-attr]
    assert len(citations) == 9  # one per citations_delta in the recording
    first_cited = citations[0]
    assert first_cited.type == "url_citation" and first_cited.url == "https://www.npr.org/sections/news/"
    assert text[first_cited.start_index : first_cited.end_index].startswith("European leaders held")
    assert text[first_cited.start_index : first_cited.end_index].endswith("Russia summit")
    assert _usage(resp) == (31772, 644, 0, 0, 0)


# ---- request mapping ----------------------------------------------------------------------------


def test_system_and_developer_messages_go_to_system() -> None:
    native = _native(
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": [{"type": "input_text", "text": "No emoji."}]},
            ],
        }
    )
    assert native["system"] == "Be brief.\n\nAnswer in French.\n\nNo emoji."
    assert native["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert native["max_tokens"] == 4096  # the default when max_output_tokens is absent


def test_same_role_turns_merge_and_tool_results_lead() -> None:
    native = _native(
        {
            "input": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                {"role": "assistant", "content": "calling"},
                {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": '{"x": 1}'},
                {"type": "function_call", "call_id": "toolu_2", "name": "f", "arguments": ""},
                {"role": "user", "content": "and also"},
                {"type": "function_call_output", "call_id": "toolu_1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "toolu_2",
                    "output": [
                        {"type": "input_text", "text": "two"},
                        {"type": "input_image", "image_url": "https://example.com/a.png"},
                    ],
                },
            ]
        }
    )
    assert [m["role"] for m in native["messages"]] == ["user", "assistant", "user"]
    assert native["messages"][0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert native["messages"][1]["content"] == [
        {"type": "text", "text": "calling"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}},
        {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {}},
    ]
    assert native["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": [
                {"type": "text", "text": "two"},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            ],
        },
        {"type": "text", "text": "and also"},
    ]


def test_images_and_files() -> None:
    pdf = "JVBERi0xLjQK"
    native = _native(
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_image", "image_url": "data:image/jpg;base64,/9j/4AAQ"},
                        {"type": "input_file", "filename": "a.pdf", "file_data": f"data:application/pdf;base64,{pdf}"},
                        {"type": "input_file", "filename": "notes.txt", "file_data": "aGVsbG8="},
                        {"type": "input_file", "file_url": "https://example.com/paper.pdf"},
                    ],
                }
            ]
        }
    )
    assert native["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
            "title": "a.pdf",
        },
        {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": "hello"},
            "title": "notes.txt",
        },
        {"type": "document", "source": {"type": "url", "url": "https://example.com/paper.pdf"}},
    ]


def test_cache_control_on_tools_parts_and_system() -> None:
    native = _native(
        {
            "input": [
                {
                    "role": "system",
                    "content": [{"type": "input_text", "text": "Long rules", "cache_control": {"type": "ephemeral"}}],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Long doc", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
                    ],
                },
            ],
            "tools": [{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        }
    )
    assert native["system"] == [{"type": "text", "text": "Long rules", "cache_control": {"type": "ephemeral"}}]
    assert native["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert native["tools"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        ({"type": "function", "name": "get_weather"}, None, {"type": "tool", "name": "get_weather"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        (None, None, None),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, expected: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"input": "hi", "tools": [WEATHER_TOOL]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert _native(body).get("tool_choice") == expected


def test_allowed_tools_narrow_the_tool_list() -> None:
    other = {**WEATHER_TOOL, "name": "get_time"}
    native = _native(
        {
            "input": "hi",
            "tools": [WEATHER_TOOL, other, {"type": "web_search"}],
            "tool_choice": {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_time"}],
            },
        }
    )
    assert [t["name"] for t in native["tools"]] == ["get_time"]
    assert native["tool_choice"] == {"type": "any"}


def test_function_tool_fields() -> None:
    native = _native({"input": "hi", "tools": [{**WEATHER_TOOL, "strict": True}, {"type": "function", "name": "ping"}]})
    assert native["tools"] == [
        {
            "name": "get_weather",
            "description": "Get the current weather for a city.",
            "input_schema": WEATHER_TOOL["parameters"],
            "strict": True,
        },
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_web_search_options() -> None:
    native = _native(
        {
            "input": "news",
            "max_tool_calls": 3,
            "tools": [
                {
                    "type": "web_search_preview",
                    "search_context_size": "high",
                    "filters": {"allowed_domains": ["bbc.co.uk"]},
                    "user_location": {"type": "approximate", "city": "London", "country": "GB", "region": None},
                }
            ],
            "tool_choice": {"type": "web_search_preview"},
        }
    )
    assert native["tools"] == [
        {
            "type": "web_search_20250305",
            "name": "web_search",
            "allowed_domains": ["bbc.co.uk"],
            "user_location": {"type": "approximate", "city": "London", "country": "GB"},
            "max_uses": 3,
        }
    ]
    assert native["tool_choice"] == {"type": "tool", "name": "web_search"}


@pytest.mark.parametrize(
    ("model", "reasoning", "max_output", "thinking", "output_config", "max_tokens"),
    [
        ("claude-sonnet-4-5", {"effort": "low"}, None, {"type": "enabled", "budget_tokens": 1024}, None, 5120),
        ("claude-sonnet-4-5", {"effort": "medium"}, None, {"type": "enabled", "budget_tokens": 4096}, None, 8192),
        (
            "claude-3-7-sonnet-latest",
            {"effort": "high"},
            20000,
            {"type": "enabled", "budget_tokens": 16384},
            None,
            20000,
        ),
        ("claude-sonnet-4-20250514", {"effort": "high"}, 8000, {"type": "enabled", "budget_tokens": 7999}, None, 8000),
        ("claude-sonnet-4-5", {"max_tokens": 2000}, 3000, {"type": "enabled", "budget_tokens": 2000}, None, 3000),
        ("claude-sonnet-4-5", {"effort": "none"}, None, None, None, 4096),
        ("claude-sonnet-4-5", {"max_tokens": 0}, None, None, None, 4096),
        ("claude-opus-4-6", {"effort": "high"}, None, {"type": "adaptive"}, {"effort": "high"}, 20480),
        ("claude-sonnet-4-6", {"effort": "minimal"}, 2000, {"type": "adaptive"}, {"effort": "low"}, 2000),
        (
            "claude-opus-4-6",
            {"effort": "medium", "max_tokens": 5000},
            None,
            {"type": "enabled", "budget_tokens": 5000},
            {"effort": "medium"},
            9096,
        ),
    ],
)
def test_reasoning(
    model: str,
    reasoning: dict[str, Any],
    max_output: int | None,
    thinking: dict[str, Any] | None,
    output_config: dict[str, Any] | None,
    max_tokens: int,
) -> None:
    body: dict[str, Any] = {"input": "think", "reasoning": reasoning}
    if max_output is not None:
        body["max_output_tokens"] = max_output
    native = _native(body, model)
    assert native.get("thinking") == thinking
    assert native.get("output_config") == output_config
    assert native["max_tokens"] == max_tokens


@pytest.mark.parametrize(
    ("model", "adaptive"),
    [
        ("claude-opus-4-6", True),
        ("claude-sonnet-4-6-20260101", True),
        ("claude-opus-5", True),
        ("claude-sonnet-4-5@20250929", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-3-7-sonnet-latest", False),
        ("claude-haiku-4-5", False),
        ("my-private-deployment", False),
    ],
)
def test_model_traits(model: str, adaptive: bool) -> None:
    assert ModelTraits(model).adaptive is adaptive


def test_budget_must_fit_below_max_output_tokens() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "x", "reasoning": {"max_tokens": 4096}, "max_output_tokens": 4096})
    assert info.value.param == "reasoning.max_tokens" and info.value.status == 400
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "x", "reasoning": {"effort": "low"}, "max_output_tokens": 1000})
    assert info.value.param == "max_output_tokens"


def test_structured_output_shapes() -> None:
    nested = _native(
        {"input": "x", "text": {"format": {"type": "json_schema", "json_schema": {"name": "c", "schema": CITY_SCHEMA}}}}
    )
    assert nested["output_config"] == {"format": {"type": "json_schema", "schema": CITY_SCHEMA}}
    described = _native(
        {
            "input": "x",
            "text": {"format": {"type": "json_schema", "name": "c", "schema": CITY_SCHEMA, "description": "A city"}},
        }
    )
    assert described["output_config"]["format"]["schema"] == {**CITY_SCHEMA, "description": "A city"}
    assert "output_config" not in _native({"input": "x", "text": {"format": {"type": "text"}, "verbosity": "low"}})


def test_sampling_and_user() -> None:
    native = _native({"input": "x", "temperature": 0.2, "top_p": 0.9, "safety_identifier": "user-hash-1", "user": "u"})
    assert (native["temperature"], native["top_p"], native["metadata"]) == (0.2, 0.9, {"user_id": "user-hash-1"})
    assert _native({"input": "x", "user": "u"})["metadata"] == {"user_id": "u"}


def test_hints_are_accepted_and_not_sent() -> None:
    native = _native(
        {
            "input": "x",
            "store": False,
            "metadata": {"k": "v"},
            "service_tier": "auto",
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "p",
            "truncation": "auto",
            "parallel_tool_calls": True,
            "text": {"verbosity": "high"},
            "reasoning": {"effort": "low", "summary": "detailed"},
            "top_logprobs": 0,
        }
    )
    assert set(native) == {"model", "messages", "thinking", "max_tokens", "stream"}
    assert {"parallel_tool_calls", "store", "include", "text.verbosity", "reasoning.summary"} <= HINTS


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0].type"),
        ({"top_logprobs": 5}, "top_logprobs"),
        ({"temperature": 1.5}, "temperature"),
        ({"text": {"format": {"type": "json_object"}}}, "text.format"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"type": "made_up_item", "call_id": "c"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/tiff;base64,AA"}]}
                ]
            },
            "input[0].content[0]",
        ),
        ({"tool_choice": {"type": "file_search"}, "tools": [WEATHER_TOOL]}, "tool_choice.type"),
    ],
)
def test_unsupported_fields_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native({"input": "x", **body})
    assert info.value.status == 400
    assert info.value.param == param
    assert info.value.code == "unsupported_parameter"
    assert "'anthropic'" in info.value.message


def test_reasoning_items_of_other_providers_are_left_out() -> None:
    native = _native(
        {
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-openai-state"},
                {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gemini:c2ln"},
                {"type": "reasoning", "id": "rs_3", "summary": [{"type": "summary_text", "text": "hmm"}]},
                {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
                {"role": "assistant", "content": "a"},
            ]
        }
    )
    assert native["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "a"}]}


def test_reasoning_with_nothing_after_it_is_left_out() -> None:
    native = _native(
        {
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:sig"},
            ]
        }
    )
    assert [m["role"] for m in native["messages"]] == ["user"]


def test_redacted_thinking_round_trip() -> None:
    reply = {
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"},
            {"type": "thinking", "thinking": "more", "signature": "sig2"},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }
    out, resp = _reply({"input": "q", "tools": [WEATHER_TOOL]}, "claude-sonnet-4-5", reply)
    assert [i.type for i in resp.output] == ["reasoning", "reasoning", "function_call"]
    assert resp.output[0].encrypted_content == "anthropic-redacted:EmwKAhgBEgy3va3pzix/LafPsn4aDFIT"  # type: ignore[union-attr]
    assert resp.output[0].summary == []  # type: ignore[union-attr]
    native = _native({"input": [{"role": "user", "content": "q"}, *out["output"]], "tools": [WEATHER_TOOL]})
    assert native["messages"][1] == {"role": "assistant", "content": reply["content"]}


def test_usage_counts_cached_tokens_as_input() -> None:
    reply = {
        "type": "message",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 50,
            "output_tokens": 30,
            "output_tokens_details": {"thinking_tokens": 12},
        },
    }
    _, resp = _reply({"input": "q"}, "claude-sonnet-4-5", reply)
    assert _usage(resp) == (160, 30, 100, 50, 12)
    assert resp.usage is not None and resp.usage.total_tokens == 190


@pytest.mark.parametrize(
    ("stop_reason", "status", "reason"),
    [
        ("end_turn", "completed", None),
        ("stop_sequence", "completed", None),
        ("max_tokens", "incomplete", "max_output_tokens"),
        ("model_context_window_exceeded", "incomplete", "max_output_tokens"),
        ("refusal", "incomplete", "content_filter"),
    ],
)
def test_stop_reasons(stop_reason: str, status: str, reason: str | None) -> None:
    reply = {"content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason, "usage": {}}
    _, resp = _reply({"input": "q"}, "claude-sonnet-4-5", reply)
    assert resp.status == status
    assert (resp.incomplete_details.reason if resp.incomplete_details else None) == reason


def test_error_event_raises_with_status_and_type() -> None:
    call = _call({"input": "q", "stream": True}, "claude-sonnet-4-5")
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    [ev] = SSEDecoder().feed(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    with pytest.raises(ProviderError) as info:
        PROVIDER.translator(builder).feed(ev)
    assert (info.value.status, info.value.type, info.value.message) == (
        529,
        "overloaded_error",
        "anthropic: Overloaded",
    )
    assert info.value.retryable


# ---- end to end: the openai SDK, a real gateway, a fake Anthropic -----------------------------------


@pytest.fixture(scope="module")
def gateway_anthropic(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    entry = {"type": "anthropic", "base_url": upstream.url, "keys": [{"value": SECRET}], "max_retries": 0}
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('anthropic-store')}/store.db",
        "providers": {
            "anthropic": entry,
            "anthropic-retry": {**entry, "max_retries": 1},
            "openai": {"base_url": f"{upstream.url}/v1", "keys": [{"value": "sk-openai"}], "max_retries": 0},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_anthropic: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_anthropic.url}/v1", api_key="client-key", max_retries=0)


def _sent(fake: FakeUpstream) -> dict[str, Any]:
    [received] = fake.requests_to(PATH)
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["x-api-key"] == SECRET
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert "anthropic-beta" not in headers
    return received.json


def test_e2e_create_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/text_basic"))
    resp = sdk.responses.create(model="anthropic/claude-3-opus-latest", **CASES["text_basic"])
    assert resp.output_text == "The capital of France is Paris."
    assert resp.status == "completed" and resp.model == "claude-3-opus-20240229"
    assert resp.extra_fields["provider"] == "anthropic"  # type: ignore[attr-defined]
    assert resp.extra_fields["model_deployment"] == "claude-3-opus-latest"  # type: ignore[attr-defined]
    assert resp.usage.cost["total_cost"] > 0  # type: ignore[attr-defined]
    assert resp.usage is not None and resp.usage.input_tokens == 20 and resp.usage.output_tokens == 10
    sent = _sent(fake)
    assert _comparable(sent) == _comparable(_fixture("text_basic")["request"]["body"])
    assert SECRET not in resp.model_dump_json()


def test_e2e_stream_helper_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/text_stream"))
    with sdk.responses.stream(model="anthropic/claude-sonnet-4-5", **CASES["text_stream"]) as stream:
        events = list(stream)
        types = [event.type for event in events]
        created = events[0]
        assert created.type == "response.created"
        final = stream.get_final_response()
    assert final.output_text == "- Captain\n- Scoop"
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert created.response.model == final.model == "claude-sonnet-4-5-20250929"
    assert types.count("response.output_text.delta") == 4
    assert _sent(fake)["stream"] is True


def test_e2e_raw_stream_reasoning(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/thinking_stream"))
    events = list(
        sdk.responses.create(model="anthropic/claude-haiku-4-5-20251001", stream=True, **CASES["thinking_stream"])
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert any(e.type == "response.reasoning_summary_text.delta" for e in events)
    final = events[-1]
    assert final.type == "response.completed"
    reasoning = final.response.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content.startswith("anthropic:EuYDCmMIDBgCKkC05Zda")
    assert _sent(fake)["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_e2e_reasoning_create_and_next_turn(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/thinking"))
    first = sdk.responses.create(model="anthropic/claude-sonnet-4-5", **CASES["thinking"])
    assert [item.type for item in first.output] == ["reasoning", "message"]
    fake.reset()
    fake.add(PATH, Reply.fixture(f"{FOLDER}/thinking_multi_turn"))
    question = "Considering the way to cross the street, analogously, how do I cross the river?"
    second = sdk.responses.create(
        model="anthropic/claude-sonnet-4-5",
        input=[
            {"role": "user", "content": "How do I cross the street?"},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"role": "user", "content": question},
        ],
        reasoning={"effort": "low"},
        max_output_tokens=4096,
        include=["reasoning.encrypted_content"],
    )
    assert second.output_text.startswith("# How to Cross a River")
    assert _comparable(_sent(fake)) == _comparable(_fixture("thinking_multi_turn")["request"]["body"])


def test_e2e_tool_call_create_and_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/tool_call"))
    resp = sdk.responses.create(model="anthropic/claude-sonnet-4-5", **CASES["tool_call"])
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "toolu_01WN4AuToBnJyXNQXwQBBebj"
    fake.reset()
    fake.add(PATH, Reply.fixture(f"{FOLDER}/tool_call_stream"))
    with sdk.responses.stream(model="anthropic/claude-haiku-4-5-20251001", **CASES["tool_call_stream"]) as stream:
        done = [e.arguments for e in stream if e.type == "response.function_call_arguments.done"]
        final = stream.get_final_response()
    assert done == ["{}", "{}"]
    assert [item.type for item in final.output] == ["function_call", "function_call"]


def test_e2e_web_search_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/web_search_stream"))
    with sdk.responses.stream(model="anthropic/claude-sonnet-4-0", **CASES["web_search_stream"]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["web_search_call", "message", "web_search_call", "message"]
    assert _sent(fake)["tools"] == [{"type": "web_search_20250305", "name": "web_search"}]


@pytest.mark.parametrize(
    ("name", "model", "status", "message"),
    [
        (
            "error_400",
            "claude-opus-4-6",
            400,
            "anthropic: This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium.",
        ),
        ("error_404_model_not_found", "claude-sonet-4-5", 404, "anthropic: model: claude-sonet-4-5"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_e2e_provider_errors(
    sdk: openai.OpenAI, fake: FakeUpstream, name: str, model: str, status: int, message: str, stream: bool
) -> None:
    fake.add(PATH, Reply.fixture(f"{FOLDER}/{name}"))
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(sdk.responses.create(model=f"anthropic/{model}", stream=True, **CASES[name]))
        else:
            sdk.responses.create(model=f"anthropic/{model}", **CASES[name])
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict)
    assert body["message"] == message and body["provider"] == "anthropic"
    assert SECRET not in str(body)


OVERLOADED = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'


def test_e2e_error_frame_mid_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    blocks = _fixture("text_stream")["response"]["sse"]
    fake.add(PATH, Reply(sse=[*blocks[:4], OVERLOADED]))  # message_start, block start, ping, one delta
    events = list(sdk.responses.create(model="anthropic/claude-sonnet-4-5", stream=True, input="hi"))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    error, failed = events[-2], events[-1]
    assert error.message == "anthropic: Overloaded" and error.code == "server_error"
    assert failed.response.status == "failed"
    assert failed.response.error is not None and failed.response.error.message == "anthropic: Overloaded"


def test_e2e_error_frame_first_is_a_retryable_status(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(PATH, Reply(sse=[OVERLOADED]))
    with pytest.raises(openai.APIStatusError) as info:
        list(sdk.responses.create(model="anthropic/claude-sonnet-4-5", stream=True, input="hi"))
    assert info.value.status_code == 529
    assert isinstance(info.value.body, dict) and info.value.body["message"] == "anthropic: Overloaded"
    # before the first byte, an overloaded stream is retried like any 529
    fake.reset()
    fake.add(PATH, Reply(sse=[OVERLOADED]), times=1)
    fake.add(PATH, Reply.fixture(f"{FOLDER}/text_stream"))
    events = list(sdk.responses.create(model="anthropic-retry/claude-sonnet-4-5", stream=True, input="hi"))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "- Captain\n- Scoop"
    assert len(fake.requests_to(PATH)) == 2


def test_e2e_unsupported_field(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model="anthropic/claude-sonnet-4-5",
            input="hi",
            tools=[{"type": "file_search", "vector_store_ids": ["vs_1"]}],
        )
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict)
    assert body["param"] == "tools[0].type" and "'anthropic'" in body["message"]
    assert fake.requests_to(PATH) == []


def test_e2e_max_output_tokens_truncation(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    exchange = _fixture("text_basic")
    fake.add(PATH, Reply(json={**exchange["response"]["body"], "stop_reason": "max_tokens"}))
    resp = sdk.responses.create(model="anthropic/claude-3-opus-latest", input="q", max_output_tokens=10)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert _sent(fake)["max_tokens"] == 10
    fake.reset()
    blocks = [
        b.replace('"stop_reason":"end_turn"', '"stop_reason":"max_tokens"')
        for b in _fixture("text_stream")["response"]["sse"]
    ]
    fake.add(PATH, Reply(sse=blocks))
    events = list(sdk.responses.create(model="anthropic/claude-sonnet-4-5", stream=True, input="q"))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_e2e_conversation_started_on_openai(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    first = sdk.responses.create(model="openai/gpt-4o", input="What is the capital of France?")
    fake.add(PATH, Reply.fixture(f"{FOLDER}/text_basic"))
    second = sdk.responses.create(
        model="anthropic/claude-3-opus-latest", input="And Italy?", previous_response_id=first.id
    )
    assert second.output_text == "The capital of France is Paris."
    assert _sent(fake)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": first.output_text}]},
        {"role": "user", "content": [{"type": "text", "text": "And Italy?"}]},
    ]


def test_prompt_cache_key_sets_breakpoints_on_the_last_message_and_system() -> None:
    body: dict[str, Any] = {
        "instructions": "sys",
        "input": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
        "prompt_cache_key": "agent-session-1",
    }
    assert "cache_control" not in _native({**body, "prompt_cache_key": None})["messages"][2]["content"][0]
    native = _native(body)
    mark = {"type": "ephemeral"}
    assert native["system"] == [{"type": "text", "text": "sys", "cache_control": mark}]
    assert native["messages"][2]["content"] == [{"type": "text", "text": "c", "cache_control": mark}]
    assert "cache_control" not in native["messages"][0]["content"][0]  # only the ends


def test_prompt_cache_key_stays_within_four_breakpoints() -> None:
    marked = {"type": "input_text", "text": "m", "cache_control": {"type": "ephemeral"}}
    tool = {**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}
    body = {
        "instructions": "sys",
        "input": [{"role": "user", "content": [marked, marked, {"type": "input_text", "text": "last"}]}],
        "tools": [tool],
        "prompt_cache_key": "k",
    }
    native = _native(body)
    blocks = [*native["tools"], *native["system"], *native["messages"][0]["content"]]
    assert sum("cache_control" in b for b in blocks) == 4
    assert native["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}  # the last message first
    assert "cache_control" not in native["system"][0]


def test_prompt_cache_key_skips_thinking_blocks() -> None:
    thought = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:sig"}
    call = {"type": "function_call", "call_id": "toolu_1", "name": "get_weather", "arguments": "{}"}
    body = {
        "input": [{"role": "user", "content": "q"}, thought, call],
        "tools": [WEATHER_TOOL],
        "prompt_cache_key": "k",
    }
    [_, assistant] = _native(body)["messages"]
    assert [("cache_control" in b, b["type"]) for b in assistant["content"]] == [
        (False, "thinking"),
        (True, "tool_use"),
    ]


@pytest.mark.parametrize("model", ["claude-3-5-sonnet-latest", "claude-3-opus-20240229", "claude-3-5-haiku-20241022"])
def test_reasoning_on_a_model_that_does_not_think_is_a_hint(model: str) -> None:
    native = _native({"input": "x", "reasoning": {"effort": "high"}}, model)
    assert "thinking" not in native and "output_config" not in native
    assert native["max_tokens"] == 4096
    assert (
        _native({"input": "x", "reasoning": {"effort": "high"}}, "claude-3-7-sonnet-latest")["thinking"]["type"]
        == "enabled"
    )
