"""Embeddings for the semantic cache: a local CPU model, or a provider's embeddings API.

``local`` is WordLlama (static token embeddings, 256 dimensions): its weights ship inside the
installed package, it loads in ~60 ms and embeds a prompt in tens of microseconds on one CPU core,
with no GPU and no download at run time. ``provider/model`` calls that provider's OpenAI-compatible
``/embeddings`` endpoint with the provider's own key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

import aiohttp
import numpy as np

from ferryman.config import ProviderConfig


class Embedder(Protocol):
    name: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def embed(self, text: str) -> np.ndarray:
        """A unit-length float32 vector."""


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


class LocalEmbedder:
    name = "local"

    def __init__(self) -> None:
        self._model = None

    async def start(self) -> None:
        self._model = await asyncio.to_thread(_load_wordllama)

    async def close(self) -> None:
        self._model = None

    async def embed(self, text: str) -> np.ndarray:
        assert self._model is not None, "embedder used before start()"
        return _unit(self._model.embed([text])[0])


def _load_wordllama():  # type: ignore[no-untyped-def]
    import wordllama
    from wordllama import WordLlama

    # the weights and tokenizer ship in the package: never reach for the network
    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


class ProviderEmbedder:
    def __init__(self, provider: ProviderConfig, model: str) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider.name}/{model}"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def embed(self, text: str) -> np.ndarray:
        assert self._session is not None
        headers = {"content-type": "application/json", **self.provider.headers}
        keys = self.provider.usable_keys(self.model)
        if keys:
            headers["authorization"] = f"Bearer {keys[0].secret.reveal()}"
        async with self._session.post(
            f"{self.provider.base_url}/embeddings", json={"model": self.model, "input": text}, headers=headers
        ) as resp:
            resp.raise_for_status()
            body = await resp.json()
        return _unit(np.array(body["data"][0]["embedding"], dtype=np.float32))
