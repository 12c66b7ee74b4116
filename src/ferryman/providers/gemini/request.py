"""Responses request -> Gemini ``GenerateContentRequest`` (the same body for the Gemini API and Vertex AI).

Field mapping (anything not listed here and not in ``HINTS`` is refused with a 400 naming it):

======================================  ===========================================================
Responses                               Gemini
======================================  ===========================================================
model                                   the URL (``models/{model}:generateContent``)
stream                                  ``:streamGenerateContent?alt=sse`` instead
instructions; system/developer msgs     ``systemInstruction.parts[].text`` (in order)
input message user / assistant          ``contents[]`` role ``user`` / ``model`` (same-role turns merged)
  input_text, output_text, refusal      ``{"text"}``
  input_image data: URL                 ``{"inlineData": {mimeType, data}}``
  input_image http(s)/gs:// URL         ``{"fileData": {mimeType (from the extension), fileUri}}``
  input_image/input_file file_id        ``fileData`` when it is a Gemini Files API / gs:// URI; else 400
  input_image detail low/high           ``generationConfig.mediaResolution`` LOW / HIGH
  input_file file_data / file_url       ``inlineData`` / ``fileData``
function_call                           model part ``{"functionCall": {name, args, id}}``
function_call_output                    user part ``{"functionResponse": {id, name, response: {output}}}``
                                        (name from the matching function_call; images/files follow)
reasoning (encrypted_content gemini:*)  its ``thoughtSignature`` on the next functionCall/text part
                                        of that model turn (none follows: on the turn's last text);
                                        other providers' reasoning is left out; a Gemini 3 turn's
                                        first unsigned call gets Google's documented placeholder
OpenAI tool items (local_shell_call ...)  function calls / labelled text / left out (``history.py``);
                                        web_search_call left out (grounding is not replayable)
image_generation_call (replayed)        model part ``inlineData``
tools[type=function]                    ``tools[].functionDeclarations[]`` (schema cleaned, schema.py)
tools[type=custom / namespace]          ``functionDeclarations``, as ``providers/tools.py`` offers them;
                                        calls come back as ``custom_tool_call`` / ``function_call``
                                        with ``namespace``
custom_tool_call / _output              ``functionCall`` {args: {input}} / ``functionResponse``
tools[type=web_search*]                 ``tools[].googleSearch {}``
tool_choice auto/none/required          ``toolConfig.functionCallingConfig.mode`` AUTO/NONE/ANY
                                        (none also leaves googleSearch out)
tool_choice {type: function|custom}     mode ANY + ``allowedFunctionNames`` (the offered name)
tool_choice {type: allowed_tools}       ANY + allowedFunctionNames (required) / declarations
                                        narrowed (auto)
tools[].strict (all function tools)     mode VALIDATED instead of AUTO (Gemini 2.5 and newer)
reasoning.effort                        ``thinkingConfig.thinkingLevel`` (Gemini 3+) or
                                        ``thinkingBudget`` (2.5); ``none`` -> budget 0 / lowest level
reasoning.max_tokens                    ``thinkingConfig.thinkingBudget``
reasoning.* on a model that does not    nothing (a hint: Gemini before 2.5 and Gemma take no
  think                                 ``thinkingConfig``)
reasoning.summary / effort set          ``thinkingConfig.includeThoughts: true``
text.format json_schema                 ``responseMimeType: application/json`` + ``responseJsonSchema``
text.format json_object                 ``responseMimeType: application/json``
max_output_tokens                       ``generationConfig.maxOutputTokens``
temperature / top_p                     ``generationConfig.temperature`` / ``topP``
stop / top_k / seed (extensions)          ``generationConfig.stopSequences`` / ``topK`` / ``seed``
top_logprobs 0                          nothing (top_logprobs > 0: 400, see below)
======================================  ===========================================================

Refused (400 ``unsupported_parameter``): ``top_logprobs`` > 0 (Gemini's logprobs cannot be carried
back yet), ``max_tool_calls``, ``background: true``, a ``previous_response_id`` the gateway did not
resolve, ``prompt``, ``conversation``, ``context_management``, ``item_reference`` and unknown input
items or content parts, OpenAI ``file_id``s, tools other than function/custom/namespace/web_search
(left out instead with ``compat.drop_unsupported``), web_search
``filters``/``user_location``, a hosted tool in ``tool_choice``, ``tool_choice: required`` without
function tools.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urlparse

from ferryman.providers.media import data_url, file_bytes, guess_type
from ferryman.providers.text_format import json_schema
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
    call_arguments,
    function_output_text,
    opaque_for,
    part_text,
    refuse_openai_only,
    unsupported,
)
from ferryman.schemas.responses import ResponsesRequest, TextFormat, stop_sequences

from .schema import function_parameters, response_json_schema

TAG = "gemini"

# request fields this adapter ignores on purpose: hints Gemini has no knob for, or that the gateway
# handles (``fallbacks``). ``tools[].cache_control``: Gemini caches prompt prefixes implicitly.
HINTS = frozenset(
    {
        "parallel_tool_calls",
        "service_tier",
        "store",
        "metadata",
        "user",
        "include",
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "truncation",
        "background",  # false only; true is refused (the gateway runs background requests itself)
        "stream_options",
        "text.verbosity",
        "text.format.strict",  # responseJsonSchema is always enforced
        "tools[].cache_control",
        "tools[].search_context_size",
        "fallbacks",
    }
)

# Responses fields that only OpenAI's own servers can serve
# reasoning.effort -> thinkingBudget (Gemini 2.5; the numbers pydantic-ai uses) and thinkingLevel (Gemini 3+)
_BUDGETS = {"none": 0, "minimal": 128, "low": 2048, "medium": 8192, "high": 24576, "xhigh": 24576}
_LEVELS = {"none": "MINIMAL", "minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "HIGH"}
_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?")
# the documented placeholder for a function call whose signature was never seen (history from
# another provider, a fallback mid-conversation): Gemini 3 rejects a first call without one
# OpenAI tool items Gemini takes as they are (see history.py for the others)
_NATIVE_ITEMS = frozenset({"image_generation_call"})
SKIP_SIGNATURE = base64.b64encode(b"skip_thought_signature_validator").decode()


class ModelTraits:
    """What the model name tells about the API it takes (thinking levels, validated mode)."""

    def __init__(self, model: str) -> None:
        m = _VERSION.search(model)
        major, minor = (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)
        self.thinking_levels = major >= 3
        self.minimal_level = not (major >= 3 and "pro" in model)  # Gemini 3 Pro starts at LOW
        self.validated_mode = (major, minor) >= (2, 5)
        self.checks_signatures = major >= 3
        # Gemini 2.5 and newer think (an unversioned name, an alias, is given the benefit of the doubt);
        # Gemini 2.0 / 1.5 and Gemma refuse a thinkingConfig
        self.thinks = (major, minor) >= (2, 5) if m else "gemma" not in model


def native_request(
    req: ResponsesRequest, raw: dict[str, Any], provider: str, model: str, dropped: list[str] | None = None
) -> dict[str, Any]:
    """The GenerateContentRequest body; raises InvalidRequestError for what Gemini cannot do (a tool it
    cannot run is added to ``dropped`` and left out instead, when ``dropped`` is a list)."""
    return _Request(req, raw, provider, ModelTraits(model), dropped).build()


class _Request:
    def __init__(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        provider: str,
        traits: ModelTraits,
        dropped: list[str] | None = None,
    ) -> None:
        self.req = req
        self.raw = raw
        self.provider = provider
        self.traits = traits
        self.toolset = Toolset(req.tools, raw.get("tools"), provider, dropped)
        self.contents: list[dict[str, Any]] = []
        self.system: list[dict[str, Any]] = []
        self.pending: str | None = None  # a signature waiting for the next part of a model turn
        self.model_has_call = False  # the open model turn already has a function call
        self.details: set[str] = set()

    def build(self) -> dict[str, Any]:
        self._refuse()
        if self.req.instructions:
            self.system.append({"text": self.req.instructions})
        self._input()
        body: dict[str, Any] = {"contents": self.contents}
        if self.system:
            body["systemInstruction"] = {"parts": self.system}
        tools, tool_config = self._tools()
        if tools:
            body["tools"] = tools
        if tool_config:
            body["toolConfig"] = tool_config
        generation = self._generation()
        if generation:
            body["generationConfig"] = generation
        return body

    def _refuse(self) -> None:
        req = self.req
        refuse_openai_only(self.raw, self.provider, "Gemini has no server-side context compaction")
        if req.top_logprobs:
            raise unsupported("top_logprobs", self.provider, "Gemini's logprobs cannot be returned by this gateway yet")
        if req.max_tool_calls is not None:
            raise unsupported("max_tool_calls", self.provider, "Gemini cannot cap its built-in tool calls")
        if req.background:
            raise unsupported("background", self.provider)
        if req.previous_response_id:
            raise unsupported("previous_response_id", self.provider, "the previous response is not stored here")

    # ---- input ----------------------------------------------------------------------------------

    def _input(self) -> None:
        items = required_input(self.req.input, self.provider, self.req.tools, self.toolset.names, _NATIVE_ITEMS)
        names = {i.call_id: i.name for _, i in items if isinstance(i, InputFunctionCall)}
        for where, item in items:
            if isinstance(item, InputMessage):
                self._message(item, where)
            elif isinstance(item, InputFunctionCall):
                self._function_call(item, where)
            elif isinstance(item, FunctionCallOutput):
                self._function_output(item, where, names)
            elif isinstance(item, InputReasoning):
                sig = opaque_for(TAG, item.encrypted_content)
                if sig:
                    self._flush_signature()  # one still waiting stays with its own turn
                    self.pending = sig  # the part that follows in this model turn carries it
            elif isinstance(item, ItemReference):
                raise unsupported(where, self.provider, "item_reference: send the item itself")
            elif item.get("type") == "image_generation_call" and isinstance(item.get("result"), str):
                fmt = item.get("output_format") or "png"
                self._model({"inlineData": {"mimeType": f"image/{fmt}", "data": item["result"]}})
            else:
                raise unsupported(f"{where}.type", self.provider, f"input items of type {item.get('type')!r}")
        self._flush_signature()

    def _message(self, item: InputMessage, where: str) -> None:
        role = item.role
        parts = item.content
        if role in ("system", "developer"):
            for j, part in enumerate(parts):
                if not isinstance(part, InputText | AssistantText):
                    raise unsupported(f"{where}.content[{j}]", self.provider, "system instructions take text only")
                if part.text:
                    self.system.append({"text": part.text})
            return
        for j, part in enumerate(parts):
            native = self._part(part, f"{where}.content[{j}]")
            if native is None:
                continue
            if role == "assistant":
                self._model(native)
            else:
                self._user(native)

    def _part(self, part: InputPart, where: str) -> dict[str, Any] | None:
        if isinstance(part, InputImage):
            if part.detail in ("low", "high"):
                self.details.add(part.detail)
            if part.image_url:
                return self._media(part.image_url, where, default_mime="image/jpeg")
            return self._file_id(part.file_id, where)
        if isinstance(part, InputFile):
            found = file_bytes(part, where, default="application/pdf")
            if found is not None:
                mime, data = found
                return {"inlineData": {"mimeType": mime, "data": data}}
            if part.file_url:
                return self._media(part.file_url, where, default_mime=guess_type(part.filename) or "application/pdf")
            return self._file_id(part.file_id, where)
        if isinstance(part, dict):
            raise unsupported(f"{where}.type", self.provider, f"content parts of type {part.get('type')!r}")
        text = part_text(part)
        return {"text": text} if text else None

    def _media(self, url: str, where: str, *, default_mime: str) -> dict[str, Any]:
        if url.startswith("data:"):
            mime, data = data_url(url, where, default=default_mime)
            return {"inlineData": {"mimeType": mime, "data": data}}
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https", "gs"):
            raise unsupported(where, self.provider, f"URLs with scheme {parsed.scheme!r}")
        # Gemini fetches public URLs, Files API URIs and (Vertex) gs:// objects itself: the gateway
        # downloads nothing, so no blocking I/O and no fetching on a client's behalf
        mime = guess_type(parsed.path) or default_mime
        if parsed.hostname and parsed.hostname.endswith(("youtube.com", "youtu.be")):
            mime = "video/mp4"
        return {"fileData": {"mimeType": mime, "fileUri": url}}

    def _file_id(self, file_id: str | None, where: str) -> dict[str, Any]:
        if file_id is not None and (
            file_id.startswith(("gs://", "https://generativelanguage.googleapis.com/")) or file_id.startswith("files/")
        ):
            uri = file_id if "://" in file_id else f"https://generativelanguage.googleapis.com/v1beta/{file_id}"
            return {"fileData": {"fileUri": uri}}
        why = "only Gemini Files API and gs:// URIs; send the image or file itself"
        raise unsupported(f"{where}.file_id", self.provider, why)

    def _function_call(self, item: InputFunctionCall, where: str) -> None:
        args = call_arguments(item, where, "Gemini")
        part: dict[str, Any] = {"functionCall": {"name": item.name, "args": args, "id": item.call_id}}
        first = not self._in_model_turn() or not self.model_has_call
        self._model(part)
        if first and "thoughtSignature" not in part and self.traits.checks_signatures:
            part["thoughtSignature"] = SKIP_SIGNATURE
        self.model_has_call = True

    def _function_output(self, item: FunctionCallOutput, where: str, names: dict[str, str]) -> None:
        name = names.get(item.call_id)
        if name is None:
            raise InvalidRequestError(
                f"'{where}.call_id' ({item.call_id}) matches no function_call in the input; Gemini needs the "
                "call itself in the conversation to name the function.",
                param=f"{where}.call_id",
                code="invalid_value",
            )
        output = item.output
        response = {"id": item.call_id, "name": name, "response": {"output": function_output_text(output)}}
        self._user({"functionResponse": response})
        if isinstance(output, list):  # images and files a tool returned follow its response
            for j, part in enumerate(output):
                if not isinstance(part, InputText | AssistantText):
                    native = self._part(part, f"{where}.output[{j}]")
                    if native is not None:
                        self._user(native)

    # ---- turns ----------------------------------------------------------------------------------

    def _in_model_turn(self) -> bool:
        return bool(self.contents) and self.contents[-1]["role"] == "model"

    def _model(self, part: dict[str, Any]) -> None:
        if self.pending is not None:
            part["thoughtSignature"] = self.pending
            self.pending = None
        if self._in_model_turn():
            self.contents[-1]["parts"].append(part)
        else:
            self.model_has_call = False
            self.contents.append({"role": "model", "parts": [part]})

    def _user(self, part: dict[str, Any]) -> None:
        self._flush_signature()
        if self.contents and self.contents[-1]["role"] == "user":
            self.contents[-1]["parts"].append(part)
        else:
            self.contents.append({"role": "user", "parts": [part]})

    def _flush_signature(self) -> None:
        """A signature nothing followed: Gemini 3 sends it on an empty last text part of a stream.

        It goes back on the turn's last text part (a text signature is only a hint to Gemini, while
        an empty text part risks Vertex's "empty text parameter" 400), or as that empty part when the
        turn ends otherwise.
        """
        if self.pending is not None and self._in_model_turn():
            last = self.contents[-1]["parts"][-1]
            if "text" in last and "thoughtSignature" not in last:
                last["thoughtSignature"] = self.pending
            else:
                self.contents[-1]["parts"].append({"text": "", "thoughtSignature": self.pending})
        self.pending = None

    # ---- tools ----------------------------------------------------------------------------------

    def _tools(self) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        declarations: list[dict[str, Any]] = []
        strict: list[bool] = []
        search = False
        for entry in self.toolset.entries:
            if isinstance(entry, Function):
                decl: dict[str, Any] = {"name": entry.name, "description": entry.description or ""}
                params = function_parameters(entry.parameters)
                if params is not None:
                    decl["parameters"] = params
                declarations.append(decl)
                strict.append(entry.strict is True)
            elif entry.kind in WEB_SEARCH_TOOLS:
                i, filters = entry.index, entry.tool.get("filters")
                if isinstance(filters, dict) and any(filters.values()):
                    raise unsupported(f"tools[{i}].filters", self.provider, "Google Search takes no domain filters")
                if entry.tool.get("user_location"):
                    raise unsupported(f"tools[{i}].user_location", self.provider, "Google Search takes no location")
                search = True
            else:
                self.toolset.drop(entry)
        declarations, search, config = self._tool_choice(declarations, search, all(strict) and bool(strict))
        tools: list[dict[str, Any]] = []
        if declarations:
            tools.append({"functionDeclarations": declarations})
        if search:
            tools.append({"googleSearch": {}})
        return tools, config

    def _tool_choice(
        self, declarations: list[dict[str, Any]], search: bool, strict: bool
    ) -> tuple[list[dict[str, Any]], bool, dict[str, Any] | None]:
        choice = self.req.tool_choice
        names = [d["name"] for d in declarations]
        mode = "AUTO"
        allowed: list[str] = []
        if choice is None or choice == "auto":
            pass
        elif choice == "none":
            mode, search = "NONE", False
        elif choice == "required":
            if not declarations:
                why = "Gemini cannot be made to search; 'required' needs function tools"
                raise unsupported("tool_choice", self.provider, why)
            mode = "ANY"
        elif isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
            mode, allowed = "ANY", [self.toolset.chosen(choice)]
        elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
            listed = [t for t in choice.get("tools") or [] if isinstance(t, dict)]
            picked = self.toolset.allowed(listed)
            search = search and any(t.get("type") in WEB_SEARCH_TOOLS for t in listed)
            if choice.get("mode") == "required":
                if not picked:
                    raise unsupported("tool_choice", self.provider, "Gemini cannot be made to search")
                mode, allowed = "ANY", [n for n in names if n in picked]
            else:  # Gemini takes allowedFunctionNames only with ANY: narrow the declarations instead
                declarations = [d for d in declarations if d["name"] in picked]
        elif isinstance(choice, str):
            raise InvalidRequestError(
                f"Invalid value for 'tool_choice': {choice!r}.", param="tool_choice", code="invalid_value"
            )
        else:
            kind = choice.get("type") if isinstance(choice, dict) else None
            raise unsupported("tool_choice", self.provider, f"tool_choice of type {kind!r}")
        if not declarations:
            return declarations, search, None  # Gemini rejects a function config without functions
        if mode == "AUTO" and strict and self.traits.validated_mode:
            mode = "VALIDATED"  # AUTO with the declared schemas enforced: Gemini's strict
        if choice is None and mode == "AUTO":
            return declarations, search, None
        config: dict[str, Any] = {"mode": mode}
        if allowed:
            config["allowedFunctionNames"] = allowed
        return declarations, search, {"functionCallingConfig": config}

    # ---- generation config ----------------------------------------------------------------------

    def _generation(self) -> dict[str, Any]:
        req = self.req
        out: dict[str, Any] = {}
        if req.max_output_tokens is not None:
            out["maxOutputTokens"] = req.max_output_tokens
        if req.temperature is not None:
            out["temperature"] = req.temperature
        if req.top_p is not None:
            out["topP"] = req.top_p
        if req.top_k is not None:
            out["topK"] = req.top_k
        stop = stop_sequences(req.stop)
        if stop:
            out["stopSequences"] = stop
        if isinstance(self.raw.get("seed"), int):
            out["seed"] = self.raw["seed"]
        fmt = req.text.format if req.text is not None else None
        kind = fmt.type if fmt is not None else "text"
        if fmt is not None and kind == "text" and fmt.json_schema is not None:
            kind = "json_schema"  # the Chat Completions shape {json_schema: {...}} without a type
        if fmt is not None and kind != "text":
            out["responseMimeType"] = "application/json"
            if kind == "json_schema":
                out["responseJsonSchema"] = _schema_of(fmt)
        thinking = self._thinking()
        if thinking:
            out["thinkingConfig"] = thinking
        if self.details:
            # one setting for the whole request: "high" if any image asks for it
            out["mediaResolution"] = "MEDIA_RESOLUTION_HIGH" if "high" in self.details else "MEDIA_RESOLUTION_LOW"
        return out

    def _thinking(self) -> dict[str, Any] | None:
        reasoning = self.req.reasoning
        if reasoning is None:
            return None
        effort, budget = reasoning.effort, reasoning.max_tokens
        summary = reasoning.summary or reasoning.generate_summary
        config: dict[str, Any] = {}
        if effort is not None and effort not in _BUDGETS:
            raise InvalidRequestError(
                f"Invalid value for 'reasoning.effort': {effort!r} (one of {', '.join(_BUDGETS)}).",
                param="reasoning.effort",
                code="invalid_value",
            )
        if not self.traits.thinks:
            return None  # a hint the model cannot take
        if budget is not None:
            config["thinkingBudget"] = budget
        elif effort is not None:
            if self.traits.thinking_levels:
                level = _LEVELS[effort]
                config["thinkingLevel"] = "LOW" if level == "MINIMAL" and not self.traits.minimal_level else level
            else:
                config["thinkingBudget"] = _BUDGETS[effort]
        disabled = budget == 0 or (budget is None and effort == "none")
        if not disabled and (summary or effort is not None or budget is not None):
            config["includeThoughts"] = True
        return config or None


def _schema_of(fmt: TextFormat) -> dict[str, Any]:
    spec = json_schema(fmt)
    out = response_json_schema(spec.schema)
    if spec.name and "title" not in out:
        out["title"] = spec.name
    if spec.description and "description" not in out:
        out["description"] = spec.description
    return out
