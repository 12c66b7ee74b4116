"""In-process cache backend: LRU bounded by entries and by bytes, with per-entry expiry."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np


class MemoryBackend:
    name = "memory"

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._vectors: dict[str, dict[str, np.ndarray]] = {}  # scope -> entry key -> unit vector
        self.clock = time.monotonic

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        expires, value = hit
        if expires <= self.clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self.clock() + ttl, value)
        self._bytes += len(value)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= len(value)

    async def add_vector(self, scope: str, key: str, vector: np.ndarray, ttl: float) -> None:
        self._vectors.setdefault(scope, {})[key] = vector

    async def nearest(self, scope: str, vector: np.ndarray) -> tuple[str, float] | None:
        vectors = self._vectors.get(scope)
        if not vectors:
            return None
        for key in [k for k in vectors if k not in self._entries]:
            del vectors[key]  # its entry expired or was evicted
        if not vectors:
            return None
        keys = list(vectors)
        sims = np.stack([vectors[k] for k in keys]) @ vector
        best = int(np.argmax(sims))
        return keys[best], float(sims[best])
