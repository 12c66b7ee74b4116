"""What makes two requests "the same" for the cache.

The exact key hashes everything that changes the answer — model, input (normalised, so ``"hi"`` and
``[{"role": "user", "content": "hi"}]`` are one request), instructions, tools, sampling settings,
``text.format``, reasoning, the conversation it continues — and nothing that does not: ``stream``,
``fallbacks``, ``store``, ``metadata``, ``user`` and other gateway or bookkeeping fields. The
semantic cache compares the last user message by meaning, within a scope that hashes all the rest.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from ferryman.schemas.input import InputMessage, InputText
from ferryman.schemas.items import input_items, text_of

IGNORED = frozenset(
    {
        "stream",
        "stream_options",
        "fallbacks",
        "store",
        "metadata",
        "user",
        "background",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "input",
    }
)


def _digest(value: Any) -> str:
    return hashlib.sha256(msgspec.json.encode(value, order="sorted")).hexdigest()


def _settings(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in IGNORED and v is not None}


def exact_key(raw: dict[str, Any]) -> str:
    return _digest({"settings": _settings(raw), "input": input_items(raw.get("input"))})


def semantic_parts(raw: dict[str, Any]) -> tuple[str, str] | None:
    """(scope, text): the last user message's text, and a hash of everything else.

    None when the request does not end with a user message that has text (nothing to compare).
    """
    items = input_items(raw.get("input"))
    last = items[-1] if items else None
    if not isinstance(last, InputMessage) or last.role != "user":
        return None
    text = text_of(last.content).strip()
    if not text or not all(isinstance(p, InputText) for p in last.content):
        return None  # images and files are not compared by meaning
    return _digest({"settings": _settings(raw), "history": items[:-1]}), text
