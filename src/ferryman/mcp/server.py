"""Ferryman as one MCP server: ``/mcp`` (streamable HTTP, the ``mcp`` SDK's server side) offers the tools of
every server of ``mcp.servers`` and runs the calls on them, so Claude Desktop, Cursor or an agent reach them
all through one endpoint, with the gateway's keys (``routes/mcp.py`` checks the caller).

A tool keeps its own name unless another server offers one of the same name; then each is
``<server>__<tool>``. A caller sees and calls only the servers its key may use (``mcp_servers`` on a virtual
key; the master key, or a gateway without governance, every one). The session manager is stateless: every
request stands alone, so any worker of a multi-process gateway can answer it. A server that is down is left
out of the list (and logged); a call to it fails as a tool error.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from typing import Any

from ferryman.config import Mcp
from ferryman.mcp.client import McpClient, McpServerError, ToolInfo
from ferryman.mcp.servers import ServerRef, configured

log = logging.getLogger("ferryman")

# the servers the caller of the request being served may use (set by routes/mcp.py for the SDK's handlers)
ALLOWED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("ferryman_mcp_allowed")


class GatewayMcpServer:
    """The SDK server and its session manager over the config's MCP servers."""

    def __init__(self, settings: Mcp) -> None:
        import mcp_types as types
        from mcp.server.lowlevel import Server
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        self.settings = settings
        self.client = McpClient(settings)
        self.refs: dict[str, ServerRef] = {name: configured(s) for name, s in settings.servers.items()}
        self._types = types
        server: Server[Any] = Server("ferryman", on_list_tools=self._list_tools, on_call_tool=self._call_tool)
        self.manager = StreamableHTTPSessionManager(server, json_response=True, stateless=True)
        self._running: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        await stack.enter_async_context(self.manager.run())
        self._running = stack

    async def stop(self) -> None:
        if self._running is not None:
            await self._running.aclose()
            self._running = None
        await self.client.close()  # the kept stdio sessions: their processes stop

    async def handle(self, scope: Any, receive: Any, send: Any, allowed: frozenset[str]) -> None:
        token = ALLOWED.set(allowed)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            ALLOWED.reset(token)

    async def tools(self, allowed: frozenset[str]) -> dict[str, tuple[ServerRef, ToolInfo]]:
        """Every tool the caller may use, by the name it is offered under."""
        listed: list[tuple[ServerRef, ToolInfo]] = []
        for name, ref in self.refs.items():
            if name not in allowed:
                continue
            try:
                listed += [(ref, tool) for tool in await self.client.list_tools(ref)]
            except McpServerError as exc:
                log.warning("mcp: %s", exc.message)
        counts: dict[str, int] = {}
        for _, tool in listed:
            counts[tool.name] = counts.get(tool.name, 0) + 1
        return {
            (f"{ref.label}__{tool.name}" if counts[tool.name] > 1 else tool.name): (ref, tool) for ref, tool in listed
        }

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        types = self._types
        tools = await self.tools(ALLOWED.get(frozenset()))
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=name,
                    description=f"{tool.description or tool.name} (MCP server {ref.label})",
                    input_schema=tool.input_schema or {"type": "object"},
                    annotations=types.ToolAnnotations.model_validate(tool.annotations) if tool.annotations else None,
                )
                for name, (ref, tool) in tools.items()
            ]
        )

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        types = self._types
        tools = await self.tools(ALLOWED.get(frozenset()))
        found = tools.get(params.name)
        if found is None:
            text, failed = f"No tool {params.name!r} on this gateway for this caller.", True
        else:
            ref, tool = found
            outcome = await self.client.call_tool(ref, tool.name, dict(params.arguments or {}))
            text, failed = (
                outcome.text if outcome.error is not None else (outcome.output or ""),
                outcome.error is not None,
            )
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=failed)
