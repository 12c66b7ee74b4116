"""Anthropic's own answer to the Anthropic Messages door, with Ferryman's price spliced in.

On the fast path (``providers/native.py``) the client gets Anthropic's reply and events as they came:
nothing is read out or rebuilt, so every field Anthropic sends (a block type new this week, ``container``,
``context_management`` edits, citations, signatures) reaches it. Ferryman adds only what the translated
answer adds where Anthropic's schema has room for it: ``usage.cost`` (an extra member of ``usage``, which
the Anthropic SDKs keep as an extra field). In a stream the usage is on ``message_delta``, which is held
back until ``message_stop``, when the answer has been priced; every other event goes out as it came.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import SSEEvent
from ferryman.schemas.errors import FerrymanError
from ferryman.sse import encode_event

from .errors import of_exception

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_DELTA = "message_delta"


def with_cost(body: Any, response: dict[str, Any]) -> Any:
    """A reply or ``message_delta`` event with the canonical response's ``usage.cost`` in its ``usage``."""
    cost = (response.get("usage") or {}).get("cost")
    usage = body.get("usage") if isinstance(body, dict) else None
    if cost is not None and isinstance(usage, dict):
        usage["cost"] = cost
    return body


def reply(native: Any, response: dict[str, Any]) -> bytes:
    return _encode(with_cost(native, response))


class MessagesFrames:
    """A passed-through Messages stream, event by event (see the module's docstring)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: SSEEvent | None = None  # message_delta, until the stream's end

    def frame(self, ev: SSEEvent) -> bytes:
        if ev.event == _DELTA:
            self.held = ev
            return b""
        return encode_event(ev.event, ev.data)

    def last(self, ev: SSEEvent | None, response: dict[str, Any]) -> bytes:
        out = b""
        held = self.held
        if held is not None:
            out = encode_event(held.event, _encode(with_cost(_decode(held.data), response)))
        return out + (encode_event(ev.event, ev.data) if ev is not None else b"")

    def failure(self, exc: FerrymanError) -> bytes:
        return encode_event("error", _encode(of_exception(exc)))
