"""The canonical (Responses) response -> a ``chat.completion``, as OpenAI answers it.

One choice (index 0): the output messages' text is ``content`` (their url_citation annotations kept),
refusal parts ``refusal``, function and custom tool calls ``tool_calls``, reasoning text (raw or
summarised) ``reasoning_content``, and the output text's logprobs ``logprobs.content``. The status
gives ``finish_reason``: ``tool_calls`` when the answer calls a tool, ``length`` when it was cut at
the token cap, ``content_filter``, else ``stop``. Usage is renamed as Chat Completions names it
(``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``), with
Ferryman's ``cost`` beside; ``extra_fields`` is the gateway's, as on the Responses door.
"""

from __future__ import annotations

from typing import Any

# Responses' incomplete_details.reason -> Chat Completions' finish_reason
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def completion_id(response_id: str) -> str:
    """``resp_<id>`` -> ``chatcmpl-<id>``: one request's id in both APIs."""
    return "chatcmpl-" + (response_id[5:] if response_id.startswith("resp_") else response_id)


def finish_reason(response: dict[str, Any], called: bool) -> str:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return INCOMPLETE.get(reason or "", "length")
    return "tool_calls" if called else "stop"


def usage(u: dict[str, Any] | None) -> dict[str, Any] | None:
    if not u:
        return None
    prompt = u.get("input_tokens") or 0
    completion = u.get("output_tokens") or 0
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": u.get("total_tokens") or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": (u.get("input_tokens_details") or {}).get("cached_tokens") or 0},
        "completion_tokens_details": {
            "reasoning_tokens": (u.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
        },
    }
    if "cost" in u:
        out["cost"] = u["cost"]
    return out


def tool_call(item: dict[str, Any]) -> dict[str, Any] | None:
    """An output item as a Chat Completions tool call (None for an item that is not one)."""
    kind = item.get("type")
    if kind == "function_call":
        name = item["name"] if not item.get("namespace") else f"{item['namespace']}__{item['name']}"
        return {"id": item["call_id"], "type": "function", "function": {"name": name, "arguments": item["arguments"]}}
    if kind == "custom_tool_call":
        return {"id": item["call_id"], "type": "custom", "custom": {"name": item["name"], "input": item["input"]}}
    return None


def reasoning_text(item: dict[str, Any]) -> str:
    parts = item.get("content") or item.get("summary") or []
    return "".join(p.get("text", "") for p in parts)


def output_logprobs(response: dict[str, Any]) -> list[dict[str, Any]] | None:
    for item in response.get("output") or ():
        if item.get("type") == "message":
            for part in item.get("content") or ():
                if part.get("logprobs"):
                    return list(part["logprobs"])
    return None


def completion(response: dict[str, Any]) -> dict[str, Any]:
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    annotations: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for item in response.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    offset = sum(len(t) for t in texts)
                    for a in part.get("annotations") or ():
                        cited = _annotation(a, offset)
                        if cited is not None:
                            annotations.append(cited)
                    texts.append(part.get("text", ""))
                elif part.get("type") == "refusal":
                    refusals.append(part.get("refusal", ""))
        elif kind == "reasoning":
            reasoning.append(reasoning_text(item))
        else:
            call = tool_call(item)
            if call is not None:
                calls.append(call)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": "".join(refusals) if refusals else None,
        "annotations": annotations,
    }
    if calls:
        message["tool_calls"] = calls
    text = "".join(reasoning)
    if text:
        message["reasoning_content"] = text
    logprobs = output_logprobs(response)
    out: dict[str, Any] = {
        "id": completion_id(response.get("id", "")),
        "object": "chat.completion",
        "created": response.get("created_at") or 0,
        "model": response.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": {"content": logprobs, "refusal": None} if logprobs is not None else None,
                "finish_reason": finish_reason(response, bool(calls)),
            }
        ],
        "usage": usage(response.get("usage")),
        "service_tier": response.get("service_tier"),
        "system_fingerprint": None,
    }
    if "extra_fields" in response:
        out["extra_fields"] = response["extra_fields"]
    return out


def _annotation(annotation: Any, offset: int) -> dict[str, Any] | None:
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    return {
        "type": "url_citation",
        "url_citation": {
            "start_index": offset + (annotation.get("start_index") or 0),
            "end_index": offset + (annotation.get("end_index") or 0),
            "url": annotation.get("url", ""),
            "title": annotation.get("title", ""),
        },
    }
