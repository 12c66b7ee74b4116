"""One request on its way through the pipeline: what its front door parsed, and what the hooks learn.

A door builds an ``Exchange`` from its wire format (the canonical request, the request's headers, the
caller's credential hash and the options the door read); the pipeline's hooks and its dispatch fill in
the rest: the targets, the conversation it continues, the target that served it, every attempt, and
what the gateway says about it in ``extra_fields``. Nothing here knows a wire format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ferryman.gateway.conversation import Conversation
from ferryman.gateway.dispatch import Attempts
from ferryman.gateway.router import Target
from ferryman.providers.base import Compat
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import FerrymanError
from ferryman.schemas.responses import ResponsesRequest
from ferryman.scrub import scrub_data
from ferryman.sse import SSEEvent
from ferryman.state.base import credential_digest, owner_tag

Headers = Sequence[tuple[bytes, bytes]]  # lower-case names, as ASGI gives them


RESPONSES = "responses"
EMBEDDINGS = "embeddings"


def to_ms(seconds: float) -> float:
    """A duration (not negative) in milliseconds, to the microsecond: ``round(seconds * 1000, 3)`` without
    ``round``'s decimal conversion (it printed and re-read the number: a quarter of a microsecond each, five
    times a request). The quotient is the float nearest the microseconds / 1000, so it prints as they do."""
    return int(seconds * 1_000_000 + 0.5) / 1000


@dataclass(slots=True, init=False)  # its ``__init__`` is its own: compiled, where dataclass's would be interpreted
class Exchange:
    # the canonical request: every hook may read its ``model`` and ``fallbacks``; the rest is its operation's
    request: ResponsesRequest | EmbeddingsRequest
    raw: dict[str, Any]  # the canonical request's body: as the client sent it, or as its door translated it
    headers: Headers
    credential: str | None  # the caller's own credential, as it sent it (never stored or logged)
    stream: bool
    route: str  # the front door it came in by (the log's and the metrics' ``route``)
    send_back_raw: bool
    timeout: float | None  # per-request upstream timeout
    t0: float  # time.perf_counter() when it was made
    targets: list[Target]
    conversation: Conversation | None
    attempts: Attempts
    target: Target | None  # who served it (or, for a cache hit, who served the cached answer)
    answer: dict[str, Any] | None  # set by a hook that answers by itself (a cache hit)
    resumed: list[dict[str, Any]] | None  # a broken stream finished by another target
    cache_debug: dict[str, Any] | None
    sent: Any  # what was sent upstream, for raw_request
    raw_response: Any  # what the provider answered, for raw_response
    # a passed-through call's reply in the door's own API (``providers/native.py``): decoded, or its bytes (Gemini's;
    # the Chat Completions door's, once it has sent them)
    native_reply: Any
    # a passed-through stream's events, when its canonical response is read later (``Tee.unread``)
    native_stream: Callable[[], list[SSEEvent]] | None
    # a whole reply's body as the client got it (the Responses door's: its response encoded), and that response: the
    # store keeps these bytes instead of encoding the same response again
    reply_json: tuple[dict[str, Any], bytes] | None
    # its canonical response, read once the reply has gone out (``UpstreamReply.later``; ``Pipeline.after_reply``)
    read_later: Callable[[], dict[str, Any]] | None
    failure: FerrymanError | None  # how the request failed, once it has (the hooks' ``failed`` ran)
    state: dict[str, Any]  # each hook's own per-request state, under its name
    compat: Compat  # drop what a provider cannot run; what was dropped
    reply_headers: list[tuple[bytes, bytes]]  # hooks' headers for the reply
    operation: str  # which door: RESPONSES or EMBEDDINGS (the hooks that run are that door's)
    mcp_tools: bool  # the request has ``mcp`` tools (the tool loop may run them: gateway/toolloop.py)
    mcp: dict[str, int] | None  # the tool loop ran: how many model calls (turns) and tool calls it took
    _digest: str | None

    def __init__(
        self,
        request: ResponsesRequest | EmbeddingsRequest,
        raw: dict[str, Any],
        headers: Headers,
        credential: str | None,
        stream: bool,
        route: str = RESPONSES,
        send_back_raw: bool = False,
        timeout: float | None = None,
        operation: str = RESPONSES,
    ) -> None:
        self.request = request
        self.raw = raw
        self.headers = headers
        self.credential = credential
        self.stream = stream
        self.route = route
        self.send_back_raw = send_back_raw
        self.timeout = timeout
        self.t0 = time.perf_counter()
        self.targets = []
        self.conversation = None
        self.attempts = Attempts()
        self.target = None
        self.answer = None
        self.resumed = None
        self.cache_debug = None
        self.sent = None
        self.raw_response = None
        self.native_reply = None
        self.native_stream = None
        self.reply_json = None
        self.read_later = None
        self.failure = None
        self.state = {}
        self.compat = Compat()
        self.reply_headers = []
        self.operation = operation
        self.mcp_tools = False
        self.mcp = None
        self._digest = None

    @property
    def owner(self) -> str | None:
        """Who may read what this request stores, and whose cache entries it may use: a hash of the caller's
        credential, computed once, by the first hook that asks."""
        digest = self.credential_digest()
        return owner_tag(digest) if digest is not None else None

    def credential_digest(self) -> str | None:
        """The SHA-256 of the caller's credential (``state.base.credential_digest``), made once: the owner tag and
        governance's key lookup both read it."""
        if self._digest is None and self.credential:
            self._digest = credential_digest(self.credential)
        return self._digest

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    @property
    def model_requested(self) -> str:
        return self.request.model

    @property
    def responses(self) -> ResponsesRequest:
        """The request of a Responses exchange (what the Responses-only parts of the pipeline read)."""
        return self.request  # type: ignore[return-value]  # only the Responses door's parts call it

    @property
    def kind(self) -> str:
        """What was asked for: the Responses operation's door (``route``), or another operation's name."""
        return self.route if self.operation == RESPONSES else self.operation

    @property
    def request_type(self) -> str:
        """``kind``, and for a Responses-operation stream ``_stream`` after it (``extra_fields.request_type``)."""
        kind = self.kind
        return f"{kind}_stream" if self.stream and self.operation == RESPONSES else kind

    def latency_ms(self) -> float:
        return to_ms(time.perf_counter() - self.t0)

    def overhead_seconds(self) -> float:
        """The time the gateway itself spent on the request: all of it but the waits for providers. A relayed
        stream goes at its provider's pace once open, so its overhead is counted up to that point."""
        end = time.perf_counter()
        waited = 0.0
        for attempt in self.attempts.log:
            waited += attempt.seconds
            if self.stream and attempt.status == 200:
                end = attempt.started + attempt.seconds
                break
        return max(0.0, end - self.t0 - waited)

    def overhead_ms(self) -> float:
        return to_ms(self.overhead_seconds())

    def extra_fields(self, *, with_raw: bool = True) -> dict[str, Any]:
        """What Ferryman says about the request: who served it, how fast, what was tried."""
        target = self.target
        extra: dict[str, Any] = {
            "request_type": self.request_type,
            "provider": target.provider if target else None,
            "model_requested": self.model_requested,
            "model_deployment": target.deployment if target else None,
            "latency": self.latency_ms(),
            "overhead_ms": self.overhead_ms(),
        }
        if len(self.attempts.log) > 1:
            extra["attempts"] = [{"target": a.label, "status": a.status} for a in self.attempts.log]
        if self.resumed:
            extra["resumed"] = self.resumed
        if self.compat.dropped:
            extra["dropped"] = self.compat.dropped
        if self.mcp is not None:
            extra["mcp"] = self.mcp
        if self.cache_debug is not None:
            extra["cache_debug"] = self.cache_debug
        if self.send_back_raw and with_raw:  # opt-in, so scrubbed: an upstream may echo the key it was sent
            extra["raw_request"] = scrub_data(self.sent)
            raw_response = self.raw_response
            if isinstance(raw_response, bytes | bytearray):
                raw_response = msgspec.json.decode(raw_response)
            extra["raw_response"] = scrub_data(raw_response)
        return extra
