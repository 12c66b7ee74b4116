"""Ferryman as one MCP server (``/mcp``): the official ``mcp`` SDK's client lists and calls the tools of every
server in the config through it, with the gateway's keys; and a virtual key limited to some MCP servers."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.fakes.agent_model import MODELS, gateway_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.mcp_servers import McpHttpServer
from tests.fakes.upstream import FakeUpstream

MASTER = "sk-master-key-for-mcp-tests-0123"


@pytest.fixture(scope="module")
def calc() -> Iterator[McpHttpServer]:
    server = McpHttpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, calc: McpHttpServer) -> Iterator[GatewayServer]:
    config = gateway_config(upstream.url)
    config["store"] = f"sqlite:///{tempfile.mkdtemp(prefix='ferryman-mcp-')}/ferryman.db"
    config["governance"] = {"master_key": MASTER}
    config["mcp"] = {
        "servers": {
            "calc": {"url": calc.url},
            "files": {"command": [sys.executable, "-m", "tests.fakes.mcp_servers"]},
        }
    }
    with GatewayServer(config) as server:
        yield server


def key_for(gateway: GatewayServer, **fields: Any) -> str:
    reply = httpx.post(
        f"{gateway.url}/admin/keys", json={"name": "mcp-user", **fields}, headers={"authorization": f"Bearer {MASTER}"}
    )
    assert reply.status_code == 201, reply.text
    value: str = reply.json()["key"]
    return value


async def tools_and_call(url: str, key: str, tool: str, arguments: dict[str, Any]) -> tuple[list[str], Any]:
    http = create_mcp_http_client(headers={"authorization": f"Bearer {key}"})
    async with Client(streamable_http_client(url, http_client=http), cache=None) as client:
        listed = await client.list_tools()
        result = await client.call_tool(tool, arguments)
    return sorted(t.name for t in listed.tools), result


def test_the_master_key_sees_every_server_clashing_names_prefixed(gateway: GatewayServer) -> None:
    names, result = asyncio.run(tools_and_call(f"{gateway.url}/mcp", MASTER, "files__multiply", {"a": 6, "b": 9}))
    # both servers are calculators: every name clashes, so every name has its server's label
    assert names == sorted(f"{s}__{t}" for s in ("calc", "files") for t in ("add", "multiply", "explode"))
    assert not result.is_error and result.content[0].text == "54"


def test_a_key_sees_only_its_servers(gateway: GatewayServer) -> None:
    key = key_for(gateway, mcp_servers=["calc"])
    names, result = asyncio.run(tools_and_call(f"{gateway.url}/mcp", key, "add", {"a": 20, "b": 22}))
    assert names == ["add", "explode", "multiply"]  # one server: no clash, no prefix
    assert result.content[0].text == "42"
    _, hidden = asyncio.run(tools_and_call(f"{gateway.url}/mcp", key, "files__add", {"a": 1, "b": 1}))
    assert hidden.is_error


def test_mcp_needs_a_key(gateway: GatewayServer) -> None:
    reply = httpx.post(f"{gateway.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
    nothing = key_for(gateway, mcp_servers=[])
    refused = httpx.post(
        f"{gateway.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"authorization": f"Bearer {nothing}"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "mcp_server_not_allowed"


def test_a_key_may_not_name_another_server_in_a_request(gateway: GatewayServer) -> None:
    key = key_for(gateway, mcp_servers=["calc"])
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    for tool in (
        {"type": "mcp", "server_label": "files"},
        {"type": "mcp", "server_label": "calc", "server_url": "https://example.com/mcp"},
    ):
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client.responses.create(model=MODELS["anthropic"][0], input="x", tools=[tool])  # type: ignore[list-item]
        assert caught.value.body["code"] == "mcp_server_not_allowed" and caught.value.body["param"] == "tools[0]"
    keys = httpx.get(f"{gateway.url}/admin/keys", headers={"authorization": f"Bearer {MASTER}"}).json()
    assert any(k.get("mcp_servers") == ["calc"] for k in keys["data"])
