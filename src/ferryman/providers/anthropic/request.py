"""Responses request -> Anthropic Messages request (``POST /v1/messages``).

Field mapping (anything not listed here and not in ``HINTS`` is refused with a 400 naming it):

=======================================  ==========================================================
Responses                                Anthropic Messages
=======================================  ==========================================================
model                                    ``model`` (the deployment name)
stream                                   ``stream``
instructions; system/developer messages  ``system`` (in order; a string, or text blocks when a part
                                         carries ``cache_control``)
input message user / assistant           ``messages[]`` user / assistant; consecutive same-role
                                         turns merged (Anthropic requires alternation)
  input_text, output_text, refusal       ``{"type": "text"}`` (empty text left out: Anthropic
                                         rejects empty text blocks)
  input_image http(s) URL                ``{"type": "image", "source": {"type": "url"}}``
  input_image data: URL                  ``{"type": "image", "source": {"type": "base64"}}``
  input_file file_data (PDF, text/*)     ``{"type": "document"}`` base64 PDF / plain-text source
  input_file file_url                    ``{"type": "document", "source": {"type": "url"}}``
  part ``cache_control``                 the block's ``cache_control``
function_call                            assistant ``tool_use`` block (id = call_id)
function_call_output                     user ``tool_result`` block, placed before any other block
                                         of that user turn (text, image and file parts kept)
reasoning, encrypted_content             assistant ``thinking`` block {thinking: summary text,
  ``anthropic:<signature>``              signature}, exactly as received, in its original place
reasoning, ``anthropic-redacted:<data>`` assistant ``redacted_thinking`` block {data}
reasoning of another provider            left out (its state means nothing to Anthropic)
web_search_call (replayed output)        left out: Anthropic replays a search only with its
                                         encrypted results, which a Responses item cannot carry;
                                         the answer text that used them is kept
tools[type=function]                     ``tools[]`` {name, description, input_schema, strict}
tools[type=web_search*]                  ``web_search_20250305`` tool; ``filters.allowed_domains``
                                         -> ``allowed_domains``, ``user_location`` -> the same
tools[].cache_control                    the tool's ``cache_control``
max_tool_calls                           web search ``max_uses`` (it caps built-in tool calls;
                                         without a built-in tool there is nothing to cap)
tool_choice auto / none / required       ``{"type": "auto" | "none" | "any"}``
tool_choice {type: function, name}       ``{"type": "tool", name}``
tool_choice {type: web_search*}          ``{"type": "tool", "name": "web_search"}``
tool_choice {type: allowed_tools}        ``tools`` narrowed to the allowed ones; auto / any
parallel_tool_calls: false               ``tool_choice.disable_parallel_tool_use: true``
reasoning.effort (Claude 4.6 and newer)  ``thinking: {type: adaptive}`` + ``output_config.effort``
                                         (minimal -> low; low/medium/high/xhigh/max as named)
reasoning.effort (older models)          ``thinking: {type: enabled, budget_tokens}``: minimal/low
                                         1024, medium 4096, high 16384, xhigh/max 24576
reasoning.effort none                    no ``thinking``
reasoning.max_tokens                     ``thinking: {type: enabled, budget_tokens}`` (0: none)
text.format json_schema                  ``output_config.format {type: json_schema, schema}``
                                         (``description`` into the schema; ``name`` is a label)
max_output_tokens                        ``max_tokens`` (default 4096, plus the thinking budget
                                         when thinking is on: Anthropic needs max_tokens > budget)
temperature (0..1) / top_p               ``temperature`` / ``top_p``
safety_identifier (or user)              ``metadata.user_id``
=======================================  ==========================================================

Refused (400 ``unsupported_parameter``): ``top_logprobs`` > 0 (no logprobs), ``temperature`` above 1,
``text.format`` json_object (Anthropic has no schema-less JSON mode), unknown ``reasoning.effort``,
``prompt``, ``conversation``, ``context_management``, a ``previous_response_id`` the gateway did not
resolve, ``item_reference`` and unknown input items or content parts (``input_audio``, ...), OpenAI
``file_id``s, images other than JPEG/PNG/GIF/WebP, files other than PDF/text/images, tools other than
function and web search, a hosted tool other than web search in ``tool_choice``.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import (
    TEXT_PARTS,
    WEB_SEARCH_TOOLS,
    call_arguments,
    content_parts,
    input_items,
    opaque_for,
    refuse_openai_only,
    unsupported,
)
from ferryman.schemas.responses import ResponsesRequest

TAG = "anthropic"  # reasoning state: a thinking block's signature
REDACTED_TAG = "anthropic-redacted"  # reasoning state: a redacted_thinking block's data

# Request fields this adapter ignores on purpose: hints Anthropic has no knob for, or that the
# gateway handles before the adapter runs (``fallbacks``, ``background``, ``truncation``).
HINTS = frozenset(
    {
        "parallel_tool_calls",  # true is Anthropic's default; false is mapped (see the table)
        "service_tier",
        "store",
        "metadata",  # Anthropic's metadata takes only user_id (from safety_identifier / user)
        "include",  # thinking signatures are always returned as encrypted_content
        "prompt_cache_key",
        "prompt_cache_retention",
        "truncation",
        "background",
        "stream_options",
        "reasoning.summary",  # Claude returns its (summarized) thinking whenever it thinks
        "reasoning.generate_summary",
        "text.verbosity",
        "text.format.strict",  # output_config.format is always enforced
        "input_image.detail",  # Anthropic sizes images itself
        "tools[].search_context_size",
        "fallbacks",
    }
)

WEB_SEARCH_TOOL = "web_search_20250305"
_THINKING = frozenset({"thinking", "redacted_thinking"})

DEFAULT_MAX_TOKENS = 4096
MIN_BUDGET = 1024  # Anthropic's smallest thinking budget
# reasoning.effort -> budget_tokens (the numbers pydantic-ai uses, xhigh capped so that budget plus
# answer room fits the 32k output limit of the smallest thinking models)
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 24576, "max": 24576}
# reasoning.effort -> output_config.effort (adaptive thinking); Anthropic's lowest level is low
ADAPTIVE_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class ModelTraits:
    """What the model name tells: Claude 4.6 and newer think adaptively, with an effort level.

    ``claude-opus-4-6``, ``claude-sonnet-4-5-20250929``, ``claude-3-7-sonnet-latest``,
    ``claude-sonnet-4-20250514`` (a date, not a minor version). Unknown names get budget thinking,
    which every thinking model up to 4.6 accepts.
    """

    def __init__(self, model: str) -> None:
        major, minor = claude_version(model)
        self.adaptive = (major, minor) >= (4, 6)


def claude_version(model: str) -> tuple[int, int]:
    """``claude-sonnet-4-5-20250929-v1:0`` -> (4, 5); ``claude-3-7-sonnet`` -> (3, 7); dates are not versions."""
    _, sep, rest = model.lower().rpartition("claude-")
    if not sep:
        return (0, 0)
    numbers: list[int] = []
    for token in re.split(r"[-@.:]", rest):
        if token.isdigit() and (not numbers or len(token) <= 2):
            numbers.append(int(token))
            if len(numbers) == 2:
                break
        elif numbers:
            break
    if not numbers:
        return (0, 0)
    return (numbers[0], numbers[1] if len(numbers) > 1 else 0)


def native_request(
    req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, *, stream: bool
) -> dict[str, Any]:
    """The Messages API body; raises InvalidRequestError for what Anthropic cannot do."""
    return _Request(req, raw, provider, model).build(stream)


class _Request:
    def __init__(self, req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.model = model
        self.traits = ModelTraits(model)
        self.system: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def build(self, stream: bool) -> dict[str, Any]:
        self._refuse()
        if self.req.instructions:
            self.system.append({"type": "text", "text": self.req.instructions})
        self._input()
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.system:
            cached = any("cache_control" in block for block in self.system)
            body["system"] = self.system if cached else "\n\n".join(block["text"] for block in self.system)
        tools, choice = self._tools()
        if tools:
            body["tools"] = tools
            if choice is not None:
                body["tool_choice"] = choice
        output_config: dict[str, Any] = {}
        thinking, budget = self._thinking(output_config)
        if thinking is not None:
            body["thinking"] = thinking
        fmt = self._format()
        if fmt is not None:
            output_config["format"] = fmt
        if output_config:
            body["output_config"] = output_config
        body["max_tokens"] = self._max_tokens(thinking, budget)
        self._sampling(body)
        body["stream"] = stream
        return body

    def _refuse(self) -> None:
        req = self.req
        refuse_openai_only(self.raw, self.provider, "OpenAI's server-side compaction has no Anthropic equivalent here")
        if req.top_logprobs:
            raise unsupported("top_logprobs", self.provider, "Anthropic returns no logprobs")
        if req.previous_response_id:
            raise unsupported("previous_response_id", self.provider, "the previous response is not stored here")

    # ---- input ----------------------------------------------------------------------------------

    def _input(self) -> None:
        for n, item in enumerate(input_items(self.req.input)):
            where = f"input[{n}]"
            kind = item["type"]
            if kind == "message":
                self._message(item, where)
            elif kind == "function_call":
                self._add("assistant", [self._tool_use(item, where)])
            elif kind == "function_call_output":
                block: dict[str, Any] = {
                    "type": "tool_result",
                    "tool_use_id": item["call_id"],
                    "content": self._tool_output(item.get("output"), f"{where}.output"),
                }
                _cache_control(block, item, where)
                self._add("user", [block])
            elif kind == "reasoning":
                thinking = _thinking_block(item)
                if thinking is not None:
                    self._add("assistant", [thinking])
            elif kind == "web_search_call":
                continue  # see the module docstring: not replayable, the answer text stays
            elif kind == "item_reference":
                raise unsupported(f"{where}.type", self.provider, "item_reference: send the item itself")
            else:
                raise unsupported(f"{where}.type", self.provider, f"input items of type {kind!r}")
        last = self.messages[-1] if self.messages else None
        if last is not None and last["role"] == "assistant" and all(b["type"] in _THINKING for b in last["content"]):
            # reasoning with nothing after it (an interrupted turn): Anthropic cannot continue from it
            self.messages.pop()

    def _add(self, role: str, blocks: list[dict[str, Any]]) -> None:
        """Append blocks to the conversation, merging same-role turns as Anthropic requires."""
        if not blocks:
            return
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != role:
            self.messages.append({"role": role, "content": list(blocks)})
            return
        content = last["content"]
        for block in blocks:
            if block["type"] == "tool_result":
                # tool results must open the user turn that answers the tool calls
                at = 0
                while at < len(content) and content[at]["type"] == "tool_result":
                    at += 1
                content.insert(at, block)
            else:
                content.append(block)

    def _message(self, item: dict[str, Any], where: str) -> None:
        role = item["role"]
        parts = item["content"]
        if role in ("system", "developer"):
            for j, part in enumerate(parts):
                at = f"{where}.content[{j}]"
                if part["type"] not in TEXT_PARTS:
                    raise unsupported(f"{at}.type", self.provider, "Anthropic's system prompt takes text only")
                if part.get("text"):
                    block = {"type": "text", "text": part["text"]}
                    _cache_control(block, part, at)
                    self.system.append(block)
            return
        blocks = [b for j, part in enumerate(parts) if (b := self._part(part, f"{where}.content[{j}]")) is not None]
        self._add("assistant" if role == "assistant" else "user", blocks)

    def _part(self, part: dict[str, Any], where: str) -> dict[str, Any] | None:
        kind = part["type"]
        if kind in TEXT_PARTS or kind == "refusal":
            text = part.get("refusal") if kind == "refusal" else part.get("text")
            block: dict[str, Any] | None = {"type": "text", "text": text} if text else None
        elif kind == "input_image":
            block = self._image(part, where)
        elif kind == "input_file":
            block = self._file(part, where)
        else:
            raise unsupported(f"{where}.type", self.provider, f"content parts of type {kind!r}")
        if block is not None:
            _cache_control(block, part, where)
        return block

    def _image(self, part: dict[str, Any], where: str) -> dict[str, Any]:
        url = part.get("image_url")
        if isinstance(url, dict):  # the Chat Completions shape, {"url": ...}
            url = url.get("url")
        if isinstance(url, str) and url:
            if url.startswith("data:"):
                media, data = _data_url(url, where)
                return self._image_bytes(media, data, where)
            if url.startswith(("http://", "https://")):
                return {"type": "image", "source": {"type": "url", "url": url}}
            raise unsupported(f"{where}.image_url", self.provider, "image URLs must be http(s) or data: URLs")
        if part.get("file_id"):
            raise unsupported(f"{where}.file_id", self.provider, "OpenAI file ids; send the image as image_url")
        raise InvalidRequestError(
            f"Missing required parameter: '{where}.image_url'.",
            param=f"{where}.image_url",
            code="missing_required_parameter",
        )

    def _image_bytes(self, media: str, data: str, where: str) -> dict[str, Any]:
        media = "image/jpeg" if media == "image/jpg" else media
        if media not in IMAGE_TYPES:
            raise unsupported(where, self.provider, f"images of type {media!r} (JPEG, PNG, GIF and WebP only)")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}

    def _file(self, part: dict[str, Any], where: str) -> dict[str, Any]:
        filename = part.get("filename")
        data = part.get("file_data")
        if isinstance(data, str) and data:
            if data.startswith("data:"):
                media, data = _data_url(data, where)
            else:
                media = (mimetypes.guess_type(filename)[0] if isinstance(filename, str) else None) or "application/pdf"
            if media.startswith("image/"):
                return self._image_bytes(media, data, where)
            block: dict[str, Any]
            if media == "application/pdf":
                block = {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
            elif media.startswith("text/"):
                text = _b64_text(data, where)
                block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
            else:
                raise unsupported(where, self.provider, f"files of type {media!r} (PDF, text and images only)")
        elif isinstance(part.get("file_url"), str) and part["file_url"]:
            block = {"type": "document", "source": {"type": "url", "url": part["file_url"]}}
        elif part.get("file_id"):
            raise unsupported(f"{where}.file_id", self.provider, "OpenAI file ids; send file_data or file_url")
        else:
            raise InvalidRequestError(
                f"Missing required parameter: '{where}.file_data'.",
                param=f"{where}.file_data",
                code="missing_required_parameter",
            )
        if isinstance(filename, str) and filename:
            block["title"] = filename
        return block

    def _tool_use(self, item: dict[str, Any], where: str) -> dict[str, Any]:
        args = call_arguments(item, where, "Anthropic")
        block = {"type": "tool_use", "id": item["call_id"], "name": item["name"], "input": args}
        _cache_control(block, item, where)
        return block

    def _tool_output(self, output: Any, where: str) -> str | list[dict[str, Any]]:
        if isinstance(output, str):
            return output
        if isinstance(output, list):
            blocks = []
            for j, part in enumerate(content_parts(output, where)):
                block = self._part(part, f"{where}[{j}]")
                if block is not None:
                    blocks.append(block)
            return blocks
        return "" if output is None else msgspec.json.encode(output).decode()

    # ---- tools ----------------------------------------------------------------------------------

    def _tools(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        tools: list[dict[str, Any]] = []
        typed = self.req.tools or []
        for i, tool in enumerate(self.raw.get("tools") or []):
            kind = tool.get("type")
            if kind == "function":
                native: dict[str, Any] = {"name": tool["name"]}
                if tool.get("description") is not None:
                    native["description"] = tool["description"]
                native["input_schema"] = tool.get("parameters") or {"type": "object", "properties": {}}
                if tool.get("strict") is not None:
                    native["strict"] = tool["strict"]
            elif kind in WEB_SEARCH_TOOLS:
                native = self._web_search(tool)
            else:
                raise unsupported(f"tools[{i}].type", self.provider, f"tools of type {kind!r}")
            cache = typed[i].cache_control if i < len(typed) else None
            if cache is not None:
                native["cache_control"] = msgspec.to_builtins(cache)
            tools.append(native)
        choice = self._tool_choice(tools)
        if self.req.parallel_tool_calls is False and tools and (choice is None or choice["type"] != "none"):
            choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
        return tools, choice

    def _web_search(self, tool: dict[str, Any]) -> dict[str, Any]:
        native: dict[str, Any] = {"type": WEB_SEARCH_TOOL, "name": "web_search"}
        filters = tool.get("filters") or {}
        if filters.get("allowed_domains"):
            native["allowed_domains"] = filters["allowed_domains"]
        location = tool.get("user_location")
        if isinstance(location, dict):
            kept = {k: v for k, v in location.items() if v is not None and k != "type"}
            if kept:
                native["user_location"] = {"type": "approximate", **kept}
        if self.req.max_tool_calls is not None:
            native["max_uses"] = self.req.max_tool_calls
        return native

    def _tool_choice(self, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
        choice = self.req.tool_choice
        if choice is None:
            return None
        if isinstance(choice, str):
            mapped = {"auto": "auto", "none": "none", "required": "any"}.get(choice)
            if mapped is None:
                raise unsupported("tool_choice", self.provider, f"tool_choice {choice!r}")
            return {"type": mapped}
        kind = choice.get("type")
        if kind == "function":
            name = choice.get("name")
            if not any(t.get("name") == name and "input_schema" in t for t in tools):
                raise InvalidRequestError(
                    f"Invalid value for 'tool_choice.name': no function tool named {name!r} in 'tools'.",
                    param="tool_choice.name",
                    code="invalid_value",
                )
            return {"type": "tool", "name": name}
        if kind in WEB_SEARCH_TOOLS:
            return {"type": "tool", "name": "web_search"}
        if kind == "allowed_tools":
            self._narrow(tools, choice.get("tools") or [])
            return {"type": "any" if choice.get("mode") == "required" else "auto"}
        raise unsupported("tool_choice.type", self.provider, f"tool_choice of type {kind!r}")

    @staticmethod
    def _narrow(tools: list[dict[str, Any]], allowed: list[Any]) -> None:
        """Keep only the allowed tools (Anthropic has no allowed-subset choice of its own)."""
        names = {a.get("name") for a in allowed if isinstance(a, dict) and a.get("type") == "function"}
        search = any(isinstance(a, dict) and a.get("type") in WEB_SEARCH_TOOLS for a in allowed)
        tools[:] = [t for t in tools if (t.get("type") == WEB_SEARCH_TOOL and search) or t.get("name") in names]

    # ---- thinking, output format, sampling ------------------------------------------------------

    def _thinking(self, output_config: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
        """``thinking`` and the budget it implies (for the default max_tokens)."""
        reasoning = self.req.reasoning
        if reasoning is None:
            return None, None
        effort = reasoning.effort if reasoning.effort != "none" else None
        if effort is not None and effort not in EFFORT_BUDGETS:
            known = ", ".join(["none", *EFFORT_BUDGETS])
            raise unsupported("reasoning.effort", self.provider, f"effort {effort!r} (known: {known})")
        if effort is not None and self.traits.adaptive:
            output_config["effort"] = ADAPTIVE_EFFORT[effort]
        if reasoning.max_tokens is not None:  # an explicit budget wins over the effort's
            if reasoning.max_tokens == 0:
                return None, None
            return {"type": "enabled", "budget_tokens": reasoning.max_tokens}, reasoning.max_tokens
        if effort is None:
            return None, None
        if self.traits.adaptive:
            return {"type": "adaptive"}, EFFORT_BUDGETS[effort]
        return {"type": "enabled", "budget_tokens": EFFORT_BUDGETS[effort]}, EFFORT_BUDGETS[effort]

    def _max_tokens(self, thinking: dict[str, Any] | None, budget: int | None) -> int:
        limit = self.req.max_output_tokens
        if limit is None:
            return DEFAULT_MAX_TOKENS + (budget or 0)
        if thinking is None or thinking.get("type") != "enabled" or thinking["budget_tokens"] < limit:
            return limit
        # Anthropic needs max_tokens > budget_tokens; OpenAI counts reasoning inside max_output_tokens
        if self.req.reasoning is not None and self.req.reasoning.max_tokens is not None:
            raise InvalidRequestError(
                f"Invalid value for 'reasoning.max_tokens': provider {self.provider!r} needs a thinking budget"
                f" below max_output_tokens ({limit}).",
                param="reasoning.max_tokens",
                code="invalid_value",
            )
        if limit <= MIN_BUDGET:
            raise InvalidRequestError(
                f"Invalid value for 'max_output_tokens': provider {self.provider!r} needs more than {MIN_BUDGET}"
                " output tokens when reasoning is on.",
                param="max_output_tokens",
                code="invalid_value",
            )
        thinking["budget_tokens"] = limit - 1  # the effort's budget, cut to fit the caller's limit
        return limit

    def _format(self) -> dict[str, Any] | None:
        text = self.req.text
        fmt = text.format if text is not None else None
        if fmt is None or fmt.type == "text":
            return None
        if fmt.type == "json_object":
            raise unsupported("text.format", self.provider, "json_object has no Anthropic equivalent; use json_schema")
        nested = fmt.json_schema
        schema = fmt.schema if fmt.schema is not None else (nested.schema if nested is not None else None)
        description = fmt.description or (nested.description if nested is not None else None)
        if schema is None:
            raise InvalidRequestError(
                "Missing required parameter: 'text.format.schema'.",
                param="text.format.schema",
                code="missing_required_parameter",
            )
        if description and "description" not in schema:
            schema = {**schema, "description": description}
        return {"type": "json_schema", "schema": schema}

    def _sampling(self, body: dict[str, Any]) -> None:
        req = self.req
        if req.temperature is not None:
            if req.temperature > 1:
                raise unsupported("temperature", self.provider, "Anthropic accepts temperatures from 0 to 1")
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["top_p"] = req.top_p
        user = req.safety_identifier or req.user
        if user:
            body["metadata"] = {"user_id": user}


def _thinking_block(item: dict[str, Any]) -> dict[str, Any] | None:
    """Our own reasoning item back as the block it came from; another provider's: None."""
    state = item.get("encrypted_content")
    signature = opaque_for(TAG, state)
    if signature is not None:
        parts = item.get("summary") or item.get("content") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        return {"type": "thinking", "thinking": text, "signature": signature}
    data = opaque_for(REDACTED_TAG, state)
    if data is not None:
        return {"type": "redacted_thinking", "data": data}
    return None


def _cache_control(block: dict[str, Any], source: dict[str, Any], where: str) -> None:
    cache = source.get("cache_control")
    if cache is None:
        return
    if not isinstance(cache, dict) or not isinstance(cache.get("type"), str):
        raise InvalidRequestError(
            f"Invalid value for '{where}.cache_control': expected an object with a 'type'.",
            param=f"{where}.cache_control",
            code="invalid_value",
        )
    block["cache_control"] = {k: v for k, v in cache.items() if k in ("type", "ttl") and v is not None}


def _data_url(url: str, where: str) -> tuple[str, str]:
    """``data:<media>;base64,<data>`` -> (media type, base64 data)."""
    header, sep, payload = url[5:].partition(",")
    if not sep:
        raise InvalidRequestError(f"Invalid data URL in '{where}'.", param=where, code="invalid_value")
    media, *params = header.split(";")
    if "base64" in params:
        return media.strip().lower() or "text/plain", "".join(payload.split())
    return media.strip().lower() or "text/plain", base64.b64encode(unquote_to_bytes(payload)).decode()


def _b64_text(data: str, where: str) -> str:
    try:
        return base64.b64decode(data, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError(
            f"Invalid value for '{where}': a text file must be base64-encoded UTF-8.", param=where, code="invalid_value"
        ) from None
