"""Server-sent events on the wire: decoding what providers send, encoding what clients get.

The decoder follows the WHATWG event-stream rules (``\\n``, ``\\r\\n`` and ``\\r`` line ends, multi-line
``data``, comments, a blank line dispatches) and works on raw byte chunks as they arrive, so an event
is handed on the moment its last line lands. It keeps ``data`` as bytes: the passthrough relay never
decodes an event it does not need to read. An event still unfinished past ``max_event`` bytes (a line or
an event that never ends) raises ``EventTooLarge``; until then, the pieces of an unfinished event are
kept as they came and joined once its end arrives, so a large event costs one copy, not one per piece.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    """One event: its name (the ``event:`` line, if any) and its data, as bytes ready to relay."""

    event: str | None
    data: bytes


class EventTooLarge(ValueError):
    """One event grew past the decoder's ``max_event`` bytes before it ended."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"one event is larger than {limit} bytes")
        self.limit = limit


class SSEDecoder:
    __slots__ = ("_parts", "_size", "_end", "max_event")

    def __init__(self, max_event: int | None = None) -> None:
        self._parts: list[bytes] = []  # an unfinished event, as it came (the first piece already normalised)
        self._size = 0
        self._end = b""  # the last 3 bytes of those pieces
        self.max_event = max_event

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        parts = self._parts
        if not parts:
            buf = chunk
        else:
            # only the new piece, with the 3 bytes before it, can hold the blank line that ends the event
            raw = self._end + chunk
            probe = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in raw else raw
            if b"\n\n" not in probe:
                parts.append(chunk)
                self._end = raw[-3:]
                self._grow(len(chunk))
                return []
            parts.append(chunk)
            buf = b"".join(parts)
            parts.clear()
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
        if start < len(buf):
            rest = buf[start:] if start else buf
            parts.append(rest)
            self._end = rest[-3:]
            self._size = 0
            self._grow(len(rest))
        return events

    def _grow(self, n: int) -> None:
        self._size += n
        if self.max_event is not None and self._size > self.max_event:
            self._parts.clear()
            raise EventTooLarge(self.max_event)

    def flush(self) -> list[SSEEvent]:
        """An event left without its final blank line when the stream ended."""
        rest = b"".join(self._parts).rstrip(b"\r\n")
        self._parts.clear()
        if not rest:
            return []
        ev = _parse_block(rest)
        return [ev] if ev is not None else []


def _parse_block(block: bytes) -> SSEEvent | None:
    if block[:6] == b"data: " and b"\n" not in block:  # the common event: one data line, nothing else
        return SSEEvent(None, block[6:])
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


async def iter_sse(chunks: AsyncIterable[bytes], max_event: int | None = None) -> AsyncIterator[SSEEvent]:
    decoder = SSEDecoder(max_event)
    async for chunk in chunks:
        for ev in decoder.feed(chunk):
            yield ev
    for ev in decoder.flush():
        yield ev


async def iter_sse_batches(chunks: AsyncIterable[bytes], max_event: int | None = None) -> AsyncIterator[list[SSEEvent]]:
    """The events of each chunk together: a relay can forward them in one write."""
    decoder = SSEDecoder(max_event)
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
    if b"\n" in data:  # an event of several data lines: one line each, as it came
        data = data.replace(b"\n", b"\ndata: ")
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


KEEPALIVE = b": keep-alive\n\n"
