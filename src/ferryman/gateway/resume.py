"""Continue a stream that broke mid-way on the next target (config ``stream_resume: true``).

While relaying, the ``Resumer`` watches the events go by, decoding only the fields it needs (only on
this path, which is off by default; items stay dicts, hosted-tool ones too): the items already done, the
message whose text is still arriving, the last sequence number. If the upstream then breaks (connection
lost, idle timeout) with only text in progress, it asks the next target to continue: the same
request plus the text produced so far as an assistant message (a prefix that providers which
support prefill continue word for word). The continuation's events are rewritten into the
original stream — same response id, the open message keeps its id and index and its final text is
prefix + continuation, sequence numbers carry on — so the client sees one response.
``extra_fields.resumed`` says where it broke and who finished it.

A provider's own ``error`` / ``response.failed`` is an answer, not a break: it is never resumed,
and neither is a stream that broke inside a tool call or reasoning item.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ferryman.gateway.router import Target
from ferryman.providers.base import EventStream, SSEEvent

OpenNext = Callable[[str], Awaitable[tuple[EventStream, Target] | None]]

_decode = msgspec.json.decode
_encode = msgspec.json.encode


class _Watched(msgspec.Struct):
    """Any event, as far as the resumer reads it (the fields an event type lacks stay None)."""

    type: str = ""
    sequence_number: int = -1
    output_index: int = -1
    item_id: str = ""
    delta: str | None = None
    item: dict[str, Any] | None = None
    response: dict[str, Any] | None = None


_watched = msgspec.json.Decoder(_Watched).decode


class Resumer:
    def __init__(self, open_next: OpenNext, served_by: Target) -> None:
        self.open_next = open_next
        self.served_by = served_by
        self.done: dict[int, dict[str, Any]] = {}  # output_index -> finished item
        self.open: dict[int, dict[str, Any]] = {}  # output_index -> item still in progress
        self.text: dict[str, list[str]] = {}  # message item id -> text deltas so far
        self.sequence = -1
        self.response_id: str | None = None
        self.resumed: list[dict[str, Any]] = []
        self._rewriting: _Rewriter | None = None

    # ---- while the first stream flows -----------------------------------------------------------

    def observe(self, etype: str | None, data: bytes) -> None:
        if etype is None or not etype.startswith("response."):
            return
        try:
            event = _watched(data)
        except msgspec.ValidationError:
            return  # a field of an unexpected type: nothing this resumer can use
        if event.sequence_number >= 0:
            self.sequence = event.sequence_number
        kind = event.type or etype
        if kind == "response.output_text.delta" and event.delta is not None:
            self.text.setdefault(event.item_id, []).append(event.delta)
        elif kind == "response.output_item.added" and event.item is not None:
            self.open[event.output_index] = event.item
        elif kind == "response.output_item.done" and event.item is not None:
            self.open.pop(event.output_index, None)
            self.done[event.output_index] = event.item
        elif kind == "response.created" and event.response is not None:
            self.response_id = event.response.get("id")

    # ---- when it breaks -------------------------------------------------------------------------

    async def resume(self, chunk_index: int, reason: str) -> EventStream | None:
        if any(item.get("type") != "message" for item in self.open.values()):
            return None  # broke inside a tool call or reasoning: a prefix cannot carry it
        message = next(iter(self.open.items()), None)
        prefix = "".join(self.text.get(message[1]["id"], [])) if message else ""
        opened = await self.open_next(prefix)
        if opened is None:
            return None
        stream, target = opened
        self.resumed.append(
            {"from": self.served_by.label, "to": target.label, "at_chunk_index": chunk_index, "reason": reason}
        )
        self.served_by = target
        self._rewriting = _Rewriter(self, message, prefix)
        return stream

    def rewrite(self, ev: SSEEvent, etype: str | None) -> SSEEvent | None:
        """An event of the continuation, as part of the original stream (None: drop it)."""
        if self._rewriting is None:
            return ev
        return self._rewriting.rewrite(ev, etype)


class _Rewriter:
    def __init__(self, state: Resumer, message: tuple[int, dict[str, Any]] | None, prefix: str) -> None:
        self.state = state
        self.message = message  # (output_index, item) of the message being continued
        self.prefix = prefix
        self.index_map: dict[int, int] = {}
        self.next_index = max([*state.done, *state.open], default=-1) + 1
        self.message_new_index: int | None = None
        self.new_items: dict[int, dict[str, Any]] = {}

    def rewrite(self, ev: SSEEvent, etype: str | None) -> SSEEvent | None:
        if etype is None or not etype.startswith("response."):
            return ev
        obj = _decode(ev.data)
        if etype in ("response.created", "response.in_progress", "response.queued"):
            return None
        if etype == "response.output_item.added":
            item = obj["item"]
            if self.message is not None and item.get("type") == "message" and self.message_new_index is None:
                self.message_new_index = obj["output_index"]
                self.index_map[obj["output_index"]] = self.message[0]
                return None  # the original message is still open on the client's side
            self.index_map[obj["output_index"]] = self.next_index
            self.next_index += 1
        elif etype == "response.content_part.added" and self._is_message(obj):
            return None
        if "output_index" in obj:
            obj["output_index"] = self.index_map.get(obj["output_index"], obj["output_index"])
        if self._is_message(obj):
            self._continue_message(obj, etype)
        elif etype == "response.output_item.done":
            self.new_items[obj["output_index"]] = obj["item"]
        if etype in ("response.completed", "response.incomplete", "response.failed"):
            self._merge_response(obj["response"])
        self.state.sequence += 1
        obj["sequence_number"] = self.state.sequence
        return SSEEvent(ev.event, _encode(obj))

    def _is_message(self, obj: dict[str, Any]) -> bool:
        return (
            self.message is not None
            and obj.get("output_index") == self.message[0]
            and (self.message_new_index is not None)
        )

    def _continue_message(self, obj: dict[str, Any], etype: str) -> None:
        assert self.message is not None
        message_id = self.message[1]["id"]
        if "item_id" in obj:
            obj["item_id"] = message_id
        if etype == "response.output_text.done":
            obj["text"] = self.prefix + obj.get("text", "")
        elif etype == "response.content_part.done":
            obj["part"] = {**obj["part"], "text": self.prefix + obj["part"].get("text", "")}
        elif etype == "response.output_item.done":
            item = dict(obj["item"], id=message_id)
            content = [dict(p) for p in item.get("content", [])]
            if content:
                content[0]["text"] = self.prefix + content[0].get("text", "")
            else:
                content = [{"type": "output_text", "text": self.prefix, "annotations": [], "logprobs": []}]
            item["content"] = content
            obj["item"] = item
            self.new_items[self.message[0]] = item

    def _merge_response(self, response: dict[str, Any]) -> None:
        """The final response: the first stream's finished items, then the continuation's."""
        items = {**self.state.done, **self.new_items}
        response["output"] = [items[i] for i in sorted(items)]
        if self.state.response_id is not None:
            response["id"] = self.state.response_id
