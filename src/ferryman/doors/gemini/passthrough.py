"""The Gemini API's own answer to the Gemini door, as Google sent it.

On the fast path (``providers/native.py``) the client gets the Gemini API's reply and chunks unchanged:
nothing is read out or rebuilt, so ``groundingMetadata``, ``safetyRatings``, ``thoughtSignature``, the
model version and any field added later reach it. The translated answer adds nothing of Ferryman's to a
``GenerateContentResponse`` (its price is in the gateway's headers, log and metrics), so neither does this.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import SSEEvent
from ferryman.schemas.errors import FerrymanError
from ferryman.sse import encode_event

from .response import stream_error


class GeminiFrames:
    """A passed-through ``streamGenerateContent?alt=sse`` stream, chunk by chunk."""

    __slots__ = ()

    def frame(self, ev: SSEEvent) -> bytes:
        return encode_event(ev.event, ev.data)

    def last(self, ev: SSEEvent | None, response: dict[str, Any]) -> bytes:
        return encode_event(ev.event, ev.data) if ev is not None else b""

    def failure(self, exc: FerrymanError) -> bytes:
        return encode_event(None, msgspec.json.encode(stream_error(exc.code, exc.message, exc.param)))
