"""A passed-through reply kept in the request log as its provider sent it, read into output items when read.

On the fast path (``providers/native.py``) a reply goes to its client without being read into the canonical
response; reading it only for the log's content cost more than the rest of the log entry (about 95,000
instructions for a short Chat Completions reply, against ~40,000 for the entry and its row). So the entry
keeps the reply itself, as the content's output ``{"native_reply": <the reply>}`` (what the client got:
the server's JSON with Ferryman's ``usage.cost`` and ``extra_fields``), and ``GET /admin/logs/{id}`` reads it
into output items with the adapter of the provider that answered (``NativeReader``), as the request would
have. A reply whose provider is no longer configured, or that its adapter cannot read, is shown as kept:
nothing is lost either way. The text search (``q``) matches the reply's text as it matches output items.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ferryman.providers.base import Call, Provider
from ferryman.providers.native import canonical
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import FerrymanError
from ferryman.schemas.responses import check_request

NATIVE = "native_reply"  # the content's output, when it holds the provider's own reply


def kept(reply: Any) -> dict[str, Any]:
    """The content's output for a reply no hook read: the reply as decoded (or its JSON bytes, as they came)."""
    return {NATIVE: msgspec.Raw(reply) if isinstance(reply, bytes) else reply}


class NativeReader:
    """Reads a kept reply of an entry (as ``entry_view`` shows it) into the output items it answered with."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self.providers = providers

    def __call__(self, view: dict[str, Any]) -> None:
        output = view.get("output")
        if not (isinstance(output, dict) and NATIVE in output):
            return
        provider = self.providers.get(view.get("provider") or "")
        deployment = view.get("model_deployment")
        if not isinstance(provider, TranslatingProvider) or not isinstance(deployment, str):
            return  # its provider is gone from the config: the reply is shown as kept
        raw: dict[str, Any] = {"model": deployment, "input": view.get("input") or ""}
        try:
            call = Call(check_request(raw), raw, deployment, None)
            view["output"] = canonical(provider.name, call, provider.parse_reply, output[NATIVE])["output"]
        except FerrymanError:
            return  # not a reply its adapter reads (any more): shown as kept
