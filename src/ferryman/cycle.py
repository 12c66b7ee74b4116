"""One request and its response on a ``Connection``: the ASGI ``receive`` and ``send`` of an HTTP request.

It does what uvicorn's ``RequestResponseCycle`` does (keep-alive, ``Expect: 100-continue``, chunked
responses without a content-length, HEAD, ``more_body``, ``http.disconnect``, a 500 when the app fails
before its response starts) with less work per request, and one write where uvicorn makes two: the
response head is held on ``http.response.start`` and goes out with the first body chunk, so a JSON reply
is one ``send`` system call. A response without a content-length (a stream, whose app may await its
upstream before the first chunk) has its head written as soon as the app's task yields, if no chunk came
first (``loop.call_soon``); one with a content-length has its body at hand (its length is known), and
its head simply waits for it, with no callback (a ``call_soon`` and its ``cancel`` cost 2 us a request).
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ferryman.connection import Connection

log = logging.getLogger("uvicorn.error")

Message = dict[str, Any]
App = Any  # an ASGI application: ``await app(scope, receive, send)``

# what a header name or value may not contain (a CR or LF would split the head: response splitting), and the
# bytes they may: ``translate`` deletes those, so what is left (nothing, for a good head) is what breaks it. A
# table lookup a byte, where a regular expression's character class cost ~20 instructions a byte
_BAD_NAME = frozenset((*range(0x20), 0x7F, *b'()<>@,;:[]={} \t\\"'))
_BAD_VALUE = frozenset((*range(0x09), *range(0x0A, 0x20), 0x7F))
_NAME_OK = bytes(b for b in range(256) if b not in _BAD_NAME)
_VALUE_OK = bytes(b for b in range(256) if b not in _BAD_VALUE)


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase)


STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}
HIGH_WATER = 65536  # request body bytes buffered before the connection stops reading
_SERVER_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


class _Defaults:
    """The server's default headers (``date``, once a second, and ``server`` when on) as bytes of a head."""

    source: ClassVar[list[tuple[bytes, bytes]] | None] = None
    lines: ClassVar[bytes] = b""

    @classmethod
    def of(cls, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not cls.source:  # uvicorn replaces the list when its content changes
            cls.lines = b"".join(b"%s: %s\r\n" % pair for pair in headers)
            cls.source = headers
        return cls.lines


class Cycle:
    __slots__ = (
        "body",
        "chunked",
        "conn",
        "disconnected",
        "event",
        "finished",
        "flush",
        "head",
        "is_head",
        "keep_alive",
        "left",
        "more_body",
        "on_leave",
        "response_complete",
        "response_started",
        "scope",
        "task",
        "transport",
        "waiting_for_100_continue",
    )

    def __init__(self, conn: Connection, scope: dict[str, Any], keep_alive: bool, expect_continue: bool) -> None:
        self.conn = conn
        self.transport = conn.transport
        self.scope = scope
        self.is_head = scope["method"] == "HEAD"
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_continue
        self.disconnected = False
        # the request's body not yet received by the app; ``more_body`` until the parser has all of it,
        # ``finished`` once the app has received its last part
        self.body: bytes | bytearray = b""
        self.more_body = True
        self.finished = False
        self.event: asyncio.Event | None = None  # made only when ``receive`` has to wait
        self.response_started = False
        self.response_complete = False
        self.head: bytes | None = None  # the response head, until it goes out (with the first body chunk)
        self.flush: asyncio.Handle | None = None
        self.chunked = False
        self.left = 0  # body bytes the content-length still expects
        self.task: asyncio.Task[None] | None = None  # the app's, in the server's set of tasks until it ends
        self.on_leave: Callable[[], None] | None = None  # called if the client leaves before the response ends

    # ---- from the connection ----------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        body = self.body
        if not body:
            self.body = chunk
        else:
            if type(body) is bytes:
                self.body = body = bytearray(body)
            body += chunk
        if len(self.body) > HIGH_WATER:
            self.conn.flow.pause_reading()
        self.wake()

    def complete(self) -> None:
        self.more_body = False
        self.wake()

    def wake(self) -> None:
        if self.event is not None:
            self.event.set()

    def lost(self) -> None:
        """The client has gone: ``receive`` says ``http.disconnect``, what is sent is dropped."""
        if not self.response_complete:
            self.disconnected = True
            if self.on_leave is not None:
                self.on_leave()
        self.wake()

    # ---- the app ------------------------------------------------------------------------------------

    async def run(self, app: App) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException:
            log.exception("Exception in ASGI application")
            self._failed()
        else:
            if result is not None:
                log.error("ASGI callable should return None, but returned '%s'.", result)
                self.transport.close()
            elif not self.response_complete and not self.disconnected:
                log.error(
                    "ASGI callable returned without %s response.", "completing" if self.response_started else "starting"
                )
                self._failed()
        finally:
            self.conn.tasks.discard(self.task)

    def _failed(self) -> None:
        """The app failed: a 500 if nothing of its response went out, else the connection closes."""
        if self.response_complete:
            return
        if self.head is not None or not self.response_started:  # nothing written yet
            self._cancel_flush()
            if not self.disconnected:
                self.transport.write(_SERVER_ERROR)
        self.response_complete = True
        self.transport.close()
        self.wake()

    async def receive(self) -> Message:
        if self.waiting_for_100_continue:
            self.waiting_for_100_continue = False
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            if self.disconnected or self.response_complete:
                return {"type": "http.disconnect"}
            body = self.body
            if body or not (self.more_body or self.finished):
                break
            # nothing to give: wait for more of the body, the response's end or the client leaving
            conn = self.conn
            if conn.flow.read_paused and conn.current is self:
                conn.flow.resume_reading()
            event = self.event
            if event is None:
                event = self.event = asyncio.Event()
            else:
                event.clear()
            await event.wait()
        self.body = b""
        more = self.more_body
        if not more:
            self.finished = True
        conn = self.conn
        if conn.flow.read_paused and conn.current is self:  # its buffer is drained
            conn.flow.resume_reading()
        return {"type": "http.request", "body": body if type(body) is bytes else bytes(body), "more_body": more}

    async def send(self, message: Message) -> None:
        flow = self.conn.flow
        if flow.write_paused and not self.disconnected:
            await flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self._start(message["status"], message.get("headers", ()))
            return
        if self.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent, after response already completed.")
        if message["type"] != "http.response.body":
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got '{message['type']}'.")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.is_head:
            data = b""
        elif self.chunked:
            data = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more:
                data += b"0\r\n\r\n"
        else:
            left = self.left - len(body)
            if left < 0:
                raise RuntimeError("Response content longer than Content-Length")
            if not more and left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.left = left
            data = body
        head = self.head
        if head is not None:  # the head goes out with the first chunk: one write
            self.head = None
            self._cancel_flush()
            self.transport.write(head + data)
        elif data:
            self.transport.write(data)
        if not more:
            self.response_complete = True
            if not self.keep_alive:
                self.transport.close()
            self.wake()
            self.conn.on_response_complete()

    def _start(self, status: int, given: Any) -> None:
        """The response's head, held until its first body chunk; a header that would break it (a CR or LF
        in a value) is the app's failure, answered 500 as nothing of the response has gone out."""
        # typed, the pairs are read natively (an ``Any`` iterated and unpacked cost ~1,500 instructions a header):
        # a list of tuples (what every response of the gateway sends) as it is, ASGI's other forms made one
        headers: list[tuple[bytes, bytes]] = (
            given if type(given) is list and all(type(pair) is tuple for pair in given) else [(n, v) for n, v in given]
        )
        lines = [STATUS_LINES[status], _Defaults.of(self.conn.server_state.default_headers)]
        length: bytes | None = None
        chunked = close = False
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")  # a ``%`` format of the line cost ~4x as much
            size = len(name)  # only these three names are read, and only a name of their length is lowered
            if size == 14 and length is None and name.lower() == b"content-length":
                length = value
            elif size == 17 and name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
            elif size == 10 and name.lower() == b"connection" and b"close" in value.lower():
                close = True
        if headers:
            names = b"".join([name for name, _ in headers])
            values = b"".join([value for _, value in headers])
            if names.translate(None, _NAME_OK):
                raise RuntimeError("Invalid HTTP header name.")
            if values.translate(None, _VALUE_OK):
                raise RuntimeError("Invalid HTTP header value.")
        self.response_started = True
        self.waiting_for_100_continue = False
        if close:
            self.keep_alive = False
        elif not self.keep_alive:
            lines.append(b"connection: close\r\n")
        if chunked:
            self.chunked = True
        elif length is not None:
            self.left = int(length)
        elif not self.is_head and status != 204 and status != 304:
            self.chunked = True  # neither a length nor chunked: chunked
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        self.head = b"".join(lines)
        if length is None or self.chunked:
            # a stream, most likely, whose app awaits its first chunk: the head goes out once it does (a
            # body of known length is at hand, sent next, so its head waits for it without a callback)
            self.flush = self.conn.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """The head, when its body did not follow in the same step: the app awaits something first."""
        self.flush = None
        head = self.head
        if head is not None:
            self.head = None
            if not self.disconnected:
                self.transport.write(head)

    def _cancel_flush(self) -> None:
        if self.flush is not None:
            self.flush.cancel()
            self.flush = None
