"""Relay a Responses event stream to the client, as it arrives.

Every event gets ``extra_fields.chunk_index`` spliced into its JSON without decoding it; only the
final event (``response.completed`` / ``incomplete`` / ``failed``) is decoded, priced and given the
full ``extra_fields``. Each event's type and sequence number are read with a head-only decode
(``read_head``: nothing else is built), which also proves the event is a JSON object in UTF-8: an
event that is not ends the stream as ``upstream_bad_response``, never reaching the client as is.
The terminal event ends the stream: nothing after it is read, the upstream is closed at once.
While the upstream is silent (a reasoning model thinking) SSE comments keep proxies from cutting
the connection. A client that goes away cancels the upstream request. A failure after the first
byte becomes an ``error`` event and a ``response.failed``, never a silent cut; they carry on the
sequence numbers from the last event relayed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from ferryman.client import ClientError
from ferryman.gateway.resume import Resumer
from ferryman.http import ClientGone, LeaveWatch, Receive, Send
from ferryman.providers.base import EventStream, SSEEvent, stream_failure
from ferryman.schemas.errors import FerrymanError, UpstreamConnectionError, provider_error_from_body
from ferryman.schemas.events import MalformedEvent, read_head
from ferryman.scrub import scrub_bytes
from ferryman.sse import KEEPALIVE, EventTooLarge, encode_event

TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _upstream_error(provider: str, data: bytes) -> FerrymanError:
    """A provider's ``error`` event as the failure it records (read only on this rare path), as any error body."""
    error = provider_error_from_body(provider, 502, data)
    if error.code is None:
        error.code = "upstream_error"
    return error


def with_chunk_index(data: bytes, index: int) -> bytes:
    """Splice ``"extra_fields":{"chunk_index":N}`` into a JSON object without parsing it."""
    body = data.rstrip()
    if not body.endswith(b"}"):
        return data  # not an object ([DONE] and friends): relay untouched
    tail = b'"extra_fields":{"chunk_index":%d}}' % index
    inner = body[:-1].rstrip()
    return inner + (tail if inner.endswith(b"{") else b"," + tail)


def _sequence(data: bytes) -> int | None:
    try:
        return read_head(data).sequence_number
    except MalformedEvent:
        return None


async def _singles(events: AsyncIterator[SSEEvent]) -> AsyncIterator[list[SSEEvent]]:
    async for ev in events:
        yield [ev]


class StreamRelay:
    def __init__(
        self,
        send: Send,
        receive: Receive,
        stream: EventStream,
        *,
        keepalive: float,
        provider: str,
        finalize: Callable[[dict[str, Any], int], dict[str, Any]],
        resumer: Resumer | None = None,
        on_final: Callable[[dict[str, Any]], Awaitable[Awaitable[None] | None]] | None = None,
        on_event: Callable[[str | None], None] | None = None,
        on_failed: Callable[[FerrymanError], Awaitable[None]] | None = None,
    ) -> None:
        self.send = send
        self.receive = receive
        self.stream = stream
        self.keepalive = keepalive
        self.provider = provider
        self.finalize = finalize  # (response object, chunk_index) -> event-level extra_fields
        self.lock = asyncio.Lock()
        self.last_write = time.monotonic()
        self.index = 0
        self.sequence = -1  # the upstream's sequence number on response.created
        self.last_sent = b""  # the data of the last event relayed: its sequence number is read if the stream fails
        self.snapshot: dict[str, Any] | None = None  # the response from response.created
        self.finished = False  # the client has the stream's end (a terminal event, or an upstream ``error``)
        self.ended = False  # the terminal event is relayed: the stream is over
        self.resumer = resumer
        self.on_final = on_final  # with the final response; what it returns is awaited once the client has the end
        self.on_event = on_event  # each relayed event's type (None when no hook watches events)
        self.on_failed = on_failed  # a failure after the first byte, once explained to the client
        self.kept: Awaitable[None] | None = None
        self.done = False  # the body's end is written
        self.pinger: asyncio.Task[None] | None = None  # the keep-alive, once the stream has lasted one interval

    async def run(self, headers: list[tuple[bytes, bytes]]) -> None:
        await self.send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
        # the keep-alive's task only for a stream still open after one interval (most end well before)
        timer = asyncio.get_running_loop().call_later(self.keepalive, self._ping)
        try:
            with LeaveWatch(self.receive, _always):  # a client that leaves stops the pump (and the upstream)
                await self._pump()
        except ClientGone:
            await self._settle_kept()
            if not self.ended and self.on_failed is not None:  # the client left before the end: a failure to record
                await self.on_failed(FerrymanError("The client left mid-stream.", code="client_closed", status=499))
            return  # the client left: the upstream is closed below, nothing more to say
        except Exception as exc:  # noqa: BLE001 - every failure becomes an explanation to the client
            await self._fail(stream_failure(self.provider, exc))
        finally:
            timer.cancel()
            if self.pinger is not None:
                self.pinger.cancel()
            await self.stream.close()
        try:
            if not self.done:  # (the terminal event's write ended the body)
                await self._write(b"", more=False)
        finally:
            await self._settle_kept()  # after the client has the whole stream: it never waits for the store

    async def _settle_kept(self) -> None:
        if self.kept is not None:
            kept, self.kept = self.kept, None
            await kept

    async def _pump(self) -> None:
        while True:
            try:
                await self._relay()
                return
            except (TimeoutError, FerrymanError, OSError, ClientError, MalformedEvent, EventTooLarge) as exc:
                if self.resumer is None or self.finished:
                    raise
                failure = stream_failure(self.provider, exc)
                if not failure.retryable:
                    raise
                nxt = await self.resumer.resume(self.index, failure.code or "upstream_error")
                if nxt is None:
                    raise
                await self.stream.close()
                self.stream = nxt
                self.provider = self.resumer.served_by.provider

    async def _relay(self) -> None:
        stream = self.stream
        batches = stream.batches if stream.batches is not None else _singles(stream.events)
        async for batch in batches:
            out: list[bytes] = []
            for ev in batch:
                try:
                    chunk = await self._one(ev)
                except Exception:
                    if out:  # the events before the broken one are the client's
                        await self._write(b"".join(out))
                    raise
                if chunk is not None:
                    out.append(chunk)
                if self.ended:
                    break  # the terminal event: whatever follows it is not the client's
            if out:  # the terminal event's write ends the body: the end of the chunked body in the same write
                await self._write(b"".join(out), more=not self.ended)
            if self.ended:
                return  # not one more read: an upstream lingering after its end is closed by run()
        await self._body_ended()

    async def _body_ended(self) -> None:
        """The upstream's body ended without the terminal event: finished still, or a failure."""
        if not self.finished:
            tail = await self._upstream_ended()
            if tail:
                await self._write(tail, more=not self.ended)
        if not self.finished:
            raise UpstreamConnectionError(
                f"{self.provider}: the stream ended before the response was complete",
                code="upstream_stream_incomplete",
            )

    async def _upstream_ended(self) -> bytes:
        """The upstream's body ended before a terminal event: what to write then (a relay that can still finish)."""
        return b""

    async def _one(self, ev: SSEEvent) -> bytes | None:
        """One event as the client gets it (None: dropped by a resumed stream's rewriting)."""
        if self.stream.built and ev.event:
            etype: str | None = ev.event  # the builder's own event: nothing to read or check
        else:
            head = read_head(
                ev.data
            )  # an upstream's event, read whatever its event: line: a malformed one is not relayed
            etype = ev.event or head.type
        resumer = self.resumer
        if resumer is not None:
            rewritten = resumer.rewrite(ev, etype)
            if rewritten is None:
                return None
            ev = rewritten
            resumer.observe(etype, ev.data)
        if self.on_event is not None:
            self.on_event(etype)
        if etype in TERMINAL:
            # a failure's words are the upstream's, which may echo the key it was sent
            data = await self._final(ev.data if etype == "response.completed" else scrub_bytes(ev.data))
            self.finished = self.ended = True
        elif etype == "response.created" and self.snapshot is None:
            data = self._remember(ev.data)
        elif etype == "error":
            data = with_chunk_index(scrub_bytes(ev.data), self.index)
            self.finished = True
            if self.on_failed is not None:  # the provider's own error event ends the stream: a failure
                await self.on_failed(_upstream_error(self.provider, data))
        else:
            data = with_chunk_index(ev.data, self.index)
        self.index += 1
        self.last_sent = ev.data
        return encode_event(ev.event, data)

    def _remember(self, data: bytes) -> bytes:
        try:
            obj = _decode(data)
            self.snapshot = obj.get("response") if isinstance(obj, dict) else None
            self.sequence = obj.get("sequence_number", self.sequence) if isinstance(obj, dict) else self.sequence
        except msgspec.DecodeError:
            pass
        return with_chunk_index(data, self.index)

    async def _final(self, data: bytes) -> bytes:
        try:
            obj = _decode(data)
        except msgspec.DecodeError:
            return with_chunk_index(data, self.index)
        response = obj.get("response") if isinstance(obj, dict) else None
        if not isinstance(response, dict):
            return with_chunk_index(data, self.index)
        obj["extra_fields"] = self.finalize(response, self.index)
        if self.on_final is not None:
            self.kept = await self.on_final(response)
        return _encode(obj)

    async def _fail(self, exc: FerrymanError) -> None:
        """Explain a failure after the first byte: an ``error`` event, then ``response.failed``."""
        last = _sequence(self.last_sent)
        seq = max(self.sequence, last if last is not None else -1) + 1  # the upstream's numbering carries on
        error_event = {
            "type": "error",
            "code": exc.code,
            "message": exc.message,
            "param": exc.param,
            "sequence_number": seq,
            "extra_fields": {"chunk_index": self.index},
        }
        self.index += 1
        await self._write(encode_event("error", _encode(error_event)))
        if self.snapshot is not None:
            response = dict(self.snapshot)
            response["status"] = "failed"
            response["error"] = {"code": exc.code or "server_error", "message": exc.message}
            failed = {"type": "response.failed", "response": response, "sequence_number": seq + 1}
            failed["extra_fields"] = self.finalize(response, self.index)
            self.index += 1
            await self._write(encode_event("response.failed", _encode(failed)))
        if self.on_failed is not None:
            await self.on_failed(exc)

    async def _write(self, chunk: bytes, more: bool = True) -> None:
        async with self.lock:
            if self.done:
                return  # (a keep-alive that waited for the lock while the body ended)
            self.done = not more
            await self.send({"type": "http.response.body", "body": chunk, "more_body": more})
            self.last_write = time.monotonic()

    def _ping(self) -> None:
        self.pinger = asyncio.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        while True:
            wait = self.last_write + self.keepalive - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            await self._write(KEEPALIVE)


def _always() -> bool:
    return True  # a stream's relay serves only its client: its leaving always stops it
