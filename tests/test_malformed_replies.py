"""An upstream answer that does not parse as its provider's API is never a success, for every translating
adapter: a 502 ``upstream_bad_response`` before the first byte, an ``error`` event and ``response.failed``
after it.

Each case starts from a recorded reply or stream (tests/fixtures/providers/) and mutates it into
nonsense of the kind a broken or hostile upstream sends: a field of another type, a missing field,
JSON that is not JSON, a stream that ends (``[DONE]``) before it began.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture
from tests.providers.test_bedrock import _event

KEY = "k-not-real"
PATHS = {
    "chat": ("/v1/chat/completions", "/v1/chat/completions"),
    "anthropic": ("/v1/messages", "/v1/messages"),
    "gemini": ("/v1beta/models/g:generateContent", "/v1beta/models/g:streamGenerateContent"),
    "bedrock": ("/model/b/converse", "/model/b/converse-stream"),
}
MODELS = {"chat": "chat/b", "anthropic": "anthropic/b", "gemini": "gemini/g", "bedrock": "bedrock/b"}
FIXTURES = {
    "chat": "openai-chat",
    "anthropic": "anthropic-messages",
    "gemini": "gemini-generatecontent",
    "bedrock": "bedrock-converse",
}


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    keyed = {"keys": [{"value": KEY}], "max_retries": 0}
    providers = {
        "anthropic": {"type": "anthropic", "base_url": upstream.url, **keyed},
        "gemini": {"type": "gemini", "base_url": upstream.url, **keyed},
        "bedrock": {"type": "bedrock", "base_url": upstream.url, **keyed},
        "chat": {"type": "openai-chat", "base_url": f"{upstream.url}/v1", **keyed},
    }
    server = GatewayServer({"store": False, "providers": providers}).start()
    yield server
    server.stop()


def recorded(provider: str) -> Any:
    return copy.deepcopy(load_fixture(f"{FIXTURES[provider]}/text_basic")["response"]["body"])


def mutated(provider: str, change: Any) -> Any:
    body = recorded(provider)
    change(body)
    return body


def _set(path: str, value: Any) -> Any:
    """A change that sets ``body[a][b]...`` (``a.b.0.c``) to ``value``."""

    def change(body: Any) -> None:
        *head, last = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in head:
            body = body[key]
        body[last] = value

    return change


WHOLE = [
    ("chat", {"choices": "nope"}),
    ("chat", mutated("chat", _set("choices", []))),
    ("chat", mutated("chat", _set("choices", [5]))),
    ("chat", mutated("chat", _set("choices.0.message", "hi"))),
    ("chat", mutated("chat", _set("choices.0.message.tool_calls", [{"function": 5}]))),
    ("chat", [1, 2]),
    ("anthropic", {"choices": []}),
    ("anthropic", mutated("anthropic", _set("content", "nope"))),
    ("anthropic", mutated("anthropic", _set("content", [5]))),
    ("anthropic", mutated("anthropic", _set("type", "completion"))),
    ("anthropic", mutated("anthropic", _set("content.0.text", {"a": 1}))),
    ("gemini", {}),
    ("gemini", mutated("gemini", _set("candidates", "nope"))),
    ("gemini", mutated("gemini", _set("candidates.0.content.parts", "x"))),
    ("gemini", mutated("gemini", _set("candidates.0.content.parts", [7]))),
    ("gemini", mutated("gemini", _set("candidates.0.content", [1]))),
    ("bedrock", {}),
    ("bedrock", mutated("bedrock", _set("output", "x"))),
    ("bedrock", mutated("bedrock", _set("output.message.content", {"text": "x"}))),
    ("bedrock", mutated("bedrock", _set("output.message.content", ["x"]))),
]


def bad_gateway(r: httpx.Response) -> None:
    assert r.status_code == 502, r.text
    error = r.json()["error"]
    assert error["code"] == "upstream_bad_response"
    assert "does not parse as its API" in error["message"]
    assert "Traceback" not in r.text and "object has no attribute" not in r.text


@pytest.mark.parametrize(("provider", "body"), WHOLE, ids=[f"{p}-{i}" for i, (p, _) in enumerate(WHOLE)])
def test_a_malformed_reply_is_a_502(http: httpx.Client, fake: FakeUpstream, provider: str, body: Any) -> None:
    fake.add(PATHS[provider][0], Reply(json=body))
    bad_gateway(http.post("/v1/responses", json={"model": MODELS[provider], "input": "hi"}))


def test_the_recorded_replies_still_complete(http: httpx.Client, fake: FakeUpstream) -> None:
    """The control: the same replies unmutated are answers."""
    for provider, (path, _) in PATHS.items():
        fake.add(path, Reply(json=recorded(provider)))
        r = http.post("/v1/responses", json={"model": MODELS[provider], "input": "hi"})
        assert r.status_code == 200 and r.json()["status"] == "completed", (provider, r.text)


def _sse(provider: str) -> list[str]:
    return list(load_fixture(f"{FIXTURES[provider]}/text_stream")["response"]["sse"])


CHAT_SSE = _sse("chat")
ANTHROPIC_SSE = _sse("anthropic")
GEMINI_SSE = _sse("gemini")

STREAMS: list[tuple[str, Reply]] = [
    ("chat", Reply(sse=["data: [DONE]"])),
    ("chat", Reply(sse=["data: {not json", "data: [DONE]"])),
    ("chat", Reply(sse=["data: 5", "data: [DONE]"])),
    ("chat", Reply(sse=['data: {"choices": "nope"}', "data: [DONE]"])),
    ("chat", Reply(sse=[*CHAT_SSE[:2], "data: {not json", *CHAT_SSE[2:]])),
    ("chat", Reply(sse=[*CHAT_SSE[:2], 'data: {"choices": [{"delta": "x"}]}', *CHAT_SSE[2:]])),
    ("anthropic", Reply(sse=["event: message_start\ndata: {not json"])),
    ("anthropic", Reply(sse=[*ANTHROPIC_SSE[:2], "event: content_block_delta\ndata: [1]", *ANTHROPIC_SSE[2:]])),
    (
        "anthropic",
        Reply(
            sse=[
                *ANTHROPIC_SSE[:2],
                'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": "x"}',
                *ANTHROPIC_SSE[2:],
            ]
        ),
    ),
    ("gemini", Reply(sse=["data: {not json"])),
    ("gemini", Reply(sse=['data: {"candidates": "nope"}'])),
    ("gemini", Reply(sse=[*GEMINI_SSE[:1], 'data: {"candidates": [{"content": {"parts": [3]}}]}', *GEMINI_SSE[1:]])),
    ("bedrock", Reply(eventstream=_event("messageStart", {"role": "assistant"}) + _event("contentBlockDelta", [1]))),  # type: ignore[arg-type]
    (
        "bedrock",
        Reply(
            eventstream=_event("messageStart", {"role": "assistant"})
            + _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": "x"})
        ),
    ),
]


def events_of(r: httpx.Response) -> list[dict[str, Any]]:
    out = []
    for block in r.text.split("\n\n"):
        data = [line[5:].strip() for line in block.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out


@pytest.mark.parametrize(("provider", "reply"), STREAMS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(STREAMS)])
def test_a_malformed_stream_never_completes(
    http: httpx.Client, fake: FakeUpstream, provider: str, reply: Reply
) -> None:
    fake.add(PATHS[provider][1], reply)
    r = http.post("/v1/responses", json={"model": MODELS[provider], "input": "hi", "stream": True})
    if r.status_code != 200:  # before the first byte: the plain error
        bad_gateway(r)
        return
    events = events_of(r)
    types = [e["type"] for e in events]
    assert "response.completed" not in types, types
    assert types[-2:] == ["error", "response.failed"], types
    error = events[-2]
    assert error["code"] == "upstream_bad_response", error
    assert "does not parse as its API" in error["message"]
