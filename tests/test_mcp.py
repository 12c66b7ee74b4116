"""Remote MCP tools on every provider: Ferryman lists a real MCP server's tools, offers them to a model (fake
upstreams in each provider's wire format), runs the calls the model makes and feeds the results back, and
answers with OpenAI's MCP items and events, which the official openai SDK reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest

from ferryman.config import ConfigError, config_from_dict, secret_values
from tests.fakes.agent_model import MODELS, WIRES, Wire, gateway_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.mcp_servers import McpHttpServer
from tests.fakes.upstream import FakeUpstream, Received, Reply, closed_port

PROVIDERS = ["anthropic", "gemini", "groq", "openai"]


@dataclass
class ToolUser:
    """Calls ``tool`` with ``arguments`` until a tool result comes back, then answers with that result in its text.
    ``offered`` keeps the tool names of every request."""

    wire: Wire
    tool: str
    arguments: dict[str, Any]
    offered: list[list[str]] = field(default_factory=list)

    def __call__(self, received: Received) -> Reply:
        stream = self.wire.streams(received)
        self.offered.append(self.wire.tool_names(received.json))
        output = self.wire.tool_output(received.json)
        if output is None:
            return self.wire.call(self.tool, self.arguments, stream)
        return self.wire.text(f"The tool said: {output}", stream)


def serve(fake: FakeUpstream, provider: str, model: Any) -> None:
    for path in WIRES[provider].paths(MODELS[provider][1]):
        fake.add(path, model)


@pytest.fixture(scope="module")
def calc() -> Iterator[McpHttpServer]:
    server = McpHttpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, calc: McpHttpServer) -> Iterator[GatewayServer]:
    config = gateway_config(upstream.url)
    config["store"] = f"sqlite:///{tempfile.mkdtemp(prefix='ferryman-mcp-')}/ferryman.db"
    config["mcp"] = {
        "servers": {
            "calc": {"url": calc.url, "headers": {"authorization": "env.CALC_TOKEN"}},
            "files": {"command": [sys.executable, "-m", "tests.fakes.mcp_servers"]},
            "down": {"url": f"http://127.0.0.1:{closed_port()}/mcp"},
        },
        "openai_native": "never",
    }
    with GatewayServer(config, {"CALC_TOKEN": "Bearer calc-secret-token"}) as server:
        yield server


@pytest.fixture
def client(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


def mcp_tool(label: str = "calc", **extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": label, "require_approval": "never", **extra}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_model_calls_a_server_tool_and_answers_with_its_result(
    fake: FakeUpstream, client: openai.OpenAI, calc: McpHttpServer, provider: str
) -> None:
    a, b = 17, 25
    model = ToolUser(WIRES[provider], "calc__add", {"a": a, "b": b})
    serve(fake, provider, model)
    response = client.responses.create(model=MODELS[provider][0], input="Add them.", tools=[mcp_tool()])
    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "mcp_call", "message"]
    listed, call, message = response.output
    assert {t.name for t in listed.tools} == {"add", "multiply", "explode"}
    assert call.name == "add" and call.server_label == "calc" and json.loads(call.arguments) == {"a": a, "b": b}
    assert call.output == str(a + b) and call.error is None
    assert response.output_text == f"The tool said: {a + b}"
    assert set(model.offered[0]) >= {"calc__add", "calc__multiply", "calc__explode"}
    assert len(model.offered) == 2  # two model calls
    extra = response.model_extra["extra_fields"]
    assert extra["mcp"] == {"turns": 2, "calls": 1}
    assert response.usage is not None and response.usage.input_tokens == 2 * 40  # both calls' usage
    # the config's header reached the server, and never the client
    assert any(h.get("authorization") == "Bearer calc-secret-token" for h in calc.received)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_stream_carries_the_mcp_events_the_openai_sdk_reads(
    fake: FakeUpstream, client: openai.OpenAI, provider: str
) -> None:
    a, b = 6, 7
    serve(fake, provider, ToolUser(WIRES[provider], "calc__multiply", {"a": a, "b": b}))
    with client.responses.stream(model=MODELS[provider][0], input="Multiply.", tools=[mcp_tool()]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    for expected in (
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.output_text.delta",
    ):
        assert expected in kinds, expected
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    # typed by the SDK (not its unknown-event fallback), numbered in order, each item at its own index
    done = [e for e in events if e.type == "response.mcp_call.completed"][0]
    assert type(done).__name__ == "ResponseMcpCallCompletedEvent"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = [e.output_index for e in events if e.type == "response.output_item.added"]
    assert added == [0, 1, 2]
    assert [i.type for i in final.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert final.output[1].output == str(a * b)
    assert final.output_text == f"The tool said: {a * b}"


def test_allowed_tools_limit_what_the_model_is_offered(fake: FakeUpstream, client: openai.OpenAI) -> None:
    model = ToolUser(WIRES["anthropic"], "calc__add", {"a": 1, "b": 2})
    serve(fake, "anthropic", model)
    response = client.responses.create(
        model=MODELS["anthropic"][0], input="Add.", tools=[mcp_tool(allowed_tools=["add"])]
    )
    assert model.offered[0] == ["calc__add"]
    assert response.output[1].output == "3"
    model.offered.clear()
    client.responses.create(
        model=MODELS["anthropic"][0], input="Add.", tools=[mcp_tool(allowed_tools={"read_only": True})]
    )
    assert model.offered[0] == ["calc__add"]  # the one tool annotated readOnlyHint


def test_a_tool_that_raises_is_a_failed_call_the_model_is_told_of(fake: FakeUpstream, client: openai.OpenAI) -> None:
    model = ToolUser(WIRES["groq"], "calc__explode", {"reason": "on purpose"})
    serve(fake, "groq", model)
    response = client.responses.create(model=MODELS["groq"][0], input="Try it.", tools=[mcp_tool()])
    call = response.output[1]
    assert call.type == "mcp_call" and call.status == "failed" and call.output is None
    assert call.error is not None and "exploded: on purpose" in json.dumps(call.model_dump()["error"])
    assert "exploded: on purpose" in response.output_text  # the model got the error's text


def test_a_stdio_server_of_the_config(fake: FakeUpstream, client: openai.OpenAI) -> None:
    serve(fake, "gemini", ToolUser(WIRES["gemini"], "files__add", {"a": 40, "b": 2}))
    response = client.responses.create(model=MODELS["gemini"][0], input="Add.", tools=[mcp_tool("files")])
    assert response.output[1].server_label == "files" and response.output[1].output == "42"


def test_an_inline_server_url(fake: FakeUpstream, client: openai.OpenAI, calc: McpHttpServer) -> None:
    serve(fake, "anthropic", ToolUser(WIRES["anthropic"], "mine__add", {"a": 2, "b": 2}))
    calc.received.clear()
    calc.methods.clear()
    tool = mcp_tool("mine", server_url=calc.url, headers={"x-tenant": "t-1"}, authorization="oauth-token-1")
    response = client.responses.create(model=MODELS["anthropic"][0], input="Add.", tools=[tool])
    assert response.output[1].output == "4"
    assert calc.received and all(h.get("x-tenant") == "t-1" for h in calc.received)
    assert all(h.get("authorization") == "Bearer oauth-token-1" for h in calc.received)
    assert "tools/list" in calc.methods and "tools/call" in calc.methods


def test_an_inline_sse_server(fake: FakeUpstream, client: openai.OpenAI) -> None:
    server = McpHttpServer(sse=True).start()
    try:
        serve(fake, "gemini", ToolUser(WIRES["gemini"], "old__multiply", {"a": 5, "b": 5}))
        tool = mcp_tool("old", server_url=server.url)
        response = client.responses.create(model=MODELS["gemini"][0], input="Multiply.", tools=[tool])
    finally:
        server.stop()
    assert response.output[1].output == "25" and response.output_text == "The tool said: 25"


def test_a_server_that_is_down_is_a_clear_error_naming_it(fake: FakeUpstream, client: openai.OpenAI) -> None:
    model = ToolUser(WIRES["anthropic"], "down__add", {})
    serve(fake, "anthropic", model)
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(model=MODELS["anthropic"][0], input="Add.", tools=[mcp_tool("down")])
    assert caught.value.status_code == 424
    assert "'down'" in caught.value.message and caught.value.body["param"] == "tools[0]"
    assert not model.offered  # no model was called
    with pytest.raises(openai.APIStatusError) as stream_caught:
        client.responses.create(model=MODELS["anthropic"][0], input="Add.", tools=[mcp_tool("down")], stream=True)
    assert stream_caught.value.status_code == 424


def test_an_unknown_server_label_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODELS["anthropic"][0], input="x", tools=[mcp_tool("nope")])
    assert "'nope'" in caught.value.message and caught.value.body["param"] == "tools[0]"


@pytest.mark.parametrize("stream", [False, True])
def test_approval_then_the_call_runs_on_the_next_request(
    fake: FakeUpstream, client: openai.OpenAI, stream: bool
) -> None:
    model = ToolUser(WIRES["anthropic"], "calc__multiply", {"a": 3, "b": 14})
    serve(fake, "anthropic", model)
    tools: Any = [{"type": "mcp", "server_label": "calc"}]  # require_approval defaults to "always"
    first = client.responses.create(model=MODELS["anthropic"][0], input="Multiply.", tools=tools)
    assert [i.type for i in first.output] == ["mcp_list_tools", "mcp_approval_request"]
    asked = first.output[1]
    assert asked.name == "multiply" and json.loads(asked.arguments) == {"a": 3, "b": 14}
    approval = [{"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}]
    if stream:
        with client.responses.stream(
            model=MODELS["anthropic"][0], input=approval, tools=tools, previous_response_id=first.id
        ) as s:
            kinds = [e.type for e in s]
            second = s.get_final_response()
        assert "response.mcp_call.completed" in kinds
    else:
        second = client.responses.create(
            model=MODELS["anthropic"][0], input=approval, tools=tools, previous_response_id=first.id
        )
    # the list is in the conversation already: not listed again; the call ran, then the model answered
    assert [i.type for i in second.output] == ["mcp_call", "message"]
    assert second.output[0].approval_request_id == asked.id and second.output[0].output == "42"
    assert second.output_text == "The tool said: 42"


def test_a_declined_call_is_not_run(fake: FakeUpstream, client: openai.OpenAI, calc: McpHttpServer) -> None:
    model = ToolUser(WIRES["groq"], "calc__add", {"a": 1, "b": 1})
    serve(fake, "groq", model)
    tools: Any = [{"type": "mcp", "server_label": "calc", "require_approval": {"never": {"tool_names": ["multiply"]}}}]
    first = client.responses.create(model=MODELS["groq"][0], input="Add.", tools=tools)
    asked = first.output[-1]
    assert asked.type == "mcp_approval_request"
    calc.methods.clear()
    declined = [{"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": False}]
    second = client.responses.create(
        model=MODELS["groq"][0], input=declined, tools=tools, previous_response_id=first.id
    )
    assert [i.type for i in second.output] == ["message"]
    assert "declined" in second.output_text
    assert "tools/call" not in calc.methods  # nothing called (and the list came from the cache)
    assert "tools/list" not in calc.methods


@dataclass
class Insistent:
    """A Chat Completions model that calls ``tool`` every time it may (until it is told ``tool_choice: none``)."""

    tool: str
    choices: list[Any] = field(default_factory=list)

    def __call__(self, received: Received) -> Reply:
        wire = WIRES["groq"]
        self.choices.append(received.json.get("tool_choice"))
        if received.json.get("tool_choice") == "none":
            return wire.text("Giving up.", wire.streams(received))
        return wire.call(self.tool, {"a": len(self.choices), "b": 1}, wire.streams(received))


def test_the_loop_stops_at_max_tool_calls(fake: FakeUpstream, client: openai.OpenAI) -> None:
    model = Insistent("calc__add")
    serve(fake, "groq", model)
    response = client.responses.create(model=MODELS["groq"][0], input="Go.", tools=[mcp_tool()], max_tool_calls=3)
    calls = [i for i in response.output if i.type == "mcp_call"]
    assert [c.output for c in calls] == ["2", "3", "4"]  # a = 1, 2, 3 and b = 1
    assert model.choices[-1] == "none" and len(model.choices) == 4
    assert response.output_text == "Giving up."
    assert response.model_extra["extra_fields"]["mcp"] == {"turns": 4, "calls": 3}


def test_the_clients_own_function_tool_stays_the_clients(fake: FakeUpstream, client: openai.OpenAI) -> None:
    model = ToolUser(WIRES["anthropic"], "lookup", {"q": "x"})
    serve(fake, "anthropic", model)
    own = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    response = client.responses.create(model=MODELS["anthropic"][0], input="Look.", tools=[mcp_tool(), own])
    assert [i.type for i in response.output] == ["mcp_list_tools", "function_call"]
    assert response.output[1].name == "lookup"
    assert "lookup" in model.offered[0] and "calc__add" in model.offered[0]


CHECK_IMPORTS = """
import sys
import httpx
from tests.fakes.gateway import GatewayServer

with GatewayServer({"store": False}) as gw:
    answered = httpx.post(gw.url + "/v1/responses", json={"model": "mock/echo", "input": "hi"})
    assert answered.status_code == 200, answered.text
    names = ("mcp.", "ferryman.mcp", "ferryman.gateway.tool")
    before = sorted(m for m in sys.modules if m == "mcp" or m.startswith(names))
    tool = {"type": "mcp", "server_label": "x", "server_url": "http://127.0.0.1:%d/mcp", "require_approval": "never"}
    down = httpx.post(gw.url + "/v1/responses", json={"model": "mock/echo", "input": "hi", "tools": [tool]})
    print(before, down.status_code, "mcp" in sys.modules)
"""


def test_without_mcp_nothing_of_it_is_imported() -> None:
    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    script = CHECK_IMPORTS % closed_port()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=root, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "[] 424 True"


def test_the_mcp_section_is_checked() -> None:
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        config_from_dict({"mcp": {"nope": 1}}, {})
    with pytest.raises(ConfigError, match="either 'url'"):
        config_from_dict({"mcp": {"servers": {"a": {"url": "http://x/mcp", "command": ["x"]}}}}, {})
    with pytest.raises(ConfigError, match="env.MISSING is not set"):
        config_from_dict({"mcp": {"servers": {"a": {"url": "http://x/mcp", "headers": {"x-key": "env.MISSING"}}}}}, {})
    config = config_from_dict(
        {"mcp": {"servers": {"a": {"url": "http://x/sse", "headers": {"authorization": "env.TOKEN"}}}}},
        {"TOKEN": "Bearer mcp-secret-value"},
    )
    assert config.mcp is not None and config.mcp.servers["a"].transport == "sse"
    assert "mcp-secret-value" in secret_values(config)  # scrubbed from logs and relayed errors
    assert "mcp-secret-value" not in repr(config.mcp)


def test_openai_runs_a_public_servers_tools_itself(fake: FakeUpstream, calc: McpHttpServer) -> None:
    """By default (``openai_native: public``) a request to OpenAI whose servers are all public goes as sent;
    a server only the gateway reaches (a private address, a server of the config) is run by the gateway."""
    seen: list[Any] = []

    def openai_model(received: Received) -> Reply:
        seen.append(received.json["tools"])
        return WIRES["openai"].text("OpenAI ran it.", WIRES["openai"].streams(received))

    fake.add("/v1/responses", openai_model)
    config = gateway_config(fake.url)
    config["mcp"] = {"servers": {"calc": {"url": calc.url}}}
    public = mcp_tool("web", server_url="https://mcp.example.com/mcp")
    with GatewayServer(config) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        passed = client.responses.create(model=MODELS["openai"][0], input="x", tools=[public])
        assert seen[-1] == [public] and passed.output_text == "OpenAI ran it."
        ours = client.responses.create(model=MODELS["openai"][0], input="x", tools=[mcp_tool()])
    assert {t["type"] for t in seen[-1]} == {"function"} and "calc__add" in {t["name"] for t in seen[-1]}
    assert [i.type for i in ours.output] == ["mcp_list_tools", "message"]
