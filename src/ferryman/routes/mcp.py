"""``/mcp``: Ferryman's own MCP endpoint (streamable HTTP), over the servers of the config's ``mcp:`` section.

With governance, the caller needs the master key (every server) or a virtual key (the servers its
``mcp_servers`` names, every one when it names none), sent as MCP clients send one
(``Authorization: Bearer``); a key that may use none of them is refused. Without governance the endpoint is
as open as the model routes. The MCP protocol itself is the SDK's (``mcp/server.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferryman.http import Receive, Scope, Send, client_credential
from ferryman.schemas.errors import PolicyError

if TYPE_CHECKING:
    from ferryman.mcp.server import GatewayMcpServer
    from ferryman.plugins.governance.hook import GovernanceHook


class McpRoute:
    def __init__(self, server: GatewayMcpServer, governance: GovernanceHook | None) -> None:
        self.server = server
        self.governance = governance
        self.every = frozenset(server.refs)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        allowed = self.every
        if self.governance is not None:
            key = self.governance.key_of(client_credential(scope))
            if key is not None and key.mcp_servers is not None:
                allowed = self.every & frozenset(key.mcp_servers)
                if not allowed:
                    raise PolicyError(
                        f"Key '{key.name}' may use none of this gateway's MCP servers.",
                        code="mcp_server_not_allowed",
                        status=403,
                        type="permission_error",
                    )
        await self.server.handle(scope, receive, send, allowed)
