"""The request log's writer: a bounded queue in front of the store, written in batches by one task.

A request only appends its entry to the queue (``put``, no await); the writer task takes up to
``batch_size`` entries at a time and writes each batch in one transaction. When the queue is full the
entry is dropped and counted (``dropped``, for metrics): memory stays bounded whatever the store's
speed. A batch the store refuses is logged and counted (``failed``); a request never waits for, nor
fails with, the log. With ``retention_days`` the same task deletes older entries, at start and then
once an hour by ``clock`` (a test sets its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from ferryman.config import LogsEntry
from ferryman.state.logs import LogEntry, LogStore

log = logging.getLogger("ferryman")

PRUNE_EVERY = 3600.0  # seconds (of ``clock``) between two prunes
# after a wake-up, entries gather this long (seconds) before a batch is written, unless a batch is full or a
# reader waits for them (``flush``: /admin/logs): one store job per 100 ms rather than one per request on a
# busy gateway; a longer batch is cheaper per entry (1.5 of 20 us on the store's thread against 20 ms at 4,000
# requests a second: fewer commits, fewer rewrites of each index's last page)
LINGER = 0.1
DAY = 86_400.0


class LogWriter:
    def __init__(self, store: LogStore, config: LogsEntry, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock  # unix seconds: entries' times and the retention's cut
        self.max_queue = config.queue_size
        self.batch_size = config.batch_size
        self.retention = config.retention_days * DAY if config.retention_days else None
        self.dropped = 0  # entries dropped because the queue was full (ferryman_log_entries_dropped_total)
        self.failed = 0  # entries lost because the store refused their batch
        self.queue: deque[LogEntry] = deque()
        self._accepted = 0  # entries ever queued
        self._done = 0  # entries ever taken from the queue and written (or lost to a failure)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._next_prune: float | None = None
        self._lingering = False
        self._lingered = False  # the linger's time is up
        self._stopping = False  # ``stop`` asked: write what is queued, then return
        self._ticker: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def dropped_count(self) -> int:
        """``dropped``, for the metrics hook (a compiled method: no Python frame a request, as a lambda was)."""
        return self.dropped

    def put(self, entry: LogEntry) -> None:
        """Queue an entry for the writer, or drop and count it when the queue is full."""
        if len(self.queue) >= self.max_queue:
            self.dropped += 1
            return
        self.queue.append(entry)
        self._accepted += 1
        if not self._lingering or len(self.queue) >= self.batch_size:  # no wake-up per entry while gathering
            self._wake.set()

    async def flush(self) -> None:
        """Until every entry queued so far is written (or lost), and a prune then due is done."""
        target = self._accepted
        if self._done >= target or self._task is None or self._task.done():
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        self._wake.set()
        await future

    def start(self) -> None:
        self._wake.set()  # a first round at once: the prune due at start
        self._task = asyncio.create_task(self._run(), name="ferryman-log-writer")
        self._tick()

    async def stop(self) -> None:
        """Write what is queued, then stop.

        The writer is told, not cancelled: it ends its round (the batch in flight, then the rest of the queue)
        and returns. A cancel could be lost: on Python 3.11 ``asyncio.wait_for`` returns its result instead of
        raising when the cancel meets the wait's own end in one turn of the loop, which left a shutdown
        waiting forever for a writer that had gone back to sleep."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        await self._task
        self._task = None
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self) -> None:
        """Wake the writer every ``PRUNE_EVERY`` seconds (a prune may be due), by a timer of the loop's."""
        self._wake.set()
        self._ticker = asyncio.get_running_loop().call_later(PRUNE_EVERY, self._tick)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.queue and len(self.queue) < self.batch_size and not self._waiters and not self._stopping:
                await self._linger()
            while self.queue:
                batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
                try:
                    await self.store.add_logs(batch)
                except Exception:  # noqa: BLE001 - the requests have their answers; the log loses this batch
                    self.failed += len(batch)
                    log.exception("request log: could not write %d entries", len(batch))
                self._done += len(batch)
            if self._stopping:
                self._settle()
                return
            await self._prune()
            self._settle()

    async def _linger(self) -> None:
        """Let entries gather for ``LINGER`` seconds; a reader's ``flush``, ``stop`` or a full batch cuts it short.

        A timer of the loop's ends it by a flag and a wake-up: nothing in the writer is cancelled, so no
        cancellation can be lost or left over to end the writer's task early."""
        self._lingering = True
        self._lingered = False
        timer = asyncio.get_running_loop().call_later(LINGER, self._linger_over)
        try:
            while len(self.queue) < self.batch_size and not self._waiters and not self._lingered and not self._stopping:
                self._wake.clear()
                await self._wake.wait()
        finally:
            timer.cancel()
            self._lingering = False
        self._wake.clear()

    def _linger_over(self) -> None:
        self._lingered = True
        self._wake.set()

    async def _prune(self) -> None:
        if self.retention is None:
            return
        now = self.clock()
        if self._next_prune is not None and now < self._next_prune:
            return
        self._next_prune = now + PRUNE_EVERY
        try:
            gone = await self.store.prune_logs(now - self.retention)
        except Exception:  # noqa: BLE001 - tried again at the next prune
            log.exception("request log: could not prune old entries")
            return
        if gone:
            log.info("request log: pruned %d entries older than %g days", gone, self.retention / DAY)

    def _settle(self) -> None:
        waiting = []
        for target, future in self._waiters:
            if self._done >= target:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._waiters = waiting
