"""A passed-through answer kept in the request log as its provider sent it, read into output items when read.

On the fast path (``providers/native.py``) a reply or a skimmed stream goes to its client without being read
into the canonical response; reading it only for the log's content cost more than the rest of the log entry
(about 95,000 instructions for a short Chat Completions reply, against ~40,000 for the entry and its row;
~400,000 for a stream of 20 chunks). So the entry keeps the answer itself, as the content's output:
``{"native_reply": <the reply>}`` (what the client got: the server's JSON with Ferryman's ``usage.cost`` and
``extra_fields``) or ``{"native_stream": [<each event's data>, ...]}`` (the stream as its reader reads it,
each run of text chunks folded into one, ``Tee.unread``, so a phrase is found whole; a named event as
``[name, data]``), and ``GET /admin/logs/{id}`` reads it into output items with the adapter of the provider that
answered (``NativeReader``), as the request would have. An answer whose provider is no longer configured, or
that its adapter cannot read, is shown as kept: nothing is lost either way. The text search (``q``) matches
the answer's text as it matches output items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ferryman.providers.base import Call, Provider
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.native import Tee, canonical
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.responses import check_request
from ferryman.sse import SSEEvent

NATIVE = "native_reply"  # the content's output, when it holds the provider's own reply
NATIVE_STREAM = "native_stream"  # ... or its own stream's events


def kept(reply: Any) -> dict[str, Any]:
    """The content's output for a reply no hook read: the reply as decoded (or its JSON bytes, as they came)."""
    return {NATIVE: msgspec.Raw(reply) if isinstance(reply, bytes) else reply}


def kept_stream(events: list[SSEEvent]) -> dict[str, Any]:
    """The content's output for a stream no hook read: its events' data (``[name, data]`` for a named one)."""
    return {
        NATIVE_STREAM: [
            ev.data.decode("utf-8", "replace") if ev.event is None else [ev.event, ev.data.decode("utf-8", "replace")]
            for ev in events
        ]
    }


class NativeReader:
    """Reads a kept reply of an entry (as ``entry_view`` shows it) into the output items it answered with."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = providers

    def __call__(self, view: dict[str, Any]) -> None:
        output = view.get("output")
        if not (isinstance(output, dict) and (NATIVE in output or NATIVE_STREAM in output)):
            return
        provider = self.providers.get(view.get("provider") or "")
        deployment = view.get("model_deployment")
        if not isinstance(provider, TranslatingProvider) or not isinstance(deployment, str):
            return  # its provider is gone from the config: the answer is shown as kept
        raw: dict[str, Any] = {"model": deployment, "input": view.get("input") or ""}
        try:
            call = Call(check_request(raw), raw, deployment, None)
            if NATIVE in output:
                response = canonical(provider.name, call, provider.parse_reply, output[NATIVE])
            else:
                response = _read_stream(provider, call, output[NATIVE_STREAM])
        except FerrymanError:
            return  # not an answer its adapter reads (any more): shown as kept
        view["output"] = response["output"]


def _read_stream(provider: TranslatingProvider, call: Call, events: Any) -> dict[str, Any]:
    """A kept stream read as the ``Tee`` would have read it, event by event, to its final response."""
    if not isinstance(events, list):
        raise InvalidRequestError("not a kept stream")
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    tee = Tee(provider.name, builder, provider.translator(builder).feed)
    pairs = ((None, item) if isinstance(item, str) else item for item in events)
    return tee.read_all(SSEEvent(name, str(data).encode()) for name, data in pairs)
