"""The one Responses state machine every translating adapter feeds.

An adapter turns its provider's reply or stream into a few semantic calls — ``text``, ``reasoning``,
``reasoning_signature``, ``tool_call`` / ``tool_args``, ``add_item``, ``set_usage``, ``finish`` —
and the builder owns everything the Responses API is picky about: output items opened and closed
in order, ``output_index``, ``content_index``, ``summary_index``, ``item_id``, ``sequence_number``,
the text buffers behind every ``*.done`` event, and the final response object. A non-streaming
reply read for its response alone makes the same calls over a silent builder (no event is made) and
reads ``response()``; a streaming one also drains ``events()`` after each call and relays them. So
every provider emits the same correct sequence, and a bug in sequencing is fixed here, once.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import msgspec
from msgspec import UNSET

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.tools import ToolNames, custom_input
from ferryman.schemas import events as ev
from ferryman.schemas.output import (
    AnyOutputItem,
    CustomToolCall,
    FunctionCall,
    Message,
    OutputText,
    Reasoning,
    ReasoningText,
    SummaryText,
)
from ferryman.schemas.responses import ResponsesRequest
from ferryman.schemas.usage import usage_object

# finish reasons adapters report -> (status, incomplete_details.reason)
FINISH = {
    "stop": ("completed", None),
    "tool_calls": ("completed", None),
    "length": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
}

_encode = msgspec.json.encode
_builtins = msgspec.to_builtins
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def keeps_reasoning_state(req: ResponsesRequest | None) -> bool:
    """Whether reasoning items carry the provider's opaque state (``encrypted_content``) back.

    OpenAI returns it only when ``include`` asks for ``reasoning.encrypted_content``; so does
    Ferryman, and also whenever the request offers tools: Anthropic, Bedrock and Gemini refuse a
    replayed tool call whose thinking lost its signature, and Ferryman (unlike OpenAI) cannot find
    a replayed reasoning item by its id. A stored response replayed (no request) keeps what it has.
    """
    if req is None:
        return True
    return bool(req.tools) or (req.include is not None and ENCRYPTED_REASONING in req.include)


class ResponseBuilder:
    def __init__(
        self,
        req: ResponsesRequest | None,
        raw: dict[str, Any],
        model: str,
        previous_response_id: str | None = None,
        *,
        silent: bool = False,
    ) -> None:
        self.req = req
        self.raw = raw
        self.model = model
        self.previous_response_id = previous_response_id or (req.previous_response_id if req is not None else None)
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.status = "in_progress"
        self.completed_at: int | None = None
        self.incomplete_details: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.usage: dict[str, Any] | None = None
        self.output: list[AnyOutputItem] = []
        self.extra: dict[str, Any] = {}  # provider-specific top-level fields (search_results, citations)
        self.stored: dict[str, Any] | None = None  # a stored response being replayed (its fields are echoed)
        self._seq = 0
        self._events: list[ev.Event] = []
        self._message: int | None = None  # output index of the open message
        self._reasoning: int | None = None  # output index of the open reasoning item
        self._reasoning_kind = "summary"
        self._summary: list[SummaryText] = []  # the open reasoning item's finished summary parts
        self._tools: dict[str, int] = {}  # adapter's key -> output index of an open function or custom tool call
        self._names: ToolNames | None = None  # the names the request's tools were offered under (made when needed)
        self._texts: dict[int, list[str]] = {}  # output index -> text chunks of its open part
        self._logprobs: list[dict[str, Any]] = []  # logprobs of the open message's text
        self._annotations: list[dict[str, Any]] = []  # annotations of the open message's text
        self.started = False
        self.opaque = keeps_reasoning_state(req)  # reasoning items carry encrypted_content
        # only the final response is wanted (a door's fast path reads the provider's own answer into it): the
        # lifecycle events, which each copy the whole response, are not made
        self.quiet = silent
        # no events at all: a whole reply read for its final response only (``native.canonical``, a translating
        # adapter's ``create``); items are made finished where they can be, without the events between
        self.silent = silent

    @classmethod
    def replaying(cls, stored: dict[str, Any]) -> ResponseBuilder:
        """A builder that re-creates ``stored`` (a finished response): same id, creation time, model and
        echoed fields; the caller feeds its output items and ends with ``end(stored["status"])``."""
        b = cls(None, {}, str(stored.get("model") or ""))
        b.stored = stored
        b.id = str(stored.get("id") or b.id)
        b.created_at = stored.get("created_at") or b.created_at
        return b

    # ---- events ---------------------------------------------------------------------------------

    def _next(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def events(self) -> list[ev.Event]:
        """The events produced since the last call (the stream path relays them in order)."""
        out, self._events = self._events, []
        return out

    def sse(self) -> list[SSEEvent]:
        return [SSEEvent(ev.event_type(e), _encode(e)) for e in self.events()]

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        if self.quiet:
            return
        snapshot = self.response()
        self._events.append(ev.ResponseCreated(sequence_number=self._next(), response=snapshot))
        self._events.append(ev.ResponseInProgress(sequence_number=self._next(), response=snapshot))

    # ---- typed access to the open items ---------------------------------------------------------

    def _item(self, idx: int) -> Message | Reasoning | FunctionCall | CustomToolCall:
        item = self.output[idx]
        assert not isinstance(item, dict)  # the builder's own items are typed; only add_item's are not
        return item

    def _open_message(self, idx: int) -> Message:
        item = self.output[idx]
        assert isinstance(item, Message)
        return item

    def _open_reasoning_item(self, idx: int) -> Reasoning:
        item = self.output[idx]
        assert isinstance(item, Reasoning)
        return item

    # ---- text -----------------------------------------------------------------------------------

    def text(self, delta: str, *, logprobs: list[dict[str, Any]] | None = None, item: Message | None = None) -> None:
        """Message text; ``item`` is the message a replay re-creates (its id, status and phase are kept
        when this opens a message)."""
        if not delta:
            return
        self.start()
        if self._message is None:
            self._close_reasoning()
            if item is None:
                opened = Message(id=new_id("msg"))
            else:
                opened = Message(id=item.id, status=item.status, role=item.role, phase=item.phase)
            self._message = self._open_item(opened)
            self._annotations = []
            if not self.silent:
                self._events.append(
                    ev.ContentPartAdded(
                        sequence_number=self._next(),
                        item_id=opened.id,
                        output_index=self._message,
                        content_index=0,
                        part=OutputText(),
                    )
                )
            self._texts[self._message] = []
        idx = self._message
        self._texts[idx].append(delta)
        if logprobs:
            self._logprobs.extend(logprobs)
        if self.silent:
            return
        self._events.append(
            ev.OutputTextDelta(
                sequence_number=self._next(),
                item_id=self._item(idx).id,
                output_index=idx,
                content_index=0,
                delta=delta,
                logprobs=logprobs or [],
            )
        )

    def whole_text(self, text: str) -> None:
        """A message whose text is all here (a whole reply's): ``text`` and the message closed. A silent builder
        with no message open appends the finished message at once, the item ``text`` and ``close_all`` make."""
        if not text:
            return
        if not self.silent or self._message is not None:
            self.text(text)
            self._close_message()
            return
        self.started = True
        if self._reasoning is not None:
            self._close_reasoning()
        self.output.append(Message(id=new_id("msg"), status="completed", content=[OutputText(text=text)]))

    def annotate(self, annotation: dict[str, Any]) -> None:
        """An annotation (url_citation, ...) on the open message's text, or on the last message's."""
        if self._message is not None:
            self._annotations.append(annotation)
            return
        for item in reversed(self.output):
            if isinstance(item, Message) and item.content and isinstance(item.content[0], OutputText):
                item.content[0].annotations.append(annotation)
                return

    def _close_message(self) -> None:
        idx = self._message
        if idx is None:
            return
        self._message = None
        item = self._open_message(idx)
        text = "".join(self._texts.pop(idx))
        logprobs, self._logprobs = self._logprobs, []
        part = OutputText(annotations=self._annotations, logprobs=logprobs, text=text)
        self._annotations = []
        if not self.silent:
            seq = self._next
            self._events.append(
                ev.OutputTextDone(
                    sequence_number=seq(),
                    item_id=item.id,
                    output_index=idx,
                    content_index=0,
                    text=text,
                    logprobs=logprobs,
                )
            )
            self._events.append(
                ev.ContentPartDone(sequence_number=seq(), item_id=item.id, output_index=idx, content_index=0, part=part)
            )
        item.content = [part]
        self._done_item(idx)

    # ---- reasoning ------------------------------------------------------------------------------

    def reasoning(self, delta: str, *, summary: bool = True, item: Reasoning | None = None) -> None:
        """Reasoning text: a summary (``reasoning_summary_text.*``) or raw (``reasoning_text.*``);
        ``item`` is the reasoning item a replay re-creates (kept when this opens one)."""
        self.start()
        kind = "summary" if summary else "text"
        if self._reasoning is not None and self._reasoning_kind != kind:
            self._close_reasoning()
        if self._reasoning is None:
            self._open_reasoning(kind, item)
        if not delta:
            return
        idx = self._reasoning
        assert idx is not None
        self._texts[idx].append(delta)
        if self.silent:
            return
        item_id = self._item(idx).id
        if kind == "summary":
            self._events.append(
                ev.ReasoningSummaryTextDelta(
                    sequence_number=self._next(),
                    item_id=item_id,
                    output_index=idx,
                    summary_index=len(self._summary),
                    delta=delta,
                )
            )
        else:
            self._events.append(
                ev.ReasoningTextDelta(
                    sequence_number=self._next(), item_id=item_id, output_index=idx, content_index=0, delta=delta
                )
            )

    def reasoning_part(self) -> None:
        """Start the next summary part of the open reasoning item (a summary may have several)."""
        idx = self._reasoning
        if idx is None or self._reasoning_kind != "summary":
            return
        self._close_summary_part(idx)
        self._open_summary_part(idx)

    def reasoning_signature(self, opaque: str) -> None:
        """Opaque state (a signature) for the open reasoning item, or for a new empty one; nothing when
        the client did not ask for it (``keeps_reasoning_state``)."""
        if not self.opaque:
            return
        self.start()
        if self._reasoning is None:
            self._open_reasoning(self._reasoning_kind)
        assert self._reasoning is not None
        item = self._open_reasoning_item(self._reasoning)
        item.encrypted_content = (item.encrypted_content or "") + opaque

    def close_reasoning(self) -> None:
        self._close_reasoning()

    def _open_reasoning(self, kind: str, item: Reasoning | None = None) -> None:
        self._close_message()
        self._reasoning_kind = kind
        if item is None:
            opened = Reasoning(id=new_id("rs"))
        else:
            opened = Reasoning(id=item.id, encrypted_content=item.encrypted_content, status=item.status)
        idx = self._open_item(opened)
        self._reasoning = idx
        self._summary = []
        self._texts[idx] = []
        if kind == "summary":
            self._open_summary_part(idx)

    def _open_summary_part(self, idx: int) -> None:
        if self.silent:
            return
        self._events.append(
            ev.ReasoningSummaryPartAdded(
                sequence_number=self._next(),
                item_id=self._item(idx).id,
                output_index=idx,
                summary_index=len(self._summary),
                part=SummaryText(),
            )
        )

    def _close_summary_part(self, idx: int) -> None:
        item_id = self._item(idx).id
        text = "".join(self._texts[idx])
        self._texts[idx] = []
        part = SummaryText(text=text)
        if not self.silent:
            index = len(self._summary)
            seq = self._next
            self._events.append(
                ev.ReasoningSummaryTextDone(
                    sequence_number=seq(), item_id=item_id, output_index=idx, summary_index=index, text=text
                )
            )
            self._events.append(
                ev.ReasoningSummaryPartDone(
                    sequence_number=seq(), item_id=item_id, output_index=idx, summary_index=index, part=part
                )
            )
        self._summary.append(part)

    def _close_reasoning(self) -> None:
        idx = self._reasoning
        if idx is None:
            return
        self._reasoning = None
        item = self._open_reasoning_item(idx)
        if self._reasoning_kind == "summary":
            self._close_summary_part(idx)
            self._texts.pop(idx)
            item.summary = [part for part in self._summary if part.text]
        else:
            text = "".join(self._texts.pop(idx))
            if not self.silent:
                self._events.append(
                    ev.ReasoningTextDone(
                        sequence_number=self._next(), item_id=item.id, output_index=idx, content_index=0, text=text
                    )
                )
            item.content = [ReasoningText(text=text)]
        self._summary = []
        self._done_item(idx)

    # ---- tool calls -----------------------------------------------------------------------------

    def tool_call(
        self,
        key: str,
        call_id: str,
        name: str,
        arguments: str = "",
        *,
        item: FunctionCall | CustomToolCall | None = None,
    ) -> None:
        """Open a tool call the provider made under ``name``, the name its tool was offered under
        (``providers/tools.py``): a namespaced function's call gets the member's name and its
        ``namespace``, a custom tool's call is a ``custom_tool_call`` (its input read from the arguments
        when the call closes). ``key`` is how the adapter refers to it (block index, call index);
        ``item`` is the call a replay re-creates (its id, status and namespace are kept)."""
        self.start()
        self._close_message()
        self._close_reasoning()
        opened: FunctionCall | CustomToolCall
        if item is not None:
            opened = msgspec.structs.replace(item, call_id=call_id, name=name)
            if isinstance(opened, FunctionCall):
                opened.arguments = ""
            else:
                opened.input = ""
        else:
            if self._names is None:
                self._names = ToolNames.of(self.raw.get("tools"))
            meant = self._names.original(name)
            space = meant.namespace if meant is not None and meant.namespace is not None else UNSET
            if meant is not None and meant.custom:
                opened = CustomToolCall(id=new_id("ctc"), call_id=call_id, name=meant.name, namespace=space)
            else:
                opened = FunctionCall(
                    id=new_id("fc"), call_id=call_id, name=meant.name if meant else name, namespace=space
                )
        idx = self._open_item(opened)
        self._tools[key] = idx
        self._texts[idx] = []
        if arguments:
            self.tool_args(key, arguments)

    def tool_args(self, key: str, delta: str) -> None:
        if not delta:
            return
        idx = self._tools[key]
        self._texts[idx].append(delta)
        item = self.output[idx]
        if not self.silent and isinstance(item, FunctionCall):  # a custom tool's input is read whole at close
            self._events.append(
                ev.FunctionCallArgumentsDelta(
                    sequence_number=self._next(), item_id=item.id, output_index=idx, delta=delta
                )
            )

    def close_tool(self, key: str) -> None:
        idx = self._tools.pop(key, None)
        if idx is None:
            return
        item = self.output[idx]
        args = "".join(self._texts.pop(idx))
        if isinstance(item, CustomToolCall):
            text = args if self.req is None else custom_input(args)  # a replay's input is the input itself
            item.input = text
        else:
            assert isinstance(item, FunctionCall)
            item.arguments = args
        if not self.silent:
            self._tool_done(item, idx)
        self._done_item(idx)

    def _tool_done(self, item: FunctionCall | CustomToolCall, idx: int) -> None:
        seq = self._next
        if isinstance(item, CustomToolCall):
            if item.input:
                self._events.append(
                    ev.CustomToolCallInputDelta(
                        sequence_number=seq(), item_id=item.id, output_index=idx, delta=item.input
                    )
                )
            self._events.append(
                ev.CustomToolCallInputDone(sequence_number=seq(), item_id=item.id, output_index=idx, input=item.input)
            )
        else:
            self._events.append(
                ev.FunctionCallArgumentsDone(
                    sequence_number=seq(), item_id=item.id, output_index=idx, name=item.name, arguments=item.arguments
                )
            )

    # ---- whole items ----------------------------------------------------------------------------

    def add_item(self, item: AnyOutputItem) -> None:
        """A complete item (web_search_call, a redacted reasoning item, ...), added and done at once."""
        self.start()
        self._close_message()
        self._close_reasoning()
        if isinstance(item, Reasoning) and not self.opaque:
            item.encrypted_content = UNSET
        idx = self._open_item(item, status=None)
        self._done_item(idx)

    def _open_item(self, item: AnyOutputItem, status: str | None = "in_progress") -> int:
        """Append ``item``; its ``output_item.added`` shows it as it stands now, with ``status`` (when
        given and the item has one)."""
        idx = len(self.output)
        self.output.append(item)
        if self.silent:
            return idx
        added: AnyOutputItem
        if isinstance(item, dict):
            added = dict(item)
        else:
            added = copy.copy(item)  # the item changes as it fills; the event shows it as it was
            if status is not None and not isinstance(added, CustomToolCall) and isinstance(added.status, str):
                added.status = status
        self._events.append(ev.OutputItemAdded(sequence_number=self._next(), output_index=idx, item=added))
        return idx

    def _done_item(self, idx: int) -> None:
        item = self.output[idx]
        if isinstance(item, dict):
            if "status" in item:
                item["status"] = "completed" if item["status"] in ("in_progress", None) else item["status"]
        elif not isinstance(item, CustomToolCall) and item.status == "in_progress":
            item.status = "completed"
        if self.silent:
            return
        self._events.append(ev.OutputItemDone(sequence_number=self._next(), output_index=idx, item=item))

    # ---- the end --------------------------------------------------------------------------------

    def set_usage(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        """Input tokens include cached and cache-written ones, as OpenAI counts them."""
        self.usage = usage_object(
            input_tokens,
            output_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
        )

    def close_all(self) -> None:
        self._close_message()
        self._close_reasoning()
        for key in list(self._tools):
            self.close_tool(key)

    def finish(self, reason: str | None = "stop") -> None:
        """Close what is open and emit the terminal event."""
        self.start()
        status, why = FINISH.get(reason or "stop", ("completed", None))
        self.incomplete_details = {"reason": why} if why else None
        self.completed_at = int(time.time())
        self.end(status)

    def fail(self, code: str, message: str) -> None:
        self.start()
        self.completed_at = int(time.time())
        self.error = {"code": code, "message": message}
        self.end("failed")

    def end(self, status: str) -> None:
        """Close what is open and emit the terminal event for ``status`` (completed, incomplete, failed)."""
        self.start()
        self.close_all()
        self.status = status
        if self.completed_at is None:
            self.completed_at = int(time.time())
        if self.quiet:
            return
        terminal = ev.TERMINAL.get(status, ev.ResponseCompleted)
        self._events.append(terminal(sequence_number=self._next(), response=self.response()))

    def response(self) -> dict[str, Any]:
        req = self.req
        if req is None:
            return self._replayed()
        raw = self.raw
        text, reasoning, tools = raw.get("text"), raw.get("reasoning"), raw.get("tools")
        terminal = self.status != "in_progress"
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": self.completed_at if terminal else None,
            "status": self.status,
            "background": False,
            "error": self.error,
            "incomplete_details": self.incomplete_details,
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": req.max_tool_calls,
            "model": self.model,
            "output": _builtins(self.output) if terminal else [],
            "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
            "previous_response_id": self.previous_response_id,
            "reasoning": {"effort": None, "summary": None} if reasoning is None else _echo_reasoning(reasoning),
            "store": True if req.store is None else req.store,
            "temperature": 1.0 if req.temperature is None else req.temperature,
            "top_p": 1.0 if req.top_p is None else req.top_p,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "top_logprobs": req.top_logprobs or 0,
            "text": {"format": {"type": "text"}} if text is None else _echo_text(text),
            "tool_choice": req.tool_choice or "auto",
            "tools": [_echo_tool(t) for t in tools] if tools else [],
            "truncation": req.truncation or "disabled",
            "usage": self.usage,
            "user": req.user,
            "metadata": req.metadata or {},
            "service_tier": req.service_tier or "default",
            "safety_identifier": req.safety_identifier,
            "prompt_cache_key": req.prompt_cache_key,
        }
        if self.extra:
            body.update(self.extra)
        return body

    def _replayed(self) -> dict[str, Any]:
        """The stored response being replayed, as it stood at this point of its stream."""
        assert self.stored is not None
        body = {**self.stored, "id": self.id, "created_at": self.created_at, "status": self.status}
        if self.status != "in_progress":
            return {**body, "output": _builtins(self.output)}
        return {**body, "output": [], "completed_at": None, "error": None, "incomplete_details": None, "usage": None}


def _echo_reasoning(reasoning: Any) -> dict[str, Any]:
    """The request's reasoning as the response echoes it: ``effort`` and ``summary`` always there."""
    if not isinstance(reasoning, dict):
        return {"effort": None, "summary": None}
    return {"effort": reasoning.get("effort"), "summary": reasoning.get("summary"), **reasoning}


def _echo_text(text: Any) -> dict[str, Any]:
    """The request's ``text`` as the response echoes it: a json_schema format flat, with every field
    (its Chat Completions shape, nested under ``json_schema``, is accepted and echoed flat)."""
    if not isinstance(text, dict):
        return {"format": {"type": "text"}}
    fmt = text.get("format")
    if not isinstance(fmt, dict):
        return {**text, "format": {"type": "text"}}
    if fmt.get("type") != "json_schema":
        return text
    nested = fmt.get("json_schema")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else {}
    flat = {
        "type": "json_schema",
        "name": fmt.get("name") or inner.get("name") or "response",
        "description": fmt.get("description", inner.get("description")),
        "schema": fmt.get("schema", inner.get("schema")),
        "strict": bool(fmt.get("strict", inner.get("strict", False))),
    }
    return {**text, "format": flat}


def _echo_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A request tool as the response echoes it: function tools carry every field, null when unset."""
    if tool.get("type") != "function":
        return tool
    echoed = {k: v for k, v in tool.items() if k != "cache_control"}
    echoed.setdefault("description", None)
    echoed.setdefault("parameters", None)
    echoed.setdefault("strict", None)
    return echoed
