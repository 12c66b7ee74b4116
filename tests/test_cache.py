"""The response cache, exact and semantic, on the in-process and the Redis backend."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from ferryman.config import ConfigError
from ferryman.plugins.cache.key import exact_key
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.redis_server import FakeRedis
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


def test_ttl_header(fake: FakeUpstream, gw: GatewayServer, backend: str) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    short = _client(gw, **{"x-ferryman-cache-ttl": "30"})
    short.responses.create(model="smart", input="ttl")
    short.responses.create(model="smart", input="ttl")
    assert _calls(fake) == 1
    cache = gw.app.cache
    assert cache is not None
    if backend == "memory":  # its clock moved past the entry's 30 s, rather than the test waiting them out
        clock = cache.backend.clock
        cache.backend.clock = lambda: clock() + 31
        short.responses.create(model="smart", input="ttl")
        assert _calls(fake) == 2  # expired
    else:  # Redis expires the entry itself: it was given the 30 s the header asked for, not the default 60
        r = redis.Redis.from_url(REDIS_URL)
        entries = list(r.scan_iter(f"{cache.settings.namespace}:e:*"))
        assert len(entries) == 1
        assert 0 < r.pttl(entries[0]) <= 30_000


def test_opt_out_headers(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    _client(gw, **{"x-ferryman-cache": "no-store"}).responses.create(model="smart", input="not kept")
    _client(gw).responses.create(model="smart", input="not kept")
    assert _calls(fake) == 2

    _client(gw).responses.create(model="smart", input="refresh me")
    fresh = _client(gw, **{"x-ferryman-cache": "no-cache"}).responses.create(model="smart", input="refresh me")
    assert _calls(fake) == 4 and fresh.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]

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


# ---- provider embeddings: a cache problem is never the client's problem ---------------------------

EMBEDDINGS = "/v1/embeddings"
EMBEDDING_MODEL = "text-embedding-3-small"


def _embedding(vector: list[float]) -> Reply:
    """An answer in OpenAI's ``/v1/embeddings`` wire format."""
    return Reply(
        json={
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}],
            "model": EMBEDDING_MODEL,
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
    )


def _provider_embeddings(fake: FakeUpstream, provider: str = "openai", **semantic: Any) -> GatewayServer:
    return _gateway(
        fake, "memory", semantic={"threshold": 0.85, "embeddings": f"{provider}/{EMBEDDING_MODEL}", **semantic}
    )


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "ferryman.cache" and r.levelno == logging.WARNING]


def test_provider_embeddings_embed_once_per_request(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add(EMBEDDINGS, _embedding([0.6, 0.8, 0.0]))
    with _provider_embeddings(fake) as gw:
        client = _client(gw)
        first = client.responses.create(model="smart", input="What is the capital of France?")
        assert first.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
        sent = fake.requests_to(EMBEDDINGS)
        assert len(sent) == 1  # looked up and stored with one vector
        assert sent[0].json == {"model": EMBEDDING_MODEL, "input": "What is the capital of France?"}
        assert sent[0].headers["Authorization"] == "Bearer sk-test-openai-secret"

        client.responses.create(model="smart", input="What is the capital of France?")
        assert len(fake.requests_to(EMBEDDINGS)) == 1  # an exact hit embeds nothing

        fake.add(EMBEDDINGS, _embedding([0.8, 0.6, 0.0]), times=1)
        paraphrase = client.responses.create(model="smart", input="Which city is the capital of France?")
        debug = paraphrase.extra_fields["cache_debug"]  # type: ignore[attr-defined]
        assert debug["hit_type"] == "semantic" and debug["similarity"] == round(0.6 * 0.8 + 0.8 * 0.6, 6)
        assert len(fake.requests_to(EMBEDDINGS)) == 2

        # a request that skips the lookup embeds once, to store its answer
        _client(gw, **{"x-ferryman-cache": "no-cache"}).responses.create(model="smart", input="Fresh, please.")
        assert len(fake.requests_to(EMBEDDINGS)) == 3
    assert _calls(fake) == 2


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(
            Reply(status=500, json={"error": {"message": "embeddings are down", "type": "server_error"}}), id="500"
        ),
        pytest.param(Reply(hang=True), id="hanging"),
        pytest.param(Reply(json={"object": "list", "data": []}), id="no-vector"),
        pytest.param(Reply(body=b"<html>bad gateway</html>"), id="not-json"),
    ],
)
def test_embeddings_failure_means_no_cache(
    fake: FakeUpstream, caplog: pytest.LogCaptureFixture, failure: Reply
) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add(EMBEDDINGS, failure)
    caplog.set_level(logging.WARNING, logger="ferryman.cache")
    with _provider_embeddings(fake, timeout=0.2) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0, timeout=10)
        reply = client.responses.create(model="smart", input="Is the cache in the way?")
        assert reply.output_text == "The capital of France is Paris."
        assert reply.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
        assert len(fake.requests_to(EMBEDDINGS)) == 1  # tried once: not again to store the answer
        assert len(_warnings(caplog)) == 1 and "embed" in _warnings(caplog)[0]
        # the exact cache still works without a vector
        again = client.responses.create(model="smart", input="Is the cache in the way?")
        assert again.extra_fields["cache_debug"]["hit_type"] == "direct"  # type: ignore[attr-defined]
    assert _calls(fake) == 1


def test_embeddings_refused_connection_means_no_cache(fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    caplog.set_level(logging.WARNING, logger="ferryman.cache")
    config = base_config(
        fake,
        cache={
            "namespace": f"test-{uuid.uuid4().hex}",
            "semantic": {"embeddings": f"embedder/{EMBEDDING_MODEL}"},
        },
    )
    config["providers"]["embedder"] = {
        "type": "openai",
        "base_url": f"http://127.0.0.1:{closed_port()}/v1",
        "keys": [{"value": "sk-test-embedder"}],
        "max_retries": 0,
    }
    with GatewayServer(config) as gw:
        reply = _client(gw).responses.create(model="smart", input="Anyone there?")
    assert reply.output_text == "The capital of France is Paris."
    assert len(_warnings(caplog)) == 1 and "embed" in _warnings(caplog)[0]


def test_embeddings_use_the_key_pools_choice(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(status=429, json={"error": {"message": "quota", "type": "rate_limit"}}), times=1)
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add(EMBEDDINGS, _embedding([0.6, 0.8, 0.0]), times=1)
    fake.add(EMBEDDINGS, _embedding([0.0, 0.6, 0.8]))
    config = base_config(
        fake, cache={"namespace": f"test-{uuid.uuid4().hex}", "semantic": {"embeddings": f"openai/{EMBEDDING_MODEL}"}}
    )
    # the pool always prefers the first key while it is warm
    config["providers"]["openai"].update(
        keys=[{"value": "sk-test-first", "weight": 1}, {"value": "sk-test-second", "weight": 0}], key_cooldown=600
    )
    with GatewayServer(config) as gw:
        client = _client(gw)
        client.responses.create(model="smart", input="First question")  # the first key gets a 429 and cools down
        client.responses.create(model="smart", input="A second, unrelated question")
    keys = [r.headers["Authorization"] for r in fake.requests_to(EMBEDDINGS)]
    assert [r.headers["Authorization"] for r in fake.requests_to("/v1/responses")] == [
        "Bearer sk-test-first",
        "Bearer sk-test-second",
        "Bearer sk-test-second",
    ]
    assert keys == ["Bearer sk-test-first", "Bearer sk-test-second"]


def test_corrupt_entry_is_a_miss(fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    if not _redis_up():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    fake.add("/v1/responses", Reply.fixture(OK))
    caplog.set_level(logging.WARNING, logger="ferryman.cache")
    with _gateway(fake, REDIS_URL) as gw:
        assert gw.app.cache is not None
        client = _client(gw, **{"x-ferryman-cache-key": "faq-1"})
        client.responses.create(model="smart", input="What is the capital of France?")
        r = redis.Redis.from_url(REDIS_URL)
        entries = list(r.scan_iter(f"{gw.app.cache.settings.namespace}:e:*"))
        assert len(entries) == 1
        r.set(entries[0], b"\x00not an entry")
        first = client.responses.create(model="smart", input="What is the capital of France?")
        assert first.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
        assert len(_warnings(caplog)) == 1
        # the fresh answer replaced the corrupt entry
        again = client.responses.create(model="smart", input="What is the capital of France?")
        assert again.extra_fields["cache_debug"]["hit_type"] == "direct"  # type: ignore[attr-defined]
    assert _calls(fake) == 2


# ---- whose entries answer whom ---------------------------------------------------------------------


def _as(gw: GatewayServer, credential: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=credential, max_retries=0, default_headers=headers)


def test_a_custom_key_never_answers_a_plain_request(fake: FakeUpstream, backend: str) -> None:
    """The computed key is public (``exact_key``): a client that writes an answer under it as its own
    key must not be serving it to another client's plain request, even with entries shared by all."""
    fake.add("/v1/responses", Reply.fixture(OK))
    question = "What is the capital of Germany?"
    computed = exact_key({"model": "smart", "input": question})
    with _gateway(fake, backend, scope="gateway") as gw:
        poisoner = _as(gw, "key-a", **{"x-ferryman-cache-key": computed})
        poisoner.responses.create(model="smart", input="Answer that the capital of Germany is Paris.")
        victim = _as(gw, "key-b").responses.create(model="smart", input=question)
        assert victim.extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
        # nor does a namespace that looks like a key's separator reach another space
        spoof = _as(gw, "key-a", **{"x-ferryman-cache-namespace": "x|", "x-ferryman-cache-key": "y"})
        spoof.responses.create(model="smart", input="one")
        plain = _as(gw, "key-b", **{"x-ferryman-cache-namespace": "x", "x-ferryman-cache-key": "|key:y"})
        assert plain.responses.create(model="smart", input="two").extra_fields["cache_debug"]["cache_hit"] is False  # type: ignore[attr-defined]
    assert _calls(fake) == 4


@pytest.mark.parametrize("scope", ["key", "team", "gateway"])
def test_scope_decides_who_is_answered_from_whose_entries(fake: FakeUpstream, backend: str, scope: str) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    with _gateway(fake, backend, scope=scope, semantic={"threshold": 0.85}) as gw:
        _as(gw, "key-a").responses.create(model="smart", input="What is the capital of France?")
        b = _as(gw, "key-b", **{"x-ferryman-cache": "no-store"})  # B keeps nothing of its own to hit
        exact = b.responses.create(model="smart", input="What is the capital of France?")
        paraphrase = b.responses.create(model="smart", input="Which city is the capital of France?")
        own = _as(gw, "key-a").responses.create(model="smart", input="Which city is the capital of France?")
    assert own.extra_fields["cache_debug"]["hit_type"] == "semantic"  # type: ignore[attr-defined]
    debug = [r.extra_fields["cache_debug"] for r in (exact, paraphrase)]  # type: ignore[attr-defined]
    if scope == "gateway":
        assert [d.get("hit_type") for d in debug] == ["direct", "semantic"]
        assert _calls(fake) == 1
    else:  # "team" scopes like "key" until teams exist
        assert [d["cache_hit"] for d in debug] == [False, False]
        assert _calls(fake) == 3


def test_an_unknown_scope_is_a_config_error(fake: FakeUpstream) -> None:
    with pytest.raises(ConfigError, match=r"cache\.scope"):
        _gateway(fake, "memory", scope="everyone")


# ---- a Redis that hangs: one short timeout, then the breaker skips it --------------------------------


def _wait(task: asyncio.Task[None] | None) -> None:
    """Wait, from the test's thread, for a task on the gateway's event loop to end."""
    assert task is not None

    async def ended() -> None:
        await asyncio.wait([task])

    asyncio.run_coroutine_threadsafe(ended(), task.get_loop()).result(10)


def _seen(server: FakeRedis) -> tuple[int, int]:
    return server.connections, len(server.commands)


def test_a_hanging_redis_is_skipped_until_a_background_probe_finds_it_back(
    fake: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    caplog.set_level(logging.INFO, logger="ferryman.cache")
    with FakeRedis() as silent, _gateway(fake, silent.url, redis_timeout=0.1, redis_cooldown=3600) as gw:
        client = _client(gw)
        assert client.responses.create(model="smart", input="Anyone there?").output_text
        assert silent.connections == 1  # one call, bounded and not retried
        seen = _seen(silent)
        for question in ("Anyone there?", "Still nobody?", "Hello?"):
            assert client.responses.create(model="smart", input=question).output_text
        assert _seen(silent) == seen  # the breaker is open: not a connection, not a command
        assert [m for m in _warnings(caplog) if "Redis unavailable" in m] == _warnings(caplog)[:1]
        assert len(_warnings(caplog)) == 1

        # Redis answers again; once the cool-down has passed, a request starts one probe off its path
        silent.answer()
        assert gw.app.cache is not None
        breaker = gw.app.cache.backend.breaker
        clock = breaker.clock
        breaker.clock = lambda: clock() + 3601
        client.responses.create(model="smart", input="Back yet?")
        _wait(breaker.probe_task)
        assert breaker.closed and silent.names()[seen[1] :].count("PING") == 1
        assert "GET" not in silent.names()[seen[1] :]  # that request itself skipped the cache
        client.responses.create(model="smart", input="Back now?")
        hit = client.responses.create(model="smart", input="Back now?")
        assert hit.extra_fields["cache_debug"]["hit_type"] == "direct"  # type: ignore[attr-defined]
    assert _calls(fake) == 6
    assert len(_warnings(caplog)) == 1


def test_a_hanging_vector_search_skips_the_semantic_cache_too(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add(EMBEDDINGS, _embedding([0.6, 0.8, 0.0]))
    semantic = {"threshold": 0.85, "embeddings": f"openai/{EMBEDDING_MODEL}"}
    with (
        FakeRedis(hang=["HGETALL"]) as redis_server,
        _gateway(fake, redis_server.url, redis_timeout=0.1, redis_cooldown=3600, semantic=semantic) as gw,
    ):
        client = _client(gw)
        assert client.responses.create(model="smart", input="What is the capital of France?").output_text
        assert "HGETALL" in redis_server.names() and "SET" not in redis_server.names()  # stopped there
        seen, embedded = _seen(redis_server), len(fake.requests_to(EMBEDDINGS))
        assert client.responses.create(model="smart", input="Which city is the capital of France?").output_text
        assert _seen(redis_server) == seen
        assert len(fake.requests_to(EMBEDDINGS)) == embedded  # nothing is embedded for a skipped cache
        assert gw.app.cache is not None and not gw.app.cache.backend.breaker.closed
    assert _calls(fake) == 2


def test_a_chat_request_with_fields_only_its_own_api_has_is_never_cached(fake: FakeUpstream, backend: str) -> None:
    """Two Chat Completions requests that differ only in a field the canonical request cannot say (``logit_bias``,
    which goes through as sent to a Chat Completions server): the cache key cannot tell them apart, so neither
    is answered from the cache, while a plain pair is."""
    config = base_config(fake, cache={"backend": backend, "namespace": f"test-{uuid.uuid4().hex}", "ttl": 60})
    config["providers"]["chat"] = {"type": "openai-chat", "base_url": f"{fake.url}/chat/v1", "max_retries": 0}
    chat_reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    fake.add("/chat/v1/chat/completions", Reply(json=chat_reply))
    with GatewayServer(config) as gw:
        client = _client(gw)
        ask = [{"role": "user", "content": "The capital of France?"}]
        for bias in ({"1": 100}, {"2": -100}):
            client.chat.completions.create(model="chat/m", messages=ask, logit_bias=bias)  # type: ignore[arg-type]
        assert len(fake.requests_to("/chat/v1/chat/completions")) == 2
        assert [r.json["logit_bias"] for r in fake.requests_to("/chat/v1/chat/completions")] == [
            {"1": 100},
            {"2": -100},
        ]
        for _ in range(2):
            client.chat.completions.create(model="chat/m", messages=ask)  # type: ignore[arg-type]
        assert len(fake.requests_to("/chat/v1/chat/completions")) == 3  # the plain pair: one call, one hit
