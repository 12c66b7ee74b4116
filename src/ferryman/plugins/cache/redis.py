"""Redis cache backend, shared by every worker and host pointing at the same Redis.

Entries are plain keys with a TTL. The semantic part keeps each scope's vectors in one Redis hash
and compares them in process (exact cosine over at most ``max_vectors`` per scope); a candidate
whose entry has expired is removed as it is found.

Every call is bounded by ``timeout`` (connecting and each reply; never retried), and goes through a
circuit breaker (``breaker.py``): after a failure the cache is skipped without any Redis call for
``cooldown`` seconds, then a background ``PING`` closes the breaker when Redis answers again. A
failed or skipped call raises ``CacheUnavailable``, which the cache takes as "no cache" for that request.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ferryman.plugins.cache.breaker import Breaker

_FAILURES = (RedisError, OSError)  # OSError covers refused connections and asyncio's TimeoutError


class RedisBackend:
    name = "redis"

    def __init__(
        self, url: str, namespace: str, timeout: float = 0.25, cooldown: float = 5.0, max_vectors: int = 50_000
    ) -> None:
        self.url = url
        self.ns = namespace
        self.timeout = timeout
        self.max_vectors = max_vectors
        self.breaker = Breaker("Redis", self.ping, cooldown)
        self._redis: aioredis.Redis | None = None

    async def start(self) -> None:
        self._redis = aioredis.from_url(
            self.url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout, retry=Retry(NoBackoff(), 0)
        )

    async def close(self) -> None:
        await self.breaker.close()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    @property
    def r(self) -> aioredis.Redis:
        assert self._redis is not None, "cache used before start()"
        return self._redis

    async def ping(self) -> None:
        await self.r.ping()

    async def get(self, key: str) -> bytes | None:
        self.breaker.check()
        try:
            return cast(bytes | None, await self.r.get(f"{self.ns}:e:{key}"))  # bytes: decode_responses is off
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.breaker.check()
        try:
            await self.r.set(f"{self.ns}:e:{key}", value, px=max(1, int(ttl * 1000)))
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc

    async def add_vector(self, scope: str, key: str, vector: np.ndarray, ttl: float) -> None:
        hkey = f"{self.ns}:v:{scope}"
        self.breaker.check()
        try:
            if await self.r.hlen(hkey) >= self.max_vectors:
                return
            async with self.r.pipeline(transaction=False) as pipe:
                pipe.hset(hkey, key, vector.astype(np.float32).tobytes())
                pipe.pexpire(hkey, max(1, int(ttl * 1000)))
                await pipe.execute()
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc

    async def nearest(self, scope: str, vector: np.ndarray) -> tuple[str, float] | None:
        hkey = f"{self.ns}:v:{scope}"
        self.breaker.check()
        try:
            stored = cast(dict[bytes, bytes], await self.r.hgetall(hkey))
            if not stored:
                return None
            keys = [k.decode() for k in stored]
            matrix = np.stack([np.frombuffer(v, dtype=np.float32) for v in stored.values()])
            sims = matrix @ vector
            for best in np.argsort(-sims):
                key = keys[int(best)]
                if await self.r.exists(f"{self.ns}:e:{key}"):
                    return key, float(sims[int(best)])
                await self.r.hdel(hkey, key)
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc
        return None
