"""The Responses API request as Ferryman accepts it.

The body is decoded once into a plain dict (kept for the passthrough fast path, so fields Ferryman
does not know still reach a provider that does) and validated once into ``ResponsesRequest``, whose
errors name the offending field as OpenAI does (``param: "tools[0].name"``). The structs themselves are in
``responses_shape.py`` (this module is compiled with the hot path; they stay as msgspec reads them), and
are named from here as well.

Gateway-only extensions of the request (``fallbacks``, ``reasoning.max_tokens``,
``tools[].cache_control``, the nested ``text.format.json_schema`` shape) are accepted here and
removed or flattened by ``native_openai_body`` before a body goes to an OpenAI-native server.
``stop`` (stop sequences) and ``top_k`` are extensions the translating adapters map (the Anthropic
door's ``stop_sequences`` and ``top_k``); the Responses API has neither, so an OpenAI-native target
refuses them (``refused_openai_extensions``) or, under ``compat.drop_unsupported``, leaves them out.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, TypeVar

import msgspec

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import check_input
from ferryman.schemas.responses_shape import CacheControl as CacheControl
from ferryman.schemas.responses_shape import ConversationRef as ConversationRef
from ferryman.schemas.responses_shape import JsonSchemaFormat as JsonSchemaFormat
from ferryman.schemas.responses_shape import Reasoning as Reasoning
from ferryman.schemas.responses_shape import ResponsesRequest as ResponsesRequest
from ferryman.schemas.responses_shape import TextConfig as TextConfig
from ferryman.schemas.responses_shape import TextFormat as TextFormat
from ferryman.schemas.responses_shape import Tool as Tool

# a model name: printable and bounded (it is echoed in headers and logs, and may become part of a URL)
MAX_MODEL_CHARS = 256
_MODEL_NAME = re.compile(rf"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{{1,{MAX_MODEL_CHARS}}}")
# how deep a request body's JSON may nest (objects and arrays); deeper is a 400, never a RecursionError
MAX_JSON_DEPTH = 64


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\.\.\.\]")


def _param_from_path(path: str) -> str | None:
    """msgspec's ``$.tools[0].name`` -> OpenAI's ``tools[0].name``."""
    out = ""
    for m in _PATH_PART.finditer(path):
        if m.group(1) is not None:
            out += ("." if out else "") + m.group(1)
        elif m.group(2) is not None:
            out += f"[{m.group(2)}]"
    return out or None


_AT = re.compile(r" - at `(\$[^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]+)`")


def validate_request(body: bytes) -> tuple[dict[str, Any], ResponsesRequest]:
    """Decode and validate a request body; raise InvalidRequestError naming the bad field.

    Everything Ferryman itself reads is checked here, before any upstream call, whatever the target:
    the fields (types and ranges), the input items' shape (``check_input``), the names of the function,
    custom and namespace tools (and a namespace's members), and how deep the JSON nests."""
    return validate_dict(decode_json(body))


def validate_dict(raw: Any) -> tuple[dict[str, Any], ResponsesRequest]:
    """``validate_request`` on a decoded body (a door that speaks another API builds this dict)."""
    if not isinstance(raw, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return raw, check_request(raw)


def check_request(raw: dict[str, Any]) -> ResponsesRequest:
    """A decoded Responses request (from the body, or built by another door from its own) validated as
    ``validate_request`` validates a body."""
    req = convert_request(raw, ResponsesRequest)
    if req.conversation is not None and req.previous_response_id is not None:
        raise InvalidRequestError(
            "Mutually exclusive parameters. Ensure you are only providing one of: 'previous_response_id' or "
            "'conversation'.",
            code="mutually_exclusive_parameters",
        )
    check_input(req.input)
    if req.tools:
        _check_tools(raw["tools"])
    return req


class Routed(Protocol):
    """What every model request names: its model and its fallbacks."""

    model: str
    fallbacks: list[str] | None


R = TypeVar("R", bound=Routed)


def decode_request(body: bytes, kind: type[R]) -> tuple[dict[str, Any], R]:
    """A body decoded as a JSON object and converted to ``kind`` (``convert_request``); what the request is
    besides is its door's to check."""
    raw = decode_json(body)
    if not isinstance(raw, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return raw, convert_request(raw, kind)


def convert_request(raw: dict[str, Any], kind: type[R]) -> R:
    """A decoded request converted to ``kind``, its model names checked (a 400 naming the bad field otherwise)."""
    try:
        req = msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise validation_error(str(exc)) from None
    check_model(req.model, "model")
    for i, name in enumerate(req.fallbacks or ()):
        check_model(name, f"fallbacks[{i}]")
    return req


def decode_json(body: bytes) -> Any:
    """A body as JSON, nesting at most ``MAX_JSON_DEPTH`` deep (a 400 otherwise)."""
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise _too_deep() from None
    # a body with fewer bytes, or fewer brackets, than the limit cannot nest deeper: most bodies stop at a count
    if (
        len(body) > MAX_JSON_DEPTH
        and body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
        and _deeper_than(raw, MAX_JSON_DEPTH)
    ):
        raise _too_deep()
    return raw


def _too_deep() -> InvalidRequestError:
    return InvalidRequestError(f"The request body nests deeper than {MAX_JSON_DEPTH} levels.", code="invalid_json")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep (iteratively: no recursion)."""
    level: list[Any] = [value]
    for _ in range(limit):
        below: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                below.extend(x for x in v.values() if isinstance(x, dict | list))
            elif isinstance(v, list):
                below.extend(x for x in v if isinstance(x, dict | list))
        if not below:
            return False
        level = below
    return True


def check_model(name: str, param: str) -> None:
    if _MODEL_NAME.fullmatch(name) is None:
        raise InvalidRequestError(
            f"Invalid value for '{param}': a model name is 1 to {MAX_MODEL_CHARS} printable characters "
            "(no control characters).",
            param=param,
            code="invalid_value",
        )


def _check_tools(tools: list[dict[str, Any]]) -> None:
    """Function and custom tools need a name; a namespace tool a name and a list of named function or
    custom tools (what Ferryman reads to offer them to a provider and to map its calls back)."""
    for i, tool in enumerate(tools):
        kind = tool.get("type")
        if kind in ("function", "custom", "namespace"):
            _name(tool, f"tools[{i}]")
        if kind == "namespace":
            members = tool.get("tools")
            if not isinstance(members, list):
                raise _missing(f"tools[{i}].tools") if members is None else _invalid(f"tools[{i}].tools", "a list")
            for j, member in enumerate(members):
                where = f"tools[{i}].tools[{j}]"
                if not isinstance(member, dict) or not isinstance(member.get("type"), str):
                    raise _invalid(where, "an object with a 'type'")
                if member["type"] in ("function", "custom"):
                    _name(member, where)


def _name(tool: dict[str, Any], where: str) -> None:
    name = tool.get("name")
    if not name:
        raise _missing(f"{where}.name")
    if not isinstance(name, str):
        raise _invalid(f"{where}.name", "a string")


def _missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid(param: str, expected: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid value for '{param}': expected {expected}.", param=param, code="invalid_value")


def validation_error(text: str) -> InvalidRequestError:
    at = _AT.search(text)
    path = at.group(1) if at else "$"
    message = text[: at.start()] if at else text
    param = _param_from_path(path)
    missing = _MISSING.search(message)
    if missing:
        name = missing.group(1)
        param = f"{param}.{name}" if param else name
        return InvalidRequestError(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    where = f"'{param}'" if param else "the request body"
    return InvalidRequestError(f"Invalid value for {where}: {message}.", param=param, code="invalid_value")


OPENAI_MISSING = ("stop", "top_k")  # extensions the Responses API has no field for


def stop_sequences(stop: str | list[str] | None) -> list[str] | None:
    """``stop`` as a list of sequences (None when there are none)."""
    if not stop:
        return None
    return [stop] if isinstance(stop, str) else stop


def native_openai_body(raw: dict[str, Any], model: str) -> dict[str, Any]:
    """The body an OpenAI-native Responses server gets: model swapped, gateway extensions removed.

    Mutates and returns ``raw``; only touches what is present, so the common case costs a few
    dict look-ups.
    """
    raw["model"] = model
    raw.pop("fallbacks", None)
    reasoning = raw.get("reasoning")
    if isinstance(reasoning, dict) and "max_tokens" in reasoning:
        reasoning = dict(reasoning)
        reasoning.pop("max_tokens")
        raw["reasoning"] = reasoning
    tools = raw.get("tools")
    if tools and any(isinstance(t, dict) and "cache_control" in t for t in tools):
        raw["tools"] = [
            {k: v for k, v in t.items() if k != "cache_control"} if isinstance(t, dict) else t for t in tools
        ]
    text = raw.get("text")
    if isinstance(text, dict):
        fmt = text.get("format")
        if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
            raw["text"] = {**text, "format": flatten_text_format(fmt)}
    return raw


def flatten_text_format(fmt: dict[str, Any]) -> dict[str, Any]:
    """Chat-Completions style ``{type, json_schema: {name, schema, strict}}`` -> Responses style."""
    nested = fmt["json_schema"]
    flat = {k: v for k, v in fmt.items() if k != "json_schema"}
    if flat.get("type", "text") == "text":
        flat["type"] = "json_schema"
    for key in ("name", "schema", "strict", "description"):
        if key in nested and key not in flat:
            flat[key] = nested[key]
    return flat
