"""The Responses API's stream events, typed: one msgspec Struct per event, a tagged union on ``type``.

Field names are the API's own (as the openai SDK's ``openai.types.responses`` and the Open Responses
spec name them), and every field the SDK requires is always encoded: no ``omit_defaults`` (the few
defaults only let the resumer decode events of servers that leave a field out). ``extra_fields``
(Ferryman's per-event accounting) is left out of the JSON unless set.
Output items and content parts are the typed ones of ``schemas/output.py``; an item a provider
passes whole (``web_search_call``, ...) is a plain dict beside them. The response snapshot and
annotations stay plain dicts: the gateway reads and stores the response as such.

``ResponseBuilder`` creates these and encodes them with msgspec (faster than encoding dicts). They
are built to be encoded: an item is a typed item or a dict, a union msgspec cannot decode into, so
whoever watches a relayed stream decodes the few fields it needs on its own (see
``gateway/resume.py``). The passthrough relay decodes only each event's head (``read_head``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.schemas.output import AnyOutputItem, MessagePart, SummaryText


class BaseEvent(msgspec.Struct, tag_field="type", kw_only=True):
    sequence_number: int = -1  # always encoded; -1 only when a decoded event lacked one (older servers)
    extra_fields: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class _Lifecycle(BaseEvent):
    response: dict[str, Any]


class _Item(BaseEvent):
    output_index: int
    item: AnyOutputItem


class _InItem(BaseEvent):
    item_id: str
    output_index: int


class _InContent(_InItem):
    content_index: int


class _InSummary(_InItem):
    summary_index: int


# ---- the response's life ------------------------------------------------------------------------


class ResponseCreated(_Lifecycle, tag="response.created"):
    pass


class ResponseQueued(_Lifecycle, tag="response.queued"):
    pass


class ResponseInProgress(_Lifecycle, tag="response.in_progress"):
    pass


class ResponseCompleted(_Lifecycle, tag="response.completed"):
    pass


class ResponseIncomplete(_Lifecycle, tag="response.incomplete"):
    pass


class ResponseFailed(_Lifecycle, tag="response.failed"):
    pass


class Error(BaseEvent, tag="error"):
    code: str | None
    message: str
    param: str | None


# ---- output items -------------------------------------------------------------------------------


class OutputItemAdded(_Item, tag="response.output_item.added"):
    pass


class OutputItemDone(_Item, tag="response.output_item.done"):
    pass


# ---- message content ----------------------------------------------------------------------------


class ContentPartAdded(_InContent, tag="response.content_part.added"):
    part: MessagePart


class ContentPartDone(_InContent, tag="response.content_part.done"):
    part: MessagePart


class OutputTextDelta(_InContent, tag="response.output_text.delta"):
    delta: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class OutputTextDone(_InContent, tag="response.output_text.done"):
    text: str
    logprobs: list[dict[str, Any]] = msgspec.field(default_factory=list)


class OutputTextAnnotationAdded(_InContent, tag="response.output_text.annotation.added"):
    annotation_index: int
    annotation: dict[str, Any]


# ---- reasoning ----------------------------------------------------------------------------------


class ReasoningSummaryPartAdded(_InSummary, tag="response.reasoning_summary_part.added"):
    part: SummaryText


class ReasoningSummaryPartDone(_InSummary, tag="response.reasoning_summary_part.done"):
    part: SummaryText


class ReasoningSummaryTextDelta(_InSummary, tag="response.reasoning_summary_text.delta"):
    delta: str


class ReasoningSummaryTextDone(_InSummary, tag="response.reasoning_summary_text.done"):
    text: str


class ReasoningTextDelta(_InContent, tag="response.reasoning_text.delta"):
    delta: str


class ReasoningTextDone(_InContent, tag="response.reasoning_text.done"):
    text: str


# ---- function calls -----------------------------------------------------------------------------


class FunctionCallArgumentsDelta(_InItem, tag="response.function_call_arguments.delta"):
    delta: str


class FunctionCallArgumentsDone(_InItem, tag="response.function_call_arguments.done"):
    name: str
    arguments: str


class CustomToolCallInputDelta(_InItem, tag="response.custom_tool_call_input.delta"):
    delta: str


class CustomToolCallInputDone(_InItem, tag="response.custom_tool_call_input.done"):
    input: str


TerminalEvent = ResponseCompleted | ResponseIncomplete | ResponseFailed
Event = (
    ResponseCreated
    | ResponseQueued
    | ResponseInProgress
    | ResponseCompleted
    | ResponseIncomplete
    | ResponseFailed
    | Error
    | OutputItemAdded
    | OutputItemDone
    | ContentPartAdded
    | ContentPartDone
    | OutputTextDelta
    | OutputTextDone
    | OutputTextAnnotationAdded
    | ReasoningSummaryPartAdded
    | ReasoningSummaryPartDone
    | ReasoningSummaryTextDelta
    | ReasoningSummaryTextDone
    | ReasoningTextDelta
    | ReasoningTextDone
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | CustomToolCallInputDelta
    | CustomToolCallInputDone
)

TERMINAL: dict[str, type[TerminalEvent]] = {
    "completed": ResponseCompleted,
    "incomplete": ResponseIncomplete,
    "failed": ResponseFailed,
}


def event_type(event: BaseEvent) -> str:
    """The event's ``type`` (its tag), which is also its SSE ``event:`` name."""
    return event.__struct_config__.tag  # type: ignore[return-value]


class EventHead(msgspec.Struct):
    """The two fields of a relayed event the gateway reads; msgspec skips every other field without building it."""

    type: str | None = None
    sequence_number: int | None = None


class MalformedEvent(ValueError):
    """An event's data is not a JSON object in UTF-8."""


_decode_head = msgspec.json.Decoder(EventHead).decode


def read_head(data: bytes) -> EventHead:
    """An event's type and sequence number, and the proof that it is a well-formed JSON object in UTF-8: the decode
    checks the JSON (skipping values costs a scan, builds nothing); msgspec does not check the UTF-8 of the strings
    it skips, so bytes that are not all ASCII are checked apart (a fast C loop)."""
    try:
        head = _decode_head(data)
        if not data.isascii():
            data.decode()
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedEvent("an event that is not a JSON object in UTF-8") from None
    return head
