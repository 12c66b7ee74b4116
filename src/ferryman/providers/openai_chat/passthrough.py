"""The Chat Completions door's body to a Chat Completions server as the client wrote it (the fast path).

Nothing is translated on the way out: the body goes with only ``model`` changed (``Native.body_for``),
plus ``stream_options.include_usage`` on a stream whose client did not ask for it, so the gateway still
learns the usage it prices and charges (the door leaves that usage chunk out of what the client gets).
The reply comes back as the server sent it (``UpstreamReply.native``) beside the canonical response the
hooks read, made by this adapter's own reader (``ChatReader``); a stream comes back as the server's own
events, with a ``Tee`` the relay feeds each of them to. The first event is read before the stream is
handed on, as the translated stream does, so an error chunk in place of an answer is still a status the
dispatcher can retry or fall back from. A server that ignored ``stream: true`` and answered with JSON is
replayed from the canonical response, as on the translated path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferryman.providers.base import Call, EventStream, SSEEvent, UpstreamReply
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.native import Native, canonical, teed

from .quirks import Quirks
from .response import EOF, canonical_usage
from .skim import ChatSkim

if TYPE_CHECKING:
    from . import ChatCompletionsProvider

USAGE = b'"stream_options":{"include_usage":true},'


def asks_usage(native: Native) -> bool:
    options = native.decoded.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _body(native: Native, deployment: str, *, stream: bool) -> bytes:
    usage = stream and "stream_options" not in native.decoded  # (a client's own stream_options are its choice)
    return native.body_for(deployment, USAGE if usage else b"")


async def create(provider: ChatCompletionsProvider, call: Call) -> UpstreamReply:
    native = call.native
    assert native is not None
    headers = provider.headers(call)
    resp = await provider.post(
        provider.url(call, stream=False), _body(native, call.deployment, stream=False), headers, call, stream=False
    )
    reply, payload = await provider.read_json(resp)
    sent = native.sent(call.deployment)
    head = _head(reply, call.deployment, provider.quirks)
    if head is None:  # not plainly an answer (an error in a 200, a malformed reply): read now, to fail before replying
        body = canonical(provider.name, call, provider.parse_reply, reply)
        return UpstreamReply(body=body, sent=sent, raw=payload, native=reply)
    return UpstreamReply(
        body=head,
        sent=sent,
        raw=payload,
        native=reply,
        later=lambda: canonical(provider.name, call, provider.parse_reply, reply),
    )


def _head(reply: Any, deployment: str, quirks: Quirks) -> dict[str, Any] | None:
    """What prices a reply before the rest is read: the answering model and its usage, as the canonical
    response will have them; None unless the reply is plainly a ``chat.completion`` with its usage (the
    checks ``ChatReader.reply`` makes before it reads the message)."""
    if not isinstance(reply, dict) or reply.get("error"):
        return None
    choices = reply.get("choices")
    usage = reply.get("usage")
    if not (isinstance(choices, list) and choices and isinstance(usage, dict) and usage):
        return None
    choice = choices[0]
    if not isinstance(choice, dict) or choice.get("error") or not isinstance(choice.get("message"), dict):
        return None
    model = reply.get("model")
    return {"model": model if isinstance(model, str) and model else deployment, "usage": canonical_usage(usage, quirks)}


async def stream(provider: ChatCompletionsProvider, call: Call) -> EventStream:
    native = call.native
    assert native is not None
    headers = provider.headers(call)
    headers["accept"] = "text/event-stream"
    body = _body(native, call.deployment, stream=True)
    resp = await provider.post(provider.url(call, stream=True), body, headers, call, stream=True)
    sent = native.sent(call.deployment)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    if resp.headers.get("content-type", "").startswith("application/json"):
        return await provider.replayed(resp, builder, sent)
    translator = provider.translator(builder)

    def end() -> None:
        translator.feed(SSEEvent(EOF, b""))

    max_bytes = provider.config.max_upstream_bytes
    skim = ChatSkim(provider.quirks)
    return await teed(provider.name, resp, builder, translator.feed, end, sent=sent, max_bytes=max_bytes, skim=skim)
