"""The Gemini / Vertex AI adapter against recorded Gemini traffic (gemini-generatecontent fixtures).

Each fixture is checked both ways: the Responses request a user would send becomes the recorded
Gemini request (compared on what a Responses request can express), and the recorded reply or stream
becomes the right Responses output. Then the whole gateway runs against the fake upstream with the
official openai SDK as client.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import google.oauth2.service_account
import msgspec
import openai
import pytest
from openai.types.responses import Response

from ferryman.config import ApiKey, Secret, config_from_dict
from ferryman.providers.base import Call, SSEEvent
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.gemini import HINTS, GeminiProvider, VertexProvider
from ferryman.providers.gemini.auth import TokenSource
from ferryman.providers.gemini.request import SKIP_SIGNATURE
from ferryman.providers.gemini.schema import function_parameters
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture
from tests.providers.stream_checks import check_events

FOLDER = "gemini-generatecontent"
KEY = "test-gemini-key-not-real"


def fx(name: str) -> dict[str, Any]:
    return load_fixture(f"{FOLDER}/{name}")


def b64bytes(value: str) -> bytes:
    """Signatures and inline data: the recorder's SDK re-encoded them URL-safe; compare the bytes."""
    value = value.replace("-", "+").replace("_", "/")
    return base64.b64decode(value + "=" * (-len(value) % 4))


def provider(kind: str = "gemini", **entry: Any) -> GeminiProvider:
    entry.setdefault("keys", [{"value": KEY}])
    config = config_from_dict({"providers": {kind: entry}, "store": False}, {})
    cls = VertexProvider if kind == "vertex" else GeminiProvider
    return cls(config.providers[kind])


GEMINI = provider()


def call(deployment: str, **body: Any) -> Call:
    raw, req = validate_request(msgspec.json.encode({"model": f"gemini/{deployment}", **body}))
    return Call(req, raw, deployment, None)


def native(c: Call, *, stream: bool = False, p: GeminiProvider = GEMINI) -> dict[str, Any]:
    return p.native_request(c, stream=stream)


def reply(c: Call, body: Any, p: GeminiProvider = GEMINI) -> dict[str, Any]:
    builder = ResponseBuilder(c.request, c.raw, c.deployment)
    p.parse_reply(body, builder)
    response = builder.response()
    Response.model_validate(response)
    return response


def stream(c: Call, blocks: list[str], p: GeminiProvider = GEMINI) -> list[dict[str, Any]]:
    """The recorded SSE through the adapter's translator, as the gateway pumps it; every event checked."""
    builder = ResponseBuilder(c.request, c.raw, c.deployment)
    builder.start()
    events = msgspec.to_builtins(builder.events())
    decoder = SSEDecoder()
    translator = p.translator(builder)
    for ev in decoder.feed(("\r\n\r\n".join(blocks) + "\r\n\r\n").encode()):
        translator.feed(SSEEvent(ev.event, ev.data))
        events += msgspec.to_builtins(builder.events())
        if builder.status != "in_progress":
            break
    check_events(events)
    return events


def final_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return events[-1]["response"]


def output_text(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message" for part in item["content"])


def recorded(name: str) -> dict[str, Any]:
    """The recorded request body, minus what only the recorder's SDK adds (responseModalities TEXT)."""
    body = copy.deepcopy(fx(name)["request"]["body"])
    body.get("generationConfig", {}).pop("responseModalities", None)
    if body.get("generationConfig") == {}:
        del body["generationConfig"]  # an empty config and none are the same request
    if "systemInstruction" in body:
        body["systemInstruction"].pop("role", None)  # Gemini ignores a system instruction's role
    return body


def usage_of(response: dict[str, Any]) -> tuple[int, int, int, int]:
    u = response["usage"]
    return (
        u["input_tokens"],
        u["output_tokens"],
        u["output_tokens_details"]["reasoning_tokens"],
        u["input_tokens_details"]["cached_tokens"],
    )


# ---- every fixture: request out, reply back -------------------------------------------------------


def test_text_basic() -> None:
    c = call("gemini-2.0-flash", instructions="You are a helpful assistant.", input="What is the capital of France?")
    body = native(c)
    want = recorded("text_basic")
    assert body["contents"] == want["contents"]
    assert body["systemInstruction"] == want["systemInstruction"]
    assert "generationConfig" not in body and "generationConfig" not in want
    assert GEMINI.url(c, stream=False).endswith("/v1beta/models/gemini-2.0-flash:generateContent")
    assert fx("text_basic")["request"]["path"] == "/v1beta/models/gemini-2.0-flash:generateContent"

    out = reply(c, fx("text_basic")["response"]["body"])
    assert out["status"] == "completed"
    assert [i["type"] for i in out["output"]] == ["message"]
    assert output_text(out) == "The capital of France is Paris.\n"
    assert usage_of(out) == (13, 8, 0, 0)


def test_text_stream() -> None:
    c = call(
        "gemini-2.0-flash-exp",
        instructions="You are a helpful chatbot.",
        input="What is the capital of France?",
        temperature=0.0,
        stream=True,
    )
    body = native(c, stream=True)
    want = recorded("text_stream")
    assert body == want
    assert GEMINI.url(c, stream=True).endswith(fx("text_stream")["request"]["path"])

    events = stream(c, fx("text_stream")["response"]["sse"])
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["The", " capital of France", " is Paris.\n"]
    final = final_of(events)
    assert final["status"] == "completed"
    assert output_text(final) == "The capital of France is Paris.\n"
    assert usage_of(final) == (13, 8, 0, 0)  # the last chunk's usage wins


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
TOOL_CALL_SIG = fx("tool_call")["response"]["body"]["candidates"][0]["content"]["parts"][0]["thoughtSignature"]


def test_tool_call() -> None:
    c = call("gemini-2.5-flash", input="What's the weather in Paris?", tools=[WEATHER_TOOL], tool_choice="auto")
    body = native(c)
    want = recorded("tool_call")
    assert body["contents"] == want["contents"]
    assert body["toolConfig"] == want["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    [decl] = body["tools"][0]["functionDeclarations"]
    [rec] = want["tools"][0]["functionDeclarations"]
    assert (decl["name"], decl["description"]) == (rec["name"], rec["description"])
    # the recorder sent JSON Schema (parameters_json_schema); the same schema as Gemini's Schema object
    assert decl["parameters"] == {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}
    assert decl["parameters"] == function_parameters(rec["parameters_json_schema"])

    out = reply(c, fx("tool_call")["response"]["body"])
    assert [i["type"] for i in out["output"]] == ["reasoning", "function_call"]
    reasoning, fc = out["output"]
    assert reasoning["encrypted_content"] == "gemini:" + TOOL_CALL_SIG
    assert reasoning["summary"] == []
    assert fc["name"] == "get_weather"
    assert json.loads(fc["arguments"]) == {"city": "Paris"}
    assert fc["call_id"].startswith("call_") and len(fc["call_id"]) == 29  # Gemini 2.5 sends no id
    assert fc["status"] == "completed"
    assert out["status"] == "completed"
    assert usage_of(out) == (49, 15 + 48, 48, 0)


def test_tool_result_multi_turn() -> None:
    rec = fx("tool_result_multi_turn")["request"]["body"]
    call_id = rec["contents"][1]["parts"][0]["functionCall"]["id"]
    c = call(
        "gemini-2.5-flash",
        input=[
            {"role": "user", "content": "What's the weather in Paris?"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gemini:" + TOOL_CALL_SIG},
            {"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": call_id, "output": "Sunny, 22C in Paris"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    body = native(c)
    user, model, result = body["contents"]
    assert user == rec["contents"][0]
    assert model["role"] == "model"
    [part] = model["parts"]
    rec_part = rec["contents"][1]["parts"][0]
    assert part["functionCall"] == rec_part["functionCall"]
    assert b64bytes(part["thoughtSignature"]) == b64bytes(rec_part["thoughtSignature"])
    assert part["thoughtSignature"] == TOOL_CALL_SIG  # exactly as Gemini sent it
    assert result["role"] == "user"
    [resp] = result["parts"]
    rec_resp = rec["contents"][2]["parts"][0]["functionResponse"]
    assert (resp["functionResponse"]["id"], resp["functionResponse"]["name"]) == (rec_resp["id"], rec_resp["name"])
    # pydantic-ai wraps a tool's return as {"return_value": ...}; Google documents the "output" key
    assert resp["functionResponse"]["response"] == {"output": "Sunny, 22C in Paris"}
    assert list(rec_resp["response"].values()) == ["Sunny, 22C in Paris"]
    assert body["toolConfig"] == rec["toolConfig"]

    out = reply(c, fx("tool_result_multi_turn")["response"]["body"])
    assert output_text(out) == "The weather in Paris is sunny with a temperature of 22C."
    assert usage_of(out) == (88, 15, 0, 0)


def test_tool_call_state_carries_into_the_next_turn() -> None:
    """Turn 1's output items, replayed as input, give Gemini back its signature and the call id."""
    first = call("gemini-2.5-flash", input="What's the weather in Paris?", tools=[WEATHER_TOOL])
    out = reply(first, fx("tool_call")["response"]["body"])
    fc = out["output"][1]
    second = call(
        "gemini-2.5-flash",
        input=[
            {"role": "user", "content": "What's the weather in Paris?"},
            *out["output"],
            {"type": "function_call_output", "call_id": fc["call_id"], "output": "Sunny, 22C in Paris"},
        ],
        tools=[WEATHER_TOOL],
    )
    body = native(second)
    [part] = body["contents"][1]["parts"]
    assert part["thoughtSignature"] == TOOL_CALL_SIG
    assert part["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}, "id": fc["call_id"]}
    assert body["contents"][2]["parts"][0]["functionResponse"]["id"] == fc["call_id"]
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


CAPITAL_TOOLS = [
    {
        "type": "function",
        "name": "get_capital",
        "description": "Get the capital of a country.",
        "parameters": {
            "type": "object",
            "properties": {"country": {"type": "string", "description": "The country name.", "title": "Country"}},
            "required": ["country"],
            "additionalProperties": False,
        },
    },
    {
        "type": "function",
        "name": "get_temperature",
        "description": "Get the temperature in a city.",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name."}},
            "required": ["city"],
        },
    },
]


def test_tool_call_stream() -> None:
    c = call(
        "gemini-2.0-flash",
        instructions="You are a helpful chatbot.",
        input="What is the temperature of the capital of France?",
        tools=CAPITAL_TOOLS,
        stream=True,
    )
    body = native(c, stream=True)
    assert body == recorded("tool_call_stream")  # Gemini's Schema form, upper-case types and all

    events = stream(c, fx("tool_call_stream")["response"]["sse"])
    final = final_of(events)
    [fc] = final["output"]
    assert fc["type"] == "function_call" and fc["name"] == "get_capital"
    assert json.loads(fc["arguments"]) == {"country": "France"}
    done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [json.loads(e["arguments"]) for e in done] == [{"country": "France"}]
    assert final["status"] == "completed"
    assert usage_of(final) == (52, 5, 0, 0)


DUMMY_TOOL = {"type": "function", "name": "dummy", "parameters": {"additionalProperties": False, "properties": {}}}


def test_thinking() -> None:
    c = call(
        "gemini-3-pro-preview",
        instructions="You are a helpful assistant.",
        input="How do I cross the street?",
        tools=[DUMMY_TOOL],
        reasoning={"summary": "auto"},
    )
    body = native(c)
    want = recorded("thinking")
    assert body["contents"] == want["contents"]
    assert body["systemInstruction"] == want["systemInstruction"]
    assert body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True}
    assert want["generationConfig"]["thinkingConfig"] == {"include_thoughts": True}  # the API takes both spellings
    # a function without parameters: Gemini's Schema form says so by leaving parameters out
    assert body["tools"] == [{"functionDeclarations": [{"name": "dummy", "description": ""}]}]
    assert want["tools"][0]["functionDeclarations"][0]["parameters_json_schema"]["properties"] == {}
    assert "toolConfig" not in body and "toolConfig" not in want

    parts = fx("thinking")["response"]["body"]["candidates"][0]["content"]["parts"]
    out = reply(c, fx("thinking")["response"]["body"])
    assert [i["type"] for i in out["output"]] == ["reasoning", "message"]
    reasoning, message = out["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": parts[0]["text"]}]
    assert reasoning["encrypted_content"] == "gemini:" + parts[1]["thoughtSignature"]
    assert message["content"][0]["text"] == parts[1]["text"]
    assert usage_of(out) == (29, 736 + 1001, 1001, 0)


def test_thinking_signature_goes_back_on_the_text_part() -> None:
    first = call(
        "gemini-3-pro-preview",
        input="How do I cross the street?",
        reasoning={"summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    out = reply(first, fx("thinking")["response"]["body"])
    second = call(
        "gemini-3-pro-preview",
        input=[
            {"role": "user", "content": "How do I cross the street?"},
            *out["output"],
            {"role": "user", "content": "And at night?"},
        ],
        reasoning={"summary": "auto"},
    )
    body = native(second)
    parts = fx("thinking")["response"]["body"]["candidates"][0]["content"]["parts"]
    model = body["contents"][1]
    assert model == {
        "role": "model",
        "parts": [{"text": parts[1]["text"], "thoughtSignature": parts[1]["thoughtSignature"]}],
    }
    assert body["contents"][2] == {"role": "user", "parts": [{"text": "And at night?"}]}


def test_thinking_stream() -> None:
    c = call(
        "gemini-2.5-pro",
        instructions="You are a helpful assistant.",
        input="How do I cross the street?",
        tools=[DUMMY_TOOL],
        reasoning={"summary": "auto"},
        stream=True,
    )
    body = native(c, stream=True)
    want = recorded("thinking_stream")
    assert body["contents"] == want["contents"]
    assert body["generationConfig"] == want["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}
    assert body["tools"] == [{"functionDeclarations": [{"name": "dummy", "description": ""}]}]

    blocks = fx("thinking_stream")["response"]["sse"]
    chunks = [json.loads(b.removeprefix("data: ")) for b in blocks]
    thoughts = [p["text"] for ch in chunks for p in ch["candidates"][0]["content"]["parts"] if p.get("thought")]
    texts = [p["text"] for ch in chunks for p in ch["candidates"][0]["content"]["parts"] if not p.get("thought")]
    sig = chunks[4]["candidates"][0]["content"]["parts"][0]["thoughtSignature"]

    events = stream(c, blocks)
    types = [e["type"] for e in events]
    assert types.count("response.reasoning_summary_text.delta") == 4
    assert types.index("response.reasoning_summary_text.done") < types.index("response.output_text.delta")
    final = final_of(events)
    reasoning, message = final["output"]
    assert reasoning["summary"][0]["text"] == "".join(thoughts)
    assert reasoning["encrypted_content"] == "gemini:" + sig
    assert message["content"][0]["text"] == "".join(texts)
    assert usage_of(final) == (34, 469 + 787, 787, 0)


def test_structured_output_json_schema() -> None:
    rec = recorded("structured_output_json_schema")
    schema = rec["generationConfig"]["responseJsonSchema"]
    c = call(
        "gemini-2.0-flash",
        input="What is the largest city in Mexico?",
        text={"format": {"type": "json_schema", "name": "CityLocation", "schema": schema, "strict": True}},
    )
    body = native(c)
    assert body == rec

    out = reply(c, fx("structured_output_json_schema")["response"]["body"])
    assert json.loads(output_text(out)) == {"city": "Mexico City", "country": "Mexico"}
    assert usage_of(out) == (8, 20, 0, 0)


def test_structured_output_variants() -> None:
    schema = {"$schema": "x", "type": "object", "properties": {"a": {"type": "integer"}}}
    nested = native(
        call("gemini-2.5-flash", input="x", text={"format": {"json_schema": {"name": "A", "schema": schema}}})
    )
    assert nested["generationConfig"]["responseJsonSchema"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}},
        "title": "A",
    }
    obj = native(call("gemini-2.5-flash", input="x", text={"format": {"type": "json_object"}, "verbosity": "low"}))
    assert obj["generationConfig"] == {"responseMimeType": "application/json"}


def test_image_input() -> None:
    rec = recorded("image_input")
    rec_blob = rec["contents"][0]["parts"][1]["inlineData"]
    data_url = "data:image/jpeg;base64," + base64.b64encode(b64bytes(rec_blob["data"])).decode()
    c = call(
        "gemini-2.0-flash",
        instructions="You are a helpful chatbot.",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this vegetable?"},
                    {"type": "input_image", "image_url": data_url, "detail": "auto"},
                ],
            }
        ],
    )
    body = native(c)
    text, image = body["contents"][0]["parts"]
    assert text == rec["contents"][0]["parts"][0]
    assert image["inlineData"]["mimeType"] == rec_blob["mimeType"] == "image/jpeg"
    assert b64bytes(image["inlineData"]["data"]) == b64bytes(rec_blob["data"])
    assert body["systemInstruction"] == rec["systemInstruction"]
    assert "generationConfig" not in body  # detail auto: Gemini's default resolution

    out = reply(c, fx("image_input")["response"]["body"])
    assert output_text(out) == "That is a potato."
    assert usage_of(out) == (1817, 5, 0, 0)


def test_image_and_file_urls_become_file_data() -> None:
    c = call(
        "gemini-2.5-flash",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_image", "image_url": "https://example.com/a/photo.PNG?x=1", "detail": "high"},
                    {"type": "input_image", "image_url": "gs://bucket/cat.webp", "detail": "low"},
                    {"type": "input_file", "file_url": "https://example.com/report.pdf"},
                    {"type": "input_file", "filename": "notes.txt", "file_data": base64.b64encode(b"hi").decode()},
                    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0="},
                    {"type": "input_image", "file_id": "files/abc123"},
                ],
            }
        ],
    )
    parts = native(c)["contents"][0]["parts"]
    assert parts == [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a/photo.PNG?x=1"}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "gs://bucket/cat.webp"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/report.pdf"}},
        {"inlineData": {"mimeType": "text/plain", "data": "aGk="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
    ]
    assert native(c)["generationConfig"] == {"mediaResolution": "MEDIA_RESOLUTION_HIGH"}


def test_web_search() -> None:
    c = call(
        "gemini-2.5-pro",
        instructions="You are a helpful chatbot.",
        input="What is the weather in San Francisco today?",
        tools=[{"type": "web_search", "search_context_size": "medium"}],
    )
    body = native(c)
    want = recorded("web_search")
    assert body["tools"] == want["tools"] == [{"googleSearch": {}}]
    assert body["contents"] == want["contents"]
    assert "toolConfig" not in body  # no function config without functions: Gemini rejects one

    candidate = fx("web_search")["response"]["body"]["candidates"][0]
    grounding = candidate["groundingMetadata"]
    out = reply(c, fx("web_search")["response"]["body"])
    assert [i["type"] for i in out["output"]] == ["web_search_call", "message"]
    search = out["output"][0]
    assert search["status"] == "completed"
    assert search["action"]["query"] == "weather in San Francisco today"
    assert [s["url"] for s in search["action"]["sources"]] == [c["web"]["uri"] for c in grounding["groundingChunks"]]
    text = output_text(out)
    assert text == candidate["content"]["parts"][0]["text"]
    annotations = out["output"][1]["content"][0]["annotations"]
    assert len(annotations) == len(grounding["groundingSupports"])
    for ann, support in zip(annotations, grounding["groundingSupports"], strict=True):
        assert ann["type"] == "url_citation"
        assert text[ann["start_index"] : ann["end_index"]] == support["segment"]["text"]  # bytes -> characters
        chunk = grounding["groundingChunks"][support["groundingChunkIndices"][0]]["web"]
        assert (ann["url"], ann["title"]) == (chunk["uri"], chunk["title"])
    # search results are billed as prompt tokens
    assert usage_of(out) == (17 + 119, 201 + 213, 213, 0)
    assert out["usage"]["total_tokens"] == fx("web_search")["response"]["body"]["usageMetadata"]["totalTokenCount"]


def test_web_search_in_a_stream_comes_after_the_text() -> None:
    body = fx("web_search")["response"]["body"]
    text = body["candidates"][0]["content"]["parts"][0]["text"]
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": text[:100]}]}}]}
    last = copy.deepcopy(body)
    last["candidates"][0]["content"]["parts"][0]["text"] = text[100:]
    c = call("gemini-2.5-pro", input="weather?", tools=[{"type": "web_search"}], stream=True)
    events = stream(c, [f"data: {json.dumps(first)}", f"data: {json.dumps(last)}"])
    final = final_of(events)
    assert [i["type"] for i in final["output"]] == ["message", "web_search_call"]
    ann = final["output"][0]["content"][0]["annotations"]
    assert len(ann) == 6 and all(text[a["start_index"] : a["end_index"]] for a in ann)


def test_error_404_request() -> None:
    c = call("gemini-3.6-flahs", input="hello")
    assert native(c)["contents"] == recorded("error_404_model_not_found")["contents"]


# ---- request details --------------------------------------------------------------------------


def test_roles_system_and_merged_turns() -> None:
    c = call(
        "gemini-2.5-flash",
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "input_text", "text": "there"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Bonjour"}]},
            {"role": "assistant", "content": "!"},
            {"role": "system", "content": [{"type": "input_text", "text": "No emojis."}]},
            {"role": "user", "content": "Thanks"},
        ],
    )
    body = native(c)
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Answer in French."}, {"text": "No emojis."}]
    }
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
        {"role": "model", "parts": [{"text": "Bonjour"}, {"text": "!"}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


def test_function_outputs_follow_their_calls() -> None:
    c = call(
        "gemini-2.0-flash",
        input=[
            {"role": "user", "content": "Paris and Rome?"},
            {"type": "function_call", "call_id": "a", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "b", "name": "get_weather", "arguments": ""},
            {"type": "function_call_output", "call_id": "a", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "b",
                "output": [
                    {"type": "input_text", "text": "rain"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBO"},
                ],
            },
            {"type": "reasoning", "summary": [], "encrypted_content": "anthropic:sig"},  # another provider's
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        ],
    )
    body = native(c)
    assert body["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "a"}},
            {"functionCall": {"name": "get_weather", "args": {}, "id": "b"}},
        ],
    }
    assert body["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"id": "a", "name": "get_weather", "response": {"output": "sunny"}}},
            {"functionResponse": {"id": "b", "name": "get_weather", "response": {"output": "rain"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        ],
    }
    assert len(body["contents"]) == 3


def test_calls_without_signatures_get_the_documented_placeholder_on_gemini_3() -> None:
    history = [
        {"role": "user", "content": "Paris?"},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
        {"type": "function_call_output", "call_id": "b", "output": "2"},
    ]
    parts = native(call("gemini-3-flash-preview", input=history))["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == SKIP_SIGNATURE  # only the first call of a turn is checked
    assert "thoughtSignature" not in parts[1]
    older = native(call("gemini-2.5-flash", input=history))["contents"][1]["parts"]
    assert all("thoughtSignature" not in p for p in older)


def test_trailing_signature_round_trip() -> None:
    """Gemini 3 may sign an empty last text part; the signature comes back on the turn's text."""
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}]},
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "", "thoughtSignature": "U0lH"}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "thoughtsTokenCount": 9},
        },
    ]
    c = call("gemini-3-flash-preview", input="hi", stream=True, include=["reasoning.encrypted_content"])
    final = final_of(stream(c, [f"data: {json.dumps(ch)}" for ch in chunks]))
    assert [i["type"] for i in final["output"]] == ["message", "reasoning"]
    assert final["output"][1]["encrypted_content"] == "gemini:U0lH"
    history = [{"role": "user", "content": "hi"}, *final["output"], {"role": "user", "content": "more"}]
    nxt = native(call("gemini-3-flash-preview", input=history))
    assert nxt["contents"][1] == {"role": "model", "parts": [{"text": "Hello", "thoughtSignature": "U0lH"}]}
    after_call = [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "reasoning", "summary": [], "encrypted_content": "gemini:U0lH"},
    ]
    parts = native(call("gemini-2.5-flash", input=after_call))["contents"][1]["parts"]
    assert parts[-1] == {"text": "", "thoughtSignature": "U0lH"}


def test_signed_text_part_mid_message_is_its_own_item() -> None:
    parts = [
        {"text": "thinking", "thought": True},
        {"text": "A", "thoughtSignature": "c2lnMQ=="},
        {"functionCall": {"name": "f", "args": {}, "id": "gem-1"}, "thoughtSignature": "c2lnMg=="},
        {"functionCall": {"name": "f", "args": {"x": 1}, "id": "gem-2"}},
    ]
    body = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    c = call("gemini-2.5-flash", input="go", tools=[{"type": "function", "name": "f"}])
    out = reply(c, body)
    assert [i["type"] for i in out["output"]] == ["reasoning", "message", "reasoning", "function_call", "function_call"]
    assert out["output"][0]["encrypted_content"] == "gemini:c2lnMQ=="
    assert out["output"][2]["encrypted_content"] == "gemini:c2lnMg=="
    assert [i["call_id"] for i in out["output"][3:]] == ["gem-1", "gem-2"]  # Gemini's ids kept
    again = native(call("gemini-2.5-flash", input=[{"role": "user", "content": "go"}, *out["output"]]))
    assert again["contents"][1]["parts"] == [
        {"text": "A", "thoughtSignature": "c2lnMQ=="},
        {"functionCall": {"name": "f", "args": {}, "id": "gem-1"}, "thoughtSignature": "c2lnMg=="},
        {"functionCall": {"name": "f", "args": {"x": 1}, "id": "gem-2"}},
    ]


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-2.5-flash", {"effort": "low"}, {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-flash", {"effort": "none"}, {"thinkingBudget": 0}),
        (
            "gemini-2.5-pro",
            {"effort": "high", "summary": "detailed"},
            {"thinkingBudget": 24576, "includeThoughts": True},
        ),
        ("gemini-2.5-flash", {"max_tokens": 1000}, {"thinkingBudget": 1000, "includeThoughts": True}),
        ("gemini-3-pro-preview", {"effort": "high"}, {"thinkingLevel": "HIGH", "includeThoughts": True}),
        ("gemini-3-pro-preview", {"effort": "minimal"}, {"thinkingLevel": "LOW", "includeThoughts": True}),
        ("gemini-3-flash-preview", {"effort": "minimal"}, {"thinkingLevel": "MINIMAL", "includeThoughts": True}),
        (
            "gemini-3-flash-preview",
            {"effort": "low", "max_tokens": 512},
            {"thinkingBudget": 512, "includeThoughts": True},
        ),
        ("gemini-3.1-pro-preview", {"effort": "xhigh"}, {"thinkingLevel": "HIGH", "includeThoughts": True}),
    ],
)
def test_reasoning_maps_to_thinking_config(model: str, reasoning: dict[str, Any], expected: dict[str, Any]) -> None:
    assert native(call(model, input="x", reasoning=reasoning))["generationConfig"]["thinkingConfig"] == expected


def test_generation_config() -> None:
    body = native(call("gemini-2.5-flash", input="x", max_output_tokens=50, temperature=0.3, top_p=0.9, top_logprobs=0))
    assert body["generationConfig"] == {"maxOutputTokens": 50, "temperature": 0.3, "topP": 0.9}


FUNCS = [
    {"type": "function", "name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}},
    {"type": "function", "name": "b", "strict": True, "parameters": {"type": "object", "properties": {}}},
]


@pytest.mark.parametrize(
    ("choice", "config", "names"),
    [
        ("none", {"mode": "NONE"}, ["a", "b"]),
        ("required", {"mode": "ANY"}, ["a", "b"]),
        ({"type": "function", "name": "b"}, {"mode": "ANY", "allowedFunctionNames": ["b"]}, ["a", "b"]),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "a"}]},
            {"mode": "ANY", "allowedFunctionNames": ["a"]},
            ["a", "b"],
        ),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "b"}]},
            {"mode": "AUTO"},
            ["b"],
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any], names: list[str]) -> None:
    body = native(call("gemini-2.5-flash", input="x", tools=FUNCS, tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert [d["name"] for d in body["tools"][0]["functionDeclarations"]] == names


def test_strict_tools_use_validated_mode_where_the_model_has_it() -> None:
    strict = [dict(t, strict=True) for t in FUNCS]
    assert native(call("gemini-2.5-flash", input="x", tools=strict))["toolConfig"] == {
        "functionCallingConfig": {"mode": "VALIDATED"}
    }
    assert "toolConfig" not in native(call("gemini-2.0-flash", input="x", tools=strict))
    assert "toolConfig" not in native(call("gemini-2.5-flash", input="x", tools=FUNCS))  # one is not strict


def test_tool_choice_none_also_turns_off_search() -> None:
    body = native(call("gemini-2.5-flash", input="x", tools=[{"type": "web_search_preview"}], tool_choice="none"))
    assert "tools" not in body and "toolConfig" not in body


def test_schema_cleaning() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Args",
        "type": "object",
        "additionalProperties": False,
        "$defs": {
            "Pet": {
                "type": "object",
                "title": "Pet",
                "properties": {"name": {"type": "string"}, "friend": {"$ref": "#/$defs/Pet"}},
                "required": ["name", "ghost"],
            }
        },
        "properties": {
            "pet": {"$ref": "#/$defs/Pet", "description": "The pet."},
            "owner": {"allOf": [{"$ref": "#/$defs/Pet"}], "description": "Owner."},
            "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "age": {"type": ["integer", "null"], "exclusiveMinimum": 0, "format": "int32"},
            "kind": {"const": "dog"},
            "size": {"enum": [1, 2, 3], "type": "integer"},
            "site": {"type": "string", "format": "uri", "description": "Home page"},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True},
            "either": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            "meta": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["pet"],
    }
    pet_leaf = {"type": "OBJECT"}  # the recursive reference: Gemini cannot point back
    pet = {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "friend": pet_leaf},
        "required": ["name"],
    }
    assert function_parameters(schema) == {
        "type": "OBJECT",
        "properties": {
            "pet": {**pet, "description": "The pet."},
            "owner": {**pet, "description": "Owner."},
            "nick": {"type": "STRING", "default": None, "nullable": True},
            "age": {"type": "INTEGER", "format": "int32", "nullable": True},
            "kind": {"type": "STRING", "enum": ["dog"]},
            "size": {"type": "INTEGER", "description": "One of: 1, 2, 3"},
            "site": {"type": "STRING", "description": "Home page (format: uri)"},
            "when": {"type": "STRING", "format": "date-time"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1},
            "either": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
            "meta": {"type": "OBJECT"},
        },
        "required": ["pet"],
    }
    assert function_parameters({"type": "object", "properties": {}}) is None
    assert function_parameters(None) is None


# ---- refusals and finishes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"max_tool_calls": 2}, "max_tool_calls"),
        ({"tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}, "tools[0].type"),
        ({"tools": [{"type": "web_search", "filters": {"allowed_domains": ["a.com"]}}]}, "tools[0].filters"),
        ({"tools": [{"type": "web_search", "user_location": {"type": "approximate"}}]}, "tools[0].user_location"),
        ({"tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"tools": [{"type": "web_search"}], "tool_choice": "required"}, "tool_choice"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
        ({"input": [{"type": "made_up_item", "call_id": "c"}]}, "input[0].type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"}]}]},
            "input[0].content[0].file_id",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
            "input[0].content[0]",
        ),
    ],
)
def test_unsupported_fields_are_refused(body: dict[str, Any], param: str) -> None:
    body.setdefault("input", "hi")
    with pytest.raises(InvalidRequestError) as info:
        native(call("gemini-2.5-flash", **body))
    assert info.value.status == 400
    assert info.value.param == param
    assert info.value.code == "unsupported_parameter"
    assert "'gemini'" in info.value.message


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidRequestError) as info:
        native(call("gemini-2.5-flash", input=[{"type": "function_call_output", "call_id": "nope", "output": "x"}]))
    assert info.value.param == "input[0].call_id"
    with pytest.raises(InvalidRequestError) as info:
        native(
            call("gemini-2.5-flash", input=[{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}])
        )
    assert info.value.param == "input[0].arguments"
    with pytest.raises(InvalidRequestError) as info:
        native(call("gemini-2.5-flash", input="x", tools=FUNCS, tool_choice={"type": "function", "name": "zzz"}))
    assert info.value.param == "tool_choice.name"
    with pytest.raises(InvalidRequestError) as info:
        native(call("gemini-2.5-flash", input="x", reasoning={"effort": "extreme"}))
    assert info.value.param == "reasoning.effort"


def test_hints_are_accepted() -> None:
    assert {"parallel_tool_calls", "store", "metadata", "user", "include", "truncation"} <= HINTS
    body = native(
        call(
            "gemini-2.5-flash",
            input="x",
            parallel_tool_calls=False,
            store=False,
            metadata={"a": "b"},
            user="u",
            include=["reasoning.encrypted_content"],
            truncation="auto",
            service_tier="auto",
            prompt_cache_key="k",
            safety_identifier="s",
            background=False,
            text={"verbosity": "high"},
            tools=[{"type": "function", "name": "f", "cache_control": {"type": "ephemeral"}}],
        )
    )
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "description": ""}]}],
    }


def _candidate(reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "partial"}]}, "finishReason": reason, **extra}],
        "usageMetadata": {"promptTokenCount": 10, "cachedContentTokenCount": 6, "candidatesTokenCount": 2},
    }


def test_finish_reasons_and_cached_usage() -> None:
    c = call("gemini-2.5-flash", input="x", max_output_tokens=2)
    out = reply(c, _candidate("MAX_TOKENS"))
    assert (out["status"], out["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert usage_of(out) == (10, 2, 0, 6)  # promptTokenCount already includes the cached ones
    out = reply(c, _candidate("SAFETY"))
    assert (out["status"], out["incomplete_details"]) == ("incomplete", {"reason": "content_filter"})
    blocked = reply(c, {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})
    assert blocked["status"] == "incomplete" and blocked["output"] == []
    with pytest.raises(ProviderError) as info:
        reply(c, _candidate("MALFORMED_FUNCTION_CALL", finishMessage="Malformed function call: x("))
    assert info.value.status == 502 and info.value.code == "malformed_function_call"
    assert "Malformed function call" in info.value.message


def test_error_frame_inside_a_stream() -> None:
    c = call("gemini-2.5-flash", input="x", stream=True)
    builder = ResponseBuilder(c.request, c.raw, c.deployment)
    frame = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    with pytest.raises(ProviderError) as info:
        GEMINI.translator(builder).feed(SSEEvent(None, json.dumps(frame).encode()))
    assert (info.value.status, info.value.code, info.value.provider) == (503, "unavailable", "gemini")


# ---- Vertex AI: URLs and tokens -------------------------------------------------------------------


def test_vertex_urls() -> None:
    c = call("gemini-2.5-flash", input="x")
    p = provider("vertex", project="proj", region="europe-west4", keys=[])
    assert p.url(c, stream=False) == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert p.url(c, stream=True).endswith(":streamGenerateContent?alt=sse")
    glob = provider("vertex", project="proj", region="global", keys=[])
    assert glob.url(c, stream=False).startswith("https://aiplatform.googleapis.com/v1/projects/proj/locations/global/")
    default = provider("vertex", project="proj", keys=[])
    assert "us-central1-aiplatform.googleapis.com" in default.url(c, stream=False)
    tuned = Call(c.request, c.raw, "1234567890", None)
    assert default.url(tuned, stream=False).endswith("/locations/us-central1/endpoints/1234567890:generateContent")
    express = provider("vertex", region="global")
    assert express.url(c, stream=False) == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    gemini = provider("gemini", base_url="https://proxy.example", api_version="v1alpha")
    assert gemini.url(Call(c.request, c.raw, "models/gemini-2.5-flash", None), stream=False) == (
        "https://proxy.example/v1alpha/models/gemini-2.5-flash:generateContent"
    )


def _service_account() -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "ferryman-test@sa-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


SERVICE_ACCOUNT = _service_account()


class FakeRefresh:
    """Stands in for the token request: counts refreshes, never touches the network."""

    def __init__(self, lifetime: timedelta = timedelta(hours=1)) -> None:
        self.count = 0
        self.lifetime = lifetime

    def install(self, mp: pytest.MonkeyPatch) -> FakeRefresh:
        def refresh(creds: Any, request: Any) -> None:
            self.count += 1
            creds.token = f"fake-token-{self.count}"
            creds.expiry = datetime.now(UTC).replace(tzinfo=None) + self.lifetime

        mp.setattr(google.oauth2.service_account.Credentials, "refresh", refresh)
        return self


def test_token_source_caches_and_refreshes(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    refresh = FakeRefresh().install(monkeypatch)
    source = TokenSource("vertex", Secret(json.dumps(SERVICE_ACCOUNT), "literal"))

    async def burst() -> list[str]:
        return list(await asyncio.gather(*(source.token() for _ in range(5))))

    assert asyncio.run(burst()) == ["fake-token-1"] * 5  # one refresh for a burst
    assert source.project == "sa-project"
    source._creds.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=2)  # near expiry
    assert asyncio.run(source.token()) == "fake-token-2"
    assert refresh.count == 2

    path = tmp_path / "sa.json"
    path.write_text(json.dumps(SERVICE_ACCOUNT))
    from_file = TokenSource("vertex", Secret(str(path), "literal"))
    assert asyncio.run(from_file.token()) == "fake-token-3"

    broken = TokenSource("vertex", Secret('{"private_key": "-----BEGIN secret', "literal"))
    with pytest.raises(ProviderError) as info:
        asyncio.run(broken.token())
    assert info.value.status == 401 and info.value.code == "vertex_credentials"
    assert "BEGIN" not in info.value.message  # the credential text is never echoed


# ---- end to end: the gateway, the openai SDK, the fake upstream -----------------------------------

MODEL_PATH = "/v1beta/models/{}:generateContent"
STREAM_PATH = "/v1beta/models/{}:streamGenerateContent"
VERTEX_PATH = "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/{}:{}"


@pytest.fixture(scope="module")
def vertex_refresh() -> Iterator[FakeRefresh]:
    with pytest.MonkeyPatch.context() as mp:
        yield FakeRefresh().install(mp)


@pytest.fixture(scope="module")
def gemini_gateway(upstream: FakeUpstream, vertex_refresh: FakeRefresh) -> Iterator[GatewayServer]:
    config = {
        "store": False,
        "providers": {
            "gemini": {"type": "gemini", "base_url": upstream.url, "keys": [{"value": KEY}], "max_retries": 0},
            "vertex": {
                "type": "vertex",
                "base_url": upstream.url,
                "project": "proj-1",
                "region": "europe-west4",
                "credentials": json.dumps(SERVICE_ACCOUNT),
                "max_retries": 0,
            },
            "vertex-express": {"type": "vertex", "base_url": upstream.url, "keys": [{"value": KEY}], "max_retries": 0},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gemini_gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gemini_gateway.url}/v1", api_key="client-key", max_retries=0)


def test_e2e_text(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(MODEL_PATH.format("gemini-2.0-flash"), Reply.fixture(f"{FOLDER}/text_basic"))
    resp = sdk.responses.create(
        model="gemini/gemini-2.0-flash",
        instructions="You are a helpful assistant.",
        input="What is the capital of France?",
    )
    assert resp.output_text == "The capital of France is Paris.\n"
    assert resp.status == "completed" and resp.usage is not None and resp.usage.input_tokens == 13
    [sent] = fake.received
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.query == {} and "authorization" not in {k.lower() for k in sent.headers}
    assert sent.json["contents"] == recorded("text_basic")["contents"]


def test_e2e_stream_helper(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(STREAM_PATH.format("gemini-2.0-flash-exp"), Reply.fixture(f"{FOLDER}/text_stream"))
    with sdk.responses.stream(
        model="gemini/gemini-2.0-flash-exp", input="What is the capital of France?", temperature=0
    ) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert deltas == ["The", " capital of France", " is Paris.\n"]
    assert final.output_text == "The capital of France is Paris.\n"
    assert fake.received[-1].query == {"alt": "sse"}


def test_e2e_raw_stream_with_reasoning(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(STREAM_PATH.format("gemini-2.5-pro"), Reply.fixture(f"{FOLDER}/thinking_stream"))
    events = list(
        sdk.responses.create(
            model="gemini/gemini-2.5-pro",
            input="How do I cross the street?",
            reasoning={"summary": "auto"},
            include=["reasoning.encrypted_content"],
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in types and "response.output_text.delta" in types
    final = events[-1].response  # type: ignore[union-attr]
    assert [i.type for i in final.output] == ["reasoning", "message"]
    assert final.output[0].encrypted_content.startswith("gemini:CiIB")  # type: ignore[union-attr]
    assert final.usage.output_tokens_details.reasoning_tokens == 787  # type: ignore[union-attr]
    assert fake.received[-1].json["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}


def test_e2e_tool_call_two_turns(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    path = MODEL_PATH.format("gemini-2.5-flash")
    fake.add(path, Reply.fixture(f"{FOLDER}/tool_call"), times=1)
    fake.add(path, Reply.fixture(f"{FOLDER}/tool_result_multi_turn"), times=1)
    tools: Any = [WEATHER_TOOL]
    first = sdk.responses.create(model="gemini/gemini-2.5-flash", input="What's the weather in Paris?", tools=tools)
    calls = [i for i in first.output if i.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", {"city": "Paris"})]
    history: Any = [
        {"role": "user", "content": "What's the weather in Paris?"},
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 22C in Paris"},
    ]
    second = sdk.responses.create(model="gemini/gemini-2.5-flash", input=history, tools=tools)
    assert second.output_text == "The weather in Paris is sunny with a temperature of 22C."
    sent = fake.received[-1].json
    part = sent["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == TOOL_CALL_SIG
    assert part["functionCall"]["id"] == calls[0].call_id
    assert sent["contents"][2]["parts"][0]["functionResponse"]["name"] == "get_weather"


def test_e2e_tool_call_stream(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(STREAM_PATH.format("gemini-2.0-flash"), Reply.fixture(f"{FOLDER}/tool_call_stream"))
    tools: Any = CAPITAL_TOOLS
    with sdk.responses.stream(
        model="gemini/gemini-2.0-flash", input="Temperature of France's capital?", tools=tools
    ) as s:
        done = [e for e in s if e.type == "response.function_call_arguments.done"]
        final = s.get_final_response()
    assert [json.loads(e.arguments) for e in done] == [{"country": "France"}]
    assert final.output[0].type == "function_call" and final.output[0].name == "get_capital"


def test_e2e_error_404(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(MODEL_PATH.format("gemini-3.6-flahs"), Reply.fixture(f"{FOLDER}/error_404_model_not_found"))
    fake.add(STREAM_PATH.format("gemini-3.6-flahs"), Reply.fixture(f"{FOLDER}/error_404_model_not_found"))
    for stream_it in (False, True):
        with pytest.raises(openai.NotFoundError) as info:
            result = sdk.responses.create(model="gemini/gemini-3.6-flahs", input="hello", stream=stream_it)
            list(result) if stream_it else None  # type: ignore[call-overload]
        assert info.value.status_code == 404
        error = info.value.body  # type: ignore[assignment]
        assert isinstance(error, dict)
        assert error["message"].startswith("gemini: models/gemini-3.6-flahs is not found")
        assert error["provider"] == "gemini" and error["code"] == "not_found"
        assert error["type"] == "invalid_request_error"


def test_e2e_error_frame_mid_stream(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    first = fx("text_stream")["response"]["sse"][0]
    frame = "data: " + json.dumps(
        {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    )
    fake.add(STREAM_PATH.format("gemini-2.5-flash"), Reply(sse=[first, frame]))
    events = list(sdk.responses.create(model="gemini/gemini-2.5-flash", input="hi", stream=True))
    types = [e.type for e in events]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    assert "The model is overloaded." in events[-2].message  # type: ignore[union-attr]
    assert "gemini" in events[-2].message  # type: ignore[union-attr]
    assert events[-1].response.status == "failed"  # type: ignore[union-attr]


def test_e2e_unsupported_field(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="gemini/gemini-2.5-flash", input="hi", top_logprobs=5)
    assert info.value.status_code == 400
    assert info.value.body["param"] == "top_logprobs"  # type: ignore[index]
    assert "'gemini'" in info.value.body["message"]  # type: ignore[index]
    assert fake.received == []  # refused before anything was sent


def test_e2e_max_output_tokens_truncation(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    body = copy.deepcopy(fx("text_basic")["response"]["body"])
    body["candidates"][0]["finishReason"] = "MAX_TOKENS"
    fake.add(MODEL_PATH.format("gemini-2.0-flash"), Reply(json=body))
    resp = sdk.responses.create(model="gemini/gemini-2.0-flash", input="Capital of France?", max_output_tokens=8)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert fake.received[-1].json["generationConfig"] == {"maxOutputTokens": 8}


def test_e2e_vertex_service_account(fake: FakeUpstream, sdk: openai.OpenAI, vertex_refresh: FakeRefresh) -> None:
    fake.add(VERTEX_PATH.format("gemini-2.0-flash", "generateContent"), Reply.fixture(f"{FOLDER}/text_basic"))
    fake.add(VERTEX_PATH.format("gemini-2.0-flash", "streamGenerateContent"), Reply.fixture(f"{FOLDER}/text_stream"))
    before = vertex_refresh.count
    first = sdk.responses.create(model="vertex/gemini-2.0-flash", input="What is the capital of France?")
    with sdk.responses.stream(model="vertex/gemini-2.0-flash", input="What is the capital of France?") as s:
        final = s.get_final_response()
    assert first.output_text == final.output_text == "The capital of France is Paris.\n"
    assert vertex_refresh.count - before <= 1  # the token is cached between requests
    tokens = {r.headers["Authorization"] for r in fake.received}
    assert tokens == {f"Bearer fake-token-{vertex_refresh.count}"}
    assert all("x-goog-api-key" not in r.headers for r in fake.received)
    assert fake.received[-1].query == {"alt": "sse"}


def test_e2e_vertex_express_key(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add("/v1/publishers/google/models/gemini-2.5-flash:generateContent", Reply.fixture(f"{FOLDER}/text_basic"))
    resp = sdk.responses.create(model="vertex-express/gemini-2.5-flash", input="What is the capital of France?")
    assert resp.output_text == "The capital of France is Paris.\n"
    assert fake.received[-1].headers["x-goog-api-key"] == KEY


def test_call_with_a_key_on_the_call() -> None:
    """The key picked for the call goes in the header, never in the URL."""
    c = call("gemini-2.5-flash", input="x")
    keyed = Call(c.request, c.raw, c.deployment, ApiKey(Secret("k-123", "literal")))
    headers = GEMINI.headers(keyed)
    assert headers["x-goog-api-key"] == "k-123"
    assert "k-123" not in GEMINI.url(keyed, stream=True)


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-1.5-pro", "gemma-3-27b-it"])
def test_reasoning_on_a_model_that_does_not_think_is_a_hint(model: str) -> None:
    body = native(call(model, input="x", reasoning={"effort": "high", "summary": "auto"}))
    assert "thinkingConfig" not in body.get("generationConfig", {})
    thinking = native(call("gemini-2.5-flash", input="x", reasoning={"effort": "high"}))["generationConfig"]
    assert thinking["thinkingConfig"] == {"thinkingBudget": 24576, "includeThoughts": True}
