"""LangChain's ``ChatOpenAI`` end to end through Ferryman, in both of its modes: Chat Completions (its default,
``/v1/chat/completions``) and the Responses API (``use_responses_api=True``, ``/v1/responses``).

Against fake upstreams answering in their own wire formats (tests/fakes/agent_model.py), on an OpenAI model
and on a non-OpenAI one (Anthropic): the model bound to a tool calls it, the tool's result goes back as a
``ToolMessage``, and the model answers in text; whole (``invoke``) and streamed (``stream``, the chunks
added up as LangChain adds them). What the upstream received is checked too: the tool offered, the tool's
result in the provider's own shape, a stream asked for when the client streamed (Chat Completions to OpenAI
goes through as OpenAI's own Chat Completions request).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.fakes.agent_model import MODELS, ChatCompletions, gateway_config, script
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream

ANSWER = "It is sunny in Paris."
TOOL_OUTPUT = "sunny in Paris, 21 degrees"  # only the tool says this: it proves the tool's result went back


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}, 21 degrees"


@pytest.fixture(scope="module")
def langchain_gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(gateway_config(upstream.url)) as server:
        yield server


def _ask(llm: Any, messages: list[BaseMessage], streamed: bool) -> AIMessage:
    if not streamed:
        answer: AIMessage = llm.invoke(messages)
        return answer
    total: Any = None
    for chunk in llm.stream(messages):
        total = chunk if total is None else total + chunk
    assert total is not None
    return AIMessage(content=total.content, tool_calls=total.tool_calls)


@pytest.mark.parametrize("streamed", [False, True], ids=["invoke", "stream"])
@pytest.mark.parametrize("responses_api", [False, True], ids=["chat_completions", "responses"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_chat_openai_calls_a_tool_and_answers_with_its_result(
    provider: str, responses_api: bool, streamed: bool, fake: FakeUpstream, langchain_gateway: GatewayServer
) -> None:
    # Chat Completions to OpenAI is a passthrough: OpenAI gets the client's own /v1/chat/completions request
    native = ChatCompletions("/v1") if provider == "openai" and not responses_api else None
    model = script(fake, provider, "get_weather", {"city": "Paris"}, ANSWER, native)
    doors: list[str] = []  # the gateway paths LangChain called
    client = httpx.Client(event_hooks={"request": [lambda request: doors.append(request.url.path)]})
    llm = ChatOpenAI(
        model=MODELS[provider][0],
        base_url=f"{langchain_gateway.url}/v1",
        api_key="sk-ferryman-client",  # type: ignore[arg-type]
        use_responses_api=responses_api,
        max_retries=0,
        http_client=client,
    ).bind_tools([get_weather])
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris?")]

    call = _ask(llm, messages, streamed)
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("get_weather", {"city": "Paris"})]
    result = get_weather.invoke(call.tool_calls[0]["args"])
    answer = _ask(llm, [*messages, call, ToolMessage(result, tool_call_id=call.tool_calls[0]["id"])], streamed)

    assert answer.text == ANSWER and not answer.tool_calls
    assert doors == ["/v1/responses" if responses_api else "/v1/chat/completions"] * 2
    first, second = fake.received
    assert fake.requests_to(model.wire.paths(MODELS[provider][1])[0]) == [first, second]
    assert model.wire.streams(first) is streamed and model.wire.streams(second) is streamed
    assert model.wire.tool_names(first.json) == ["get_weather"]
    assert model.wire.tool_output(first.json) is None
    assert model.wire.tool_output(second.json) == TOOL_OUTPUT
