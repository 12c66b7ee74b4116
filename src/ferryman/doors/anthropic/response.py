"""The canonical (Responses) response -> an Anthropic Messages reply.

The Anthropic adapter's reading of a Messages reply (``providers/anthropic/response.py``), backwards:

=======================================  ==========================================================
Responses                                Anthropic Messages
=======================================  ==========================================================
id ``resp_...``                          ``msg_...`` (the same suffix)
message ``output_text`` / ``refusal``    ``text`` blocks
reasoning {summary, encrypted_content}   ``thinking`` {thinking, signature} (Anthropic's own
                                         signature; another provider's state as it is, so that it
                                         comes back in the next turn); ``anthropic-redacted:``
                                         state -> ``redacted_thinking`` {data}
function_call                            ``tool_use`` {id: call_id, name, input}
web_search_call, other hosted items      left out
status completed, a function call        ``stop_reason: tool_use``
status completed, ``stop_sequence``      ``stop_reason: stop_sequence`` with the sequence
status completed                         ``end_turn``
incomplete max_output_tokens             ``max_tokens``
incomplete content_filter                ``refusal``
usage input_tokens (with cached and      ``input_tokens`` (the rest), ``cache_read_input_tokens``,
  cache-written tokens)                  ``cache_creation_input_tokens``
usage output_tokens, cost                ``output_tokens``; ``cost`` (Ferryman's price, an extra)
=======================================  ==========================================================
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.doors.anthropic.request import state_signature
from ferryman.providers.anthropic.request import REDACTED_TAG
from ferryman.schemas.items import opaque_for

_decode = msgspec.json.decode


def message_id(response_id: Any) -> str:
    text = str(response_id or "")
    return "msg_" + (text[5:] if text.startswith("resp_") else text)


def stop_reason(response: dict[str, Any]) -> tuple[str, str | None]:
    """``stop_reason`` and ``stop_sequence`` for a finished response."""
    if response.get("status") == "incomplete":
        why = (response.get("incomplete_details") or {}).get("reason")
        return ("refusal" if why == "content_filter" else "max_tokens"), None
    if any(isinstance(i, dict) and i.get("type") == "function_call" for i in response.get("output") or ()):
        return "tool_use", None
    sequence = response.get("stop_sequence")
    if isinstance(sequence, str):
        return "stop_sequence", sequence
    return "end_turn", None


def usage(response: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's usage: its ``input_tokens`` leave out what was read from or written to the cache."""
    u = response.get("usage") or {}
    details = u.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    out: dict[str, Any] = {
        "input_tokens": max(0, (u.get("input_tokens") or 0) - cached - written),
        "output_tokens": u.get("output_tokens") or 0,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    if "cost" in u:
        out["cost"] = u["cost"]
    return out


def reasoning_block(item: dict[str, Any]) -> dict[str, Any]:
    """A reasoning item as the thinking (or redacted thinking) block it stands for."""
    state = item.get("encrypted_content")
    if isinstance(state, str):
        data = opaque_for(REDACTED_TAG, state)
        if data is not None:
            return {"type": "redacted_thinking", "data": data}
    parts = item.get("summary") or item.get("content") or []
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    return {"type": "thinking", "thinking": text, "signature": state_signature(state) if isinstance(state, str) else ""}


def tool_input(arguments: Any) -> Any:
    """A function call's arguments (JSON text) as the ``input`` object; text that is not JSON stays text."""
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        return _decode(arguments)
    except msgspec.DecodeError:
        return arguments


def content(output: list[Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
                if isinstance(text, str) and text:
                    blocks.append({"type": "text", "text": text})
        elif kind == "reasoning":
            blocks.append(reasoning_block(item))
        elif kind == "function_call":
            arguments = tool_input(item.get("arguments"))
            blocks.append({"type": "tool_use", "id": item.get("call_id"), "name": item.get("name"), "input": arguments})
    return blocks


def message(response: dict[str, Any]) -> dict[str, Any]:
    reason, sequence = stop_reason(response)
    return {
        "id": message_id(response.get("id")),
        "type": "message",
        "role": "assistant",
        "model": response.get("model"),
        "content": content(response.get("output") or []),
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage(response),
    }
