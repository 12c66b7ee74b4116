"""The Responses API's output items, typed: msgspec Structs, a tagged union on ``type``.

These are the items ``ResponseBuilder`` creates: messages (``output_text`` and ``refusal`` parts),
reasoning (summary parts, raw ``reasoning_text`` content, ``encrypted_content``), function calls (with the
``namespace`` of a namespaced function) and custom tool calls.
Field names are the API's own (the openai SDK's ``openai.types.responses`` and the Open Responses
spec), and every field they require is always encoded; the optional ones (a reasoning item's
``content``, ``encrypted_content`` and ``status``, a message's ``phase``) are ``UNSET`` until set, so
they are left out of the JSON exactly as OpenAI leaves them out.

Items the builder passes through whole from a provider (``web_search_call``, ``image_generation_call``,
...) stay plain dicts alongside these (``AnyOutputItem``). Annotations and logprobs stay dicts too.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType, field


class _Typed(msgspec.Struct, tag_field="type", kw_only=True):
    pass


# ---- content parts ------------------------------------------------------------------------------


class OutputText(_Typed, tag="output_text"):
    annotations: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""


class Refusal(_Typed, tag="refusal"):
    refusal: str


class SummaryText(_Typed, tag="summary_text"):
    text: str = ""


class ReasoningText(_Typed, tag="reasoning_text"):
    text: str = ""


MessagePart = OutputText | Refusal


# ---- items --------------------------------------------------------------------------------------


class Message(_Typed, tag="message"):
    id: str
    status: str = "in_progress"
    role: str = "assistant"
    content: list[MessagePart] = field(default_factory=list)
    phase: str | UnsetType = UNSET


class Reasoning(_Typed, tag="reasoning"):
    id: str
    summary: list[SummaryText] = field(default_factory=list)
    content: list[ReasoningText] | UnsetType = UNSET
    encrypted_content: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class FunctionCall(_Typed, tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str = ""
    status: str = "in_progress"
    namespace: str | UnsetType = UNSET  # the namespace tool the function belongs to


class CustomToolCall(_Typed, tag="custom_tool_call"):
    """A call of a custom tool: its free-form text ``input`` (the API gives this item no status)."""

    id: str
    call_id: str
    name: str
    input: str = ""
    namespace: str | UnsetType = UNSET


OutputItem = Message | Reasoning | FunctionCall | CustomToolCall
# what a response's ``output`` holds: the builder's typed items and provider items passed whole
AnyOutputItem = OutputItem | dict[str, Any]

_convert = msgspec.convert


def typed_output(item: dict[str, Any]) -> OutputItem | None:
    """A stored output item as its typed form, or None when it is not one of them or has fields the
    typed form would lose (it then goes on whole)."""
    kind = item.get("type")
    fields = _FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None or not fields.issuperset(item):
        return None
    try:
        typed: OutputItem = _convert(item, OutputItem)
    except msgspec.ValidationError:
        return None
    return typed


_FIELDS: dict[str, frozenset[str]] = {
    cls.__struct_config__.tag: frozenset({"type", *cls.__struct_fields__})  # type: ignore[misc]
    for cls in (Message, Reasoning, FunctionCall, CustomToolCall)
}
