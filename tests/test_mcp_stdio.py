"""A stdio MCP server of the config is one long-lived process: started on first use, shared by every
concurrent call (through ``/mcp`` and a request's ``mcp`` tools alike), started again after it dies, and
stopped with the gateway. The server says its process id (its ``pid`` tool); the test process is the
gateway's, so the server's process is a child of it and ``/proc`` shows what is left of it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fakes.agent_model import MODELS, WIRES, gateway_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream
from tests.test_mcp import ToolUser, mcp_tool, serve

COMMAND = [sys.executable, "-m", "tests.fakes.mcp_servers", "--process"]


@pytest.fixture
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    config = gateway_config(upstream.url)
    config["mcp"] = {"servers": {"procs": {"command": COMMAND}}, "openai_native": "never"}
    with GatewayServer(config) as server:
        yield server


def servers() -> set[int]:
    """The pids of this process's children running the server (a zombie, not yet reaped, counts)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and b"--process" in (stat.parent / "cmdline").read_bytes():
                found.add(int(stat.parent.name))
            elif int(fields[1]) == os.getpid() and fields[0] == "Z":
                found.add(int(stat.parent.name))  # a zombie's command line is gone
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return found


def text(result: Any) -> str:
    return "\n".join(part.text for part in result.content)


async def call(url: str, tool: str, arguments: dict[str, Any] | None = None) -> Any:
    async with Client(streamable_http_client(f"{url}/mcp"), cache=None) as mcp:
        return await mcp.call_tool(tool, arguments or {})


def test_concurrent_calls_share_one_process(gateway: GatewayServer, fake: FakeUpstream) -> None:
    serve(fake, "anthropic", ToolUser(WIRES["anthropic"], "procs__pid", {}))
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)

    async def answered_by() -> str:
        response = await client.responses.create(model=MODELS["anthropic"][0], input="pid?", tools=[mcp_tool("procs")])
        assert response.output[1].type == "mcp_call" and response.output[1].error is None
        return str(response.output[1].output)

    async def both() -> tuple[list[Any], list[str]]:
        # the first use of the server: every call at once, through /mcp and through the tool loop
        return await asyncio.gather(
            asyncio.gather(*(call(gateway.url, "pid") for _ in range(12))),
            asyncio.gather(*(answered_by() for _ in range(4))),
        )

    assert servers() == set()
    direct, looped = asyncio.run(both())
    pids = {text(result) for result in direct} | set(looped)
    assert len(pids) == 1 and all(not result.is_error for result in direct)
    assert servers() == {int(pids.pop())}  # one process, the one that answered


def test_a_killed_server_fails_the_call_in_flight_and_is_started_again(gateway: GatewayServer) -> None:
    reached = Path(tempfile.mkdtemp(prefix="ferryman-mcp-")) / "reached"
    os.mkfifo(reached)

    async def run() -> tuple[int, Any, int]:
        first = int(text(await call(gateway.url, "pid")))
        hanging = asyncio.ensure_future(call(gateway.url, "hang", {"path": str(reached)}))
        assert int(await asyncio.to_thread(reached.read_text)) == first  # the call is in the server's hands
        os.kill(first, signal.SIGKILL)
        failed = await hanging
        return first, failed, int(text(await call(gateway.url, "pid")))

    first, failed, second = asyncio.run(run())
    assert failed.is_error
    assert "MCP server 'procs': could not call hang: the server's session ended" in text(failed)
    assert second != first and servers() >= {second}
    assert int(text(asyncio.run(call(gateway.url, "add", {"a": 2, "b": 3})))) == 5  # a working server again
    gateway.stop()
    assert servers() == set()  # the dead one reaped, the new one stopped


def at_shutdown_complete(seen: list[set[int]]) -> Callable[[Any], Any]:
    """An ASGI middleware that notes the server processes left when the gateway says its shutdown is complete
    (before its event loop ends, which would cancel what the shutdown forgot)."""

    def wrap(app: Any) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            async def sending(message: Any) -> None:
                if message["type"] == "lifespan.shutdown.complete":
                    seen.append(servers())
                await send(message)

            await app(scope, receive, sending if scope["type"] == "lifespan" else send)

        return asgi

    return wrap


def test_shutdown_leaves_no_process(upstream: FakeUpstream) -> None:
    config = gateway_config(upstream.url)
    config["mcp"] = {"servers": {"procs": {"command": COMMAND}, "more": {"command": COMMAND}}}
    seen: list[set[int]] = []
    with GatewayServer(config, wrap=at_shutdown_complete(seen)) as gateway:
        pids = {int(text(asyncio.run(call(gateway.url, tool)))) for tool in ("procs__pid", "more__pid")}
        assert len(pids) == 2 and servers() == pids  # a process per server
    assert seen == [set()]
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def test_a_server_that_never_answers_is_a_clear_error_and_is_stopped(upstream: FakeUpstream) -> None:
    config = gateway_config(upstream.url)
    silent = [sys.executable, "-c", "import time; time.sleep(600)", "--process"]  # reads nothing, answers nothing
    config["mcp"] = {"servers": {"stuck": {"command": silent}}, "connect_timeout": 1, "openai_native": "never"}
    seen: list[set[int]] = []
    with GatewayServer(config, wrap=at_shutdown_complete(seen)) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)
        for _ in range(2):  # the abandoned start is not kept: the next request tries again
            with pytest.raises(openai.APIStatusError) as caught:
                client.responses.create(model=MODELS["anthropic"][0], input="x", tools=[mcp_tool("stuck")])
            assert caught.value.status_code == 424 and caught.value.body["code"] == "mcp_server_error"
            assert "MCP server 'stuck': could not list its tools: no answer within 1 s" in caught.value.body["message"]
    assert seen == [set()]  # both started processes stopped by the shutdown's end
