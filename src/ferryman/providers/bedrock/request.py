"""Responses request -> Bedrock Converse request (``POST /model/{modelId}/converse[-stream]``).

Field mapping (anything not listed here and not in ``HINTS`` is refused with a 400 naming it):

=======================================  ==========================================================
Responses                                Bedrock Converse
=======================================  ==========================================================
model                                    ``modelId`` in the URL (the deployment name, URL-quoted)
instructions; system/developer messages  ``system[]`` ``{text}`` blocks, in order (always sent,
                                         possibly empty, as the AWS SDKs send it)
input message user / assistant           ``messages[]`` user / assistant; consecutive same-role
                                         turns merged (Converse wants them alternating)
  input_text, output_text, refusal       ``{text}`` (empty text left out: Converse rejects it)
  input_image data: URL                  ``{image: {format: png|jpeg|gif|webp, source: {bytes}}}``
                                         (bytes are base64 in JSON)
  input_image s3:// URL                  ``{image: {format, source: {s3Location: {uri}}}}``
  input_image http(s) URL                refused: Converse takes no image URLs, and Ferryman does
                                         not fetch on the caller's behalf
  input_file file_data / s3:// file_url  ``{document: {format, name, source: {bytes|s3Location}}}``
                                         (pdf, csv, doc(x), xls(x), html, txt, md; images become
                                         image blocks; the name is sanitised as Converse demands)
  part ``cache_control``                 a ``{cachePoint: {type: default[, ttl]}}`` block after it
function_call                            assistant ``{toolUse: {toolUseId: call_id, name, input}}``
function_call_output                     user ``{toolResult: {toolUseId, content: [{text} | image
                                         | document], status: success}}``, before any other block
                                         of that user turn
reasoning, ``bedrock:<signature>``       assistant ``{reasoningContent: {reasoningText: {text,
                                         signature}}}`` exactly as received, in its place
reasoning, ``bedrock:redacted:<data>``   assistant ``{reasoningContent: {redactedContent}}``
reasoning of another provider            left out (its state means nothing to Bedrock)
OpenAI tool items (local_shell_call,     function calls where ``tools`` offers one of their name,
  shell_call, computer_call, mcp_call ...) else labelled text, or left out (``providers/history.py``)
web_search_call (replayed output)        left out (not replayable; the answer text stays)
tools[type=function]                     ``toolConfig.tools[].toolSpec {name, description,
                                         inputSchema: {json}, strict (when true)}``
tools[type=custom / namespace]           ``toolSpec`` functions, as ``providers/tools.py`` offers
                                         them; calls come back as ``custom_tool_call`` /
                                         ``function_call`` with ``namespace``
custom_tool_call / _output               ``toolUse`` {input: {input}} / ``toolResult``
tools[].cache_control                    a ``{cachePoint}`` entry after that tool
tools[type=web_search*] (Amazon Nova)    ``{systemTool: {name: nova_grounding}}`` (Nova web
                                         grounding; other models have no hosted search)
tool_choice auto / required              ``toolChoice {auto: {}}`` (Claude, Nova, Mistral; other
                                         models get none, their default) / ``{any: {}}``
tool_choice {type: function|custom}      ``toolChoice {tool: {name}}`` (the offered name)
tool_choice {type: allowed_tools}        tools narrowed to the allowed ones; auto / any
tool_choice none                         no ``toolConfig`` at all (Converse has no "none"); with
                                         tool calls in the input, where Converse needs the tools,
                                         refused
reasoning.effort, Claude 4.6 and newer   ``additionalModelRequestFields {thinking: {type:
                                         adaptive}, output_config: {effort}}``
reasoning.effort, older Claude           ``additionalModelRequestFields.thinking {type: enabled,
                                         budget_tokens}``: minimal/low 1024, medium 4096, high
                                         16384, xhigh/max 24576
reasoning.max_tokens (Claude)            ``thinking {type: enabled, budget_tokens}`` (0: none)
reasoning.effort, Amazon Nova            ``additionalModelRequestFields.reasoningConfig {type:
                                         enabled, maxReasoningEffort: low|medium|high}``
reasoning.effort, OpenAI (gpt-oss)       ``additionalModelRequestFields.reasoning_effort``
reasoning.effort, Qwen                   ``additionalModelRequestFields.reasoning_config`` low/high
reasoning.effort none                    no thinking setting
reasoning.* on a model that does not     nothing (a hint): Claude before 3.7, families with no
  think                                  documented thinking setting (Llama, Mistral, ARNs)
prompt_cache_key (present; Claude 3.5    a ``cachePoint`` after the last message and after the
  Haiku / 3.7+, Nova)                    system prompt, where none is, within Bedrock's 4
text.format json_schema                  ``outputConfig.textFormat {type: json_schema, structure:
                                         {jsonSchema: {schema: <JSON text>, name, description}}}``
max_output_tokens                        ``inferenceConfig.maxTokens`` (absent: the model's own
                                         default on Bedrock; a thinking budget must stay below it)
temperature (0..1) / top_p               ``inferenceConfig.temperature`` / ``topP``
stop (an extension: Chat Completions)    ``inferenceConfig.stopSequences``
service_tier default / flex / priority   ``serviceTier {type}`` (auto and scale: left to Bedrock)
=======================================  ==========================================================

Refused (400 ``unsupported_parameter``): ``top_logprobs`` > 0 (no logprobs), ``temperature`` above 1
(Converse's range is 0..1), ``text.format`` json_object (no schema-less JSON mode), ``max_tool_calls``,
``reasoning`` on a model family with no documented thinking setting, ``reasoning.max_tokens`` on
models other than Claude, unknown ``reasoning.effort`` values, ``prompt``, ``conversation``,
``context_management``, an unresolved ``previous_response_id``, ``item_reference`` and unknown input
items or content parts (``input_audio``, ...), http(s) image and file URLs, OpenAI ``file_id``s,
image and document types Converse does not take, tools other than function, custom, namespace (and web
search on Nova; these are left out instead with ``compat.drop_unsupported``),
hosted tools in ``tool_choice``, web search ``filters``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ferryman.providers.claude import (
    ADAPTIVE_EFFORT,
    EFFORT_BUDGETS,
    adaptive,
    claude_version,
    effort_of,
    fit_budget,
    thinks,
)
from ferryman.providers.extensions import stop_sequences
from ferryman.providers.media import data_url, file_bytes, image_url, no_file
from ferryman.providers.text_format import json_schema, structured
from ferryman.providers.tools import Function, Hosted, Toolset
from ferryman.providers.turns import Marked, Turns, cache_control, summary_text
from ferryman.schemas.input import FunctionCallOutput, InputFile, InputFunctionCall, InputImage, InputReasoning
from ferryman.schemas.items import WEB_SEARCH_TOOLS, call_arguments, opaque_for, refuse_openai_only, unsupported
from ferryman.schemas.responses import ResponsesRequest

TAG = "bedrock"  # reasoning state: "bedrock:<signature>" or "bedrock:redacted:<base64 data>"
REDACTED = "redacted:"  # signatures are base64 and never contain ':', so this prefix cannot clash

# Request fields this adapter ignores on purpose: hints Converse has no knob for, or that the
# gateway handles before the adapter runs (``fallbacks``, ``background``, ``truncation``, ``store``).
HINTS = frozenset(
    {
        "parallel_tool_calls",  # Converse has no switch; models call tools in parallel as they will
        "service_tier",  # only "auto" and "scale"; default / flex / priority are mapped
        "store",
        "metadata",  # kept by the gateway; Bedrock's requestMetadata has stricter key/value rules
        "user",
        "safety_identifier",
        "include",  # reasoning.encrypted_content is honoured by the builder (keeps_reasoning_state)
        "prompt_cache_key",
        "prompt_cache_retention",
        "truncation",
        "background",
        "stream_options",
        "reasoning.summary",  # Bedrock returns the reasoning text it has whenever the model thinks
        "reasoning.generate_summary",
        "text.verbosity",
        "text.format.strict",  # outputConfig.textFormat is always enforced
        "input_image.detail",  # Bedrock sizes images itself
        "tools[].search_context_size",
        "tools[].user_location",  # Nova grounding takes no location
        "fallbacks",
    }
)

NOVA_GROUNDING = "nova_grounding"
# cross-region inference profile prefixes in front of a model id (us.anthropic.claude-...)
_GEO = frozenset({"us", "eu", "apac", "global", "us-gov", "jp", "au", "ca", "ap"})

THREE_LEVELS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
QWEN_LEVELS = {"minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high", "max": "high"}

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_EXTENSIONS = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "md": "text/markdown",
    "markdown": "text/markdown",
    **{fmt: media for media, fmt in DOCUMENT_FORMATS.items() if fmt not in ("md",)},
}


class ModelFamily:
    """What the model id tells: whose model it is, and for Claude whether it thinks adaptively.

    ``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, ``anthropic.claude-opus-4-6-v1``,
    ``global.amazon.nova-2-lite-v1:0``, ``openai.gpt-oss-120b-1:0``, an inference profile ARN
    ending in such an id. An application inference profile ARN names no family: a reasoning
    effort is then not sent (a hint), since there is no telling which request field the model reads.
    """

    def __init__(self, model: str) -> None:
        name = model.lower()
        if name.startswith("arn:"):
            name = name.rsplit("/", 1)[-1]
        head, dot, rest = name.partition(".")
        if dot and head in _GEO:
            name = rest
        self.vendor = name.partition(".")[0] if "." in name else ""
        self.name = name
        self.claude = self.vendor == "anthropic" or "claude" in name
        self.nova = self.vendor == "amazon" and name.startswith("amazon.nova")
        self.adaptive = self.claude and adaptive(name)
        self.thinks = thinks(name) if self.claude else True
        # models that take cachePoint blocks (Claude 3.5 Haiku, 3.7 and newer; Amazon Nova)
        self.caches = self.nova or (self.claude and (claude_version(name) >= (3, 5) or claude_version(name) == (0, 0)))


def native_request(
    req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, dropped: list[str] | None = None
) -> dict[str, Any]:
    """The Converse body (the same for Converse and ConverseStream); raises for what Bedrock cannot do (a
    tool it cannot run is added to ``dropped`` and left out instead, when ``dropped`` is a list)."""
    return _Request(req, raw, provider, model, dropped).build()


class _Request:
    def __init__(
        self, req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, dropped: list[str] | None
    ) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.family = ModelFamily(model)
        self.turns = _Turns(provider)
        self.toolset = Toolset(req.tools, raw.get("tools"), provider, dropped)

    def build(self) -> dict[str, Any]:
        self._refuse()
        self.turns.read(self.req.instructions, self.req.input, self.req.tools, self.toolset.names)
        body: dict[str, Any] = {"messages": self.turns.messages, "system": self.turns.system}
        tool_config = self._tool_config()
        if self.req.prompt_cache_key and self.family.caches:
            auto_cache_points(tool_config, self.turns.system, self.turns.messages)
        inference: dict[str, Any] = {}
        if self.req.max_output_tokens is not None:
            inference["maxTokens"] = self.req.max_output_tokens
        self._sampling(inference)
        body["inferenceConfig"] = inference
        if tool_config is not None:
            body["toolConfig"] = tool_config
        extra = self._thinking()
        if extra:
            body["additionalModelRequestFields"] = extra
        fmt = self._format()
        if fmt is not None:
            body["outputConfig"] = {"textFormat": fmt}
        tier = self.req.service_tier
        if tier in ("default", "flex", "priority"):
            body["serviceTier"] = {"type": tier}
        return body

    def _refuse(self) -> None:
        req = self.req
        refuse_openai_only(self.raw, self.provider, "OpenAI's server-side compaction has no Bedrock equivalent")
        if req.top_logprobs:
            raise unsupported("top_logprobs", self.provider, "Bedrock Converse returns no logprobs")
        if req.previous_response_id:
            raise unsupported("previous_response_id", self.provider, "the previous response is not stored here")
        if req.max_tool_calls is not None:
            raise unsupported("max_tool_calls", self.provider, "Converse cannot cap the number of tool calls")

    # ---- tools ----------------------------------------------------------------------------------

    def _tool_config(self) -> dict[str, Any] | None:
        tools: list[dict[str, Any]] = []
        typed = self.req.tools or []
        for entry in self.toolset.entries:
            if isinstance(entry, Function):
                spec: dict[str, Any] = {"name": entry.name}
                if entry.description:  # Converse rejects an empty description
                    spec["description"] = entry.description
                spec["inputSchema"] = {"json": entry.parameters or {"type": "object", "properties": {}}}
                if entry.strict is True:
                    spec["strict"] = True
                tools.append({"toolSpec": spec})
            elif entry.kind in WEB_SEARCH_TOOLS and self.family.nova:
                tools.append(self._web_search(entry))
            elif entry.kind in WEB_SEARCH_TOOLS:
                self.toolset.drop(
                    entry, "hosted web search on Bedrock is Amazon Nova's web grounding; this model has none"
                )
                continue
            else:
                self.toolset.drop(entry)
                continue
            i = entry.index
            cache = typed[i].cache_control if i < len(typed) and (isinstance(entry, Hosted) or entry.last) else None
            if cache is not None:
                tools.append({"cachePoint": _point(cache.ttl)})
        choice = self._tool_choice(tools)
        if choice == "none" or not any("cachePoint" not in t for t in tools):
            return None
        config: dict[str, Any] = {"tools": tools}
        if choice is not None:
            config["toolChoice"] = choice
        return config

    def _web_search(self, entry: Hosted) -> dict[str, Any]:
        if entry.tool.get("filters"):
            raise unsupported(
                f"tools[{entry.index}].filters", self.provider, "Nova web grounding takes no domain filters"
            )
        return {"systemTool": {"name": NOVA_GROUNDING}}

    def _tool_choice(self, tools: list[dict[str, Any]]) -> dict[str, Any] | str | None:
        choice = self.req.tool_choice
        if choice is None:
            return None
        if isinstance(choice, str):
            if choice == "none":
                if self.turns.tool_blocks:
                    raise unsupported(
                        "tool_choice",
                        self.provider,
                        "Converse has no 'none' tool choice, and the tools cannot be left out while the input"
                        " holds tool calls",
                    )
                return "none"
            if choice == "auto":
                return self._auto()
            if choice != "required":
                raise unsupported("tool_choice", self.provider, f"tool_choice {choice!r}")
            return {"any": {}}
        kind = choice.get("type")
        if kind in ("function", "custom"):
            return {"tool": {"name": self.toolset.chosen(choice)}}
        if kind == "allowed_tools":
            listed = choice.get("tools") or []
            _narrow(tools, listed, self.toolset.allowed(listed))
            return {"any": {}} if choice.get("mode") == "required" else self._auto()
        raise unsupported("tool_choice.type", self.provider, f"tool_choice of type {kind!r}")

    def _auto(self) -> dict[str, Any] | None:
        """``{auto: {}}`` where the model takes a toolChoice; elsewhere nothing, which means the same.

        Converse answers a toolChoice the model cannot take with a 400, and auto is every model's
        default, so it is spelt out only for the families documented to accept it.
        """
        family = self.family
        return {"auto": {}} if family.claude or family.nova or family.vendor == "mistral" else None

    # ---- thinking, output format, sampling ------------------------------------------------------

    def _thinking(self) -> dict[str, Any]:
        """``additionalModelRequestFields`` for the reasoning settings (empty when none)."""
        reasoning = self.req.reasoning
        if reasoning is None:
            return {}
        effort = effort_of(reasoning, self.provider)
        family = self.family
        if reasoning.max_tokens is not None and not family.claude:
            raise unsupported(
                "reasoning.max_tokens", self.provider, "a thinking budget is a Claude setting; use reasoning.effort"
            )
        if family.claude:
            return self._claude_thinking(effort) if family.thinks else {}  # old Claude: a hint
        if effort is None:
            return {}
        if family.nova:
            return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": THREE_LEVELS[effort]}}
        if family.vendor == "openai":
            return {"reasoning_effort": THREE_LEVELS[effort]}
        if family.vendor == "qwen":
            return {"reasoning_config": QWEN_LEVELS[effort]}
        return {}  # a model with no documented thinking setting: the effort is a hint

    def _claude_thinking(self, effort: str | None) -> dict[str, Any]:
        reasoning = self.req.reasoning
        assert reasoning is not None
        if reasoning.max_tokens is not None:  # an explicit budget wins over the effort's
            if reasoning.max_tokens == 0:
                return {}
            return {"thinking": {"type": "enabled", "budget_tokens": self._budget(reasoning.max_tokens, True)}}
        if effort is None:
            return {}
        if self.family.adaptive:
            return {"thinking": {"type": "adaptive"}, "output_config": {"effort": ADAPTIVE_EFFORT[effort]}}
        return {"thinking": {"type": "enabled", "budget_tokens": self._budget(EFFORT_BUDGETS[effort], False)}}

    def _budget(self, budget: int, explicit: bool) -> int:
        return fit_budget(budget, self.req.max_output_tokens, explicit=explicit, provider=self.provider)

    def _format(self) -> dict[str, Any] | None:
        fmt = structured(self.req.text)
        if fmt is None:
            return None
        if fmt.type == "json_object":
            raise unsupported("text.format", self.provider, "json_object has no Converse equivalent; use json_schema")
        spec = json_schema(fmt)
        definition: dict[str, Any] = {"schema": msgspec.json.encode(spec.schema).decode()}
        if spec.name:
            definition["name"] = spec.name
        if spec.description:
            definition["description"] = spec.description
        return {"type": "json_schema", "structure": {"jsonSchema": definition}}

    def _sampling(self, inference: dict[str, Any]) -> None:
        req = self.req
        if req.temperature is not None:
            if req.temperature > 1:
                raise unsupported("temperature", self.provider, "Converse accepts temperatures from 0 to 1")
            inference["temperature"] = req.temperature
        if req.top_p is not None:
            inference["topP"] = req.top_p
        stop = stop_sequences(self.raw)
        if stop:
            inference["stopSequences"] = stop


class _Turns(Turns):
    """The conversation as Converse content blocks."""

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.documents: set[str] = set()  # document names so far (Converse wants them unique)
        self.tool_blocks = False  # whether the conversation holds toolUse / toolResult blocks

    def text(self, text: str) -> dict[str, Any]:
        return {"text": text}

    def image(self, part: InputImage, where: str) -> dict[str, Any]:
        url = image_url(part, where, self.provider)
        if url.startswith("data:"):
            media, data = data_url(url, where)
            return self._image_block(media, {"bytes": data}, where)
        if url.startswith("s3://"):
            media = _EXTENSIONS.get(_extension(url), "")
            return self._image_block(media, {"s3Location": {"uri": url}}, where)
        if url.startswith(("http://", "https://")):
            raise unsupported(
                f"{where}.image_url",
                self.provider,
                "Converse takes image bytes, not URLs: send the image as a data: URL (or an s3:// URI)",
            )
        raise unsupported(f"{where}.image_url", self.provider, "image URLs must be data: or s3:// URLs")

    def _image_block(self, media: str, source: dict[str, Any], where: str) -> dict[str, Any]:
        fmt = IMAGE_FORMATS.get(media)
        if fmt is None:
            shown = repr(media) if media else "unknown type"
            raise unsupported(where, self.provider, f"images of {shown} (PNG, JPEG, GIF and WebP only)")
        return {"image": {"format": fmt, "source": source}}

    def file(self, part: InputFile, where: str) -> dict[str, Any]:
        filename = part.filename
        found = file_bytes(part, where)
        url = part.file_url
        if found is not None:
            media, data = found
            source: dict[str, Any] = {"bytes": data}
        elif url and url.startswith("s3://"):
            media = _EXTENSIONS.get(_extension(filename or url), "")
            source = {"s3Location": {"uri": url}}
        elif url:
            raise unsupported(f"{where}.file_url", self.provider, "Converse takes file bytes or s3:// URIs, not URLs")
        else:
            raise no_file(part, where, self.provider, send="file_data")
        if media.startswith("image/"):
            return self._image_block(media, source, where)
        fmt = DOCUMENT_FORMATS.get(media) or DOCUMENT_FORMATS.get(_EXTENSIONS.get(_extension(filename or ""), ""))
        if fmt is None:
            kinds = "pdf, csv, doc, docx, xls, xlsx, html, txt, md"
            raise unsupported(where, self.provider, f"files of type {media or 'unknown'!r} ({kinds})")
        return {"document": {"format": fmt, "name": self._document_name(filename), "source": source}}

    def _document_name(self, filename: str | None) -> str:
        """A name Converse accepts (letters, digits, single spaces, hyphens, parentheses, brackets), unique."""
        stem = (filename or "").rsplit("/", 1)[-1]
        stem = stem.rsplit(".", 1)[0] if "." in stem else stem
        name = re.sub(r"\s+", " ", re.sub(r"[^A-Za-z0-9\s\-()\[\]]", " ", stem)).strip()
        base = name or f"Document {len(self.documents) + 1}"
        name, n = base, 1
        while name in self.documents:
            n += 1
            name = f"{base} ({n})"
        self.documents.add(name)
        return name

    def tool_use(self, item: InputFunctionCall, where: str) -> dict[str, Any]:
        args = call_arguments(item, where, "Bedrock")
        self.tool_blocks = True
        return {"toolUse": {"toolUseId": item.call_id, "name": item.name, "input": args}}

    def tool_result(self, item: FunctionCallOutput, where: str) -> dict[str, Any]:
        output = item.output
        content: list[dict[str, Any]]
        if isinstance(output, list):  # no cache points inside a tool result
            content = self.parts(output, f"{where}.output", cached=False)
        elif isinstance(output, str):
            content = [{"text": output}]
        else:
            content = [{"json": output}]
        self.tool_blocks = True
        return {"toolResult": {"toolUseId": item.call_id, "content": content, "status": "success"}}

    def reasoning(self, item: InputReasoning) -> dict[str, Any] | None:
        """Our own reasoning back as the block it came from; another provider's: None."""
        state = opaque_for(TAG, item.encrypted_content)
        if state is None:
            return None
        if state.startswith(REDACTED):
            return {"reasoningContent": {"redactedContent": state[len(REDACTED) :]}}
        return {"reasoningContent": {"reasoningText": {"text": summary_text(item), "signature": state}}}

    def cached(self, block: dict[str, Any], source: Marked, where: str) -> list[dict[str, Any]]:
        """A cache mark is a ``cachePoint`` block after the block it closes."""
        cache = cache_control(source, where)
        if cache is None:
            return [block]
        ttl = cache.get("ttl")
        return [block, {"cachePoint": _point(ttl if isinstance(ttl, str) else None)}]


MAX_CACHE_POINTS = 4  # Bedrock's limit of cachePoint blocks in one request


def auto_cache_points(
    tool_config: dict[str, Any] | None, system: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> None:
    """``prompt_cache_key`` asks for prompt caching: a ``cachePoint`` after the last message and after
    the system prompt (in that order of worth), where none is already, within Bedrock's limit of four."""
    tools = tool_config.get("tools", []) if tool_config else []
    blocks = [*tools, *system, *(b for m in messages for b in m["content"])]
    used = sum("cachePoint" in b for b in blocks)
    ends = [messages[-1]["content"]] if messages else []
    if system:
        ends.append(system)
    for content in ends:
        if used >= MAX_CACHE_POINTS:
            return
        if "cachePoint" not in content[-1]:
            content.append({"cachePoint": {"type": "default"}})
            used += 1


def _narrow(tools: list[dict[str, Any]], allowed: list[Any], names: set[str]) -> None:
    """Keep only the allowed tools (``names``: the offered names of the functions among them; Converse
    has no allowed-subset choice of its own)."""
    search = any(isinstance(a, dict) and a.get("type") in WEB_SEARCH_TOOLS for a in allowed)
    tools[:] = [
        t
        for t in tools
        if t.get("toolSpec", {}).get("name") in names or ("systemTool" in t and search) or "cachePoint" in t
    ]


def _point(ttl: str | None) -> dict[str, Any]:
    point: dict[str, Any] = {"type": "default"}
    if ttl in ("5m", "1h"):
        point["ttl"] = ttl
    return point


def _extension(name: str) -> str:
    tail = name.split("?", 1)[0].rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""
