"""Chat Completions request -> the canonical (Responses) request, for every provider.

The Chat Completions door's body is turned into the Responses request the pipeline runs on, then
validated as a Responses body is (``check_request``); the Chat Completions adapter
(``providers/openai_chat/request.py``) maps the same fields the other way, so its table read
backwards is this one:

=======================================  ==========================================================
Chat Completions                         Responses
=======================================  ==========================================================
messages system / developer              ``{"type": "message", "role": ...}`` with input_text parts
messages user: text, image_url,          input_text, input_image (http(s) or data: URL, ``detail``),
  input_audio, file                      ``input_audio`` (the providers that take audio), input_file
messages assistant: content, refusal     an assistant message (output_text / refusal parts)
  tool_calls (function / custom)         function_call / custom_tool_call items
messages tool                            function_call_output (custom_tool_call_output for a call of a
                                         custom tool)
tools function / custom                  function / custom tools (a grammar format flattened)
tool_choice (+ allowed_tools)            the same, names unwrapped
web_search_options                       a ``web_search`` tool
response_format text / json_object /     ``text.format`` (json_schema's fields flattened)
  json_schema
reasoning_effort; verbosity              ``reasoning.effort``; ``text.verbosity``
max_completion_tokens (or max_tokens)    ``max_output_tokens``
logprobs + top_logprobs                  ``top_logprobs`` (and ``include`` of the output's logprobs)
temperature, top_p, parallel_tool_calls, the same
user, metadata, service_tier,
prompt_cache_key, safety_identifier,
fallbacks
stop, seed, frequency_penalty,           kept as they are: Ferryman's request extensions, which the
presence_penalty                         adapters map where their provider has them
stream, stream_options                   ``stream``; ``include_usage`` is the door's own
store                                    ``store: false`` (Chat Completions' ``store`` is OpenAI's
                                         own log, not the gateway's response store)
=======================================  ==========================================================

What has no canonical form (``n`` above 1, ``audio`` output, ``logit_bias``, ``prediction``, the
legacy ``functions``, and fields this door does not know) is collected as ``untranslated``: refused with
a 400 naming it, unless the request goes to a provider that speaks Chat Completions itself and gets the
body as it was sent (the fast path).
"""

from __future__ import annotations

from typing import Any

from ferryman.schemas.errors import InvalidRequestError

ROLES = ("system", "developer", "user", "assistant", "tool")
_PLAIN_ROLES = frozenset(("system", "developer", "user"))  # whose string content is one input_text part
# fields copied to the Responses request under the same name
SAME = (
    "model",
    "stream",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "fallbacks",
    # Ferryman's request extensions (see the adapters' tables)
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
)
_SAME = frozenset(SAME)
# fields read here (or the door's own), and those that change nothing when left at their default
READ = frozenset(
    {
        *SAME,
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "verbosity",
        "max_tokens",
        "max_completion_tokens",
        "logprobs",
        "top_logprobs",
        "stream_options",
        "web_search_options",
        "store",
        "n",
        "modalities",
    }
)
LOGPROBS = "message.output_text.logprobs"


def invalid(param: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid value for '{param}': {message}.", param=param, code="invalid_value")


def missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def untranslated(body: dict[str, Any]) -> list[str]:
    """The fields of a Chat Completions body that have no canonical form (only a provider speaking Chat
    Completions itself can take them, as they were sent)."""
    out = [key for key in body if key not in READ and body[key] is not None]
    n = body.get("n")
    if n is not None and n != 1:
        out.append("n")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        out.append("modalities")
    return out


def responses_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Responses request for a Chat Completions body (checked on the way; see the table above)."""
    out: dict[str, Any] = {key: value for key, value in body.items() if key in _SAME and value is not None}
    stop = out.get("stop")
    strings = isinstance(stop, list) and all(isinstance(x, str) for x in stop)
    if stop is not None and not (isinstance(stop, str) or strings):
        raise invalid("stop", "expected a string or an array of strings")
    out["store"] = False
    out["input"] = _messages(body.get("messages"))
    tools = body.get("tools")
    if tools is not None:
        out["tools"] = _tools(tools)
    search = body.get("web_search_options")
    if search is not None:
        out.setdefault("tools", []).append(_web_search(search))
    choice = body.get("tool_choice")
    if choice is not None:
        out["tool_choice"] = _tool_choice(choice)
    text: dict[str, Any] = {}
    fmt = body.get("response_format")
    if fmt is not None:
        converted = _format(fmt)
        if converted is not None:
            text["format"] = converted
    if body.get("verbosity") is not None:
        text["verbosity"] = body["verbosity"]
    if text:
        out["text"] = text
    if body.get("reasoning_effort") is not None:
        out["reasoning"] = {"effort": body["reasoning_effort"]}
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    if cap is not None:
        out["max_output_tokens"] = cap
    top = body.get("top_logprobs")
    if body.get("logprobs"):
        out["top_logprobs"] = 0 if top is None else top
        out["include"] = [LOGPROBS]
    elif top is not None:
        raise invalid("top_logprobs", "it needs 'logprobs' set to true")
    return out


# ---- messages -----------------------------------------------------------------------------------


def _messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise missing("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "expected a non-empty array of messages")
    items: list[dict[str, Any]] = []
    custom_calls: set[str] = set()  # call ids of custom tool calls: their results are custom outputs
    for i, message in enumerate(messages):
        if type(message) is dict:  # the usual message, a string from the user, system or developer: no place named
            role, content = message.get("role"), message.get("content")
            if type(content) is str and type(role) is str and role in _PLAIN_ROLES:
                items.append({"type": "message", "role": role, "content": [{"type": "input_text", "text": content}]})
                continue
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, "expected an object")
        role = message.get("role")
        if role not in ROLES:
            if role is None:
                raise missing(f"{where}.role")
            raise invalid(f"{where}.role", f"expected one of {list(ROLES)}, got {role!r}")
        if role in ("system", "developer"):
            items.append({"type": "message", "role": role, "content": _texts(message.get("content"), where)})
        elif role == "user":
            items.append({"type": "message", "role": "user", "content": _user_content(message.get("content"), where)})
        elif role == "assistant":
            items.extend(_assistant(message, where, custom_calls))
        else:
            items.append(_tool_result(message, where, custom_calls))
    return items


def _texts(content: Any, where: str, part: str = "input_text") -> list[dict[str, Any]]:
    """Content that may only be text: a string, or text parts."""
    if isinstance(content, str):
        return [{"type": part, "text": content}]
    if content is None:
        raise missing(f"{where}.content")
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "expected a string or an array of text parts")
    out = []
    for j, p in enumerate(content):
        if not isinstance(p, dict) or p.get("type") != "text" or not isinstance(p.get("text"), str):
            raise invalid(f"{where}.content[{j}]", "expected a text part ({'type': 'text', 'text': ...})")
        out.append({"type": part, "text": p["text"]})
    return out


def _user_content(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if content is None:
        raise missing(f"{where}.content")
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "expected a string or an array of content parts")
    return [_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise missing(f"{where}.text")
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            raise missing(f"{where}.image_url.url")
        out: dict[str, Any] = {"type": "input_image", "image_url": url}
        if isinstance(image, dict) and image.get("detail") is not None:
            out["detail"] = image["detail"]
        return out
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise missing(f"{where}.input_audio.data")
        return {"type": "input_audio", "input_audio": audio}
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            raise missing(f"{where}.file")
        kept = {k: file[k] for k in ("file_data", "file_id", "filename") if file.get(k) is not None}
        if "file_data" not in kept and "file_id" not in kept:
            raise missing(f"{where}.file.file_data")
        return {"type": "input_file", **kept}
    shown = kind if isinstance(kind, str) else type(part).__name__
    raise invalid(f"{where}.type", f"expected 'text', 'image_url', 'input_audio' or 'file', got {shown!r}")


def _assistant(message: dict[str, Any], where: str, custom_calls: set[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    content = message.get("content")
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        if content:
            parts.append({"type": "output_text", "text": content})
    elif isinstance(content, list):
        for j, p in enumerate(content):
            kind = p.get("type") if isinstance(p, dict) else None
            if kind == "text" and isinstance(p.get("text"), str):
                parts.append({"type": "output_text", "text": p["text"]})
            elif kind == "refusal" and isinstance(p.get("refusal"), str):
                parts.append({"type": "refusal", "refusal": p["refusal"]})
            else:
                raise invalid(f"{where}.content[{j}]", "expected a text or refusal part")
    elif content is not None:
        raise invalid(f"{where}.content", "expected a string, an array of parts or null")
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    calls = message.get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise invalid(f"{where}.tool_calls", "expected an array")
    for k, call in enumerate(calls or ()):
        items.append(_tool_call(call, f"{where}.tool_calls[{k}]", custom_calls))
    if not items and content is None and calls is None:
        raise missing(f"{where}.content")
    return items


def _tool_call(call: Any, where: str, custom_calls: set[str]) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise invalid(where, "expected an object")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise missing(f"{where}.id")
    kind = call.get("type", "function")
    if kind == "custom":
        custom = call.get("custom")
        if not isinstance(custom, dict) or not isinstance(custom.get("name"), str):
            raise missing(f"{where}.custom.name")
        custom_calls.add(call_id)
        name, text = custom["name"], custom.get("input") or ""
        return {"type": "custom_tool_call", "call_id": call_id, "name": name, "input": text}
    fn = call.get("function")
    if kind != "function":
        raise invalid(f"{where}.type", f"expected 'function' or 'custom', got {kind!r}")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise missing(f"{where}.function.name")
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        raise invalid(f"{where}.function.arguments", "expected a string of JSON")
    return {"type": "function_call", "call_id": call_id, "name": fn["name"], "arguments": arguments}


def _tool_result(message: dict[str, Any], where: str, custom_calls: set[str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise missing(f"{where}.tool_call_id")
    content = message.get("content")
    output: str | list[dict[str, Any]] = content if isinstance(content, str) else _texts(content, where)
    kind = "custom_tool_call_output" if call_id in custom_calls else "function_call_output"
    return {"type": kind, "call_id": call_id, "output": output}


# ---- tools and formats --------------------------------------------------------------------------


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid("tools", "expected an array")
    out = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in ("function", "custom"):
            raise invalid(f"{where}.type", f"expected 'function' or 'custom', got {kind!r}")
        spec = tool.get(kind)
        if not isinstance(spec, dict):
            raise missing(f"{where}.{kind}")
        if not isinstance(spec.get("name"), str) or not spec["name"]:
            raise missing(f"{where}.{kind}.name")
        keys = ("name", "description", "parameters", "strict") if kind == "function" else ("name", "description")
        entry = {"type": kind, **{k: spec[k] for k in keys if spec.get(k) is not None}}
        fmt = spec.get("format")
        if kind == "custom" and isinstance(fmt, dict):
            grammar = fmt.get("grammar")  # {type: grammar, grammar: {definition, syntax}} -> flat
            entry["format"] = {"type": "grammar", **grammar} if isinstance(grammar, dict) else fmt
        out.append(entry)
    return out


def _web_search(options: Any) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise invalid("web_search_options", "expected an object")
    tool: dict[str, Any] = {"type": "web_search"}
    if options.get("search_context_size") is not None:
        tool["search_context_size"] = options["search_context_size"]
    location = options.get("user_location")
    if isinstance(location, dict) and isinstance(location.get("approximate"), dict):
        tool["user_location"] = {"type": "approximate", **location["approximate"]}
    return tool


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("function", "custom"):
        named = choice.get(kind)
        if not isinstance(named, dict) or not isinstance(named.get("name"), str):
            raise missing(f"tool_choice.{kind}.name")
        return {"type": kind, "name": named["name"]}
    if kind == "allowed_tools":
        allowed = choice.get("allowed_tools")
        if not isinstance(allowed, dict) or not isinstance(allowed.get("tools"), list):
            raise missing("tool_choice.allowed_tools.tools")
        tools = [
            {"type": t.get("type"), "name": (t.get(t.get("type")) or {}).get("name")}
            for t in allowed["tools"]
            if isinstance(t, dict)
        ]
        return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"), "tools": tools}
    raise invalid("tool_choice", "expected 'none', 'auto', 'required' or a named tool")


def _format(fmt: Any) -> dict[str, Any] | None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise missing("response_format.json_schema")
        if not isinstance(spec.get("name"), str):
            raise missing("response_format.json_schema.name")
        return {"type": "json_schema", **spec}
    raise invalid("response_format.type", f"expected 'text', 'json_object' or 'json_schema', got {kind!r}")
