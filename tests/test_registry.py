"""The provider registry is the one place a provider type is declared.

A throwaway type added through one registry line (a fake spec, monkeypatched in) is taken by the
config loader with its own keys, routed to, built, called over real HTTP, priced under its spec's
price id, and seen as Responses-native or not by the conversation store: no other module knows it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ferryman.config import ConfigError, config_from_dict
from ferryman.gateway.conversation import speaks_responses
from ferryman.gateway.usage import compute_cost
from ferryman.providers import registry
from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.spec import ProviderConfig, ProviderSpec
from tests.fakes.gateway import GatewayServer

MODEL = "llama-3.3-70b-versatile"  # priced in the table under Groq only
USAGE = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}


class FakeConfig(ProviderConfig):
    flavour: str = "plain"


class FakeProvider:
    """Answers every call itself, with the flavour its typed config gave it."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def create(self, call: Call) -> UpstreamReply:
        text = f"{self.config.flavour} answer from {call.deployment}"
        message = {
            "type": "message",
            "id": "msg_fake",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }
        body = {
            "id": "resp_fake",
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": call.deployment,
            "output": [message],
            "usage": dict(USAGE),
        }
        return UpstreamReply(body=body, sent={})

    async def stream(self, call: Call) -> EventStream:
        raise NotImplementedError


def _register(monkeypatch: pytest.MonkeyPatch, *, price_id: str | None, native: bool = False) -> None:
    spec = ProviderSpec(
        "fake",
        f"{__name__}:FakeProvider",
        f"{__name__}:FakeConfig",
        price_id=price_id,
        native_responses=native,
    )
    monkeypatch.setitem(registry.PROVIDERS, "fake", spec)


def _config(**entry: Any) -> dict[str, Any]:
    return {"store": False, "providers": {"mine": {"type": "fake", **entry}}}


def test_an_unregistered_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"providers.mine.type: unknown provider type 'fake' \(one of: openai, "):
        config_from_dict(_config(), {}, source="f.yaml")


def test_the_registry_line_gives_the_type_its_own_config_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, price_id=None)
    config = config_from_dict(_config(flavour="salty"), {})
    provider = config.providers["mine"]
    assert isinstance(provider, FakeConfig) and provider.flavour == "salty"
    with pytest.raises(ConfigError) as info:
        config_from_dict(_config(region="eu-west-1"), {}, source="f.yaml")
    assert str(info.value) == (
        "f.yaml: providers.mine: unknown key 'region' for provider type 'fake' (a key of: vertex, bedrock)"
    )
    with pytest.raises(ConfigError, match="unknown key 'flavour' for provider type 'openai'"):
        config_from_dict({"providers": {"openai": {"flavour": "salty"}}}, {})


@pytest.mark.parametrize("price_id", ["groq", None])
def test_a_registered_type_is_routed_called_and_priced_by_its_spec(
    monkeypatch: pytest.MonkeyPatch, price_id: str | None
) -> None:
    _register(monkeypatch, price_id=price_id)
    with GatewayServer(_config(flavour="salty")) as gw:
        reply = httpx.post(f"{gw.url}/v1/responses", json={"model": f"mine/{MODEL}", "input": "hi"}, timeout=30)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["output"][0]["content"][0]["text"] == f"salty answer from {MODEL}"
    expected = compute_cost(USAGE, provider_name="groq", provider_type="openai-chat", model=MODEL)
    assert expected is not None  # the table prices this model under Groq: the spec's price id finds it
    assert body["usage"]["cost"] == (expected if price_id else None)


@pytest.mark.parametrize("native", [True, False])
def test_the_conversation_store_asks_the_spec_whether_a_type_keeps_its_own_chain(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    _register(monkeypatch, price_id=None, native=native)
    config = config_from_dict(_config(), {})
    assert speaks_responses(config.providers["mine"], MODEL) is native
