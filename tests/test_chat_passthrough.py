"""The Chat Completions door's fast path: to a target that speaks Chat Completions itself (a Chat Completions
server, OpenAI, Azure) the client's body goes as it was sent, but for its model, and the server's reply and
chunks come back as they were sent, with only Ferryman's additions (``usage.cost``, ``extra_fields``).

The oracles are the client's own bytes (captured from the official ``openai`` SDK on their way out) and the
fake server's own reply and frames; the cost is the Responses door's for the same token counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.passthrough import Capture, client_frames, frames, swapped, tokens
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

CHAT_BASE = "/chat-server/v1"
CHAT_PATH = f"{CHAT_BASE}/chat/completions"
OPENAI_CHAT = "/v1/chat/completions"
AZURE_CHAT = "/openai/v1/chat/completions"


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    keyed = {"base_url": upstream.url, "keys": [{"value": "sk-upstream-" + uuid.uuid4().hex}], "max_retries": 0}
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('chat-pass')}/store.db",
        "metrics": {},
        "providers": {
            "openai": {**keyed, "base_url": f"{upstream.url}/v1"},
            "azure": {**keyed, "type": "azure", "deployments": {"gpt-4o": "my-4o"}},
            "chat": {**keyed, "type": "openai-chat", "base_url": f"{upstream.url}{CHAT_BASE}"},
            "anthropic": {**keyed, "type": "anthropic"},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway: GatewayServer, fake: FakeUpstream, capture: Capture) -> Iterator[openai.OpenAI]:
    client = httpx.Client(event_hooks={"request": [capture]}, timeout=30)
    yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0, http_client=client)
    client.close()


# ---- the request, byte for byte -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path", "deployment"),
    [
        ("chat/gpt-4o", CHAT_PATH, "gpt-4o"),
        ("openai/gpt-4o", OPENAI_CHAT, "gpt-4o"),
        ("azure/gpt-4o", AZURE_CHAT, "my-4o"),
    ],
)
def test_the_server_gets_the_clients_bytes_but_the_model(
    sdk: openai.OpenAI, fake: FakeUpstream, capture: Capture, model: str, path: str, deployment: str
) -> None:
    fake.add(path, Reply.fixture("openai-chat/text_basic"))
    sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Größte Stadt? \u2603"}],
        temperature=0.70,
        n=2,  # no canonical form: only a server that speaks Chat Completions can take it
        logit_bias={"1234": -100},
        extra_body={"top_k": 40, "chat_template_kwargs": {"enable_thinking": False}},
    )
    [received] = fake.requests_to(path)
    assert received.body == swapped(capture.bodies[-1], model, deployment)


def test_hand_written_bytes_go_as_they_are(gateway: GatewayServer, fake: FakeUpstream) -> None:
    fake.add(CHAT_PATH, Reply.fixture("openai-chat/text_basic"))
    body = (
        b'{ "messages" : [ {"role":"user","content":"\\u00e9t\\u00e9 \\"model\\": 1.50"} ],\n'
        b'  "model" : "chat/gpt-4o" ,"seed":1e2}'
    )
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", content=body, timeout=30)
    assert resp.status_code == 200, resp.text
    assert fake.requests_to(CHAT_PATH)[-1].body == body.replace(b'"chat/gpt-4o"', b'"gpt-4o"')


def test_gateway_fields_are_taken_out(sdk: openai.OpenAI, fake: FakeUpstream, capture: Capture) -> None:
    fake.add(CHAT_PATH, Reply.fixture("openai-chat/text_basic"))
    sdk.chat.completions.create(
        model="chat/gpt-4o", messages=[{"role": "user", "content": "x"}], extra_body={"fallbacks": ["chat/other"]}
    )
    sent = fake.requests_to(CHAT_PATH)[-1].json
    client = json.loads(capture.bodies[-1])
    assert "fallbacks" not in sent
    assert sent == {**{k: v for k, v in client.items() if k != "fallbacks"}, "model": "gpt-4o"}


def test_untranslatable_fields_are_refused_only_by_a_translating_target(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 1}
        )
    assert "logit_bias" in info.value.message
    assert fake.received == []


# ---- the reply, as the server sent it -----------------------------------------------------------


def _usage_of(responses_fixture: str) -> dict[str, Any]:
    """A Chat Completions usage with the token counts of a recorded Responses answer."""
    u = load_fixture(responses_fixture)["response"]["body"]["usage"]
    return {
        "prompt_tokens": u["input_tokens"],
        "completion_tokens": u["output_tokens"],
        "total_tokens": u["total_tokens"],
        "prompt_tokens_details": {"cached_tokens": u["input_tokens_details"]["cached_tokens"]},
    }


def test_the_reply_keeps_every_field_and_gets_cost_and_extra_fields(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    oracle = sdk.responses.create(model="openai/gpt-4o", input="hi")  # the same tokens, priced
    body = load_fixture("openai-chat/text_basic")["response"]["body"]
    body = {
        **body,
        "usage": _usage_of("openai-responses/text_basic"),
        "x_server": {"queue_ms": 3},
        "choices": [{**body["choices"][0], "stop_reason": 128001, "matched_stop": "</s>"}],
    }
    fake.add(OPENAI_CHAT, Reply(json=body))
    got = sdk.chat.completions.with_raw_response.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    reply = json.loads(got.content)
    cost = reply["usage"].pop("cost")
    extra = reply.pop("extra_fields")
    assert reply == body  # every field as the server sent it
    assert cost == (oracle.usage.model_extra or {})["cost"] and cost["total_cost"] > 0
    assert (extra["provider"], extra["request_type"]) == ("openai", "chat_completions")
    assert got.headers["x-ferryman-attempts"] == "openai/gpt-4o:200"


# ---- the stream, frame by frame -----------------------------------------------------------------


def test_stream_frames_are_relayed_unchanged_and_the_usage_chunk_is_priced(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    recorded = load_fixture("openai-chat/text_stream")
    sse = recorded["response"]["sse"]
    fake.add(OPENAI_CHAT, Reply(sse=sse, headers=recorded["response"]["headers"]))
    body = {
        "model": "openai/gpt-4o",
        "messages": [{"role": "user", "content": "What is the capital of Mexico?"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, timeout=30) as resp:
        raw = resp.read()
    got, want = client_frames(raw), frames(sse)
    usage_at = next(i for i, f in enumerate(want) if b'"usage":{' in f)
    assert got[:usage_at] == want[:usage_at]  # every chunk as the server sent it
    assert got[usage_at + 1 :] == want[usage_at + 1 :] == [b"data: [DONE]\n\n"]
    usage_chunk = json.loads(got[usage_at][len(b"data: ") :])
    sent_chunk = json.loads(want[usage_at][len(b"data: ") :])
    cost = usage_chunk["usage"].pop("cost")
    extra = usage_chunk.pop("extra_fields")
    assert usage_chunk == sent_chunk
    assert cost["total_cost"] > 0 and extra["request_type"] == "chat_completions_stream"
    assert fake.requests_to(OPENAI_CHAT)[-1].json == {**body, "model": "gpt-4o"}


def _tokens(gateway: GatewayServer, kind: str) -> float:
    """``ferryman_tokens_total`` of the chat provider's gpt-4o, of one kind (input, output)."""
    return tokens(gateway.url, "chat", "gpt-4o", kind)


def test_a_client_that_asks_no_usage_gets_none_but_the_gateway_counts_it(
    gateway: GatewayServer, fake: FakeUpstream
) -> None:
    sse = load_fixture("openai-chat/text_stream")["response"]["sse"]
    fake.add(CHAT_PATH, Reply(sse=sse))
    before = _tokens(gateway, "input"), _tokens(gateway, "output")
    body = {"model": "chat/gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
    raw = json.dumps(body).encode()
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", content=raw, timeout=30) as resp:
        got = client_frames(resp.read())
    want = [f for f in frames(sse) if b'"usage":{' not in f]
    assert got == want
    sent = fake.requests_to(CHAT_PATH)[-1].body
    assert sent == raw.replace(b"{", b'{"stream_options":{"include_usage":true},', 1).replace(
        b'"chat/gpt-4o"', b'"gpt-4o"'
    )
    usage = next(json.loads(f[len(b"data: ") :])["usage"] for f in frames(sse) if b'"usage":{' in f)
    after = _tokens(gateway, "input"), _tokens(gateway, "output")
    assert (after[0] - before[0], after[1] - before[1]) == (usage["prompt_tokens"], usage["completion_tokens"])


def test_an_error_chunk_mid_stream_reaches_the_client_as_sent(gateway: GatewayServer, fake: FakeUpstream) -> None:
    sse = load_fixture("openai-chat/text_stream")["response"]["sse"]
    error = 'data: {"error":{"message":"overloaded mid-answer","type":"server_error","code":"busy","x":1}}'
    fake.add(CHAT_PATH, Reply(sse=[*sse[:3], error]))
    body = {"model": "chat/gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, timeout=30) as resp:
        got = client_frames(resp.read())
    assert got == [*frames(sse[:3]), error.encode() + b"\n\n"]


def test_a_stream_broken_midway_ends_with_an_error_chunk(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    sse = load_fixture("openai-chat/text_stream")["response"]["sse"]
    fake.add(CHAT_PATH, Reply(sse=sse, drop_after_events=3))
    with pytest.raises(openai.APIError) as info:
        for _ in sdk.chat.completions.create(
            model="chat/gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    assert "chat" in info.value.message


# ---- fallbacks between the two paths ------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_native_target_that_fails_falls_back_to_a_translated_one(
    sdk: openai.OpenAI, fake: FakeUpstream, stream: bool
) -> None:
    fake.add(CHAT_PATH, Reply(status=503, json={"error": {"message": "down"}}))
    fixture = "anthropic-messages/text_stream" if stream else "anthropic-messages/text_basic"
    fake.add("/v1/messages", Reply.fixture(fixture), times=2)
    oracle = sdk.responses.create(model="anthropic/claude-sonnet-4-5", input="x", stream=False) if not stream else None
    messages = [{"role": "user", "content": "x"}]
    fallbacks = {"fallbacks": ["anthropic/claude-sonnet-4-5"]}
    if stream:
        chunks = list(
            sdk.chat.completions.create(model="chat/gpt-4o", messages=messages, stream=True, extra_body=fallbacks)
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        want = "".join(
            json.loads(b[b.index("data: ") + 6 :])["delta"].get("text", "")
            for b in load_fixture(fixture)["response"]["sse"]
            if '"content_block_delta"' in b
        )
        assert text == want
    else:
        got = sdk.chat.completions.create(model="chat/gpt-4o", messages=messages, extra_body=fallbacks)
        assert oracle is not None and got.choices[0].message.content == oracle.output_text
        assert (got.model_extra or {})["extra_fields"]["provider"] == "anthropic"
    assert len(fake.requests_to(CHAT_PATH)) == 1
    assert "fallbacks" not in fake.requests_to(CHAT_PATH)[0].json


def test_a_translated_target_that_fails_falls_back_to_a_native_one(
    sdk: openai.OpenAI, fake: FakeUpstream, capture: Capture
) -> None:
    fake.add(
        "/v1/messages",
        Reply(status=529, json={"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
    )
    body = load_fixture("openai-chat/text_basic")["response"]["body"]
    fake.add(CHAT_PATH, Reply(json=body))
    got = sdk.chat.completions.with_raw_response.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"fallbacks": ["chat/gpt-4o"]},
    )
    reply = json.loads(got.content)
    assert reply["id"] == body["id"] and reply["system_fingerprint"] == body["system_fingerprint"]
    assert got.headers["x-ferryman-attempts"] == "anthropic/claude-sonnet-4-5:529,chat/gpt-4o:200"
    client = json.loads(capture.bodies[-1])
    assert fake.requests_to(CHAT_PATH)[-1].json == {
        **{k: v for k, v in client.items() if k != "fallbacks"},
        "model": "gpt-4o",
    }


# ---- the hooks, after the reply -----------------------------------------------------------------


def _chat_reply(message: dict[str, Any], prompt: int, completion: int) -> dict[str, Any]:
    body = load_fixture("openai-chat/text_basic")["response"]["body"]
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {**body, "choices": [{**body["choices"][0], "message": message}], "usage": usage}


@pytest.fixture(scope="module")
def lean(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    """No request log, no store: no hook reads more of a reply than its usage, so it is never read whole."""
    keyed = {"base_url": upstream.url, "keys": [{"value": "sk-upstream-" + uuid.uuid4().hex}], "max_retries": 0}
    config = {
        "store": False,
        "metrics": {},
        "providers": {"chat": {**keyed, "type": "openai-chat", "base_url": f"{upstream.url}{CHAT_BASE}"}},
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.mark.parametrize("which", ["gateway", "lean"])
@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "priced before, read after"},
        # a reply its reader cannot read whole: the client has it as sent, the hooks still count its usage
        {"role": "assistant", "content": None, "tool_calls": 5},
    ],
    ids=["readable", "unreadable-tool-calls"],
)
def test_a_reply_is_priced_before_it_goes_out_and_counted_after(
    request: pytest.FixtureRequest, fake: FakeUpstream, message: dict[str, Any], which: str
) -> None:
    gateway: GatewayServer = request.getfixturevalue(which)
    prompt, completion = 1000 + len(fake.requests_to(CHAT_PATH)), 37
    body = _chat_reply(message, prompt, completion)
    fake.add(CHAT_PATH, Reply(json=body))
    before = _tokens(gateway, "input"), _tokens(gateway, "output")
    raw = json.dumps({"model": "chat/gpt-4o", "messages": [{"role": "user", "content": "x"}]}).encode()
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", content=raw, timeout=30)
    assert resp.status_code == 200
    reply = resp.json()
    cost = reply["usage"].pop("cost")
    reply.pop("extra_fields")
    assert reply == body
    assert cost["total_cost"] > 0
    after = _tokens(gateway, "input"), _tokens(gateway, "output")
    assert (after[0] - before[0], after[1] - before[1]) == (prompt, completion)


# ---- a skimmed stream's hooks: priced before its end, the rest after ------------------------------

MASTER = "fm-master-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def governed(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    keyed = {"base_url": upstream.url, "keys": [{"value": "sk-upstream-" + uuid.uuid4().hex}], "max_retries": 0}
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('chat-pass-gov')}/store.db",
        "governance": {"master_key": MASTER},
        "metrics": {},
        "providers": {"chat": {**keyed, "type": "openai-chat", "base_url": f"{upstream.url}{CHAT_BASE}"}},
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


def test_a_stream_is_charged_logged_whole_and_timed_from_its_chunks(
    governed: GatewayServer, fake: FakeUpstream
) -> None:
    """The chunks after the first token are relayed unread; the usage chunk's cost is what governance charges,
    and the request log still has the whole answer and its time to first token."""
    sse = load_fixture("openai-chat/text_stream")["response"]["sse"]
    fake.add(CHAT_PATH, Reply(sse=sse))
    admin = httpx.Client(base_url=governed.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)
    made = admin.post("/admin/keys", json={"name": "skim"}).json()
    body = {
        "model": "chat/gpt-4o",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"authorization": f"Bearer {made['key']}"}
    with httpx.stream("POST", f"{governed.url}/v1/chat/completions", json=body, headers=headers, timeout=30) as resp:
        got = client_frames(resp.read())
    chunks = [json.loads(f[len(b"data: ") :]) for f in got[:-1]]
    usage = chunks[-1]["usage"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text and usage["cost"]["total_cost"] > 0
    own = httpx.get(f"{governed.url}/v1/key", headers=headers, timeout=30).json()
    assert own["spend_usd"] == pytest.approx(usage["cost"]["total_cost"])
    assert (own["input_tokens"], own["output_tokens"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    (entry,) = admin.get("/admin/logs", params={"key_id": made["id"]}).json()["data"]
    assert (
        entry["stream"] is True
        and entry["status_code"] == 200
        and entry["cost_usd"] == pytest.approx(usage["cost"]["total_cost"])
    )
    assert entry["ttft_ms"] is not None and 0 < entry["ttft_ms"] <= entry["latency_ms"]
    full = admin.get(f"/admin/logs/{entry['id']}").json()
    assert full["output"][0]["content"][0]["text"] == text
