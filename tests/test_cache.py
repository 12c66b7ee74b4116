"""The response cache, exact and semantic, on the in-process and the Redis backend."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, closed_port

REDIS_URL = "redis://127.0.0.1:6379/0"
OK = "openai-responses/text_basic"
TOOL = {"type": "function", "name": "get_capital", "parameters": {"type": "object", "properties": {}}}


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "redis" and not _redis_up():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return "memory" if request.param == "memory" else REDIS_URL


def _gateway(fake: FakeUpstream, backend: str, **cache: Any) -> GatewayServer:
    config = base_config(fake, cache={"backend": backend, "namespace": f"test-{uuid.uuid4().hex}", "ttl": 60, **cache})
    config["models"].append({"name": "uncached", "target": "openai/gpt-4o", "cache": False})
    return GatewayServer(config)


@pytest.fixture
def gw(fake: FakeUpstream, backend: str) -> Iterator[GatewayServer]:
    with _gateway(fake, backend, semantic={"threshold": 0.85}) as server:
        yield server


def _client(gw: GatewayServer, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0, default_headers=headers)


def _calls(fake: FakeUpstream) -> int:
    return len(fake.requests_to("/v1/responses"))


def test_exact_hit(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    first = client.responses.create(model="smart", input="What is the capital of France?")
    second = client.responses.create(
        model="smart", input=[{"role": "user", "content": "What is the capital of France?"}]
    )
    assert _calls(fake) == 1
    assert first.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
    debug = second.extra_fields["cache_debug"]  # type: ignore[attr-defined]
    assert debug["cache_hit"] is True and debug["hit_type"] == "direct"
    assert debug["provider_used"] == "openai" and debug["model_used"] == "gpt-4o"
    assert debug["input_tokens"] == first.usage.input_tokens  # type: ignore[union-attr]
    assert debug["cache_id"] == first.extra_fields["cache_debug"]["cache_id"]  # type: ignore[attr-defined]
    assert second.id != first.id
    assert second.output_text == first.output_text
    assert second.usage.cost["total_cost"] == 0  # type: ignore[union-attr]
    assert first.usage.cost["total_cost"] > 0  # type: ignore[union-attr]


def test_stream_flag_is_not_part_of_the_key(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    client.responses.create(model="smart", input="stream me later")
    events = list(client.responses.create(model="smart", input="stream me later", stream=True))
    assert _calls(fake) == 1
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == (  # type: ignore[union-attr]
        "The capital of France is Paris."
    )
    assert events[-1].extra_fields["cache_debug"]["hit_type"] == "direct"  # type: ignore[attr-defined]
    with client.responses.stream(model="smart", input="stream me later") as stream:
        assert stream.get_final_response().output_text == "The capital of France is Paris."
    # and the other way round: a streamed answer serves a later non-streamed request
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream"))
    with client.responses.stream(model="smart", input="What is 2+2?") as stream:
        stream.get_final_response()
    again = client.responses.create(model="smart", input="What is 2+2?")
    assert again.output_text == "2+2 = 4" and _calls(fake) == 2


def test_semantic_hit_and_miss(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    client.responses.create(model="smart", input="What is the capital of France?")
    paraphrase = client.responses.create(model="smart", input="Which city is the capital of France?")
    assert _calls(fake) == 1
    debug = paraphrase.extra_fields["cache_debug"]  # type: ignore[attr-defined]
    assert debug["hit_type"] == "semantic"
    assert debug["threshold"] == 0.85 and debug["similarity"] >= 0.85
    other = client.responses.create(model="smart", input="How do I bake sourdough bread at home?")
    assert other.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
    assert _calls(fake) == 2
    # a stricter threshold for one request turns the paraphrase into a miss
    strict = _client(gw, **{"x-ferryman-cache-threshold": "0.99"})
    strict.responses.create(model="smart", input="Which city is the capital of France?")
    assert _calls(fake) == 3


def test_isolation_by_model_settings_and_tools(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    client.responses.create(model="smart", input="Capital of France?")
    client.responses.create(model="openai/gpt-4o-mini", input="Capital of France?")
    client.responses.create(model="smart", input="Capital of France?", tools=[TOOL])  # type: ignore[list-item]
    client.responses.create(model="smart", input="Capital of France?", max_output_tokens=50)
    client.responses.create(model="smart", input="Capital of France?", instructions="Answer in French.")
    assert _calls(fake) == 5


def test_ttl_and_opt_out_headers(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    short = _client(gw, **{"x-ferryman-cache-ttl": "0.3"})
    short.responses.create(model="smart", input="ttl")
    short.responses.create(model="smart", input="ttl")
    assert _calls(fake) == 1
    time.sleep(0.5)
    short.responses.create(model="smart", input="ttl")
    assert _calls(fake) == 2  # expired

    _client(gw, **{"x-ferryman-cache": "no-store"}).responses.create(model="smart", input="not kept")
    _client(gw).responses.create(model="smart", input="not kept")
    assert _calls(fake) == 4

    _client(gw).responses.create(model="smart", input="refresh me")
    fresh = _client(gw, **{"x-ferryman-cache": "no-cache"}).responses.create(model="smart", input="refresh me")
    assert _calls(fake) == 6 and fresh.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]

    bad = httpx.post(
        f"{gw.url}/v1/responses", json={"model": "smart", "input": "x"}, headers={"x-ferryman-cache-ttl": "soon"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "x-ferryman-cache-ttl"


def test_custom_key_and_namespace(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    keyed = _client(gw, **{"x-ferryman-cache-key": "faq-42"})
    keyed.responses.create(model="smart", input="first wording")
    hit = keyed.responses.create(model="smart", input="entirely different wording")
    assert _calls(fake) == 1 and hit.extra_fields["cache_debug"]["hit_type"] == "direct"  # type: ignore[attr-defined]
    _client(gw, **{"x-ferryman-cache-namespace": "tenant-a"}).responses.create(model="smart", input="shared?")
    _client(gw, **{"x-ferryman-cache-namespace": "tenant-b"}).responses.create(model="smart", input="shared?")
    assert _calls(fake) == 3


def test_sampling_and_model_opt_out(fake: FakeUpstream, gw: GatewayServer, backend: str) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    for _ in range(2):
        client.responses.create(model="smart", input="creative", temperature=0.9)
    for _ in range(2):
        client.responses.create(model="uncached", input="never cached")
    assert _calls(fake) == 4
    for _ in range(2):
        client.responses.create(model="smart", input="deterministic", temperature=0)
    assert _calls(fake) == 5
    with _gateway(fake, backend, allow_sampling=True) as sampling:
        for _ in range(2):
            _client(sampling).responses.create(model="smart", input="creative", temperature=0.9)
    assert _calls(fake) == 6


def test_failed_replies_are_not_cached(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply(status=500, json={"error": {"message": "boom"}}), times=1)
    fake.add("/v1/responses", Reply.fixture(OK))
    client = _client(gw)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="smart", input="flaky")
    assert client.responses.create(model="smart", input="flaky").output_text
    assert client.responses.create(model="smart", input="flaky").extra_fields["cache_debug"]["cache_hit"]  # type: ignore[attr-defined]
    assert _calls(fake) == 2


def test_entries_hold_no_secrets(fake: FakeUpstream, backend: str) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    with _gateway(fake, backend) as gw:
        _client(gw).responses.create(model="smart", input="secret check")
        cache = gw.app.cache
        assert cache is not None
        if backend == "memory":
            blobs = [value for _, value in cache.backend._entries.values()]
        else:
            r = redis.Redis.from_url(REDIS_URL)
            blobs = [r.get(k) for k in r.keys(f"{cache.settings.namespace}:*")]
    assert blobs
    assert all(b"sk-test-openai-secret" not in blob for blob in blobs)


def test_redis_down_still_serves(fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    caplog.set_level(logging.WARNING, logger="ferryman.cache")
    with _gateway(fake, f"redis://127.0.0.1:{closed_port()}/0", semantic={"threshold": 0.8}) as gw:
        client = _client(gw)
        for _ in range(2):
            assert client.responses.create(model="smart", input="still here?").output_text
    assert _calls(fake) == 2  # no cache, but no failure either
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
