"""Ferryman's request extensions: fields the Responses API lacks that a client may still send (the Chat
Completions door carries them from its own request): ``stop``, ``seed``, ``frequency_penalty``,
``presence_penalty``. Each adapter maps the ones its provider has (a Chat Completions server takes them
as they are; Anthropic, Gemini and Bedrock take stop sequences, Gemini a seed too)."""

from __future__ import annotations

from typing import Any

EXTENSIONS = ("stop", "seed", "frequency_penalty", "presence_penalty")


def stop_sequences(raw: dict[str, Any]) -> list[str] | None:
    """``stop`` (one string or a list of them) as a list; None when the request has none."""
    stop = raw.get("stop")
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and stop:
        return [s for s in stop if isinstance(s, str)]
    return None
