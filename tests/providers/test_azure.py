"""Azure OpenAI: its URLs, its auth, and deployments served by the Responses API or Chat Completions.

The wire formats are OpenAI's, so the recordings are OpenAI's (``openai-responses/`` for Responses
deployments, ``openai-chat/`` for chat-only ones), replayed by a fake upstream at the paths Azure
uses; the official ``openai`` SDK talks to a real gateway in front of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import openai
import pytest

from ferryman.providers.azure import AzureConfig, AzureProvider, auth_headers
from ferryman.providers.base import Call
from ferryman.providers.openai_chat import QUIRKS
from ferryman.schemas.errors import FerrymanError
from ferryman.schemas.responses import validate_request
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

SECRET = "azure-key-0123456789abcdef"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.entra.token"
DEPLOYMENTS = {"gpt-4o": "prod-gpt4o", "gpt-35-turbo": "chat:my-gpt35", "gpt-4o-mini": "chat:"}
V1_RESPONSES = "/openai/v1/responses"
V1_CHAT = "/openai/v1/chat/completions"


def _azure(base_url: str | None = "https://res.openai.azure.com", api_version: str | None = None) -> AzureProvider:
    return AzureProvider(
        AzureConfig(
            name="azure",
            type="azure",
            base_url=base_url,
            keys=[],
            api_version=api_version,
            deployments=dict(DEPLOYMENTS),
        )
    )


# ---- URLs, deployments, auth ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "api_version", "responses", "chat"),
    [
        (
            "https://res.openai.azure.com",
            None,
            "https://res.openai.azure.com/openai/v1/responses",
            "https://res.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://res.openai.azure.com/openai/v1/",
            "v1",
            "https://res.openai.azure.com/openai/v1/responses",
            "https://res.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://res.services.ai.azure.com",
            "preview",
            "https://res.services.ai.azure.com/openai/v1/responses?api-version=preview",
            "https://res.services.ai.azure.com/openai/v1/chat/completions?api-version=preview",
        ),
        (
            "https://res.openai.azure.com",
            "2024-10-21",
            "https://res.openai.azure.com/openai/responses?api-version=2024-10-21",
            "https://res.openai.azure.com/openai/deployments/my-gpt35/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_urls(base_url: str, api_version: str | None, responses: str, chat: str) -> None:
    azure = _azure(base_url, api_version)
    assert azure.url() == responses
    raw, req = validate_request(b'{"model": "azure/gpt-35-turbo", "input": "hi"}')
    assert azure.chat.url(Call(req, raw, "my-gpt35", None), stream=False) == chat


def test_deployments() -> None:
    azure = _azure()
    assert azure.config.route("gpt-4o") == ("prod-gpt4o", False)
    assert azure.config.route("gpt-35-turbo") == ("my-gpt35", True)
    assert azure.config.route("gpt-4o-mini") == ("gpt-4o-mini", True)  # "chat:" alone keeps the model name
    assert azure.config.route("o3") == ("o3", False)  # not listed: the model name is the deployment
    assert azure.chat.quirks is QUIRKS["azure"]


def test_auth_headers() -> None:
    assert auth_headers(SECRET) == {"api-key": SECRET}
    assert auth_headers(f"Bearer {TOKEN}") == {"authorization": f"Bearer {TOKEN}"}
    assert auth_headers(f"bearer  {TOKEN}") == {"authorization": f"Bearer {TOKEN}"}


def test_missing_base_url_is_a_clear_error() -> None:
    with pytest.raises(FerrymanError) as info:
        _azure(None).url()
    assert "base_url" in info.value.message and "'azure'" in info.value.message


# ---- end to end: the openai SDK, a real gateway, a fake Azure ----------------------------------------


@pytest.fixture(scope="module")
def gateway_azure(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    def entry(base: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "azure",
            "base_url": f"{upstream.url}{base}",
            "keys": [{"value": SECRET}],
            "deployments": DEPLOYMENTS,
            "max_retries": 0,
            **extra,
        }

    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('azure-store')}/store.db",
        "providers": {
            "azure": entry(""),
            "azure-dated": entry("/dated", api_version="2025-04-01-preview"),
            "azure-entra": entry("/entra/openai/v1", keys=[{"value": f"Bearer {TOKEN}"}]),
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_azure: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_azure.url}/v1", api_key="client-key", max_retries=0)


def _sent(fake: FakeUpstream, path: str, *, query: dict[str, str] | None = None) -> dict[str, Any]:
    [received] = fake.requests_to(path)
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["api-key"] == SECRET
    assert "authorization" not in headers
    assert received.query == (query or {})
    return received.json


def _fixture_reply(name: str) -> dict[str, Any]:
    return load_fixture(name)["response"]


def test_e2e_responses_deployment_create(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(V1_RESPONSES, Reply.fixture("openai-responses/text_basic"))
    resp = sdk.responses.create(model="azure/gpt-4o", input="What is the capital of France?")
    assert resp.output_text == "The capital of France is Paris."
    assert resp.extra_fields["provider"] == "azure"  # type: ignore[attr-defined]
    sent = _sent(fake, V1_RESPONSES)
    assert sent["model"] == "prod-gpt4o" and sent["input"] == "What is the capital of France?"
    assert SECRET not in resp.model_dump_json()


def test_e2e_responses_deployment_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(V1_RESPONSES, Reply.fixture("openai-responses/text_stream"))
    with sdk.responses.stream(model="azure/gpt-5.2", input="What is 2+2?", instructions="Answer directly.") as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert final.output_text == "2+2 = 4"
    sent = _sent(fake, V1_RESPONSES)
    assert sent["model"] == "gpt-5.2" and sent["stream"] is True


def test_e2e_responses_deployment_reasoning_and_tool_call(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(V1_RESPONSES, Reply.fixture("openai-responses/reasoning_stream"))
    events = list(
        sdk.responses.create(
            model="azure/o3-mini",
            stream=True,
            input="How do I cross the street?",
            reasoning={"effort": "high", "summary": "detailed"},
        )
    )
    assert any(e.type == "response.reasoning_summary_text.delta" for e in events)
    assert events[-1].type == "response.completed"
    assert events[-1].response.output[0].type == "reasoning"  # type: ignore[union-attr]
    fake.reset()
    fake.add(V1_RESPONSES, Reply.fixture("openai-responses/tool_call"))
    resp = sdk.responses.create(
        model="azure/gpt-4o",
        input="What is the capital of PotatoLand?",
        tools=[{"type": "function", "name": "get_capital", "parameters": {"type": "object", "properties": {}}}],
    )
    [call] = resp.output
    assert call.type == "function_call" and call.name == "get_capital"


def test_e2e_chat_deployment_create(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(V1_CHAT, Reply.fixture("openai-chat/text_basic"))
    resp = sdk.responses.create(
        model="azure/gpt-35-turbo", instructions="You are a helpful assistant.", input="What is the capital of France?"
    )
    assert resp.output_text == "The capital of France is Paris."
    assert resp.model == "gpt-4o-2024-08-06" and resp.status == "completed"
    assert resp.usage is not None and resp.usage.input_tokens == 24
    sent = _sent(fake, V1_CHAT)
    assert sent == {
        "model": "my-gpt35",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "stream": False,
    }
    assert fake.requests_to(V1_RESPONSES) == []


def test_e2e_chat_deployment_streams(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(V1_CHAT, Reply.fixture("openai-chat/text_stream"))
    with sdk.responses.stream(model="azure/gpt-4o-mini", input="What is the capital of Mexico?") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "The capital of Mexico is Mexico City."
    sent = _sent(fake, V1_CHAT)
    assert sent["model"] == "gpt-4o-mini" and sent["stream_options"] == {"include_usage": True}
    fake.reset()
    fake.add(V1_CHAT, Reply.fixture("openai-chat/tool_call_stream"))
    tool = {
        "type": "function",
        "name": "get_capital",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
    }
    events = list(
        sdk.responses.create(model="azure/gpt-35-turbo", stream=True, input="Capital of the UK?", tools=[tool])  # type: ignore[list-item]
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final_event = events[-1]
    assert final_event.type == "response.completed"
    [call] = final_event.response.output  # type: ignore[union-attr]
    assert call.type == "function_call" and msgspec.json.decode(call.arguments) == {"country": "UK"}


def test_e2e_dated_api_version(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/dated/openai/responses", Reply.fixture("openai-responses/text_basic"))
    sdk.responses.create(model="azure-dated/gpt-4o", input="q")
    assert _sent(fake, "/dated/openai/responses", query={"api-version": "2025-04-01-preview"})["model"] == "prod-gpt4o"
    path = "/dated/openai/deployments/my-gpt35/chat/completions"
    fake.add(path, Reply.fixture("openai-chat/text_basic"))
    resp = sdk.responses.create(model="azure-dated/gpt-35-turbo", input="q")
    assert resp.output_text == "The capital of France is Paris."
    assert _sent(fake, path, query={"api-version": "2025-04-01-preview"})["model"] == "my-gpt35"


def test_e2e_entra_token(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add("/entra/openai/v1/responses", Reply.fixture("openai-responses/text_basic"))
    sdk.responses.create(model="azure-entra/gpt-4o", input="q")
    fake.add("/entra/openai/v1/chat/completions", Reply.fixture("openai-chat/text_basic"))
    sdk.responses.create(model="azure-entra/gpt-35-turbo", input="q")
    for path in ("/entra/openai/v1/responses", "/entra/openai/v1/chat/completions"):
        [received] = fake.requests_to(path)
        headers = {k.lower(): v for k, v in received.headers.items()}
        assert headers["authorization"] == f"Bearer {TOKEN}" and "api-key" not in headers


@pytest.mark.parametrize(
    ("model", "path", "fixture", "status", "message"),
    [
        (
            "azure/gpt-4o",
            V1_RESPONSES,
            "openai-responses/error_400",
            400,
            "azure: Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -1 instead.",
        ),
        (
            "azure/gpt-35-turbo",
            V1_CHAT,
            "openai-chat/error_404_model_not_found",
            404,
            "azure: The model `gpt-5.2-proo` does not exist or you do not have access to it.",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_e2e_errors(
    sdk: openai.OpenAI, fake: FakeUpstream, model: str, path: str, fixture: str, status: int, message: str, stream: bool
) -> None:
    fake.add(path, Reply.fixture(fixture))
    with pytest.raises(openai.APIStatusError) as info:
        if stream:
            list(sdk.responses.create(model=model, input="q", stream=True))
        else:
            sdk.responses.create(model=model, input="q")
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and body["message"] == message and body["provider"] == "azure"
    assert SECRET not in str(body)


def test_e2e_chat_deployment_error_frame_mid_stream(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    blocks = _fixture_reply("openai-chat/text_stream")["sse"]
    frame = 'data: {"error": {"message": "The server had an error", "type": "server_error", "code": "server_error"}}'
    fake.add(V1_CHAT, Reply(sse=[*blocks[:3], frame]))
    events = list(sdk.responses.create(model="azure/gpt-35-turbo", stream=True, input="hi"))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    assert events[-2].message == "azure: The server had an error"  # type: ignore[union-attr]


def test_e2e_chat_deployment_refuses_what_chat_cannot_do(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model="azure/gpt-35-turbo", input="hi", tools=[{"type": "web_search"}]
        )  # Azure's chat API has no hosted web search
    body = info.value.body
    assert isinstance(body, dict) and body["param"] == "tools[0].type" and "'azure'" in body["message"]
    assert fake.received == []


def test_e2e_chat_deployment_truncation(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    body = _fixture_reply("openai-chat/text_basic")["body"]
    body["choices"][0]["finish_reason"] = "length"
    fake.add(V1_CHAT, Reply(json=body))
    resp = sdk.responses.create(model="azure/gpt-35-turbo", input="q", max_output_tokens=8)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert _sent(fake, V1_CHAT)["max_completion_tokens"] == 8
