"""Every recorded whole 200 reply of the translating adapters, and an adapter of each kind to read them with
(``tests/providers/test_silent_builder.py``, ``bench/readers.py``)."""

from __future__ import annotations

from typing import Any

from ferryman.config import config_from_dict
from ferryman.providers.registry import build_provider
from ferryman.providers.translating import TranslatingProvider
from tests.fakes.upstream import FIXTURES, load_fixture

KEY = [{"value": "sk-whole-replies-0123456789"}]
ENTRIES: dict[str, dict[str, Any]] = {
    "openai": {"type": "openai-chat", "keys": KEY},
    "groq": {"type": "openai-chat", "base_url": "https://api.groq.com/openai/v1", "keys": KEY},
    "mistral": {"type": "openai-chat", "base_url": "https://api.mistral.ai/v1", "keys": KEY},
    "deepseek": {"type": "openai-chat", "base_url": "https://api.deepseek.com/v1", "keys": KEY},
    "openrouter": {"type": "openai-chat", "base_url": "https://openrouter.ai/api/v1", "keys": KEY},
    "cohere": {"keys": KEY},
    "anthropic": {"keys": KEY},
    "gemini": {"keys": KEY},
    "bedrock": {"region": "us-east-1", "keys": KEY},
}
FOLDERS = {  # recording folder -> the provider entry that reads it
    "openai-chat": "openai",
    "groq-chat": "groq",
    "mistral-chat": "mistral",
    "cohere-chat": "cohere",
    "anthropic-messages": "anthropic",
    "gemini-generatecontent": "gemini",
    "bedrock-converse": "bedrock",
}


def providers() -> dict[str, TranslatingProvider]:
    """One adapter per entry of ``ENTRIES``, by its name (the name picks a Chat Completions server's quirks)."""
    config = config_from_dict({"providers": ENTRIES, "store": False}, {})
    out: dict[str, TranslatingProvider] = {}
    for name in ENTRIES:
        provider = build_provider(config.providers[name])
        assert isinstance(provider, TranslatingProvider)
        out[name] = provider
    return out


def recorded() -> list[tuple[str, str, dict[str, Any]]]:
    """(provider entry, ``folder/name``, reply) for every recorded whole 200 reply, folder by folder."""
    out = []
    for folder, entry in FOLDERS.items():
        for path in sorted((FIXTURES / folder).glob("*.json")):
            response = load_fixture(f"{folder}/{path.stem}")["response"]
            if response["status"] == 200 and isinstance(response.get("body"), dict):
                out.append((entry, f"{folder}/{path.stem}", response["body"]))
    return out
