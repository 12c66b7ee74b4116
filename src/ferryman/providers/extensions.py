"""Ferryman's request extensions: fields the Responses API lacks that a client may still send (the Chat
Completions door carries them from its own request): ``stop``, ``seed``, ``frequency_penalty``,
``presence_penalty``. Each adapter maps the ones its provider has (a Chat Completions server takes them
as they are; Anthropic, Gemini and Bedrock take stop sequences, Gemini a seed too)."""

from __future__ import annotations

EXTENSIONS = ("stop", "seed", "frequency_penalty", "presence_penalty")
