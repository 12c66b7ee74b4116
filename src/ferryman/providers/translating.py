"""Base for adapters that translate: request out, reply and stream back through the ResponseBuilder.

A subclass says how to build the native request (``native_request``, ``url``, ``auth_headers``),
how to read a whole reply (``parse_reply``) and how to read a stream (``translator``: one object per
stream, which owns that stream's reading state and feeds the builder one native event at a time);
this class does the HTTP, the error mapping, and the pumping of builder events into the relay. A
stream that ends without a terminal event, or an error frame raised by ``feed`` as a ProviderError,
reaches the client as an ``error`` event and ``response.failed`` (the relay's job). The builder keeps
the whole response, so a translated stream is capped as a whole, like a reply, at ``max_upstream_bytes``
(the cap ``post`` sets on the response), and ends at the builder's terminal state: nothing after
it is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import msgspec

from ferryman.client import UpstreamResponse
from ferryman.providers.base import Call, EventStream, HttpProvider, SSEEvent, UpstreamReply, stream_failure
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import reading
from ferryman.sse import iter_sse


class Translator(Protocol):
    """One stream's reader: turns each native event into builder calls (``builder.finish`` on the last)."""

    def feed(self, event: SSEEvent) -> None: ...


class TranslatingProvider(HttpProvider):
    # ---- what a subclass provides ---------------------------------------------------------------

    def url(self, call: Call, *, stream: bool) -> str:
        raise NotImplementedError

    def native_request(self, call: Call, *, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def parse_reply(self, body: Any, builder: ResponseBuilder) -> None:
        """Feed a whole reply into the builder and call ``builder.finish``."""
        raise NotImplementedError

    def translator(self, builder: ResponseBuilder) -> Translator:
        """A new reader for one stream, feeding ``builder``."""
        raise NotImplementedError

    def stream_events(self, resp: UpstreamResponse) -> AsyncIterator[SSEEvent]:
        """The provider's stream as events (SSE by default; Bedrock overrides with eventstream)."""
        return iter_sse(resp.content.iter_any())

    # ---- shared machinery -----------------------------------------------------------------------

    def encode(self, native: dict[str, Any]) -> bytes:
        return msgspec.json.encode(native)

    def sign(self, url: str, body: bytes, headers: dict[str, str], call: Call) -> dict[str, str]:
        """Last look at the headers before sending (request signing overrides this)."""
        return headers

    async def _send(self, call: Call, *, stream: bool) -> tuple[UpstreamResponse, dict[str, Any]]:
        native = self.native_request(call, stream=stream)
        headers = self.headers(call)
        url = self.url(call, stream=stream)
        body = self.encode(native)
        headers = self.sign(url, body, headers, call)
        resp = await self.post(url, body, headers, call, stream=stream)
        return resp, native

    async def create(self, call: Call) -> UpstreamReply:
        resp, native = await self._send(call, stream=False)
        body, payload = await self.read_json(resp)
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id, silent=True)
        with reading(self.name, "the reply"):
            self.parse_reply(body, builder)
        if builder.status == "in_progress":
            builder.finish("stop")
        return UpstreamReply(body=builder.response(), sent=native, raw=payload)

    async def first_event(
        self, resp: UpstreamResponse, check: Callable[[SSEEvent], None] | None = None
    ) -> tuple[AsyncIterator[SSEEvent], SSEEvent | None]:
        """The stream's events, and the first of them read (and handed to ``check``, which raises for an error
        sent as the first event) before the client gets a byte: a failure here can still fall back. On any
        failure the response is closed and the error is the FerrymanError the dispatcher expects."""
        events = aiter(self.stream_events(resp))
        try:
            first = await anext(events, None)
            if first is not None and check is not None:
                with reading(self.name, "the first stream event"):
                    check(first)
        except Exception as exc:  # noqa: BLE001 - every failure reaches the dispatcher as a FerrymanError
            resp.close()
            raise stream_failure(self.name, exc) from None
        return events, first

    async def stream(self, call: Call) -> EventStream:
        resp, native = await self._send(call, stream=True)
        events, first = await self.first_event(resp)  # silence before it is a timeout the dispatcher sees
        builder = ResponseBuilder(call.request, call.raw, call.deployment, call.previous_response_id)
        pump = self.relay(events, builder, self.translator(builder), first, start_first=True)
        return EventStream(events=pump, sent=native, closers=[resp.close], built=True)

    async def relay(
        self,
        rest: AsyncIterator[SSEEvent],
        builder: ResponseBuilder,
        translator: Translator,
        first: SSEEvent | None = None,
        *,
        start_first: bool = False,
    ) -> AsyncIterator[SSEEvent]:
        """The one stream pump: ``first`` (an event already read, not yet fed) goes in before
        ``response.created``, so the snapshot can name the model that answers, or right after it with
        ``start_first``; then every event until the response is done."""
        if first is not None and not start_first:
            self._feed(translator, first)
        builder.start()
        for ev in builder.sse():
            yield ev
        if first is not None and start_first:
            self._feed(translator, first)
            for ev in builder.sse():
                yield ev
        while builder.status == "in_progress":
            event = await anext(rest, None)
            if event is None:
                return
            self._feed(translator, event)
            for ev in builder.sse():
                yield ev

    def _feed(self, translator: Translator, event: SSEEvent) -> None:
        with reading(self.name, f"the stream event {(event.event or 'message')[:64]!r}"):
            translator.feed(event)
