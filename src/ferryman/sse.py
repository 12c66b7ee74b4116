"""Server-sent events on the wire: decoding what providers send, encoding what clients get.

The decoder follows the WHATWG event-stream rules (``\\n``, ``\\r\\n`` and ``\\r`` line ends, multi-line
``data``, comments, a blank line dispatches) and works on raw byte chunks as they arrive, so an event
is handed on the moment its last line lands. It keeps ``data`` as bytes: the passthrough relay never
decodes an event it does not need to read.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    """One event: its name (the ``event:`` line, if any) and its data, as bytes ready to relay."""

    event: str | None
    data: bytes


class SSEDecoder:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk
        if b"\r" in buf:
            # a trailing \r may be the first half of \r\n: keep it for the next chunk
            hold = buf.endswith(b"\r")
            if hold:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if hold:
                buf += b"\r"
        events: list[SSEEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            ev = _parse_block(buf[start:end])
            if ev is not None:
                events.append(ev)
            start = end + 2
        self._buf = buf[start:]
        return events

    def flush(self) -> list[SSEEvent]:
        """An event left without its final blank line when the stream ended."""
        rest, self._buf = self._buf.rstrip(b"\r\n"), b""
        if not rest:
            return []
        ev = _parse_block(rest)
        return [ev] if ev is not None else []


def _parse_block(block: bytes) -> SSEEvent | None:
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 0x3A:  # blank or ":" comment
            continue
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return None
    return SSEEvent(event, data[0] if len(data) == 1 else b"\n".join(data))


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for ev in decoder.feed(chunk):
            yield ev
    for ev in decoder.flush():
        yield ev


async def iter_sse_batches(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[SSEEvent]]:
    """The events of each chunk together: a relay can forward them in one write."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        events = decoder.feed(chunk)
        if events:
            yield events
    rest = decoder.flush()
    if rest:
        yield rest


async def flatten(batches: AsyncIterable[list[SSEEvent]]) -> AsyncIterator[SSEEvent]:
    async for batch in batches:
        for ev in batch:
            yield ev


def encode_event(event: str | None, data: bytes) -> bytes:
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


KEEPALIVE = b": keep-alive\n\n"
