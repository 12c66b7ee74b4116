"""A request and its response on a ``Connection`` (``ferryman/cycle.py``), byte for byte on a recording transport."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

import ferryman.http
from ferryman.connection import Connection
from ferryman.http import ClientGone, LeaveWatch

BOUND = 10.0  # seconds a test waits for what must happen at once
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]


class Wire(asyncio.Transport):
    """A transport that keeps every write apart, as the system calls they would be."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.paused = False
        self.protocol: Connection | None = None
        self.written: asyncio.Future[None] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        assert not self.closed, "a write after close"
        self.writes.append(bytes(data))
        if self.written is not None and not self.written.done():
            self.written.set_result(None)

    async def next_write(self) -> bytes:
        count = len(self.writes)
        self.written = asyncio.get_running_loop().create_future()
        await asyncio.wait_for(self.written, BOUND)
        return self.writes[count]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def connect(app: App) -> tuple[Connection, Wire, ServerState]:
    config = uvicorn.Config(app, lifespan="off", proxy_headers=False, log_level="critical")
    config.load()
    state = ServerState()
    conn = Connection(config, state, {}, asyncio.get_running_loop())
    wire = Wire()
    wire.protocol = conn
    conn.connection_made(wire)
    return conn, wire, state


async def served(state: ServerState) -> None:
    """Until every request's app has returned."""
    while state.tasks:
        await asyncio.wait_for(asyncio.gather(*list(state.tasks)), BOUND)


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(scenario)


async def json_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    await reply(send, (await receive())["body"] or scope["path"].encode())


async def reply(send: Send, body: bytes) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def test_a_whole_reply_is_one_write_and_the_connection_stays_open() -> None:
    async def scenario() -> None:
        conn, wire, state = connect(json_app)
        conn.data_received(b"POST /v1/x?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        await served(state)
        assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
        assert not wire.closed
        conn.data_received(b"GET /again HTTP/1.1\r\nhost: x\r\n\r\n")
        await served(state)
        assert wire.writes[1] == b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n/again"

    run(scenario())


def test_the_scope_is_asgis() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        seen.append(scope)
        await json_app(scope, receive, send)

    async def scenario() -> None:
        conn, _, state = connect(app)
        conn.data_received(b"GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: x\r\nX-Key: Value\r\n\r\n")
        conn.data_received(b"GET http://x/abs?q=2 HTTP/1.0\r\n\r\n")
        await served(state)

    run(scenario())
    first, second = seen
    assert first["type"] == "http" and first["method"] == "GET" and first["http_version"] == "1.1"
    assert (first["path"], first["raw_path"], first["query_string"]) == ("/a b/c", b"/a%20b/c", b"x=1&y=%20")
    assert first["headers"] == [(b"host", b"x"), (b"x-key", b"Value")]  # names lowered, values as sent
    assert (first["client"], first["server"], first["scheme"], first["root_path"]) == (
        ("127.0.0.1", 50000),
        ("127.0.0.1", 8000),
        "http",
        "",
    )
    assert (second["path"], second["query_string"], second["http_version"]) == ("/abs", b"q=2", "1.0")


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("at_once", "writes"),
    [
        # the app awaits its upstream before the first chunk: the head goes out meanwhile
        (False, [HEAD, b"5\r\nhello\r\n", b"1\r\n!\r\n0\r\n\r\n"]),
        # the first chunk follows in the same step: one write for both
        (True, [HEAD + b"5\r\nhello\r\n", b"1\r\n!\r\n0\r\n\r\n"]),
    ],
    ids=["awaits-first", "chunk-at-once"],
)
def test_a_streams_head_is_not_held_past_its_apps_first_await(at_once: bool, writes: list[bytes]) -> None:
    async def scenario() -> None:
        gate = asyncio.get_running_loop().create_future()

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            if at_once:
                await send({"type": "http.response.body", "body": b"hello", "more_body": True})
            await gate  # the upstream's next event, awaited
            if not at_once:
                await send({"type": "http.response.body", "body": b"hello", "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            await send({"type": "http.response.body", "body": b"!"})

        conn, wire, state = connect(app)
        conn.data_received(b"POST /s HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        assert await wire.next_write() == writes[0]  # before the gate opens
        gate.set_result(None)
        await served(state)
        assert wire.writes == writes

    run(scenario())


def test_pipelined_requests_are_answered_in_order_one_at_a_time() -> None:
    async def scenario() -> None:
        gate = asyncio.get_running_loop().create_future()
        order: list[str] = []

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            order.append(scope["path"])
            if scope["path"] == "/first":
                await gate
            await json_app(scope, receive, send)

        conn, wire, state = connect(app)
        conn.data_received(b"GET /first HTTP/1.1\r\nhost: x\r\n\r\nGET /second HTTP/1.1\r\nhost: x\r\n\r\n")
        assert wire.paused  # the second waits, and the connection reads no more meanwhile
        gate.set_result(None)
        await served(state)
        assert order == ["/first", "/second"]
        assert wire.writes == [
            b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n/first",
            b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n/second",
        ]
        assert not wire.paused

    run(scenario())


def test_expect_100_continue_is_answered_when_the_app_reads_the_body() -> None:
    async def scenario() -> None:
        conn, wire, state = connect(json_app)
        conn.data_received(b"POST /x HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\n")
        assert await wire.next_write() == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.data_received(b"ok")
        await served(state)
        assert wire.writes[1:] == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]

    run(scenario())


def test_a_body_in_parts_and_flow_control() -> None:
    parts: list[tuple[int, bool]] = []

    async def scenario() -> None:
        got = asyncio.get_running_loop().create_future()

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            while True:
                message = await receive()
                parts.append((len(message["body"]), message["more_body"]))
                if not got.done():
                    got.set_result(None)
                if not message["more_body"]:
                    break
            await reply(send, b"/x")

        conn, wire, state = connect(app)
        conn.data_received(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 200000\r\n\r\n")
        for _ in range(3):
            conn.data_received(b"a" * 40000)
        assert wire.paused  # past 64 KiB that the app has not read yet
        await asyncio.wait_for(got, BOUND)
        assert not wire.paused  # read: the connection reads on
        conn.data_received(b"a" * 80000)
        await served(state)
        assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n/x"]

    run(scenario())
    assert parts == [(120000, True), (80000, False)]


CLOSING = {
    # HEAD: the head only; HTTP/1.0: the connection closes after its reply
    "head-http-1.0": (
        b"HEAD /hello HTTP/1.0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\n",
    ),
    # no protocol upgrade here: answered as HTTP, then closed (what follows on it is not HTTP)
    "upgrade": (
        b"GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n\x81\x00",
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\n/ws",
    ),
}


@pytest.mark.parametrize("case", list(CLOSING))
def test_a_reply_after_which_the_connection_closes(case: str) -> None:
    sent, expected = CLOSING[case]

    async def scenario() -> None:
        conn, wire, state = connect(json_app)
        conn.data_received(sent)
        await served(state)
        assert wire.writes == [expected]
        assert wire.closed

    run(scenario())


def test_an_app_that_fails_before_its_body_is_sent_answers_500() -> None:
    async def started_then_failed(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        raise ValueError("broken")

    async def failed(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        raise ValueError("broken")

    async def scenario(app: App) -> None:
        conn, wire, state = connect(app)
        conn.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await served(state)
        assert len(wire.writes) == 1
        assert wire.writes[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert wire.closed

    run(scenario(started_then_failed))  # its head had not gone out yet: nothing of it did
    run(scenario(failed))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"x-split", b"a\r\nset-cookie: evil"),  # response splitting
        (b"x-nul", b"a\x00b"),
        (b"x-bell", b"\x07"),
        (b"x-del", b"a\x7f"),
        (b"x bad", b"v"),
        (b"x:bad", b"v"),
        (b'x"bad', b"v"),
        (b"x\tbad", b"v"),
    ],
)
def test_a_header_name_or_value_that_would_break_the_head_is_refused(name: bytes, value: bytes) -> None:
    """The app's response is a 500, never a head with its bytes in it; a tab and bytes above 0x7f in a value
    are fine (obs-text), as every visible character is."""

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = [(b"x-ok", b"tab\there \xe9 ~!"), (name, value), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def fine(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = [(b"x-ok!#$%&'*+-.^_`|~09az", b"tab\there \xe9 ~!"), (b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario(app: App) -> list[bytes]:
        conn, wire, state = connect(app)
        conn.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await served(state)
        return wire.writes

    async def refused() -> None:
        writes = await scenario(app)
        assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b"x-ok" not in writes[0]  # nothing of the app's head went out

    async def sent() -> None:
        writes = await scenario(fine)
        assert writes == [
            b"HTTP/1.1 200 OK\r\nx-ok!#$%&'*+-.^_`|~09az: tab\there \xe9 ~!\r\ncontent-length: 2\r\n\r\nok"
        ]

    run(refused())
    run(sent())


@pytest.mark.parametrize(
    "headers",
    [
        [[b"x-a", b"1"], [b"content-length", b"2"]],  # lists of lists, as ASGI allows
        ((b"x-a", b"1"), (b"content-length", b"2")),  # a tuple of tuples
        [(b"x-a", b"1"), [b"content-length", b"2"]],  # tuples and lists mixed
    ],
)
def test_a_head_given_as_any_iterable_of_pairs_is_sent_as_a_list_of_tuples_is(headers: Any) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def scenario() -> list[bytes]:
        conn, wire, state = connect(app)
        conn.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await served(state)
        return wire.writes

    assert asyncio.run(scenario()) == [b"HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\n\r\nok"]


def test_a_client_that_leaves_is_told_and_what_follows_is_dropped() -> None:
    events: list[str] = []

    async def scenario() -> None:
        reading = asyncio.get_running_loop().create_future()

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await receive()
            reading.set_result(None)
            events.append((await receive())["type"])  # waits: the body is read, the response not sent
            await json_app(scope, receive, send)

        conn, wire, state = connect(app)
        conn.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await asyncio.wait_for(reading, BOUND)
        conn.connection_lost(None)
        await served(state)
        assert wire.writes == []

    run(scenario())
    assert events == ["http.disconnect"]


def test_a_response_without_a_length_is_chunked_unless_204_or_304() -> None:
    async def scenario(status: int, expected: bytes) -> None:
        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"x" if status == 200 else b""})

        conn, wire, state = connect(app)
        conn.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        await served(state)
        assert wire.writes == [expected]

    run(scenario(200, b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"))
    run(scenario(204, b"HTTP/1.1 204 No Content\r\n\r\n"))


def test_a_leave_watch_is_told_by_the_connection_when_its_client_leaves() -> None:
    outcomes: list[str] = []

    async def scenario(wanted: bool) -> None:
        waiting = asyncio.get_running_loop().create_future()
        answer = asyncio.get_running_loop().create_future()

        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await receive()
            try:
                with LeaveWatch(receive, lambda: wanted):
                    waiting.set_result(None)
                    await answer  # the provider's answer, which never comes
            except ClientGone:
                outcomes.append("gone")
                return
            outcomes.append("answered")

        conn, _, state = connect(app)
        conn.data_received(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        await asyncio.wait_for(waiting, BOUND)
        conn.connection_lost(None)
        if not wanted:  # the work goes on: it is finished, then its reply dropped
            answer.set_result(None)
        await served(state)

    run(scenario(True))
    run(scenario(False))
    assert outcomes == ["gone", "answered"]


def test_under_another_server_a_leave_watch_reads_receive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ferryman.http, "WATCH_AFTER", 0)

    async def scenario() -> None:
        gone = asyncio.get_running_loop().create_future()

        async def receive() -> Message:
            await gone
            return {"type": "http.disconnect"}

        with pytest.raises(ClientGone), LeaveWatch(receive, lambda: True):
            gone.set_result(None)
            await asyncio.get_running_loop().create_future()

    run(scenario())
