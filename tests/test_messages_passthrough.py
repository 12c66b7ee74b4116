"""The Anthropic Messages door's fast path: to an ``anthropic`` target the client's body goes as it was sent, but
for its model, with its ``anthropic-beta`` / ``anthropic-version`` headers and its query, and Anthropic's reply
and events come back as they were sent, with only ``usage.cost`` added.

The oracles are the client's own bytes and headers (captured from the official ``anthropic`` SDK on their way
out) and the fake Anthropic's own reply and frames; the cost is the Responses door's for the same answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.passthrough import Capture, client_frames, frames, swapped, tokens
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

MESSAGES = "/v1/messages"
PROVIDER_KEY = "sk-ant-upstream-" + uuid.uuid4().hex
BETAS = ["context-management-2025-06-27", "mcp-client-2025-04-04"]


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    keyed = {"base_url": upstream.url, "keys": [{"value": PROVIDER_KEY}], "max_retries": 0}
    config = {
        "store": False,
        "metrics": {},
        "providers": {"anthropic": keyed, "openai": {**keyed, "base_url": f"{upstream.url}/v1"}},
        "models": [
            {"name": "claude-then-gpt", "target": "anthropic/claude-sonnet-4-5", "fallbacks": ["openai/gpt-4o"]},
            {"name": "gpt-then-claude", "target": "openai/gpt-4o", "fallbacks": ["anthropic/claude-sonnet-4-5"]},
        ],
    }
    with GatewayServer(config) as server:
        yield server


@pytest.fixture
def claude(gateway: GatewayServer, fake: FakeUpstream, capture: Capture) -> Iterator[anthropic.Anthropic]:
    client = httpx2.Client(event_hooks={"request": [capture]}, timeout=30)  # the SDK's own HTTP client
    yield anthropic.Anthropic(
        base_url=f"{gateway.url}/anthropic", api_key="client-key", max_retries=0, http_client=client
    )
    client.close()


# every kind of thing the door cannot translate, and a conversation only Anthropic can read back
HISTORY: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": [{"type": "text", "text": "Größte Stadt? \u2603", "cache_control": {"type": "ephemeral"}}],
    },
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "EqQBCkYIBxgCKkD" + "A" * 40},
            {"type": "hologram", "shimmer": 3},  # a block type Ferryman has never heard of
            {"type": "text", "text": "Tokio."},
        ],
    },
    {"role": "user", "content": "Und die zweitgrößte?"},
]
UNTRANSLATABLE: dict[str, Any] = {
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "example"}],
    "container": "container_011CQUbWHKZ6G2eEMV7UTQ2y",
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "service_tier": "auto",
}


# ---- the request, byte for byte, with the client's headers -------------------------------------------


def test_anthropic_gets_the_clients_bytes_headers_and_query(
    claude: anthropic.Anthropic, fake: FakeUpstream, capture: Capture
) -> None:
    fake.add(MESSAGES, Reply.fixture("anthropic-messages/text_basic"))
    claude.beta.messages.create(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=4096,
        messages=HISTORY,  # type: ignore[arg-type]
        betas=BETAS,
        extra_body=UNTRANSLATABLE,
        extra_query={"beta": "true"},  # as Claude Code sends it
    )
    sent = capture.requests[-1]
    [received] = fake.requests_to(MESSAGES)
    assert received.body == swapped(sent.content, "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
    assert received.query == dict(sent.url.params) == {"beta": "true"}
    assert received.headers["anthropic-beta"] == sent.headers["anthropic-beta"] == ",".join(BETAS)
    assert received.headers["anthropic-version"] == sent.headers["anthropic-version"]
    assert received.headers["x-api-key"] == PROVIDER_KEY  # the provider's key, never the client's
    assert "client-key" not in json.dumps(received.headers)


def test_what_the_door_cannot_translate_is_refused_by_a_translating_target(
    claude: anthropic.Anthropic, fake: FakeUpstream
) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="openai/gpt-4o", max_tokens=100, messages=HISTORY)  # type: ignore[arg-type]
    assert "hologram" in info.value.message
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(
            model="openai/gpt-4o",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
            extra_body=UNTRANSLATABLE,
        )
    assert "mcp_servers" in info.value.message
    assert fake.received == []


def test_count_tokens_forwards_the_body_and_headers(
    claude: anthropic.Anthropic, fake: FakeUpstream, capture: Capture
) -> None:
    fake.add(f"{MESSAGES}/count_tokens", Reply(json={"input_tokens": 4321}))
    counted = claude.beta.messages.count_tokens(
        model="anthropic/claude-sonnet-4-5",
        messages=HISTORY,  # type: ignore[arg-type]
        betas=BETAS,
        extra_body={"mcp_servers": []},
        extra_query={"beta": "true"},
    )
    assert counted.input_tokens == 4321
    sent = capture.requests[-1]
    [received] = fake.requests_to(f"{MESSAGES}/count_tokens")
    assert received.body == swapped(sent.content, "anthropic/claude-sonnet-4-5", "claude-sonnet-4-5")
    assert received.headers["anthropic-beta"] == sent.headers["anthropic-beta"]
    assert set(BETAS) <= set(received.headers["anthropic-beta"].split(","))
    assert received.query == {"beta": "true"}
    assert received.headers["x-api-key"] == PROVIDER_KEY


# ---- the reply, as Anthropic sent it -------------------------------------------------------------------


def _cost_of(fake: FakeUpstream, gateway: GatewayServer, reply: Reply) -> dict[str, Any]:
    """Ferryman's price of an Anthropic answer, through the Responses door (a translated request)."""
    fake.add(MESSAGES, reply, times=1)
    oai = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)
    if reply.sse is None:
        answer = oai.responses.create(model="anthropic/claude-sonnet-4-5", input="x")
    else:
        events = list(oai.responses.create(model="anthropic/claude-sonnet-4-5", input="x", stream=True))
        answer = next(e.response for e in events if e.type == "response.completed")
    fake.reset()
    return dict((answer.usage.model_extra or {})["cost"])  # type: ignore[union-attr]


def test_the_reply_keeps_every_field_and_gets_its_cost(
    claude: anthropic.Anthropic, fake: FakeUpstream, gateway: GatewayServer
) -> None:
    body = load_fixture("anthropic-messages/text_basic")["response"]["body"]
    body = {
        **body,
        "content": [*body["content"], {"type": "hologram_result", "glow": [1, 2]}],  # a block type new to Ferryman
        "context_management": {"applied_edits": []},
        "container": {"id": "container_1", "expires_at": "2030-01-01T00:00:00Z"},
        "usage": {**body["usage"], "server_tool_use": {"web_search_requests": 0}, "service_tier": "standard"},
    }
    oracle = _cost_of(fake, gateway, Reply(json=body))
    fake.add(MESSAGES, Reply(json=body))
    got = claude.messages.with_raw_response.create(
        model="anthropic/claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "x"}]
    )
    reply = json.loads(got.http_response.content)
    cost = reply["usage"].pop("cost")
    assert reply == body  # every field as Anthropic sent it, nothing else added
    assert cost == oracle and cost["total_cost"] > 0
    message = got.parse()  # the SDK takes the extra member of usage as an extra field
    assert (message.usage.model_extra or {})["cost"] == cost
    assert got.headers["x-ferryman-attempts"] == "anthropic/claude-sonnet-4-5:200"


# ---- the stream, frame by frame ------------------------------------------------------------------------


def _tokens(gateway: GatewayServer, kind: str) -> float:
    return tokens(gateway.url, "anthropic", "claude-sonnet-4-5", kind)


@pytest.mark.parametrize("fixture", ["text_stream", "thinking_stream", "web_search_stream"])
def test_stream_events_are_relayed_unchanged_and_message_delta_is_priced(
    gateway: GatewayServer, fake: FakeUpstream, fixture: str
) -> None:
    recorded = load_fixture(f"anthropic-messages/{fixture}")
    sse = recorded["response"]["sse"]
    oracle = _cost_of(fake, gateway, Reply(sse=sse, headers={"content-type": "text/event-stream"}))
    fake.add(MESSAGES, Reply(sse=sse, headers={"content-type": "text/event-stream"}))
    before = _tokens(gateway, "input"), _tokens(gateway, "output")
    body = {**recorded["request"]["body"], "model": "anthropic/claude-sonnet-4-5", "stream": True}
    with httpx.stream("POST", f"{gateway.url}/anthropic/v1/messages", json=body, timeout=30) as resp:
        raw = resp.read()
    got, want = client_frames(raw), frames(sse)
    at = next(i for i, f in enumerate(want) if f.startswith(b"event: message_delta"))
    assert got[:at] == want[:at] and got[at + 1 :] == want[at + 1 :]  # every other event as Anthropic sent it
    delta = json.loads(got[at].split(b"data: ", 1)[1])
    sent = json.loads(want[at].split(b"data: ", 1)[1])
    assert delta["usage"].pop("cost") == oracle
    assert delta == sent
    after = _tokens(gateway, "input"), _tokens(gateway, "output")
    usage = sent["usage"]
    start = json.loads(want[0].split(b"data: ", 1)[1])["message"]["usage"]
    inputs = sum(
        (usage.get(k) if usage.get(k) is not None else start.get(k, 0)) or 0
        for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    assert (after[0] - before[0], after[1] - before[1]) == (inputs, usage["output_tokens"])


def test_the_sdk_reads_a_passed_through_stream(claude: anthropic.Anthropic, fake: FakeUpstream) -> None:
    recorded = load_fixture("anthropic-messages/thinking_stream")
    fake.add(MESSAGES, Reply(sse=recorded["response"]["sse"], headers={"content-type": "text/event-stream"}))
    body = recorded["request"]["body"]
    with claude.messages.stream(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=body["max_tokens"],
        messages=body["messages"],
        thinking=body["thinking"],
    ) as stream:
        delta = next(e for e in stream if e.type == "message_delta")
        message = stream.get_final_message()
    want = [
        json.loads(b.split("data: ", 1)[1]) for b in recorded["response"]["sse"] if "event: content_block_delta" in b
    ]
    signature = "".join(d["delta"].get("signature", "") for d in want)
    thinking = next(b for b in message.content if b.type == "thinking")
    assert thinking.signature == signature  # Anthropic's own, not a Ferryman-tagged one
    assert (delta.usage.model_extra or {})["cost"]["total_cost"] > 0  # the SDK keeps it as an extra field


# ---- fallbacks between the two paths -------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_anthropic_failing_falls_back_to_a_translated_target(
    claude: anthropic.Anthropic, fake: FakeUpstream, stream: bool
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    fake.add(MESSAGES, Reply(status=529, json=overloaded))
    fixture = "openai-responses/text_stream" if stream else "openai-responses/text_basic"
    fake.add("/v1/responses", Reply.fixture(fixture))
    messages: list[Any] = [{"role": "user", "content": "x"}]
    if stream:
        with claude.messages.stream(model="claude-then-gpt", max_tokens=100, messages=messages) as events:
            message = events.get_final_message()
    else:
        message = claude.messages.create(model="claude-then-gpt", max_tokens=100, messages=messages)
    recorded = load_fixture(fixture)["response"]
    if stream:
        done = next(b for b in recorded["sse"] if "response.completed" in b)
        answer = json.loads(done.split("data: ", 1)[1])["response"]
    else:
        answer = recorded["body"]
    text = "".join(c["text"] for i in answer["output"] if i["type"] == "message" for c in i["content"])
    assert "".join(b.text for b in message.content if b.type == "text") == text
    assert len(fake.requests_to(MESSAGES)) == 1 and len(fake.requests_to("/v1/responses")) == 1


def test_a_translated_target_failing_falls_back_to_anthropic_passed_through(
    claude: anthropic.Anthropic, fake: FakeUpstream, capture: Capture
) -> None:
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "down", "type": "server_error"}}))
    body = load_fixture("anthropic-messages/text_basic")["response"]["body"]
    fake.add(MESSAGES, Reply(json=body))
    got = claude.messages.with_raw_response.create(
        model="gpt-then-claude", max_tokens=100, messages=[{"role": "user", "content": "x"}]
    )
    reply = json.loads(got.http_response.content)
    reply["usage"].pop("cost")
    assert reply == body
    assert got.headers["x-ferryman-attempts"] == "openai/gpt-4o:503,anthropic/claude-sonnet-4-5:200"
    [received] = fake.requests_to(MESSAGES)
    assert received.body == swapped(capture.requests[-1].content, "gpt-then-claude", "claude-sonnet-4-5")
