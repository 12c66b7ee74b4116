"""A Chat Completions server's own answer to the Chat Completions door, with Ferryman's additions spliced in.

On the fast path (``providers/native.py``) the client gets the server's reply and chunks as they came:
nothing is read out or rebuilt, so every field the server sends (``system_fingerprint``, a server's own
extensions) reaches it. Ferryman adds only what the API has room for, as the translated answer has it:
``usage.cost`` and ``extra_fields`` on the reply, and on the stream's usage chunk (the last before
``data: [DONE]``), which is held back until the stream's end has been priced. A client that did not ask
for usage (``stream_options.include_usage``) does not get the usage chunk the gateway asked for in its
name; its stream then has no ``extra_fields``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ferryman.providers.base import SSEEvent
from ferryman.schemas.errors import FerrymanError
from ferryman.sse import encode_event

from .stream import error_frame

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_USAGE = b'"usage"'
_NO_USAGE = re.compile(rb'"usage"\s*:\s*null')
_NULL_USAGE = b'"usage":null'  # (what every chunk but the usage one has, found without the expression)


def with_additions(body: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """The server's reply or usage chunk with the canonical response's ``usage.cost`` and ``extra_fields``."""
    cost = (response.get("usage") or {}).get("cost")
    usage = body.get("usage")
    if cost is not None and isinstance(usage, dict):
        usage["cost"] = cost
    extra = response.get("extra_fields")
    if extra is not None:
        body["extra_fields"] = extra
    return body


def reply(native: Any, response: dict[str, Any]) -> bytes:
    return _encode(with_additions(native, response) if isinstance(native, dict) else native)


class ChatFrames:
    """A passed-through Chat Completions stream, chunk by chunk (see the module's docstring)."""

    __slots__ = ("held", "include_usage")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.held: bytes | None = None  # the usage chunk, until the stream's end

    def frame(self, ev: SSEEvent) -> bytes:
        data = ev.data
        if _USAGE in data and _NULL_USAGE not in data and not _NO_USAGE.search(data):
            self.held = data
            return b""
        return encode_event(ev.event, data)

    def last(self, ev: SSEEvent | None, response: dict[str, Any]) -> bytes:
        out = b""
        held = self.held
        if held is not None:
            chunk = _decode(held)
            if self.include_usage:
                out = encode_event(None, _encode(with_additions(chunk, response)))
            elif isinstance(chunk, dict) and chunk.get("choices"):  # usage on a chunk that also answers
                out = encode_event(None, held)
        return out + (encode_event(ev.event, ev.data) if ev is not None else b"")

    def failure(self, exc: FerrymanError) -> bytes:
        return error_frame({"message": exc.message, "code": exc.code, "param": exc.param})
