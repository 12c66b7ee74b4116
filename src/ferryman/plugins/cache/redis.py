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
from redis.exceptions import RedisError

from ferryman.plugins.cache.breaker import log
from ferryman.plugins.guarded_redis import GuardedRedis

_FAILURES = (RedisError, OSError)  # OSError covers refused connections and asyncio's TimeoutError


class RedisBackend(GuardedRedis):
    name = "redis"

    def __init__(
        self, url: str, namespace: str, timeout: float = 0.25, cooldown: float = 5.0, max_vectors: int = 50_000
    ) -> None:
        super().__init__(
            url, timeout, cooldown, "cache: Redis", log, "serving without the cache", "the cache is back on"
        )
        self.ns = namespace
        self.max_vectors = max_vectors

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
