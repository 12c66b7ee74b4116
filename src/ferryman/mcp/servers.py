"""A request's ``mcp`` tools, resolved to the servers Ferryman talks to, checked before any call.

A tool names its server inline, as OpenAI documents it (``server_url`` with ``headers`` and
``authorization``), or by ``server_label`` alone, one of the config's ``mcp.servers`` (whose headers and
environment stay in the config: a client never sees them). ``allowed_tools`` (a list of names, or
``{"tool_names", "read_only"}``) narrows what the model is offered; ``require_approval`` (``"always"``, the
default as with OpenAI, ``"never"``, or ``{"always": {...}, "never": {...}}`` filters) says which calls
wait for the client's ``mcp_approval_response``. Nothing here imports the MCP SDK.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ferryman.config import Mcp, McpServer
from ferryman.schemas.errors import InvalidRequestError

DEFAULTS = Mcp()


@dataclass(frozen=True, slots=True)
class ToolFilter:
    """``{"tool_names": [...], "read_only": bool}``: a tool matches when it is named (or no names are given)
    and, with ``read_only``, when its ``readOnlyHint`` annotation says so."""

    names: frozenset[str] | None = None
    read_only: bool | None = None

    def matches(self, name: str, annotations: dict[str, Any] | None) -> bool:
        if self.names is not None and name not in self.names:
            return False
        if self.read_only is not None:
            hint = bool((annotations or {}).get("readOnlyHint", False))
            return hint == self.read_only
        return self.names is not None or self.read_only is not None


@dataclass(frozen=True, slots=True)
class ServerRef:
    """One ``mcp`` tool of a request: the server to reach and what the model may do with it."""

    label: str
    index: int  # in the request's ``tools``
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    transport: str = "streamable_http"  # or "sse", "stdio"
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    configured: bool = False  # one of the config's servers
    allowed: ToolFilter | None = None  # None: every tool
    approval_always: bool = True  # "always" (the default), unless "never"
    approval_never_filter: ToolFilter | None = None
    approval_always_filter: ToolFilter | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """What a cached tool list is kept under: the server and the credentials it was listed with."""
        return (self.url, self.transport, self.command, tuple(sorted(self.headers.items())))

    def allows(self, name: str, annotations: dict[str, Any] | None) -> bool:
        return self.allowed is None or self.allowed.matches(name, annotations)

    def needs_approval(self, name: str, annotations: dict[str, Any] | None) -> bool:
        if self.approval_never_filter is not None and self.approval_never_filter.matches(name, annotations):
            return False
        if self.approval_always_filter is not None:
            return self.approval_always_filter.matches(name, annotations)
        return self.approval_always

    @property
    def public(self) -> bool:
        """Whether the server is one OpenAI itself could reach: an inline https/http URL whose host is a
        public name or address (no DNS lookup: a name is taken as public unless it is plainly local)."""
        if self.configured or self.url is None:
            return False
        host = (urlsplit(self.url).hostname or "").lower()
        try:
            return ipaddress.ip_address(host).is_global
        except ValueError:
            pass
        local = ("localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa")
        return "." in host and not any(host == s.lstrip(".") or host.endswith(s) for s in local)


def has_mcp(tools: list[Any] | None) -> bool:
    """Whether a request's tools (the validated ``Tool`` structs) hold an ``mcp`` tool; cheap, for every request."""
    return tools is not None and any(t.type == "mcp" for t in tools)


def resolve(raw_tools: list[Any], settings: Mcp | None) -> list[ServerRef]:
    """The ``mcp`` tools of a request's ``tools`` (as sent), each resolved; a 400 naming the tool otherwise."""
    settings = settings or DEFAULTS
    refs: list[ServerRef] = []
    labels: set[str] = set()
    for i, tool in enumerate(raw_tools):
        if not isinstance(tool, dict) or tool.get("type") != "mcp":
            continue
        ref = _resolve(tool, i, settings)
        if ref.label in labels:
            raise _bad(f"two mcp tools have the server_label {ref.label!r}: labels must differ", i, "server_label")
        labels.add(ref.label)
        refs.append(ref)
    return refs


def _resolve(tool: dict[str, Any], i: int, settings: Mcp) -> ServerRef:
    label = tool.get("server_label")
    if not isinstance(label, str) or not label:
        raise _bad("an mcp tool needs a 'server_label'", i, "server_label")
    for unsupported in ("connector_id", "tunnel_id"):
        if tool.get(unsupported) is not None:
            raise _bad(f"'{unsupported}' needs OpenAI itself: give a server_url instead", i, unsupported)
    options: dict[str, Any] = {
        "allowed": _filter(tool.get("allowed_tools"), i, "allowed_tools"),
        **_approval(tool.get("require_approval"), i),
    }
    description = tool.get("server_description")
    if description is not None and not isinstance(description, str):
        raise _bad("'server_description' must be a string", i, "server_description")
    url = tool.get("server_url")
    if url is None:
        server = settings.servers.get(label)
        if server is None:
            known = ", ".join(sorted(settings.servers)) or "none"
            raise _bad(f"no MCP server {label!r} in the config (configured: {known}); or give its server_url", i)
        return _configured(server, i, description, options)
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise _bad("'server_url' must be an http(s) URL", i, "server_url")
    if not settings.inline_servers:
        raise _bad("this gateway runs only the MCP servers of its config: name one by server_label", i, "server_url")
    headers = tool.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise _bad("'headers' must map header names to strings", i, "headers")
    headers = dict(headers)
    authorization = tool.get("authorization")
    if authorization is not None:
        if not isinstance(authorization, str):
            raise _bad("'authorization' must be a string (an OAuth access token)", i, "authorization")
        headers["authorization"] = f"Bearer {authorization}"
    transport = "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "streamable_http"
    return ServerRef(label, i, url=url, headers=headers, transport=transport, description=description, **options)


def configured(server: McpServer) -> ServerRef:
    """A server of the config as Ferryman's own ``/mcp`` endpoint reaches it (every tool, no approvals)."""
    return _configured(server, 0, None, {"approval_always": False})


def _configured(server: McpServer, i: int, description: str | None, options: dict[str, Any]) -> ServerRef:
    return ServerRef(
        server.name,
        i,
        url=server.url,
        headers={k: v.reveal() or "" for k, v in server.headers.items()},
        transport=server.transport,
        command=server.command,
        env={k: v.reveal() or "" for k, v in server.env.items()},
        description=description or server.description,
        configured=True,
        **options,
    )


def _filter(value: Any, i: int, param: str) -> ToolFilter | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(n, str) for n in value):
        return ToolFilter(frozenset(value))
    if isinstance(value, dict) and set(value) <= {"tool_names", "read_only"}:
        names = value.get("tool_names")
        read_only = value.get("read_only")
        if (names is None or (isinstance(names, list) and all(isinstance(n, str) for n in names))) and (
            read_only is None or isinstance(read_only, bool)
        ):
            return ToolFilter(frozenset(names) if names is not None else None, read_only)
    raise _bad(f"'{param}' must be a list of tool names or {{'tool_names': [...], 'read_only': bool}}", i, param)


def _approval(value: Any, i: int) -> dict[str, Any]:
    if value is None or value == "always":
        return {"approval_always": True}
    if value == "never":
        return {"approval_always": False}
    if isinstance(value, dict) and set(value) <= {"always", "never"}:
        always = _filter(value.get("always"), i, "require_approval.always")
        never = _filter(value.get("never"), i, "require_approval.never")
        # a tool "never" names runs, one "always" names waits; any other waits unless an "always" filter is given
        return {"approval_always": True, "approval_always_filter": always, "approval_never_filter": never}
    raise _bad(
        "'require_approval' must be 'always', 'never' or {'always': {...}, 'never': {...}}", i, "require_approval"
    )


def _bad(message: str, i: int, field_name: str | None = None) -> InvalidRequestError:
    param = f"tools[{i}].{field_name}" if field_name else f"tools[{i}]"
    return InvalidRequestError(f"tools[{i}] (mcp): {message}.", param=param, code="invalid_mcp_tool")
