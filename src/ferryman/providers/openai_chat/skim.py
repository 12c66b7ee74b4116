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


class _Delta(msgspec.Struct, forbid_unknown_fields=True):
    """A delta with text only (what the reader reads of a null field is nothing)."""

    content: str | None = None
    role: str | None = None
    refusal: None = None
    tool_calls: None = None
    function_call: None = None
    reasoning_content: None = None
    reasoning: None = None


class _Choice(msgspec.Struct, forbid_unknown_fields=True):
    delta: _Delta
    index: int = 0
    logprobs: None = None
    finish_reason: None = None


class _Plain(msgspec.Struct):
    """A chunk that only adds text to choice 0 (other members are the reader's to skip: ``id``, ``created``)."""

    choices: list[_Choice]
    model: str | None = None
    usage: None = None
    x_groq: None = None
    search_results: None = None
    citations: None = None
    images: None = None
    related_questions: None = None


_OBJECT = msgspec.json.Decoder(_Object)
_PLAIN = msgspec.json.Decoder(_Plain)
_decode = msgspec.json.decode
_encode = msgspec.json.encode


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

    def fold(self, kept: list[SSEEvent]) -> list[SSEEvent]:
        return fold(kept)

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


def fold(kept: list[SSEEvent]) -> list[SSEEvent]:
    """The kept chunks as the reader is to read them: each run of chunks that only add text to choice 0 as one
    chunk with their text joined (what the reader makes of it is the same answer, read once), the others as
    they came."""
    out: list[SSEEvent] = []
    texts: list[str] = []
    model: str | None = None
    plain = False  # a run of plain chunks is open

    def close() -> None:
        delta = {"content": "".join(texts)} if texts else {}
        chunk: dict[str, Any] = {"choices": [{"index": 0, "delta": delta}]}
        if model is not None:
            chunk["model"] = model
        out.append(SSEEvent(None, _encode(chunk)))
        texts.clear()

    for ev in kept:
        try:
            chunk = _PLAIN.decode(ev.data)
        except msgspec.DecodeError:  # (a ValidationError too)
            chunk = None
        if chunk is not None and len(chunk.choices) == 1 and chunk.choices[0].index == 0:
            content = chunk.choices[0].delta.content
            if content:
                texts.append(content)
            if not plain:
                plain, model = True, chunk.model
            continue
        if plain:
            close()
            plain = False
        out.append(ev)
    if plain:
        close()
    return out
