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
                                         of that user turn (text, image and file parts kept);
                                         ``status: incomplete`` -> ``is_error: true``
reasoning, encrypted_content             assistant ``thinking`` block {thinking: summary text,
  ``anthropic:<signature>``              signature}, exactly as received, in its original place
reasoning, ``anthropic-redacted:<data>`` assistant ``redacted_thinking`` block {data}
reasoning of another provider            left out (its state means nothing to Anthropic)
OpenAI tool items (local_shell_call,     function calls where ``tools`` offers one of their name,
  shell_call, computer_call, mcp_call ...) else labelled text, or left out (``providers/history.py``)
web_search_call (replayed output)        left out: Anthropic replays a search only with its
                                         encrypted results, which a Responses item cannot carry;
                                         the answer text that used them is kept
tools[type=function]                     ``tools[]`` {name, description, input_schema, strict}
tools[type=custom / namespace]           functions, as ``providers/tools.py`` offers them (custom:
                                         one string parameter ``input``; namespace members:
                                         ``<namespace>__<name>``); calls come back as
                                         ``custom_tool_call`` / ``function_call`` with ``namespace``
custom_tool_call / _output               ``tool_use`` {input: {input}} / ``tool_result``
tools[type=web_search*]                  ``web_search_20250305`` tool; ``filters.allowed_domains``
                                         -> ``allowed_domains``, ``user_location`` -> the same
tools[].cache_control                    the tool's ``cache_control``
prompt_cache_key (present)               ``cache_control: {type: ephemeral}`` on the last message's
                                         last block and the last system block, where no mark is,
                                         within Anthropic's 4 (agents send it to ask for caching)
max_tool_calls                           web search ``max_uses`` (it caps built-in tool calls;
                                         without a built-in tool there is nothing to cap)
tool_choice auto / none / required       ``{"type": "auto" | "none" | "any"}``
tool_choice {type: function|custom, name} ``{"type": "tool", name}`` (the offered name)
tool_choice {type: web_search*}          ``{"type": "tool", "name": "web_search"}``
tool_choice {type: allowed_tools}        ``tools`` narrowed to the allowed ones; auto / any
parallel_tool_calls: false               ``tool_choice.disable_parallel_tool_use: true``
reasoning.effort (Claude 4.6 and newer)  ``thinking: {type: adaptive}`` + ``output_config.effort``
                                         (minimal -> low; low/medium/high/xhigh/max as named)
reasoning.effort (older models)          ``thinking: {type: enabled, budget_tokens}``: minimal/low
                                         1024, medium 4096, high 16384, xhigh/max 24576
reasoning.effort none                    no ``thinking``
reasoning.* on a model that does not     nothing (a hint: Claude before 3.7 takes no ``thinking``)
  think (claude-3-5-*, claude-3-*)
reasoning.max_tokens                     ``thinking: {type: enabled, budget_tokens}`` (0: none)
text.format json_schema                  ``output_config.format {type: json_schema, schema}``
                                         (``description`` into the schema; ``name`` is a label)
max_output_tokens                        ``max_tokens`` (default 4096, plus the thinking budget
                                         when thinking is on: Anthropic needs max_tokens > budget)
temperature (0..1) / top_p               ``temperature`` / ``top_p``
stop / top_k (gateway extensions)        ``stop_sequences`` / ``top_k``
safety_identifier (or user)              ``metadata.user_id``
=======================================  ==========================================================

Refused (400 ``unsupported_parameter``): ``top_logprobs`` > 0 (no logprobs), ``temperature`` above 1,
``text.format`` json_object (Anthropic has no schema-less JSON mode), unknown ``reasoning.effort``,
``prompt``, ``conversation``, ``context_management``, a ``previous_response_id`` the gateway did not
resolve, ``item_reference`` and unknown input items or content parts (``input_audio``, ...), OpenAI
``file_id``s, images other than JPEG/PNG/GIF/WebP, files other than PDF/text/images, tools other than
function, custom, namespace and web search (left out instead with ``compat.drop_unsupported``), a
hosted tool other than web search in ``tool_choice``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.claude import ADAPTIVE_EFFORT, EFFORT_BUDGETS, adaptive, effort_of, fit_budget, thinks
from ferryman.providers.media import b64_text, data_url, file_bytes, image_url, no_file
from ferryman.providers.text_format import json_schema, structured
from ferryman.providers.tools import Function, Hosted, Toolset
from ferryman.providers.turns import Marked, Turns, cache_control, summary_text
from ferryman.schemas.input import FunctionCallOutput, InputFile, InputFunctionCall, InputImage, InputReasoning
from ferryman.schemas.items import WEB_SEARCH_TOOLS, call_arguments, opaque_for, refuse_openai_only, unsupported
from ferryman.schemas.responses import ResponsesRequest, stop_sequences

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
        "include",  # reasoning.encrypted_content is honoured by the builder (keeps_reasoning_state)
        "prompt_cache_key",  # its value is OpenAI's routing hint; its presence sets cache breakpoints
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
DEFAULT_MAX_TOKENS = 4096
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class ModelTraits:
    """What the model name tells: Claude 4.6 and newer think adaptively, with an effort level.

    ``claude-opus-4-6``, ``claude-sonnet-4-5-20250929``, ``claude-3-7-sonnet-latest``,
    ``claude-sonnet-4-20250514`` (a date, not a minor version). Unknown names get budget thinking,
    which every thinking model up to 4.6 accepts.
    """

    def __init__(self, model: str) -> None:
        self.adaptive = adaptive(model)
        self.thinks = thinks(model)


def native_request(
    req: ResponsesRequest,
    raw: dict[str, Any],
    provider: str,
    model: str,
    *,
    stream: bool,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """The Messages API body; raises InvalidRequestError for what Anthropic cannot do (a tool it cannot
    run is added to ``dropped`` and left out instead, when ``dropped`` is a list)."""
    return _Request(req, raw, provider, model, dropped).build(stream)


class _Request:
    def __init__(
        self, req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, dropped: list[str] | None
    ) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.model = model
        self.traits = ModelTraits(model)
        self.toolset = Toolset(req.tools, raw.get("tools"), provider, dropped)

    def build(self, stream: bool) -> dict[str, Any]:
        self._refuse()
        turns = _Turns(self.provider)
        turns.read(self.req.instructions, self.req.input, self.req.tools, self.toolset.names)
        body: dict[str, Any] = {"model": self.model, "messages": turns.messages}
        tools, choice = self._tools()
        if self.req.prompt_cache_key:
            auto_breakpoints(tools, turns.system, turns.messages)
        if turns.system:
            cached = any("cache_control" in block for block in turns.system)
            body["system"] = turns.system if cached else "\n\n".join(block["text"] for block in turns.system)
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

    # ---- tools ----------------------------------------------------------------------------------

    def _tools(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        tools: list[dict[str, Any]] = []
        typed = self.req.tools or []
        for entry in self.toolset.entries:
            if isinstance(entry, Function):
                native: dict[str, Any] = {"name": entry.name}
                if entry.description is not None:
                    native["description"] = entry.description
                native["input_schema"] = entry.parameters or {"type": "object", "properties": {}}
                if entry.strict is not None:
                    native["strict"] = entry.strict
            elif entry.kind in WEB_SEARCH_TOOLS:
                native = self._web_search(entry.tool)
            else:
                self.toolset.drop(entry)
                continue
            i = entry.index
            cache = typed[i].cache_control if i < len(typed) and (isinstance(entry, Hosted) or entry.last) else None
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
        if kind in ("function", "custom"):
            return {"type": "tool", "name": self.toolset.chosen(choice)}
        if kind in WEB_SEARCH_TOOLS:
            return {"type": "tool", "name": "web_search"}
        if kind == "allowed_tools":
            self._narrow(tools, choice.get("tools") or [])
            return {"type": "any" if choice.get("mode") == "required" else "auto"}
        raise unsupported("tool_choice.type", self.provider, f"tool_choice of type {kind!r}")

    def _narrow(self, tools: list[dict[str, Any]], allowed: list[Any]) -> None:
        """Keep only the allowed tools (Anthropic has no allowed-subset choice of its own)."""
        names = self.toolset.allowed(allowed)
        search = any(isinstance(a, dict) and a.get("type") in WEB_SEARCH_TOOLS for a in allowed)
        tools[:] = [t for t in tools if (t.get("type") == WEB_SEARCH_TOOL and search) or t.get("name") in names]

    # ---- thinking, output format, sampling ------------------------------------------------------

    def _thinking(self, output_config: dict[str, Any]) -> tuple[dict[str, Any] | None, int | None]:
        """``thinking`` and the budget it implies (for the default max_tokens)."""
        reasoning = self.req.reasoning
        if reasoning is None:
            return None, None
        effort = effort_of(reasoning, self.provider)
        if not self.traits.thinks:
            return None, None  # a hint the model cannot take
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
            return DEFAULT_MAX_TOKENS + (budget or 0)  # Anthropic needs max_tokens > budget_tokens
        if thinking is not None and thinking.get("type") == "enabled":
            explicit = self.req.reasoning is not None and self.req.reasoning.max_tokens is not None
            thinking["budget_tokens"] = fit_budget(
                thinking["budget_tokens"], limit, explicit=explicit, provider=self.provider
            )
        return limit

    def _format(self) -> dict[str, Any] | None:
        fmt = structured(self.req.text)
        if fmt is None:
            return None
        if fmt.type == "json_object":
            raise unsupported("text.format", self.provider, "json_object has no Anthropic equivalent; use json_schema")
        spec = json_schema(fmt)
        schema = spec.schema
        if spec.description and "description" not in schema:
            schema = {**schema, "description": spec.description}
        return {"type": "json_schema", "schema": schema}

    def _sampling(self, body: dict[str, Any]) -> None:
        req = self.req
        if req.temperature is not None:
            if req.temperature > 1:
                raise unsupported("temperature", self.provider, "Anthropic accepts temperatures from 0 to 1")
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if req.top_k is not None:
            body["top_k"] = req.top_k
        stop = stop_sequences(req.stop)
        if stop:
            body["stop_sequences"] = stop
        user = req.safety_identifier or req.user
        if user:
            body["metadata"] = {"user_id": user}


MAX_BREAKPOINTS = 4  # Anthropic's limit of cache_control marks in one request
EPHEMERAL = {"type": "ephemeral"}
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})  # blocks Anthropic takes no cache_control on


def auto_breakpoints(tools: list[dict[str, Any]], system: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    """``prompt_cache_key`` asks for prompt caching: mark the end of the conversation and of the system
    prompt (in that order of worth: the last message's mark caches everything before it) as
    Anthropic's cache breakpoints, where no mark is already, within its limit of four."""
    blocks = [*tools, *system, *(b for m in messages for b in m["content"])]
    used = sum("cache_control" in b for b in blocks)
    last = messages[-1]["content"] if messages else []
    ends = [b for b in reversed(last) if b.get("type") not in _UNMARKABLE][:1] + system[-1:]
    for block in ends:
        if used >= MAX_BREAKPOINTS:
            return
        if "cache_control" not in block:
            block["cache_control"] = dict(EPHEMERAL)
            used += 1


class _Turns(Turns):
    """The conversation as Messages API blocks."""

    def text(self, text: str) -> dict[str, Any]:
        return {"type": "text", "text": text}

    def image(self, part: InputImage, where: str) -> dict[str, Any]:
        url = image_url(part, where, self.provider)
        if url.startswith("data:"):
            media, data = data_url(url, where)
            return self._image_bytes(media, data, where)
        if url.startswith(("http://", "https://")):
            return {"type": "image", "source": {"type": "url", "url": url}}
        raise unsupported(f"{where}.image_url", self.provider, "image URLs must be http(s) or data: URLs")

    def _image_bytes(self, media: str, data: str, where: str) -> dict[str, Any]:
        media = "image/jpeg" if media == "image/jpg" else media
        if media not in IMAGE_TYPES:
            raise unsupported(where, self.provider, f"images of type {media!r} (JPEG, PNG, GIF and WebP only)")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}

    def file(self, part: InputFile, where: str) -> dict[str, Any]:
        filename = part.filename
        found = file_bytes(part, where)
        block: dict[str, Any]
        if found is not None:
            media, data = found
            if media.startswith("image/"):
                return self._image_bytes(media, data, where)
            if media == "application/pdf":
                block = {"type": "document", "source": {"type": "base64", "media_type": media, "data": data}}
            elif media.startswith("text/"):
                text = b64_text(data, where)
                block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}}
            else:
                raise unsupported(where, self.provider, f"files of type {media!r} (PDF, text and images only)")
        elif part.file_url:
            block = {"type": "document", "source": {"type": "url", "url": part.file_url}}
        else:
            raise no_file(part, where, self.provider, send="file_data or file_url")
        if filename:
            block["title"] = filename
        return block

    def tool_use(self, item: InputFunctionCall, where: str) -> dict[str, Any]:
        args = call_arguments(item, where, "Anthropic")
        return {"type": "tool_use", "id": item.call_id, "name": item.name, "input": args}

    def tool_result(self, item: FunctionCallOutput, where: str) -> dict[str, Any]:
        output = item.output
        content: str | list[dict[str, Any]]
        if isinstance(output, str):
            content = output
        elif isinstance(output, list):
            content = self.parts(output, f"{where}.output")
        else:
            content = msgspec.json.encode(output).decode()
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": item.call_id, "content": content}
        if item.status == "incomplete":  # how the Anthropic door carries a result's is_error
            result["is_error"] = True
        return result

    def reasoning(self, item: InputReasoning) -> dict[str, Any] | None:
        """Our own thinking back as the block it came from; another provider's: None."""
        state = item.encrypted_content
        signature = opaque_for(TAG, state)
        if signature is not None:
            return {"type": "thinking", "thinking": summary_text(item), "signature": signature}
        data = opaque_for(REDACTED_TAG, state)
        if data is not None:
            return {"type": "redacted_thinking", "data": data}
        return None

    def cached(self, block: dict[str, Any], source: Marked, where: str) -> list[dict[str, Any]]:
        cache = cache_control(source, where)
        if cache is not None:
            block["cache_control"] = {k: v for k, v in cache.items() if k in ("type", "ttl") and v is not None}
        return [block]
