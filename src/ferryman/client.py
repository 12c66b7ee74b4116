"""The upstream HTTP/1.1 client: keep-alive connection pools on raw asyncio transports, parsed by httptools.

Every provider call goes through here. It does only what a gateway needs (a POST with a body already
encoded, a response read whole or relayed chunk by chunk, TLS, keep-alive, a cap on connections,
timeouts) and so costs a fraction of a general-purpose client per request: profiling showed the general
client to be a third of the gateway's CPU time per request.

Everything that is not the common path is paid for only when a new connection is made, never per request:
- a name is resolved once per DNS_TTL; with several addresses they are tried Happy-Eyeballs style;
- a provider's own TLS trust or client certificate is an ``ssl_context`` (``tls_context`` builds it);
- proxies: the pool's own ``proxy``, else HTTPS_PROXY / HTTP_PROXY / NO_PROXY as urllib reads them, decided once
  per upstream. Plain HTTP goes to the proxy with absolute-form targets; HTTPS through ``CONNECT`` and TLS inside.
A request waiting for a free connection waits at most until its deadline. An idle connection the server has
already closed is not reused (the request, never written on it, goes out on a fresh one); a request written and
then cut is never sent again here: the server may have acted on it, and retrying is the dispatcher's decision.

A response may be given a cap (``max_bytes``): past it, on the wire or once inflated (gzip and deflate are
inflated piece by piece, at most INFLATE_CHUNK bytes at a time, never the whole of a bomb), reading stops with
``BodyTooLarge`` and the connection is closed, not pooled.

Failures are raised as this module's own small hierarchy under ``ClientError`` (``ClientConnectionError``,
``ServerDisconnectedError``, ``ServerTimeoutError``, ``ClientPayloadError``, ``BodyTooLarge``, ``InvalidURL``), which
the shared error mapping in ``providers/base.py`` turns into the gateway's errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import select
import socket
import ssl
import urllib.parse
import urllib.request
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import httptools
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

HIGH_WATER = 1 << 20  # bytes buffered for a slow reader before the socket stops being read
KEEPALIVE = 30.0  # an idle connection older than this is not reused (servers close theirs after ~60 s)
# a connection idle for less than this is reused without polling its socket for a close the event loop has not
# read yet: servers close idle connections after a keep-alive timeout of seconds, and the poll is a syscall that
# releases the GIL on every reuse (12% of a loaded gateway's samples with the store's writer thread beside it)
PROBE_IDLE_AFTER = 0.5

DNS_TTL = 300.0  # seconds a resolved provider address is reused for new connections
INFLATE_CHUNK = 1 << 20  # most bytes one compressed piece is inflated into at a time
HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address of a name is tried alongside (RFC 8305's default)

_ssl_context: ssl.SSLContext | None = None


def tls_context(
    *, ca_bundle: str | None = None, client_cert: str | None = None, client_key: str | None = None, verify: bool = True
) -> ssl.SSLContext | None:
    """The TLS context of a provider with its own trust (``ca_bundle``: the CAs trusted instead of the system's)
    or identity (a client certificate, its key in ``client_key`` or in the same file); None when it has neither,
    for the shared default. ``verify=False`` checks neither the certificate nor the name."""
    if ca_bundle is None and client_cert is None and verify:
        return None
    context = ssl.create_default_context(cafile=ca_bundle)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        context.load_cert_chain(client_cert, client_key)
    return context


class ClientError(Exception):
    """An upstream call failed in the client: no answer, a broken one, or one that came too late."""


class ClientConnectionError(ClientError):
    """The provider cannot be reached, or the connection broke."""


class ServerDisconnectedError(ClientConnectionError):
    """The provider closed the connection before its answer was complete."""


class ServerTimeoutError(ClientError):
    """A connection, a free slot in the pool, or the answer did not come in time."""


class ClientPayloadError(ClientError):
    """The provider's answer is not valid HTTP."""


class BodyTooLarge(ClientError):
    """The answer grew past the cap its reader set (``max_bytes``), as sent or once inflated."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")
        self.limit = limit


class InvalidURL(ClientError, ValueError):
    """Not an http:// or https:// URL with a host."""


def default_ssl_context() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the response being read on it."""

    def __init__(self, pool: ConnectionPool, key: tuple[str, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.counted = True  # in pool.open until closed
        self.idle_since = 0.0
        self.poller: Any = None  # select.poll of the socket, made the first time the connection is reused
        self.via: _Proxy | None = None  # the HTTP proxy this plain-HTTP connection goes through (absolute-form)
        self.limit: float | None = None  # when the current wait times out (loop time)
        # one timer per connection, kept across waits and across the requests of a kept-alive connection: it fires
        # at ``armed`` and looks at the wait of that moment (none: nothing to do). Moved only when a wait's limit is
        # sooner; a timer made and cancelled per wait (per event of a stream, per request) cost more than the wait
        self.timer: asyncio.TimerHandle | None = None
        self.armed = 0.0  # loop time the timer fires at
        self.parser = httptools.HttpResponseParser(self)  # parses one response after another (keep-alive)
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []  # as they came (decoded only if a reader asks)
        self.encoding = b""  # the content-encoding, lower-cased
        self.head_done = False
        self.keep_alive = False
        self.complete = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.got_bytes = False

    # ---- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ClientPayloadError(f"invalid HTTP response from the provider: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._uncount()
        if self.complete:
            return
        if self.head_done and not self._framed():
            self.complete = True  # a body delimited by the end of the connection
            self._wake()
        elif self.got_bytes or self.waiter is not None:
            what = "closed the connection mid-answer" if self.got_bytes else "closed the connection"
            self._fail(ServerDisconnectedError(f"the provider {what}"))

    # ---- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))
        if len(name) == 16 and name.lower() == b"content-encoding":
            self.encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message is complete
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # ---- helpers ---------------------------------------------------------------------------------

    def _framed(self) -> bool:
        for name, value in self.raw_headers:
            low = name.lower()
            if low == b"content-length" or (low == b"transfer-encoding" and b"chunked" in value.lower()):
                return True
        return False

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def wait(self, deadline: float | None, idle: float | None) -> None:
        """Until the parser has something new (head, body bytes, the end), an error, or a timeout."""
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        limit = None
        if idle is not None:
            limit = self.loop.time() + idle
        if deadline is not None and (limit is None or deadline < limit):
            limit = deadline
        self.limit = limit
        if limit is not None and (self.timer is None or limit < self.armed):
            self._arm(limit)
        try:
            await waiter
        finally:
            self.waiter = None

    def _on_timer(self) -> None:
        self.timer = None
        limit, waiter = self.limit, self.waiter
        if limit is None or waiter is None or waiter.done():
            return  # nobody is waiting: the next wait arms it again
        if self.loop.time() < limit:
            self._arm(limit)
        else:
            _expire(waiter)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.armed = when
        self.timer = self.loop.call_at(when, self._on_timer)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def closed_by_server(self, probe: bool = True) -> bool:
        """Whether this idle connection is done for: closing, or (with ``probe``) with something to read before any
        request, which on an idle HTTP/1.1 connection can only be the server's close (FIN, TLS alert) that the event
        loop has not read yet. Checked before a request is written on it, so a stale connection costs no retry."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return True
        if not probe:
            return False
        poller = self.poller
        if poller is None:
            sock = transport.get_extra_info("socket")
            if sock is None or not hasattr(select, "poll"):
                return False
            poller = self.poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def take(self) -> bytes:
        """The body bytes that have arrived and not been taken yet."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self._reset()
        self.transport.write(request)

    def close(self) -> None:
        self.cancel_timer()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self._uncount()

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.pool._gone(self)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(ServerTimeoutError("the provider did not answer in time"))


class UpstreamResponse:
    """An open response: status and headers have arrived; the body is read with ``read()`` or ``content``.

    ``max_bytes`` (None: no cap) bounds the body read through it, as sent and once inflated; a reader that
    holds only a piece at a time (a stream relayed as it comes) may lift it by setting it to None."""

    __slots__ = (
        "status",
        "_raw",
        "_headers",
        "max_bytes",
        "_conn",
        "_deadline",
        "_idle",
        "_decoder",
        "_tail",
        "_seen",
        "content",
    )

    def __init__(self, conn: _Connection, deadline: float | None, idle: float | None, max_bytes: int | None) -> None:
        self.status = conn.status
        self._raw = conn.raw_headers
        self._headers: CIMultiDictProxy[str] | None = None
        self.max_bytes = max_bytes
        self._conn: _Connection | None = conn
        self._deadline = deadline
        self._idle = idle
        encoding = conn.encoding
        self._decoder: Any = None
        if encoding in (b"gzip", b"x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == b"deflate":
            self._decoder = zlib.decompressobj()
        self._tail: bytes | None = None  # compressed bytes not inflated yet (b"": output zlib still holds)
        self._seen = 0  # body bytes handed out so far (inflated)
        self.content = self  # adapters read a stream as ``resp.content.iter_any()``

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        """The response's headers, made the first time they are read: a JSON answer's are seldom read, and a
        provider sends twenty or more (decoding each one as it came was a tenth of reading a short reply)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = CIMultiDictProxy(
                CIMultiDict([(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._raw])
            )
        return headers

    async def _next(self) -> bytes | None:
        """The next piece of the body as it arrives; None at its end."""
        conn = self._conn
        if conn is None:
            return None
        while True:
            if self._tail is not None:
                return self._count(self._inflate(self._tail))
            if conn.chunks:
                data = conn.take()
                return self._count(data if self._decoder is None else self._inflate(data))
            if conn.complete:
                self._finish()
                return None
            try:
                await conn.wait(self._deadline, self._idle)
            except BaseException:
                self._conn = None
                conn.close()
                raise

    def _inflate(self, data: bytes) -> bytes:
        """At most INFLATE_CHUNK bytes of ``data`` inflated; what is left (input, or output zlib holds) is taken
        by the next call."""
        decoder = self._decoder
        out: bytes = decoder.decompress(data, INFLATE_CHUNK)
        tail = decoder.unconsumed_tail
        self._tail = tail if tail or (len(out) == INFLATE_CHUNK and not decoder.eof) else None
        return out

    def _count(self, data: bytes) -> bytes:
        """``data``, counted against ``max_bytes``; past it the connection is closed and BodyTooLarge raised."""
        limit = self.max_bytes
        if limit is not None:
            self._seen += len(data)
            if self._seen > limit:
                conn, self._conn = self._conn, None
                self._tail = None
                if conn is not None:
                    conn.close()
                raise BodyTooLarge(limit)
        return data

    def _flush(self) -> bytes:
        return b"" if self._decoder is None else self._count(self._decoder.flush())

    def iter_any(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive, then what the decoder still held (``async for``)."""
        return _Pieces(self)

    async def read(self) -> bytes:
        parts = []
        while True:
            data = await self._next()
            if data is None:
                break
            parts.append(data)
        tail = self._flush()
        if tail:
            parts.append(tail)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _finish(self) -> None:
        """The whole answer has arrived: the connection goes back to the pool, or is closed."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.complete and conn.error is None and conn.keep_alive:
            conn.pool._release(conn)  # its timer stays: the next request's wait uses it (``_Connection.wait``)
        else:
            conn.close()

    def release(self) -> None:
        """Done with the response: its connection is reused if the answer arrived whole, closed if not."""
        self._finish()

    def close(self) -> None:
        self._finish()


class ConnectionPool:
    """Keep-alive connections per (scheme, host, port), at most ``limit`` open at once (the rest wait)."""

    def __init__(self, limit: int, *, ssl_context: ssl.SSLContext | None = None, proxy: str | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.ssl_context = ssl_context
        # ``proxy`` carries every request; without it the environment's, read now as urllib reads it
        self.proxy = proxy
        self.env_proxies = {} if proxy else {k: v for k, v in urllib.request.getproxies().items() if k in _SCHEMES}
        self.routes: dict[tuple[str, str, int], _Proxy | None] = {}  # the proxy (or none) per upstream
        self.idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self.open = 0  # connections that exist: in use, idle, or connecting
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        # each URL posted to, parsed once: its connection key and request target (a yarl.URL a request cost ~3 us)
        self.urls: dict[str, tuple[tuple[str, str, int], str]] = {}

    async def post(
        self,
        url: str | yarl.URL,
        body: bytes,
        headers: dict[str, str],
        *,
        connect_timeout: float | None,
        total_timeout: float | None,
        read_timeout: float | None,
        max_bytes: int | None = None,
    ) -> UpstreamResponse:
        """Send a POST and return once the status line and headers are in (its body capped at ``max_bytes``)."""
        if type(url) is str:
            found = self.urls.get(url)
            if found is None:
                found = _target(yarl.URL(url))
                if len(self.urls) >= URLS:  # bounded: a path may name a client's model
                    self.urls.clear()
                self.urls[url] = found
        else:
            found = _target(yarl.URL(url))
        key, target = found
        deadline = None if total_timeout is None else self.loop.time() + total_timeout
        conn = await self._acquire(key, connect_timeout, deadline, read_timeout)
        try:
            conn.send(_head(target, key, headers, len(body), conn.via) + body)
            while not conn.head_done:
                await conn.wait(deadline, read_timeout)
        except BaseException:
            conn.close()
            raise
        return UpstreamResponse(conn, deadline, read_timeout, max_bytes)

    # ---- the pool --------------------------------------------------------------------------------

    async def _acquire(
        self, key: tuple[str, str, int], connect_timeout: float | None, deadline: float | None, idle: float | None
    ) -> _Connection:
        limit = deadline
        while True:
            conn = self._idle_one(key)
            if conn is not None:
                return conn
            if self.open < self.limit or self._evict_one():
                break
            if limit is None and idle is not None:
                limit = self.loop.time() + idle  # a stream has no deadline: it waits as long as one silence
            await self._wait_for_slot(limit)
        conn = _Connection(self, key)
        self.open += 1
        try:
            await self._connect(conn, connect_timeout, deadline)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _wait_for_slot(self, limit: float | None) -> None:
        """Until a connection is released or closed, at most until ``limit`` (loop time): the request's deadline,
        or for a stream (which has none) one read timeout."""
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            async with asyncio.timeout_at(limit):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken as we gave up: the free connection goes to the next in line
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                msg = f"no free connection to the provider in time (max_connections {self.limit})"
                raise ServerTimeoutError(msg) from None
            raise

    def _idle_one(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self.idle.get(key)
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            age = now - conn.idle_since
            if age < KEEPALIVE and not conn.closed_by_server(probe=age >= PROBE_IDLE_AFTER):
                return conn
            conn.close()
        return None

    def _evict_one(self) -> bool:
        """At the limit: close the longest-idle connection to another host, to make room."""
        oldest: _Connection | None = None
        for conns in self.idle.values():
            if conns and (oldest is None or conns[0].idle_since < oldest.idle_since):
                oldest = conns[0]
        if oldest is None:
            return False
        oldest.close()
        return True

    async def _connect(self, conn: _Connection, connect_timeout: float | None, deadline: float | None) -> None:
        scheme, host, port = conn.key
        limit = connect_timeout
        if deadline is not None:
            left = deadline - self.loop.time()
            limit = left if limit is None else min(limit, left)
        ssl_context = (self.ssl_context or default_ssl_context()) if scheme == "https" else None
        name = host[1:-1] if host.startswith("[") else host
        try:
            async with asyncio.timeout(limit):
                proxy = self._route(conn.key) if self.proxy or self.env_proxies else None
                if proxy is None:
                    await self._open(lambda: conn, name, port, ssl_context)
                elif ssl_context is None:
                    conn.via = proxy
                    await self._open(lambda: conn, proxy.host, proxy.port, None)
                else:
                    tunnel = _Tunnel(self.loop)
                    transport = await self._open(lambda: tunnel, proxy.host, proxy.port, None)
                    try:
                        await tunnel.establish(f"{host}:{port}", proxy)
                        tls = await self.loop.start_tls(transport, conn, ssl_context, server_hostname=name)
                    except BaseException:
                        transport.close()
                        raise
                    assert tls is not None
                    conn.connection_made(tls)
        except TimeoutError:
            raise ServerTimeoutError(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise ClientConnectionError(f"cannot connect to {host}:{port}: {exc}") from None

    async def _open(
        self,
        factory: Callable[[], asyncio.Protocol],
        name: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
    ) -> asyncio.Transport:
        """A TCP (or TLS) connection to ``name``: its one address, or the first of several to connect."""
        addresses = await self._resolve(name, port)
        hostname = name if ssl_context else None
        try:
            if len(addresses) == 1:
                transport, _ = await self.loop.create_connection(
                    factory, addresses[0], port, ssl=ssl_context, server_hostname=hostname
                )
            else:
                sock = await _happy_eyeballs(self.loop, addresses, port)
                transport, _ = await self.loop.create_connection(
                    factory, sock=sock, ssl=ssl_context, server_hostname=hostname
                )
        except OSError:
            self.dns.pop((name, port), None)  # perhaps moved: resolve afresh next time
            raise
        return transport

    def _route(self, key: tuple[str, str, int]) -> _Proxy | None:
        """The proxy a new connection to this upstream goes through, if any: decided once per upstream."""
        try:
            return self.routes[key]
        except KeyError:
            pass
        scheme, host, port = key
        url = self.proxy or self.env_proxies.get(scheme)
        if url and not self.proxy and urllib.request.proxy_bypass(f"{host.strip('[]')}:{port}"):
            url = None  # NO_PROXY
        route = self.routes[key] = _Proxy.parse(url) if url else None
        return route

    async def _resolve(self, name: str, port: int) -> list[str]:
        """The addresses of ``name``, from the cache for DNS_TTL seconds (a burst of new connections to a
        provider resolves its name once, not once per connection)."""
        try:
            ipaddress.ip_address(name)
            return [name]
        except ValueError:
            pass
        now = self.loop.time()
        cached = self.dns.get((name, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await self.loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        addresses = _interleave(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        if not addresses:
            raise OSError(f"{name} has no address")
        self.dns[(name, port)] = (now + DNS_TTL, addresses)
        return addresses

    def _release(self, conn: _Connection) -> None:
        """A response read whole on a connection the server keeps open: the connection waits for the next."""
        if conn.transport is None:
            conn.close()
            return
        conn.idle_since = self.loop.time()
        self.idle.setdefault(conn.key, []).append(conn)
        self._wake_one()

    def _gone(self, conn: _Connection) -> None:
        """A connection closed (by either side): it no longer counts against the limit."""
        idle = self.idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        self.open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for conns in list(self.idle.values()):
            for conn in list(conns):
                conn.close()
        self.idle.clear()


def _interleave(addresses: list[str]) -> list[str]:
    """The resolver's order, alternating address families from the first one's (RFC 8305's interleaving), so a
    broken IPv6 (or IPv4) path delays the other family by one attempt, not by all of its addresses."""
    first = [a for a in addresses if (":" in a) == (":" in addresses[0])]
    other = [a for a in addresses if (":" in a) != (":" in addresses[0])]
    if not other:
        return addresses
    mixed = [a for pair in zip(first, other, strict=False) for a in pair]
    n = min(len(first), len(other))
    return mixed + first[n:] + other[n:]


async def _happy_eyeballs(loop: asyncio.AbstractEventLoop, addresses: list[str], port: int) -> socket.socket:
    """Connect to one of several addresses (RFC 8305): a new attempt starts every HAPPY_EYEBALLS_DELAY seconds, or
    as soon as the latest one fails, while the earlier ones go on; the first socket to connect wins, the rest are
    cancelled (and closed)."""
    todo = iter(addresses)
    pending: set[asyncio.Task[socket.socket]] = set()
    errors: list[str] = []
    try:
        while True:
            address = next(todo, None)
            if address is not None:
                pending.add(loop.create_task(_connect_socket(loop, address, port)))
            elif not pending:
                raise OSError("; ".join(errors))
            done, pending = await asyncio.wait(
                pending,
                timeout=HAPPY_EYEBALLS_DELAY if address is not None else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            winner: socket.socket | None = None
            for task in done:
                exc = task.exception()
                if exc is not None:
                    errors.append(str(exc))
                elif winner is None:
                    winner = task.result()
                else:
                    task.result().close()
            if winner is not None:
                return winner
    finally:
        for task in pending:
            task.cancel()


async def _connect_socket(loop: asyncio.AbstractEventLoop, address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _target(u: yarl.URL) -> tuple[tuple[str, str, int], str]:
    """A URL's connection key (scheme, host, port) and request target (path and query), or InvalidURL."""
    scheme = u.scheme
    if scheme not in ("http", "https") or not u.raw_host:
        raise InvalidURL(str(u))
    port = u.port or (443 if scheme == "https" else 80)
    return (scheme, u.raw_host, port), u.raw_path_qs or "/"


def _head(target: str, key: tuple[str, str, int], headers: dict[str, str], length: int, via: _Proxy | None) -> bytes:
    scheme, host, port = key
    authority = host if port == (443 if scheme == "https" else 80) else f"{host}:{port}"
    if via is None:
        lines = [f"POST {target} HTTP/1.1\r\nhost: {authority}\r\n"]
    else:  # through an HTTP proxy: the absolute URL, and the proxy's credentials
        lines = [f"POST {scheme}://{authority}{target} HTTP/1.1\r\nhost: {authority}\r\n{via.authorization}"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ClientError(f"invalid header {name!r}")
        if name.lower() not in _OWN_HEADERS:
            lines.append(f"{name}: {value}\r\n")
    lines.append(f"content-length: {length}\r\n\r\n")
    return "".join(lines).encode("latin-1")


URLS = 1024  # URLs a pool remembers parsed
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "proxy-authorization"})
_SCHEMES = ("http", "https")


class _Proxy(NamedTuple):
    """An HTTP proxy: where it listens, and the ``proxy-authorization`` header line its URL's credentials make."""

    host: str
    port: int
    authorization: str  # "" or "proxy-authorization: Basic ...\r\n"

    @classmethod
    def parse(cls, url: str) -> _Proxy:
        u = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        if u.scheme != "http" or not u.hostname:  # the URL itself is not shown: it may hold a password
            raise ClientConnectionError(f"unsupported proxy {u.scheme}://{u.hostname or ''} (only http:// proxies)")
        authorization = ""
        if u.username is not None:
            user = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
            authorization = f"proxy-authorization: Basic {base64.b64encode(user.encode()).decode()}\r\n"
        return cls(u.hostname, u.port or 80, authorization)


class _Tunnel(asyncio.Protocol):
    """A connection to a proxy until it has answered ``CONNECT``; then TLS to the provider runs over it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answer: asyncio.Future[bytes] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.data = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data
        if b"\r\n\r\n" in self.data and not self.answer.done():
            self.answer.set_result(self.data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ClientConnectionError("the proxy closed the connection before answering CONNECT"))

    async def establish(self, authority: str, proxy: _Proxy) -> None:
        assert self.transport is not None
        self.transport.write(f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n{proxy.authorization}\r\n".encode())
        head, _, extra = (await self.answer).partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        code = status.split(" ", 2)[1] if status.count(" ") else ""
        if not code.startswith("2") or extra:
            raise ClientConnectionError(
                f"the proxy {proxy.host}:{proxy.port} refused a tunnel to {authority}: {status}"
            )


class _Pieces:
    """``UpstreamResponse.iter_any``: an iterator object rather than an async generator, which mypyc does not
    compile (``ferryman/compiled.py``)."""

    __slots__ = ("done", "resp")

    def __init__(self, resp: UpstreamResponse) -> None:
        self.resp = resp
        self.done = False

    def __aiter__(self) -> _Pieces:
        return self

    async def __anext__(self) -> bytes:
        while not self.done:
            data = await self.resp._next()
            if data is None:
                self.done = True
                tail = self.resp._flush()
                if tail:
                    return tail
            elif data:
                return data
        raise StopAsyncIteration
