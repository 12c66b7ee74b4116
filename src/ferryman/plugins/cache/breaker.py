"""A circuit breaker for a cache backend: after a failure the cache is skipped, and a background probe
finds out when the backend is back.

Closed, calls go through. A failure (a timeout, a refused or broken connection) opens it: one warning
is logged, and every call is refused at once with ``CacheUnavailable``, without touching the backend,
so a Redis that accepts connections and never answers costs one request one short timeout, not every
request. Once ``cooldown`` seconds have passed, the next call starts one probe as a background task
(that call is still refused: the probe is never on a request's path); the probe closes the breaker
when the backend answers, or keeps it open for another cooldown, without a new warning.

``clock`` and ``probe_task`` are attributes so that a test can move time on and wait for the probe.
Governance's shared counters use it too, with their own logger and words for what happens meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("ferryman.cache")


class CacheUnavailable(Exception):
    """The cache backend is not used right now: it failed, and its breaker is open."""


class Breaker:
    def __init__(
        self,
        name: str,
        probe: Callable[[], Awaitable[object]],
        cooldown: float,
        *,
        logger: logging.Logger = log,
        meanwhile: str = "serving without the cache",
        back: str = "the cache is back on",
    ) -> None:
        self.name = name
        self.log = logger
        self.meanwhile = meanwhile
        self.back = back
        self.cooldown = cooldown
        self.clock: Callable[[], float] = time.monotonic
        self.probe_task: asyncio.Task[None] | None = None  # the latest probe
        self._probe = probe
        self._open_until: float | None = None  # None while closed

    @property
    def closed(self) -> bool:
        return self._open_until is None

    def check(self) -> None:
        """Return while closed; raise ``CacheUnavailable`` while open (past the cooldown, start one probe)."""
        if self._open_until is None:
            return
        if self.clock() >= self._open_until and (self.probe_task is None or self.probe_task.done()):
            self._open_until = self.clock() + self.cooldown  # the next probe, if this one fails
            self.probe_task = asyncio.create_task(self._run_probe(), name=f"{self.name} probe")
        raise CacheUnavailable(f"{self.name} is skipped after a failure")

    def trip(self, exc: BaseException) -> CacheUnavailable:
        """Open the breaker after ``exc`` (one warning per opening); the error for the caller to raise."""
        if self._open_until is None:
            self.log.warning(
                "%s unavailable (%s); %s, probing again in %g s",
                self.name,
                (str(exc) or type(exc).__name__)[:300],
                self.meanwhile,
                self.cooldown,
            )
        self._open_until = self.clock() + self.cooldown
        return CacheUnavailable(f"{self.name} failed")

    async def _run_probe(self) -> None:
        try:
            await self._probe()
        except Exception:  # noqa: BLE001 - still down: the breaker stays open for another cooldown
            return
        if self._open_until is not None:
            self._open_until = None
            self.log.info("%s answers again; %s", self.name, self.back)

    async def close(self) -> None:
        task = self.probe_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
