"""Writes that finish after the reply has gone out, without a reader ever missing them.

Storing a response costs a round trip to the database. Awaiting it before the last byte of the reply
puts that round trip on every request's latency; the client does not need it there. ``PendingWrites``
wraps the real store: ``put_soon`` starts the write and returns at once (the request handler still
awaits it, after the reply is sent), and every read or delete of an id first waits for that id's write
still in flight in this process. Another gateway process sharing the database cannot see this one's
pending writes, so a read that finds nothing looks once more after a short grace period: a client that
chains a request to a response it has just received, through another worker, still finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ferryman.state.base import ResponseStore, StoredResponse

GRACE = 0.05  # seconds: far longer than a commit takes; paid only by reads of ids that do not exist


class PendingWrites:
    def __init__(self, store: ResponseStore, grace: float = GRACE) -> None:
        self.inner = store
        self.grace = grace
        self.pending: dict[str, asyncio.Future[Any]] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        if self.pending:  # nothing started is dropped at shutdown
            await asyncio.wait(list(self.pending.values()))
        await self.inner.close()

    def put_soon(self, record: StoredResponse) -> asyncio.Future[Any]:
        """Start writing ``record``; the future settles when it is committed (or with why not)."""
        put_nowait = getattr(self.inner, "put_nowait", None)
        write = put_nowait(record) if put_nowait is not None else asyncio.ensure_future(self.inner.put(record))
        rid = record.id
        self.pending[rid] = write

        def forget(done: asyncio.Future[Any]) -> None:
            if self.pending.get(rid) is done:
                del self.pending[rid]

        write.add_done_callback(forget)
        return write

    async def put(self, record: StoredResponse) -> None:
        await self.put_soon(record)

    async def _settled(self, response_id: str) -> None:
        task = self.pending.get(response_id)
        if task is not None:
            with contextlib.suppress(Exception):  # the writer reports its own failure
                await asyncio.shield(task)

    async def get(self, response_id: str) -> StoredResponse | None:
        await self._settled(response_id)
        record = await self.inner.get(response_id)
        if record is None and self.grace:
            await asyncio.sleep(self.grace)
            record = await self.inner.get(response_id)
        return record

    async def chain(self, response_id: str) -> list[StoredResponse]:
        await self._settled(response_id)
        records = await self.inner.chain(response_id)
        if not records and self.grace:
            await asyncio.sleep(self.grace)
            records = await self.inner.chain(response_id)
        return records

    async def delete(self, response_id: str) -> bool:
        await self._settled(response_id)  # else the write could land after the delete and undo it
        return await self.inner.delete(response_id)
