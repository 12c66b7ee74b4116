"""OpenAI's MCP items as Ferryman makes them, and the function tools a model is offered for a server's tools.

A server's tool is offered as the function ``<server_label>__<tool>`` (only characters every provider
takes; a name longer than 64 is cut and given a short hash), with the tool's own description and input
schema. What the model calls under that name becomes an ``mcp_call`` item (``name``, ``arguments``,
``output`` or ``error``, ``server_label``) or, when it needs approval, an ``mcp_approval_request``.

Items of an earlier turn (``mcp_call``, ``mcp_list_tools``, approvals) go back to a provider as what it
takes: an ``mcp_call`` as the function call and output it was, the rest left out (``plain_history``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ferryman.mcp.client import CallOutcome, ToolInfo
from ferryman.mcp.servers import ServerRef

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64
CONTROL = frozenset({"mcp_list_tools", "mcp_approval_request", "mcp_approval_response"})
DECLINED = "The user declined to run this tool call."


def function_name(label: str, tool: str) -> str:
    name = _UNSAFE.sub("_", f"{label}__{tool}")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


@dataclass(frozen=True, slots=True)
class Offered:
    """One server tool as the model sees it."""

    ref: ServerRef
    tool: ToolInfo

    def function(self, name: str) -> dict[str, Any]:
        description = self.tool.description or self.tool.name
        server = f"{self.ref.label}: {self.ref.description}" if self.ref.description else self.ref.label
        schema = self.tool.input_schema or {"type": "object", "properties": {}}
        return {
            "type": "function",
            "name": name,
            "description": f"{description} (MCP server {server})",
            "parameters": schema,
            "strict": False,
        }


def list_tools_item(item_id: str, ref: ServerRef, tools: list[ToolInfo]) -> dict[str, Any]:
    return {
        "type": "mcp_list_tools",
        "id": item_id,
        "server_label": ref.label,
        "tools": [t.item() for t in tools],
    }


def call_item(
    item_id: str,
    label: str,
    name: str,
    arguments: str,
    outcome: CallOutcome | None,
    approval_request_id: str | None = None,
) -> dict[str, Any]:
    """An ``mcp_call``: in progress while ``outcome`` is None, then completed (``output``) or failed (``error``)."""
    item: dict[str, Any] = {
        "type": "mcp_call",
        "id": item_id,
        "server_label": label,
        "name": name,
        "arguments": arguments,
        "status": "in_progress",
    }
    if approval_request_id is not None:
        item["approval_request_id"] = approval_request_id
    if outcome is not None:
        item["output"] = outcome.output
        item["error"] = outcome.error
        item["status"] = "completed" if outcome.error is None else "failed"
    return item


def approval_item(item_id: str, label: str, name: str, arguments: str) -> dict[str, Any]:
    return {"type": "mcp_approval_request", "id": item_id, "server_label": label, "name": name, "arguments": arguments}


def call_pair(call_id: str, name: str, arguments: str, output: str) -> list[dict[str, Any]]:
    """A tool call and its result as the function call and output every provider takes."""
    return [
        {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
        {"type": "function_call_output", "call_id": call_id, "output": output},
    ]


def plain_history(items: list[dict[str, Any]], names: dict[tuple[str, str], str]) -> list[dict[str, Any]] | None:
    """``items`` with their MCP items as a provider takes them (None when there are none): an ``mcp_call`` of a
    tool offered now is its function call and output, one of a tool not offered a labelled note; the control
    items (lists, approvals) are left out."""
    if not any(str(item.get("type", "")).startswith("mcp_") for item in items):
        return None
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind in CONTROL:
            continue
        if kind != "mcp_call":
            out.append(item)
            continue
        label, tool = str(item.get("server_label") or ""), str(item.get("name") or "")
        arguments = str(item["arguments"]) if isinstance(item.get("arguments"), str) else "{}"
        result = item.get("output")
        if result is None:
            result = "Error: " + str(item.get("error") or "no output")
        name = names.get((label, tool))
        if name is not None:
            out += call_pair(str(item.get("id") or "mcp_call"), name, arguments, str(result))
        else:
            note = f"[mcp call {label}.{tool}: {arguments}]\n[output: {result}]"
            out.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": note}]})
    return out
