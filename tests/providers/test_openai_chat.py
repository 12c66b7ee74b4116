"""Chat Completions adapter: every recorded exchange, the request out and the reply back.

Three layers, as for the other adapters: the Responses request a user would send must become the
recorded Chat Completions request (compared field by field: the recorders' SDKs add defaults a
Responses request cannot express, normalised away in ``_comparable``); the recorded reply or stream
must become the right Responses output, every stream event one the openai SDK accepts; and the
whole path runs end to end, the official ``openai`` SDK talking to a real gateway on a real port in
front of a fake upstream replaying the recordings. The quirks of each provider (Mistral, Groq,
OpenRouter, DeepSeek, Perplexity, ...) are checked where they change the wire.
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
from ferryman.providers.base import Call, SSEEvent
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.openai_chat import DEFAULT, HINTS, QUIRKS, ChatCompletionsProvider, quirks_for
from ferryman.providers.openai_chat.response import ThinkSplitter
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FIXTURES, FakeUpstream, Reply, load_fixture
from tests.providers.stream_checks import check_events

INCLUDE = {"include": ["reasoning.encrypted_content"]}  # reasoning items carry the provider's state back
SECRET = "sk-chat-test-secret-0123456789"
# recording folder -> the provider entry name whose quirks it exercises
FOLDERS = {
    "openai-chat": "openai",
    "mistral-chat": "mistral",
    "groq-chat": "groq",
    "openrouter-chat": "openrouter",
    "cohere-chat": "cohere",
}


def _provider(name: str) -> ChatCompletionsProvider:
    return ChatCompletionsProvider(ProviderConfig(name=name, type="openai-chat", base_url="https://x.test/v1", keys=[]))


PROVIDERS = {name: _provider(name) for name in {*FOLDERS.values(), "deepseek", "perplexity", "xai", "local"}}


# ---- helpers ------------------------------------------------------------------------------------


def _fixture(folder: str, name: str) -> dict[str, Any]:
    return load_fixture(f"{folder}/{name}")


def _call(body: dict[str, Any], model: str) -> Call:
    raw, req = validate_request(msgspec.json.encode({"model": f"p/{model}", **body}))
    return Call(req, raw, model, None)


def _native(provider: str, body: dict[str, Any], model: str = "m", *, stream: bool = False) -> dict[str, Any]:
    return PROVIDERS[provider].native_request(_call(body, model), stream=stream)


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """What a Responses request can express, in one normal form for both sides.

    The recorders' SDKs send ``n: 1`` (the default), Mistral's adds ``prefix: false``, an empty
    ``tool_calls`` list, ``index`` on replayed tool calls and no ``type`` on tools; a single text
    part and a plain string are the same user message, as are ``null``, ``""`` and ``[]`` for an
    assistant turn that only calls tools, and an image ``detail: auto`` (OpenAI's default) and none.
    """
    body = copy.deepcopy(body)
    body.pop("stream", None)
    if body.get("n") == 1:
        del body["n"]
    for message in body["messages"]:
        message.pop("prefix", None)
        if not message.get("tool_calls"):
            message.pop("tool_calls", None)
        content = message.get("content")
        if content in ([], "", None):
            message["content"] = None
        elif isinstance(content, list):
            if len(content) == 1 and set(content[0]) == {"type", "text"} and content[0]["type"] == "text":
                message["content"] = content[0]["text"]
            for part in content:
                if part.get("type") == "image_url" and part["image_url"].get("detail") == "auto":
                    del part["image_url"]["detail"]
        for call in message.get("tool_calls", []):
            call.pop("index", None)
            call.setdefault("type", "function")
    for tool in body.get("tools", []):
        tool.setdefault("type", "function")
    return body


def _reply(provider: str, body: dict[str, Any], model: str, reply: Any) -> tuple[dict[str, Any], Response]:
    """A whole reply read back: the response dict (as the client gets it) and its SDK model."""
    call = _call(body, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    PROVIDERS[provider].parse_reply(reply, builder)
    check_events(msgspec.to_builtins(builder.events()))  # a whole reply makes the same calls; they must be sound too
    out = builder.response()
    return out, Response.model_validate(out)


def _stream(
    provider: str, body: dict[str, Any], model: str, blocks: list[str]
) -> tuple[list[dict[str, Any]], Response]:
    """Recorded SSE blocks through the adapter's translator: every event, and the final response."""
    call = _call({**body, "stream": True}, model)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    builder.start()
    events = msgspec.to_builtins(builder.events())
    translator = PROVIDERS[provider].translator(builder)
    for ev in SSEDecoder().feed(("\n\n".join(blocks) + "\n\n").encode()):
        translator.feed(ev)
        events += msgspec.to_builtins(builder.events())
    check_events(events)
    return events, Response.model_validate(events[-1]["response"])


def _chunks(*deltas: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = None) -> list[str]:
    """A synthetic chat.completion.chunk stream: one block per delta, then finish, usage, [DONE]."""
    blocks = []
    for delta in deltas:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m-1",
            "choices": [{"index": 0, "delta": delta}],
        }
        blocks.append("data: " + msgspec.json.encode(chunk).decode())
    last: dict[str, Any] = {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if usage is not None:
        last["usage"] = usage
    blocks.append("data: " + msgspec.json.encode(last).decode())
    blocks.append("data: [DONE]")
    return blocks


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


def _state(item: Any) -> dict[str, Any]:
    encrypted = item["encrypted_content"] if isinstance(item, dict) else item.encrypted_content
    assert encrypted.startswith("openai-chat:")
    return msgspec.json.decode(encrypted[len("openai-chat:") :])


# ---- the Responses request a user would send, for every recording --------------------------------

WEATHER_TOOL: dict[str, Any] = {
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
EMPTY_PARAMS = {"additionalProperties": False, "properties": {}, "type": "object"}
NAME_TOOL = {
    "type": "function",
    "name": "get_something_by_name",
    "description": "",
    "parameters": {
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
}
IMAGE = "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg"
CITY = {
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "type": "object",
}
CONCISE = "Be concise. Never use pretty double quotes, just regular ones."
BAD_ARGS = (
    'Please call the "get_something_by_name" tool with non-existent parameters to test error handling;'
    " on the second try you can use valid args"
)
PARIS_Q = 'What is the capital of France? Give me an answer that contains the word "Paris", but is not the first word.'

CASES: dict[str, dict[str, Any]] = {
    "openai-chat/text_basic": {
        "instructions": "You are a helpful assistant.",
        "input": "What is the capital of France?",
    },
    "openai-chat/text_stream": {"input": "What is the capital of Mexico?"},
    "openai-chat/tool_call": {
        "input": "What's the weather in Paris?",
        "tools": [{**WEATHER_TOOL, "strict": True}],
        "tool_choice": "auto",
    },
    "openai-chat/tool_call_stream": {
        "input": "What is the capital of the UK? Use the tool, then answer.",
        "tools": [
            {
                "type": "function",
                "name": "get_capital",
                "description": "",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {"country": {"type": "string"}},
                    "required": ["country"],
                    "type": "object",
                },
                "strict": True,
            }
        ],
        "tool_choice": "auto",
    },
    "openai-chat/structured_output_json_schema": {
        "input": [
            {"role": "user", "content": "What is the largest city in the user country?"},
            {
                "type": "function_call",
                "call_id": "call_PkRGedQNRFUzJp2R7dO7avWR",
                "name": "get_user_country",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_PkRGedQNRFUzJp2R7dO7avWR", "output": "Mexico"},
        ],
        "tools": [{"type": "function", "name": "get_user_country", "description": "", "parameters": EMPTY_PARAMS}],
        "tool_choice": "auto",
        "text": {"format": {"type": "json_schema", "name": "result", "schema": CITY, "strict": False}},
    },
    "openai-chat/image_input": {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What food is in the image you can get from the get_image tool?"}
                ],
            },
            {
                "type": "function_call",
                "call_id": "call_4hrT4QP9jfojtK69vGiFCFjG",
                "name": "get_image",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_4hrT4QP9jfojtK69vGiFCFjG", "output": "See file bd38f5"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "This is file bd38f5:"},
                    {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
                ],
            },
        ],
        "tools": [{"type": "function", "name": "get_image", "description": "", "parameters": EMPTY_PARAMS}],
        "tool_choice": "auto",
    },
    # ``stop`` is not a Responses field: Ferryman forwards it to chat servers as an extension
    "openai-chat/reasoning_model_stop": {"input": PARIS_Q, "stop": ["Paris"]},
    "openai-chat/error_400": {
        "instructions": "You are a helpful assistant.",
        "input": "What day is today?",
        "tools": [{"type": "web_search", "search_context_size": "low"}],
    },
    "openai-chat/error_404_model_not_found": {"input": "hello"},
    # the Mistral SDK sends top_p 1.0 unasked; a Responses client can say the same
    "mistral-chat/text_basic": {"input": PARIS_Q, "stop": ["Paris"], "top_p": 1.0},
    "mistral-chat/tool_call": {
        "input": "What's the weather in Paris?",
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "top_p": 1.0,
    },
    "mistral-chat/structured_output_tool": {
        "input": "Tell me about Paris",
        "tools": [
            {
                "type": "function",
                "name": "final_result",
                "description": "The final response which ends this conversation",
                "parameters": {
                    "properties": {"city": {"type": "string"}, "summary": {"type": "string"}},
                    "required": ["city", "summary"],
                    "title": "CityInfo",
                    "type": "object",
                },
            }
        ],
        "tool_choice": "required",
        "top_p": 1.0,
    },
    "groq-chat/text_basic": {"instructions": "You are a helpful assistant.", "input": "What is the capital of France?"},
    "groq-chat/tool_call": {"input": "What's the weather in Paris?", "tools": [WEATHER_TOOL], "tool_choice": "auto"},
    "groq-chat/reasoning": {
        "input": "What is 2+2? Reply with just the number.",
        "reasoning": {"effort": "medium"},
        **INCLUDE,
    },
    "groq-chat/structured_output_json_schema": {
        "input": "What is the largest city in Mexico?",
        "text": {
            "format": {
                "type": "json_schema",
                "name": "CityLocation",
                "description": "A city and its country.",
                "schema": {**CITY, "additionalProperties": False},
                "strict": True,
            }
        },
    },
    "groq-chat/image_input": {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is the name of this fruit?"},
                    {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
                ],
            }
        ]
    },
    "groq-chat/error_400_tool_use_failed": {
        "instructions": CONCISE,
        "input": BAD_ARGS,
        "tools": [NAME_TOOL],
        "tool_choice": "auto",
    },
    "groq-chat/error_404_model_not_found": {"input": "hello"},
    "openrouter-chat/error_429": {"instructions": "Be helpful.", "input": "Tell me a joke."},
    # Cohere's native v2/chat API: its request body happens to be chat-shaped for these two
    "cohere-chat/text_basic": {"input": "hello"},
    "cohere-chat/tool_call": {"input": "What's the weather in Paris?", "tools": [WEATHER_TOOL]},
}


def _first_turn(folder: str, name: str) -> list[dict[str, Any]]:
    """The first turn's Responses output items, read from its recorded reply."""
    exchange = _fixture(folder, name)
    out, _ = _reply(
        FOLDERS[folder], CASES[f"{folder}/{name}"], exchange["request"]["body"]["model"], exchange["response"]["body"]
    )
    return out["output"]


def _tool_result_turn(folder: str) -> dict[str, Any]:
    """The second turn of the weather conversation, built from the first turn's Responses output."""
    first = CASES[f"{folder}/tool_call"]
    [call] = _first_turn(folder, "tool_call")
    return {
        **first,
        "input": [
            {"role": "user", "content": "What's the weather in Paris?"},
            call,  # the client sends the function_call item back as it got it
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 22C in Paris"},
        ],
    }


def _mistral_thinking_turn() -> dict[str, Any]:
    """Turn two of the Magistral conversation: turn one's reply (recorded inside turn two's request)."""
    recorded = _fixture("mistral-chat", "thinking_multi_turn")["request"]["body"]["messages"][1]
    reply = {
        "model": "magistral-medium-latest",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": recorded["content"]}, "finish_reason": "stop"}
        ],
    }
    first, _ = _reply("mistral", {"input": "How do I cross the street?", **INCLUDE}, "magistral-medium-latest", reply)
    return {
        "input": [
            {"role": "user", "content": "How do I cross the street?"},
            *first["output"],  # reasoning item (thinking chunks in encrypted_content) + message
            {
                "role": "user",
                "content": "Considering the way to cross the street, analogously, how do I cross the river?",
            },
        ],
        "top_p": 1.0,
    }


def _groq_reasoning_turn() -> dict[str, Any]:
    """The Groq gpt-oss tool loop: turn one's reasoning + call (recorded inside turn two's request)."""
    recorded = _fixture("groq-chat", "tool_call_stream")["request"]["body"]["messages"]
    assistant, tool = recorded[2], recorded[3]
    thought = assistant["content"].removeprefix("<think>\n").removesuffix("\n</think>")
    reply = {
        "model": "openai/gpt-oss-120b",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "reasoning": thought, "tool_calls": assistant["tool_calls"]},
                "finish_reason": "tool_calls",
            }
        ],
    }
    first, _ = _reply("groq", {"input": BAD_ARGS, "tools": [NAME_TOOL]}, "openai/gpt-oss-120b", reply)
    assert [item["type"] for item in first["output"]] == ["reasoning", "function_call"]
    return {
        "instructions": CONCISE,
        "input": [
            {"role": "user", "content": BAD_ARGS},
            *first["output"],
            {"type": "function_call_output", "call_id": tool["tool_call_id"], "output": tool["content"]},
        ],
        "tools": [NAME_TOOL],
        "tool_choice": "auto",
    }


def _case(key: str) -> dict[str, Any]:
    folder, name = key.split("/")
    if name == "tool_result_multi_turn":
        return _tool_result_turn(folder)
    if key == "mistral-chat/thinking_multi_turn":
        return _mistral_thinking_turn()
    if key == "groq-chat/tool_call_stream":
        return _groq_reasoning_turn()
    return CASES[key]


DERIVED = [
    "openai-chat/tool_result_multi_turn",
    "mistral-chat/tool_result_multi_turn",
    "mistral-chat/thinking_multi_turn",
    "groq-chat/tool_result_multi_turn",
    "groq-chat/tool_call_stream",
]
CHAT_CASES = [k for k in [*CASES, *DERIVED] if not k.startswith("cohere-chat/")]


def test_every_recording_has_a_case() -> None:
    on_disk = {f"{folder}/{p.stem}" for folder in FOLDERS for p in (FIXTURES / folder).glob("*.json")}
    covered = {*CHAT_CASES, "cohere-chat/text_basic", "cohere-chat/tool_call", "cohere-chat/thinking"}
    assert on_disk == covered


@pytest.mark.parametrize("key", CHAT_CASES)
def test_request_matches_recording(key: str) -> None:
    folder = key.split("/")[0]
    recorded = _fixture(*key.split("/"))["request"]
    assert recorded["path"].endswith("/chat/completions")
    want = recorded["body"]
    got = _native(FOLDERS[folder], _case(key), want["model"], stream=want.get("stream", False))
    assert got["stream"] is want.get("stream", False)
    assert _comparable(got) == _comparable(want)


@pytest.mark.parametrize("name", ["text_basic", "tool_call"])
def test_cohere_native_request_bodies_are_chat_shaped(name: str) -> None:
    # Cohere's recordings are of its native /v2/chat API (the cohere type's, tests/providers/test_cohere.py);
    # for these two the bodies coincide with what its compatibility API (this adapter's) is sent
    want = _fixture("cohere-chat", name)["request"]["body"]
    assert _comparable(_native("cohere", CASES[f"cohere-chat/{name}"], want["model"])) == _comparable(want)


# ---- replies: the recorded answer as Responses output ---------------------------------------------


def test_openai_text_reply() -> None:
    body = _fixture("openai-chat", "text_basic")["response"]["body"]
    out, resp = _reply("openai", CASES["openai-chat/text_basic"], "gpt-4o", body)
    assert resp.status == "completed" and resp.incomplete_details is None
    assert resp.output_text == "The capital of France is Paris."
    assert [item.type for item in resp.output] == ["message"]
    assert _usage(resp) == (24, 8, 0, 0, 0)
    assert out["model"] == "gpt-4o-2024-08-06"  # the snapshot that answered
    assert out["instructions"] == "You are a helpful assistant."


def test_openai_tool_call_reply_and_next_turn() -> None:
    body = _fixture("openai-chat", "tool_call")["response"]["body"]
    _, resp = _reply("openai", CASES["openai-chat/tool_call"], "gpt-5-mini", body)
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "call_aDdJTteHrpMdhdkEkyxjxEHH"
    assert call.name == "get_weather" and msgspec.json.decode(call.arguments) == {"city": "Paris"}
    assert resp.status == "completed"
    assert _usage(resp) == (132, 23, 0, 0, 0)
    native = _native("openai", _tool_result_turn("openai-chat"))
    assert native["messages"][1]["tool_calls"][0]["id"] == native["messages"][2]["tool_call_id"] == call.call_id
    body2 = _fixture("openai-chat", "tool_result_multi_turn")["response"]["body"]
    _, resp2 = _reply("openai", _tool_result_turn("openai-chat"), "gpt-5-mini", body2)
    assert resp2.output_text.startswith("It's sunny in Paris right now")
    assert _usage(resp2) == (167, 171, 0, 0, 128)


def test_openai_structured_output_and_image_replies() -> None:
    body = _fixture("openai-chat", "structured_output_json_schema")["response"]["body"]
    out, resp = _reply("openai", CASES["openai-chat/structured_output_json_schema"], "gpt-4o", body)
    assert msgspec.json.decode(resp.output_text) == {"city": "Mexico City", "country": "Mexico"}
    assert out["text"]["format"]["type"] == "json_schema"
    body = _fixture("openai-chat", "image_input")["response"]["body"]
    _, resp = _reply("openai", CASES["openai-chat/image_input"], "gpt-4o", body)
    assert resp.output_text == "The image shows a potato."
    assert _usage(resp) == (503, 8, 0, 0, 0)


def test_reasoning_tokens_without_reasoning_text() -> None:
    body = _fixture("openai-chat", "reasoning_model_stop")["response"]["body"]
    _, resp = _reply("openai", CASES["openai-chat/reasoning_model_stop"], "o3-mini", body)
    assert [item.type for item in resp.output] == ["message"]  # OpenAI sends no reasoning text
    assert resp.output_text == "The capital of France is "
    assert _usage(resp) == (31, 467, 0, 0, 448)


def test_mistral_replies_count_cached_tokens() -> None:
    body = _fixture("mistral-chat", "tool_call")["response"]["body"]
    _, resp = _reply("mistral", CASES["mistral-chat/tool_call"], "mistral-large-latest", body)
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "KikbB849t"
    assert msgspec.json.decode(call.arguments) == {"city": "Paris"}
    assert _usage(resp) == (77, 12, 76, 0, 0)  # num_cached_tokens
    body = _fixture("mistral-chat", "tool_result_multi_turn")["response"]["body"]
    _, resp = _reply("mistral", _tool_result_turn("mistral-chat"), "mistral-large-latest", body)
    assert resp.output_text.startswith("The current weather in **Paris** is **sunny**")
    body = _fixture("mistral-chat", "structured_output_tool")["response"]["body"]
    _, resp = _reply("mistral", CASES["mistral-chat/structured_output_tool"], "mistral-large-latest", body)
    [call] = resp.output
    assert call.name == "final_result" and msgspec.json.decode(call.arguments)["city"] == "Paris"
    body = _fixture("mistral-chat", "text_basic")["response"]["body"]
    _, resp = _reply("mistral", CASES["mistral-chat/text_basic"], "ministral-8b-latest", body)
    assert resp.output_text == "The capital of France is " and _usage(resp) == (28, 6, 0, 0, 0)


def test_mistral_thinking_chunks_round_trip_exactly() -> None:
    recorded = _fixture("mistral-chat", "thinking_multi_turn")
    turn = _mistral_thinking_turn()
    reasoning = turn["input"][1]
    assert reasoning["type"] == "reasoning"
    thinking = recorded["request"]["body"]["messages"][1]["content"][0]["thinking"]
    assert _state(reasoning) == {"provider": "mistral", "thinking": thinking}
    assert reasoning["content"][0]["text"] == "\n\n".join(t["text"] for t in thinking)
    native = _native("mistral", turn, "magistral-medium-latest")
    assert native["messages"][1]["content"][0] == {"type": "thinking", "thinking": thinking}  # unchanged
    body = recorded["response"]["body"]
    _, resp = _reply("mistral", turn, "magistral-medium-latest", body)
    reasoning2, message = resp.output
    assert reasoning2.type == "reasoning" and message.type == "message"
    assert reasoning2.content is not None and reasoning2.content[0].text.startswith("**Analogizing crossing a river**")
    assert resp.output_text.startswith("Crossing a river is quite different from crossing a street")
    assert _usage(resp) == (664, 747, 0, 0, 0)


def test_groq_replies() -> None:
    body = _fixture("groq-chat", "text_basic")["response"]["body"]
    _, resp = _reply("groq", CASES["groq-chat/text_basic"], "llama-3.3-70b-versatile", body)
    assert resp.output_text == "The capital of France is Paris." and _usage(resp) == (48, 8, 0, 0, 0)
    body = _fixture("groq-chat", "tool_call")["response"]["body"]
    _, resp = _reply("groq", CASES["groq-chat/tool_call"], "meta-llama/llama-4-scout-17b-16e-instruct", body)
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "48f5r72yf"
    body = _fixture("groq-chat", "image_input")["response"]["body"]
    _, resp = _reply("groq", CASES["groq-chat/image_input"], "meta-llama/llama-4-scout-17b-16e-instruct", body)
    assert resp.output_text.startswith("The fruit depicted in the image is a potato.")


def test_groq_reasoning_reply() -> None:
    body = _fixture("groq-chat", "reasoning")["response"]["body"]
    _, resp = _reply("groq", CASES["groq-chat/reasoning"], "openai/gpt-oss-120b", body)
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert reasoning.content is not None and reasoning.content[0].text == body["choices"][0]["message"]["reasoning"]
    assert reasoning.summary == []  # raw reasoning, not a summary
    assert _state(reasoning.model_dump()) == {"provider": "groq"}
    assert resp.output_text == "4"
    assert _usage(resp) == (84, 41, 0, 0, 31)
    body = _fixture("groq-chat", "structured_output_json_schema")["response"]["body"]
    _, resp = _reply("groq", CASES["groq-chat/structured_output_json_schema"], "openai/gpt-oss-120b", body)
    assert [i.type for i in resp.output] == ["reasoning", "message"]
    assert msgspec.json.decode(resp.output_text) == {"city": "Mexico City", "country": "Mexico"}


def test_groq_reasoning_goes_back_as_think_text() -> None:
    turn = _groq_reasoning_turn()
    recorded = _fixture("groq-chat", "tool_call_stream")["request"]["body"]["messages"][2]
    native = _native("groq", turn, "openai/gpt-oss-120b", stream=True)
    assert native["messages"][2]["content"] == recorded["content"]
    assert native["messages"][2]["tool_calls"][0]["id"] == "pyd_ai_53c381537e5a4ce2852509adfb88b3d5"


@pytest.mark.parametrize(
    ("name", "texts", "calls", "usage"),
    [
        ("text_basic", ["Hello! How can I assist you today?"], [], (496, 11, 0, 0, 0)),
        ("tool_call", [], [("get_weather_9gpb31r7h7mj", "get_weather", {"city": "Paris"})], (1441, 54, 144, 0, 0)),
    ],
)
def test_cohere_native_replies(name: str, texts: list[str], calls: list[Any], usage: tuple[int, ...]) -> None:
    body = _fixture("cohere-chat", name)["response"]["body"]
    _, resp = _reply("cohere", CASES[f"cohere-chat/{name}"], "command-r7b-12-2024", body)
    assert [resp.output_text] == texts or (not texts and resp.output_text == "")
    got = [(i.call_id, i.name, msgspec.json.decode(i.arguments)) for i in resp.output if i.type == "function_call"]
    assert got == calls
    assert _usage(resp) == usage
    if name == "tool_call":  # Cohere's tool_plan is the model's reasoning before its calls
        assert resp.output[0].type == "reasoning"
        assert resp.output[0].content[0].text == body["message"]["tool_plan"]  # type: ignore[union-attr]


def test_cohere_native_thinking_reply() -> None:
    exchange = _fixture("cohere-chat", "thinking")
    body = exchange["response"]["body"]
    _, resp = _reply("cohere", {"input": "How do I cross the river?"}, "command-a-reasoning-08-2025", body)
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and message.type == "message"
    assert reasoning.content[0].text == body["message"]["content"][0]["thinking"]  # type: ignore[index]
    assert resp.output_text == body["message"]["content"][1]["text"]
    assert _usage(resp) == (2190, 1257, 0, 0, 0)
    # its request replays Cohere-native thinking blocks; through the compatibility API Ferryman leaves
    # another turn's reasoning out (Cohere documents no way to send it back there), the rest matches
    want = copy.deepcopy(exchange["request"]["body"])
    want["messages"][1]["content"] = want["messages"][1]["content"][1]["text"]
    turn = {
        "input": [
            want["messages"][0],
            {"role": "assistant", "content": want["messages"][1]["content"]},
            want["messages"][2],
        ]
    }
    assert _comparable(_native("cohere", turn, want["model"])) == _comparable(want)


# ---- streams ------------------------------------------------------------------------------------


def test_openai_text_stream() -> None:
    blocks = _fixture("openai-chat", "text_stream")["response"]["sse"]
    events, resp = _stream("openai", CASES["openai-chat/text_stream"], "gpt-4o", blocks)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["The", " capital", " of", " Mexico", " is", " Mexico", " City", "."]
    assert resp.output_text == "The capital of Mexico is Mexico City."
    assert resp.status == "completed" and resp.model == "gpt-4o-2024-08-06"
    assert _usage(resp) == (14, 8, 0, 0, 0)  # from the usage chunk after the finish chunk


def test_openai_tool_call_stream() -> None:
    blocks = _fixture("openai-chat", "tool_call_stream")["response"]["sse"]
    events, resp = _stream("openai", CASES["openai-chat/tool_call_stream"], "gpt-4o-mini", blocks)
    [call] = resp.output
    assert call.type == "function_call" and call.call_id == "call_ZR5UUuTt3pf61kjwAJIYdVMj"
    assert call.name == "get_capital" and call.arguments == '{"country":"UK"}'
    deltas = [e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"', "country", '":"', "UK", '"}']
    assert _usage(resp) == (53, 15, 0, 0, 0)


def test_groq_reasoning_tool_stream() -> None:
    blocks = _fixture("groq-chat", "tool_call_stream")["response"]["sse"]
    events, resp = _stream("groq", _groq_reasoning_turn(), "openai/gpt-oss-120b", blocks)
    thought = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_text.delta")
    assert thought.startswith("We need to call the function with correct parameter")
    reasoning, call = resp.output
    assert reasoning.type == "reasoning" and reasoning.content is not None and reasoning.content[0].text == thought
    assert _state(reasoning.model_dump()) == {"provider": "groq"}
    assert call.type == "function_call" and call.call_id == "fc_bfb39741-3748-4def-9886-a93fc9c64a90"
    assert msgspec.json.decode(call.arguments) == {"name": "example"}
    assert _usage(resp) == (304, 49, 0, 0, 23)


def test_think_tags_split_across_chunks() -> None:
    blocks = _chunks(
        {"role": "assistant", "content": ""},
        {"content": "<thi"},
        {"content": "nk>\nHmm,"},
        {"content": " 2+2 is 4.\n</th"},
        {"content": "ink>\n\nThe answer"},
        {"content": " is 4."},
        usage={"prompt_tokens": 10, "completion_tokens": 20},
    )
    events, resp = _stream("local", {"input": "2+2?"}, "qwen3", blocks)
    reasoning, message = resp.output
    assert reasoning.type == "reasoning" and reasoning.content is not None
    assert reasoning.content[0].text == "Hmm, 2+2 is 4."
    assert resp.output_text == "The answer is 4."
    assert "<" not in "".join(e.get("delta", "") for e in events if e["type"] == "response.output_text.delta")
    assert _usage(resp) == (10, 20, 0, 0, 0) and resp.model == "m-1"


@pytest.mark.parametrize(
    ("content", "reasoning", "text"),
    [
        ("<think>\nplan\n</think>\n\nanswer", "plan", "answer"),
        ("  <think>a</think>b", "a", "b"),
        ("answer with <think> inside", None, "answer with <think> inside"),
        ("<b>bold</b>", None, "<b>bold</b>"),
        ("<think>unfinished", "unfinished", None),
    ],
)
def test_think_splitter(content: str, reasoning: str | None, text: str | None) -> None:
    pieces = ThinkSplitter().feed(content)
    splitter = ThinkSplitter()
    streamed = [p for ch in content for p in splitter.feed(ch)] + splitter.flush()  # one character a chunk
    for got in (pieces + ThinkSplitter().flush(), streamed):
        thoughts = "".join(t for r, t in got if r) or None
        answer = "".join(t for r, t in got if not r) or None
        assert (thoughts, answer) == (reasoning, text)


def test_mistral_thinking_stream() -> None:
    blocks = _chunks(
        {"role": "assistant", "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Let me"}]}]},
        {"content": [{"type": "thinking", "thinking": [{"type": "text", "text": " think."}]}]},
        {"content": "Four."},
        usage={"prompt_tokens": 5, "completion_tokens": 7},
    )
    _, resp = _stream("mistral", {"input": "2+2?", **INCLUDE}, "magistral-small-latest", blocks)
    reasoning, _message = resp.output
    assert reasoning.content is not None and reasoning.content[0].text == "Let me think."
    assert _state(reasoning.model_dump()) == {
        "provider": "mistral",
        "thinking": [{"type": "text", "text": "Let me think."}],
    }
    assert resp.output_text == "Four."


def test_deepseek_reasoning_content_stream_and_replay() -> None:
    blocks = _chunks(
        {"role": "assistant", "reasoning_content": "Need the"},
        {"reasoning_content": " weather."},
        {
            "tool_calls": [
                {"index": 0, "id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        finish="tool_calls",
        usage={
            "prompt_tokens": 100,
            "completion_tokens": 30,
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
            "completion_tokens_details": {"reasoning_tokens": 12},
        },
    )
    body = {"input": "Weather in Paris?", "tools": [WEATHER_TOOL], "reasoning": {"effort": "high"}}
    _, resp = _stream("deepseek", body, "deepseek-v4-pro", blocks)
    reasoning, call = resp.output
    assert reasoning.content is not None and reasoning.content[0].text == "Need the weather."
    assert call.type == "function_call" and call.arguments == '{"city":"Paris"}'
    assert _usage(resp) == (100, 30, 64, 0, 12)
    # DeepSeek needs the reasoning of a tool-calling turn back, in reasoning_content
    turn = {
        **body,
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            *[item.model_dump(exclude_none=True) for item in resp.output],
            {"type": "function_call_output", "call_id": "call_0", "output": "Sunny"},
        ],
    }
    native = _native("deepseek", turn, "deepseek-v4-pro")
    assert native["messages"][1] == {
        "role": "assistant",
        "reasoning_content": "Need the weather.",
        "content": None,
        "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    assert native["thinking"] == {"type": "enabled"} and native["reasoning_effort"] == "high"
    # the same items sent to another provider entry: its reasoning is left out
    assert "reasoning_content" not in _native("groq", turn)["messages"][1]


def test_openrouter_reasoning_details_round_trip() -> None:
    detail = {"type": "reasoning.text", "text": "Think", "signature": None, "index": 0, "format": "anthropic-claude-v1"}
    blocks = _chunks(
        {"role": "assistant", "reasoning": "Think", "reasoning_details": [detail]},
        {"reasoning": "ing.", "reasoning_details": [{**detail, "text": "ing."}]},
        {"reasoning_details": [{**detail, "text": "", "signature": "sig=="}]},
        {"content": "Done."},
        usage={
            "prompt_tokens": 50,
            "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 5},
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    )
    body = {"input": "Hi", "reasoning": {"max_tokens": 2000}, **INCLUDE}
    _, resp = _stream("openrouter", body, "anthropic/claude-sonnet-4.5", blocks)
    reasoning, _msg = resp.output
    assert reasoning.content is not None and reasoning.content[0].text == "Thinking."
    merged = {**detail, "text": "Thinking.", "signature": "sig=="}
    assert _state(reasoning.model_dump()) == {"provider": "openrouter", "reasoning_details": [merged]}
    assert _usage(resp) == (50, 10, 20, 5, 4)
    native = _native("openrouter", {**body, "input": [*[i.model_dump(exclude_none=True) for i in resp.output]]})
    assert native["reasoning"] == {"max_tokens": 2000}
    assert native["messages"][0]["reasoning_details"] == [merged]  # unchanged, signature and all


def test_perplexity_search_results_and_citations() -> None:
    results = [{"title": "Paris", "url": "https://example.org/paris", "date": "2025-01-01"}]
    chunk = {
        "id": "p1",
        "model": "sonar",
        "citations": ["https://example.org/paris"],
        "search_results": results,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris [1]."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "search_context_size": "low"},
    }
    out, resp = _reply("perplexity", {"input": "Capital of France?"}, "sonar", chunk)
    assert out["search_results"] == results and out["citations"] == ["https://example.org/paris"]
    assert resp.output_text == "Paris [1]."
    blocks = [
        "data: "
        + msgspec.json.encode({**chunk, "choices": [{"index": 0, "delta": {"content": "Paris [1]."}}]}).decode()
    ]
    blocks += _chunks(usage={"prompt_tokens": 3, "completion_tokens": 4})
    events, _ = _stream("perplexity", {"input": "Capital of France?"}, "sonar", blocks)
    assert events[-1]["response"]["search_results"] == results
    native = _native("perplexity", {"input": "q", "tools": [{"type": "web_search", "search_context_size": "high"}]})
    assert native["web_search_options"] == {"search_context_size": "high"}


def test_url_citations_refusal_and_logprobs() -> None:
    message = {
        "role": "assistant",
        "content": "See example.",
        "annotations": [
            {
                "type": "url_citation",
                "url_citation": {"start_index": 4, "end_index": 11, "url": "https://e.org", "title": "E"},
            }
        ],
    }
    logprobs = {
        "content": [
            {
                "token": "See",
                "logprob": -0.1,
                "bytes": [83, 101, 101],
                "top_logprobs": [{"token": "See", "logprob": -0.1, "bytes": None}],
            }
        ]
    }
    body = {
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}],
    }
    _, resp = _reply("openai", {"input": "q", "top_logprobs": 1}, "gpt-4o", body)
    part = resp.output[0].content[0]  # type: ignore[union-attr]
    assert part.annotations[0].url == "https://e.org" and part.annotations[0].start_index == 4  # type: ignore[union-attr]
    assert part.logprobs[0].token == "See" and part.logprobs[0].top_logprobs[0].bytes == [83, 101, 101]  # type: ignore[union-attr]
    refusal = {
        "model": "gpt-4o",
        "choices": [{"message": {"role": "assistant", "content": None, "refusal": "No."}, "finish_reason": "stop"}],
    }
    _, resp = _reply("openai", {"input": "q"}, "gpt-4o", refusal)
    assert resp.output[0].content[0].type == "refusal"  # type: ignore[union-attr]
    assert resp.output[0].content[0].refusal == "No."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("finish", "status", "reason"),
    [
        ("stop", "completed", None),
        ("tool_calls", "completed", None),
        ("length", "incomplete", "max_output_tokens"),
        ("model_length", "incomplete", "max_output_tokens"),
        ("content_filter", "incomplete", "content_filter"),
    ],
)
def test_finish_reasons(finish: str, status: str, reason: str | None) -> None:
    body = {"model": "m", "choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": finish}]}
    _, resp = _reply("local", {"input": "q"}, "m", body)
    assert resp.status == status
    assert (resp.incomplete_details.reason if resp.incomplete_details else None) == reason
    _, streamed = _stream("local", {"input": "q"}, "m", _chunks({"content": "x"}, finish=finish))
    assert streamed.status == status


def test_xai_reasoning_tokens_are_output_tokens() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 40}}
    body = {
        "model": "grok-3-mini",
        "choices": [{"message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": usage,
    }
    _, resp = _reply("xai", {"input": "q"}, "grok-3-mini", body)
    assert _usage(resp) == (10, 45, 0, 0, 40)


def test_stream_without_done_completes_after_a_finish_reason() -> None:
    blocks = _chunks({"content": "Hi"})[:-1]  # no [DONE]
    call = _call({"input": "q", "stream": True}, "m")
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    translator = PROVIDERS["local"].translator(builder)
    for ev in SSEDecoder().feed(("\n\n".join(blocks) + "\n\n").encode()):
        translator.feed(ev)
    assert builder.status == "in_progress"
    translator.feed(SSEEvent("ferryman-eof", b""))  # what stream_events appends at the end
    assert builder.status == "completed"


@pytest.mark.parametrize(
    ("frame", "status", "message", "code"),
    [
        (
            'data: {"error": {"message": "Internal error", "type": "server_error", "code": "internal"}}',
            502,
            "local: Internal error",
            "internal",
        ),
        ('data: {"error": {"message": "Too many", "code": 429}}', 429, "local: Too many", None),
        ('event: error\ndata: {"message": "Overloaded", "type": "overloaded_error"}', 503, "local: Overloaded", None),
        (
            'data: {"error": {"message": "Tool call validation failed", "code": "tool_use_failed",'
            ' "failed_generation": "{bad}"}}',
            502,
            "local: Tool call validation failed (failed_generation: {bad})",
            "tool_use_failed",
        ),
        ('data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "error"}]}', 502, None, "upstream_error"),
    ],
)
def test_error_frames_raise(frame: str, status: int, message: str | None, code: str | None) -> None:
    call = _call({"input": "q", "stream": True}, "m")
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    [event] = SSEDecoder().feed((frame + "\n\n").encode())
    with pytest.raises(ProviderError) as info:
        PROVIDERS["local"].translator(builder).feed(event)
    assert info.value.status == status and info.value.code == code
    if message is not None:
        assert info.value.message == message


# ---- request mapping ----------------------------------------------------------------------------


def test_messages_from_every_kind_of_input() -> None:
    native = _native(
        "openai",
        {
            "instructions": "Be brief.",
            "input": [
                {"role": "developer", "content": "Use metric units."},
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Look:"},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
                    ],
                },
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "one"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [
                        {"type": "input_text", "text": "see image"},
                        {"type": "input_image", "image_url": "https://e.org/i.png"},
                    ],
                },
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:sig"},
                {"role": "user", "content": "Thanks"},
            ],
        },
    )
    assert native["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Use metric units."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "see image"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://e.org/i.png"}}]},
        {"role": "user", "content": "Thanks"},
    ]


def test_files() -> None:
    pdf = {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}
    native = _native("openai", {"input": [{"role": "user", "content": [pdf]}]})
    assert native["messages"][0]["content"] == [
        {"type": "file", "file": {"file_data": pdf["file_data"], "filename": "a.pdf"}}
    ]
    url = {"type": "input_file", "filename": "a.pdf", "file_url": "https://e.org/a.pdf"}
    native = _native("mistral", {"input": [{"role": "user", "content": [url]}]})
    assert native["messages"][0]["content"] == [
        {"type": "document_url", "document_url": "https://e.org/a.pdf", "document_name": "a.pdf"}
    ]
    for provider, part in (("groq", pdf), ("openai", url), ("mistral", pdf)):
        with pytest.raises(InvalidRequestError) as info:
            _native(provider, {"input": [{"role": "user", "content": [part]}]})
        assert info.value.param == "input[0].content[0]" and f"'{provider}'" in info.value.message


@pytest.mark.parametrize(
    ("provider", "choice", "expected"),
    [
        ("openai", "auto", "auto"),
        ("openai", "none", "none"),
        ("openai", "required", "required"),
        ("mistral", "required", "any"),
        (
            "groq",
            {"type": "function", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
        (
            "openai",
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_weather"}]},
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
        ),
    ],
)
def test_tool_choice(provider: str, choice: Any, expected: Any) -> None:
    native = _native(
        provider, {"input": "q", "tools": [WEATHER_TOOL], "tool_choice": choice, "parallel_tool_calls": False}
    )
    assert native["tool_choice"] == expected
    assert native["parallel_tool_calls"] is False


def test_allowed_tools_narrow_the_list_elsewhere() -> None:
    other = {**WEATHER_TOOL, "name": "other"}
    choice = {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "other"}]}
    native = _native("groq", {"input": "q", "tools": [WEATHER_TOOL, other], "tool_choice": choice})
    assert [t["function"]["name"] for t in native["tools"]] == ["other"] and native["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("provider", "reasoning", "expected"),
    [
        ("openai", {"effort": "high"}, {"reasoning_effort": "high"}),
        ("groq", {"effort": "medium"}, {"reasoning_effort": "medium", "reasoning_format": "parsed"}),
        ("groq", {"effort": "none"}, {"reasoning_effort": "none"}),
        ("mistral", {"effort": "xhigh"}, {"reasoning_effort": "high"}),
        ("deepseek", {"effort": "none"}, {"thinking": {"type": "disabled"}}),
        ("deepseek", {"effort": "medium"}, {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("openrouter", {"effort": "low"}, {"reasoning": {"effort": "low"}}),
        ("openrouter", {"max_tokens": 1024}, {"reasoning": {"max_tokens": 1024}}),
        ("openai", {"max_tokens": 0}, {"reasoning_effort": "none"}),
        ("openai", {"summary": "auto"}, {}),
    ],
)
def test_reasoning(provider: str, reasoning: dict[str, Any], expected: dict[str, Any]) -> None:
    model = {"openai": "gpt-5", "groq": "openai/gpt-oss-120b"}.get(provider, "m")  # models that reason
    native = _native(provider, {"input": "q", "reasoning": reasoning}, model)
    keys = ("reasoning_effort", "reasoning_format", "thinking", "reasoning")
    assert {k: native[k] for k in keys if k in native} == expected


def test_output_format_tokens_sampling_and_extras() -> None:
    body = {
        "input": "q",
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "max_output_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_logprobs": 3,
        "user": "u-1",
        "service_tier": "flex",
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "seed": 7,
        "stop": "END",
        "metadata": {"a": "b"},
        "store": True,
        "include": ["reasoning.encrypted_content"],
        "truncation": "auto",
    }
    native = _native("openai", body, stream=True)
    assert native == {
        "model": "m",
        "messages": [{"role": "user", "content": "q"}],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "logprobs": True,
        "top_logprobs": 3,
        "verbosity": "low",
        "user": "u-1",
        "service_tier": "flex",
        "prompt_cache_key": "k",
        "safety_identifier": "s",
        "seed": 7,
        "stop": "END",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    mistral = _native("mistral", {**body, "top_logprobs": 0}, stream=True)
    assert mistral["max_tokens"] == 100 and "max_completion_tokens" not in mistral
    for key in ("stream_options", "verbosity", "user", "service_tier", "logprobs", "prompt_cache_key"):
        assert key not in mistral
    nested = {"type": "json_schema", "json_schema": {"name": "X", "schema": CITY, "strict": True}}
    assert _native("groq", {"input": "q", "text": {"format": nested}})["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "X", "schema": CITY, "strict": True},
    }


def test_hints_are_accepted() -> None:
    assert {"parallel_tool_calls", "store", "metadata", "include", "truncation", "reasoning.summary"} <= HINTS
    native = _native(
        "mistral",
        {
            "input": "q",
            "store": False,
            "metadata": {"k": "v"},
            "include": ["x"],
            "truncation": "disabled",
            "background": False,
        },
    )
    assert set(native) == {"model", "messages", "stream"}


@pytest.mark.parametrize(
    ("provider", "body", "param"),
    [
        ("openai", {"prompt": {"id": "pmpt_1"}}, "prompt"),
        ("openai", {"conversation": "conv_1"}, "conversation"),
        ("openai", {"previous_response_id": "resp_1"}, "previous_response_id"),
        ("openai", {"max_tool_calls": 3}, "max_tool_calls"),
        ("openai", {"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        (
            "openai",
            {"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input[0].content[0].type",
        ),
        (
            "openai",
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]},
            "input[0].content[0].file_id",
        ),
        ("openai", {"tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}, "tools[0].type"),
        ("groq", {"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ("perplexity", {"tools": [WEATHER_TOOL]}, "tools[0].type"),
        ("openai", {"tools": [WEATHER_TOOL], "tool_choice": {"type": "web_search"}}, "tool_choice.type"),
        ("deepseek", {"text": {"format": {"type": "json_schema", "name": "x", "schema": CITY}}}, "text.format"),
        ("perplexity", {"text": {"format": {"type": "json_object"}}}, "text.format"),
        ("groq", {"top_logprobs": 2}, "top_logprobs"),
    ],
)
def test_unsupported_fields_are_refused(provider: str, body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native(provider, {"input": "q", **body})
    assert info.value.status == 400 and info.value.param == param
    assert f"'{provider}'" in info.value.message and info.value.code == "unsupported_parameter"


def test_quirks_lookup() -> None:
    assert quirks_for("groq", None) is QUIRKS["groq"]
    assert quirks_for("my-groq", "https://api.groq.com/openai/v1") is QUIRKS["groq"]
    assert quirks_for("team-mistral", "https://api.mistral.ai/v1") is QUIRKS["mistral"]
    assert quirks_for("local-vllm", "http://127.0.0.1:8000/v1") is DEFAULT
    assert quirks_for("notx.ai", "https://example.com/v1") is DEFAULT


# ---- end to end: the openai SDK, a real gateway, fake chat servers --------------------------------


@pytest.fixture(scope="module")
def gateway_chat(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    def entry(path: str, **extra: Any) -> dict[str, Any]:
        return {"base_url": f"{upstream.url}{path}", "keys": [{"value": SECRET}], "max_retries": 0, **extra}

    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('chat-store')}/store.db",
        "providers": {
            "openai": entry("/v1", type="openai-chat"),
            "groq": entry("/openai/v1"),
            "mistral": entry("/v1"),
            "openrouter": entry("/api/v1"),
            "local": {"type": "openai-chat", "base_url": f"{upstream.url}/local/v1", "max_retries": 1},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_chat: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_chat.url}/v1", api_key="client-key", max_retries=0)


def _sent(fake: FakeUpstream, path: str = "/v1/chat/completions") -> dict[str, Any]:
    [received] = fake.requests_to(path)
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["authorization"] == f"Bearer {SECRET}"
    return received.json


def test_e2e_create_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/chat/completions", Reply.fixture("openai-chat/text_basic"))
    resp = sdk.responses.create(model="openai/gpt-4o", **CASES["openai-chat/text_basic"])
    assert resp.output_text == "The capital of France is Paris."
    assert resp.status == "completed" and resp.model == "gpt-4o-2024-08-06"
    assert resp.extra_fields["provider"] == "openai"  # type: ignore[attr-defined]
    assert resp.usage is not None and resp.usage.input_tokens == 24 and resp.usage.output_tokens == 8
    sent = _sent(fake)
    assert _comparable(sent) == _comparable(_fixture("openai-chat", "text_basic")["request"]["body"])
    assert SECRET not in resp.model_dump_json()


def test_e2e_stream_helper_text(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/chat/completions", Reply.fixture("openai-chat/text_stream"))
    with sdk.responses.stream(model="openai/gpt-4o", **CASES["openai-chat/text_stream"]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert events[0].response.model == "gpt-4o-2024-08-06"  # type: ignore[union-attr]
    assert types.count("response.output_text.delta") == 8
    assert final.output_text == "The capital of Mexico is Mexico City."
    assert final.usage is not None and final.usage.input_tokens == 14
    sent = _sent(fake)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_e2e_raw_stream_tool_call(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/chat/completions", Reply.fixture("openai-chat/tool_call_stream"))
    events = list(
        sdk.responses.create(model="openai/gpt-4o-mini", stream=True, **CASES["openai-chat/tool_call_stream"])
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in done] == ['{"country":"UK"}']  # type: ignore[union-attr]
    final = events[-1]
    assert final.type == "response.completed"
    assert final.response.output[0].call_id == "call_ZR5UUuTt3pf61kjwAJIYdVMj"  # type: ignore[union-attr]


def test_e2e_tool_call_and_next_turn(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/chat/completions", Reply.fixture("mistral-chat/tool_call"))
    first = sdk.responses.create(model="mistral/mistral-large-latest", **CASES["mistral-chat/tool_call"])
    [call] = first.output
    assert call.type == "function_call" and call.call_id == "KikbB849t"
    fake.reset()
    fake.add("/v1/chat/completions", Reply.fixture("mistral-chat/tool_result_multi_turn"))
    second = sdk.responses.create(
        model="mistral/mistral-large-latest",
        input=[
            {"role": "user", "content": "What's the weather in Paris?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 22C in Paris"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="auto",
        top_p=1.0,
    )
    assert second.output_text.startswith("The current weather in **Paris**")
    want = _fixture("mistral-chat", "tool_result_multi_turn")["request"]["body"]
    assert _comparable(_sent(fake)) == _comparable(want)


def test_e2e_reasoning_create_and_next_turn(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/openai/v1/chat/completions", Reply.fixture("groq-chat/reasoning"))
    first = sdk.responses.create(model="groq/openai/gpt-oss-120b", **CASES["groq-chat/reasoning"])
    assert [item.type for item in first.output] == ["reasoning", "message"] and first.output_text == "4"
    assert first.usage is not None and first.usage.output_tokens_details.reasoning_tokens == 31
    sent = _sent(fake, "/openai/v1/chat/completions")
    assert sent["reasoning_effort"] == "medium" and sent["reasoning_format"] == "parsed"
    fake.reset()
    fake.add("/openai/v1/chat/completions", Reply.fixture("groq-chat/text_basic"))
    sdk.responses.create(
        model="groq/openai/gpt-oss-120b",
        input=[
            {"role": "user", "content": "What is 2+2? Reply with just the number."},
            *[item.model_dump(exclude_none=True) for item in first.output],
            {"role": "user", "content": "And 3+3?"},
        ],
    )
    thought = first.output[0].content[0].text  # type: ignore[union-attr]
    assert _sent(fake, "/openai/v1/chat/completions")["messages"][1] == {
        "role": "assistant",
        "content": f"<think>\n{thought}\n</think>\n\n4",
    }


def test_e2e_stream_reasoning_tool_call(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/openai/v1/chat/completions", Reply.fixture("groq-chat/tool_call_stream"))
    with sdk.responses.stream(model="groq/openai/gpt-oss-120b", **_groq_reasoning_turn()) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.reasoning_text.delta" in types
    assert [i.type for i in final.output] == ["reasoning", "function_call"]
    want = _fixture("groq-chat", "tool_call_stream")["request"]["body"]
    assert _comparable(_sent(fake, "/openai/v1/chat/completions")) == _comparable(want)


@pytest.mark.parametrize(
    ("fixture", "model", "path", "status", "message"),
    [
        (
            "openai-chat/error_400",
            "openai/gpt-4o",
            "/v1/chat/completions",
            400,
            "openai: Web search options not supported with this model.",
        ),
        (
            "openai-chat/error_404_model_not_found",
            "openai/gpt-5.2-proo",
            "/v1/chat/completions",
            404,
            "openai: The model `gpt-5.2-proo` does not exist or you do not have access to it.",
        ),
        (
            "groq-chat/error_400_tool_use_failed",
            "groq/openai/gpt-oss-120b",
            "/openai/v1/chat/completions",
            400,
            "groq: Tool call validation failed: tool call validation failed: parameters for tool get_something_by_name"
            " did not match schema: errors: [missing properties: 'name', additionalProperties 'foo' not allowed]"
            ' (failed_generation: {"name": "get_something_by_name", "arguments": {\n  "foo": "bar"\n}})',
        ),
        (
            "groq-chat/error_404_model_not_found",
            "groq/llama-3.3-70b-versatlie",
            "/openai/v1/chat/completions",
            404,
            "groq: The model `llama-3.3-70b-versatlie` does not exist or you do not have access to it.",
        ),
        (
            "openrouter-chat/error_429",
            "openrouter/google/gemini-2.0-flash-exp:free",
            "/api/v1/chat/completions",
            429,
            "openrouter: Provider returned error (Google): google/gemini-2.0-flash-exp:free is temporarily"
            " rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits:"
            " https://openrouter.ai/settings/integrations",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_e2e_provider_errors(
    sdk: openai.OpenAI, fake: FakeUpstream, fixture: str, model: str, path: str, status: int, message: str, stream: bool
) -> None:
    fake.add(path, Reply.fixture(fixture))
    body = CASES[fixture]
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(sdk.responses.create(model=model, stream=True, **body))
        else:
            sdk.responses.create(model=model, **body)
    assert info.value.status_code == status
    error = info.value.body
    assert isinstance(error, dict)
    assert error["message"] == message and error["provider"] == model.split("/")[0]
    assert SECRET not in str(error)
    want = _fixture(*fixture.split("/"))["request"]["body"]
    sent = fake.requests_to(path)[0].json
    if stream:  # the recording was not streamed; a stream also asks for its usage where it can
        sent.pop("stream_options", None)
    assert _comparable(sent) == _comparable(want)


ERROR_FRAME = 'data: {"error": {"message": "Internal server error", "type": "server_error", "code": "internal_error"}}'


def test_e2e_error_frame_mid_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    blocks = _fixture("openai-chat", "text_stream")["response"]["sse"]
    fake.add("/v1/chat/completions", Reply(sse=[*blocks[:3], ERROR_FRAME]))
    events = list(sdk.responses.create(model="openai/gpt-4o", stream=True, input="hi"))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    error, failed = events[-2], events[-1]
    assert error.message == "openai: Internal server error"  # type: ignore[union-attr]
    assert failed.response.status == "failed"  # type: ignore[union-attr]
    assert failed.response.error is not None and failed.response.error.message == "openai: Internal server error"  # type: ignore[union-attr]


def test_e2e_error_frame_first_is_a_retryable_status(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    overloaded = 'data: {"error": {"message": "Overloaded", "type": "overloaded_error"}}'
    fake.add("/local/v1/chat/completions", Reply(sse=[overloaded]), times=1)
    fake.add("/local/v1/chat/completions", Reply.fixture("openai-chat/text_stream"))
    # the local entry has one retry and no key (a local server needs none)
    events = list(sdk.responses.create(model="local/llama3", stream=True, input="hi"))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "The capital of Mexico is Mexico City."  # type: ignore[union-attr]
    received = fake.requests_to("/local/v1/chat/completions")
    assert len(received) == 2
    assert "authorization" not in {k.lower() for k in received[0].headers}
    fake.reset()
    fake.add("/v1/chat/completions", Reply(sse=[overloaded]))
    with pytest.raises(openai.APIStatusError) as info:
        list(sdk.responses.create(model="openai/gpt-4o", stream=True, input="hi"))
    assert info.value.status_code == 503
    assert isinstance(info.value.body, dict) and info.value.body["message"] == "openai: Overloaded"


def test_e2e_json_answer_to_a_stream_request(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/chat/completions", Reply.fixture("openai-chat/text_basic"))  # a server that ignores stream
    events = list(sdk.responses.create(model="openai/gpt-4o", stream=True, input="q"))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "The capital of France is Paris."  # type: ignore[union-attr]


def test_e2e_unsupported_field(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="groq/llama-3.3-70b-versatile", input="hi", top_logprobs=2)
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict)
    assert body["param"] == "top_logprobs" and "'groq'" in body["message"]
    assert fake.received == []


def test_e2e_max_output_tokens_truncation(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    exchange = _fixture("openai-chat", "text_basic")
    body = copy.deepcopy(exchange["response"]["body"])
    body["choices"][0]["finish_reason"] = "length"
    fake.add("/v1/chat/completions", Reply(json=body))
    resp = sdk.responses.create(model="openai/gpt-4o", input="q", max_output_tokens=8)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert _sent(fake)["max_completion_tokens"] == 8
    fake.reset()
    blocks = [
        b.replace('"finish_reason":"stop"', '"finish_reason":"length"')
        for b in _fixture("openai-chat", "text_stream")["response"]["sse"]
    ]
    fake.add("/v1/chat/completions", Reply(sse=blocks))
    events = list(
        sdk.responses.create(model="mistral/mistral-small-latest", stream=True, input="q", max_output_tokens=8)
    )
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]
    sent = _sent(fake)
    assert sent["max_tokens"] == 8 and "stream_options" not in sent  # Mistral's quirks


@pytest.mark.parametrize(
    ("provider", "model"),
    [("groq", "llama-3.3-70b-versatile"), ("groq", "meta-llama/llama-4-scout-17b-16e-instruct"), ("openai", "gpt-4o")],
)
def test_reasoning_on_a_model_that_does_not_reason_is_a_hint(provider: str, model: str) -> None:
    for reasoning in ({"effort": "high"}, {"effort": "none"}, {"max_tokens": 1000}):
        native = _native(provider, {"input": "q", "reasoning": reasoning}, model)
        assert not {"reasoning_effort", "reasoning_format", "reasoning", "thinking"} & set(native)


def test_a_budget_is_still_refused_on_a_groq_model_that_reasons() -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native("groq", {"input": "q", "reasoning": {"max_tokens": 1000}}, "openai/gpt-oss-120b")
    assert info.value.param == "reasoning.max_tokens"
