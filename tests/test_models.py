"""GET /v1/models and /v1/models/{model} with the openai SDK: the config's aliases and every model the
pricing table knows for each configured provider, as ``provider/model``; with governance, only what a key
may use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from genai_prices import data_snapshot

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream

MASTER = "fm-master-" + uuid.uuid4().hex


def config(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    keyed = {"keys": [{"value": "sk-upstream"}]}
    return {
        "store": False,
        "providers": {
            "openai": {"base_url": f"{upstream.url}/v1", **keyed},
            "work": {"type": "anthropic", "base_url": upstream.url, **keyed},
        },
        "models": [{"name": "smart", "target": "openai/gpt-4o"}],
        **extra,
    }


def _priced(provider_id: str) -> set[str]:
    found = next(p for p in data_snapshot.get_snapshot().providers if p.id == provider_id)
    return {m.id for m in found.models if not m.deprecated}


def test_aliases_and_every_priced_model_of_each_provider(upstream: FakeUpstream) -> None:
    with GatewayServer(config(upstream)) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused")
        listed = {m.id: m for m in client.models.list()}
        assert listed["smart"].owned_by == "ferryman"
        assert {f"openai/{m}" for m in _priced("openai")} <= listed.keys()
        assert {f"work/{m}" for m in _priced("anthropic")} <= listed.keys()  # named by the entry, priced by its type
        assert {"mock/echo", "mock/embeddings"} <= listed.keys()
        assert all(m.object == "model" and m.created > 0 for m in listed.values())
        assert client.models.retrieve("smart").id == "smart"
        one = httpx.get(f"{gw.url}/v1/models/openai/gpt-4o").json()
        assert one == {
            "id": "openai/gpt-4o",
            "object": "model",
            "created": listed["openai/gpt-4o"].created,
            "owned_by": "openai",
        }
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("openai-nothing")
        assert httpx.get(f"{gw.url}/models").json()["object"] == "list"  # every prefix


@pytest.fixture
def governed(upstream: FakeUpstream, tmp_path: Any) -> Iterator[GatewayServer]:
    extra = {"store": f"sqlite:///{tmp_path}/ferryman.db", "governance": {"master_key": MASTER}}
    with GatewayServer(config(upstream, **extra)) as server:
        yield server


def test_a_virtual_key_sees_only_what_it_may_use(governed: GatewayServer) -> None:
    admin = httpx.Client(base_url=governed.url, headers={"authorization": f"Bearer {MASTER}"})
    key = admin.post("/admin/keys", json={"name": "k", "models": ["smart", "work/*"]}).json()["key"]
    seen = {m.id for m in openai.OpenAI(base_url=f"{governed.url}/v1", api_key=key).models.list()}
    assert seen == {"smart"} | {f"work/{m}" for m in _priced("anthropic")}
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=f"{governed.url}/v1", api_key=key).models.retrieve("openai/gpt-4o")
    everything = {m.id for m in openai.OpenAI(base_url=f"{governed.url}/v1", api_key=MASTER).models.list()}
    assert seen < everything
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{governed.url}/v1", api_key="sk-nobody").models.list()
