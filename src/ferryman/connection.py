"""The HTTP/1.1 connection Ferryman serves: uvicorn's httptools protocol with the limits it lacks.

uvicorn closes a keep-alive connection left idle after a response, but not one that never sends a
byte, and it puts no time limit on a request's headers or body: a client dripping bytes could hold
sockets forever. This protocol adds the ``server:`` section of the config:

- ``idle_timeout``: a connection silent this long before its request (a new connection, or a
  keep-alive one after its response) is closed;
- ``header_timeout``: from a request's first byte, its headers must be complete within this;
- ``body_timeout``: from the end of its headers, its body must be complete within this;
  either one expiring answers 408 (unless a response is already on its way) and closes the connection;
- ``max_connections``: a request on a connection past this many open ones gets 503 with
  ``retry-after`` (in the error shape of the API its path belongs to), and that connection closes.

A request that arrives whole in one read arms no timer: only a read that leaves a request incomplete
arms one, a single timer per connection that re-arms itself for the request's current deadline.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ferryman.config import ServerLimits
from ferryman.routes.shapes import error_sender
from ferryman.schemas.errors import FerrymanError

_IDLE, _HEADERS, _BODY = 0, 1, 2


class Connection(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = server_limits(self.app)
        self.timeout_keep_alive = self.limits.idle_timeout  # type: ignore[assignment]  # seconds, as a float
        self.limit_concurrency = None  # the cap is ``max_connections``, answered below in the OpenAI error shape
        self.phase = _IDLE
        self.since = 0.0  # loop time the current phase began
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # a connection that has not said a word is idle, as a keep-alive one is after its response
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.phase != _IDLE and self.timer is None and not self.transport.is_closing():
            self.timer = self.loop.call_at(self._deadline(), self._expire)

    # ---- parser callbacks: where a request is ---------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = _HEADERS
        self.since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.phase = _BODY
        self.since = self.loop.time()
        if len(self.connections) > self.limits.max_connections:
            self.app = _too_many_connections  # this connection's request is refused, and it closes
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.phase = _IDLE
        super().on_message_complete()

    # ---- the timer ------------------------------------------------------------------------------

    def _deadline(self) -> float:
        limits = self.limits
        return self.since + (limits.header_timeout if self.phase == _HEADERS else limits.body_timeout)

    def _expire(self) -> None:
        self.timer = None
        if self.phase == _IDLE or self.transport.is_closing():
            return
        deadline = self._deadline()
        if self.loop.time() < deadline:  # the request moved on to another phase (or request) since
            self.timer = self.loop.call_at(deadline, self._expire)
            return
        cycle = self.cycle
        if self.phase == _HEADERS:
            part, key, seconds = "headers", "header_timeout", self.limits.header_timeout
            answer = cycle is None or cycle.response_complete  # not while a pipelined response is on its way
        else:
            part, key, seconds = "body", "body_timeout", self.limits.body_timeout
            answer = not cycle.response_started
            cycle.disconnected = True  # the app reading this body learns the client is gone; what it sends is dropped
        if answer:
            self.transport.write(_timeout_reply(part, key, seconds))
        self.transport.close()


def server_limits(app: Any) -> ServerLimits:
    """The limits of the Ferryman gateway ``app`` is (or wraps, as uvicorn's middlewares do); the defaults if none."""
    while app is not None:
        limits = getattr(app, "server_limits", None)
        if isinstance(limits, ServerLimits):
            return limits
        app = getattr(app, "app", None)
    return ServerLimits()


def _timeout_reply(part: str, key: str, seconds: float) -> bytes:
    body = FerrymanError(
        f"The request's {part} did not arrive within {seconds:g} s (server.{key}).",
        status=408,
        type="invalid_request_error",
        code="request_timeout",
    ).to_json()
    head = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    return head + b"connection: close\r\n\r\n" + body


async def _too_many_connections(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    exc = FerrymanError(
        "Ferryman has as many open connections as it may (server.max_connections); retry shortly.",
        status=503,
        code="too_many_connections",
        headers={"retry-after": "1"},
    )
    path: str = scope["path"]  # type: ignore[typeddict-item]  # an http scope: the only kind routed here
    await error_sender(path)(send, exc, [(b"connection", b"close")])  # type: ignore[arg-type]
