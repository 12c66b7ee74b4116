"""Call the targets in order: retry a retryable failure with backoff, then move down the list.

A caller's own mistake (400, 401, 404, ...) returns at once: another provider would refuse it too.
Streams fail over only before their first byte reaches the client; ``open_stream`` returns once an
upstream has accepted the request (2xx), and what happens after that is the relay's business.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ferryman.config import Config
from ferryman.gateway.router import Router, Target, pick_key
from ferryman.providers.base import Call, EventStream, Provider, UpstreamReply
from ferryman.schemas.errors import FerrymanError
from ferryman.schemas.responses import ResponsesRequest

T = TypeVar("T")

BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 30.0


@dataclass(slots=True)
class Attempts:
    """What was tried, for extra_fields and the x-ferryman-attempts header."""

    log: list[tuple[str, int]] = field(default_factory=list)

    def header(self) -> str:
        return ",".join(f"{label}:{status}" for label, status in self.log)


class Dispatcher:
    def __init__(self, config: Config, providers: dict[str, Provider], router: Router) -> None:
        self.config = config
        self.providers = providers
        self.router = router
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def create(
        self, req: ResponsesRequest, raw: dict, targets: list[Target], attempts: Attempts, timeout: float | None
    ) -> tuple[UpstreamReply, Target]:
        return await self._run(req, raw, targets, attempts, timeout, lambda p, c: p.create(c))

    async def open_stream(
        self, req: ResponsesRequest, raw: dict, targets: list[Target], attempts: Attempts, timeout: float | None
    ) -> tuple[EventStream, Target]:
        return await self._run(req, raw, targets, attempts, timeout, lambda p, c: p.stream(c))

    async def _run(
        self,
        req: ResponsesRequest,
        raw: dict,
        targets: list[Target],
        attempts: Attempts,
        timeout: float | None,
        op: Callable[[Provider, Call], Awaitable[T]],
    ) -> tuple[T, Target]:
        last: FerrymanError | None = None
        for target in targets:
            provider = self.providers[target.provider]
            retries = provider.config.max_retries
            for attempt in range(retries + 1):
                try:
                    call = Call(req, raw, target.deployment, pick_key(provider.config, target.deployment), timeout)
                    result = await op(provider, call)
                except FerrymanError as exc:
                    attempts.log.append((target.label, exc.status))
                    if not exc.retryable:
                        raise
                    last = exc
                    if attempt < retries:
                        await self.sleep(self._delay(exc, attempt))
                    continue
                attempts.log.append((target.label, 200))
                return result, target
        assert last is not None
        raise last

    @staticmethod
    def _delay(exc: FerrymanError, attempt: int) -> float:
        hinted = _retry_after(exc.headers)
        if hinted is not None:
            return min(hinted, RETRY_AFTER_CAP)
        return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def _retry_after(headers: dict[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    sec = headers.get("retry-after")
    if sec is not None:
        try:
            return max(0.0, float(sec))
        except ValueError:
            return None  # an HTTP date: fall back to our own backoff
    return None
