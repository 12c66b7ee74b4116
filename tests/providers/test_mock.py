"""The built-in mock provider, end to end: the gateway on a real port, the official openai SDK as client."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import openai
import pytest
from pydantic import BaseModel

from ferryman.config import ConfigError, config_from_dict, describe
from tests.fakes.gateway import GatewayServer

ZERO_COST = {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "request_cost": 0.0, "total_cost": 0.0}
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The forecast for a place",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 3, "maximum": 10},
            "hourly": {"type": "boolean"},
            "fields": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "where": {
                "type": "object",
                "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                "required": ["lat", "lon"],
            },
            "note": {"type": "string"},
        },
        "required": ["city", "unit", "days", "hourly", "fields", "where"],
        "additionalProperties": False,
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
}


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # the documented estimate: ~4 characters a token


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    store = tmp_path_factory.mktemp("mock") / "store.db"
    with GatewayServer({"store": f"sqlite:///{store}", "providers": {"mock": {"max_retries": 2}}}) as gw:
        yield gw


@pytest.fixture
def sdk(mock_gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{mock_gateway.url}/v1", api_key="anything", max_retries=0)


# ---- text --------------------------------------------------------------------------------------


def test_text_quotes_the_last_user_message(sdk: openai.OpenAI) -> None:
    conversation: Any = [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Say something nice"},
    ]
    response = sdk.responses.create(model="mock/gpt-4o", input=conversation, instructions="Be brief")
    assert response.output_text == 'You said: "Say something nice"'
    assert response.status == "completed"
    assert response.model == "gpt-4o"
    usage = response.usage
    assert usage is not None
    assert usage.input_tokens == tokens("Be brief" + "Hi there" + "Hello" + "Say something nice")
    assert usage.output_tokens == tokens(response.output_text)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.cost == ZERO_COST  # type: ignore[attr-defined]
    extra = response.extra_fields  # type: ignore[attr-defined]
    assert extra["provider"] == "mock"
    assert extra["model_requested"] == "mock/gpt-4o"
    assert extra["model_deployment"] == "gpt-4o"
    assert extra["request_type"] == "responses"


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1", "/litellm/v1"])
def test_echo_repeats_the_message_under_every_prefix(mock_gateway: GatewayServer, prefix: str) -> None:
    resp = httpx.post(f"{mock_gateway.url}{prefix}/responses", json={"model": "mock/echo", "input": "Ping 42"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["output"][0]["content"][0]["text"] == "Ping 42"
    assert body["usage"]["cost"] == ZERO_COST


def test_stream_sends_several_deltas_and_a_completed_response(sdk: openai.OpenAI) -> None:
    said = "Count to five please, one two three four five"
    deltas: list[str] = []
    types: list[str] = []
    with sdk.responses.stream(model="mock/gpt-4o-mini", input=said) as stream:
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.output_text == f'You said: "{said}"'
    assert len(deltas) > 5
    assert "".join(deltas) == final.output_text
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert final.usage is not None and final.usage.cost == ZERO_COST  # type: ignore[attr-defined]
    assert final.extra_fields["request_type"] == "responses_stream"  # type: ignore[attr-defined]


# ---- tools -------------------------------------------------------------------------------------


def test_tool_call_then_result_then_text(sdk: openai.OpenAI) -> None:
    question: Any = [{"role": "user", "content": "Weather in Paris?"}]
    first = sdk.responses.create(model="mock/gpt-4o", input=question, tools=[WEATHER_TOOL, TIME_TOOL])
    assert [item.type for item in first.output] == ["function_call"]
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    args = json.loads(call.arguments)
    assert set(args) == {"city", "unit", "days", "hourly", "fields", "where"}  # the required ones
    assert isinstance(args["city"], str) and args["city"]
    assert args["unit"] == "celsius"
    assert isinstance(args["days"], int) and 3 <= args["days"] <= 10
    assert args["hourly"] is True
    assert len(args["fields"]) >= 2 and all(isinstance(f, str) for f in args["fields"])
    assert all(isinstance(args["where"][k], float | int) for k in ("lat", "lon"))

    result = '{"temperature": 21, "sky": "clear"}'
    follow_up: Any = [
        *question,
        *[item.model_dump(exclude_none=True) for item in first.output],
        {"type": "function_call_output", "call_id": call.call_id, "output": result},
    ]
    second = sdk.responses.create(model="mock/gpt-4o", input=follow_up, tools=[WEATHER_TOOL, TIME_TOOL])
    assert [item.type for item in second.output] == ["message"]
    assert second.output_text == f"get_weather returned: {result}"

    # the same turn chained by previous_response_id: the stored history reaches the mock
    chained = sdk.responses.create(
        model="mock/gpt-4o",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": result}],
        tools=[WEATHER_TOOL, TIME_TOOL],
    )
    assert chained.output_text == f"get_weather returned: {result}"


def test_tool_choice_picks_the_function_or_none(sdk: openai.OpenAI) -> None:
    named = sdk.responses.create(
        model="mock/m",
        input="What time is it?",
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "name": "get_time"},
    )
    assert named.output[0].type == "function_call"
    assert named.output[0].name == "get_time"
    assert json.loads(named.output[0].arguments) == {"zone": "example zone"}
    none = sdk.responses.create(model="mock/m", input="Just talk", tools=[WEATHER_TOOL], tool_choice="none")
    assert none.output_text == 'You said: "Just talk"'
    with pytest.raises(openai.BadRequestError) as info:
        sdk.responses.create(
            model="mock/m", input="x", tools=[WEATHER_TOOL], tool_choice={"type": "function", "name": "nope"}
        )
    assert info.value.body["param"] == "tool_choice"  # type: ignore[index]


def test_streamed_tool_call_arrives_in_several_argument_deltas(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model="mock/m", input="Weather?", tools=[WEATHER_TOOL]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call"
    assert len(deltas) > 1
    assert "".join(deltas) == call.arguments
    assert json.loads(call.arguments)["unit"] == "celsius"


# ---- structured output and reasoning -----------------------------------------------------------


class Place(BaseModel):
    name: str
    lat: float
    lon: float


class Forecast(BaseModel):
    summary: str
    unit: Literal["celsius", "fahrenheit"]
    days: int
    windy: bool
    temperatures: list[float]
    place: Place
    alternatives: list[Place]
    note: str | None


def test_structured_output_validates_against_the_schema(sdk: openai.OpenAI) -> None:
    # the SDK sends the strict JSON schema of Forecast ($defs, $ref, anyOf with null) and validates the reply
    response = sdk.responses.parse(model="mock/gpt-4o", input="Forecast for Paris", text_format=Forecast)
    parsed = response.output_parsed
    assert isinstance(parsed, Forecast)
    assert parsed.unit == "celsius"
    assert parsed.temperatures and parsed.alternatives
    assert isinstance(parsed.place, Place)


def test_reasoning_request_gets_a_summary_item_first(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(
        model="mock/o3", input="Why is the sky blue?", reasoning={"effort": "low", "summary": "auto"}
    )
    assert [item.type for item in response.output] == ["reasoning", "message"]
    reasoning = response.output[0]
    assert reasoning.type == "reasoning"
    summary = reasoning.summary[0].text
    assert "Why is the sky blue?" in summary
    usage = response.usage
    assert usage is not None
    assert usage.output_tokens_details.reasoning_tokens == tokens(summary)
    assert usage.output_tokens == tokens(summary) + tokens(response.output_text)

    with sdk.responses.stream(model="mock/o3", input="Why?", reasoning={"effort": "high"}) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert kinds.count("response.reasoning_summary_text.delta") > 1
    assert final.output[0].type == "reasoning"


# ---- failures ----------------------------------------------------------------------------------


def test_forced_error_has_the_provider_error_shape(mock_gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    resp = httpx.post(
        f"{mock_gateway.url}/v1/responses",
        json={"model": "mock/m", "input": "x", "metadata": {"mock_error": "400"}},
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "mock_error"
    assert error["provider"] == "mock"
    assert error["message"].startswith("mock: ")
    assert resp.headers["x-ferryman-attempts"] == "mock/m:400"  # a caller's error is not retried

    with pytest.raises(openai.InternalServerError) as info:
        sdk.responses.create(model="mock/m", input="x", metadata={"mock_error": "500"})
    assert info.value.status_code == 500

    bad = httpx.post(
        f"{mock_gateway.url}/v1/responses",
        json={"model": "mock/m", "input": "x", "metadata": {"mock_error": "teapot"}},
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "metadata.mock_error"


def test_forced_429_is_retried_per_max_retries(mock_gateway: GatewayServer) -> None:
    resp = httpx.post(
        f"{mock_gateway.url}/v1/responses",
        json={"model": "mock/m", "input": "x", "metadata": {"mock_error": "429"}},
    )
    assert resp.status_code == 429
    assert resp.json()["error"]["type"] == "rate_limit_error"
    assert resp.headers["x-ferryman-attempts"] == "mock/m:429,mock/m:429,mock/m:429"  # max_retries: 2


def test_forced_error_on_a_stream_comes_before_the_first_byte(mock_gateway: GatewayServer) -> None:
    body = {"model": "mock/m", "input": "x", "stream": True, "metadata": {"mock_error": "503"}}
    with httpx.stream("POST", f"{mock_gateway.url}/v1/responses", json=body) as resp:
        resp.read()
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]["provider"] == "mock"


def test_failing_mock_falls_back_to_another(mock_gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    resp = httpx.post(
        f"{mock_gateway.url}/v1/responses",
        json={"model": "mock/a", "input": "hi", "metadata": {"mock_error": "a:503"}, "fallbacks": ["mock/b"]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["extra_fields"]["model_deployment"] == "b"
    assert resp.headers["x-ferryman-attempts"] == "mock/a:503,mock/a:503,mock/a:503,mock/b:200"

    with sdk.responses.stream(
        model="mock/a",
        input="hi",
        metadata={"mock_error": "a:429"},
        extra_body={"fallbacks": ["mock/echo"]},
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "hi"
    assert final.extra_fields["model_deployment"] == "echo"  # type: ignore[attr-defined]


# ---- settings ----------------------------------------------------------------------------------


def test_pacing_sleeps_the_latency_then_each_deltas_tokens() -> None:
    config = {"store": False, "providers": {"mock": {"latency_ms": 300, "tokens_per_second": 80}}}
    with GatewayServer(config) as gw:
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        gw.app.providers["mock"].sleep = record  # type: ignore[attr-defined]
        sdk = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        said = "one two three four five"
        with sdk.responses.stream(model="mock/echo", input=said) as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        assert deltas == ["one", " two", " three", " four", " five"]
        assert waits == [0.3, *(tokens(d) / 80 for d in deltas[1:])]

        waits.clear()
        whole = sdk.responses.create(model="mock/echo", input=said)
        assert whole.output_text == said
        assert waits == [0.3 + tokens(said) / 80]


def test_unpaced_by_default(mock_gateway: GatewayServer, sdk: openai.OpenAI) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    provider: Any = mock_gateway.app.providers["mock"]
    original, provider.sleep = provider.sleep, record
    try:
        with sdk.responses.stream(model="mock/echo", input="a b c") as stream:
            assert stream.get_final_response().output_text == "a b c"
        sdk.responses.create(model="mock/echo", input="a b c")
    finally:
        provider.sleep = original
    assert waits == []


def test_disabled_mock_is_a_clear_error() -> None:
    with GatewayServer({"store": False, "providers": {"mock": {"enabled": False}}}) as gw:
        resp = httpx.post(f"{gw.url}/v1/responses", json={"model": "mock/echo", "input": "hi"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "provider_not_configured"
    assert "'enabled: false'" in error["message"]
    with pytest.raises(ConfigError, match="provider 'mock', which is not configured"):
        config_from_dict({"providers": {"mock": {"enabled": False}}, "models": [{"name": "a", "target": "mock/x"}]}, {})


def test_pacing_settings_belong_to_mock_providers_only() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'latency_ms' for provider type 'openai' \(a key of: mock\)"):
        config_from_dict({"providers": {"openai": {"latency_ms": 5}}}, {})
    config = config_from_dict({"providers": {"slow-mock": {"type": "mock", "tokens_per_second": 20}}}, {})
    assert config.providers["slow-mock"].tokens_per_second == 20
    assert config.providers["mock"].tokens_per_second is None  # the built-in one is still there
    assert "slow-mock: type=mock (answers by itself) latency_ms=0 20 tokens/s" in describe(config)


def test_a_pricing_override_prices_a_mock_model() -> None:
    config = {"store": False, "pricing": {"mock/gpt-4o": {"input_mtok": 1_000_000, "output_mtok": 2_000_000}}}
    with GatewayServer(config) as gw:
        body = httpx.post(f"{gw.url}/v1/responses", json={"model": "mock/gpt-4o", "input": "12345678"}).json()
    usage = body["usage"]
    assert usage["cost"]["input_tokens_cost"] == usage["input_tokens"] * 1.0
    assert usage["cost"]["total_cost"] == usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0


def test_custom_and_namespaced_tools(sdk: openai.OpenAI) -> None:
    """The mock offers custom and namespaced tools as a translating provider does: its calls come back
    as a custom_tool_call and a function_call with its namespace, and their outputs are reported."""
    tools: Any = [
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch."},
        {"type": "namespace", "name": "crm", "description": "CRM", "tools": [{"type": "function", "name": "find"}]},
    ]
    custom = sdk.responses.create(model="mock/gpt-4o", input="patch it", tools=tools)
    [call] = custom.output
    assert call.type == "custom_tool_call" and call.name == "apply_patch" and call.input
    choice: Any = {"type": "function", "name": "find", "namespace": "crm"}
    with sdk.responses.stream(model="mock/gpt-4o", input="find", tools=tools, tool_choice=choice) as stream:
        final = stream.get_final_response()
    [found] = final.output
    assert found.type == "function_call" and (found.name, found.namespace) == ("find", "crm")
    history: Any = [
        {"role": "user", "content": "patch it"},
        call.model_dump(exclude_none=True),
        {"type": "custom_tool_call_output", "call_id": call.call_id, "output": "patched"},
    ]
    answer = sdk.responses.create(model="mock/gpt-4o", input=history, tools=tools)
    assert answer.output_text == "apply_patch returned: patched"
