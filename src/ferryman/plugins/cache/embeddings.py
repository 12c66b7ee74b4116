"""Embeddings for the semantic cache: a local CPU model, or a provider's embeddings API.

``local`` is WordLlama (static token embeddings, 256 dimensions): its weights ship inside the
installed package, it loads in ~60 ms and embeds a prompt in tens of microseconds on one CPU core,
with no GPU and no download at run time. ``provider/model`` calls that provider's OpenAI-compatible
``/embeddings`` endpoint through the provider's adapter, with a key from the provider's key pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ferryman.config import ConfigError, SemanticCacheEntry
from ferryman.gateway.keys import KeyPool
from ferryman.providers.base import HttpProvider, Provider


class Embedder(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def embed(self, text: str) -> np.ndarray:
        """A unit-length float32 vector."""


def _unit(vector: np.ndarray | list[float]) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class LocalEmbedder:
    name = "local"

    def __init__(self) -> None:
        self._model: Any = None  # a WordLlama model (the package ships no type information)

    async def start(self) -> None:
        self._model = await asyncio.to_thread(_load_wordllama)

    async def close(self) -> None:
        self._model = None

    async def embed(self, text: str) -> np.ndarray:
        assert self._model is not None, "embedder used before start()"
        return _unit(self._model.embed([text])[0])


def _load_wordllama() -> Any:
    import wordllama
    from wordllama import WordLlama

    # the weights and tokenizer ship in the package: never reach for the network
    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


class ProviderEmbedder:
    """``provider/model``: the provider's ``/embeddings`` through its own adapter (connection pool, auth,
    timeouts, error mapping), with a key its key pool picks (a key cooling down is passed over)."""

    def __init__(self, adapter: HttpProvider, keys: KeyPool, model: str, timeout: float) -> None:
        self.adapter = adapter
        self.keys = keys
        self.model = model
        self.timeout = timeout
        self.name = f"{adapter.name}/{model}"

    async def start(self) -> None:
        return None  # the adapter's pool is started with the other providers

    async def close(self) -> None:
        return None

    async def embed(self, text: str) -> np.ndarray:
        key = self.keys.pick(self.model)
        return _unit(await self.adapter.embed(self.model, text, key, self.timeout))


def embedder_for(
    semantic: SemanticCacheEntry, providers: Mapping[str, Provider], keys: Mapping[str, KeyPool]
) -> Embedder:
    """The embedder a ``semantic`` section names: ``local``, or ``provider/model`` through that provider's adapter."""
    if semantic.embeddings == "local":
        return LocalEmbedder()
    name, _, model = semantic.embeddings.partition("/")
    adapter = providers[name]
    if not isinstance(adapter, HttpProvider):
        raise ConfigError(f"cache.semantic.embeddings: provider {name!r} cannot serve embeddings in this build")
    return ProviderEmbedder(adapter, keys[name], model, semantic.timeout)
