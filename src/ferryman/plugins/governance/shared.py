"""Counters in Redis, shared by every process and host of a gateway (``governance.counters: redis://...``).

Per key and team: the requests and tokens of the current minute (``<ns>:gov:r:<subject>:<minute>``,
``<ns>:gov:t:<subject>:<minute>``, expiring after two minutes) and the spend of the current and the
previous hour (``<ns>:gov:s:<subject>:<hour>``, expiring after three hours; older hours are the store's,
which the ledger reloads). Every change is an atomic ``INCR``, ``INCRBY`` or ``INCRBYFLOAT``.

A request costs one pipelined round trip (``read``): it counts itself in the minute of every limited
subject and reads their tokens and the budgets' recent spend; a refused request counts itself back
(``give_back``). An answer's charge (``charge``) is another pipeline, sent after the reply.

Every round trip is bounded by ``timeout`` and goes through a circuit breaker: after a failure the
counters are not asked for ``cooldown`` seconds (one warning), then a background ``PING`` finds out when
Redis is back; meanwhile the hook counts in process. A failed or skipped call raises ``CacheUnavailable``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from ferryman.plugins.guarded_redis import GuardedRedis

log = logging.getLogger("ferryman.governance")

# what a broken Redis raises (OSError covers refused connections and timeouts); ValueError and TypeError:
# a reply that is not a number
_FAILURES = (RedisError, OSError, ValueError, TypeError)
MINUTE_TTL = 120
HOUR_TTL = 3 * 3600


class Reading:
    """What one request's round trip read: per limited subject, its requests (this one included) and
    tokens in the minute; per budgeted subject, its spend by hour (the current and the previous one)."""

    __slots__ = ("requests", "spend", "tokens")

    def __init__(self, requests: list[int], tokens: list[int], spend: list[dict[int, float]]) -> None:
        self.requests = requests
        self.tokens = tokens
        self.spend = spend


class SharedCounters(GuardedRedis):
    def __init__(self, url: str, namespace: str, timeout: float, cooldown: float) -> None:
        super().__init__(
            url,
            timeout,
            cooldown,
            "governance: Redis counters",
            log,
            "rate limits and spend are counted in this process only",
            "counters are shared again",
        )
        self.ns = f"{namespace}:gov"

    async def _run(self, pipe: Any) -> list[Any]:
        try:
            return list(await pipe.execute())
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc

    async def read(self, limited: Sequence[str], budgeted: Sequence[str], minute: int, hour: int) -> Reading:
        """Count one request in the minute of every ``limited`` subject; read their tokens and the
        ``budgeted`` subjects' spend of this hour and the previous one. One round trip."""
        self.breaker.check()
        ns = self.ns
        pipe = self.r.pipeline(transaction=False)
        for subject in limited:
            counted = f"{ns}:r:{subject}:{minute}"
            pipe.incr(counted)
            pipe.expire(counted, MINUTE_TTL)
            pipe.get(f"{ns}:t:{subject}:{minute}")
        for subject in budgeted:
            pipe.get(f"{ns}:s:{subject}:{hour - 1}")
            pipe.get(f"{ns}:s:{subject}:{hour}")
        got = await self._run(pipe)
        try:
            n = 3 * len(limited)
            requests = [int(got[i]) for i in range(0, n, 3)]
            tokens = [int(got[i] or 0) for i in range(2, n, 3)]
            spend = [{hour - 1: float(got[i] or 0), hour: float(got[i + 1] or 0)} for i in range(n, len(got), 2)]
        except _FAILURES as exc:
            raise self.breaker.trip(exc) from exc
        return Reading(requests, tokens, spend)

    async def give_back(self, limited: Sequence[str], minute: int) -> None:
        """A refused request is not counted: its ``read`` is undone (a failure here is only logged)."""
        pipe = self.r.pipeline(transaction=False)
        for subject in limited:
            pipe.decr(f"{self.ns}:r:{subject}:{minute}")
        try:
            await self._run(pipe)
        except Exception:  # noqa: BLE001 - the breaker has it; the minute ends anyway
            return

    async def charge(self, subjects: Sequence[str], minute: int, hour: int, cost: float, tokens: int) -> None:
        """Add an answer's tokens to the minute and its cost to the hour of every subject (after the reply)."""
        self.breaker.check()
        pipe = self.r.pipeline(transaction=False)
        for subject in subjects:
            if tokens:
                counted = f"{self.ns}:t:{subject}:{minute}"
                pipe.incrby(counted, tokens)
                pipe.expire(counted, MINUTE_TTL)
            if cost:
                spent = f"{self.ns}:s:{subject}:{hour}"
                pipe.incrbyfloat(spent, cost)
                pipe.expire(spent, HOUR_TTL)
        if len(pipe):
            await self._run(pipe)
