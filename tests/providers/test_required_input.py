"""A request with no input is refused before any provider that needs a message is called.

Anthropic, Bedrock, Gemini and Chat Completions servers all reject an empty conversation, each in its
own words and after a round trip: the gateway answers 400 ``param: "input"`` itself and sends
nothing. The openai SDK talks to a real gateway in front of the fake upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply

MODELS = [
    "anthropic/claude-sonnet-4-5",
    "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "gemini/gemini-2.5-flash",
    "chat/gpt-4o",
]


@pytest.fixture(scope="module")
def gateway_translating(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    def entry(kind: str, base_url: str) -> dict[str, Any]:
        return {"type": kind, "base_url": base_url, "keys": [{"value": "sk-upstream"}], "max_retries": 0}

    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('required-input-store')}/store.db",
        "providers": {
            "anthropic": entry("anthropic", upstream.url),
            "bedrock": entry("bedrock", upstream.url),
            "gemini": entry("gemini", upstream.url),
            "chat": entry("openai-chat", f"{upstream.url}/v1"),
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_translating: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_translating.url}/v1", api_key="client-key", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize(("given", "stream"), [({}, False), ({"input": []}, False), ({"input": []}, True)])
def test_no_input_is_refused_before_the_provider_is_called(
    sdk: openai.OpenAI, fake: FakeUpstream, model: str, given: dict[str, Any], stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        if stream:
            list(sdk.responses.create(model=model, instructions="Be brief.", stream=True, **given))
        else:
            sdk.responses.create(model=model, instructions="Be brief.", **given)
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict)
    assert body["param"] == "input" and body["type"] == "invalid_request_error"
    assert body["code"] == "missing_required_parameter"
    assert "input" in body["message"] and repr(model.split("/")[0]) in body["message"]
    assert fake.received == []


def test_history_from_previous_response_id_is_input_enough(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_basic"))
    first = sdk.responses.create(model="anthropic/claude-3-opus-latest", input="What is the capital of France?")
    fake.reset()
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_basic"))
    sdk.responses.create(model="anthropic/claude-3-opus-latest", previous_response_id=first.id)
    [sent] = fake.requests_to("/v1/messages")
    assert [m["role"] for m in sent.json["messages"]] == ["user", "assistant"]
