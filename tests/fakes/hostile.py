"""A hostile provider: a raw HTTP server that answers as a broken or malicious upstream would.

It speaks HTTP/1.1 by hand on 127.0.0.1 (its own thread and event loop), so it can send what no web
framework would: bodies that never end, gzip bombs, lines without an end, garbage instead of HTTP.
The first path segment names the misbehaviour and the rest the API, so one server stands behind any
number of providers: an OpenAI provider with ``base_url: {url}/linger/v1`` gets ``linger`` at
``/linger/v1/responses``, an Anthropic one with ``base_url: {url}/linger`` gets it at ``/linger/v1/messages``.

What is sent is bounded (``FLOOD`` bytes at most for the endless modes, then the connection is
closed), so a gateway without caps buffers a lot but cannot take the machine down with it.

Modes (``MODES``):
- ``endless-body``: a JSON reply without length that goes on (``{"a":"xxxx...``);
- ``gzip-bomb``: a small gzip body that inflates to ``FLOOD`` bytes;
- ``endless-stream``: a well-formed stream whose text never ends (no terminal event);
- ``huge-line`` / ``huge-line-late``: a data line that never ends, first / after ``response.created``;
- ``bad-json`` / ``bad-json-first``: ``data: {not json`` after ``response.created`` / as the first event;
- ``bad-utf8``: an event with invalid UTF-8 inside a JSON string, after ``response.created``;
- ``garbage``: bytes that are not HTTP at all;
- ``linger``: the recorded stream, complete, then silence with the connection held open;
- ``silent``: the stream's headers, then silence.
The ``linger``, ``endless-stream`` and ``bad-json`` modes speak each API (Responses or Anthropic Messages).
"""

from __future__ import annotations

import asyncio
import gzip
import queue
import threading
from functools import cache

from tests.fakes.upstream import load_fixture

FLOOD = 64 << 20  # the most an endless mode sends: far past any cap a test sets
PIECE = 64 << 10

MODES = (
    "endless-body",
    "gzip-bomb",
    "endless-stream",
    "huge-line",
    "huge-line-late",
    "bad-json",
    "bad-json-first",
    "bad-utf8",
    "garbage",
    "linger",
    "silent",
)

SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\r\n"


@cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * FLOOD, compresslevel=9)


def _recorded(api: str) -> list[bytes]:
    name = "anthropic-messages/text_stream" if api == "messages" else "openai-responses/text_stream"
    return [block.encode() + b"\n\n" for block in load_fixture(name)["response"]["sse"]]


def _delta(api: str) -> bytes:
    if api == "messages":
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"spam spam spam spam "}}\n\n'  # noqa: E501
    return b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"spam spam spam spam ","sequence_number":5}\n\n'  # noqa: E501


class HostileUpstream:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._lingering: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.hangups: queue.Queue[str] = queue.Queue()  # the mode of each answer the gateway cut short

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileUpstream:
        _bomb()  # made once, before any request waits on it
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="hostile-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("hostile upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._lingering):
            writer.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                path = head.split(b" ", 2)[1].decode()
                mode, _, rest = path.lstrip("/").partition("/")
                api = "messages" if rest.endswith("messages") else "responses"
                if not await self._answer(mode, api, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _flood(self, mode: str, writer: asyncio.StreamWriter, piece: bytes) -> None:
        """``piece`` again and again, up to FLOOD bytes, unless the gateway hangs up first."""
        sent = 0
        try:
            while sent < FLOOD:
                writer.write(piece)
                await writer.drain()
                sent += len(piece)
        except ConnectionError:
            self.hangups.put(mode)

    async def _hold(self, mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Keep the connection open and silent until the gateway closes it (or the server stops)."""
        await writer.drain()
        self._lingering.add(writer)
        try:
            if not await reader.read(1):
                self.hangups.put(mode)
        finally:
            self._lingering.discard(writer)

    async def _answer(self, mode: str, api: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False closes the connection after it."""
        if mode == "endless-body":
            writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"a":"')
            await self._flood(mode, writer, b"x" * PIECE)
            return False
        if mode == "gzip-bomb":
            bomb = _bomb()
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(bomb), bomb)
            )
            await writer.drain()
            return True
        if mode == "garbage":
            writer.write(b"\x00\xff\x13garbage, not HTTP\r\n\r\n" * 100)
            await writer.drain()
            return False
        writer.write(SSE_HEAD)
        recorded = _recorded(api)
        if mode == "silent":
            await self._hold(mode, reader, writer)
            return False
        if mode in ("huge-line", "bad-json-first"):
            first = b"data: {not json\n\n" if mode == "bad-json-first" else b'data: {"type":"response.created","x":"'
            writer.write(first)
            if mode == "huge-line":
                await self._flood(mode, writer, b"x" * PIECE)
            else:
                await self._hold(mode, reader, writer)
            return False
        writer.write(recorded[0])  # response.created / message_start
        if mode == "endless-stream":
            writer.write(b"".join(recorded[1:3]))
            await self._flood(mode, writer, _delta(api) * 256)
        elif mode == "huge-line-late":
            writer.write(b'data: {"type":"response.output_text.delta","delta":"')
            await self._flood(mode, writer, b"x" * PIECE)
        elif mode == "bad-json":
            writer.write(b"event: response.output_text.delta\ndata: {not json\n\n")
            await self._hold(mode, reader, writer)
        elif mode == "bad-utf8":
            writer.write(
                b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"\xff\xfe"}\n\n'
            )
            await self._hold(mode, reader, writer)
        elif mode == "linger":
            writer.write(b"".join(recorded[1:]))
            await self._hold(mode, reader, writer)
        return False
