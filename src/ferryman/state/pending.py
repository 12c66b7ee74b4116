"""Writes that finish after the reply has gone out, without a reader ever missing them; and reads that
do not tell by their timing whether an id exists.

Storing a response costs a round trip to the database. With ``store.sync: after_reply`` the gateway
keeps that round trip off the reply's latency: ``put_soon`` starts the write and returns at once (the
request handler still awaits it, after the reply is sent), and every read or delete of an id first
waits for that id's write still in flight in this process. A reply is then on the wire a moment before
its record is committed: a process killed in that moment (kill -9, a crash) loses the record although
the client has the answer. With ``before_reply`` the store hook awaits the commit before the reply
(``gateway/storing.py``), and a client that has the answer can always read it back.

Another gateway process sharing the database cannot see this one's pending writes, so a read that
finds nothing looks once more after a short grace period: a client that chains a request to a response
it has just received, through another worker, still finds it. The reads on behalf of a client
(``get_owned``, ``chain_owned``) treat a record of another owner exactly as a miss, grace included, so
someone else's id and an id that does not exist answer after the same wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ferryman.state.base import ResponseStore, StoredResponse, may_read

GRACE = 0.05  # seconds: far longer than a commit takes; paid only by reads that find nothing for their client

T = TypeVar("T")


class PendingWrites:
    def __init__(
        self,
        store: ResponseStore,
        grace: float = GRACE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = store
        self.grace = grace
        self.sleep = sleep  # how the grace is waited (a test records it)
        self.pending: dict[str, asyncio.Future[Any]] = {}

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        if self.pending:  # nothing started is dropped at shutdown
            await asyncio.wait(list(self.pending.values()))
        await self.inner.close()

    async def ping(self) -> None:
        await self.inner.ping()

    def put_soon(self, record: StoredResponse) -> asyncio.Future[Any]:
        """Start writing ``record``; the future settles when it is committed (or with why not)."""
        put_nowait = getattr(self.inner, "put_nowait", None)
        write = put_nowait(record) if put_nowait is not None else asyncio.ensure_future(self.inner.put(record))
        return self.track(record.id, write)

    def track(self, key: str, write: asyncio.Future[T]) -> asyncio.Future[T]:
        """Count ``write`` as the pending write of ``key`` (a response id, a conversation id) until it settles:
        ``settled(key)`` waits for it, and ``close`` too."""
        self.pending[key] = write

        def forget(done: asyncio.Future[Any]) -> None:
            if self.pending.get(key) is done:
                del self.pending[key]

        write.add_done_callback(forget)
        return write

    async def put(self, record: StoredResponse) -> None:
        await self.put_soon(record)

    async def settled(self, key: str) -> None:
        """Once this process's pending write of ``key``, if any, has settled."""
        task = self.pending.get(key)
        if task is not None:
            with contextlib.suppress(Exception):  # the writer reports its own failure
                await asyncio.shield(task)

    async def _look(self, response_id: str, read: Callable[[str], Awaitable[T]], found: Callable[[T], bool]) -> T:
        """Read after this process's pending write of the id; when nothing is ``found``, wait the grace
        and read once more. Every miss takes this one path."""
        await self.settled(response_id)
        result = await read(response_id)
        if not found(result) and self.grace:
            await self.sleep(self.grace)
            result = await read(response_id)
        return result

    async def get(self, response_id: str) -> StoredResponse | None:
        """The record, whoever owns it (the gateway's own reads)."""
        return await self._look(response_id, self.inner.get, lambda r: r is not None)

    async def chain(self, response_id: str) -> list[StoredResponse]:
        return await self._look(response_id, self.inner.chain, bool)

    async def get_owned(self, response_id: str, owner: str | None) -> StoredResponse | None:
        """The record if ``owner`` may read it, else None, after the same wait as for an unknown id."""

        def readable(record: StoredResponse | None) -> bool:
            return record is not None and may_read(record, owner)

        record = await self._look(response_id, self.inner.get, readable)
        return record if readable(record) else None

    async def chain_owned(self, response_id: str, owner: str | None) -> list[StoredResponse]:
        """The chain up to the record if ``owner`` may read that record, else empty (as ``get_owned``)."""

        def readable(chain: list[StoredResponse]) -> bool:
            return bool(chain) and may_read(chain[-1], owner)

        chain = await self._look(response_id, self.inner.chain, readable)
        return chain if readable(chain) else []

    async def delete(self, response_id: str) -> bool:
        await self.settled(response_id)  # else the write could land after the delete and undo it
        return await self.inner.delete(response_id)

    async def seen(self, response_id: str) -> bool:
        await self.settled(response_id)
        return await self.inner.seen(response_id)
