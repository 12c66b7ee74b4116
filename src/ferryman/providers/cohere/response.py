"""Cohere v2 chat reply and stream -> the ResponseBuilder's semantic calls.

A whole reply is read as the stream that would have carried it (its content blocks in order, then
its plan, calls and citations), so the mapping is written once:

===============================================  ==================================================
Cohere v2 chat                                   Responses
===============================================  ==================================================
content ``thinking`` (a block, or                a reasoning item of raw text (``reasoning_text``),
  content-start/-delta/-end of type thinking)    ``encrypted_content`` ``cohere:thinking``
content ``text``                                 one message, ``output_text`` (consecutive blocks)
``tool_plan`` (or tool-plan-delta)               a reasoning item of raw text, ``cohere:plan``
``tool_calls`` (or tool-call-start/-delta/-end)  function_call (call_id = the call's id)
citations of TEXT_CONTENT (or citation-start)    a ``url_citation`` over the cited text for each
  whose document or tool output has a ``url``    source with one (title: its ``title``, else the
                                                 URL); citations of thinking or the plan, and
                                                 sources without a URL, have no Responses form
usage.tokens input/output, cached_tokens         usage.input_tokens / output_tokens, cached_tokens
                                                 (``billed_units`` stays in the raw reply)
finish_reason COMPLETE / STOP_SEQUENCE           completed
finish_reason TOOL_CALL                          completed (finish reason tool_calls)
finish_reason MAX_TOKENS                         incomplete, reason max_output_tokens
finish_reason ERROR                              a 502 ProviderError with message-end's ``error``
finish_reason TIMEOUT                            a 504 ProviderError
message-start, citation-end, debug, ``[DONE]``   nothing to translate
===============================================  ==================================================
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import expect, malformed
from ferryman.schemas.errors import ProviderError
from ferryman.schemas.items import tag_opaque

from .request import PLAN, TAG, THINKING

FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
# finish reasons that mean the answer failed: HTTP status, error code
FAILED = {"ERROR": (502, "upstream_error"), "TIMEOUT": (504, "upstream_timeout")}

_decode = msgspec.json.decode
_encode = msgspec.json.encode


class Reader:
    """One Cohere answer (a whole reply or a stream), fed into one builder."""

    def __init__(self, builder: ResponseBuilder, provider: str) -> None:
        self.b = builder
        self.provider = provider
        self.reasoning: str | None = None  # THINKING or PLAN: the kind of the open reasoning item
        self.blocks: dict[int, str] = {}  # content index -> its type, while open
        self.starts: dict[int, int] = {}  # content index of a text block -> where it starts in the message
        self.text_len = 0  # characters of text in the builder's open message
        self.calls: set[int] = set()  # open tool calls, by index

    # ---- a whole reply --------------------------------------------------------------------------

    def reply(self, body: Any) -> None:
        expect(self.provider, body, dict, "the reply")
        message = expect(self.provider, body.get("message"), dict, "'message'")
        content = message.get("content") or []
        for index, block in enumerate(expect(self.provider, content, list, "'message.content'")):
            block = expect(self.provider, block, dict, f"'message.content[{index}]'")
            kind = block.get("type")
            self.content_start(index, {"type": kind})
            self.content_delta(index, block)
            self.content_end(index)
        plan = message.get("tool_plan")
        if isinstance(plan, str):
            self.plan(plan)
        calls = message.get("tool_calls") or []
        for index, call in enumerate(expect(self.provider, calls, list, "'message.tool_calls'")):
            self.call_start(index, expect(self.provider, call, dict, f"'message.tool_calls[{index}]'"))
            self.call_end(index)
        for citation in message.get("citations") or []:
            self.cite(citation)
        self.end(body.get("finish_reason"), body.get("usage"), None)

    # ---- stream events --------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> None:
        data = event.data.strip()
        if not data or data == b"[DONE]":
            return  # a keep-alive, or the end after message-end
        try:
            chunk = _decode(data)
        except msgspec.DecodeError:
            raise malformed(self.provider, "a stream event is not JSON") from None
        self.event(expect(self.provider, chunk, dict, "a stream event"))

    def event(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        index = data.get("index") or 0
        delta = data.get("delta") or {}
        message = delta.get("message") or {}
        if kind == "content-delta":
            self.content_delta(index, message.get("content") or {})
        elif kind == "content-start":
            self.content_start(index, message.get("content") or {})
        elif kind == "content-end":
            self.content_end(index)
        elif kind == "tool-plan-delta":
            self.plan(message.get("tool_plan") or "")
        elif kind == "tool-call-start":
            self.call_start(index, message.get("tool_calls") or {})
        elif kind == "tool-call-delta":
            fn = (message.get("tool_calls") or {}).get("function") or {}
            if index in self.calls and isinstance(fn.get("arguments"), str):
                self.b.tool_args(str(index), fn["arguments"])
        elif kind == "tool-call-end":
            self.call_end(index)
        elif kind == "citation-start":
            self.cite(message.get("citations"))
        elif kind == "message-end":
            self.end(delta.get("finish_reason"), delta.get("usage"), delta.get("error"))
        # message-start, citation-end, debug and event types added later carry nothing to translate

    # ---- content --------------------------------------------------------------------------------

    def content_start(self, index: int, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == THINKING:
            self._reason(THINKING, content.get("thinking") or "", new=True)
        elif kind == "text":
            self._seal()
            self.starts[index] = self.text_len
            self._text(content.get("text") or "")
        else:
            return  # a block kind Cohere may add later: its deltas are not read
        self.blocks[index] = kind

    def content_delta(self, index: int, content: dict[str, Any]) -> None:
        if index not in self.blocks:  # no content-start came: the delta says what the block is
            self.content_start(index, {"type": THINKING if THINKING in content else "text"})
        kind = self.blocks.get(index)
        if kind == THINKING:
            self._reason(THINKING, content.get("thinking") or "")
        elif kind == "text":
            self._text(content.get("text") or "")

    def content_end(self, index: int) -> None:
        if self.blocks.pop(index, None) == THINKING:
            self._seal()

    def plan(self, text: str) -> None:
        if text:  # message-start's empty plan is no plan
            self._reason(PLAN, text)

    def call_start(self, index: int, call: dict[str, Any]) -> None:
        self._seal()
        self.text_len = 0  # the builder closes its open message: offsets start again
        fn = call.get("function") or {}
        arguments = fn.get("arguments")
        self.calls.add(index)
        self.b.tool_call(
            str(index),
            call.get("id") or new_id("call"),
            fn.get("name") or "",
            arguments if isinstance(arguments, str) else "",
        )

    def call_end(self, index: int) -> None:
        if index in self.calls:
            self.calls.discard(index)
            self.b.close_tool(str(index))

    def cite(self, citation: Any) -> None:
        """A citation of the text as a url_citation per source that has a URL."""
        if not isinstance(citation, dict) or citation.get("type", "TEXT_CONTENT") != "TEXT_CONTENT":
            return
        base = self.starts.get(citation.get("content_index") or 0)
        start, end = citation.get("start"), citation.get("end")
        if base is None or not isinstance(start, int) or not isinstance(end, int):
            return
        for source in citation.get("sources") or []:
            if not isinstance(source, dict):
                continue
            fields = source.get("document") if source.get("type") == "document" else source.get("tool_output")
            url = fields.get("url") if isinstance(fields, dict) else None
            if not isinstance(url, str) or not url:
                continue
            title = fields.get("title") if isinstance(fields, dict) else None
            self.b.annotate(
                {
                    "type": "url_citation",
                    "start_index": base + start,
                    "end_index": base + end,
                    "title": title if isinstance(title, str) and title else url,
                    "url": url,
                }
            )

    # ---- the end --------------------------------------------------------------------------------

    def end(self, reason: Any, usage: Any, error: Any) -> None:
        failed = FAILED.get(reason) if isinstance(reason, str) else None
        if failed is not None:
            status, code = failed
            message = error if isinstance(error, str) and error else f"the answer ended with finish_reason {reason}"
            raise ProviderError(self.provider, status, message, code=code, body={"finish_reason": reason})
        self._seal()
        for index in list(self.calls):
            self.call_end(index)
        if isinstance(usage, dict):
            tokens = usage.get("tokens")
            tokens = tokens if isinstance(tokens, dict) else {}
            self.b.set_usage(
                _int(tokens.get("input_tokens")),
                _int(tokens.get("output_tokens")),
                cached_tokens=_int(usage.get("cached_tokens")),
            )
        self.b.finish(FINISH.get(reason, "stop") if isinstance(reason, str) else "stop")

    # ---- helpers --------------------------------------------------------------------------------

    def _reason(self, kind: str, text: str, *, new: bool = False) -> None:
        """Reasoning text of ``kind``: each thinking block and the plan are reasoning items of their own."""
        if new or self.reasoning != kind:
            self._seal()
            self.text_len = 0  # the builder closes its open message: offsets start again
            self.reasoning = kind
            self.b.reasoning("", summary=False)
        if text:
            self.b.reasoning(text, summary=False)

    def _seal(self) -> None:
        """Close the open reasoning item with the state that says where it goes back (request.py)."""
        if self.reasoning is None:
            return
        self.b.reasoning_signature(tag_opaque(TAG, self.reasoning))
        self.b.close_reasoning()
        self.reasoning = None

    def _text(self, text: str) -> None:
        if text:
            self._seal()
            self.b.text(text)
            self.text_len += len(text)


def _int(value: Any) -> int:
    """A token count: Cohere's API declares them as numbers, which may be written ``12.0``."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, float) else 0
