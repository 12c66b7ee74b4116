"""A Gemini ``GenerateContentRequest`` -> the canonical (Responses) request, as a dict to validate.

The inverse of ``providers/gemini/request.py`` (which has the same table the other way round): a
request that comes in by this door and goes out to Gemini again keeps what it said.

======================================  ===========================================================
Gemini                                  Responses
======================================  ===========================================================
the URL's model (``models/`` dropped)   model (an alias, ``provider/model``, a bare name)
``:streamGenerateContent``              stream: true
systemInstruction.parts[].text          instructions (the parts joined by a blank line)
contents[] role user (or function)      input message role ``user`` / function_call_output
contents[] role model                   assistant message / function_call / reasoning
  text                                  input_text (user) / output_text (model)
  text with thought: true               a reasoning item's summary text
  thoughtSignature                      that reasoning item's ``encrypted_content`` (``gemini:``);
                                        on a part that is no thought, an empty reasoning item
                                        before it; one Ferryman wrapped (another provider's
                                        state, see ``response.py``) is unwrapped
  inlineData image/* / other            input_image / input_file with a data: URL (model role:
                                        an image_generation_call)
  fileData image/* / other              input_image image_url / input_file file_url
  functionCall {name, args, id}         function_call (an id made up when it has none)
  functionResponse {name, response, id} function_call_output: ``response.output`` when that is
                                        its only text, else the response as JSON text; without
                                        id, the oldest unanswered call of that name
tools[].functionDeclarations            function tools (``parameters`` converted from Gemini's
                                        Schema, ``parametersJsonSchema`` as is), strict: false
tools[].googleSearch (/Retrieval)       web_search (Gemini: googleSearch again; elsewhere the
                                        provider's own, or refused / dropped per compat)
tools[].codeExecution                   code_interpreter (the same)
toolConfig.functionCallingConfig        tool_choice: AUTO auto, NONE none, ANY required, ANY +
                                        one name {type: function}, + names allowed_tools
                                        (required; AUTO + names: auto), VALIDATED auto
generationConfig.temperature / topP     temperature / top_p
  maxOutputTokens                       max_output_tokens
  responseMimeType application/json     text.format json_object; with responseJsonSchema
                                        (as is) or responseSchema (converted) json_schema
  thinkingConfig.thinkingBudget         reasoning.max_tokens (-1, dynamic: nothing)
  thinkingConfig.thinkingLevel          reasoning.effort (lower-cased)
  thinkingConfig.includeThoughts        reasoning.summary auto
  mediaResolution LOW / HIGH            every image's detail low / high
  candidateCount 1, responseModalities  nothing (anything else: 400)
  [TEXT], topK, seed                    nothing: hints no other provider takes
safetySettings, labels                  nothing (hints)
======================================  ===========================================================

Refused with a 400 naming the field: stopSequences, presence/frequency penalties, logprobs, a
candidateCount above 1, modalities other than TEXT, cachedContent, executableCode /
codeExecutionResult / videoMetadata parts, tools with no Responses counterpart (unless dropped under
``compat.drop_unsupported``: ``HostedTools.unknown``), and any field Ferryman does not know. Those
refusals (``_unsupported``, an unknown name) are ``deferred`` when the door asks: a Gemini target gets the
body as it was sent (``providers/native.py``), so only a target of another type refuses them; the canonical
request is built without them.

Google's JSON takes every field in lowerCamelCase or in the proto's snake_case, and google-genai
sends both (``thinking_budget``, ``mime_type``, ``parameters_json_schema``): ``_get`` reads either.
"""

from __future__ import annotations

import base64
import functools
import re
from collections import defaultdict, deque
from typing import Any

import msgspec

from ferryman.providers.gemini.schema import json_schema_of
from ferryman.providers.native import refuse
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import tag_opaque

TAG = "gemini"
# another provider's reasoning state, handed to a Gemini client as a thoughtSignature (bytes in its
# SDK, so base64): this prefix, then the state; base64 of the prefix starts every such signature
WRAPPED = b"ferryman:"
WRAPPED_B64 = base64.b64encode(WRAPPED).decode()

_FIELDS = frozenset(
    {"model", "contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"}
    | {"cachedContent", "labels"}
)
_GENERATION = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "presencePenalty",
        "frequencyPenalty",
        "seed",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "thinkingConfig",
        "mediaResolution",
        "responseLogprobs",
        "logprobs",
        "speechConfig",
        "imageConfig",
        "audioTimestamp",
        "enableEnhancedCivicAnswers",
        "routingConfig",
        "modelSelectionConfig",
    }
)
_PART = frozenset(
    {"text", "thought", "thoughtSignature", "inlineData", "fileData", "functionCall", "functionResponse"}
    | {"executableCode", "codeExecutionResult", "videoMetadata", "partMetadata", "mediaResolution"}
)
_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto", "MODE_UNSPECIFIED": "auto"}
_LEVELS = {"MINIMAL": "minimal", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_RESOLUTIONS = {"MEDIA_RESOLUTION_LOW": "low", "MEDIA_RESOLUTION_MEDIUM": None, "MEDIA_RESOLUTION_HIGH": "high"}
# Gemini's hosted tools with a Responses counterpart; the others are ``unknown`` (refused or dropped)
_HOSTED: dict[str, dict[str, Any]] = {
    "googleSearch": {"type": "web_search"},
    "googleSearchRetrieval": {"type": "web_search"},
    "codeExecution": {"type": "code_interpreter", "container": {"type": "auto"}},
}
Deferred = list[InvalidRequestError] | None  # where refusals a Gemini target would not make are kept
_UPPER = re.compile(r"([A-Z])")
_URLSAFE = str.maketrans("-_", "+/")


@functools.cache
def _snake(name: str) -> str:
    return _UPPER.sub(r"_\1", name).lower()


def _get(obj: dict[str, Any], name: str) -> Any:
    """A field by its lowerCamelCase name, or its snake_case one (Google's JSON takes both)."""
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _known(obj: dict[str, Any], names: frozenset[str], where: str, deferred: Deferred) -> None:
    for key in obj:
        if key not in names and not ("_" in key and _camel(key) in names):
            refuse(_invalid(f"{where}.{key}" if where else key, f"Unknown name {key!r}."), deferred)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _invalid(param: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid value at '{param}': {why}", param=param, code="invalid_value")


def _unsupported(param: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"'{param}' is not supported by Ferryman's Gemini API: {why}", param=param, code="unsupported_parameter"
    )


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(where, "expected an object.")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(where, "expected a list.")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(where, "expected a string.")
    return value


class HostedTools:
    """Gemini tools the canonical request has no counterpart for, by name: the door refuses them, or
    drops them when the request's compat says so (known only once its exchange is made)."""

    def __init__(self) -> None:
        self.unknown: list[tuple[str, str]] = []  # (param, tool name)


def responses_request(
    body: Any, model: str, *, stream: bool, hosted: HostedTools, deferred: Deferred = None
) -> dict[str, Any]:
    """The Responses request for a GenerateContentRequest ``body`` sent for ``model``; a 400 for what it
    cannot say (added to ``deferred`` instead, when given, if a Gemini target could take it as it is)."""
    body = _obj(body, "body")
    _known(body, _FIELDS, "", deferred)
    if _get(body, "cachedContent"):
        why = "cached contents live in Google's API; send the contents themselves"
        refuse(_unsupported("cachedContent", why), deferred)
    out: dict[str, Any] = {"model": model, "stream": stream, "store": False}
    system = _get(body, "systemInstruction")
    if system is not None:
        texts = [_str(_get(p, "text") or "", f"systemInstruction.parts[{i}].text") for i, p in _parts(system)]
        if any(texts):
            out["instructions"] = "\n\n".join(t for t in texts if t)
    generation = _obj(_get(body, "generationConfig") or {}, "generationConfig")
    detail = _RESOLUTIONS.get(str(_get(generation, "mediaResolution")))
    out["input"] = _Contents(detail, deferred).translate(_list(_get(body, "contents"), "contents"))
    tools = _tools(_list(_get(body, "tools"), "tools"), hosted)
    if tools:
        out["tools"] = tools
    choice = _tool_choice(_obj(_get(body, "toolConfig") or {}, "toolConfig"))
    if choice is not None:
        out["tool_choice"] = choice
    _generation(generation, out, deferred)
    return out


def _parts(content: Any) -> list[tuple[int, dict[str, Any]]]:
    content = _obj(content, "systemInstruction")
    return [(i, _obj(p, f"parts[{i}]")) for i, p in enumerate(_list(_get(content, "parts"), "parts"))]


def opaque_of(signature: str) -> str:
    """A thoughtSignature as a reasoning item's ``encrypted_content``: Gemini's own, tagged, or the state
    of another provider Ferryman wrapped in it (``response.signature_of``)."""
    if signature.startswith(WRAPPED_B64):
        try:
            raw = base64.b64decode(signature.translate(_URLSAFE) + "=" * (-len(signature) % 4))
        except ValueError:
            raw = b""
        if raw.startswith(WRAPPED):
            return raw[len(WRAPPED) :].decode("utf-8", "replace")
    return tag_opaque(TAG, signature)


class _Contents:
    """``contents`` -> input items, in order; calls and their responses paired by id (or by name)."""

    def __init__(self, detail: str | None, deferred: Deferred) -> None:
        self.detail = detail
        self.deferred = deferred
        self.items: list[dict[str, Any]] = []
        self.message: dict[str, Any] | None = None  # the open message (parts are added to it)
        self.reasoning: dict[str, Any] | None = None  # the open reasoning item of a model turn
        self.unanswered: dict[str, deque[str]] = defaultdict(deque)  # name -> call ids, oldest first
        self.made_up = 0

    def translate(self, contents: list[Any]) -> list[dict[str, Any]]:
        for i, content in enumerate(contents):
            where = f"contents[{i}]"
            content = _obj(content, where)
            role = _get(content, "role") or "user"
            if role not in ("user", "model", "function"):
                raise _invalid(f"{where}.role", f"{role!r} is not one of user, model.")
            self.message = self.reasoning = None
            for j, part in enumerate(_list(_get(content, "parts"), f"{where}.parts")):
                at = f"{where}.parts[{j}]"
                part = _obj(part, at)
                _known(part, _PART, at, self.deferred)
                if role == "model":
                    self._model(part, at)
                else:
                    self._user(part, at)
        return self.items

    # ---- user turns -----------------------------------------------------------------------------

    def _user(self, part: dict[str, Any], where: str) -> None:
        response = _get(part, "functionResponse")
        if response is not None:
            self.message = None
            self.items.append(self._output(_obj(response, f"{where}.functionResponse"), f"{where}.functionResponse"))
            return
        native = self._content(part, where, "input_text")
        if native is not None:
            self._add("user", native)

    def _output(self, response: dict[str, Any], where: str) -> dict[str, Any]:
        name = _str(_get(response, "name") or "", f"{where}.name")
        call_id = _get(response, "id")
        waiting = self.unanswered.get(name)
        if isinstance(call_id, str) and call_id:
            if waiting and call_id in waiting:
                waiting.remove(call_id)
        elif waiting:
            call_id = waiting.popleft()
        else:
            raise _invalid(f"{where}.name", f"no functionCall named {name!r} before it to answer.")
        if _get(response, "parts"):
            refuse(_unsupported(f"{where}.parts", "multimodal function responses"), self.deferred)
        value = _get(response, "response")
        value = {} if value is None else _obj(value, f"{where}.response")
        output = value.get("output")
        text = output if len(value) == 1 and isinstance(output, str) else msgspec.json.encode(value).decode()
        return {"type": "function_call_output", "call_id": call_id, "output": text}

    # ---- model turns ----------------------------------------------------------------------------

    def _model(self, part: dict[str, Any], where: str) -> None:
        signature = _get(part, "thoughtSignature")
        if signature is not None:
            signature = _str(signature, f"{where}.thoughtSignature")
        if _get(part, "thought"):
            text = _get(part, "text")
            if self.reasoning is None or self.reasoning.get("encrypted_content"):
                self._open_reasoning()
            assert self.reasoning is not None
            if isinstance(text, str) and text:
                self.reasoning["summary"].append({"type": "summary_text", "text": text})
            if signature:
                self.reasoning["encrypted_content"] = opaque_of(signature)
            return
        if signature:  # the signature of the thinking before this part (or of none shown)
            if self.reasoning is None or self.reasoning.get("encrypted_content"):
                self._open_reasoning()
            assert self.reasoning is not None
            self.reasoning["encrypted_content"] = opaque_of(signature)
        self.reasoning = None
        call = _get(part, "functionCall")
        if call is not None:
            self.message = None
            self.items.append(self._call(_obj(call, f"{where}.functionCall"), f"{where}.functionCall"))
            return
        inline = _get(part, "inlineData")
        if inline is not None:  # an image the model made, replayed
            mime, data = _blob(_obj(inline, f"{where}.inlineData"), f"{where}.inlineData")
            self.message = None
            item: dict[str, Any] = {"type": "image_generation_call", "id": f"ig_{len(self.items)}", "result": data}
            item["status"] = "completed"
            if mime.startswith("image/"):
                item["output_format"] = mime.removeprefix("image/")
            self.items.append(item)
            return
        native = self._content(part, where, "output_text")
        if native is not None:
            self._add("assistant", native)

    def _open_reasoning(self) -> None:
        self.message = None
        self.reasoning = {"type": "reasoning", "summary": []}
        self.items.append(self.reasoning)

    def _call(self, call: dict[str, Any], where: str) -> dict[str, Any]:
        name = _str(_get(call, "name"), f"{where}.name")
        call_id = _get(call, "id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{self.made_up}"
            self.made_up += 1
        self.unanswered[name].append(call_id)
        args = _get(call, "args")
        args = {} if args is None else _obj(args, f"{where}.args")
        arguments = msgspec.json.encode(args).decode()
        return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}

    # ---- content parts --------------------------------------------------------------------------

    def _content(self, part: dict[str, Any], where: str, text_type: str) -> dict[str, Any] | None:
        text = _get(part, "text")
        if text is not None:
            text = _str(text, f"{where}.text")
            return {"type": text_type, "text": text} if text else None
        inline = _get(part, "inlineData")
        if inline is not None:
            mime, data = _blob(_obj(inline, f"{where}.inlineData"), f"{where}.inlineData")
            url = f"data:{mime};base64,{data}"
            if mime.startswith("image/"):
                return self._image(url)
            return {"type": "input_file", "file_data": url}
        file = _get(part, "fileData")
        if file is not None:
            file = _obj(file, f"{where}.fileData")
            uri = _str(_get(file, "fileUri"), f"{where}.fileData.fileUri")
            mime = _get(file, "mimeType")
            if isinstance(mime, str) and mime.startswith("image/"):
                return self._image(uri)
            return {"type": "input_file", "file_url": uri}
        for key in ("executableCode", "codeExecutionResult", "videoMetadata"):
            if _get(part, key) is not None:
                refuse(_unsupported(f"{where}.{key}", "its part has no counterpart outside Gemini"), self.deferred)
                return None
        if _get(part, "functionCall") is not None:
            raise _invalid(f"{where}.functionCall", "a functionCall belongs in a model turn.")
        if _get(part, "functionResponse") is not None:
            raise _invalid(f"{where}.functionResponse", "a functionResponse belongs in a user turn.")
        return None  # an empty part (thoughtSignature alone, partMetadata)

    def _image(self, url: str) -> dict[str, Any]:
        image: dict[str, Any] = {"type": "input_image", "image_url": url}
        if self.detail is not None:
            image["detail"] = self.detail
        return image

    def _add(self, role: str, native: dict[str, Any]) -> None:
        if self.message is None or self.message["role"] != role:
            self.message = {"type": "message", "role": role, "content": []}
            self.items.append(self.message)
        self.message["content"].append(native)


def _blob(blob: dict[str, Any], where: str) -> tuple[str, str]:
    mime = _str(_get(blob, "mimeType"), f"{where}.mimeType")
    data = _str(_get(blob, "data"), f"{where}.data")
    if "-" in data or "_" in data:  # URL-safe base64 (some SDKs send it): the standard alphabet for every provider
        data = data.translate(_URLSAFE)
    return mime, data


# ---- tools ----------------------------------------------------------------------------------------


def _tools(tools: list[Any], hosted: HostedTools) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        for key, value in _obj(tool, where).items():
            name = _camel(key)
            if name == "functionDeclarations":
                for j, decl in enumerate(_list(value, f"{where}.{key}")):
                    out.append(_function(_obj(decl, f"{where}.{key}[{j}]"), f"{where}.{key}[{j}]"))
            elif name in _HOSTED:
                out.append(dict(_HOSTED[name]))
            else:
                hosted.unknown.append((f"{where}.{key}", name))
    return out


def _function(decl: dict[str, Any], where: str) -> dict[str, Any]:
    name = _str(_get(decl, "name"), f"{where}.name")
    tool: dict[str, Any] = {"type": "function", "name": name, "strict": False}
    description = _get(decl, "description")
    if isinstance(description, str) and description:
        tool["description"] = description
    schema = _get(decl, "parametersJsonSchema")
    if schema is not None:
        tool["parameters"] = _obj(schema, f"{where}.parametersJsonSchema")
    elif _get(decl, "parameters") is not None:
        tool["parameters"] = json_schema_of(_obj(_get(decl, "parameters"), f"{where}.parameters"))
    else:
        tool["parameters"] = {"type": "object", "properties": {}}
    return tool


def _tool_choice(config: dict[str, Any]) -> str | dict[str, Any] | None:
    calling = _get(config, "functionCallingConfig")
    if calling is None:
        return None
    calling = _obj(calling, "toolConfig.functionCallingConfig")
    mode = str(_get(calling, "mode") or "AUTO")
    choice = _MODES.get(mode)
    if choice is None:
        raise _invalid("toolConfig.functionCallingConfig.mode", f"{mode!r} is not one of {', '.join(_MODES)}.")
    names = [
        _str(n, f"toolConfig.functionCallingConfig.allowedFunctionNames[{i}]")
        for i, n in enumerate(_list(_get(calling, "allowedFunctionNames"), "allowedFunctionNames"))
    ]
    if not names or choice == "none":
        return choice
    if choice == "required" and len(names) == 1:
        return {"type": "function", "name": names[0]}
    return {"type": "allowed_tools", "mode": choice, "tools": [{"type": "function", "name": n} for n in names]}


# ---- generation config ----------------------------------------------------------------------------


def _generation(config: dict[str, Any], out: dict[str, Any], deferred: Deferred) -> None:
    _known(config, _GENERATION, "generationConfig", deferred)
    where = "generationConfig"
    for key in ("stopSequences", "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs"):
        if _get(config, key):
            refuse(_unsupported(f"{where}.{key}", "the canonical request has no such field"), deferred)
    for key in ("speechConfig", "imageConfig", "audioTimestamp", "enableEnhancedCivicAnswers", "routingConfig"):
        if _get(config, key) is not None:
            refuse(_unsupported(f"{where}.{key}", "only text generation is served"), deferred)
    count = _get(config, "candidateCount")
    if count not in (None, 1):
        refuse(_unsupported(f"{where}.candidateCount", "one candidate per request"), deferred)
    for i, modality in enumerate(_list(_get(config, "responseModalities"), f"{where}.responseModalities")):
        if modality != "TEXT":
            refuse(_unsupported(f"{where}.responseModalities[{i}]", "only TEXT is served"), deferred)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("max_output_tokens", "maxOutputTokens")):
        value = _get(config, theirs)
        if value is not None:
            out[ours] = value
    _format(config, out, deferred)
    thinking = _get(config, "thinkingConfig")
    if thinking is not None:
        reasoning = _reasoning(_obj(thinking, f"{where}.thinkingConfig"))
        if reasoning:
            out["reasoning"] = reasoning


def _format(config: dict[str, Any], out: dict[str, Any], deferred: Deferred) -> None:
    mime = _get(config, "responseMimeType")
    schema = _get(config, "responseJsonSchema")
    if schema is None and _get(config, "responseSchema") is not None:
        schema = json_schema_of(_obj(_get(config, "responseSchema"), "generationConfig.responseSchema"))
    if mime in (None, "text/plain") and schema is None:
        return
    if mime not in (None, "application/json"):
        why = f"{mime!r} (text/plain or application/json)"
        refuse(_unsupported("generationConfig.responseMimeType", why), deferred)
        return
    if schema is None:
        out["text"] = {"format": {"type": "json_object"}}
        return
    schema = _obj(schema, "generationConfig.responseJsonSchema")
    name = schema.get("title")
    fmt = {"type": "json_schema", "name": name if isinstance(name, str) and name else "response", "schema": schema}
    out["text"] = {"format": {**fmt, "strict": False}}


def _reasoning(thinking: dict[str, Any]) -> dict[str, Any]:
    reasoning: dict[str, Any] = {}
    budget = _get(thinking, "thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 0:
        reasoning["max_tokens"] = budget
    elif budget is not None and budget != -1:
        raise _invalid("generationConfig.thinkingConfig.thinkingBudget", "expected a token count, or -1 (dynamic).")
    level = _get(thinking, "thinkingLevel")
    if level is not None and level != "THINKING_LEVEL_UNSPECIFIED":
        effort = _LEVELS.get(str(level))
        if effort is None:
            why = f"{level!r} is not one of {', '.join(_LEVELS)}."
            raise _invalid("generationConfig.thinkingConfig.thinkingLevel", why)
        reasoning["effort"] = effort
    if _get(thinking, "includeThoughts"):
        reasoning["summary"] = "auto"
    return reasoning
