"""Real MCP servers for the tests, made with the ``mcp`` SDK's ``MCPServer``: over streamable HTTP on a port of
their own (in a thread, as the gateway runs), or over stdio (``python -m tests.fakes.mcp_servers``)."""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.fakes.gateway import free_port


def calculator(name: str = "calc") -> MCPServer:
    server: MCPServer = MCPServer(name)

    @server.tool(annotations={"readOnlyHint": True})
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    @server.tool()
    def explode(reason: str) -> str:
        """A tool that always fails."""
        raise ToolError(f"exploded: {reason}")

    return server


class McpHttpServer:
    """An ``MCPServer`` over streamable HTTP (stateless, as a load-balanced server runs; or SSE) on a free port;
    ``received`` keeps each request's headers, ``methods`` each JSON-RPC method it was sent."""

    def __init__(self, server: MCPServer | None = None, *, sse: bool = False) -> None:
        self.server = server or calculator()
        self.port = free_port()
        self.sse = sse
        self.received: list[dict[str, str]] = []
        self.methods: list[str] = []
        app = self.server.sse_app() if sse else self.server.streamable_http_app(stateless_http=True, json_response=True)
        self._uvicorn = uvicorn.Server(
            uvicorn.Config(self._recording(app), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread: threading.Thread | None = None

    def _recording(self, app: Any) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            self.received.append({k.decode(): v.decode() for k, v in scope["headers"]})

            async def reading() -> Any:
                message = await receive()
                method = re.search(rb'"method"\s*:\s*"([^"]+)"', message.get("body") or b"")
                if method is not None:
                    self.methods.append(method.group(1).decode())
                return message

            await app(scope, reading, send)

        return asgi

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{'sse' if self.sse else 'mcp'}"

    def start(self) -> McpHttpServer:
        self._thread = threading.Thread(target=self._uvicorn.run, name="mcp-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the MCP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


def process(name: str = "procs") -> MCPServer:
    """A calculator that also says which process answers (``pid``) and has a call that never ends (``hang``,
    which first writes to the FIFO it is given: the test reading it knows the call reached the process)."""
    server = calculator(name)

    @server.tool()
    def pid() -> int:
        """This server's process id."""
        return os.getpid()

    @server.tool()
    async def hang(path: str) -> str:
        """Never answers."""
        await anyio.Path(path).write_text(str(os.getpid()))
        await anyio.sleep_forever()
        return "never"

    return server


if __name__ == "__main__":  # the stdio server (``--process``: with ``pid`` and ``hang``)
    (process() if "--process" in sys.argv else calculator("files")).run("stdio")
