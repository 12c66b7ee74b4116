"""The OpenAI Agents SDK (`openai-agents`) end to end through Ferryman, on every kind of provider.

An `Agent` with a function tool, on an `OpenAIResponsesModel` whose client's base URL is a real Ferryman, runs
against fake upstreams answering in their own wire formats (tests/fakes/agent_model.py): the model calls the
tool, the SDK runs it and sends its result back, the model answers; as a run (`Runner.run`, JSON replies) and
as a streamed run (`Runner.run_streamed`, event streams). Any name Ferryman routes works so: `provider/model`, a
bare name, an alias; given as a plain string instead, a prefixed name never leaves the SDK (the README says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, UserError, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.fakes.agent_model import MODELS, gateway_config, provider_params, script
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream

ANSWER = "It is sunny in Paris."
TOOL_OUTPUT = "sunny in Paris, 21 degrees"  # only the tool says this: it proves the tool's result went back

# Providers whose run fails today only for want of a feature the coding-agents issue adds; none so far.
PENDING_PROVIDERS: dict[str, str] = {}


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 21 degrees"


@pytest.fixture(scope="module")
def agents_gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    set_tracing_disabled(True)  # the SDK would send traces to OpenAI
    config = gateway_config(upstream.url)
    config["models"] = [{"name": "fast", "target": MODELS["anthropic"][0]}]
    with GatewayServer(config) as server:
        yield server


def _agent(gateway: GatewayServer, model: str) -> Agent[Any]:
    client = AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="sk-ferryman-client", max_retries=0)
    return Agent(
        name="Assistant",
        instructions="Use the tools to answer.",
        model=OpenAIResponsesModel(model=model, openai_client=client),
        tools=[get_weather],
    )


async def _run(agent: Agent[Any], streamed: bool) -> tuple[Any, list[str]]:
    if not streamed:
        result = await Runner.run(agent, "What is the weather in Paris?")
        return result.final_output, [item.type for item in result.new_items]
    run = Runner.run_streamed(agent, "What is the weather in Paris?")
    names = [event.name async for event in run.stream_events() if event.type == "run_item_stream_event"]
    return run.final_output, names


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("provider", provider_params(PENDING_PROVIDERS))
def test_an_agent_calls_its_function_tool_and_answers(
    provider: str, streamed: bool, fake: FakeUpstream, agents_gateway: GatewayServer
) -> None:
    model = script(fake, provider, "get_weather", {"city": "Paris"}, ANSWER)

    final_output, steps = asyncio.run(_run(_agent(agents_gateway, MODELS[provider][0]), streamed))

    assert final_output == ANSWER
    if streamed:
        assert steps == ["tool_called", "tool_output", "message_output_created"]
    else:
        assert steps == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    first, second = fake.received
    assert model.wire.streams(first) is streamed and model.wire.streams(second) is streamed
    assert model.wire.tool_names(first.json) == ["get_weather"]
    assert model.wire.tool_output(first.json) is None
    assert model.wire.tool_output(second.json) == TOOL_OUTPUT


@pytest.mark.parametrize("name", [MODELS["anthropic"][1], "fast"], ids=["bare_name", "alias"])
def test_a_bare_name_or_an_alias_reaches_its_provider(
    name: str, fake: FakeUpstream, agents_gateway: GatewayServer
) -> None:
    script(fake, "anthropic", "get_weather", {"city": "Paris"}, ANSWER)

    final_output, _ = asyncio.run(_run(_agent(agents_gateway, name), streamed=False))

    assert final_output == ANSWER
    assert [r.path for r in fake.received] == ["/v1/messages"] * 2
    assert {r.json["model"] for r in fake.received} == {MODELS["anthropic"][1]}


def test_a_prefixed_name_as_a_plain_string_is_refused_by_the_sdk_before_sending(fake: FakeUpstream) -> None:
    """Why the README wraps names in `OpenAIResponsesModel`: the SDK's own provider lookup reads the prefix."""
    agent: Agent[Any] = Agent(name="Assistant", model=MODELS["anthropic"][0], tools=[get_weather])
    with pytest.raises(UserError, match="Unknown prefix: anthropic"):
        asyncio.run(Runner.run(agent, "What is the weather in Paris?"))
    assert fake.received == []
