"""A fake provider that replays recorded exchanges, records what it receives, and misbehaves on cue.

It is a real HTTP server (aiohttp, on its own thread and event loop, on a real port), so the gateway
under test talks to it exactly as to a provider: pooled connections, streaming, timeouts.

    fake = FakeUpstream().start()
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    fake.add("/v1/responses", Reply(status=503), times=2)   # queued replies are used first
    ... fake.received[-1].json ...

A stream can wait for the test instead of the clock: ``Reply(sse=..., hold_before_events=(0, 5))``
pauses before events 0 and 5 until ``fake.release()`` (one call per hold; calls made early are kept);
``Reply(held=True)`` waits for one before answering at all.

A reply can also be chosen from the request, as a model in an agent loop answers differently once a tool's
result has come back: ``fake.add(path, lambda received: Reply(...))``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeAlias

from aiohttp import web

FIXTURES = Path(os.environ.get("FERRYMAN_FIXTURES") or Path(__file__).resolve().parents[1] / "fixtures" / "providers")


def load_fixture(name: str) -> dict[str, Any]:
    """``"openai-responses/text_basic"`` -> the recorded exchange."""
    path = FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    sse: list[str] | None = None  # raw event blocks, sent separated by a blank line
    eventstream: bytes | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    event_delay: float = 0.0  # between stream events
    first_event_delay: float = 0.0  # before the first stream event, after the headers
    hang: bool = False  # never answer
    drop_before_response: bool = False  # close the connection without answering
    drop_after_events: int | None = None  # close the connection after N stream events
    hold_before_events: tuple[int, ...] = ()  # pause before each of these events until FakeUpstream.release()
    held: bool = False  # answer only after FakeUpstream.release()

    @classmethod
    def fixture(cls, name: str, **overrides: Any) -> Reply:
        ex = load_fixture(name)
        resp = ex["response"]
        headers = {k: v for k, v in resp.get("headers", {}).items()}
        reply = cls(status=resp["status"], headers=headers)
        if "sse" in resp:
            reply.sse = resp["sse"]
        elif "eventstream_base64" in resp:
            reply.eventstream = base64.b64decode(resp["eventstream_base64"])
        else:
            reply.json = resp.get("body")
        return replace(reply, **overrides)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""  # the path as sent, percent-encoding kept

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


ReplySource: TypeAlias = Reply | Callable[[Received], Reply]  # a reply, or what picks one from the request


class FakeUpstream:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context  # serve HTTPS as https://localhost:PORT with this server context
        self.received: list[Received] = []
        self._queued: dict[str, deque[ReplySource]] = defaultdict(deque)
        self._default: dict[str, ReplySource] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.stream_closed = threading.Event()  # set when a client goes away mid-stream
        self.left_unanswered = threading.Event()  # set when a client goes away while its reply is held
        self._releases: asyncio.Semaphore | None = None  # one permit per release() not yet used by a hold

    # ---- scripting ------------------------------------------------------------------------------

    def add(self, path: str, reply: ReplySource, times: int | None = None) -> FakeUpstream:
        """Serve ``reply`` at ``path``: ``times`` times before the default, or as the default. A callable is
        given each request and returns the reply to it."""
        if times is None:
            self._default[path] = reply
        else:
            self._queued[path].extend([reply] * times)
        return self

    def reset(self) -> None:
        self.received.clear()
        self._queued.clear()
        self._default.clear()
        self.stream_closed.clear()
        self.left_unanswered.clear()
        if self._loop is not None:  # releases left over from another test do not carry over
            asyncio.run_coroutine_threadsafe(self._new_releases(), self._loop).result(10)

    def release(self) -> None:
        """Let a held stream go on past one hold point (kept for the next hold if none is waiting yet)."""
        assert self._loop is not None and self._releases is not None
        self._loop.call_soon_threadsafe(self._releases.release)

    async def _new_releases(self) -> None:
        self._releases = asyncio.Semaphore(0)

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    @property
    def url(self) -> str:
        if self.ssl_context is not None:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeUpstream:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    async def _start(self) -> None:
        await self._new_releases()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that goes away cancels its handler, as a provider stops answering;
        # a stream held for the test notices it without writing
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    async def _shutdown(self) -> None:
        await self._runner.cleanup()  # type: ignore[union-attr]
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:  # handlers still hanging on purpose
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- serving --------------------------------------------------------------------------------

    def _next(self, received: Received) -> Reply | None:
        queue = self._queued.get(received.path)
        source = queue.popleft() if queue else self._default.get(received.path)
        return source if source is None or isinstance(source, Reply) else source(received)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received = Received(
            request.method, request.path, dict(request.query), dict(request.headers), body, request.raw_path
        )
        self.received.append(received)
        reply = self._next(received)
        if reply is None:
            return web.json_response(
                {"error": {"message": f"fake upstream: nothing scripted for {request.path}", "type": "not_found"}},
                status=404,
            )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.hang:
            await asyncio.sleep(3600)
        if reply.held:
            assert self._releases is not None
            try:
                await self._releases.acquire()
            except asyncio.CancelledError:
                self.left_unanswered.set()
                raise
        if reply.drop_before_response:
            request.transport.close()  # type: ignore[union-attr]
            raise asyncio.CancelledError
        if reply.sse is not None:
            return await self._stream_sse(request, reply)
        if reply.eventstream is not None:
            return await self._stream_bytes(request, reply)
        payload = reply.body if reply.body is not None else json.dumps(reply.json).encode()
        headers = {"content-type": "application/json", **reply.headers}
        return web.Response(status=reply.status, body=payload, headers=headers)

    async def _stream_sse(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"content-type": "text/event-stream; charset=utf-8", **reply.headers}
        resp = web.StreamResponse(status=reply.status, headers=headers)
        await resp.prepare(request)
        try:
            if reply.first_event_delay:
                await asyncio.sleep(reply.first_event_delay)
            for i, block in enumerate(reply.sse or []):
                if reply.drop_after_events is not None and i >= reply.drop_after_events:
                    request.transport.close()  # type: ignore[union-attr]
                    return resp
                if i in reply.hold_before_events:
                    assert self._releases is not None
                    await self._releases.acquire()
                if i and reply.event_delay:
                    await asyncio.sleep(reply.event_delay)
                await resp.write(block.encode() + b"\n\n")
            await resp.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.stream_closed.set()
            raise
        return resp

    async def _stream_bytes(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"content-type": "application/vnd.amazon.eventstream", **reply.headers}
        resp = web.StreamResponse(status=reply.status, headers=headers)
        await resp.prepare(request)
        await resp.write(reply.eventstream or b"")
        await resp.write_eof()
        return resp


def closed_port() -> int:
    """A port on which nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
