"""Talking to MCP servers with the official ``mcp`` SDK: list a server's tools, call one.

A stdio server of the config (a ``command``) is one kept session, its process started on first use and
shared by every concurrent operation (``mcp/sessions.py``). Any other server (streamable HTTP, SSE, a
request's own ``server_url``) has a session per operation, opened and closed inside one ``await``: nothing
of the SDK's task groups outlives the call or crosses a stream's ``yield``. A server's tool list is kept for
``mcp.list_ttl`` seconds (per server and credentials), so a request's loop and the next requests do not list
it again.

A server that is down, slow or answers nonsense is an ``McpServerError`` naming its ``server_label``
within ``mcp.connect_timeout`` (listing) or ``mcp.call_timeout`` (a call): never a hang. A tool that
fails (``isError``) is not an error of the request: its text goes back to the model, as OpenAI does.
This module is imported only when a request has an ``mcp`` tool or the config has an ``mcp:`` section.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from ferryman.config import Mcp
from ferryman.mcp.servers import ServerRef
from ferryman.mcp.sessions import KeptSession, KeptSessions
from ferryman.schemas.errors import FerrymanError

if TYPE_CHECKING:
    from mcp import Client

# how much of a failure's own text goes into an error message
_DETAIL = 300


class McpServerError(FerrymanError):
    """An MCP server could not be reached or did not answer as MCP: 424, as OpenAI answers it."""

    status = 424
    type = "server_error"
    code = "mcp_server_error"
    domain = "provider"


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool a server lists (as OpenAI's ``mcp_list_tools`` item carries it)."""

    name: str
    description: str | None
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None

    def item(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "input_schema": self.input_schema}
        out["description"] = self.description
        out["annotations"] = self.annotations
        return out


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A call's result: its text ``output``, or an ``error`` in OpenAI's shape (``mcp_tool_execution_error``,
    ``mcp_protocol_error``, ``http_error``), whose text the model gets instead."""

    output: str | None
    error: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        """What the model is given as the function's output."""
        if self.error is None:
            return self.output or ""
        return "Error: " + _error_text(self.error)


class McpClient:
    """Lists and calls the tools of MCP servers; one per gateway, its tool lists cached."""

    def __init__(self, settings: Mcp) -> None:
        self.settings = settings
        self._lists: dict[tuple[Any, ...], tuple[float, list[ToolInfo]]] = {}
        self._listing: dict[tuple[Any, ...], asyncio.Future[list[ToolInfo]]] = {}  # listings under way
        self.kept = KeptSessions()  # the config's stdio servers, one process each

    async def list_tools(self, ref: ServerRef) -> list[ToolInfo]:
        """The server's tools, from the cache while fresh; concurrent requests share one listing."""
        key = ref.key
        cached = self._lists.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        task = self._listing.get(key)
        if task is None:
            task = self._listing[key] = asyncio.ensure_future(self._list(ref))
            task.add_done_callback(lambda _: self._listing.pop(key, None))
        tools = await asyncio.shield(task)  # one leaving request does not cancel the others' listing
        if self.settings.list_ttl > 0:
            self._lists[key] = (time.monotonic() + self.settings.list_ttl, tools)
        return tools

    async def _list(self, ref: ServerRef) -> list[ToolInfo]:
        tools: list[ToolInfo] = []
        async with self._session(ref, self.settings.connect_timeout, "list its tools") as client:
            cursor: str | None = None
            for _ in range(100):  # a paginator that never ends cannot hang the request
                page = await client.list_tools(cursor=cursor)
                for tool in page.tools:
                    annotations = (
                        tool.annotations.model_dump(exclude_none=True, by_alias=True) if tool.annotations else None
                    )
                    tools.append(ToolInfo(tool.name, tool.description, dict(tool.input_schema), annotations))
                cursor = page.next_cursor
                if cursor is None:
                    break
        return tools

    async def call_tool(self, ref: ServerRef, name: str, arguments: dict[str, Any]) -> CallOutcome:
        """Runs one call; a server that fails is an outcome with an error (the model is told), not a raise."""
        try:
            async with self._session(ref, self.settings.call_timeout, f"call {name}") as client:
                result = await client.call_tool(name, arguments)
        except McpServerError as exc:
            return CallOutcome(None, {"type": "mcp_protocol_error", "code": -32603, "message": exc.message})
        text = _content_text(result.content, result.structured_content)
        if result.is_error:
            return CallOutcome(None, {"type": "mcp_tool_execution_error", "content": _content(result.content)})
        return CallOutcome(text)

    async def close(self) -> None:
        """Stops the kept sessions (the gateway's shutdown): their processes end, none is left behind."""
        await self.kept.close()

    @contextlib.asynccontextmanager
    async def _session(self, ref: ServerRef, timeout: float, doing: str) -> AsyncIterator[Client]:
        """An open session within ``timeout`` seconds for all of it; any failure is an ``McpServerError``. A stdio
        server of the config is one kept session (its process started on first use); any other server has a
        session of this operation's own."""
        from mcp import Client

        what = f"MCP server {ref.label!r}: could not {doing}"
        kept: KeptSession | None = None
        try:
            async with asyncio.timeout(timeout):
                if ref.configured and ref.transport == "stdio":
                    kept = self.kept.get(ref.label, lambda: _transport(ref, timeout), _kept_client)
                    yield await kept.client()
                else:
                    async with Client(_transport(ref, timeout), cache=None, read_timeout_seconds=timeout) as client:
                        yield client
        except TimeoutError:
            if kept is not None and not kept.started:
                kept.retire()  # a start that hangs is abandoned: the next operation starts the server again
            raise McpServerError(f"{what}: no answer within {timeout:g} s", param=_param(ref)) from None
        except McpServerError:
            raise
        except FerrymanError:
            raise
        except (Exception, ExceptionGroup) as exc:  # noqa: BLE001 - the SDK's and its transports' failures
            if kept is not None and _lost(exc, kept):
                if kept.started:
                    what = f"{what}: the server's session ended"
                kept.retire()
            raise McpServerError(f"{what} ({_describe(exc)})", param=_param(ref)) from None


def _kept_client(transport: Any) -> Client:
    from mcp import Client

    return Client(transport, cache=None)  # each operation bounds its own wait


def _lost(exc: BaseException, kept: KeptSession) -> bool:
    """Whether a failure means the kept session is gone (not an error the server answered on a live one)."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED

    return kept.ended.is_set() or not isinstance(exc, MCPError) or exc.code == CONNECTION_CLOSED


def _transport(ref: ServerRef, timeout: float) -> Any:
    """The SDK transport for a server: streamable HTTP, SSE, or a stdio process."""
    if ref.transport == "stdio":
        from mcp import StdioServerParameters, stdio_client

        command, *args = ref.command
        env = {**os.environ, **ref.env} if ref.env else None
        return stdio_client(StdioServerParameters(command=command, args=args, env=env), errlog=_devnull())
    assert ref.url is not None
    if ref.transport == "sse":
        from mcp.client.sse import sse_client

        return sse_client(ref.url, headers=ref.headers or None, timeout=timeout, sse_read_timeout=timeout)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers=ref.headers or None, timeout=httpx2.Timeout(timeout))
    return streamable_http_client(ref.url, http_client=http)


_null: Any = None


def _devnull() -> Any:
    """Where a stdio server's stderr goes (its own logs are not the gateway's)."""
    global _null
    if _null is None:
        _null = open(os.devnull, "w")  # noqa: SIM115 - one for the process, never closed
    return _null


def _content(content: list[Any]) -> list[dict[str, Any]]:
    return [part.model_dump(exclude_none=True, by_alias=True) for part in content]


def _content_text(content: list[Any], structured: Any) -> str:
    """A result as text: its text parts joined, other parts (images, resources) as JSON."""
    texts = []
    for part in content:
        if getattr(part, "type", None) == "text":
            texts.append(part.text)
        else:
            texts.append(msgspec.json.encode(part.model_dump(exclude_none=True, by_alias=True)).decode())
    if not texts and structured is not None:
        return msgspec.json.encode(structured).decode()
    return "\n".join(texts)


def _error_text(error: dict[str, Any]) -> str:
    if "message" in error:
        return str(error["message"])
    parts = error.get("content") or []
    return "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)) or "the tool failed"


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return text[:_DETAIL]


def _param(ref: ServerRef) -> str:
    return f"tools[{ref.index}]"
