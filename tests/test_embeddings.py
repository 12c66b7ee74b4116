"""POST /v1/embeddings through real HTTP with the openai SDK, against fake upstreams speaking each provider's
own embeddings wire format (``tests/fakes/embeddings.py``): OpenAI, Azure, Gemini, Bedrock (Titan and Cohere),
Mistral, Cohere v2, Ollama and the mock; base64 (the SDK's default) and floats; ``dimensions`` in each
provider's own field; usage and cost; governance (allow-list, spend), the request log and metrics.

Every price is set to $1 a token (``pricing``), so an answer's cost is its prompt tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import embeddings as wire
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Received, Reply

MASTER = "fm-master-" + uuid.uuid4().hex
PER_TOKEN = {"input_mtok": 1_000_000, "output_mtok": 1_000_000}
TEXTS = ["the ferry crosses the river", "a second text to embed"]

# model -> (upstream path, fake, the request field that carries dimensions)
CASES: dict[str, tuple[str, Callable[[Received], Reply], str | None]] = {
    "openai/text-embedding-3-small": ("/v1/embeddings", wire.openai, "dimensions"),
    "azure/text-embedding-3-small": ("/openai/v1/embeddings", wire.openai, "dimensions"),
    "gemini/gemini-embedding-001": (
        "/v1beta/models/gemini-embedding-001:batchEmbedContents",
        wire.gemini,
        "outputDimensionality",
    ),
    "bedrock/amazon.titan-embed-text-v2:0": ("/model/amazon.titan-embed-text-v2:0/invoke", wire.titan, "dimensions"),
    "bedrock/cohere.embed-v4:0": ("/model/cohere.embed-v4:0/invoke", wire.bedrock_cohere, "output_dimension"),
    "mistral/mistral-embed": ("/mistral/v1/embeddings", wire.mistral, "output_dimension"),
    "cohere/embed-v4.0": ("/v2/embed", wire.cohere, "output_dimension"),  # an entry on the compatibility API
    "cohere-v2/embed-v4.0": ("/v2/embed", wire.cohere, "output_dimension"),  # the native type
    "ollama/nomic-embed-text": ("/ollama/v1/embeddings", wire.openai, "dimensions"),
}


def config(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    url = upstream.url
    keyed = {"keys": [{"value": "sk-upstream-secret"}], "max_retries": 0}
    return {
        "store": False,
        "providers": {
            "openai": {"base_url": f"{url}/v1", **keyed},
            "azure": {"type": "azure", "base_url": url, **keyed},
            "gemini": {"type": "gemini", "base_url": url, **keyed},
            "bedrock": {"type": "bedrock", "base_url": url, **keyed},
            "mistral": {"base_url": f"{url}/mistral/v1", **keyed},
            "cohere": {"base_url": f"{url}/compatibility/v1", **keyed},
            "cohere-v2": {"type": "cohere", "base_url": url, **keyed},
            "ollama": {"base_url": f"{url}/ollama/v1", "max_retries": 0},
            "anthropic": {"base_url": url, **keyed},
        },
        "models": [{"name": "embedder", "target": "openai/text-embedding-3-small"}],
        "pricing": {name: PER_TOKEN for name in CASES},
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(config(upstream)) as server:
        yield server


@pytest.fixture
def client(gateway: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    for path, fake_reply, _ in CASES.values():
        fake.add(path, fake_reply)
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def _expected_tokens(model: str, texts: list[str]) -> int:
    if model.startswith("gemini/"):  # Gemini counts none: Ferryman's estimate, ~4 characters a token
        return sum(-(-len(t) // 4) for t in texts)
    return sum(wire.tokens(t) for t in texts)


@pytest.mark.parametrize("model", list(CASES))
@pytest.mark.parametrize("encoding", ["base64", "float"])
def test_every_provider_in_its_own_wire_format(
    client: openai.OpenAI, fake: FakeUpstream, model: str, encoding: str
) -> None:
    # the SDK asks for base64 unless told otherwise, and decodes it into floats itself
    kwargs: dict[str, Any] = {} if encoding == "base64" else {"encoding_format": "float"}
    result = client.embeddings.create(model=model, input=TEXTS, **kwargs)
    assert [d.index for d in result.data] == [0, 1]
    for text, data in zip(TEXTS, result.data, strict=True):
        assert data.embedding == pytest.approx(wire.vector(text))
    used = _expected_tokens(model, TEXTS)
    assert result.usage.prompt_tokens == used == result.usage.total_tokens
    assert result.usage.model_extra is not None
    assert result.usage.model_extra["cost"]["total_cost"] == pytest.approx(used)
    path = CASES[model][0]
    assert fake.requests_to(path), f"nothing reached {path}"
    sent = fake.requests_to(path)[-1]
    assert b"sk-upstream-secret" not in sent.body


@pytest.mark.parametrize("model", list(CASES))
def test_dimensions_in_each_providers_field(client: openai.OpenAI, fake: FakeUpstream, model: str) -> None:
    result = client.embeddings.create(model=model, input=TEXTS[0], dimensions=256)
    assert len(result.data) == 1
    assert result.data[0].embedding == pytest.approx(wire.vector(TEXTS[0], 256))
    path, _, field = CASES[model]
    sent = fake.requests_to(path)[-1].json
    one = sent["requests"][0] if "requests" in sent else sent
    assert one[field] == 256


def test_openai_gets_the_clients_body_and_its_base64(client: openai.OpenAI, fake: FakeUpstream) -> None:
    result = client.embeddings.create(model="embedder", input=[[1, 2, 3], [4, 5]], user="u-1")
    assert result.data[1].embedding == pytest.approx(wire.vector([4, 5]))
    sent = fake.requests_to("/v1/embeddings")[-1].json
    assert sent == {
        "model": "text-embedding-3-small",
        "input": [[1, 2, 3], [4, 5]],
        "user": "u-1",
        "encoding_format": "base64",
    }


def test_token_arrays_refused_where_the_provider_takes_text_only(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="mistral/mistral-embed", input=[1, 2, 3])
    assert caught.value.body["param"] == "input"  # type: ignore[index]
    assert not fake.requests_to("/mistral/v1/embeddings")


def test_a_provider_without_embeddings_is_a_400(client: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="anthropic/claude-3-5-haiku-latest", input="hi")
    assert caught.value.code == "unsupported_model"
    assert not fake.received


def test_bad_input_is_a_400_in_openais_shape(gateway: GatewayServer) -> None:
    for body, param in (
        ({"model": "mock/e", "input": ""}, "input"),
        ({"model": "mock/e", "input": [1, "a"]}, "input[0]"),
    ):
        resp = httpx.post(f"{gateway.url}/v1/embeddings", json=body)
        assert resp.status_code == 400
        assert resp.json()["error"]["param"] == param


def test_a_retryable_failure_falls_back(gateway: GatewayServer, fake: FakeUpstream) -> None:
    fake.add("/mistral/v1/embeddings", Reply(status=503, json={"message": "busy"}))
    fake.add("/ollama/v1/embeddings", wire.openai)
    resp = httpx.post(
        f"{gateway.url}/v1/embeddings",
        json={"model": "mistral/mistral-embed", "input": "hi", "fallbacks": ["ollama/nomic-embed-text"]},
    )
    assert resp.status_code == 200
    assert resp.headers["x-ferryman-attempts"] == "mistral/mistral-embed:503,ollama/nomic-embed-text:200"
    assert resp.json()["extra_fields"]["provider"] == "ollama"


def test_mock_embeddings_need_no_upstream(gateway: GatewayServer) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused")
    same = client.embeddings.create(model="mock/any", input=["red apple", "red apple", "blue sky"], dimensions=32)
    a, b, c = (d.embedding for d in same.data)
    assert len(a) == 32 and a == b and a != c
    assert same.usage.model_extra is not None and same.usage.model_extra["cost"]["total_cost"] == 0


# ---- governance, the request log and metrics ---------------------------------------------------------


@pytest.fixture
def governed(fake: FakeUpstream, tmp_path: Any) -> Iterator[GatewayServer]:
    fake.add("/v1/embeddings", wire.openai)
    extra = {"store": f"sqlite:///{tmp_path}/ferryman.db", "governance": {"master_key": MASTER}}
    with GatewayServer(config(fake, **extra)) as server:
        yield server


def test_governance_allows_limits_and_charges_embeddings(governed: GatewayServer, fake: FakeUpstream) -> None:
    admin = httpx.Client(base_url=governed.url, headers={"authorization": f"Bearer {MASTER}"})
    made = admin.post("/admin/keys", json={"name": "emb", "models": ["openai/text-embedding-3-small"]}).json()
    client = openai.OpenAI(base_url=f"{governed.url}/v1", api_key=made["key"], max_retries=0)

    result = client.embeddings.create(model="openai/text-embedding-3-small", input=TEXTS)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.embeddings.create(model="mistral/mistral-embed", input=TEXTS)
    assert refused.value.code == "model_not_allowed"
    assert not fake.requests_to("/mistral/v1/embeddings")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{governed.url}/v1", api_key="sk-nobody").embeddings.create(model="mock/e", input="x")

    own = httpx.get(f"{governed.url}/v1/key", headers={"authorization": f"Bearer {made['key']}"}).json()
    assert own["spend_usd"] == pytest.approx(result.usage.prompt_tokens)
    assert own["input_tokens"] == result.usage.prompt_tokens

    entries = admin.get("/admin/logs", params={"key_id": made["id"]}).json()["data"]
    answered = [e for e in entries if e["status_code"] == 200]
    assert [e["route"] for e in answered] == ["embeddings"]
    assert answered[0]["input_tokens"] == result.usage.prompt_tokens
    assert {e["status_code"] for e in entries} == {200, 403}

    metrics = httpx.get(f"{governed.url}/metrics").text
    assert (
        'ferryman_requests_total{model="text-embedding-3-small",provider="openai",route="embeddings",status="200"} 1.0'
        in metrics
    )
