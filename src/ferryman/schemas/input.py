"""The Responses API's input items, typed: what translating adapters read.

``schemas/items.py`` ``input_items`` builds these from a request's ``input`` (checking it on the
way); adapters that pass the request on as OpenAI's own (the passthrough) never build them.

Items are tagged on ``type``: messages (with their content parts), function calls and their outputs,
custom tool calls and their outputs, reasoning items and item references. Any other item
(``web_search_call``, ``computer_call``, ...) stays the plain dict the client sent, so providers that
take it get it whole and the others refuse it naming ``input[i]``; content parts of other types
(``input_audio``, ...) likewise stay dicts.

``omit_defaults``: an optional field left out by the client stays out of the JSON, so a stored
request's items list as they were sent. ``cache_control`` (a prompt-caching mark some providers
take on a part or item) is checked to be an object with a ``type`` when the item is built.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.schemas.output import ReasoningText, SummaryText

CacheControl = dict[str, Any]


class _Typed(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    pass


# ---- content parts ------------------------------------------------------------------------------


class InputText(_Typed, tag="input_text"):
    text: str
    cache_control: CacheControl | None = None


class AssistantText(_Typed, tag="output_text"):
    """Text an assistant said earlier (an ``output_text`` part sent back as input)."""

    text: str
    annotations: list[dict[str, Any]] | None = None
    logprobs: list[dict[str, Any]] | None = None
    cache_control: CacheControl | None = None


class AssistantRefusal(_Typed, tag="refusal"):
    refusal: str
    cache_control: CacheControl | None = None


class InputImage(_Typed, tag="input_image"):
    image_url: str | None = None  # an http(s) or data: URL (the Chat Completions {"url"} form is unwrapped)
    file_id: str | None = None
    detail: str | None = None
    cache_control: CacheControl | None = None


class InputFile(_Typed, tag="input_file"):
    file_data: str | None = None  # base64, bare or as a data: URL
    file_url: str | None = None
    filename: str | None = None
    file_id: str | None = None
    cache_control: CacheControl | None = None


TextPart = InputText | AssistantText
# a content part; one of another type stays the dict the client sent
InputPart = InputText | AssistantText | AssistantRefusal | InputImage | InputFile | dict[str, Any]


# ---- items --------------------------------------------------------------------------------------


class InputMessage(_Typed, tag="message"):
    role: str  # user, assistant, system or developer
    content: list[InputPart]
    id: str | None = None
    status: str | None = None


class InputFunctionCall(_Typed, tag="function_call"):
    call_id: str
    name: str
    arguments: str = ""  # JSON text (an object sent in its place is encoded to it)
    namespace: str | None = None  # the namespace tool the function belongs to
    id: str | None = None
    status: str | None = None
    cache_control: CacheControl | None = None


class FunctionCallOutput(_Typed, tag="function_call_output"):
    call_id: str
    output: str | list[InputPart] | dict[str, Any] = ""  # text, content parts, or a JSON object
    id: str | None = None
    status: str | None = None
    cache_control: CacheControl | None = None


class InputCustomToolCall(_Typed, tag="custom_tool_call"):
    """A call of a custom tool (free-form text ``input``) the model made earlier."""

    call_id: str
    name: str
    input: str = ""
    namespace: str | None = None
    id: str | None = None
    status: str | None = None


class CustomToolCallOutput(_Typed, tag="custom_tool_call_output"):
    call_id: str
    output: str | list[InputPart] = ""  # text or content parts
    id: str | None = None
    status: str | None = None


class InputReasoning(_Typed, tag="reasoning"):
    summary: list[SummaryText]
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None
    id: str | None = None
    status: str | None = None


class ItemReference(_Typed, tag="item_reference"):
    id: str


TypedInputItem = (
    InputMessage
    | InputFunctionCall
    | FunctionCallOutput
    | InputCustomToolCall
    | CustomToolCallOutput
    | InputReasoning
    | ItemReference
)
# an input item; one of another type stays the dict the client sent
InputItem = TypedInputItem | dict[str, Any]
