"""A tiny HTTP proxy that counts what passes through it: CONNECT tunnels and absolute-form requests.

It runs on its own thread and event loop, like FakeUpstream, so both a test's own loop and a GatewayServer can
use it.

    with FakeProxy() as proxy:
        ... HTTPS_PROXY=proxy.url ...
        proxy.tunnels == ["localhost:8443"]; proxy.forwarded == ["POST http://127.0.0.1:8080/v1/x HTTP/1.1"]
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from urllib.parse import urlsplit


class FakeProxy:
    def __init__(self) -> None:
        self.tunnels: list[str] = []  # CONNECT targets, host:port
        self.forwarded: list[str] = []  # request lines of plain-HTTP requests, as received (absolute-form)
        self.authorizations: list[str | None] = []  # the proxy-authorization header of each CONNECT / request
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeProxy:
        self._thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", 0)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)}
                self.authorizations.append(headers.get("proxy-authorization"))
                method, target, _ = line.split(" ", 2)
                if method == "CONNECT":
                    self.tunnels.append(target)
                    host, _, port = target.rpartition(":")
                    up_reader, upstream = await asyncio.open_connection(host.strip("[]"), int(port))
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
                    return
                self.forwarded.append(line)
                u = urlsplit(target)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if upstream is None:  # one upstream connection per client connection, answers piped back
                    up_reader, upstream = await asyncio.open_connection(u.hostname, u.port or 80)
                    asyncio.ensure_future(_pipe(up_reader, writer))
                origin_form = f"{method} {u.path or '/'}{'?' + u.query if u.query else ''} HTTP/1.1"
                upstream.write(head.replace(line.encode("latin-1"), origin_form.encode("latin-1"), 1) + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if upstream is not None:
                upstream.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
