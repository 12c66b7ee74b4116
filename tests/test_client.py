"""The upstream HTTP client (ferryman.client) against a scripted raw TCP server: keep-alive, framing, failures."""

from __future__ import annotations

import asyncio
import gzip
import select
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable

import pytest
import trustme

from ferryman.client import (
    INFLATE_CHUNK,
    PROBE_IDLE_AFTER,
    BodyTooLarge,
    ClientConnectionError,
    ClientError,
    ConnectionPool,
    InvalidURL,
    ServerDisconnectedError,
    ServerTimeoutError,
)
from tests.fakes.proxy import FakeProxy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request on a connection; returns False to close the connection after it."""

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


class Server:
    """A loopback server answering each request with ``handler``; counts connections and keeps request heads."""

    def __init__(self, handler: Handler, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context  # HTTPS, as https://localhost:PORT
        self.connections = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        if self.ssl_context is not None:
            return f"https://localhost:{port}/v1/responses"
        return f"http://127.0.0.1:{port}/v1/responses"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head, _ = await read_request(reader)
                self.heads.append(head)
                if not await self.handler(reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def post(pool: ConnectionPool, url: str, *, read_timeout: float | None = None) -> tuple[int, bytes]:
    resp = await pool.post(
        url,
        b'{"model":"m"}',
        {"content-type": "application/json"},
        connect_timeout=5,
        total_timeout=5,
        read_timeout=read_timeout,
    )
    try:
        return resp.status, await resp.read()
    finally:
        resp.release()


def test_keep_alive_reuses_one_connection_and_sends_a_complete_request() -> None:
    async def scenario() -> Server:
        async with Server(ok) as server:
            pool = ConnectionPool(10)
            for _ in range(3):
                assert await post(pool, server.url) == (200, b'{"ok":true}')
            pool.close()
            return server

    server = asyncio.run(scenario())
    assert server.connections == 1
    head = server.heads[0].decode().lower()
    assert head.startswith("post /v1/responses http/1.1\r\n")
    assert "host: 127.0.0.1:" in head and "content-length: 13" in head and "content-type: application/json" in head


def test_each_url_is_its_own_target_and_a_url_that_is_not_http_is_refused_every_time() -> None:
    """URLs are parsed once per pool and remembered: two paths on one server keep their own request targets
    (and query), and a URL that cannot be posted to is refused each time it is asked for."""

    async def scenario() -> Server:
        async with Server(ok) as server:
            pool = ConnectionPool(10)
            other = server.url.replace("/v1/responses", "/v1/other?x=1%202")
            for url in (server.url, other, server.url, other):
                assert await post(pool, url) == (200, b'{"ok":true}')
            for bad in ("ftp://127.0.0.1/v1/responses", "http:///no-host", "ftp://127.0.0.1/v1/responses"):
                with pytest.raises(InvalidURL):
                    await post(pool, bad)
            pool.close()
            return server

    server = asyncio.run(scenario())
    targets = [head.split(b" ")[1] for head in server.heads]
    assert targets == [b"/v1/responses", b"/v1/other?x=1%202", b"/v1/responses", b"/v1/other?x=1%202"]


def test_connection_close_reply_is_not_reused() -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK.replace(b"content-length: 11", b"connection: close\r\ncontent-length: 11"))
        return False

    async def scenario() -> int:
        async with Server(close) as server:
            pool = ConnectionPool(10)
            for _ in range(2):
                assert await post(pool, server.url) == (200, b'{"ok":true}')
            assert pool.open == 0
            return server.connections

    assert asyncio.run(scenario()) == 2


def test_chunked_stream_arrives_piece_by_piece() -> None:
    release = asyncio.Event()

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"6\r\nfirst\n\r\n")
        await writer.drain()
        await release.wait()  # the client must see "first" before the server sends more
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        return True

    async def scenario() -> list[bytes]:
        async with Server(chunked) as server:
            pool = ConnectionPool(10)
            resp = await pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=None, read_timeout=5)
            assert resp.headers["Content-Type"] == "text/event-stream"
            pieces = []
            async for piece in resp.content.iter_any():
                pieces.append(piece)
                release.set()
            resp.close()
            assert (
                pool.open == 1 and len(pool.idle[("http", "127.0.0.1", server.server.sockets[0].getsockname()[1])]) == 1
            )  # type: ignore[union-attr]
            return pieces

    assert asyncio.run(scenario()) == [b"first\n", b"second\n"]


def test_disconnect_mid_body_is_a_client_error_and_frees_the_slot() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial"')
        await writer.drain()
        return False

    async def scenario() -> int:
        async with Server(cut) as server:
            pool = ConnectionPool(1)
            for _ in range(2):  # the second request proves the one connection slot came back
                with pytest.raises(ClientError):
                    await post(pool, server.url)
            return pool.open

    assert asyncio.run(scenario()) == 0


def test_silence_past_the_read_timeout_raises_a_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await asyncio.sleep(2)
        return False

    async def scenario() -> None:
        async with Server(silent) as server:
            pool = ConnectionPool(10)
            resp = await pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=None, read_timeout=0.2)
            got = []
            with pytest.raises(ServerTimeoutError):
                async for piece in resp.content.iter_any():
                    got.append(piece)
            assert got == [b"abc"] and pool.open == 0

    asyncio.run(scenario())


def test_a_reused_connection_times_out_at_the_sooner_limit_of_its_next_request() -> None:
    """The connection's timer outlives a request (armed for the first one's far deadline); the next request on
    the same connection, with a read timeout far sooner, still times out at its own limit."""
    answered = 0

    async def first_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        nonlocal answered
        answered += 1
        if answered == 1:
            writer.write(OK)
            return True
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await asyncio.sleep(30)  # the test's own timeout, not this, ends the wait
        return False

    async def scenario() -> float:
        async with Server(first_answers) as server:
            pool = ConnectionPool(10)
            assert await post(pool, server.url) == (200, b'{"ok":true}')  # total_timeout 5: the timer's first limit
            loop = asyncio.get_running_loop()
            start = loop.time()
            resp = await pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=None, read_timeout=0.2)
            with pytest.raises(ServerTimeoutError):
                await asyncio.wait_for(resp.read(), 3)  # a TimeoutError here: the 0.2 s limit was missed
            assert server.connections == 1  # the second request went on the first one's connection
            return loop.time() - start

    assert asyncio.run(scenario()) < 2


def test_limit_makes_requests_wait_for_a_free_connection() -> None:
    active = 0
    most = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        nonlocal active, most
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.05)
        active -= 1
        writer.write(OK)
        return True

    async def scenario() -> int:
        async with Server(slow) as server:
            pool = ConnectionPool(2)
            results = await asyncio.gather(*(post(pool, server.url) for _ in range(6)))
            assert all(r == (200, b'{"ok":true}') for r in results)
            return server.connections

    assert asyncio.run(scenario()) == 2
    assert most == 2


def test_gzip_body_is_decoded_and_refused_connection_is_a_client_error() -> None:
    body = gzip.compress(b'{"ok":"compressed"}')

    async def gz(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def scenario() -> None:
        async with Server(gz) as server:
            pool = ConnectionPool(10)
            assert await post(pool, server.url) == (200, b'{"ok":"compressed"}')
            url = server.url
        with pytest.raises(ClientConnectionError):
            await post(ConnectionPool(10), url)  # the server is gone: nothing listens on that port

    asyncio.run(scenario())


def test_gzip_bomb_and_endless_body_stop_at_max_bytes_and_close_the_connection() -> None:
    """A small gzip body that inflates past the cap, or a body that never ends, is cut at ``max_bytes``: never
    inflated whole, never read whole, its connection closed (not pooled). A body up to the cap inflates whole,
    in pieces of at most INFLATE_CHUNK."""
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB in ~64 KB
    fine = gzip.compress(bytes(range(256)) * (3 * INFLATE_CHUNK // 256 + 7))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = server.heads[-1]
        if b"/endless" in head:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n")
            while not writer.is_closing():
                writer.write(b"x" * 65536)
                await writer.drain()
            return False
        body = bomb if b"/bomb" in head else fine
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        return True

    async def read(pool: ConnectionPool, url: str, *, stream: bool) -> list[bytes]:
        resp = await pool.post(
            url, b"{}", {}, connect_timeout=5, total_timeout=30, read_timeout=None, max_bytes=4 * INFLATE_CHUNK
        )
        try:
            return [piece async for piece in resp.content.iter_any()] if stream else [await resp.read()]
        finally:
            resp.release()

    server = Server(serve)

    async def scenario() -> None:
        async with server:
            pool = ConnectionPool(10)
            for stream in (False, True):
                pieces = await read(pool, f"{server.url}/fine", stream=stream)
                assert b"".join(pieces) == gzip.decompress(fine)
                assert max(map(len, pieces)) <= (INFLATE_CHUNK if stream else len(gzip.decompress(fine)))
                assert pool.open == 1  # read whole: pooled
                for path in ("/bomb", "/endless"):
                    with pytest.raises(BodyTooLarge, match=f"larger than {4 * INFLATE_CHUNK} bytes"):
                        await read(pool, f"{server.url}{path}", stream=stream)
                    assert pool.open == 0  # cut short: closed, not pooled

    asyncio.run(scenario())


def test_https_with_certificate_check_and_keep_alive() -> None:
    """Every real provider is HTTPS: the pool verifies the server's certificate and reuses the TLS connection."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                await read_request(reader)
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        url = f"https://localhost:{port}/v1/responses"
        try:
            pool = ConnectionPool(10, ssl_context=trusting)
            for _ in range(2):
                assert await post(pool, url) == (200, b'{"ok":true}')
            pool.close()
            with pytest.raises(ClientConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                await post(ConnectionPool(10), url)  # the system's trust store does not know this CA
        finally:
            server.close()

    asyncio.run(scenario())
    assert connections == 1  # both requests on one TLS connection; the refused handshake never got that far


def test_a_provider_name_is_resolved_once_for_many_connections() -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK.replace(b"content-length: 11", b"connection: close\r\ncontent-length: 11"))
        return False  # every request needs a new connection

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        lookups = 0
        real = loop.getaddrinfo

        async def counting(*args: object, **kwargs: object) -> object:
            nonlocal lookups
            lookups += 1
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        loop.getaddrinfo = counting  # type: ignore[method-assign]
        async with Server(close) as server:
            pool = ConnectionPool(10)
            url = server.url.replace("127.0.0.1", "localhost")
            for _ in range(3):
                assert await post(pool, url) == (200, b'{"ok":true}')
            return lookups, server.connections

    assert asyncio.run(scenario()) == (1, 3)


@pytest.mark.parametrize("total, read", [(0.1, None), (None, 0.1)], ids=["total timeout", "stream: read timeout"])
def test_waiting_for_a_pool_slot_is_bounded_by_the_timeout(total: float | None, read: float | None) -> None:
    """One connection allowed and held: a second request with a total timeout (a stream: a read timeout) fails
    with the client's timeout error instead of waiting for a slot forever."""

    async def scenario() -> None:
        async with Server(ok) as server:
            pool = ConnectionPool(1)
            held = await pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=None, read_timeout=5)
            second = pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=total, read_timeout=read)
            with pytest.raises(ServerTimeoutError, match="no free connection"):
                await asyncio.wait_for(second, 10)  # the guard only stops a hang: it raises a different error
            assert not pool.waiters
            held.release()
            assert await post(pool, server.url) == (200, b'{"ok":true}')  # the slot is still usable
            pool.close()

    asyncio.run(scenario())


def test_a_waiter_cancelled_after_its_wake_up_passes_it_on() -> None:
    """Two requests wait for the one connection; the first of them is woken and cancelled before it runs: the
    wake-up goes to the other, which gets the free connection."""

    async def scenario() -> None:
        async with Server(ok) as server:
            pool = ConnectionPool(1)
            held = await pool.post(server.url, b"{}", {}, connect_timeout=5, total_timeout=None, read_timeout=5)
            woken = asyncio.create_task(post(pool, server.url))
            third = asyncio.create_task(post(pool, server.url))
            await asyncio.sleep(0)  # one step each: both reach the slot wait (nothing before it suspends)
            assert len(pool.waiters) == 2
            held.release()  # wakes the first waiter, which has not run yet...
            woken.cancel()  # ...and is cancelled before it does
            assert await asyncio.wait_for(third, 10) == (200, b'{"ok":true}')
            assert woken.cancelled()
            pool.close()

    asyncio.run(scenario())


def _read_request_blocking(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(v) for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")) if k.lower() == b"content-length"
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_kept_alive_connection_the_server_closed_before_the_request_is_replaced() -> None:
    """The server closes an idle kept-alive connection; its FIN has arrived but the client's event loop has not
    read it yet when the next request is due. Nothing was written on it: the request goes out on a fresh
    connection instead of failing (and costs no retry)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    close_idle, closed = threading.Event(), threading.Event()
    heads: list[bytes] = []

    def serve() -> None:  # on its own thread: it closes the connection while the client's loop is held still
        for first in (True, False):
            conn, _ = listener.accept()
            with conn:
                heads.append(_read_request_blocking(conn))
                conn.sendall(OK)
                if first:
                    close_idle.wait(10)
            if first:
                closed.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def scenario() -> None:
        pool = ConnectionPool(10)
        url = f"http://127.0.0.1:{port}/v1/responses"
        assert await post(pool, url) == (200, b'{"ok":true}')
        (idle,) = pool.idle[("http", "127.0.0.1", port)]
        assert idle.transport is not None
        sock = idle.transport.get_extra_info("socket")
        idle.idle_since -= PROBE_IDLE_AFTER  # idle long enough for a server's keep-alive timeout to have closed it
        close_idle.set()
        assert closed.wait(10)  # blocking on purpose: the loop must not see the close before the next request
        assert select.select([sock], [], [], 10)[0]  # the FIN is in the socket's buffer, unread
        assert await post(pool, url) == (200, b'{"ok":true}')
        pool.close()

    try:
        asyncio.run(scenario())
    finally:
        listener.close()
    thread.join(10)
    assert len(heads) == 2  # one request per connection: the closed one never got the second


def test_a_request_the_server_received_before_closing_is_not_sent_again() -> None:
    """The server reads the request on a kept-alive connection and closes it without a byte of answer: it may
    have acted on it, so the client reports the failure (the dispatcher's retry policy decides)."""
    served: dict[int, int] = {}

    async def once_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        served[id(writer)] = served.get(id(writer), 0) + 1
        if served[id(writer)] > 1:
            return False  # read the request, then close without answering
        writer.write(OK)
        return True

    async def scenario() -> Server:
        async with Server(once_per_connection) as server:
            pool = ConnectionPool(10)
            assert await post(pool, server.url) == (200, b'{"ok":true}')
            with pytest.raises(ServerDisconnectedError):
                await post(pool, server.url)
            return server

    server = asyncio.run(scenario())
    assert (server.connections, len(server.heads)) == (1, 2)


def test_a_name_with_a_dead_address_first_connects_through_the_next_one() -> None:
    """Happy Eyeballs: the first address never answers (its listener's backlog is full, so the SYN is dropped);
    the second is tried HAPPY_EYEBALLS_DELAY later instead of after the connect timeout."""
    dead = socket.socket()
    filler = socket.socket()

    async def scenario() -> None:
        async with Server(ok) as server:
            port = server.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            dead.bind(("127.0.0.2", port))  # the same port on another loopback address
            dead.listen(0)
            filler.connect(("127.0.0.2", port))  # takes the only place in the accept queue: later SYNs are dropped
            loop = asyncio.get_running_loop()

            async def resolve(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
                assert host == "provider.test"
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in ("127.0.0.2", "127.0.0.1")]

            loop.getaddrinfo = resolve  # type: ignore[method-assign,assignment]
            pool = ConnectionPool(10)
            url = f"http://provider.test:{port}/v1/responses"
            resp = await pool.post(url, b"{}", {}, connect_timeout=5, total_timeout=5, read_timeout=None)
            assert (resp.status, await resp.read()) == (200, b'{"ok":true}')
            resp.release()
            pool.close()

    try:
        asyncio.run(scenario())
    finally:
        filler.close()
        dead.close()


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variables but those the test sets."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def two_requests(server: Server, trusting: ssl.SSLContext | None) -> tuple[Server, str]:
    """Two requests on one pool to a server that keeps the connection: the server and its URL."""
    async with server:
        pool = ConnectionPool(10, ssl_context=trusting)
        for _ in range(2):
            assert await post(pool, server.url) == (200, b'{"ok":true}')
        pool.close()
        return server, server.url


def test_plain_http_goes_through_the_environments_http_proxy_in_absolute_form(no_proxy_env: pytest.MonkeyPatch) -> None:
    with FakeProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # for https:// upstreams only: never used here
        server, url = asyncio.run(two_requests(Server(ok), None))
    assert proxy.forwarded == [f"POST {url} HTTP/1.1"] * 2 and proxy.tunnels == []
    assert server.connections == 1 and server.heads[1].startswith(b"POST /v1/responses HTTP/1.1\r\n")


def test_https_goes_through_a_connect_tunnel_with_tls_to_the_provider(no_proxy_env: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    with FakeProxy() as proxy:
        no_proxy_env.setenv("https_proxy", proxy.url)
        server, url = asyncio.run(two_requests(Server(ok, server_ctx), trusting))
    assert (
        proxy.tunnels == [url.removeprefix("https://").removesuffix("/v1/responses")] and proxy.forwarded == []
    )  # one tunnel, kept alive
    assert len(server.heads) == 2 and server.connections == 1


def test_no_proxy_bypasses_the_environments_proxy(no_proxy_env: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        async with Server(ok) as server:
            assert await post(ConnectionPool(10), server.url) == (200, b'{"ok":true}')

    with FakeProxy() as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", "example.com,127.0.0.1")
        asyncio.run(scenario())
    assert proxy.forwarded == [] and proxy.tunnels == []


def test_a_pools_own_proxy_wins_over_the_environment_and_sends_its_credentials(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async def scenario(proxy: str) -> None:
        async with Server(ok) as server:
            assert await post(ConnectionPool(10, proxy=proxy), server.url) == (200, b'{"ok":true}')

    with FakeProxy() as proxy:
        no_proxy_env.setenv("NO_PROXY", "*")
        asyncio.run(scenario(f"http://user:p%40ss@127.0.0.1:{proxy.port}"))
    assert len(proxy.forwarded) == 1 and proxy.authorizations == ["Basic dXNlcjpwQHNz"]  # user:p@ss
