"""Responses input items in one canonical form, for adapters that translate them.

``input`` may be a string, or a list mixing "easy" messages (``{"role", "content"}`` with string
content), full message items, function calls and their outputs, and reasoning items. ``input_items``
turns it into a list of plain dicts that always carry ``type`` and, for messages, a list of typed
content parts, so an adapter handles one shape. Items an adapter cannot represent are reported with
``param`` pointing at them (``input[3]``).

Reasoning items carry provider-specific opaque state in ``encrypted_content``. Adapters that produce
it prefix it with their tag (``"anthropic:<signature>"``) via ``tag_opaque``; ``opaque_for`` gives an
adapter its own state back and None for another provider's, which it must then leave out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.schemas.errors import InvalidRequestError

MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
# the type names OpenAI has given its hosted web search tool
WEB_SEARCH_TOOLS = frozenset(
    {"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11"}
)
TEXT_PARTS = frozenset({"input_text", "output_text", "text", "summary_text", "reasoning_text"})


def input_items(input_: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if input_ is None:
        return []
    if isinstance(input_, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": input_}]}]
    out = []
    for i, item in enumerate(input_):
        out.append(_item(item, f"input[{i}]"))
    return out


def _item(item: dict[str, Any], where: str) -> dict[str, Any]:
    kind = item.get("type")
    if kind is None or kind == "message":
        role = item.get("role")
        if role not in MESSAGE_ROLES:
            raise InvalidRequestError(
                f"Invalid value for '{where}.role': expected one of {sorted(MESSAGE_ROLES)}, got {role!r}.",
                param=f"{where}.role",
                code="invalid_value",
            )
        return {**item, "type": "message", "content": _parts(item.get("content"), role, f"{where}.content")}
    if kind == "function_call":
        _require(item, ("call_id", "name"), where)
        return {**item, "arguments": item.get("arguments") or ""}
    if kind == "function_call_output":
        _require(item, ("call_id",), where)
        return item
    if kind in ("reasoning", "item_reference") or isinstance(kind, str):
        return item
    raise InvalidRequestError(f"Invalid value for '{where}.type'.", param=f"{where}.type", code="invalid_value")


def _parts(content: Any, role: str, where: str) -> list[dict[str, Any]]:
    text_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return [{"type": text_type, "text": content}]
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"Invalid value for '{where}': expected a string or a list of content parts.",
            param=where,
            code="invalid_value",
        )
    return content_parts(content, where)


def content_parts(content: list[Any], where: str) -> list[dict[str, Any]]:
    """A list of content parts, each checked to be an object with a ``type`` (else a 400 naming it)."""
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequestError(
                f"Invalid value for '{where}[{j}]': a content part needs a 'type'.",
                param=f"{where}[{j}]",
                code="invalid_value",
            )
    return content


def _require(item: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if not isinstance(item.get(key), str):
            raise InvalidRequestError(
                f"Missing required parameter: '{where}.{key}'.",
                param=f"{where}.{key}",
                code="missing_required_parameter",
            )


def text_of(parts: list[dict[str, Any]]) -> str:
    """The concatenated text of text-like content parts."""
    return "".join(p.get("text", "") for p in parts if p.get("type") in TEXT_PARTS)


def function_output_text(output: Any) -> str:
    """function_call_output.output may be a string or a list of content parts."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return text_of([p for p in output if isinstance(p, dict)])
    return "" if output is None else str(output)


def tag_opaque(tag: str, value: str) -> str:
    return f"{tag}:{value}"


def opaque_for(tag: str, value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(tag + ":"):
        return value[len(tag) + 1 :]
    return None


def call_arguments(item: dict[str, Any], where: str, provider: str) -> dict[str, Any]:
    """A ``function_call``'s ``arguments`` (a JSON string, or already an object) as the object a provider
    takes; empty means no arguments. Anything else is a 400 saying ``provider`` needs a JSON object."""
    args: Any = item["arguments"]
    if isinstance(args, str):
        try:
            args = msgspec.json.decode(args) if args.strip() else {}
        except msgspec.DecodeError:
            args = None
    if not isinstance(args, dict):
        raise InvalidRequestError(
            f"Invalid value for '{where}.arguments': {provider} needs a JSON object.",
            param=f"{where}.arguments",
            code="invalid_value",
        )
    return args


def refuse_openai_only(raw: dict[str, Any], provider: str, compaction: str) -> None:
    """A 400 for the request fields only OpenAI's servers can honour; ``compaction`` says why
    ``context_management`` is refused by this provider."""
    for field, why in (
        ("prompt", "stored prompt templates live on OpenAI's servers"),
        ("conversation", "conversations live on OpenAI's servers; use previous_response_id"),
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
