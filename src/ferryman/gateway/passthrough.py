"""Relay a provider's own stream in the client's API (a door's fast path), read into the canonical response beside.

When a door's request was passed through (``providers/native.py``), the stream's events are the provider's,
in the door's own API: each goes out as it came (``Frames.frame``), and each is fed to the stream's ``Tee``,
whose canonical events' types the ``on_event`` hooks see and whose final response the ``after`` hooks get
when the stream ends, as on a translated stream. What Ferryman adds, the door splices in where its API has
room for it (``Frames.last``: on the Chat Completions usage chunk, ``usage.cost`` and ``extra_fields``).
A provider's own error event is relayed as it came (scrubbed) and recorded as the request's failure; a
failure of the gateway's seeing after the first byte (a timeout, a broken or malformed stream) is the
door's own in-stream error (``Frames.failure``). There is no resume here: the next target may not speak
the door's API, and a stream cannot change its API halfway.

Everything else (keep-alive comments, a client that leaves, the one write per upstream batch, the end of
the upstream connection at the terminal event) is the canonical relay's, which this one extends.
"""

from __future__ import annotations

from typing import Any, Protocol

from ferryman.gateway.streaming import StreamRelay
from ferryman.providers.base import SSEEvent
from ferryman.providers.native import Tee, has_token
from ferryman.schemas.errors import FerrymanError, ProviderError
from ferryman.scrub import scrub_bytes
from ferryman.sse import encode_event


class Frames(Protocol):
    """How a door's own stream goes out, made per request by the door (it may hold an event back)."""

    def frame(self, ev: SSEEvent) -> bytes:
        """One event as the client gets it (``b""``: held back, or not the client's)."""
        ...

    def last(self, ev: SSEEvent | None, response: dict[str, Any]) -> bytes:
        """The event that ended the stream (None: the upstream's body ended) with what was held back and
        Ferryman's additions, from the final canonical response (its ``usage.cost``, ``extra_fields``)."""
        ...

    def failure(self, exc: FerrymanError) -> bytes:
        """A failure after the first byte, as the API's in-stream error."""
        ...


class PassthroughRelay(StreamRelay):
    def __init__(self, *args: Any, frames: Frames, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames = frames

    @property
    def tee(self) -> Tee:
        tee = self.stream.tee
        assert tee is not None  # the door chose this relay for it
        return tee

    async def _relay(self) -> None:
        """Each batch of the upstream's events in one write, as the canonical relay does; an ordinary event costs
        no more than the tee's look at it and its frame (no coroutine): only the last or an error one awaits.
        The first token goes out the moment it is framed, with the events before it, not after the rest of
        its batch (often the whole answer, from an upstream that wrote it at once): the time to the first
        token is the client's, the rest of that batch goes with the stream's end."""
        batches = self.stream.batches
        assert batches is not None  # (a teed stream's)
        tee, frame, on_event = self.tee, self.frames.frame, self.on_event
        first = True  # no token written yet
        async for batch in batches:
            out: list[bytes] = []
            for ev in batch:
                try:
                    types = tee.feed(ev)
                except ProviderError as exc:  # the provider's own error event: the client gets it as it came
                    self.finished = self.ended = True
                    if self.on_failed is not None:
                        await self.on_failed(exc)
                    out.append(encode_event(ev.event, scrub_bytes(ev.data)))
                    break
                except Exception:
                    if out:  # the events before the broken one are the client's
                        await self._write(b"".join(out))
                    raise
                if on_event is not None:
                    for etype in types:
                        on_event(etype)
                self.index += 1
                if tee.final is not None:
                    if out and first:  # no token went out yet (an answer without one): its events before the hooks
                        await self._write(b"".join(out))
                        out = []
                    out.append(await self._finish(ev))
                    break
                chunk = frame(ev)
                if chunk:
                    out.append(chunk)
                    if first and has_token(types):
                        first = False
                        await self._write(b"".join(out))
                        out = []
            if out:  # the last marker's write ends the body too
                await self._write(b"".join(out), more=not self.ended)
            if self.ended:
                return  # not one more read: an upstream lingering after its end is closed by run()
        await self._body_ended()

    async def _upstream_ended(self) -> bytes:
        self.tee.end()
        return b"" if self.tee.final is None else await self._finish(None)

    async def _finish(self, ev: SSEEvent | None) -> bytes:
        response = self.tee.final
        assert response is not None
        self.finalize(response, self.index)  # the response's extra_fields
        if self.on_final is not None:
            self.kept = await self.on_final(response)
        self.finished = self.ended = True
        return self.frames.last(ev, response)

    async def _fail(self, exc: FerrymanError) -> None:
        await self._write(self.frames.failure(exc))
        if self.on_failed is not None:
            await self.on_failed(exc)
