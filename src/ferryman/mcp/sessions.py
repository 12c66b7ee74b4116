"""Kept sessions: one long-lived MCP session per stdio server of the config, shared by every call.

Opened per operation, a stdio server cost a process start, the MCP handshake and the process's stop (the SDK
closes its stdin and waits for it to exit) on every listing and every call: over 5 s a call on a busy
machine. A config server's session is instead opened on first use and kept: one process, whose
``ClientSession`` carries concurrent requests over its one stream (each a JSON-RPC id with a pending reply
of its own). The SDK's task groups and the process belong to the session's own task, entered and left
there with a fresh context (no request's context variables leak into it); a request only sends over it.

A session ends when its read stream does (the process exits or is killed): the next operation opens a new
one, and a call in flight fails with an error naming the server. A start that does not finish within the
caller's timeout is abandoned (cancelled in its task, which stops the process). ``close`` (the gateway's
shutdown) ends every session and waits for each process to be stopped and reaped: no orphan.

Only stdio servers are kept: a streamable-HTTP or SSE session is per operation, as a request's own
``server_url`` is, because a server's session may carry state (a working directory, a login) that one
session shared by every caller of the gateway would leak between them, and a server that drops a session
(a restart, an expiry) would fail the next call; an HTTP handshake costs a round trip, not a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from mcp import Client

log = logging.getLogger("ferryman")


class KeptSession:
    """One server's session, held open by a task of its own until it ends or is closed."""

    def __init__(self, label: str, transport: Any, make: Callable[[Any], Client]) -> None:
        self.label = label
        self.ended = asyncio.Event()  # the session is over (its stream ended, or it was retired): not to be used
        self._ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._ready.add_done_callback(_retrieve)
        self._scope = anyio.CancelScope()
        hold = self._hold(transport, make)
        self.task = asyncio.create_task(hold, name=f"mcp-session-{label}", context=contextvars.Context())

    @property
    def started(self) -> bool:
        """Whether the session opened (its start neither under way nor failed)."""
        return self._ready.done() and not self._ready.cancelled() and self._ready.exception() is None

    async def client(self) -> Client:
        """The open session, once its start finishes (the caller bounds the wait)."""
        return await asyncio.shield(self._ready)

    def retire(self) -> None:
        """Ends the session (its task leaves the SDK's context, which stops the process); a start still under
        way is cancelled, by an anyio cancel scope: the SDK shields the process's stop from that, not from a
        native ``Task.cancel`` (which would leave the process running and the task waiting on its pipes)."""
        self.ended.set()
        if not self._ready.done():
            self._scope.cancel()

    async def _hold(self, transport: Any, make: Callable[[Any], Client]) -> None:
        try:
            with self._scope:
                async with make(_watched(transport, self.ended)) as client:
                    if not self._ready.done():
                        self._ready.set_result(client)
                    await self.ended.wait()
        except (Exception, ExceptionGroup) as exc:  # noqa: BLE001 - the SDK's and its transports' failures
            if not self._ready.done():
                self._ready.set_exception(exc)
            else:
                log.debug("mcp: the session of %r ended with %r", self.label, exc)
        finally:
            self.ended.set()
            if not self._ready.done():  # the others waiting for this start fail too
                self._ready.set_exception(ConnectionError("its start was abandoned"))


class KeptSessions:
    """The kept sessions of one gateway, by server label; every task kept until it has finished."""

    def __init__(self) -> None:
        self._sessions: dict[str, KeptSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, label: str, transport: Callable[[], Any], make: Callable[[Any], Client]) -> KeptSession:
        """The server's session, a new one (over ``transport()``, a client ``make`` makes) when there is none or it
        ended; concurrent callers share it."""
        kept = self._sessions.get(label)
        if kept is None or kept.ended.is_set():
            kept = self._sessions[label] = KeptSession(label, transport(), make)
            self._tasks.add(kept.task)
            kept.task.add_done_callback(self._tasks.discard)
        return kept

    async def close(self) -> None:
        """Ends every session and waits until each has stopped its process."""
        for kept in self._sessions.values():
            kept.retire()
        self._sessions.clear()
        if self._tasks:
            await asyncio.wait(list(self._tasks))


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Marks a failed start as seen (every waiter may have left already)."""
    if not future.cancelled():
        future.exception()


@contextlib.asynccontextmanager
async def _watched(transport: Any, ended: asyncio.Event) -> AsyncIterator[tuple[Any, Any]]:
    """The transport, its read stream watched: its end sets ``ended``."""
    async with transport as (read, write):
        yield _WatchedStream(read, ended), write


class _WatchedStream:
    """A transport's read stream that says when the session's reader leaves it (end of stream or close)."""

    def __init__(self, stream: Any, ended: asyncio.Event) -> None:
        self._stream = stream
        self._ended = ended

    def __getattr__(self, name: str) -> Any:  # ``last_context``, read by the dispatcher when the stream has it
        return getattr(self._stream, name)

    async def receive(self) -> Any:
        return await self._stream.receive()

    def __aiter__(self) -> _WatchedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._stream.__anext__()
        except StopAsyncIteration:
            self._ended.set()
            raise

    async def aclose(self) -> None:
        self._ended.set()
        await self._stream.aclose()

    async def __aenter__(self) -> _WatchedStream:
        await self._stream.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        self._ended.set()
        result: bool | None = await self._stream.__aexit__(exc_type, exc, tb)
        return result
