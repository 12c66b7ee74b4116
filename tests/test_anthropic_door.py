"""The Anthropic Messages door (``/anthropic/v1/messages``): the official ``anthropic`` SDK as the client, a real
gateway on a real port, and fake upstreams speaking each provider's wire format (Anthropic, OpenAI Responses,
Gemini, Bedrock Converse, a Chat Completions server). Each test checks what the client got and what the
upstream received; expected values come from the request sent or the recorded reply replayed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.fakes.agent_model import script
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

PROVIDER_KEY = "sk-test-provider-secret"
CLIENT_KEY = "client-key-123"
WEATHER = {
    "name": "get_weather",
    "description": "Get the weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    key = [{"value": PROVIDER_KEY}]
    url = upstream.url
    config = {
        "store": False,
        "metrics": {},
        "stream_keepalive": 0.2,
        "providers": {
            "anthropic": {"base_url": url, "keys": key, "max_retries": 0},
            "openai": {"base_url": f"{url}/v1", "keys": key, "max_retries": 0},
            "gemini": {"base_url": url, "keys": key, "max_retries": 0},
            "groq": {"base_url": f"{url}/openai/v1", "keys": key, "max_retries": 0},
            "bedrock": {"type": "bedrock", "base_url": url, "keys": key, "max_retries": 0},
        },
        "models": [{"name": "fast", "target": "anthropic/claude-haiku-4-5"}],
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def claude(gw: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=CLIENT_KEY, max_retries=0)


def _sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, data)`` of every frame of an SSE body."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# ---- Anthropic upstream ---------------------------------------------------------------------------


def test_text_reaches_anthropic_as_sent(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    recorded = load_fixture("anthropic-messages/text_basic")["response"]["body"]
    fake.add("/v1/messages", Reply(json=recorded))
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    raw = claude.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=300,
        system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        stop_sequences=["\n\nHuman:"],
        metadata={"user_id": "user-42"},
        extra_body={"temperature": 0.5, "top_k": 40},  # sampling fields this SDK version no longer types
    )
    msg = raw.parse()
    assert msg.content[0].type == "text" and msg.content[0].text == recorded["content"][0]["text"]
    assert msg.stop_reason == "end_turn" and msg.model == recorded["model"]
    assert msg.id.startswith("msg_")
    assert msg.usage.input_tokens == recorded["usage"]["input_tokens"]
    assert msg.usage.output_tokens == recorded["usage"]["output_tokens"]
    assert raw.headers["x-ferryman-attempts"]
    sent = fake.received[-1]
    assert sent.headers["x-api-key"] == PROVIDER_KEY  # the provider's key, never the client's
    body = sent.json
    assert body["model"] == "claude-sonnet-4-5" and body["max_tokens"] == 300
    assert body["system"] == system  # blocks with their cache_control kept
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]  # as it was sent
    assert body["temperature"] == 0.5 and body["top_k"] == 40
    assert body["stop_sequences"] == ["\n\nHuman:"] and body["metadata"] == {"user_id": "user-42"}


def test_stop_sequence_comes_back(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    recorded = load_fixture("anthropic-messages/text_basic")["response"]["body"]
    fake.add("/v1/messages", Reply(json={**recorded, "stop_reason": "stop_sequence", "stop_sequence": "STOP"}))
    msg = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, stop_sequences=["STOP"], messages=[{"role": "user", "content": "Hi"}]
    )
    assert (msg.stop_reason, msg.stop_sequence) == ("stop_sequence", "STOP")


def test_tool_call_stream_from_anthropic(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    fixture = load_fixture("anthropic-messages/tool_call_stream")
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/tool_call_stream"))
    tool = fixture["request"]["body"]["tools"][0]
    with claude.messages.stream(
        model="claude-haiku-4-5-20251001",
        max_tokens=1000,
        tools=[tool],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Two names for a pet pelican"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    recorded_args = "".join(
        json.loads(b.split("data: ", 1)[1])["delta"].get("partial_json", "")
        for b in fixture["response"]["sse"]
        if '"input_json_delta"' in b
    )
    calls = [b for b in final.content if b.type == "tool_use"]
    assert calls and calls[0].name == tool["name"] and calls[0].input == json.loads(recorded_args or "{}")
    assert final.stop_reason == "tool_use"
    assert kinds[0] == "message_start" and "content_block_start" in kinds and kinds[-1] == "message_stop"
    sent = fake.received[-1].json
    assert sent["stream"] is True
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["tools"][0]["name"] == tool["name"] and sent["tools"][0]["input_schema"] == tool["input_schema"]


def test_tool_results_and_images_reach_anthropic(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/tool_result_multi_turn"))
    image_b64 = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    image_url = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PNG}}
    messages: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}, image_b64, image_url]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 22C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "service down"}],
                    "is_error": True,
                },
                pdf,
            ],
        },
    ]
    msg = claude.messages.create(model="claude-sonnet-4-5", max_tokens=500, tools=[WEATHER], messages=messages)
    assert msg.content[0].type == "text" and "Paris" in msg.content[0].text
    sent = fake.received[-1].json["messages"]
    assert sent[0]["content"][1:] == [image_b64, image_url]
    assert sent[1]["content"] == messages[1]["content"]
    results = sent[2]["content"]
    assert results[0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny, 22C"}
    assert results[1]["tool_use_id"] == "toolu_2" and results[1]["is_error"] is True
    assert results[1]["content"] == [{"type": "text", "text": "service down"}]
    assert results[2]["type"] == "document" and results[2]["source"] == pdf["source"]


def test_thinking_round_trip_through_anthropic(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    recorded = load_fixture("anthropic-messages/thinking")["response"]["body"]
    fake.add("/v1/messages", Reply(json=recorded))
    question = {"role": "user", "content": "How do I cross the street?"}
    msg = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[question],  # type: ignore[list-item]
    )
    thinking = [b for b in msg.content if b.type == "thinking"]
    recorded_thinking = [b for b in recorded["content"] if b["type"] == "thinking"]
    assert [(b.thinking, b.signature) for b in thinking] == [(b["thinking"], b["signature"]) for b in recorded_thinking]
    assert fake.received[-1].json["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    # the next turn sends the thinking back: it reaches Anthropic as it came, signature and all
    fake.add("/v1/messages", Reply(json=recorded))
    claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[
            question,  # type: ignore[list-item]
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
            {"role": "user", "content": "And at night?"},
        ],
    )
    replayed = fake.received[-1].json["messages"][1]["content"]
    assert replayed[0] == {
        "type": "thinking",
        "thinking": recorded_thinking[0]["thinking"],
        "signature": recorded_thinking[0]["signature"],
    }


def test_thinking_stream_has_signature_delta(fake: FakeUpstream, gw: GatewayServer) -> None:
    fixture = load_fixture("anthropic-messages/thinking_stream")
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/thinking_stream"))
    body = {**fixture["request"]["body"], "model": "claude-haiku-4-5-20251001"}
    resp = httpx.post(
        f"{gw.url}/anthropic/v1/messages?beta=true",
        json=body,
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01", "anthropic-beta": "x"},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(resp.text)
    upstream = [json.loads(b.split("data: ", 1)[1]) for b in fixture["response"]["sse"]]
    signature = "".join(
        e["delta"]["signature"] for e in upstream if e.get("delta", {}).get("type") == "signature_delta"
    )
    thinking = "".join(e["delta"]["thinking"] for e in upstream if e.get("delta", {}).get("type") == "thinking_delta")
    sent_signature = "".join(
        d["delta"]["signature"] for k, d in events if d.get("delta", {}).get("type") == "signature_delta"
    )
    sent_thinking = "".join(
        d["delta"]["thinking"] for k, d in events if d.get("delta", {}).get("type") == "thinking_delta"
    )
    assert sent_signature == signature and sent_thinking == thinking
    names = [k for k, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == upstream[-2]["usage"]["output_tokens"]
    assert "cost" in final["usage"]
    # blocks open and close in order, each index once
    starts = [d["index"] for k, d in events if k == "content_block_start"]
    stops = [d["index"] for k, d in events if k == "content_block_stop"]
    assert starts == stops == list(range(len(starts)))


def test_count_tokens_asks_anthropic(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    fake.add("/v1/messages/count_tokens", Reply(json={"input_tokens": 1234}))
    counted = claude.messages.count_tokens(
        model="claude-sonnet-4-5", system="Be brief.", tools=[WEATHER], messages=[{"role": "user", "content": "Hi"}]
    )
    assert counted.input_tokens == 1234
    sent = fake.received[-1]
    assert sent.path == "/v1/messages/count_tokens" and sent.headers["x-api-key"] == PROVIDER_KEY
    assert set(sent.json) == {"model", "messages", "system", "tools"}
    assert sent.json["system"] == "Be brief." and sent.json["tools"][0]["name"] == "get_weather"


def test_count_tokens_estimates_for_other_providers(fake: FakeUpstream, gw: GatewayServer) -> None:
    text = "word " * 400
    resp = httpx.post(
        f"{gw.url}/anthropic/v1/messages/count_tokens",
        json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}]},
        timeout=30,
    )
    assert resp.status_code == 200 and resp.headers["x-ferryman-token-estimate"] == "true"
    assert resp.json()["input_tokens"] == -(-len(text) // 4)
    assert fake.received == []  # nothing was called


# ---- errors ---------------------------------------------------------------------------------------


def test_missing_max_tokens_is_a_400_in_anthropic_shape(fake: FakeUpstream, gw: GatewayServer) -> None:
    resp = httpx.post(
        f"{gw.url}/anthropic/v1/messages",
        json={"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=30,
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    assert fake.received == []


def test_bad_block_and_unknown_model(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as bad:  # (an Anthropic target gets it as sent and says)
        claude.messages.create(
            model="openai/gpt-4o",
            max_tokens=10,
            messages=[{"role": "user", "content": [{"type": "hologram", "text": "x"}]}],  # type: ignore[list-item]
        )
    assert "hologram" in bad.value.message and bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert fake.received == []


def test_upstream_errors_keep_their_type(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.add("/v1/messages", Reply(status=529, json=overloaded), times=1)
    with pytest.raises(anthropic.APIStatusError) as failed:
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert failed.value.status_code == 529
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert "Overloaded" in failed.value.body["error"]["message"]  # type: ignore[index]


def test_failure_mid_stream_is_an_error_event(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    sse = load_fixture("anthropic-messages/text_stream")["response"]["sse"]
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded mid-stream"}}
    cut = [*sse[:4], f"event: error\ndata: {json.dumps(error)}"]
    fake.add("/v1/messages", Reply(sse=cut, headers={"content-type": "text/event-stream"}))
    with (
        pytest.raises(anthropic.APIStatusError) as failed,
        claude.messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "Overloaded mid-stream" in str(failed.value)


# ---- other providers ------------------------------------------------------------------------------


def _agent_turns(claude: anthropic.Anthropic, model: str, *, stream: bool) -> tuple[Any, Any]:
    """A tool call, then (with the tool's result sent back) the final text."""
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with claude.messages.stream(model=model, max_tokens=200, tools=[WEATHER], messages=ask) as s:  # type: ignore[arg-type]
            first = s.get_final_message()
    else:
        first = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=ask)  # type: ignore[arg-type]
    call = next(b for b in first.content if b.type == "tool_use")
    history = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 22C"}]},
    ]
    if stream:
        with claude.messages.stream(model=model, max_tokens=200, tools=[WEATHER], messages=history) as s:  # type: ignore[arg-type]
            second = s.get_final_message()
    else:
        second = claude.messages.create(model=model, max_tokens=200, tools=[WEATHER], messages=history)  # type: ignore[arg-type]
    return first, second


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "openai/gpt-4o"),
        ("gemini", "gemini/gemini-2.0-flash"),
        ("groq", "groq/llama-3.3-70b-versatile"),
        ("anthropic", "fast"),
    ],
)
def test_tool_loop_on_every_provider(
    fake: FakeUpstream, claude: anthropic.Anthropic, provider: str, model: str, stream: bool
) -> None:
    scripted = script(fake, provider, "get_weather", {"city": "Paris"}, "Sunny in Paris.")
    first, second = _agent_turns(claude, model, stream=stream)
    call = next(b for b in first.content if b.type == "tool_use")
    assert (call.name, call.input, first.stop_reason) == ("get_weather", {"city": "Paris"}, "tool_use")
    assert second.content[-1].type == "text" and second.content[-1].text == scripted.answer
    assert second.stop_reason == "end_turn" and second.usage.output_tokens > 0
    received = fake.received[-1].json
    assert scripted.wire.tool_names(received) == ["get_weather"]
    assert scripted.wire.tool_output(received) == "Sunny, 22C"


def test_bedrock_tool_call_and_text(fake: FakeUpstream, claude: anthropic.Anthropic) -> None:
    path = "/model/anthropic.claude-sonnet-4-5/converse"
    recorded = load_fixture("bedrock-converse/tool_call")["response"]["body"]
    fake.add(path, Reply(json=recorded))
    msg = claude.messages.create(
        model="bedrock/anthropic.claude-sonnet-4-5",
        max_tokens=200,
        tools=[WEATHER],
        stop_sequences=["END"],
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    use = recorded["output"]["message"]["content"][0]["toolUse"]
    call = next(b for b in msg.content if b.type == "tool_use")
    assert (call.id, call.name, call.input) == (use["toolUseId"], use["name"], use["input"])
    assert msg.stop_reason == "tool_use" and msg.usage.input_tokens == recorded["usage"]["inputTokens"]
    sent = fake.requests_to(path)[-1].json
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert sent["inferenceConfig"] == {"maxTokens": 200, "stopSequences": ["END"]}


def test_openai_gets_responses_input_and_refuses_stop_sequences(
    fake: FakeUpstream, claude: anthropic.Anthropic
) -> None:
    recorded = load_fixture("openai-responses/text_basic")["response"]["body"]
    fake.add("/v1/responses", Reply(json=recorded))
    msg = claude.messages.create(
        model="openai/gpt-4o",
        max_tokens=100,
        system="Be brief.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                ],
            }
        ],
    )
    text = next(p["text"] for i in recorded["output"] if i["type"] == "message" for p in i["content"])
    assert msg.content[0].text == text  # type: ignore[union-attr]
    assert msg.usage.output_tokens == recorded["usage"]["output_tokens"]
    sent = fake.received[-1].json
    assert sent["model"] == "gpt-4o" and sent["max_output_tokens"] == 100 and sent["store"] is False
    assert sent["input"][0] == {
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "Be brief."}],
    }
    assert sent["input"][1]["content"][1] == {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}
    fake.received.clear()
    with pytest.raises(anthropic.BadRequestError) as refused:
        claude.messages.create(
            model="openai/gpt-4o", max_tokens=10, stop_sequences=["x"], messages=[{"role": "user", "content": "Hi"}]
        )
    assert "stop" in refused.value.message
    assert fake.received == []


def test_route_name_in_metrics(fake: FakeUpstream, gw: GatewayServer, claude: anthropic.Anthropic) -> None:
    script(fake, "anthropic", "get_weather", {"city": "Paris"}, "Done.")

    def count() -> float:
        text = httpx.get(f"{gw.url}/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("ferryman_requests_total{") and 'route="anthropic_messages"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    before = count()
    claude.messages.create(model="fast", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert count() == before + 1
