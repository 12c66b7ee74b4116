"""Responses request -> Cohere v2 chat request (``POST /v2/chat``).

Cohere's native API rather than its OpenAI-compatibility route, because only the native one carries
what Cohere is good at back and forth: documents and their citations, the ``tool_plan`` it writes
before calling tools, its thinking blocks replayed in a later turn, and usage with billed units.

Field mapping (anything not listed here and not in ``HINTS`` is refused with a 400 naming it):

=======================================  ==========================================================
Responses                                Cohere v2 chat
=======================================  ==========================================================
model                                    ``model`` (the deployment name)
stream                                   ``stream``
instructions; system/developer messages  one ``{"role": "system"}`` message first, their texts in
                                         order (Cohere takes a system turn only at the start)
message user                             ``{"role": "user"}``; one text part as a string, else parts
  input_text, output_text                ``{"type": "text", text}``
  input_image (http(s) or data: URL)     ``{"type": "image_url", "image_url": {url, detail}}``
  input_file file_data (text/*, JSON)    a ``documents[]`` entry {id, data: {title: filename,
                                         text}} (Cohere cites it; its place in the turn is lost)
message assistant                        ``{"role": "assistant", "content": text}``
function_call                            assistant ``tool_calls[]`` {id: call_id, type: function,
                                         function: {name, arguments}}; calls and the assistant
                                         text and reasoning before them share one message
function_call_output                     ``{"role": "tool", tool_call_id, content}``: a string as
                                         sent, or ``text`` / ``document`` (text file) blocks
reasoning ``cohere:thinking``            a ``{"type": "thinking", thinking}`` block of the next
                                         assistant message (what Cohere's replies hold)
reasoning ``cohere:plan``                that assistant message's ``tool_plan``
reasoning of another provider            left out (its state means nothing to Cohere)
OpenAI tool items (local_shell_call,     function calls where ``tools`` offers one of their name,
  shell_call, computer_call, mcp_call ...) else labelled text, or left out (``providers/history.py``)
tools[type=function]                     ``tools[]`` {type: function, function: {name, description,
                                         parameters}}
tools[type=custom / namespace]           functions, as ``providers/tools.py`` offers them
tools[].strict (any true)                ``strict_tools: true`` (Cohere's switch is per request)
tool_choice auto / none / required       nothing / ``NONE`` / ``REQUIRED``
tool_choice {type: function|custom}      ``tools`` narrowed to that one + ``REQUIRED``
tool_choice {type: allowed_tools}        ``tools`` narrowed; ``REQUIRED`` when its mode is required
reasoning.effort (a reasoning model)     ``thinking: {type: enabled, token_budget}``: minimal/low
                                         1024, medium 4096, high 16384, xhigh/max 24576 (the
                                         budgets Claude gets); ``none``: ``{type: disabled}``
reasoning.max_tokens                     ``thinking.token_budget`` (0: ``{type: disabled}``)
reasoning.* on a model that does not     nothing (a hint: only Cohere's ``*-reasoning-*`` models
  reason                                 take ``thinking``)
text.format json_schema                  ``response_format {type: json_object, json_schema}``
text.format json_object                  ``response_format {type: json_object}``
max_output_tokens                        ``max_tokens``
temperature / top_p (0.01..0.99)         ``temperature`` / ``p``
stop, seed, frequency_penalty,           Ferryman extensions (not Responses fields): ``stop`` as
presence_penalty                         ``stop_sequences``, the others as they are
=======================================  ==========================================================

Refused (400 ``unsupported_parameter``): ``top_logprobs`` > 0 (Cohere returns no top logprobs),
``top_p`` outside Cohere's 0.01..0.99, ``max_tool_calls``, ``prompt``, ``conversation``,
``context_management``, a ``previous_response_id`` the gateway did not resolve, ``item_reference``
and unknown input items or content parts, OpenAI ``file_id``s, files that are not text (PDFs,
images as files) or given by ``file_url`` (Cohere reads documents as text, it fetches nothing),
images inside a tool's output (a Cohere tool result takes text and documents), hosted tools (left
out instead with ``compat.drop_unsupported``), a hosted tool in ``tool_choice``.
"""

from __future__ import annotations

from typing import Any

from ferryman.providers.claude import EFFORT_BUDGETS, effort_of
from ferryman.providers.media import b64_text, file_bytes, image_url, no_file
from ferryman.providers.text_format import json_schema, structured
from ferryman.providers.tools import Function, Toolset
from ferryman.providers.turns import required_input, summary_text, system_texts
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    FunctionCallOutput,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputMessage,
    InputPart,
    InputReasoning,
    ItemReference,
)
from ferryman.schemas.items import function_output_text, opaque_for, part_text, refuse_openai_only, unsupported
from ferryman.schemas.responses import ResponsesRequest

TAG = "cohere"  # reasoning state: which part of an assistant message the reasoning came from
THINKING = "thinking"  # a thinking content block
PLAN = "plan"  # the tool_plan

# Request fields this adapter ignores on purpose: hints Cohere has no knob for, or that the gateway
# handles before the adapter runs.
HINTS = frozenset(
    {
        "parallel_tool_calls",  # Cohere decides how many calls to make
        "service_tier",
        "store",
        "metadata",
        "user",
        "safety_identifier",
        "include",  # reasoning.encrypted_content is honoured by the builder (keeps_reasoning_state)
        "prompt_cache_key",  # Cohere caches prompts by itself (usage.cached_tokens)
        "prompt_cache_retention",
        "truncation",
        "background",
        "stream_options",
        "reasoning.summary",  # Cohere returns its raw thinking whenever it thinks
        "reasoning.generate_summary",
        "text.verbosity",
        "text.format.name",
        "text.format.strict",  # a json_schema response format is always enforced
        "tools[].cache_control",
        "content[].cache_control",
        "fallbacks",
    }
)
# Ferryman extensions (not Responses fields) -> Cohere's names
EXTENSIONS = {
    "stop": "stop_sequences",
    "seed": "seed",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}
TEXT_FILES = frozenset({"application/json", "application/xml", "application/x-yaml"})
P_RANGE = (0.01, 0.99)

# where a piece sits in one assistant message: thinking, then the plan, then text and calls
_ORDER = {THINKING: 0, PLAN: 1, "text": 2, "call": 2}


def native_request(
    req: ResponsesRequest,
    raw: dict[str, Any],
    provider: str,
    model: str,
    *,
    stream: bool,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """The v2 chat body; raises InvalidRequestError for what Cohere cannot do (a tool it cannot run
    is added to ``dropped`` and left out instead, when ``dropped`` is a list)."""
    return _Request(req, raw, provider, model, dropped).build(stream)


def reasons(model: str) -> bool:
    """Whether the model takes a ``thinking`` setting: Cohere's reasoning models say so in their name
    (``command-a-reasoning-08-2025``)."""
    return "reasoning" in model.lower()


class _Request:
    def __init__(
        self, req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, dropped: list[str] | None
    ) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.model = model
        self.toolset = Toolset(req.tools, raw.get("tools"), provider, dropped)
        self.system: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.documents: list[dict[str, Any]] = []
        self._place = -1  # where the last piece of the open assistant message sits (_ORDER)

    def build(self, stream: bool) -> dict[str, Any]:
        self._refuse()
        self._input()
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        self._tools(body)
        if self.documents:
            body["documents"] = self.documents
        self._thinking(body)
        fmt = self._format()
        if fmt is not None:
            body["response_format"] = fmt
        self._sampling(body)
        body["stream"] = stream
        return body

    def _refuse(self) -> None:
        req = self.req
        refuse_openai_only(self.raw, self.provider, "OpenAI's server-side compaction has no Cohere equivalent")
        if req.previous_response_id:
            raise unsupported("previous_response_id", self.provider, "the previous response is not stored here")
        if req.max_tool_calls is not None:
            raise unsupported("max_tool_calls", self.provider, "Cohere cannot cap tool calls")
        if req.top_logprobs:
            raise unsupported("top_logprobs", self.provider, "Cohere returns no top logprobs")
        low, high = P_RANGE
        if req.top_p is not None and not low <= req.top_p <= high:
            raise unsupported("top_p", self.provider, f"Cohere's p takes values from {low} to {high}")

    # ---- the conversation -----------------------------------------------------------------------

    def _input(self) -> None:
        if self.req.instructions:
            self.system.append(self.req.instructions)
        for where, item in required_input(self.req.input, self.provider, self.req.tools, self.toolset.names):
            if isinstance(item, InputMessage):
                self._message(item, where)
            elif isinstance(item, InputFunctionCall):
                fn = {"name": item.name, "arguments": item.arguments}
                call = {"id": item.call_id, "type": "function", "function": fn}
                self._assistant("call").setdefault("tool_calls", []).append(call)
            elif isinstance(item, FunctionCallOutput):
                self._append({"role": "tool", "tool_call_id": item.call_id, "content": self._tool_content(item, where)})
            elif isinstance(item, InputReasoning):
                self._reasoning(item)
            elif isinstance(item, ItemReference):
                raise unsupported(f"{where}.type", self.provider, "item_reference: send the item itself")
            else:
                raise unsupported(f"{where}.type", self.provider, f"input items of type {item.get('type')!r}")
        self.messages = [m for m in map(_finished, self.messages) if m is not None]
        if not self.messages:
            raise InvalidRequestError(
                f"Invalid value for 'input': provider {self.provider!r} needs a message besides files, which it"
                " reads as documents.",
                param="input",
                code="invalid_value",
            )
        if self.system:
            self.messages.insert(0, {"role": "system", "content": "\n\n".join(self.system)})

    def _append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self._place = -1

    def _assistant(self, piece: str) -> dict[str, Any]:
        """The assistant message ``piece`` belongs to: the open one while pieces come in Cohere's order
        (thinking, plan, then text and calls), else a new one."""
        place = _ORDER[piece]
        last = self.messages[-1] if self.messages else None
        if last is None or last["role"] != "assistant" or place < self._place:
            last = {"role": "assistant"}
            self.messages.append(last)
        self._place = place
        return last

    def _message(self, item: InputMessage, where: str) -> None:
        if item.role in ("system", "developer"):
            self.system.extend(text for text, _, _ in system_texts(item, where, self.provider))
        elif item.role == "assistant":
            for j, part in enumerate(item.content):
                text = part_text(part)
                if text is None:
                    raise unsupported(f"{where}.content[{j}].type", self.provider, "assistant messages take text only")
                if text:
                    self._assistant("text").setdefault("content", []).append({"type": "text", "text": text})
        else:
            parts = [p for j, part in enumerate(item.content) if (p := self._part(part, f"{where}.content[{j}]"))]
            if parts:
                self._append({"role": "user", "content": parts})

    def _part(self, part: InputPart, where: str) -> dict[str, Any] | None:
        """A user content part; a text file becomes a document (None here)."""
        if isinstance(part, InputImage):
            url = image_url(part, where, self.provider)
            if not url.startswith(("http://", "https://", "data:")):
                raise unsupported(f"{where}.image_url", self.provider, "image URLs must be http(s) or data: URLs")
            image: dict[str, Any] = {"url": url}
            if part.detail is not None:
                image["detail"] = part.detail
            return {"type": "image_url", "image_url": image}
        if isinstance(part, InputFile):
            self.documents.append(self._document(part, where))
            return None
        if isinstance(part, dict):
            raise unsupported(f"{where}.type", self.provider, f"content parts of type {part.get('type')!r}")
        text = part_text(part)
        return {"type": "text", "text": text} if text else None

    def _document(self, part: InputFile, where: str) -> dict[str, Any]:
        """A text file as a Cohere document (``{id, data}``), which the model can cite."""
        found = file_bytes(part, where)
        if found is None:
            if part.file_url:
                raise unsupported(f"{where}.file_url", self.provider, "Cohere fetches no files; send file_data")
            raise no_file(part, where, self.provider, send="file_data")
        media, data = found
        if not (media.startswith("text/") or media in TEXT_FILES):
            raise unsupported(where, self.provider, f"files of type {media!r} (Cohere reads text files as documents)")
        doc_id = f"doc_{len(self.documents)}"
        fields = {"title": part.filename or doc_id, "text": b64_text(data, where)}
        return {"id": doc_id, "data": fields}

    def _tool_content(self, item: FunctionCallOutput, where: str) -> str | list[dict[str, Any]]:
        output = item.output
        if not isinstance(output, list):
            return function_output_text(output)
        blocks: list[dict[str, Any]] = []
        for j, part in enumerate(output):
            at = f"{where}.output[{j}]"
            if isinstance(part, InputFile):
                blocks.append({"type": "document", "document": self._document(part, at)})
                continue
            text = None if isinstance(part, dict) else part_text(part)
            if text is None:
                raise unsupported(f"{at}.type", self.provider, "a tool's output takes text and text files")
            if text:
                blocks.append({"type": "text", "text": text})
        return blocks

    def _reasoning(self, item: InputReasoning) -> None:
        """Cohere's own reasoning back where it came from; another provider's is left out."""
        kind = opaque_for(TAG, item.encrypted_content)
        text = summary_text(item)
        if kind == THINKING and text:
            self._assistant(THINKING).setdefault("content", []).append({"type": "thinking", "thinking": text})
        elif kind == PLAN and text:
            message = self._assistant(PLAN)
            message["tool_plan"] = message.get("tool_plan", "") + text

    # ---- tools ----------------------------------------------------------------------------------

    def _tools(self, body: dict[str, Any]) -> None:
        tools: list[dict[str, Any]] = []
        strict = False
        for entry in self.toolset.entries:
            if not isinstance(entry, Function):
                self.toolset.drop(entry)
                continue
            fn: dict[str, Any] = {"name": entry.name}
            if entry.description is not None:
                fn["description"] = entry.description
            if entry.parameters is not None:
                fn["parameters"] = entry.parameters
            tools.append({"type": "function", "function": fn})
            strict = strict or bool(entry.strict)
        choice = self._tool_choice(tools)
        if not tools:
            return
        body["tools"] = tools
        if strict:
            body["strict_tools"] = True
        if choice is not None:
            body["tool_choice"] = choice

    def _tool_choice(self, tools: list[dict[str, Any]]) -> str | None:
        choice = self.req.tool_choice
        if choice is None:
            return None
        if isinstance(choice, str):
            mapped = {"auto": None, "none": "NONE", "required": "REQUIRED"}
            if choice not in mapped:
                raise unsupported("tool_choice", self.provider, f"tool_choice {choice!r}")
            return mapped[choice]
        kind = choice.get("type")
        if kind in ("function", "custom"):
            # Cohere cannot name the tool to call: it is offered that one alone, and must call it
            name = self.toolset.chosen(choice, {t["function"]["name"] for t in tools})
            tools[:] = [t for t in tools if t["function"]["name"] == name]
            return "REQUIRED"
        if kind == "allowed_tools":
            names = self.toolset.allowed(choice.get("tools") or [])
            tools[:] = [t for t in tools if t["function"]["name"] in names]
            return "REQUIRED" if choice.get("mode") == "required" else None
        raise unsupported("tool_choice.type", self.provider, f"tool_choice of type {kind!r}")

    # ---- thinking, output format, sampling ------------------------------------------------------

    def _thinking(self, body: dict[str, Any]) -> None:
        reasoning = self.req.reasoning
        if reasoning is None:
            return
        effort = effort_of(reasoning, self.provider)
        if not reasons(self.model):
            return  # a hint the model cannot take
        if reasoning.max_tokens is not None:  # an explicit budget wins over the effort's
            budget = reasoning.max_tokens
        elif reasoning.effort == "none":
            budget = 0
        elif effort is not None:
            budget = EFFORT_BUDGETS[effort]
        else:
            return
        body["thinking"] = {"type": "enabled", "token_budget": budget} if budget else {"type": "disabled"}

    def _format(self) -> dict[str, Any] | None:
        fmt = structured(self.req.text)
        if fmt is None:
            return None
        if fmt.type == "json_object":
            return {"type": "json_object"}
        spec = json_schema(fmt)
        schema = spec.schema
        if spec.description and "description" not in schema:
            schema = {**schema, "description": spec.description}
        return {"type": "json_object", "json_schema": schema}

    def _sampling(self, body: dict[str, Any]) -> None:
        req = self.req
        if req.max_output_tokens is not None:
            body["max_tokens"] = req.max_output_tokens
        if req.temperature is not None:
            body["temperature"] = req.temperature
        if req.top_p is not None:
            body["p"] = req.top_p
        for key, native in EXTENSIONS.items():
            value = self.raw.get(key)
            if value is not None:
                body[native] = [value] if key == "stop" and isinstance(value, str) else value


def _finished(message: dict[str, Any]) -> dict[str, Any] | None:
    """A message as sent: one text block as a string; an assistant message left without text or calls
    (reasoning of an interrupted turn) left out, and a plan without calls with it."""
    content = message.get("content")
    if message["role"] == "assistant" and not message.get("tool_calls"):
        message.pop("tool_plan", None)
        if not any(block["type"] == "text" for block in content or ()):
            return None
    if isinstance(content, list) and len(content) == 1 and content[0]["type"] == "text":
        message["content"] = content[0]["text"]
    return message
