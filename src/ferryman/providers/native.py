"""The fast path of a door whose API is its target's own: the client's body sent as it came, the answer relayed.

When a door's format is the provider's own (Chat Completions to a Chat Completions server, OpenAI or
Azure), translating to the canonical request and back would only cost time and lose what the canonical
request cannot say (a server's own fields). So the door puts the client's own request on the exchange as
a ``Native``; the dispatcher hands it to every call, and an adapter that ``passes`` it (speaks that API
for that deployment) sends the client's bytes with only ``model`` changed (``Native.body_for``), and gives
back the provider's own answer beside the canonical one the hooks read: a reply's decoded body in
``UpstreamReply.native``, or its stream as it comes, with a ``Tee`` on the ``EventStream`` that reads each
event into the canonical response (the adapter's own translator over a ``ResponseBuilder``) beside the
relay. An adapter that does not speak the door's API translates the canonical request as before, so a
fallback from one kind of target to the other works either way; what the canonical request has no form
for (``untranslated``) is refused only then, when a translating target is about to be called.

``body_for`` keeps the client's bytes: when ``model`` is already the deployment's they go as they are;
otherwise the one ``"model": "..."`` member is replaced in place (checked by decoding the result when the
body holds the key more than once), and only a body the gateway must also take fields out of
(``fallbacks``) is encoded again from its decoded form, which keeps every value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from ferryman.client import UpstreamResponse
from ferryman.providers.base import Call, EventStream, UpstreamReply, stream_failure
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import SHAPE_ERRORS, misread
from ferryman.providers.translating import TranslatingProvider
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.events import event_type
from ferryman.sse import SSEEvent, flatten, iter_sse_batches

CHAT = "chat_completions"  # the doors' APIs, as the adapters that speak them name them
MESSAGES = "anthropic_messages"
GENERATE = "gemini_generate_content"

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_MODEL_KEY = b'"model"'


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class Native:
    """The client's own request, for a target that speaks its door's API."""

    api: str  # CHAT, MESSAGES
    body: bytes  # as the client sent it
    decoded: dict[str, Any]
    untranslated: list[str]  # fields the canonical request has no form for
    # the door's own refusals of what it could not translate (a block type it does not know), kept until a
    # target that does not speak the API is about to be called: the canonical request was built without it
    deferred: list[InvalidRequestError]
    drop: tuple[str, ...]  # Ferryman's own fields, never sent upstream (``fallbacks``)
    headers: dict[str, str]  # the client's headers the API's passthrough forwards
    query: str  # the client's query string, for an API that keeps it (``?beta=true``)

    def __init__(
        self,
        api: str,
        body: bytes,
        decoded: dict[str, Any],
        untranslated: list[str] | None = None,
        deferred: list[InvalidRequestError] | None = None,
        drop: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> None:
        self.api = api
        self.body = body
        self.decoded = decoded
        self.untranslated = [] if untranslated is None else untranslated
        self.deferred = [] if deferred is None else deferred
        self.drop = drop
        self.headers = {} if headers is None else headers
        self.query = query

    def body_for(self, model: str, prefix: bytes = b"") -> bytes:
        """The client's body for ``model``: its own bytes with the model changed (see the module's docstring),
        after ``prefix``: members the gateway must add (``"name":value,``), put first in the object."""
        decoded = self.decoded
        if any(name in decoded for name in self.drop):
            out = {k: v for k, v in decoded.items() if k not in self.drop}
            out["model"] = model
            return _with_prefix(_encode(out), prefix)
        body = self.body
        old = decoded.get("model")
        if old != model:
            body = _spliced(body, decoded, old, model) or _encode({**decoded, "model": model})
        return _with_prefix(body, prefix)

    def sent(self, model: str) -> dict[str, Any]:
        """What was sent, decoded (``raw_request``), without decoding it again."""
        return {**{k: v for k, v in self.decoded.items() if k not in self.drop}, "model": model}

    def refuse_untranslated(self, provider: str) -> None:
        """A 400 naming the first field the canonical request could not carry to ``provider``."""
        if self.deferred:
            raise self.deferred[0]
        if not self.untranslated:
            return
        name = self.untranslated[0]
        why = "only one choice (n: 1)" if name == "n" else f"'{name}'"
        raise InvalidRequestError(
            f"Unsupported parameter: {why} is not supported by provider {provider!r}"
            " (it does not speak this API; only a provider that does gets the body as it was sent).",
            param=name,
            code="unsupported_parameter",
        )


def refuse(exc: InvalidRequestError, deferred: list[InvalidRequestError] | None) -> None:
    """A door's refusal of what it cannot translate: raised at once, or kept in ``deferred`` (the part is left
    out of the canonical request) when the request may yet go to a target that takes it as it was sent."""
    if deferred is None:
        raise exc
    deferred.append(exc)


def _spliced(body: bytes, decoded: dict[str, Any], old: Any, model: str) -> bytes | None:
    """``body`` with its top-level ``"model": old`` member's value replaced, or None when it cannot be found."""
    if not isinstance(old, str):
        return None
    value = _encode(old)
    new = _encode(model)
    single = body.count(_MODEL_KEY) == 1  # the key once: it is the top-level one, which is there
    start = 0
    while (key := body.find(_MODEL_KEY, start)) >= 0:
        start = key + len(_MODEL_KEY)
        at = body.find(value, start)
        if at < 0:
            return None
        if body[start:at].strip() != b":":  # not this key's value
            continue
        out = body[:at] + new + body[at + len(value) :]
        if single or _decode(out) == {**decoded, "model": model}:  # a nested "model" key matched first: try the next
            return out
    return None


def _with_prefix(body: bytes, prefix: bytes) -> bytes:
    if not prefix:
        return body
    start = body.index(b"{") + 1
    rest = body[start:]
    return body[:start] + (prefix[:-1] if rest.lstrip()[:1] == b"}" else prefix) + rest


class Skim(Protocol):
    """An adapter's cheap look at its own stream's events, which lets the ``Tee`` leave the ordinary ones unread
    until the stream's end (``Tee``'s docstring)."""

    def keeps(self, ev: SSEEvent) -> bool:
        """Whether ``ev`` is an ordinary event its reader can read later (a well-formed chunk, no error in it)."""
        ...

    def ends(self, ev: SSEEvent) -> bool:
        """Whether ``ev`` is the stream's last marker (Chat Completions' ``[DONE]``)."""
        ...

    def fold(self, kept: list[SSEEvent]) -> list[SSEEvent]:
        """The kept events as the reader is to read them at the end: the same answer, in as few as can say it."""
        ...

    def head(self, kept: list[SSEEvent], model: str) -> dict[str, Any] | None:
        """The final response's head from the events ``kept`` unread: ``model`` (the answering one, as the
        reader has it so far), its canonical ``usage`` and ``status``; None when they do not say it plainly (no
        usage, a finish the reader would fail on): the events are then read."""
        ...


class Tee:
    """A provider's own stream read into the canonical response, event by event, beside the relay: the
    adapter's stream translator feeding a ``ResponseBuilder`` whose events are only named, never encoded.
    The adapter reads the first event ahead (``ahead``), before the stream is handed on, so an error sent
    in place of an answer is still a status the dispatcher can fall back from.

    With a ``skim`` (Chat Completions), only what cannot wait is read as it goes: the events up to the first
    token (the ``on_event`` hooks' time to first token), an error, anything odd; an ordinary event after
    that is kept unread (``skim.keeps``: a well-formed object, a few bytes looked at) and read when an event
    that cannot wait comes, in order. At the last marker the final response is only its head
    (``skim.head``: the model, the usage chunk's usage, the status), which the hooks that read no more than
    that price before the client has the end; ``later`` then reads the kept events into the whole canonical
    response, for the other hooks once the client has it (``Pipeline.stream``)."""

    __slots__ = ("_ahead", "_end", "_feed", "_kept", "builder", "events", "final", "later", "provider", "skim")

    def __init__(
        self,
        provider: str,
        builder: ResponseBuilder,
        feed: Callable[[SSEEvent], None],
        end: Callable[[], None] | None = None,
        skim: Skim | None = None,
    ) -> None:
        self.provider = provider
        self.builder = builder
        builder.quiet = True
        self._feed = feed  # the translator's
        self._end = end or _unended  # tells the translator the body ended (by default: it is incomplete)
        self._ahead: list[str] | None = None
        self.skim = skim
        self._kept: list[SSEEvent] | None = None  # events left unread, once the first token is read (a skim)
        self.final: dict[str, Any] | None = None  # the canonical response (or its head), once the stream is done
        self.later: Callable[[], dict[str, Any]] | None = None  # the whole response, when ``final`` is its head
        # with a skim, every event as it came: what a reader that wants the answer later still has (``unread``)
        self.events: list[SSEEvent] | None = [] if skim is not None else None

    def ahead(self, ev: SSEEvent) -> None:
        """Read the stream's first event before the relay does (the relay's ``feed`` of it reads nothing)."""
        if self.events is not None:
            self.events.append(ev)
        self._ahead = self._read(ev)

    def feed(self, ev: SSEEvent) -> list[str]:
        """Read one event (or keep it for later); the canonical events' types it made (what the ``on_event``
        hooks watch). A provider's error event raises its ProviderError, a malformed one ``upstream_bad_response``."""
        ahead = self._ahead
        if ahead is not None:
            self._ahead = None
            return ahead
        events = self.events
        if events is not None:
            events.append(ev)
        kept = self._kept
        if kept is None:
            return self._read(ev)
        skim = self.skim
        assert skim is not None
        if skim.keeps(ev):
            kept.append(ev)
            return []
        if skim.ends(ev):
            head = skim.head(kept, self.builder.model)
            if head is not None:
                self.final = head
                self.later = lambda: self._whole(kept, ev)
                return [f"response.{head['status']}"]
        return self._catch_up(ev)

    def end(self) -> list[str]:
        """The provider's body ended: a stream complete without its last marker still finishes."""
        return self._catch_up(None) if self._kept is not None else self._read(None)

    def _catch_up(self, ev: SSEEvent | None) -> list[str]:
        """The kept events read, then ``ev``; the next ordinary events are kept again."""
        kept = self._kept
        assert kept is not None
        types: list[str] = []
        for k in kept:
            types += self._read(k)
        kept.clear()
        return types + self._read(ev)

    def _whole(self, kept: list[SSEEvent], last: SSEEvent) -> dict[str, Any]:
        """The whole canonical response, after a head: the kept events and the last marker read."""
        self.final = None
        skim = self.skim
        assert skim is not None
        return self.read_all([*skim.fold(kept), last])

    def read_all(self, events: Iterable[SSEEvent]) -> dict[str, Any]:
        """``events`` read in order, to the final response (finished by the builder if the reader did not
        finish at the last of them)."""
        for ev in events:
            self._read(ev)
        response = self.final
        if response is None:
            self.builder.finish("stop")
            response = self.builder.response()
        return response

    def unread(self) -> list[SSEEvent]:
        """The whole stream as its reader is to read it (``skim.fold``: each run of text chunks as one), for one
        that keeps the answer unread (the request log: ``plugins/logs/native.py``)."""
        assert self.skim is not None and self.events is not None
        return self.skim.fold(self.events)

    def _read(self, ev: SSEEvent | None) -> list[str]:
        try:  # (not ``reading``: no context manager nor name made per event)
            if ev is None:
                self._end()
            else:
                self._feed(ev)
        except SHAPE_ERRORS:
            name = "the end of the stream" if ev is None else f"the stream event {(ev.event or 'message')[:64]!r}"
            raise misread(self.provider, name) from None
        builder = self.builder
        types = [event_type(e) for e in builder.events()]
        if self.final is None and builder.status != "in_progress":
            self.final = builder.response()
            types.append(f"response.{builder.status}")  # a quiet builder's terminal event, by its name
        elif self._kept is None and self.skim is not None and has_token(types):
            self._kept = []  # the first token is read: the ordinary events can wait
        return types


def has_token(types: list[str]) -> bool:
    """Whether an event's canonical types carry part of the answer (a text, reasoning or arguments delta)."""
    return any(t.endswith(".delta") for t in types)


def canonical(provider: str, call: Call, parse: Callable[[Any, ResponseBuilder], None], reply: Any) -> dict[str, Any]:
    """A provider's whole reply read into the canonical response the hooks get (by the adapter's own reader,
    ``parse``, over a silent builder: only its final response is read, no event is made)."""
    builder = ResponseBuilder(call.request, call.raw, call.deployment, silent=True)
    try:  # ``reading``, without a context manager's cost
        parse(reply, builder)
    except SHAPE_ERRORS:
        raise misread(provider, "the reply") from None
    if builder.status == "in_progress":
        builder.finish("stop")
    return builder.response()


async def whole(
    provider: TranslatingProvider,
    call: Call,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    sent: dict[str, Any],
    as_bytes: bool = False,
) -> UpstreamReply:
    """A passed-through call's whole reply: the provider's own (decoded, or its bytes ``as_bytes``) beside the
    canonical response its adapter reads from it."""
    resp = await provider.post(url, body, headers, call, stream=False)
    reply, payload = await provider.read_json(resp)
    response = canonical(provider.name, call, provider.parse_reply, reply)
    return UpstreamReply(body=response, sent=sent, raw=payload, native=payload if as_bytes else reply)


async def streamed(
    provider: TranslatingProvider, call: Call, url: str, body: bytes, headers: dict[str, str], *, sent: dict[str, Any]
) -> EventStream:
    """A passed-through call's stream, teed into its adapter's translator (a stream that ends before the
    translator's last marker is incomplete)."""
    headers["accept"] = "text/event-stream"
    resp = await provider.post(url, body, headers, call, stream=True)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    feed = provider.translator(builder).feed
    return await teed(provider.name, resp, builder, feed, None, sent=sent, max_bytes=provider.config.max_upstream_bytes)


async def teed(
    provider: str,
    resp: UpstreamResponse,
    builder: ResponseBuilder,
    feed: Callable[[SSEEvent], None],
    end: Callable[[], None] | None,
    *,
    sent: dict[str, Any],
    max_bytes: int | None,
    skim: Skim | None = None,
) -> EventStream:
    """A provider's own stream as it comes, with a ``Tee`` of the adapter's translator (``feed``, and ``end`` for
    the end of its body) over ``builder``; its first event is read before the stream is handed on, so an error
    sent in place of an answer is still a status the dispatcher can retry or fall back from."""
    tee = Tee(provider, builder, feed, end, skim)
    batches = iter_sse_batches(resp.content.iter_any(), max_bytes)
    try:
        first = await anext(batches, None)
        if first is not None:
            tee.ahead(first[0])
    except Exception as exc:  # noqa: BLE001 - every failure reaches the dispatcher as a FerrymanError
        resp.close()
        raise stream_failure(provider, exc) from None
    chained = _Chain(first, batches)
    return EventStream(events=flatten(chained), sent=sent, closers=[resp.close], batches=chained, tee=tee)


def _unended() -> None:
    return None  # a stream that ends before its last marker is incomplete: the relay says so


class _Chain:
    """``first`` (if any), then each batch of ``rest``: an iterator object, as mypyc compiles no async generator."""

    __slots__ = ("first", "rest")

    def __init__(self, first: list[SSEEvent] | None, rest: AsyncIterator[list[SSEEvent]]) -> None:
        self.first = first
        self.rest = rest

    def __aiter__(self) -> _Chain:
        return self

    async def __anext__(self) -> list[SSEEvent]:
        first = self.first
        if first is not None:
            self.first = None
            return first
        return await anext(self.rest)
