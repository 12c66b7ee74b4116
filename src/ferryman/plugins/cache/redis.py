"""Redis cache backend, shared by every worker and host pointing at the same Redis.

Entries are plain keys with a TTL. The semantic part keeps each scope's vectors in one Redis hash
and compares them in process (exact cosine over at most ``max_vectors`` per scope); a candidate
whose entry has expired is removed as it is found. When Redis is unreachable every call behaves as
a miss and a warning is logged (at most once a minute): the gateway keeps serving.
"""

from __future__ import annotations

import logging
import time
from typing import cast

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("ferryman.cache")


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, namespace: str, max_vectors: int = 50_000) -> None:
        self.url = url
        self.ns = namespace
        self.max_vectors = max_vectors
        self._redis: aioredis.Redis | None = None
        self._last_warning = 0.0

    async def start(self) -> None:
        self._redis = aioredis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _down(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("cache: Redis unavailable (%s); serving without the cache", exc)

    @property
    def r(self) -> aioredis.Redis:
        assert self._redis is not None, "cache used before start()"
        return self._redis

    async def get(self, key: str) -> bytes | None:
        try:
            return cast(bytes | None, await self.r.get(f"{self.ns}:e:{key}"))  # bytes: decode_responses is off
        except (RedisError, OSError) as exc:
            self._down(exc)
            return None

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.r.set(f"{self.ns}:e:{key}", value, px=max(1, int(ttl * 1000)))
        except (RedisError, OSError) as exc:
            self._down(exc)

    async def add_vector(self, scope: str, key: str, vector: np.ndarray, ttl: float) -> None:
        hkey = f"{self.ns}:v:{scope}"
        try:
            if await self.r.hlen(hkey) >= self.max_vectors:
                return
            async with self.r.pipeline(transaction=False) as pipe:
                pipe.hset(hkey, key, vector.astype(np.float32).tobytes())
                pipe.pexpire(hkey, max(1, int(ttl * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down(exc)

    async def nearest(self, scope: str, vector: np.ndarray) -> tuple[str, float] | None:
        hkey = f"{self.ns}:v:{scope}"
        try:
            stored = cast(dict[bytes, bytes], await self.r.hgetall(hkey))
        except (RedisError, OSError) as exc:
            self._down(exc)
            return None
        if not stored:
            return None
        keys = [k.decode() for k in stored]
        matrix = np.stack([np.frombuffer(v, dtype=np.float32) for v in stored.values()])
        sims = matrix @ vector
        for best in np.argsort(-sims):
            key = keys[int(best)]
            try:
                alive = await self.r.exists(f"{self.ns}:e:{key}")
                if alive:
                    return key, float(sims[int(best)])
                await self.r.hdel(hkey, key)
            except (RedisError, OSError) as exc:
                self._down(exc)
                return None
        return None
