"""Anthropic Messages API (``POST {base_url}/v1/messages``).

Request mapping (Responses -> Messages):

| Responses | Anthropic |
|---|---|
| instructions, system/developer messages | ``system`` (text blocks; ``cache_control`` kept) |
| user/assistant messages | ``messages`` (consecutive same-role turns merged) |
| input_text / output_text parts | text blocks (``cache_control`` on a part is kept) |
| input_image (http URL / data: URL) | image block, source ``url`` / ``base64`` |
| input_file (data: PDF / URL) | document block |
| function_call / function_call_output | ``tool_use`` / ``tool_result`` blocks |
| reasoning tagged ``anthropic:`` / ``anthropic-redacted:`` | ``thinking`` + signature / ``redacted_thinking`` |
| tools (function) | ``tools`` with ``input_schema``; ``cache_control`` kept |
| tools (web_search) | server tool ``web_search_20250305`` |
| tool_choice auto / required / none / {function} | ``{type: auto / any / none / tool}`` |
| parallel_tool_calls: false | ``disable_parallel_tool_use`` |
| reasoning.effort / reasoning.max_tokens | ``thinking: {type: enabled, budget_tokens}`` |
| text.format json_schema | ``output_config.format`` json_schema |
| max_output_tokens | ``max_tokens`` (default 4096, or budget + 4096 when thinking) |
| temperature, top_p | same |
| user / safety_identifier | ``metadata.user_id`` |

Unsupported (400): ``top_logprobs`` > 0, ``text.format`` json_object, ``max_tool_calls``, hosted
tools other than web_search, ``item_reference`` and ``input_image.file_id`` inputs.
"""

from __future__ import annotations

import json
from typing import Any

from ferryman.providers.base import Call, SSEEvent
from ferryman.providers.builder import ResponseBuilder, new_id
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.items import function_output_text, input_items, opaque_for, tag_opaque, text_of, unsupported

API_VERSION = "2023-06-01"
TAG = "anthropic"
REDACTED_TAG = "anthropic-redacted"
DEFAULT_MAX_TOKENS = 4096
MIN_BUDGET = 1024
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32768}
# Responses fields Anthropic has no use for, or that the gateway handles itself
HINTS = frozenset(
    {
        "store",
        "metadata",
        "include",
        "service_tier",
        "prompt_cache_key",
        "truncation",
        "background",
        "previous_response_id",
        "text.verbosity",
        "reasoning.summary",
        "tools[].strict",
    }
)
STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicProvider(TranslatingProvider):
    def url(self, call: Call, *, stream: bool) -> str:
        return f"{self.config.base_url}/v1/messages"

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"x-api-key": secret}

    def headers(self, call: Call) -> dict[str, str]:
        headers = super().headers(call)
        headers.setdefault("anthropic-version", API_VERSION)
        return headers

    # ---- request --------------------------------------------------------------------------------

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        req = call.request
        if req.top_logprobs:
            raise unsupported("top_logprobs", self.name)
        if req.max_tool_calls is not None:
            raise unsupported("max_tool_calls", self.name)
        system, messages = self._messages(call)
        body: dict[str, Any] = {"model": call.deployment, "messages": messages}
        if system:
            body["system"] = (
                system if any("cache_control" in b for b in system) else "\n\n".join(b["text"] for b in system)
            )
        budget = self._thinking_budget(call)
        max_tokens = req.max_output_tokens or (budget + DEFAULT_MAX_TOKENS if budget else DEFAULT_MAX_TOKENS)
        if budget:
            if max_tokens <= MIN_BUDGET:
                raise unsupported("reasoning", self.name, f"thinking needs max_output_tokens above {MIN_BUDGET}")
            body["thinking"] = {"type": "enabled", "budget_tokens": min(budget, max_tokens - 1)}
        body["max_tokens"] = max_tokens
        if req.temperature is not None:
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["top_p"] = req.top_p
        user = req.user or req.safety_identifier
        if user:
            body["metadata"] = {"user_id": user}
        tools = self._tools(call)
        if tools:
            body["tools"] = tools
        choice = self._tool_choice(call, bool(tools))
        if choice is not None:
            body["tool_choice"] = choice
        fmt = self._output_format(call)
        if fmt is not None:
            body["output_config"] = {"format": fmt}
        if stream:
            body["stream"] = True
        return body

    def _thinking_budget(self, call: Call) -> int:
        reasoning = call.request.reasoning
        if reasoning is None:
            return 0
        if reasoning.max_tokens is not None:
            return max(MIN_BUDGET, reasoning.max_tokens) if reasoning.max_tokens else 0
        if reasoning.effort is None or reasoning.effort == "none":
            return 0
        budget = EFFORT_BUDGET.get(reasoning.effort)
        if budget is None:
            raise InvalidRequestError(
                f"reasoning.effort {reasoning.effort!r} has no thinking budget for provider {self.name!r} "
                f"(one of: none, {', '.join(EFFORT_BUDGET)}; or give reasoning.max_tokens).",
                param="reasoning.effort",
                code="unsupported_value",
            )
        return budget

    def _messages(self, call: Call) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        system: list[dict[str, Any]] = []
        if call.request.instructions:
            system.append({"type": "text", "text": call.request.instructions})
        messages: list[dict[str, Any]] = []
        pending_thinking: list[dict[str, Any]] = []

        def add(role: str, blocks: list[dict[str, Any]]) -> None:
            if role == "assistant" and pending_thinking:
                blocks = [*pending_thinking, *blocks]
                pending_thinking.clear()
            if not blocks:
                return
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": role, "content": list(blocks)})

        for i, item in enumerate(input_items(call.request.input)):
            where = f"input[{i}]"
            kind = item["type"]
            if kind == "message":
                role = item["role"]
                blocks = [self._part(p, f"{where}.content[{j}]") for j, p in enumerate(item["content"])]
                if role in ("system", "developer"):
                    system.extend(b for b in blocks if b["type"] == "text")
                else:
                    add(role, blocks)
            elif kind == "function_call":
                try:
                    args = json.loads(item.get("arguments") or "{}")
                except json.JSONDecodeError:
                    raise InvalidRequestError(
                        f"'{where}.arguments' is not valid JSON.", param=f"{where}.arguments", code="invalid_value"
                    ) from None
                add("assistant", [{"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": args}])
            elif kind == "function_call_output":
                output = item.get("output")
                content: Any = function_output_text(output)
                if isinstance(output, list) and any(p.get("type") == "input_image" for p in output):
                    content = [self._part(p, f"{where}.output") for p in output]
                add("user", [{"type": "tool_result", "tool_use_id": item["call_id"], "content": content}])
            elif kind == "reasoning":
                opaque = item.get("encrypted_content")
                signature = opaque_for(TAG, opaque)
                redacted = opaque_for(REDACTED_TAG, opaque)
                if signature is not None:
                    thinking = text_of(item.get("summary") or []) or text_of(item.get("content") or [])
                    pending_thinking.append({"type": "thinking", "thinking": thinking, "signature": signature})
                elif redacted is not None:
                    pending_thinking.append({"type": "redacted_thinking", "data": redacted})
                # another provider's reasoning: kept in the history, not sent here
            else:
                raise unsupported(f"{where}.type", self.name, f"input items of type {kind!r}")
        return system, messages

    def _part(self, part: dict[str, Any], where: str) -> dict[str, Any]:
        kind = part["type"]
        block: dict[str, Any]
        if kind in ("input_text", "output_text", "text", "refusal"):
            block = {"type": "text", "text": part.get("text") or part.get("refusal") or ""}
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise unsupported(f"{where}.file_id", self.name, "images must be given by URL or data: URL")
            block = {"type": "image", "source": _source(url)}
        elif kind == "input_file":
            data, url = part.get("file_data"), part.get("file_url")
            if isinstance(data, str):
                block = {"type": "document", "source": _source(data, default_type="application/pdf")}
            elif isinstance(url, str):
                block = {"type": "document", "source": {"type": "url", "url": url}}
            else:
                raise unsupported(f"{where}.file_id", self.name, "files must be given as file_data or file_url")
        else:
            raise unsupported(f"{where}.type", self.name, f"content parts of type {kind!r}")
        if "cache_control" in part:
            block["cache_control"] = part["cache_control"]
        return block

    def _tools(self, call: Call) -> list[dict[str, Any]]:
        tools = []
        for i, tool in enumerate(call.raw.get("tools") or []):
            kind = tool.get("type")
            if kind == "function":
                spec: dict[str, Any] = {
                    "name": tool["name"],
                    "input_schema": tool.get("parameters") or {"type": "object", "properties": {}},
                }
                if tool.get("description"):
                    spec["description"] = tool["description"]
            elif kind in ("web_search", "web_search_preview"):
                spec = {"type": "web_search_20250305", "name": "web_search"}
                location = tool.get("user_location")
                if isinstance(location, dict):
                    spec["user_location"] = {k: v for k, v in location.items() if v is not None}
                filters = tool.get("filters")
                if isinstance(filters, dict) and filters.get("allowed_domains"):
                    spec["allowed_domains"] = filters["allowed_domains"]
            else:
                raise unsupported(f"tools[{i}].type", self.name, f"tools of type {kind!r}")
            if tool.get("cache_control"):
                spec["cache_control"] = tool["cache_control"]
            tools.append(spec)
        return tools

    def _tool_choice(self, call: Call, has_tools: bool) -> dict[str, Any] | None:
        choice = call.request.tool_choice
        parallel = call.request.parallel_tool_calls
        out: dict[str, Any] | None
        if choice is None:
            out = {"type": "auto"} if has_tools and parallel is False else None
        elif choice == "auto":
            out = {"type": "auto"}
        elif choice == "required":
            out = {"type": "any"}
        elif choice == "none":
            out = {"type": "none"}
        elif isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
            out = {"type": "tool", "name": choice["name"]}
        else:
            raise unsupported("tool_choice", self.name, f"tool_choice {choice!r}")
        if out is not None and parallel is False and out["type"] != "none":
            out["disable_parallel_tool_use"] = True
        return out

    def _output_format(self, call: Call) -> dict[str, Any] | None:
        text = call.request.text
        fmt = text.format if text is not None else None
        if fmt is None or fmt.type == "text" and fmt.json_schema is None:
            return None
        if fmt.type == "json_object":
            raise unsupported("text.format", self.name, "json_object (give a json_schema instead)")
        schema = fmt.schema if fmt.schema is not None else (fmt.json_schema.schema if fmt.json_schema else None)
        if schema is None:
            raise InvalidRequestError(
                "text.format json_schema needs a 'schema'.",
                param="text.format.schema",
                code="missing_required_parameter",
            )
        return {"type": "json_schema", "schema": schema}

    # ---- reply ----------------------------------------------------------------------------------

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        if isinstance(body, dict) and body.get("model"):
            builder.model = body["model"]
        for i, block in enumerate(body.get("content") or []):
            kind = block.get("type")
            if kind == "text":
                start = builder.text_length()
                builder.text(block.get("text", ""))
                for citation in block.get("citations") or []:
                    annotation = _annotate(builder, citation, end=builder.text_length())
                    if annotation is not None:
                        annotation["start_index"] = start
            elif kind == "thinking":
                builder.reasoning(block.get("thinking", ""))
                builder.reasoning_signature(tag_opaque(TAG, block.get("signature", "")))
                builder.close_reasoning()
            elif kind == "redacted_thinking":
                builder.add_item(_redacted(block))
            elif kind == "tool_use":
                builder.tool_call(str(i), block["id"], block["name"], json.dumps(block.get("input") or {}))
                builder.close_tool(str(i))
            elif kind == "server_tool_use":
                builder.add_item(_web_search(block["id"], block.get("input")))
        _usage(builder, body.get("usage") or {})
        builder.finish(STOP.get(body.get("stop_reason") or "end_turn", "stop"))

    def on_event(self, event: SSEEvent, builder: ResponseBuilder) -> None:
        data = json.loads(event.data)
        kind = data.get("type") or event.event
        state = builder.scratch
        if kind == "message_start":
            message = data.get("message") or {}
            if message.get("model"):
                builder.model = message["model"]
            state["usage"] = dict(message.get("usage") or {})
        elif kind == "content_block_start":
            self._block_start(data, builder, state)
        elif kind == "content_block_delta":
            self._block_delta(data, builder, state)
        elif kind == "content_block_stop":
            self._block_stop(data, builder, state)
        elif kind == "message_delta":
            state.setdefault("usage", {}).update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            state["stop"] = (data.get("delta") or {}).get("stop_reason")
        elif kind == "message_stop":
            _usage(builder, state.get("usage") or {})
            builder.finish(STOP.get(state.get("stop") or "end_turn", "stop"))
        elif kind == "error":
            error = data.get("error") or {}
            etype = error.get("type", "api_error")
            raise ProviderError(
                self.name, ERROR_STATUS.get(etype, 500), error.get("message") or "stream error", type=etype, code=etype
            )

    def _block_start(self, data: dict[str, Any], builder: ResponseBuilder, state: dict[str, Any]) -> None:
        key = str(data.get("index"))
        block = data.get("content_block") or {}
        kind = block.get("type")
        state[f"type:{key}"] = kind
        if kind == "thinking":
            builder.reasoning(block.get("thinking") or "")
            state[f"sig:{key}"] = block.get("signature") or ""
        elif kind == "redacted_thinking":
            builder.add_item(_redacted(block))
        elif kind == "tool_use":
            builder.tool_call(key, block["id"], block["name"])
        elif kind == "server_tool_use":
            state[f"json:{key}"] = ""
            state[f"id:{key}"] = block.get("id")
        elif kind == "text" and block.get("text"):
            builder.text(block["text"])

    def _block_delta(self, data: dict[str, Any], builder: ResponseBuilder, state: dict[str, Any]) -> None:
        key = str(data.get("index"))
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            builder.text(delta.get("text", ""))
        elif kind == "thinking_delta":
            builder.reasoning(delta.get("thinking", ""))
        elif kind == "signature_delta":
            state[f"sig:{key}"] = state.get(f"sig:{key}", "") + delta.get("signature", "")
        elif kind == "input_json_delta":
            if state.get(f"type:{key}") == "server_tool_use":
                state[f"json:{key}"] += delta.get("partial_json", "")
            elif builder.has_tool(key):
                builder.tool_args(key, delta.get("partial_json", ""))
        elif kind == "citations_delta":
            annotation = _annotate(builder, delta.get("citation") or {})
            if annotation is not None:
                state.setdefault(f"cites:{key}", []).append(annotation)

    def _block_stop(self, data: dict[str, Any], builder: ResponseBuilder, state: dict[str, Any]) -> None:
        key = str(data.get("index"))
        kind = state.get(f"type:{key}")
        if kind == "thinking":
            builder.reasoning_signature(tag_opaque(TAG, state.pop(f"sig:{key}", "")))
            builder.close_reasoning()
        elif kind == "tool_use":
            builder.close_tool(key)
        elif kind == "text":
            for annotation in state.pop(f"cites:{key}", []):
                annotation["end_index"] = builder.text_length()
        elif kind == "server_tool_use":
            raw = state.pop(f"json:{key}", "") or "{}"
            try:
                args = json.loads(raw)
            except json.JSONDecodeError:
                args = {}
            builder.add_item(_web_search(state.pop(f"id:{key}", None) or new_id("ws"), args))


def _source(url: str, default_type: str = "image/png") -> dict[str, Any]:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        media_type = head[5:].split(";")[0] or default_type
        return {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "url", "url": url}


def _redacted(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("rs"),
        "type": "reasoning",
        "summary": [],
        "encrypted_content": tag_opaque(REDACTED_TAG, block.get("data", "")),
    }


def _web_search(call_id: str, args: Any) -> dict[str, Any]:
    query = args.get("query") if isinstance(args, dict) else None
    return {
        "id": call_id,
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": query or ""},
    }


def _annotate(builder: ResponseBuilder, citation: dict[str, Any], end: int | None = None) -> dict[str, Any] | None:
    """A web citation as a url_citation; it starts where the cited text starts (the end is set later)."""
    url = citation.get("url")
    if not url:
        return None
    at = builder.text_length()
    annotation = {
        "type": "url_citation",
        "url": url,
        "title": citation.get("title") or "",
        "start_index": at,
        "end_index": at if end is None else end,
    }
    builder.annotate(annotation)
    return annotation


def _usage(builder: ResponseBuilder, usage: dict[str, Any]) -> None:
    read = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    builder.set_usage(
        int(usage.get("input_tokens") or 0) + read + written,
        int(usage.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=written,
    )
