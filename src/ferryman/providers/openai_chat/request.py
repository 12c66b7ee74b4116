"""Responses request -> Chat Completions request (``POST {base_url}/chat/completions``).

Field mapping (anything not listed here and not in ``HINTS`` is refused with a 400 naming it;
"quirk" means the provider's line in ``quirks.QUIRKS`` decides):

=======================================  ==========================================================
Responses                                Chat Completions
=======================================  ==========================================================
model                                    ``model`` (the deployment name)
stream                                   ``stream`` (+ ``stream_options.include_usage``, quirk)
instructions; system/developer messages  ``{"role": "system"}`` messages, in order
message user                             ``{"role": "user"}``; one text part as a string, else parts
  input_text, output_text                ``{"type": "text"}``
  input_image (http(s) or data: URL)     ``{"type": "image_url", "image_url": {url, detail}}``
  input_file file_data (quirk "file")    ``{"type": "file", "file": {file_data, filename}}``
  input_file file_url (Mistral)          ``{"type": "document_url", document_url, document_name}``
  part ``cache_control`` (OpenRouter)    the text part's ``cache_control``
message assistant                        ``{"role": "assistant", "content": text}``
function_call                            assistant ``tool_calls[]`` {id: call_id, type: function,
                                         function: {name, arguments}}; consecutive calls and the
                                         assistant text before them share one assistant message
function_call_output                     ``{"role": "tool", tool_call_id, content: text}``; image
                                         and file parts follow as a user message (tool messages
                                         take text only)
reasoning ``openai-chat:{provider...}``  sent back on the next assistant message as the provider
  (ours, same provider entry)            wants it (quirk ``replay``): ``reasoning_content``
                                         (DeepSeek), ``<think>`` text before the content (Groq),
                                         a Mistral ``thinking`` chunk, OpenRouter
                                         ``reasoning_details``; otherwise left out
reasoning of another provider            left out (its state means nothing here)
OpenAI tool items (local_shell_call,     function calls where ``tools`` offers one of their name,
  shell_call, computer_call, mcp_call ...) else labelled text, or left out (``providers/history.py``)
web_search_call (replayed output)        left out (a chat server cannot replay it; the answer stays)
tools[type=function]                     ``{"type": "function", "function": {name, description,
                                         parameters, strict}}``
tools[type=web_search*] (quirk)          ``web_search_options {search_context_size,
                                         user_location}`` (OpenAI, OpenRouter, Perplexity)
tool_choice auto / none / required       the same (``required`` is ``any`` on Mistral)
tools[type=custom / namespace]           functions, as ``providers/tools.py`` offers them; calls
                                         come back as ``custom_tool_call`` / ``function_call`` with
                                         ``namespace``
custom_tool_call / _output               ``tool_calls[]`` {arguments: {input}} / ``role: tool``
tool_choice {type: function|custom}      ``{"type": "function", "function": {name}}`` (offered name)
tool_choice {type: allowed_tools}        OpenAI: ``{"type": "allowed_tools", ...}``; others: the
                                         tool list narrowed, auto / required
parallel_tool_calls (with tools)         ``parallel_tool_calls`` (quirk; a hint where not taken)
reasoning.effort                         ``reasoning_effort`` (quirk ``efforts`` renames levels);
                                         DeepSeek adds ``thinking: {type}``; OpenRouter
                                         ``reasoning: {effort}``; Groq adds ``reasoning_format``;
                                         nothing for a model the quirk ``reasoning_models`` leaves
                                         out (Groq's Llama, OpenAI's gpt-4o: a hint, not a 400)
reasoning.max_tokens                     OpenRouter ``reasoning: {max_tokens}``; 0 elsewhere is
                                         effort ``none``
text.format json_schema                  ``response_format {type: json_schema, json_schema: {name,
                                         schema, strict, description}}``
text.format json_object                  ``response_format {type: json_object}``
text.verbosity (OpenAI)                  ``verbosity``
max_output_tokens                        ``max_completion_tokens`` or ``max_tokens`` (quirk)
temperature / top_p                      ``temperature`` / ``top_p``
top_logprobs (quirk)                     ``logprobs: true`` + ``top_logprobs``; the reply's logprobs
                                         land on the output_text part
user (quirk)                             ``user``
service_tier, prompt_cache_key,          forwarded to OpenAI and Azure (hints elsewhere)
safety_identifier
stop, seed, frequency_penalty,           Ferryman extensions (not Responses fields): forwarded as
presence_penalty                         they are
=======================================  ==========================================================

Refused (400 ``unsupported_parameter``): ``prompt``, ``conversation``, ``context_management``, a
``previous_response_id`` the gateway did not resolve, ``max_tool_calls`` (chat servers cannot cap
tool calls), ``item_reference`` and unknown input items or content parts, OpenAI ``file_id``s,
files a provider cannot take (quirk ``files``), tools other than function, custom, namespace (and web search where
the quirk allows it), any tool for Perplexity (these are left out instead with
``compat.drop_unsupported``), hosted tools in ``tool_choice``, ``reasoning.effort``
where the provider has no such knob, a non-zero ``reasoning.max_tokens`` outside OpenRouter,
``text.format`` kinds the provider lacks (DeepSeek: json_schema; Perplexity: json_object),
``top_logprobs`` where logprobs are not offered.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ferryman.providers.extensions import EXTENSIONS
from ferryman.providers.media import image_url
from ferryman.providers.text_format import json_schema, structured
from ferryman.providers.tools import Function, Toolset
from ferryman.providers.turns import required_input
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    AssistantText,
    FunctionCallOutput,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputMessage,
    InputPart,
    InputReasoning,
    InputText,
    ItemReference,
)
from ferryman.schemas.items import (
    WEB_SEARCH_TOOLS,
    function_output_text,
    opaque_for,
    part_text,
    refuse_openai_only,
    unsupported,
)
from ferryman.schemas.responses import ResponsesRequest

from .quirks import Quirks

TAG = "openai-chat"  # reasoning state: {"provider": entry name, + what the provider needs back}

# Request fields this adapter ignores on purpose: hints a chat server has no knob for (or that only
# some take, see the table), or that the gateway handles before the adapter runs.
HINTS = frozenset(
    {
        "parallel_tool_calls",  # forwarded where the server takes it
        "service_tier",  # forwarded to OpenAI / Azure
        "store",  # Responses' store is the gateway's; chat's store means something else
        "metadata",
        "user",  # forwarded where the server takes it
        "include",  # reasoning.encrypted_content is honoured by the builder (keeps_reasoning_state)
        "prompt_cache_key",  # forwarded to OpenAI / Azure
        "prompt_cache_retention",
        "safety_identifier",  # forwarded to OpenAI / Azure
        "truncation",
        "background",
        "stream_options",
        "reasoning.summary",  # chat servers send raw reasoning or none; no summaries
        "reasoning.generate_summary",
        "text.verbosity",  # forwarded to OpenAI / Azure
        "tools[].cache_control",  # Chat Completions tools carry no cache_control
        "content[].cache_control",  # forwarded to OpenRouter
        "fallbacks",
    }
)

_USER_LOCATION = ("city", "country", "region", "timezone")


def native_request(
    req: ResponsesRequest,
    raw: dict[str, Any],
    provider: str,
    model: str,
    quirks: Quirks,
    *,
    stream: bool,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """The Chat Completions body; raises InvalidRequestError for what the provider cannot do (a tool it
    cannot run is added to ``dropped`` and left out instead, when ``dropped`` is a list)."""
    return _Request(req, raw, provider, model, quirks, dropped).build(stream)


class _Request:
    def __init__(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        provider: str,
        model: str,
        quirks: Quirks,
        dropped: list[str] | None = None,
    ) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.model = model
        self.q = quirks
        self.toolset = Toolset(req.tools, raw.get("tools"), provider, dropped)
        self.messages: list[dict[str, Any]] = []
        self.pending: list[tuple[str, dict[str, Any]]] = []  # our reasoning, waiting for its message
        self.media: list[dict[str, Any]] = []  # tool outputs' images and files, for a user message
        self.web_search: dict[str, Any] | None = None

    def build(self, stream: bool) -> dict[str, Any]:
        self._refuse()
        if self.req.instructions:
            self.messages.append({"role": "system", "content": self.req.instructions})
        self._input()
        body: dict[str, Any] = {"model": self.model, "messages": [_finish(m, self.q) for m in self.messages]}
        self._tools(body)
        self._reasoning(body)
        fmt = self._format()
        if fmt is not None:
            body["response_format"] = fmt
        self._sampling(body)
        body["stream"] = stream
        if stream and self.q.stream_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def _refuse(self) -> None:
        refuse_openai_only(
            self.raw, self.provider, "OpenAI's server-side compaction has no Chat Completions equivalent"
        )
        if self.req.previous_response_id:
            raise unsupported("previous_response_id", self.provider, "the previous response is not stored here")
        if self.req.max_tool_calls is not None:
            raise unsupported("max_tool_calls", self.provider, "Chat Completions cannot cap tool calls")

    # ---- input ----------------------------------------------------------------------------------

    def _input(self) -> None:
        for where, item in required_input(self.req.input, self.provider, self.req.tools, self.toolset.names):
            if isinstance(item, InputMessage):
                self._message(item, where)
            elif isinstance(item, InputFunctionCall):
                call = {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
                self._assistant(new=False)["tool_calls"].append(call)
            elif isinstance(item, FunctionCallOutput):
                self._tool_output(item, where)
            elif isinstance(item, InputReasoning):
                state = _our_state(item, self.provider)
                if state is not None and self.q.replay is not None:
                    self.pending.append((_reasoning_text(item), state))
            elif isinstance(item, ItemReference):
                raise unsupported(f"{where}.type", self.provider, "item_reference: send the item itself")
            else:
                raise unsupported(f"{where}.type", self.provider, f"input items of type {item.get('type')!r}")
        self._flush_media()
        # reasoning with nothing after it (an interrupted turn) has no message to ride on: left out

    def _append(self, message: dict[str, Any]) -> None:
        if message["role"] != "tool":
            self._flush_media()
        self.messages.append(message)

    def _flush_media(self) -> None:
        if self.media:
            media, self.media = self.media, []
            self.messages.append({"role": "user", "content": media})

    def _assistant(self, *, new: bool) -> dict[str, Any]:
        """The assistant message to add to: the open one, or a new one carrying pending reasoning."""
        last = self.messages[-1] if self.messages else None
        if not new and not self.pending and not self.media and last is not None and last["role"] == "assistant":
            return last
        message: dict[str, Any] = {"role": "assistant", "_texts": [], "tool_calls": [], "_reasoning": self.pending}
        self.pending = []
        self._append(message)
        return message

    def _message(self, item: InputMessage, where: str) -> None:
        role = item.role
        parts = item.content
        if role in ("system", "developer"):
            texts = []
            for j, part in enumerate(parts):
                text = part_text(part)
                if text is None or not isinstance(part, InputText | AssistantText):
                    raise unsupported(f"{where}.content[{j}].type", self.provider, "system messages take text only")
                texts.append(text)
            self._append({"role": "system", "content": "\n\n".join(texts)})
        elif role == "assistant":
            texts = []
            for j, part in enumerate(parts):
                text = part_text(part)
                if text is None:
                    kind = part.get("type") if isinstance(part, dict) else part.__struct_config__.tag
                    raise unsupported(f"{where}.content[{j}].type", self.provider, f"assistant parts of type {kind!r}")
                texts.append(text)
            self._assistant(new=True)["_texts"].extend(t for t in texts if t)
        else:
            chat_parts = [self._part(part, f"{where}.content[{j}]") for j, part in enumerate(parts)]
            self._append({"role": "user", "content": _compact(chat_parts)})

    def _part(self, part: InputPart, where: str) -> dict[str, Any]:
        if isinstance(part, InputText | AssistantText):
            out: dict[str, Any] = {"type": "text", "text": part.text}
            if part.cache_control is not None and self.q.cache_control:
                out["cache_control"] = part.cache_control
            return out
        if isinstance(part, InputImage):
            return self._image(part, where)
        if isinstance(part, InputFile):
            return self._file(part, where)
        kind = part.get("type") if isinstance(part, dict) else part.__struct_config__.tag
        raise unsupported(f"{where}.type", self.provider, f"content parts of type {kind!r}")

    def _image(self, part: InputImage, where: str) -> dict[str, Any]:
        url = image_url(part, where, self.provider)
        if not url.startswith(("http://", "https://", "data:")):
            raise unsupported(f"{where}.image_url", self.provider, "image URLs must be http(s) or data: URLs")
        image: dict[str, Any] = {"url": url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}

    def _file(self, part: InputFile, where: str) -> dict[str, Any]:
        if part.file_id:
            raise unsupported(f"{where}.file_id", self.provider, "OpenAI file ids; send file_data or file_url")
        data, url, name = part.file_data, part.file_url, part.filename
        if self.q.files == "file" and data:
            if not data.startswith("data:"):  # Responses allows bare base64; Chat Completions wants a data URL
                data = f"data:application/pdf;base64,{data}"
            file: dict[str, Any] = {"file_data": data}
            if name:
                file["filename"] = name
            return {"type": "file", "file": file}
        if self.q.files == "document_url" and url:
            doc: dict[str, Any] = {"type": "document_url", "document_url": url}
            if name:
                doc["document_name"] = name
            return doc
        if not data and not url:
            raise InvalidRequestError(
                f"Missing required parameter: '{where}.file_data'.",
                param=f"{where}.file_data",
                code="missing_required_parameter",
            )
        takes = {"file": "file_data only", "document_url": "file_url only"}.get(self.q.files or "", "no files")
        raise unsupported(where, self.provider, f"this provider takes {takes}")

    def _tool_output(self, item: FunctionCallOutput, where: str) -> None:
        output = item.output
        text = function_output_text(output)
        if isinstance(output, list):
            for j, part in enumerate(output):
                if part_text(part) is None or isinstance(part, dict):
                    self.media.append(self._part(part, f"{where}.output[{j}]"))
        self.messages.append({"role": "tool", "tool_call_id": item.call_id, "content": text})

    # ---- tools ----------------------------------------------------------------------------------

    def _tools(self, body: dict[str, Any]) -> None:
        tools: list[dict[str, Any]] = []
        for entry in self.toolset.entries:
            if isinstance(entry, Function) and self.q.tools:
                fn: dict[str, Any] = {"name": entry.name}
                for key, value in (
                    ("description", entry.description),
                    ("parameters", entry.parameters),
                    ("strict", entry.strict),
                ):
                    if value is not None:
                        fn[key] = value
                tools.append({"type": "function", "function": fn})
            elif isinstance(entry, Function):
                kind = "function"
                where = f"tools[{entry.index}]"
                self.toolset.unsupported(where, kind, f"{where}.type", f"tools of type {kind!r}")
            elif entry.kind in WEB_SEARCH_TOOLS and self.q.web_search is not None:
                self.web_search = self._web_search(entry.tool)
            else:
                self.toolset.drop(entry)
        choice = self._tool_choice(tools)
        if tools:
            body["tools"] = tools
            if choice is not None:
                body["tool_choice"] = choice
            if self.req.parallel_tool_calls is not None and self.q.parallel_tool_calls:
                body["parallel_tool_calls"] = self.req.parallel_tool_calls
        if self.web_search is not None:
            body["web_search_options"] = self.web_search

    def _web_search(self, tool: dict[str, Any]) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if tool.get("search_context_size"):
            options["search_context_size"] = tool["search_context_size"]
        location = tool.get("user_location")
        if isinstance(location, dict):
            kept = {k: location[k] for k in _USER_LOCATION if location.get(k) is not None}
            if kept and self.q.web_search == "perplexity":
                options["user_location"] = kept
            elif kept:
                options["user_location"] = {"type": "approximate", "approximate": kept}
        return options

    def _tool_choice(self, tools: list[dict[str, Any]]) -> Any:
        choice = self.req.tool_choice
        if choice is None:
            return None
        if isinstance(choice, str):
            if choice not in ("auto", "none", "required"):
                raise unsupported("tool_choice", self.provider, f"tool_choice {choice!r}")
            return self.q.required_choice if choice == "required" else choice
        kind = choice.get("type")
        if kind in ("function", "custom"):
            offered = {t["function"]["name"] for t in tools}
            return {"type": "function", "function": {"name": self.toolset.chosen(choice, offered)}}
        if kind == "allowed_tools":
            names = self.toolset.allowed(choice.get("tools") or [])
            mode = "required" if choice.get("mode") == "required" else "auto"
            if self.q.allowed_tools:
                named = [
                    {"type": "function", "function": {"name": t["function"]["name"]}}
                    for t in tools
                    if t["function"]["name"] in names
                ]
                return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": named}}
            tools[:] = [t for t in tools if t["function"]["name"] in names]
            return self.q.required_choice if mode == "required" else "auto"
        raise unsupported("tool_choice.type", self.provider, f"tool_choice of type {kind!r}")

    # ---- reasoning, output format, sampling -----------------------------------------------------

    def _reasoning(self, body: dict[str, Any]) -> None:
        reasoning = self.req.reasoning
        if reasoning is None:
            return
        pattern = self.q.reasoning_models
        if pattern is not None and re.search(pattern, self.model) is None:
            return  # a model that does not reason: the setting is a hint
        effort, budget = reasoning.effort, reasoning.max_tokens
        if self.q.reasoning_object:
            if budget:
                body["reasoning"] = {"max_tokens": budget}
            elif budget == 0 or effort:
                body["reasoning"] = {"effort": "none" if budget == 0 else effort}
            return
        if budget:
            raise unsupported("reasoning.max_tokens", self.provider, "it takes a reasoning effort, not a budget")
        if budget == 0:
            effort = "none"
        if not effort:
            return
        if self.q.thinking_toggle:
            body["thinking"] = {"type": "disabled" if effort == "none" else "enabled"}
            if effort != "none":
                body["reasoning_effort"] = self.q.efforts.get(effort, effort)
            return
        if not self.q.reasoning_effort:
            raise unsupported("reasoning.effort", self.provider, "it has no reasoning effort setting")
        body["reasoning_effort"] = self.q.efforts.get(effort, effort)
        if self.q.reasoning_format and effort != "none":
            body["reasoning_format"] = self.q.reasoning_format

    def _format(self) -> dict[str, Any] | None:
        fmt = structured(self.req.text)
        if fmt is None:
            return None
        if fmt.type == "json_object":
            if not self.q.json_object:
                raise unsupported("text.format", self.provider, "json_object; use json_schema")
            return {"type": "json_object"}
        if not self.q.json_schema:
            raise unsupported("text.format", self.provider, "json_schema; use json_object")
        found = json_schema(fmt)
        spec: dict[str, Any] = {"name": found.name or "response"}
        if found.description:
            spec["description"] = found.description
        spec["schema"] = found.schema
        if found.strict is not None:
            spec["strict"] = found.strict
        return {"type": "json_schema", "json_schema": spec}

    def _sampling(self, body: dict[str, Any]) -> None:
        req, q = self.req, self.q
        if req.max_output_tokens is not None:
            body[q.max_tokens_field] = req.max_output_tokens
        if req.temperature is not None:
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["top_p"] = req.top_p
        if req.top_logprobs is not None:
            if not q.logprobs:
                if req.top_logprobs:
                    raise unsupported("top_logprobs", self.provider, "it returns no logprobs")
            else:
                body["logprobs"] = True
                body["top_logprobs"] = req.top_logprobs
        verbosity = req.text.verbosity if req.text is not None else None
        if verbosity is not None and q.verbosity:
            body["verbosity"] = verbosity
        if req.user and q.user:
            body["user"] = req.user
        if q.openai_hints:
            for key in ("service_tier", "prompt_cache_key", "safety_identifier"):
                value = getattr(req, key)
                if value is not None:
                    body[key] = value
        for key in EXTENSIONS:
            if self.raw.get(key) is not None:
                body[key] = self.raw[key]


def _compact(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text part is sent as a string, the form every server takes."""
    if len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]:
        return str(parts[0]["text"])
    return parts


def _finish(message: dict[str, Any], q: Quirks) -> dict[str, Any]:
    """An assistant message under construction -> its wire form, reasoning placed as the quirk says."""
    if message["role"] != "assistant":
        return message
    text = "".join(message["_texts"])
    reasoning: list[tuple[str, dict[str, Any]]] = message["_reasoning"]
    out: dict[str, Any] = {"role": "assistant"}
    content: Any = text or None
    if reasoning and q.replay == "think":
        thoughts = [f"<think>\n{r}\n</think>" for r, _ in reasoning]
        content = "\n\n".join([*thoughts, text] if text else thoughts)
    elif reasoning and q.replay == "mistral":
        chunks: list[dict[str, Any]] = []
        for r, state in reasoning:
            thinking = state.get("thinking")
            chunks.append({"type": "thinking", "thinking": thinking or [{"type": "text", "text": r}]})
        content = [*chunks, {"type": "text", "text": text}] if text else chunks
    elif reasoning and q.replay == "reasoning_content":
        out["reasoning_content"] = "".join(r for r, _ in reasoning)
    elif reasoning and q.replay == "reasoning_details":
        details = [d for _, state in reasoning for d in state.get("reasoning_details") or []]
        if details:
            out["reasoning_details"] = details
        else:
            out["reasoning"] = "".join(r for r, _ in reasoning)
    out["content"] = content
    if message["tool_calls"]:
        out["tool_calls"] = message["tool_calls"]
    return out


def _our_state(item: InputReasoning, provider: str) -> dict[str, Any] | None:
    """The state this adapter put in a reasoning item, if it came from this very provider entry."""
    opaque = opaque_for(TAG, item.encrypted_content)
    if opaque is None:
        return None
    try:
        state = msgspec.json.decode(opaque)
    except msgspec.DecodeError:
        return None
    if not isinstance(state, dict) or state.get("provider") != provider:
        return None  # another server's (or model family's) reasoning: it would not take it
    return state


def _reasoning_text(item: InputReasoning) -> str:
    parts = item.content or item.summary
    return "".join(p.text for p in parts)
