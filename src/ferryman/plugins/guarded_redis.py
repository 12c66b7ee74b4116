"""A Redis client for a plugin that must never fail a request: every call bounded by ``timeout`` (connecting
and each reply; never retried), behind a circuit breaker (``cache/breaker.py``) whose probe is a ``PING``.
The cache's Redis backend and governance's shared counters are ones."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ferryman.plugins.cache.breaker import Breaker


class GuardedRedis:
    def __init__(
        self, url: str, timeout: float, cooldown: float, name: str, logger: logging.Logger, meanwhile: str, back: str
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.breaker = Breaker(name, self.ping, cooldown, logger=logger, meanwhile=meanwhile, back=back)
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
        assert self._redis is not None, f"{self.breaker.name} used before start()"
        return self._redis

    async def ping(self) -> None:
        """Whether Redis answers (the breaker's probe, and ``/ready``)."""
        await self.r.ping()
