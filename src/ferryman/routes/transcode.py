"""A door's stream in its own API: the canonical (Responses) events turned into its frames on the way out.

The relay (``gateway/streaming.py``) and the replay of a cached answer write the canonical event stream
to a ``send``; a door that speaks another API puts a ``TranscodingSend`` in front of the real one. It
reads back the events the relay writes (always whole frames: the relay writes event by event), hands
each decoded event to the door's ``Transcoder``, and sends what that makes of it. The relay's keep-alive
comments become the transcoder's own (an Anthropic ``ping``, or a comment again), and the end of the
stream gets the transcoder's last words (``data: [DONE]``, the close of a JSON array). The response's
headers are the relay's with the transcoder's content type.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from ferryman.http import Send
from ferryman.sse import KEEPALIVE, SSEDecoder

_decode = msgspec.json.decode


class Transcoder(Protocol):
    """One stream's translation, made per request by its door (it may keep state between events)."""

    content_type: bytes

    def event(self, event: dict[str, Any]) -> bytes:
        """The frames one canonical event becomes (``b""``: none)."""
        ...

    def keepalive(self) -> bytes:
        """What keeps a silent stream open in this API (``b""``: nothing)."""
        ...

    def end(self) -> bytes:
        """The last bytes of the stream, after its last event."""
        ...


class TranscodingSend:
    __slots__ = ("decoder", "send", "transcoder")

    def __init__(self, send: Send, transcoder: Transcoder) -> None:
        self.send = send
        self.transcoder = transcoder
        self.decoder = SSEDecoder()

    async def __call__(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k != b"content-type"]
            headers.insert(0, (b"content-type", self.transcoder.content_type))
            await self.send({**message, "headers": headers})
            return
        if kind != "http.response.body":
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        transcoder = self.transcoder
        if body == KEEPALIVE:
            out = transcoder.keepalive()
        else:
            out = b"".join(transcoder.event(_decode(ev.data)) for ev in self.decoder.feed(body) if ev.data)
        if not more:
            out += transcoder.end()
        if out or not more:
            await self.send({"type": "http.response.body", "body": out, "more_body": more})
