"""The Chat Completions door, end to end: the official ``openai`` SDK's ``chat.completions`` against a real
gateway in front of fake upstreams speaking each provider's wire format (recorded exchanges replayed).

Two oracles, neither written by hand: a Chat Completions server's own recordings (the request recorded
is what the client sends, the reply recorded what it must get back), and, for every other provider, the
Responses door on the same recorded reply (the canonical answer the chat answer is a rendering of).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

CHAT_BASE = "/chat-server/v1"  # where the fake Chat Completions server lives on the fake upstream
CHAT_PATH = f"{CHAT_BASE}/chat/completions"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()

# provider -> (fixture folder, model, the path its calls reach: (non-stream, stream)); a provider that speaks
# Chat Completions itself (OpenAI, Azure, a Chat Completions server) gets the body as it was sent:
# tests/test_chat_passthrough.py
PROVIDERS = {
    "anthropic": ("anthropic-messages", "claude-sonnet-4-5", ("/v1/messages", "/v1/messages")),
    "gemini": (
        "gemini-generatecontent",
        "gemini-2.0-flash",
        ("/v1beta/models/gemini-2.0-flash:generateContent", "/v1beta/models/gemini-2.0-flash:streamGenerateContent"),
    ),
    "bedrock": (
        "bedrock-converse",
        "us.amazon.nova-micro-v1:0",
        ("/model/us.amazon.nova-micro-v1:0/converse", "/model/us.amazon.nova-micro-v1:0/converse-stream"),
    ),
}


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    keyed = {"base_url": upstream.url, "keys": [{"value": "sk-upstream-" + uuid.uuid4().hex}], "max_retries": 0}
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('chat-door')}/store.db",
        "metrics": {},
        "providers": {
            "openai": {**keyed, "base_url": f"{upstream.url}/v1"},
            "chat": {**keyed, "type": "openai-chat", "base_url": f"{upstream.url}{CHAT_BASE}"},
            "anthropic": {**keyed, "type": "anthropic"},
            "gemini": {**keyed, "type": "gemini"},
            "bedrock": {**keyed, "type": "bedrock"},
            "mock": {"type": "mock"},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


def _responses_oracle(sdk: openai.OpenAI, model: str, *, stream: bool, **body: Any) -> Any:
    """The Responses door's answer to the same question (the fake replays the same recording)."""
    if not stream:
        return sdk.responses.create(model=model, **body)
    with sdk.responses.stream(model=model, **body) as events:
        return events.get_final_response()


def _chat_stream(sdk: openai.OpenAI, **body: Any) -> tuple[list[Any], ChatCompletion]:
    """Every chunk, and the completion the SDK's own accumulator makes of them."""
    chunks: list[Any] = []
    with sdk.chat.completions.stream(**body, stream_options={"include_usage": True}) as stream:
        for event in stream:
            if event.type == "chunk":
                chunks.append(event.chunk)
        final = stream.get_final_completion()
    return chunks, ChatCompletion.model_validate(final.model_dump())


# ---- a Chat Completions server: its recordings are the oracle -----------------------------------


def _recorded_chunks(sse: list[str]) -> list[dict[str, Any]]:
    return [json.loads(b[len("data: ") :]) for b in sse if b.startswith("data: {")]


@pytest.mark.parametrize(
    "name", ["text_basic", "tool_call", "tool_result_multi_turn", "structured_output_json_schema", "image_input"]
)
def test_a_recorded_chat_request_gets_the_recorded_answer(sdk: openai.OpenAI, fake: FakeUpstream, name: str) -> None:
    recorded = load_fixture(f"openai-chat/{name}")
    body = dict(recorded["request"]["body"])
    model = body.pop("model")
    body.pop("stream", None)
    fake.add(CHAT_PATH, Reply.fixture(f"openai-chat/{name}"))
    got = sdk.chat.completions.create(model=f"chat/{model}", **body)
    want = recorded["response"]["body"]
    choice, wanted = got.choices[0], want["choices"][0]
    assert got.object == "chat.completion" and got.id.startswith("chatcmpl-")
    assert got.model == want["model"]
    assert choice.message.content == wanted["message"]["content"]
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"]) for c in wanted["message"].get("tool_calls", [])
    ]
    assert choice.finish_reason == wanted["finish_reason"]
    assert got.usage is not None
    assert (got.usage.prompt_tokens, got.usage.completion_tokens, got.usage.total_tokens) == (
        want["usage"]["prompt_tokens"],
        want["usage"]["completion_tokens"],
        want["usage"]["total_tokens"],
    )
    cached = want["usage"].get("prompt_tokens_details", {}).get("cached_tokens", 0)
    assert got.usage.prompt_tokens_details is not None and got.usage.prompt_tokens_details.cached_tokens == cached
    [received] = fake.requests_to(CHAT_PATH)
    sent = received.json
    assert sent["model"] == model
    assert [m["role"] for m in sent["messages"]] == [m["role"] for m in body["messages"]]
    assert [c["id"] for m in sent["messages"] for c in m.get("tool_calls") or []] == [
        c["id"] for m in body["messages"] for c in m.get("tool_calls") or []
    ]
    assert [m.get("tool_call_id") for m in sent["messages"]] == [m.get("tool_call_id") for m in body["messages"]]
    assert [t["function"]["name"] for t in sent.get("tools", [])] == [
        t["function"]["name"] for t in body.get("tools", [])
    ]
    if "response_format" in body:
        assert sent["response_format"]["json_schema"]["schema"] == body["response_format"]["json_schema"]["schema"]


@pytest.mark.parametrize("name", ["text_stream", "tool_call_stream"])
def test_a_recorded_chat_stream_streams_as_recorded(sdk: openai.OpenAI, fake: FakeUpstream, name: str) -> None:
    recorded = load_fixture(f"openai-chat/{name}")
    body = dict(recorded["request"]["body"])
    model = body.pop("model")
    for key in ("stream", "stream_options"):
        body.pop(key, None)
    fake.add(CHAT_PATH, Reply.fixture(f"openai-chat/{name}"))
    chunks, final = _chat_stream(sdk, model=f"chat/{model}", **body)
    want = _recorded_chunks(recorded["response"]["sse"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in want if c["choices"])
    calls: dict[int, list[str]] = {}
    for c in want:
        for call in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            calls.setdefault(call["index"], []).append(call["function"].get("arguments") or "")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"
    assert (final.choices[0].message.content or "") == text
    assert {i: c.function.arguments for i, c in enumerate(final.choices[0].message.tool_calls or [])} == {
        i: "".join(parts) for i, parts in calls.items()
    }
    if calls:  # a call's first delta names it; its arguments follow in pieces, under the same index
        heads = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or [] if d.id]
        assert [h.function.name for h in heads] == [
            call["function"]["name"]
            for c in want
            if c["choices"]
            for call in c["choices"][0]["delta"].get("tool_calls") or []
            if call.get("id")
        ]
    [finish] = [c["choices"][0]["finish_reason"] for c in want if c["choices"] and c["choices"][0]["finish_reason"]]
    assert final.choices[0].finish_reason == finish
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == want[-1]["usage"]["completion_tokens"]
    [received] = fake.requests_to(CHAT_PATH)
    assert received.json["stream"] is True


# ---- every other provider: the Responses door's answer is the oracle ----------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_text_on_every_provider(sdk: openai.OpenAI, fake: FakeUpstream, provider: str, stream: bool) -> None:
    folder, model, paths = PROVIDERS[provider]
    fixture = f"{folder}/{'text_stream' if stream else 'text_basic'}"
    question = "What is the capital of France?"
    fake.add(paths[stream], Reply.fixture(fixture), times=2)
    oracle = _responses_oracle(sdk, f"{provider}/{model}", stream=stream, input=question)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": question}]
    if stream:
        chunks, got = _chat_stream(sdk, model=f"{provider}/{model}", messages=messages)
        assert chunks[0].choices[0].delta.role == "assistant"
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 1
    else:
        got = sdk.chat.completions.create(model=f"{provider}/{model}", messages=messages)
    assert got.choices[0].message.content == oracle.output_text
    assert got.choices[0].finish_reason == "stop"
    assert got.usage is not None and oracle.usage is not None
    assert (got.usage.prompt_tokens, got.usage.completion_tokens) == (
        oracle.usage.input_tokens,
        oracle.usage.output_tokens,
    )
    sent = fake.requests_to(paths[stream])[-1].json
    assert question in json.dumps(sent) and "Be brief." in json.dumps(sent)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_tool_calls_on_every_provider(sdk: openai.OpenAI, fake: FakeUpstream, provider: str, stream: bool) -> None:
    folder, model, paths = PROVIDERS[provider]
    fixture = f"{folder}/{'tool_call_stream' if stream else 'tool_call'}"
    fake.add(paths[stream], Reply.fixture(fixture), times=2)
    tool = {"type": "function", **WEATHER["function"]}
    oracle = _responses_oracle(sdk, f"{provider}/{model}", stream=stream, input="Weather in Paris?", tools=[tool])
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        _, got = _chat_stream(sdk, model=f"{provider}/{model}", messages=messages, tools=[WEATHER])
    else:
        got = sdk.chat.completions.create(model=f"{provider}/{model}", messages=messages, tools=[WEATHER])
    calls = [(i.call_id, i.name, json.loads(i.arguments)) for i in oracle.output if i.type == "function_call"]
    got_calls = [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in got.choices[0].message.tool_calls or []
    ]
    assert calls
    if provider == "gemini":  # Gemini names no call: each answer's calls get fresh ids
        calls, got_calls = [c[1:] for c in calls], [c[1:] for c in got_calls]
    assert got_calls == calls
    assert got.choices[0].finish_reason == "tool_calls"
    sent = json.dumps(fake.requests_to(paths[stream])[-1].json)
    assert "get_weather" in sent and WEATHER["function"]["description"] in sent


def test_tool_results_and_images_reach_anthropic_as_its_blocks(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_basic"))
    image = f"data:image/png;base64,{PNG}"
    sdk.chat.completions.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[
            {"role": "developer", "content": "Answer in French."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather there?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny, 22C"},
        ],
        tools=[WEATHER],
    )
    sent = fake.requests_to("/v1/messages")[-1].json
    assert "Answer in French." in json.dumps(sent["system"])
    user, assistant, result = sent["messages"]
    assert {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}} in [
        {k: v for k, v in b.items() if k != "cache_control"} for b in user["content"]
    ]
    [use] = [b for b in assistant["content"] if b["type"] == "tool_use"]
    assert (use["id"], use["name"], use["input"]) == ("toolu_1", "get_weather", {"city": "Paris"})
    [tool_result] = [b for b in result["content"] if b["type"] == "tool_result"]
    assert tool_result["tool_use_id"] == "toolu_1" and "Sunny, 22C" in json.dumps(tool_result["content"])


@pytest.mark.parametrize(
    ("provider", "where"),
    [
        ("chat", lambda sent: (sent["stop"], sent["seed"])),
        ("anthropic", lambda sent: (sent["stop_sequences"], None)),
        ("gemini", lambda sent: (sent["generationConfig"]["stopSequences"], sent["generationConfig"]["seed"])),
        ("bedrock", lambda sent: (sent["inferenceConfig"]["stopSequences"], None)),
    ],
)
def test_stop_and_seed_reach_providers_that_have_them(
    sdk: openai.OpenAI, fake: FakeUpstream, provider: str, where: Any
) -> None:
    if provider == "chat":
        folder, model, path = "openai-chat", "gpt-4o", CHAT_PATH
    else:
        folder, model, (path, _) = PROVIDERS[provider]
    fake.add(path, Reply.fixture(f"{folder}/text_basic"))
    stop, seed = ["END", "STOP"], 42
    sdk.chat.completions.create(
        model=f"{provider}/{model}", messages=[{"role": "user", "content": "x"}], stop=stop, seed=seed
    )
    got_stop, got_seed = where(fake.requests_to(path)[-1].json)
    assert got_stop == stop and got_seed in (seed, None)


def test_cost_and_extra_fields_ride_on_the_answer(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_basic"), times=2)
    oracle = sdk.responses.create(model="anthropic/claude-sonnet-4-5", input="hi")
    got = sdk.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    extra = got.model_extra or {}
    usage = got.usage.model_extra if got.usage is not None else {}
    assert usage and usage["cost"] == (oracle.usage.model_extra or {})["cost"]
    assert usage["cost"]["total_cost"] > 0
    assert extra["extra_fields"]["request_type"] == "chat_completions"
    assert extra["extra_fields"]["provider"] == "anthropic"


def test_a_stream_carries_cost_and_extra_fields_on_its_usage_chunk(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_stream"))
    chunks, _ = _chat_stream(sdk, model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    last = chunks[-1]
    assert last.usage is not None and (last.usage.model_extra or {})["cost"]["total_cost"] > 0
    assert (last.model_extra or {})["extra_fields"]["request_type"] == "chat_completions_stream"


def test_every_prefix_serves_the_door(gateway: GatewayServer, fake: FakeUpstream) -> None:
    body = {"model": "mock/echo", "messages": [{"role": "user", "content": "ping"}]}
    for prefix in ("/v1", "/openai/v1", "/litellm/v1", ""):
        resp = httpx.post(f"{gateway.url}{prefix}/chat/completions", json=body, timeout=30)
        assert resp.status_code == 200, prefix
        assert resp.json()["choices"][0]["message"]["content"] == "ping"


def test_raw_stream_ends_with_done(gateway: GatewayServer) -> None:
    body = {"model": "mock/echo", "messages": [{"role": "user", "content": "a b"}], "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in resp.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "a b"
    assert all("usage" not in c for c in chunks)  # without include_usage, no usage field at all


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat/gpt-4o"}, "messages"),
        ({"model": "chat/gpt-4o", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "chat/gpt-4o", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "chat/gpt-4o", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"model": "chat/gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": 9}, "temperature"),
        ({"model": "chat/gpt-4o", "messages": [{"role": "user", "content": "x"}], "stop": 3}, "stop"),
        ({"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ],
)
def test_bad_input_is_a_400_in_openai_shape_before_any_call(
    gateway: GatewayServer, fake: FakeUpstream, body: dict[str, Any], param: str
) -> None:
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, timeout=30)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"]
    assert fake.received == []


def test_a_provider_error_reaches_the_client_as_its_status(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    recorded = load_fixture("openai-chat/error_400")
    fake.add(CHAT_PATH, Reply.fixture("openai-chat/error_400"))
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="chat/gpt-4o", messages=[{"role": "user", "content": "today?"}])
    assert recorded["response"]["body"]["error"]["message"] in info.value.message


def test_an_unknown_model_is_a_404(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="nowhere/model-x", messages=[{"role": "user", "content": "x"}])
    assert fake.received == []


def test_a_stream_broken_midway_is_an_error_in_the_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_stream", drop_after_events=3))
    with pytest.raises(openai.APIError):
        _chat_stream(sdk, model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}])


def test_fallbacks_are_honoured(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(CHAT_PATH, Reply(status=503, json={"error": {"message": "down"}}), times=1)
    fake.add(CHAT_PATH, Reply.fixture("openai-chat/text_basic"))
    got = sdk.chat.completions.create(
        model="chat/broken", messages=[{"role": "user", "content": "x"}], extra_body={"fallbacks": ["chat/gpt-4o"]}
    )
    assert (
        got.choices[0].message.content
        == load_fixture("openai-chat/text_basic")["response"]["body"]["choices"][0]["message"]["content"]
    )
    assert [r.json["model"] for r in fake.requests_to(CHAT_PATH)] == ["broken", "gpt-4o"]


def test_the_metrics_see_the_route(gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    sdk.chat.completions.create(model="mock/echo", messages=[{"role": "user", "content": "x"}])
    text = httpx.get(f"{gateway.url}/metrics", timeout=30).text
    assert any(
        'route="chat_completions"' in line and line.startswith("ferryman_requests_total") for line in text.splitlines()
    )
