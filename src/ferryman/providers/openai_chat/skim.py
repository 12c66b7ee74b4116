"""A passed-through Chat Completions stream looked at, not read: which chunks can wait, and the head at its end.

The relay's ``Tee`` (``providers/native.py``) reads a stream's first chunks into the canonical response as they
go out; once the first token is read, an ordinary chunk (a JSON object in UTF-8 with no ``"error"`` in it, the
bytes checked, nothing built) is kept unread. At ``[DONE]`` the head of the final response is read from the
few chunks that say it, the last with a ``usage`` (or Groq's ``x_groq.usage``) and the last with a
``finish_reason``, so the cost is priced before the client has the end; the kept chunks are read whole only
for the hooks that read the output, once it has. A stream whose end does not say it plainly (no usage, a
finish the reader fails on) is read whole at once instead, as every chunk that is not ordinary is.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ferryman.providers.builder import FINISH as STATUS
from ferryman.sse import SSEEvent

from .quirks import Quirks
from .response import FINISH, canonical_usage

_ERROR = b'"error"'
_DONE = b"[DONE]"
_USAGE = re.compile(rb'"(?:usage|x_groq)"\s*:\s*\{')
_FINISHED = re.compile(rb'"finish_reason"\s*:\s*"')


class _Object(msgspec.Struct):
    """Any JSON object: decoding into it checks the syntax and skips every member."""


_OBJECT = msgspec.json.Decoder(_Object)
_decode = msgspec.json.decode


class ChatSkim:
    __slots__ = ("quirks",)

    def __init__(self, quirks: Quirks) -> None:
        self.quirks = quirks

    def keeps(self, ev: SSEEvent) -> bool:
        data = ev.data
        if ev.event is not None or data[:1] != b"{" or _ERROR in data:
            return False
        try:
            _OBJECT.decode(data)
            if not data.isascii():
                data.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            return False  # the reader says what is wrong with it
        return True

    def ends(self, ev: SSEEvent) -> bool:
        return ev.data.strip() == _DONE

    def head(self, kept: list[SSEEvent], model: str) -> dict[str, Any] | None:
        usage: dict[str, Any] | None = None
        reason: Any = None
        for ev in reversed(kept):  # the reader keeps the last of each
            data = ev.data
            if usage is None and _USAGE.search(data):
                usage = _usage(_decode(data))
            if reason is None and _FINISHED.search(data):
                reason = _finish_reason(_decode(data))
            if usage is not None and reason is not None:
                break
        if usage is None:
            return None
        if reason is None:
            reason = "stop"
        elif not isinstance(reason, str) or reason.lower() not in FINISH:
            return None  # the reader's to judge (``error``: the stream failed)
        status, _ = STATUS.get(FINISH[reason.lower()], ("completed", None))
        return {"model": model, "usage": canonical_usage(usage, self.quirks), "status": status}


def _usage(chunk: Any) -> dict[str, Any] | None:
    if not isinstance(chunk, dict):
        return None
    usage = chunk.get("usage")
    groq = chunk.get("x_groq")
    if not isinstance(usage, dict) and isinstance(groq, dict):
        usage = groq.get("usage")
    return usage if isinstance(usage, dict) and usage else None


def _finish_reason(chunk: Any) -> Any:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict) and (choice.get("index") or 0) == 0:
            return choice.get("finish_reason")
    return None
