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

One timer per connection, armed when it opens, keeps all three: when it fires it looks at where the
connection is and re-arms itself for that deadline, so a request costs no timer of its own (uvicorn arms
and cancels one per response); only a read that leaves a request incomplete, or a response that ends
before the armed time would, moves it earlier.

It also builds the request's scope and runs its ``Cycle`` (``cycle.py``) in place of uvicorn's
per-request code: the scope from a per-connection template, the path split without a URL parser
when it is the usual ``/path?query``, no access log (``ferryman serve`` turns it off) and no protocol
upgrade (no WebSocket route: an ``Upgrade`` request is answered as plain HTTP, then the connection closes).
Pipelined requests wait, in order, while the connection stops reading.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any
from urllib.parse import unquote

import httptools
from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ferryman.config import ServerLimits
from ferryman.cycle import App, Cycle
from ferryman.routes.shapes import error_sender
from ferryman.schemas.errors import FerrymanError

log = logging.getLogger("uvicorn.error")

# where the connection is: waiting for a request, reading its headers, reading its body, or serving it
_IDLE, _HEADERS, _BODY, _BUSY = 0, 1, 2, 3
_METHODS = {m.encode(): m for m in ("GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS")}


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
        self.limit_concurrency = None  # the cap is ``max_connections``, answered below in the OpenAI error shape
        self.phase = _IDLE
        self.since = 0.0  # loop time the current phase began
        self.read_at = 0.0  # loop time of the last read
        self.timer: asyncio.TimerHandle | None = None
        self.armed = 0.0  # loop time the timer fires at
        self.template: dict[str, Any] = {}  # what every request's scope on this connection has
        self.current: Cycle | None = None  # the last request whose headers were read
        self.running: Cycle | None = None  # the request being answered
        self.queue: deque[tuple[Cycle, App]] = deque()  # pipelined requests, waiting for it

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.template = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
        }
        # a connection that has not said a word is idle, as a keep-alive one is after its response
        self.since = self.read_at = self.loop.time()
        self._arm(self.since + self.limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for cycle in {self.current, self.running}:
            if cycle is not None:
                cycle.lost()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()
        self.parser = None  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.read_at = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # no protocol upgrade here (Ferryman has no WebSocket route): the request is answered as HTTP,
            # and the connection closes after it, as what follows on it is not HTTP
            cycle = self.current
            if cycle is None or cycle.response_complete:
                self.transport.close()
            else:
                cycle.keep_alive = False
            return
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            log.warning(msg)
            self.send_400_response(msg)
            return
        phase = self.phase
        if phase in (_HEADERS, _BODY) and not self.transport.is_closing():  # a request left incomplete
            deadline = self._deadline()
            if deadline < self.armed:
                self._arm(deadline)

    # ---- parser callbacks: where a request is ---------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        self.phase = _HEADERS
        self.since = self.read_at

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if len(name) == 6 and name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.phase = _BODY
        self.since = self.read_at
        parser = self.parser
        scope = self.template.copy()
        scope["headers"] = self.headers
        scope["state"] = self.app_state.copy()
        version = parser.get_http_version()
        if version != "1.1":
            scope["http_version"] = version
        method = parser.get_method()
        scope["method"] = _METHODS.get(method) or method.decode("ascii")
        url = self.url
        if url[:1] == b"/" and b"#" not in url:  # origin-form, as a request's target nearly always is
            raw_path, _, query = url.partition(b"?")
        else:
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path, parsed.query or b""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = unquote(path)
        if self.root_path:
            path = self.root_path + path
            raw_path = self.root_path.encode("ascii") + raw_path
        scope["path"] = path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        if len(self.connections) > self.limits.max_connections:
            self.app = _too_many_connections  # this connection's request is refused, and it closes
        cycle = Cycle(self, scope, version != "1.0" and parser.should_keep_alive(), self.expect_100_continue)
        self.current = cycle
        if self.running is None:
            self._start(cycle, self.app)
        else:  # pipelined: it waits for the response before it, and the connection stops reading
            self.flow.pause_reading()
            self.queue.append((cycle, self.app))

    def on_body(self, body: bytes) -> None:
        cycle = self.current
        if cycle is not None and not cycle.response_complete:
            cycle.feed(body)

    def on_message_complete(self) -> None:
        self.phase = _BUSY
        cycle = self.current
        if cycle is not None and not cycle.response_complete:
            cycle.complete()

    # ---- requests: one at a time ------------------------------------------------------------------

    def _start(self, cycle: Cycle, app: App) -> None:
        self.running = cycle
        task = self.loop.create_task(cycle.run(app))
        cycle.task = task  # ``run`` takes it out of the server's set (waited for at shutdown) when it ends
        self.tasks.add(task)

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        self.running = None
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.queue:
            cycle, app = self.queue.popleft()
            self._start(cycle, app)
        elif self.phase == _BUSY:  # nothing more came in: the connection is idle
            self.phase = _IDLE
            self.since = now = self.loop.time()
            deadline = now + self.limits.idle_timeout
            if deadline < self.armed:
                self._arm(deadline)

    def shutdown(self) -> None:
        """The server is stopping: a connection closes once its response is sent."""
        cycle = self.current
        if cycle is None or cycle.response_complete:
            self.transport.close()
        else:
            cycle.keep_alive = False

    # ---- the timer: one per connection, re-armed for where the connection is ----------------------

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.armed = when
        self.timer = self.loop.call_at(when, self._expire)

    def _deadline(self) -> float:
        limits = self.limits
        phase = self.phase
        if phase == _IDLE:
            return self.since + limits.idle_timeout
        if phase == _HEADERS:
            return self.since + limits.header_timeout
        if phase == _BODY:
            return self.since + limits.body_timeout
        return self.loop.time() + limits.idle_timeout  # serving: no limit, a look again later

    def _expire(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        deadline = self._deadline()
        if self.loop.time() < deadline:  # the connection moved on since (another phase, another request)
            self._arm(deadline)
            return
        cycle = self.current
        if self.phase == _IDLE:
            self.transport.close()
            return
        if self.phase == _HEADERS:
            part, key, seconds = "headers", "header_timeout", self.limits.header_timeout
            answer = cycle is None or cycle.response_complete  # not while a pipelined response is on its way
        else:
            assert cycle is not None  # its headers were read
            part, key, seconds = "body", "body_timeout", self.limits.body_timeout
            answer = not cycle.response_started and self.running in (None, cycle)
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
