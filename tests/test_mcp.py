"""Remote MCP tools on every provider: Ferryman lists a real MCP server's tools, offers them to a model (fake
upstreams in each provider's wire format), runs the calls the model makes and feeds the results back, and
answers with OpenAI's MCP items and events, which the official openai SDK reads."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

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
    config["store"] = f"sqlite:///{upstream.url.split(':')[-1]}-mcp-test.db".replace("sqlite:///", "sqlite:////tmp/")
    config["mcp"] = {
        "servers": {
            "calc": {"url": calc.url, "headers": {"authorization": "env.CALC_TOKEN"}},
            "files": {"command": [sys.executable, "-m", "tests.fakes.mcp_servers"]},
            "down": {"url": f"http://127.0.0.1:{closed_port()}/mcp"},
        },
        "connect_timeout": 5,
        "call_timeout": 5,
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
