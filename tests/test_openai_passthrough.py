"""Every recorded OpenAI Responses exchange, replayed through Ferryman with the official SDK.

For each recording the client sends the recorded request (model named ``openai/<model>``) through
each of the three route prefixes; the fake upstream must receive the recorded body (model
rewritten back), and the client must get the recorded reply plus Ferryman's additions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.responses import ResponseCompletedEvent, ResponseStreamEvent

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

PREFIXES = ["/v1", "/openai/v1", "/litellm/v1"]
OK_FIXTURES = [
    "image_input",
    "previous_response_id",
    "previous_response_id_tool_result",
    "reasoning_multi_turn",
    "reasoning_summary",
    "structured_output_json_schema",
    "text_basic",
    "tool_call",
    "tool_result_multi_turn",
    "web_search",
]
STREAM_FIXTURES = ["text_stream", "tool_call_stream", "reasoning_stream", "web_search_stream"]


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    """Some recordings continue responses OpenAI stored before they were made: only OpenAI knows those
    ids, so this module's gateway forwards the ids it never saw (``forward_unknown_response_ids``)."""
    with GatewayServer(base_config(upstream, stream_keepalive=0.2, forward_unknown_response_ids=True)) as server:
        yield server


def _client(gateway: GatewayServer, prefix: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}{prefix}", api_key="client-key", max_retries=0)


def _sdk_kwargs(recorded: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(recorded)
    body["model"] = f"openai/{recorded['model']}"
    body.pop("stream", None)
    return body


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("name", OK_FIXTURES)
def test_non_streaming_fixture(fake: FakeUpstream, gateway: GatewayServer, name: str, prefix: str) -> None:
    exchange = load_fixture(f"openai-responses/{name}")
    recorded_req = exchange["request"]["body"]
    recorded_resp = exchange["response"]["body"]
    fake.add("/v1/responses", Reply.fixture(f"openai-responses/{name}"))

    response = _client(gateway, prefix).responses.create(**_sdk_kwargs(recorded_req))

    # the upstream saw exactly the recorded request (the SDK adds nothing when stream is absent)
    sent = fake.requests_to("/v1/responses")[-1]
    expected = dict(recorded_req)
    expected.pop("stream", None)
    got = dict(sent.json)
    got.pop("stream", None)
    assert got == expected
    assert sent.headers["Authorization"] == "Bearer sk-test-openai-secret"

    # the client got the recorded reply, typed by the SDK, plus extra_fields and usage.cost
    assert response.id == recorded_resp["id"]
    assert response.model == recorded_resp["model"]
    assert [item.type for item in response.output] == [item["type"] for item in recorded_resp["output"]]
    assert response.usage is not None
    assert response.usage.input_tokens == recorded_resp["usage"]["input_tokens"]
    extra = response.extra_fields  # type: ignore[attr-defined]
    assert extra["request_type"] == "responses"
    assert extra["provider"] == "openai"
    assert extra["model_requested"] == f"openai/{recorded_req['model']}"
    assert extra["model_deployment"] == recorded_req["model"]
    assert extra["latency"] > 0
    assert "raw_request" not in extra
    cost = response.usage.cost  # type: ignore[attr-defined]
    assert cost is not None and cost["total_cost"] > 0
    assert cost["total_cost"] == pytest.approx(
        cost["input_tokens_cost"] + cost["output_tokens_cost"] + cost["request_cost"]
    )


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("name", STREAM_FIXTURES)
def test_streaming_fixture_raw_events(fake: FakeUpstream, gateway: GatewayServer, name: str, prefix: str) -> None:
    exchange = load_fixture(f"openai-responses/{name}")
    recorded_req = exchange["request"]["body"]
    fake.add("/v1/responses", Reply.fixture(f"openai-responses/{name}"))

    events: list[ResponseStreamEvent] = list(
        _client(gateway, prefix).responses.create(**_sdk_kwargs(recorded_req), stream=True)
    )

    sent = fake.requests_to("/v1/responses")[-1].json
    assert sent == recorded_req
    recorded_types = [block.split("\n", 1)[0].removeprefix("event: ") for block in exchange["response"]["sse"]]
    assert [e.type for e in events] == recorded_types
    # every event carries its position; the SDK parsed each into its typed class
    assert [e.extra_fields["chunk_index"] for e in events] == list(range(len(events)))  # type: ignore[attr-defined]
    assert all(type(e).__module__.startswith("openai.types.responses.") for e in events)
    final = events[-1]
    assert isinstance(final, ResponseCompletedEvent)
    assert final.extra_fields["provider"] == "openai"  # type: ignore[attr-defined]
    assert final.extra_fields["request_type"] == "responses_stream"  # type: ignore[attr-defined]
    assert final.response.usage is not None
    assert final.response.usage.cost is not None  # type: ignore[attr-defined]
    assert final.response.extra_fields["model_deployment"] == recorded_req["model"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", STREAM_FIXTURES)
def test_streaming_fixture_sdk_helper(fake: FakeUpstream, gateway: GatewayServer, name: str) -> None:
    exchange = load_fixture(f"openai-responses/{name}")
    recorded_req = exchange["request"]["body"]
    fake.add("/v1/responses", Reply.fixture(f"openai-responses/{name}"))
    kwargs = _sdk_kwargs(recorded_req)
    with _client(gateway, "/v1").responses.stream(**kwargs) as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()
    completed = [b for b in exchange["response"]["sse"] if b.startswith("event: response.completed")]
    assert seen[-1] == "response.completed"
    recorded_final = __import__("json").loads(completed[0].split("data: ", 1)[1])["response"]
    assert final.id == recorded_final["id"]
    assert final.output_text == "".join(
        c["text"] for item in recorded_final["output"] if item["type"] == "message" for c in item["content"]
    )


def test_alias_and_bare_name_route_to_openai(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    by_alias = client.responses.create(model="smart", input="hi")
    assert fake.received[-1].json["model"] == "gpt-4o"
    assert by_alias.extra_fields["model_requested"] == "smart"  # type: ignore[attr-defined]
    by_bare = client.responses.create(model="gpt-4o-mini", input="hi")
    assert fake.received[-1].json["model"] == "gpt-4o-mini"
    assert by_bare.extra_fields["provider"] == "openai"  # type: ignore[attr-defined]


def test_gateway_only_fields_never_reach_openai(fake: FakeUpstream, client: openai.OpenAI) -> None:
    """fallbacks, reasoning.max_tokens and tools[].cache_control are the seed's extensions."""
    fake.add("/v1/responses", Reply.fixture("openai-responses/tool_call"))
    client.responses.create(
        model="openai/gpt-4o",
        input="What is the capital of France?",
        reasoning={"effort": "low", "max_tokens": 1024},  # type: ignore[typeddict-unknown-key]
        tools=[
            {
                "type": "function",
                "name": "get_capital",
                "parameters": {"type": "object", "properties": {}},
                "strict": False,
                "cache_control": {"type": "ephemeral"},
            }  # type: ignore[typeddict-unknown-key]
        ],
        text={"format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},  # type: ignore[typeddict-item]
        extra_body={"fallbacks": ["openai/gpt-4o-mini"], "some_future_field": {"kept": True}},
    )
    sent = fake.received[-1].json
    assert "fallbacks" not in sent
    assert sent["reasoning"] == {"effort": "low"}
    assert "cache_control" not in sent["tools"][0]
    assert sent["text"]["format"] == {"type": "json_schema", "name": "x", "schema": {"type": "object"}}
    assert sent["some_future_field"] == {"kept": True}  # unknown fields are forwarded untouched


def test_raw_request_and_response_on_request(fake: FakeUpstream, gateway: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key="client-key",
        max_retries=0,
        default_headers={"x-ferryman-send-back-raw": "true"},
    )
    response = client.responses.create(model="openai/gpt-4o", input="What is the capital of France?")
    extra = response.extra_fields  # type: ignore[attr-defined]
    assert extra["raw_request"] == {"model": "gpt-4o", "input": "What is the capital of France?"}
    assert extra["raw_response"]["id"] == response.id
    assert "sk-test-openai-secret" not in response.model_dump_json()
