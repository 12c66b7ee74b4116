"""Per-provider concurrency limit with a bounded queue: backpressure instead of unbounded memory.

Up to ``max_concurrency`` calls run at once; up to ``max_queue`` more wait their turn; past that a
request is refused at once with 429 and ``retry-after`` (``QueueFullError``, the gateway's own refusal:
the next target may have room, but no provider key is blamed for it).
"""

from __future__ import annotations

import asyncio

from ferryman.schemas.errors import QueueFullError


class Limiter:
    def __init__(self, name: str, limit: int, max_queue: int) -> None:
        self.name = name
        self.limit = limit
        self.max_queue = max_queue
        self.active = 0
        self._waiters: asyncio.Queue[asyncio.Future[None]] | None = None
        self.waiting = 0

    async def acquire(self) -> None:
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.max_queue:
            raise QueueFullError(
                f"{self.name}: {self.active} requests in flight and {self.waiting} queued (max_concurrency "
                f"{self.limit}, max_queue {self.max_queue}); try again shortly",
                headers={"retry-after": "1"},
            )
        if self._waiters is None:
            self._waiters = asyncio.Queue()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.put_nowait(fut)
        self.waiting += 1
        try:
            await fut  # release() hands its slot over: active stays the same
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot arrived as we were cancelled: pass it on
            raise
        finally:
            self.waiting -= 1

    def release(self) -> None:
        waiters = self._waiters
        while waiters is not None and not waiters.empty():
            fut = waiters.get_nowait()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1
