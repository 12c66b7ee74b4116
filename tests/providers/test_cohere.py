"""The Cohere v2 chat adapter against recorded Cohere traffic (cohere-chat fixtures) and a fake Cohere.

Each recording is checked both ways: the Responses request a user would send becomes the recorded v2
body, and the recorded reply (whole, and streamed in Cohere's event format by ``tests/fakes/cohere.py``)
becomes the right Responses output. Then the whole gateway runs against the fake upstream with the
official openai SDK as client, and the tests look at what Cohere received.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import openai
import pytest
from genai_prices import Usage, calc_price
from openai.types.responses import Response

from ferryman.config import config_from_dict, config_from_env
from ferryman.providers.base import Call, SSEEvent
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.cohere import HINTS, CohereProvider
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.responses import validate_request
from tests.fakes.cohere import PATH, cohere_answer, stream_blocks, stream_events
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Received, Reply, load_fixture
from tests.providers.stream_checks import check_events

FOLDER = "cohere-chat"
KEY = "test-cohere-key-not-real"
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
PNG = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n fake image").decode()


def fx(name: str) -> dict[str, Any]:
    return load_fixture(f"{FOLDER}/{name}")


def reply_body(name: str) -> dict[str, Any]:
    return copy.deepcopy(fx(name)["response"]["body"])


def provider() -> CohereProvider:
    config = config_from_dict({"providers": {"cohere": {"keys": [{"value": KEY}]}}, "store": False}, {})
    return CohereProvider(config.providers["cohere"])


COHERE = provider()


def call(deployment: str = "command-r7b-12-2024", **body: Any) -> Call:
    raw, req = validate_request(msgspec.json.encode({"model": f"cohere/{deployment}", **body}))
    return Call(req, raw, deployment, None)


def native(c: Call, *, stream: bool = False) -> dict[str, Any]:
    return COHERE.native_request(c, stream=stream)


def reply(c: Call, body: Any) -> dict[str, Any]:
    builder = ResponseBuilder(c.request, c.raw, c.deployment)
    COHERE.parse_reply(body, builder)
    response = builder.response()
    Response.model_validate(response)
    return response


def stream(c: Call, blocks: list[str]) -> list[dict[str, Any]]:
    """SSE blocks through the adapter's translator, as the gateway pumps them; every event checked."""
    builder = ResponseBuilder(c.request, c.raw, c.deployment)
    builder.start()
    events = msgspec.to_builtins(builder.events())
    translator = COHERE.translator(builder)
    for block in blocks:
        name, _, data = block.partition("\n") if block.startswith("event:") else ("", "", block)
        translator.feed(SSEEvent(name.removeprefix("event: ") or None, data.removeprefix("data: ").encode()))
        events += msgspec.to_builtins(builder.events())
        if builder.status != "in_progress":
            break
    check_events(events)
    return events


def output_text(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] if item["type"] == "message" for part in item["content"])


def shape(response: dict[str, Any]) -> list[tuple[str, ...]]:
    """The output items by what they say (ids left out): the same for a reply and its stream."""
    out: list[tuple[str, ...]] = []
    for item in response["output"]:
        if item["type"] == "message":
            out.append(("message", item["content"][0]["text"], json.dumps(item["content"][0]["annotations"])))
        elif item["type"] == "reasoning":
            out.append(("reasoning", item["content"][0]["text"], str(item.get("encrypted_content"))))
        else:
            out.append((item["type"], item["call_id"], item["name"], item["arguments"]))
    return out


def usage_of(response: dict[str, Any]) -> tuple[int, int, int]:
    u = response["usage"]
    return u["input_tokens"], u["output_tokens"], u["input_tokens_details"]["cached_tokens"]


def thinking_turn() -> dict[str, Any]:
    """The thinking recording's request, as the Responses input that replays Cohere's thinking."""
    recorded = fx("thinking")["request"]["body"]["messages"]
    thought, answer = recorded[1]["content"]
    return {
        "input": [
            recorded[0],
            {
                "type": "reasoning",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": thought["thinking"]}],
                "encrypted_content": "cohere:thinking",
            },
            {"role": "assistant", "content": answer["text"]},
            recorded[2],
        ]
    }


# ---- requests: what a user sends becomes the recorded v2 body --------------------------------------


def test_text_request_is_the_recorded_body() -> None:
    want = fx("text_basic")["request"]["body"]
    assert native(call(want["model"], input="hello")) == want


def test_tool_request_is_the_recorded_body() -> None:
    want = fx("tool_call")["request"]["body"]
    assert native(call(want["model"], input="What's the weather in Paris?", tools=[WEATHER_TOOL])) == want


def test_replayed_thinking_is_the_recorded_body() -> None:
    want = fx("thinking")["request"]["body"]
    assert native(call(want["model"], **thinking_turn())) == want


def test_system_prompt_comes_first_and_whole() -> None:
    body = native(
        call(
            instructions="Be brief.",
            input=[
                {"role": "user", "content": "hi"},
                {"role": "developer", "content": "Answer in French."},
                {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]},
            ],
        )
    )
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.\n\nAnswer in French."},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]


def test_a_tool_round_goes_back_with_its_plan_calls_and_results() -> None:
    body = native(
        call(
            tools=[WEATHER_TOOL],
            include=["reasoning.encrypted_content"],
            input=[
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "I will look."}],
                    "encrypted_content": "cohere:plan",
                },
                {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Rome"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [{"type": "input_text", "text": "rain"}, {"type": "input_text", "text": ", 12C"}],
                },
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "from elsewhere"}],
                    "encrypted_content": "gAAAA-openai-state",
                },
            ],
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "tool_plan": "I will look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
                {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {
            "role": "tool",
            "tool_call_id": "c2",
            "content": [{"type": "text", "text": "rain"}, {"type": "text", "text": ", 12C"}],
        },
    ]


def test_images_and_text_files() -> None:
    text = "Emperor penguins are the tallest."
    file_data = "data:text/plain;base64," + base64.b64encode(text.encode()).decode()
    body = native(
        call(
            input=[
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "What is in these?"},
                        {"type": "input_image", "image_url": PNG, "detail": "low"},
                        {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
                        {"type": "input_file", "filename": "penguins.txt", "file_data": file_data},
                    ],
                }
            ]
        )
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    assert body["documents"] == [{"id": "doc_0", "data": {"title": "penguins.txt", "text": text}}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"top_p": 1.0}, "top_p"),
        ({"max_tool_calls": 2}, "max_tool_calls"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "web_search"}}, "tool_choice.type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x.test/a.pdf"}]}]},
            "input[0].content[0].file_url",
        ),
        (
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_file", "filename": "a.pdf", "file_data": "JVBERi0="}]}
                ]
            },
            "input[0].content[0]",
        ),
        (
            {
                "input": [
                    {
                        "type": "function_call_output",
                        "call_id": "c",
                        "output": [{"type": "input_image", "image_url": PNG}],
                    }
                ]
            },
            "input[0].output[0].type",
        ),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ],
)
def test_what_cohere_cannot_do_is_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        native(call(**{"input": "hi", **body}))
    assert info.value.param == param
    assert "'cohere'" in str(info.value)


def test_hosted_tools_are_dropped_when_asked() -> None:
    c = call(input="hi", tools=[{"type": "web_search"}, WEATHER_TOOL])
    c.drop_unsupported = True
    body = native(c)
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert c.dropped == ["tools[0] (web_search)"]


def test_hints_are_accepted() -> None:
    assert {"parallel_tool_calls", "store", "metadata", "include", "truncation", "reasoning.summary"} <= HINTS
    body = native(
        call(input="hi", parallel_tool_calls=False, store=True, metadata={"a": "b"}, user="u", truncation="auto")
    )
    assert body == {"model": "command-r7b-12-2024", "messages": [{"role": "user", "content": "hi"}], "stream": False}


@pytest.mark.parametrize(
    ("choice", "want", "names"),
    [
        ("auto", None, ["get_weather", "get_time"]),
        ("none", "NONE", ["get_weather", "get_time"]),
        ("required", "REQUIRED", ["get_weather", "get_time"]),
        ({"type": "function", "name": "get_time"}, "REQUIRED", ["get_time"]),
        (
            {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "get_weather"}]},
            None,
            ["get_weather"],
        ),
        (
            {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "get_time"}]},
            "REQUIRED",
            ["get_time"],
        ),
    ],
)
def test_tool_choice(choice: Any, want: str | None, names: list[str]) -> None:
    time_tool = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {}}}
    body = native(call(input="hi", tools=[WEATHER_TOOL, time_tool], tool_choice=choice))
    assert body.get("tool_choice") == want
    assert [t["function"]["name"] for t in body["tools"]] == names


def test_strict_tools() -> None:
    body = native(call(input="hi", tools=[{**WEATHER_TOOL, "strict": True}]))
    assert body["strict_tools"] is True
    assert "strict_tools" not in native(call(input="hi", tools=[WEATHER_TOOL]))


@pytest.mark.parametrize(
    ("model", "reasoning", "max_output", "thinking"),
    [
        ("command-a-reasoning-08-2025", {"effort": "low"}, None, {"type": "enabled", "token_budget": 1024}),
        ("command-a-reasoning-08-2025", {"effort": "high"}, 4000, {"type": "enabled", "token_budget": 16384}),
        ("command-a-reasoning-08-2025", {"max_tokens": 3000}, None, {"type": "enabled", "token_budget": 3000}),
        ("command-a-reasoning-08-2025", {"effort": "none"}, None, {"type": "disabled"}),
        ("command-a-reasoning-08-2025", {"max_tokens": 0}, None, {"type": "disabled"}),
        ("command-a-reasoning-08-2025", {"summary": "auto"}, None, None),
        ("command-r7b-12-2024", {"effort": "high"}, None, None),  # a model that does not reason: a hint
    ],
)
def test_reasoning_maps_to_thinking(
    model: str, reasoning: dict[str, Any], max_output: int | None, thinking: dict[str, Any] | None
) -> None:
    extra = {"max_output_tokens": max_output} if max_output else {}
    body = native(call(model, input="hi", reasoning=reasoning, **extra))
    assert body.get("thinking") == thinking
    assert body.get("max_tokens") == max_output


def test_unknown_effort_is_refused() -> None:
    with pytest.raises(InvalidRequestError) as info:
        native(call("command-a-reasoning-08-2025", input="hi", reasoning={"effort": "extreme"}))
    assert info.value.param == "reasoning.effort"


def test_structured_output_and_sampling() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = native(
        call(
            input="Where?",
            text={"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}},
            max_output_tokens=300,
            temperature=0.2,
            top_p=0.5,
            stop="END",
            seed=7,
        )
    )
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert (body["max_tokens"], body["temperature"], body["p"]) == (300, 0.2, 0.5)
    assert (body["stop_sequences"], body["seed"]) == (["END"], 7)
    plain = native(call(input="Where?", text={"format": {"type": "json_object"}}, stop=["a", "b"]))
    assert plain["response_format"] == {"type": "json_object"}
    assert plain["stop_sequences"] == ["a", "b"]


def test_reasoning_of_an_interrupted_turn_is_left_out() -> None:
    body = native(
        call(
            input=[
                {"role": "user", "content": "hi"},
                {
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "hmm"}],
                    "encrypted_content": "cohere:thinking",
                },
            ]
        )
    )
    assert body["messages"] == [{"role": "user", "content": "hi"}]


# ---- replies: the recorded answer as Responses output ---------------------------------------------


def test_text_reply() -> None:
    body = reply_body("text_basic")
    out = reply(call(input="hello"), body)
    assert out["status"] == "completed" and out["incomplete_details"] is None
    assert output_text(out) == body["message"]["content"][0]["text"]
    assert usage_of(out) == (body["usage"]["tokens"]["input_tokens"], body["usage"]["tokens"]["output_tokens"], 0)


def test_tool_call_reply_has_the_plan_then_the_call() -> None:
    body = reply_body("tool_call")
    out = reply(call(input="What's the weather in Paris?", tools=[WEATHER_TOOL]), body)
    [recorded] = body["message"]["tool_calls"]
    assert shape(out) == [
        ("reasoning", body["message"]["tool_plan"], "cohere:plan"),
        ("function_call", recorded["id"], "get_weather", recorded["function"]["arguments"]),
    ]
    assert out["status"] == "completed"
    assert usage_of(out) == (1441, 54, body["usage"]["cached_tokens"])


def test_thinking_reply() -> None:
    body = reply_body("thinking")
    out = reply(call("command-a-reasoning-08-2025", input="x", include=["reasoning.encrypted_content"]), body)
    thought, answer = body["message"]["content"]
    assert shape(out) == [
        ("reasoning", thought["thinking"], "cohere:thinking"),
        ("message", answer["text"], "[]"),
    ]
    assert out["output"][0]["summary"] == []  # raw thinking, not a summary
    # without include (and no tools) the reasoning item carries no state, as OpenAI's
    plain = reply(call("command-a-reasoning-08-2025", input="x"), body)
    assert "encrypted_content" not in plain["output"][0]


@pytest.mark.parametrize("name", ["text_basic", "tool_call", "thinking"])
def test_a_stream_reads_as_its_whole_reply(name: str) -> None:
    body = reply_body(name)
    c = call(input="x", tools=[WEATHER_TOOL])
    events = stream(c, stream_blocks(body))
    assert shape(events[-1]["response"]) == shape(reply(c, body))
    assert usage_of(events[-1]["response"]) == usage_of(reply(c, body))


def test_deltas_without_a_content_start_are_not_lost() -> None:
    events = [e for e in stream_events(reply_body("thinking")) if e["type"] != "content-start"]
    blocks = [f"event: {e['type']}\ndata: {json.dumps(e)}" for e in events]
    out = stream(call("command-a-reasoning-08-2025", input="x"), blocks)[-1]["response"]
    assert shape(out) == shape(reply(call("command-a-reasoning-08-2025", input="x"), reply_body("thinking")))


def test_thinking_streams_as_reasoning_text_deltas() -> None:
    body = reply_body("thinking")
    events = stream(call("command-a-reasoning-08-2025", input="x"), stream_blocks(body))
    deltas = [e["delta"] for e in events if e["type"] == "response.reasoning_text.delta"]
    assert "".join(deltas) == body["message"]["content"][0]["thinking"] and len(deltas) > 1
    text = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(text) == body["message"]["content"][1]["text"]


def cited_reply() -> dict[str, Any]:
    """A RAG answer citing two documents, one with a URL (the shape of Cohere's documented example)."""
    text = "The tallest penguins are the Emperor penguins. They only live in Antarctica."
    first, second = "Emperor penguins.", "Antarctica."
    doc0 = {
        "id": "doc_0",
        "title": "Tall penguins",
        "snippet": "Emperor penguins are the tallest.",
        "url": "https://example.com/tall",
    }
    doc1 = {"id": "doc_1", "snippet": "Emperor penguins only live in Antarctica."}
    citations = [
        {
            "start": text.index(first),
            "end": text.index(first) + len(first),
            "text": first,
            "content_index": 0,
            "type": "TEXT_CONTENT",
            "sources": [{"type": "document", "id": "doc_0", "document": doc0}],
        },
        {
            "start": text.index(second),
            "end": text.index(second) + len(second),
            "text": second,
            "content_index": 0,
            "type": "TEXT_CONTENT",
            "sources": [{"type": "document", "id": "doc_1", "document": doc1}],
        },
    ]
    return {
        "id": "cited-1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}], "citations": citations},
        "usage": {
            "billed_units": {"input_tokens": 40, "output_tokens": 20},
            "tokens": {"input_tokens": 90, "output_tokens": 22},
        },
    }


def test_citations_with_a_url_become_url_citations() -> None:
    body = cited_reply()
    text = body["message"]["content"][0]["text"]
    cited = body["message"]["citations"][0]
    doc = cited["sources"][0]["document"]
    for out in (reply(call(input="x"), body), stream(call(input="x"), stream_blocks(body))[-1]["response"]):
        [annotation] = out["output"][0]["content"][0]["annotations"]
        assert annotation == {
            "type": "url_citation",
            "start_index": cited["start"],
            "end_index": cited["end"],
            "title": doc["title"],
            "url": doc["url"],
        }
        assert text[annotation["start_index"] : annotation["end_index"]] == cited["text"]


def test_citation_offsets_count_from_their_text_block() -> None:
    body = cited_reply()
    intro = "From the documents: "
    body["message"]["content"][:0] = [
        {"type": "thinking", "thinking": "Let me look at the documents."},
        {"type": "text", "text": intro},
    ]
    for citation in body["message"]["citations"]:
        citation["content_index"] = 2  # the cited text is the third block, the second of the message
    cited = body["message"]["citations"][0]
    for out in (reply(call(input="x"), body), stream(call(input="x"), stream_blocks(body))[-1]["response"]):
        assert [i["type"] for i in out["output"]] == ["reasoning", "message"]
        [annotation] = out["output"][1]["content"][0]["annotations"]
        assert annotation["start_index"] == len(intro) + cited["start"]
        assert output_text(out)[annotation["start_index"] : annotation["end_index"]] == cited["text"]


@pytest.mark.parametrize(
    ("reason", "status", "why"),
    [
        ("COMPLETE", "completed", None),
        ("STOP_SEQUENCE", "completed", None),
        ("TOOL_CALL", "completed", None),
        ("MAX_TOKENS", "incomplete", "max_output_tokens"),
    ],
)
def test_finish_reasons(reason: str, status: str, why: str | None) -> None:
    body = {**reply_body("text_basic"), "finish_reason": reason}
    out = reply(call(input="hello"), body)
    assert out["status"] == status
    assert out["incomplete_details"] == ({"reason": why} if why else None)


@pytest.mark.parametrize(("reason", "status"), [("ERROR", 502), ("TIMEOUT", 504)])
def test_failed_finish_reasons_are_provider_errors(reason: str, status: int) -> None:
    body = {**reply_body("text_basic"), "finish_reason": reason}
    with pytest.raises(ProviderError) as info:
        reply(call(input="hello"), body)
    assert info.value.status == status and info.value.provider == "cohere"


# ---- through the gateway, with the openai SDK -----------------------------------------------------


@pytest.fixture(scope="module")
def cohere_gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    config = {
        "store": False,
        "providers": {
            "cohere": {"base_url": upstream.url, "keys": [{"value": KEY}], "max_retries": 0},
            "cohere-compat": {
                "type": "openai-chat",
                "base_url": f"{upstream.url}/compatibility/v1",
                "keys": [{"value": KEY}],
                "max_retries": 0,
            },
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(cohere_gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{cohere_gateway.url}/v1", api_key="client-key", max_retries=0)


def sent(fake: FakeUpstream) -> dict[str, Any]:
    [received] = fake.requests_to(PATH)
    return received.json  # type: ignore[no-any-return]


def test_e2e_text(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    body = reply_body("text_basic")
    fake.add(PATH, cohere_answer(body))
    resp = sdk.responses.create(model="cohere/command-r7b-12-2024", input="hello")
    assert resp.output_text == body["message"]["content"][0]["text"]
    assert resp.status == "completed"
    [received] = fake.received
    assert received.path == PATH and received.headers["Authorization"] == f"Bearer {KEY}"
    assert received.json == fx("text_basic")["request"]["body"]


def test_e2e_stream(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    body = reply_body("text_basic")
    fake.add(PATH, cohere_answer(body))
    with sdk.responses.stream(model="cohere/command-r7b-12-2024", input="hello") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "".join(deltas) == body["message"]["content"][0]["text"] and len(deltas) > 1
    assert final.output_text == "".join(deltas)
    assert final.usage is not None and final.usage.input_tokens == body["usage"]["tokens"]["input_tokens"]
    assert sent(fake)["stream"] is True


def tool_result_answer(received: Received) -> Reply:
    """Cohere answering the tool's result in text, once it came back as a tool message."""
    tool = [m for m in received.json["messages"] if m["role"] == "tool"]
    text = f"It is {tool[-1]['content']} in Paris." if tool else "no tool result"
    body = {
        "id": "after-tool",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
        "usage": {
            "billed_units": {"input_tokens": 60, "output_tokens": 9},
            "tokens": {"input_tokens": 1500, "output_tokens": 12},
        },
    }
    return cohere_answer(body)(received)


@pytest.mark.parametrize("streamed", [False, True])
def test_e2e_tool_call_then_its_result(fake: FakeUpstream, sdk: openai.OpenAI, streamed: bool) -> None:
    body = reply_body("tool_call")
    fake.add(PATH, cohere_answer(body), times=1)
    fake.add(PATH, tool_result_answer, times=1)
    tools: Any = [WEATHER_TOOL]
    model = "cohere/command-r7b-12-2024"
    if streamed:
        with sdk.responses.stream(model=model, input="What's the weather in Paris?", tools=tools) as s:
            done = [e for e in s if e.type == "response.function_call_arguments.done"]
            first = s.get_final_response()
        assert [json.loads(e.arguments) for e in done] == [{"city": "Paris"}]
    else:
        first = sdk.responses.create(model=model, input="What's the weather in Paris?", tools=tools)
    assert [i.type for i in first.output] == ["reasoning", "function_call"]
    call_item = first.output[1]
    assert call_item.type == "function_call"
    assert (call_item.call_id, call_item.name) == (body["message"]["tool_calls"][0]["id"], "get_weather")
    history: Any = [
        {"role": "user", "content": "What's the weather in Paris?"},
        *[i.model_dump(exclude_none=True) for i in first.output],
        {"type": "function_call_output", "call_id": call_item.call_id, "output": "sunny, 22C"},
    ]
    second = sdk.responses.create(model=model, input=history, tools=tools, stream=False)
    assert second.output_text == "It is sunny, 22C in Paris."
    messages = fake.received[-1].json["messages"]
    assert messages[1] == {
        "role": "assistant",
        "tool_plan": body["message"]["tool_plan"],
        "tool_calls": body["message"]["tool_calls"],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": call_item.call_id, "content": "sunny, 22C"}


def test_e2e_image(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(PATH, cohere_answer(reply_body("text_basic")))
    content: Any = [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": PNG, "detail": "high"},
    ]
    sdk.responses.create(model="cohere/command-a-vision-07-2025", input=[{"role": "user", "content": content}])
    assert sent(fake)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "high"}},
            ],
        }
    ]


def test_e2e_document_and_citations(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    body = cited_reply()
    fake.add(PATH, cohere_answer(body))
    doc = "Emperor penguins are the tallest."
    content: Any = [
        {"type": "input_text", "text": "Where do the tallest penguins live?"},
        {
            "type": "input_file",
            "filename": "tall.txt",
            "file_data": "data:text/plain;base64," + base64.b64encode(doc.encode()).decode(),
        },
    ]
    for streamed in (False, True):
        fake.received.clear()
        if streamed:
            with sdk.responses.stream(
                model="cohere/command-a-03-2025", input=[{"role": "user", "content": content}]
            ) as s:
                resp = s.get_final_response()
        else:
            resp = sdk.responses.create(model="cohere/command-a-03-2025", input=[{"role": "user", "content": content}])
        assert sent(fake)["documents"] == [{"id": "doc_0", "data": {"title": "tall.txt", "text": doc}}]
        part = resp.output[0].content[0]  # type: ignore[union-attr]
        [annotation] = part.annotations  # type: ignore[union-attr]
        assert annotation.type == "url_citation" and annotation.url == "https://example.com/tall"
        assert resp.output_text[annotation.start_index : annotation.end_index] == "Emperor penguins."


def test_e2e_thinking(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    body = reply_body("thinking")
    fake.add(PATH, cohere_answer(body))
    events = list(
        sdk.responses.create(
            model="cohere/command-a-reasoning-08-2025",
            input="How do I cross the river?",
            reasoning={"effort": "medium"},
            include=["reasoning.encrypted_content"],
            stream=True,
        )
    )
    types = [e.type for e in events]
    assert "response.reasoning_text.delta" in types and types[-1] == "response.completed"
    final = events[-1].response  # type: ignore[union-attr]
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "cohere:thinking"
    assert reasoning.content[0].text == body["message"]["content"][0]["thinking"]  # type: ignore[index]
    assert message.type == "message"
    assert sent(fake)["thinking"] == {"type": "enabled", "token_budget": 4096}
    # the next turn sends the thinking back as the recorded client did
    fake.received.clear()
    fake.add(PATH, cohere_answer(reply_body("text_basic")))
    history: Any = [
        {"role": "user", "content": "How do I cross the street?"},
        *[i.model_dump(exclude_none=True) for i in final.output],
        {"role": "user", "content": "And the river?"},
    ]
    sdk.responses.create(model="cohere/command-a-reasoning-08-2025", input=history)
    assert sent(fake)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": body["message"]["content"][0]["thinking"]},
        {"type": "text", "text": body["message"]["content"][1]["text"]},
    ]


def test_e2e_structured_output(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    answer = {"city": "Paris", "country": "France"}
    body = reply_body("text_basic")
    body["message"]["content"][0]["text"] = json.dumps(answer)
    fake.add(PATH, cohere_answer(body))
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
    resp = sdk.responses.create(
        model="cohere/command-a-03-2025",
        input="Capital of France as JSON",
        text={"format": {"type": "json_schema", "name": "place", "schema": schema}},
    )
    assert json.loads(resp.output_text) == answer
    assert sent(fake)["response_format"] == {"type": "json_object", "json_schema": schema}


@pytest.mark.parametrize(
    ("status", "error", "code", "sdk_error"),
    [
        (
            400,
            {"id": "e-1", "message": "invalid request: message must not be empty in a turn"},
            400,
            openai.BadRequestError,
        ),
        (
            429,
            {"message": "You are using a Trial key, which is limited to 20 API calls / minute."},
            429,
            openai.RateLimitError,
        ),
        (498, {"message": "invalid api token"}, 401, openai.AuthenticationError),
        (
            500,
            {"id": "e-2", "message": "internal server error, this has been reported to our developers"},
            500,
            openai.InternalServerError,
        ),
    ],
)
def test_e2e_errors(
    fake: FakeUpstream, sdk: openai.OpenAI, status: int, error: dict[str, Any], code: int, sdk_error: type
) -> None:
    fake.add(PATH, Reply(status=status, json=error))
    for streamed in (False, True):
        with pytest.raises(sdk_error) as info:
            result = sdk.responses.create(model="cohere/command-r7b-12-2024", input="hi", stream=streamed)
            list(result) if streamed else None  # type: ignore[call-overload]
        assert info.value.status_code == code  # type: ignore[attr-defined]
        body = info.value.body  # type: ignore[attr-defined]
        assert body["message"] == f"cohere: {error['message']}" and body["provider"] == "cohere"
        assert KEY not in json.dumps(body)


def test_e2e_error_at_the_end_of_a_stream(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    events = stream_events(reply_body("text_basic"))
    events[-1]["delta"] = {"finish_reason": "ERROR", "error": "the model failed mid-answer"}
    blocks = [f"event: {e['type']}\ndata: {json.dumps(e)}" for e in events]
    fake.add(PATH, Reply(sse=blocks, headers={"content-type": "text/event-stream"}))
    got = list(sdk.responses.create(model="cohere/command-r7b-12-2024", input="hi", stream=True))
    types = [e.type for e in got]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    assert "the model failed mid-answer" in got[-2].message  # type: ignore[union-attr]


def test_e2e_malformed_stream_event(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    blocks = stream_blocks(reply_body("text_basic"))
    blocks.insert(3, "event: content-delta\ndata: {not json")
    fake.add(PATH, Reply(sse=blocks, headers={"content-type": "text/event-stream"}))
    got = list(sdk.responses.create(model="cohere/command-r7b-12-2024", input="hi", stream=True))
    assert [e.type for e in got][-2:] == ["error", "response.failed"]
    assert got[-1].response.error.code == "upstream_bad_response"  # type: ignore[union-attr]


def test_e2e_refused_before_anything_is_sent(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(model="cohere/command-r7b-12-2024", input="hi", top_logprobs=2)
    assert info.value.body["param"] == "top_logprobs"  # type: ignore[index]
    assert fake.received == []


def test_e2e_max_tokens_truncation(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    fake.add(PATH, cohere_answer({**reply_body("text_basic"), "finish_reason": "MAX_TOKENS"}))
    resp = sdk.responses.create(model="cohere/command-r7b-12-2024", input="hello", max_output_tokens=5)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert sent(fake)["max_tokens"] == 5


@pytest.mark.parametrize("streamed", [False, True])
def test_e2e_usage_is_priced(fake: FakeUpstream, sdk: openai.OpenAI, streamed: bool) -> None:
    body = reply_body("tool_call")
    fake.add(PATH, cohere_answer(body))
    model = fx("tool_call")["request"]["body"]["model"]
    tools: Any = [WEATHER_TOOL]
    if streamed:
        with sdk.responses.stream(model=f"cohere/{model}", input="weather?", tools=tools) as s:
            resp = s.get_final_response()
    else:
        resp = sdk.responses.create(model=f"cohere/{model}", input="weather?", tools=tools)
    tokens, cached = body["usage"]["tokens"], body["usage"]["cached_tokens"]
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (tokens["input_tokens"], tokens["output_tokens"])
    assert resp.usage.input_tokens_details.cached_tokens == cached
    price = calc_price(
        Usage(input_tokens=tokens["input_tokens"], cache_read_tokens=cached, output_tokens=tokens["output_tokens"]),
        model,
        provider_id="cohere",
    )
    cost = resp.usage.cost  # type: ignore[attr-defined]
    assert cost["total_cost"] == pytest.approx(float(price.total_price)) and cost["total_cost"] > 0


def test_e2e_the_compatibility_api_stays_selectable(fake: FakeUpstream, sdk: openai.OpenAI) -> None:
    chat = {
        "id": "compat-1",
        "object": "chat.completion",
        "created": 1,
        "model": "command-r7b-12-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    fake.add("/compatibility/v1/chat/completions", Reply(json=chat))
    resp = sdk.responses.create(model="cohere-compat/command-r7b-12-2024", input="hello")
    assert resp.output_text == "Hi there"
    assert [r.path for r in fake.received] == ["/compatibility/v1/chat/completions"]


# ---- the config: the native API by default, the compatibility API on request ----------------------


def test_the_well_known_cohere_entry_is_native() -> None:
    config = config_from_env({"COHERE_API_KEY": "k"})
    entry = config.providers["cohere"]
    assert (entry.type, entry.base_url) == ("cohere", "https://api.cohere.com")


@pytest.mark.parametrize(
    ("entry", "environ", "want"),
    [
        ({"type": "openai-chat"}, {}, ("openai-chat", "https://api.cohere.ai/compatibility/v1")),
        # an entry written when the compatibility API was the default keeps working
        (
            {"base_url": "https://api.cohere.ai/compatibility/v1"},
            {},
            ("openai-chat", "https://api.cohere.ai/compatibility/v1"),
        ),
        (
            {},
            {"COHERE_BASE_URL": "https://api.cohere.com/compatibility/v1"},
            ("openai-chat", "https://api.cohere.com/compatibility/v1"),
        ),
        ({"base_url": "https://cohere.internal.example"}, {}, ("cohere", "https://cohere.internal.example")),
    ],
)
def test_the_compatibility_api_is_picked_by_type_or_url(
    entry: dict[str, Any], environ: dict[str, str], want: tuple[str, str]
) -> None:
    config = config_from_dict({"store": False, "providers": {"cohere": {**entry, "keys": [{"value": "k"}]}}}, environ)
    got = config.providers["cohere"]
    assert (got.type, got.base_url) == want
