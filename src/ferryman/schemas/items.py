"""Responses input items in one canonical, typed form, for adapters that translate them.

``input`` may be a string, or a list mixing "easy" messages (``{"role", "content"}`` with string
content), full message items, function and custom tool calls and their outputs, reasoning items and item
references.
``input_items`` turns it into the typed items of ``schemas/input.py`` (a string or an easy message
becomes an ``InputMessage`` with a list of parts), checking it on the way: a bad value is a 400 whose
``param`` names its place (``input[3].role``). Items of other types stay the dicts the client sent;
adapters that cannot represent an item report it with ``param`` pointing at it (``input[3]``).
Translating adapters call it once per request (and the response cache, to key on the input); the
passthrough forwards ``input`` untouched, and the gateway adds to it undecoded (``input_list``).

Reasoning items carry provider-specific opaque state in ``encrypted_content``. Adapters that produce
it prefix it with their tag (``"anthropic:<signature>"``) via ``tag_opaque``; ``opaque_for`` gives an
adapter its own state back and None for another provider's, which it must then leave out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import (
    AssistantRefusal,
    AssistantText,
    CustomToolCallOutput,
    FunctionCallOutput,
    InputCustomToolCall,
    InputFile,
    InputFunctionCall,
    InputImage,
    InputItem,
    InputMessage,
    InputPart,
    InputReasoning,
    InputText,
    ItemReference,
)
from ferryman.schemas.output import ReasoningText, SummaryText

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
# the type names OpenAI has given its hosted web search tool
WEB_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
# text-like part types taken as text in a message (the Chat Completions "text" and reasoning parts too)
TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})

_encode = msgspec.json.encode


def input_list(input_: Any) -> list[dict[str, Any]]:
    """``input`` as a list of item dicts as sent, its easy messages (a string, string content) in the
    full message form; nothing else decoded: for code that adds items to a request that may go on to
    an OpenAI-native provider untouched. Total: it never raises, whatever ``input`` holds (what is not
    an item is left out), so the store path after a paid answer cannot fail on it."""
    if isinstance(input_, str):
        return [_easy({"role": "user"}, input_)]
    if not isinstance(input_, list):
        return []
    return [_easy(item, item["content"]) if _is_easy(item) else item for item in input_ if isinstance(item, dict)]


def _is_easy(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("content"), str) and item.get("type", "message") == "message"


def _easy(item: dict[str, Any], text: str) -> dict[str, Any]:
    """A message with string content, its content as the one text part it stands for."""
    part = "output_text" if item.get("role") == "assistant" else "input_text"
    return {**item, "type": "message", "content": [{"type": part, "text": text}]}


def check_input(input_: str | list[Any] | None, param: str = "input") -> None:
    """Check ``input`` at the door, before any upstream call, whatever the target: every item and part
    has the shape ``input_items`` needs and a string where Ferryman reads one (a 400 naming the place
    otherwise). Nothing is built: a request to an OpenAI-native provider still decodes no item. ``param``
    names the list in errors (a conversation's ``items``)."""
    if not isinstance(input_, list):
        return
    for i, item in enumerate(input_):
        if not _plain_message(item):
            _check_item(item, f"{param}[{i}]")


def _plain_message(item: Any) -> bool:
    """Whether ``item`` is a message of text parts (or of a string) that ``_check_item`` accepts, told without
    naming its place: most items are, and naming each item's and part's place cost more than checking them."""
    if type(item) is not dict or item.get("type", "message") not in _MESSAGE:
        return False
    role = item.get("role")
    if type(role) is not str or role not in MESSAGE_ROLES or not isinstance(item.get("id", ""), str):
        return False
    content = item.get("content")
    if type(content) is str:
        return True
    if type(content) is not list:
        return False
    for part in content:
        if type(part) is not dict or type(part.get("text")) is not str or part.get("cache_control") is not None:
            return False
        kind = part.get("type")
        if type(kind) is not str or kind not in TEXT_PARTS:
            return False
    return True


_MESSAGE = ("message", None)  # (a left-out or null type is a message)


def _check_item(item: Any, where: str) -> None:
    """One input item checked, with its place (``where``) named in a 400."""
    kind = _kind(item, where)
    if not isinstance(item.get("id", ""), str):
        raise invalid(f"{where}.id", "expected a string")
    if kind == "message":
        _role(item, where)
        content = item.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                _check_part(part, f"{where}.content[{j}]")
        elif not isinstance(content, str):
            raise invalid(f"{where}.content", "expected a string or a list of content parts")
    elif kind in _REQUIRED:
        for key in _REQUIRED[kind]:
            _required(item, key, where)
        output = item.get("output")
        if kind in ("function_call_output", "custom_tool_call_output") and isinstance(output, list):
            for j, part in enumerate(output):
                _check_part(part, f"{where}.output[{j}]")
    elif kind == "reasoning":
        _texts(item.get("summary"), f"{where}.summary")
        _texts(item.get("content"), f"{where}.content")


# the string fields an item of each type must carry
_REQUIRED = {
    "function_call": ("call_id", "name"),
    "function_call_output": ("call_id",),
    "custom_tool_call": ("call_id", "name"),
    "custom_tool_call_output": ("call_id",),
    "item_reference": ("id",),
}


def _kind(item: Any, where: str) -> str:
    """An item's type (``message`` when left out, as for an easy message)."""
    if not isinstance(item, dict):
        raise invalid(where, "expected an object")
    kind = item.get("type", "message")
    if kind is None:
        return "message"
    if not isinstance(kind, str):
        raise invalid(f"{where}.type", "expected a string")
    return kind


def _role(item: dict[str, Any], where: str) -> str:
    role = item.get("role")
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        shown = role if isinstance(role, str) else type(role).__name__
        raise invalid(f"{where}.role", f"expected one of {sorted(MESSAGE_ROLES)}, got {shown!r}")
    return role


def input_items(input_: str | list[Any] | None) -> list[InputItem]:
    if input_ is None:
        return []
    if isinstance(input_, str):
        return [InputMessage(role="user", content=[InputText(text=input_)])]
    return [_item(item, f"input[{i}]") for i, item in enumerate(input_)]


def _item(given: Any, where: str) -> InputItem:
    kind = _kind(given, where)
    item: dict[str, Any] = given
    if kind == "message":
        return _message(item, where)
    if kind == "function_call":
        return InputFunctionCall(
            call_id=_required(item, "call_id", where),
            name=_required(item, "name", where),
            arguments=_arguments(item.get("arguments")),
            namespace=_str(item.get("namespace")),
            id=_str(item.get("id")),
            status=_str(item.get("status")),
            cache_control=_cache_control(item, where),
        )
    if kind == "function_call_output":
        return FunctionCallOutput(
            call_id=_required(item, "call_id", where),
            output=_output(item.get("output"), f"{where}.output"),
            id=_str(item.get("id")),
            status=_str(item.get("status")),
            cache_control=_cache_control(item, where),
        )
    if kind == "custom_tool_call":
        return InputCustomToolCall(
            call_id=_required(item, "call_id", where),
            name=_required(item, "name", where),
            input=_str(item.get("input")) or "",
            namespace=_str(item.get("namespace")),
            id=_str(item.get("id")),
            status=_str(item.get("status")),
        )
    if kind == "custom_tool_call_output":
        output = _output(item.get("output"), f"{where}.output")
        return CustomToolCallOutput(
            call_id=_required(item, "call_id", where),
            output=output if not isinstance(output, dict) else _encode(output).decode(),
            id=_str(item.get("id")),
            status=_str(item.get("status")),
        )
    if kind == "reasoning":
        content = item.get("content")
        return InputReasoning(
            summary=[SummaryText(text=t) for t in _texts(item.get("summary"), f"{where}.summary")],
            content=None if content is None else [ReasoningText(text=t) for t in _texts(content, f"{where}.content")],
            encrypted_content=_str(item.get("encrypted_content")),
            id=_str(item.get("id")),
            status=_str(item.get("status")),
        )
    if kind == "item_reference":
        return ItemReference(id=_required(item, "id", where))
    return item  # an item Ferryman does not translate, as sent


def _message(item: dict[str, Any], where: str) -> InputMessage:
    role = _role(item, where)
    assistant = role == "assistant"
    content = item.get("content")
    at = f"{where}.content"
    if isinstance(content, str):
        parts: list[InputPart] = [AssistantText(text=content) if assistant else InputText(text=content)]
    elif isinstance(content, list):
        parts = [_part(part, f"{at}[{j}]", assistant) for j, part in enumerate(content)]
    else:
        raise invalid(at, "expected a string or a list of content parts")
    return InputMessage(role=role, content=parts, id=_str(item.get("id")), status=_str(item.get("status")))


def _check_part(given: Any, where: str) -> tuple[dict[str, Any], str]:
    """A content part and its type, checked: a string type, a string text, a well-formed cache mark."""
    part: dict[str, Any] = given if isinstance(given, dict) else {}
    kind = part.get("type")
    if not isinstance(kind, str):
        raise invalid(where, "a content part needs a 'type'")
    _cache_control(part, where)
    if kind in TEXT_PARTS:
        _text(part, "text", where)
    elif kind == "refusal":
        _text(part, "refusal", where)
    return part, kind


def _part(given: Any, where: str, assistant: bool = False) -> InputPart:
    """A content part; a text-like part of another name (``text``, ``summary_text``) is the role's text."""
    part, kind = _check_part(given, where)
    cache = part.get("cache_control")
    if kind in TEXT_PARTS:
        text = part.get("text") or ""
        if kind == "output_text" or (assistant and kind != "input_text"):
            return AssistantText(
                text=text,
                annotations=_list(part.get("annotations")),
                logprobs=_list(part.get("logprobs")),
                cache_control=cache,
            )
        return InputText(text=text, cache_control=cache)
    if kind == "refusal":
        return AssistantRefusal(refusal=part.get("refusal") or "", cache_control=cache)
    if kind == "input_image":
        url = part.get("image_url")
        if isinstance(url, dict):  # the Chat Completions shape, {"url": ...}
            url = url.get("url")
        return InputImage(
            image_url=_str(url), file_id=_str(part.get("file_id")), detail=_str(part.get("detail")), cache_control=cache
        )
    if kind == "input_file":
        return InputFile(
            file_data=_str(part.get("file_data")),
            file_url=_str(part.get("file_url")),
            filename=_str(part.get("filename")),
            file_id=_str(part.get("file_id")),
            cache_control=cache,
        )
    return part  # a part Ferryman does not translate (input_audio, ...), as sent


def _output(output: Any, where: str) -> str | list[InputPart] | dict[str, Any]:
    """A function call's output: text, content parts, or a JSON object (anything else as JSON text)."""
    if isinstance(output, str | dict):
        return output
    if isinstance(output, list):
        return [_part(part, f"{where}[{j}]") for j, part in enumerate(output)]
    return "" if output is None else _encode(output).decode()


def _arguments(args: Any) -> str:
    if isinstance(args, str):
        return args
    return "" if args is None else _encode(args).decode()


def _texts(parts: Any, where: str) -> list[str]:
    """The texts of a reasoning item's summary or content parts (each an object with a string text)."""
    if parts is None:
        return []
    if not isinstance(parts, list):
        raise invalid(where, "expected a list")
    texts = []
    for j, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise invalid(f"{where}[{j}]", "expected an object with a 'text'")
        texts.append(text)
    return texts


def _cache_control(source: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The ``cache_control`` an item or content part carries, checked to be an object with a type."""
    cache = source.get("cache_control")
    if cache is None:
        return None
    if not isinstance(cache, dict) or not isinstance(cache.get("type"), str):
        raise invalid(f"{where}.cache_control", "expected an object with a 'type'")
    return cache


def _required(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"Missing required parameter: '{where}.{key}'.",
            param=f"{where}.{key}",
            code="missing_required_parameter",
        )
    return value


def _text(part: dict[str, Any], key: str, where: str) -> str:
    """A text part's text: a string, empty when left out."""
    text = part.get(key)
    if text is None:
        return ""
    if not isinstance(text, str):
        raise invalid(f"{where}.{key}", "expected a string")
    return text


def invalid(param: str, why: str) -> InvalidRequestError:
    """The 400 for a bad value at ``param``, saying why."""
    return InvalidRequestError(f"Invalid value for '{param}': {why}.", param=param, code="invalid_value")


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def part_text(part: InputPart) -> str | None:
    """A text or refusal part's text (None for images, files and parts of other types)."""
    if isinstance(part, InputText | AssistantText):
        return part.text
    if isinstance(part, AssistantRefusal):
        return part.refusal
    return None


def text_of(parts: list[InputPart]) -> str:
    """The concatenated text of the text parts (refusals, images and files left out)."""
    return "".join(p.text for p in parts if isinstance(p, InputText | AssistantText))


def function_output_text(output: str | list[InputPart] | dict[str, Any]) -> str:
    """function_call_output.output as text: its text parts when a list, JSON when an object."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return text_of(output)
    return _encode(output).decode()


def tag_opaque(tag: str, value: str) -> str:
    return f"{tag}:{value}"


def opaque_for(tag: str, value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(tag + ":"):
        return value[len(tag) + 1 :]
    return None


def call_arguments(item: InputFunctionCall, where: str, provider: str) -> dict[str, Any]:
    """A ``function_call``'s ``arguments`` (JSON text) as the object a provider takes; empty means no
    arguments. Anything else is a 400 saying ``provider`` needs a JSON object."""
    args: Any
    try:
        args = msgspec.json.decode(item.arguments) if item.arguments.strip() else {}
    except msgspec.DecodeError:
        args = None
    if not isinstance(args, dict):
        raise invalid(f"{where}.arguments", f"{provider} needs a JSON object")
    return args


def refuse_openai_only(raw: dict[str, Any], provider: str, compaction: str) -> None:
    """A 400 for the request fields only OpenAI's servers can honour; ``compaction`` says why
    ``context_management`` is refused by this provider."""
    for field, why in (
        ("prompt", "stored prompt templates live on OpenAI's servers"),
        ("conversation", "Ferryman replays a conversation's items itself, and this one was not resolved"),
        ("context_management", compaction),
    ):
        if raw.get(field) is not None:
            raise unsupported(field, provider, why)


def unsupported(field: str, provider: str, detail: str = "") -> InvalidRequestError:
    """The 400 for a request field a provider cannot honour (never silently dropped)."""
    more = f": {detail}" if detail else ""
    return InvalidRequestError(
        f"'{field}' is not supported by provider {provider!r}{more}.", param=field, code="unsupported_parameter"
    )
