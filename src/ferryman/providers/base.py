"""The Provider protocol: what the dispatcher needs from an adapter, and the shared HTTP plumbing.

An adapter is built once per configured provider in the app's lifespan and owns one connection
pool (``ferryman.client``: keep-alive, bounded connections). Per request it gets a ``Call`` (the validated
request, the raw body, the deployment name and the key picked for it) and returns either a finished
Responses object or an open ``EventStream`` whose HTTP status was already checked, so a failure
before the first byte can still fall back to the next target.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import yarl
from mypy_extensions import mypyc_attr

from ferryman.client import (
    BodyTooLarge,
    ClientError,
    ConnectionPool,
    ServerTimeoutError,
    UpstreamResponse,
    tls_context,
)
from ferryman.providers.spec import ApiKey, ProviderConfig
from ferryman.schemas.errors import (
    AuthenticationError,
    FerrymanError,
    ProviderError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
    provider_error_from_body,
)
from ferryman.schemas.events import MalformedEvent
from ferryman.schemas.responses import ResponsesRequest
from ferryman.sse import EventTooLarge, SSEEvent

if TYPE_CHECKING:
    from ferryman.providers.native import Native, Tee

__all__ = ["Call", "Compat", "EventStream", "HttpProvider", "Provider", "SSEEvent", "UpstreamReply"]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: to connect, for the whole answer (non-stream), for each silence (streams)."""

    connect: float | None
    total: float | None
    read: float | None


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class Call:
    """One attempt at one target."""

    request: ResponsesRequest
    raw: dict[str, Any]  # the client's decoded body; adapters copy before changing it
    deployment: str  # the model name the provider is asked for
    key: ApiKey | None
    timeout: float | None  # per-request total timeout: shortens the provider's, never lengthens it
    # the id the client chained this turn to, echoed in the response as OpenAI echoes it; its history is
    # already in ``raw['input']`` when the gateway replayed it (``request.previous_response_id`` is then None)
    previous_response_id: str | None
    # compat.drop_unsupported: a tool the provider cannot run is left out (and named in ``dropped``, as
    # ``tools[8] (web_search)``) instead of refused with a 400
    drop_unsupported: bool
    dropped: list[str]
    headers: dict[str, str]  # extra headers for the provider (trace context)
    # the client's own request, when its door's API is one an adapter may speak (``providers/native.py``)
    native: Native | None

    def __init__(
        self,
        request: ResponsesRequest,
        raw: dict[str, Any],
        deployment: str,
        key: ApiKey | None,
        timeout: float | None = None,
        previous_response_id: str | None = None,
        drop_unsupported: bool = False,
        dropped: list[str] | None = None,
        headers: dict[str, str] | None = None,
        native: Native | None = None,
    ) -> None:
        self.request = request
        self.raw = raw
        self.deployment = deployment
        self.key = key
        self.timeout = timeout
        self.previous_response_id = previous_response_id
        self.drop_unsupported = drop_unsupported
        self.dropped = [] if dropped is None else dropped
        self.headers = {} if headers is None else headers
        self.native = native

    @property
    def dropping(self) -> list[str] | None:
        """The list an adapter adds what it left out to; None when it must refuse instead."""
        return self.dropped if self.drop_unsupported else None


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class Compat:
    """What every call of one request honours: ``compat.drop_unsupported`` (from the config, its model
    alias or its header) and extra upstream headers a hook adds (trace context); and what the provider
    that answered it left out (``Call.dropped`` of the call that succeeded)."""

    drop_unsupported: bool
    dropped: list[str]
    headers: dict[str, str]
    native: Native | None  # the client's own request, for every call (``Call.native``)

    def __init__(
        self,
        drop_unsupported: bool = False,
        dropped: list[str] | None = None,
        headers: dict[str, str] | None = None,
        native: Native | None = None,
    ) -> None:
        self.drop_unsupported = drop_unsupported
        self.dropped = [] if dropped is None else dropped
        self.headers = {} if headers is None else headers
        self.native = native


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class UpstreamReply:
    """A finished (non-streaming) reply, already in the Responses shape."""

    body: dict[str, Any]
    sent: dict[str, Any]  # what was sent upstream (for raw_request; never holds credentials)
    raw: Any  # what the provider answered (for raw_response): bytes, decoded only when asked
    native: Any  # the provider's own reply, decoded, when the call passed the client's body through
    # a passed-through reply's canonical response, read on demand: ``body`` is then only its head (``model`` and
    # ``usage``: what prices it), so the reply goes out before the rest is read for the hooks
    later: Callable[[], dict[str, Any]] | None

    def __init__(
        self,
        body: dict[str, Any],
        sent: dict[str, Any],
        raw: Any = None,
        native: Any = None,
        later: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.body = body
        self.sent = sent
        self.raw = raw
        self.native = native
        self.later = later


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class EventStream:
    """An open upstream stream whose status was 2xx; iterate ``events`` once, then ``close``."""

    events: AsyncIterator[SSEEvent]
    sent: dict[str, Any]
    closers: list[Callable[[], None]]  # run by close(), in order
    # the same events grouped as they arrived, when the adapter can tell (one write per group)
    batches: AsyncIterator[list[SSEEvent]] | None
    # made by Ferryman's own ResponseBuilder (a translated stream): well-formed by construction and named
    # by their ``event:`` line, so the relay neither reads nor checks their data
    built: bool
    # the events are the provider's own, in the client's API (a passthrough of ``Call.native``): relayed as
    # they come, and read into the canonical response by the tee
    tee: Tee | None

    def __init__(
        self,
        events: AsyncIterator[SSEEvent],
        sent: dict[str, Any],
        closers: list[Callable[[], None]] | None = None,
        batches: AsyncIterator[list[SSEEvent]] | None = None,
        built: bool = False,
        tee: Tee | None = None,
    ) -> None:
        self.events = events
        self.sent = sent
        self.closers = [] if closers is None else closers
        self.batches = batches
        self.built = built
        self.tee = tee

    def on_close(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the stream is closed (after what the adapter registered)."""
        self.closers.append(fn)

    async def close(self) -> None:
        for closer in self.closers:
            closer()


class Provider(Protocol):
    config: ProviderConfig

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def create(self, call: Call) -> UpstreamReply: ...

    async def stream(self, call: Call) -> EventStream: ...

    def passes(self, native: Native, deployment: str) -> bool:
        """Whether this adapter sends ``native`` (a door's own request) as it is to ``deployment``."""
        ...


@mypyc_attr(allow_interpreted_subclasses=True)  # every adapter is an interpreted subclass
class HttpProvider:
    """Base for adapters that talk HTTP: the connection pool and the error mapping live here."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self._pool: ConnectionPool | None = None
        self._pool_owner: HttpProvider | None = None  # whose pool this adapter sends through, if not its own
        self._timeout = self._make_timeout(config.timeout, stream=False)
        self._stream_timeout = self._make_timeout(config.timeout, stream=True)

    def passes(self, native: Native, deployment: str) -> bool:
        return False

    def share_pool(self, owner: HttpProvider) -> None:
        """Send through ``owner``'s connection pool (another API of the same resource), which ``owner``
        starts and stops; this adapter's own start and stop then leave it alone."""
        self._pool_owner = owner

    async def start(self) -> None:
        if self._pool_owner is not None:
            return
        c = self.config
        try:
            context = tls_context(
                ca_bundle=c.ca_bundle, client_cert=c.client_cert, client_key=c.client_key, verify=c.verify_tls
            )
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"providers.{self.name}: cannot load its TLS files: {exc}") from None
        proxy = c.proxy.reveal() if c.proxy is not None else None
        self._pool = ConnectionPool(c.max_connections, ssl_context=context, proxy=proxy)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def auth_headers(self, secret: str) -> dict[str, str]:
        """How the provider takes its key (adapters whose providers differ override this)."""
        return {"authorization": f"Bearer {secret}"}

    def headers(self, call: Call) -> dict[str, str]:
        """JSON content type, the provider's configured headers and the call's key, or why there is no key."""
        headers = {"content-type": "application/json", **self.config.headers}
        if call.headers:
            headers.update(call.headers)
        secret = call.key.secret.reveal() if call.key is not None else None
        if secret:
            headers.update(self.auth_headers(secret))
        elif self.config.needs_key:
            hint = f"set {self.config.key_env}" if self.config.key_env else "add a key to its config entry"
            raise AuthenticationError(
                f"provider {self.name!r} has no API key for model {call.deployment!r}: {hint}",
                code="missing_api_key",
            )
        return headers

    @property
    def pool(self) -> ConnectionPool:
        if self._pool_owner is not None:
            return self._pool_owner.pool
        if self._pool is None:
            raise RuntimeError(f"provider {self.name} used before start()")
        return self._pool

    def timeout(self, call: Call, *, stream: bool) -> Timeouts:
        if call.timeout is None or call.timeout >= self.config.timeout:  # a request may only shorten it
            return self._stream_timeout if stream else self._timeout
        return self._make_timeout(call.timeout, stream=stream)

    def _make_timeout(self, total: float, *, stream: bool) -> Timeouts:
        if stream:
            # a stream may legitimately last long: bound the connect and each silence instead
            return Timeouts(connect=self.config.connect_timeout, total=None, read=self.config.idle_timeout or total)
        return Timeouts(connect=self.config.connect_timeout, total=total, read=None)

    async def post(
        self, url: str | yarl.URL, body: bytes, headers: dict[str, str], call: Call, *, stream: bool
    ) -> UpstreamResponse:
        """POST and return the open response, or raise the FerrymanError that describes the failure."""
        first_byte = self.config.first_byte_timeout
        t = self.timeout(call, stream=stream)
        pool = self.pool
        sending = pool.post(
            url,
            body,
            headers,
            connect_timeout=t.connect,
            total_timeout=t.total,
            read_timeout=t.read,
            max_bytes=self.config.max_upstream_bytes,
        )
        try:
            if first_byte is None:
                resp = await sending
            else:  # the status line must arrive in time, whatever the total timeout
                async with asyncio.timeout(first_byte):
                    resp = await sending
        except (TimeoutError, ServerTimeoutError):
            raise UpstreamTimeoutError(f"{self.name}: the provider did not answer in time") from None
        except ClientError as exc:
            raise UpstreamConnectionError(f"{self.name}: cannot reach the provider ({describe(exc)})") from None
        if resp.status >= 400:
            try:
                payload = await resp.read()
            except (TimeoutError, ClientError):
                payload = b""
            finally:
                resp.release()
            raise self.http_error(resp, payload)
        return resp

    async def embed(self, model: str, text: str, key: ApiKey | None, timeout: float | None = None) -> list[float]:
        """``text``'s vector from the provider's OpenAI-compatible ``/embeddings``, through this adapter's pool,
        auth, timeouts and error mapping; an answer without a vector is the provider's failure."""
        sent = {"model": model, "input": text}
        call = Call(ResponsesRequest(model=model), sent, model, key, timeout)
        url = f"{(self.config.base_url or '').rstrip('/')}/embeddings"
        resp = await self.post(url, msgspec.json.encode(sent), self.headers(call), call, stream=False)
        body, _ = await self.read_json(resp)
        try:
            vector = body["data"][0]["embedding"]
        except (KeyError, IndexError, TypeError):
            vector = None
        if not isinstance(vector, list) or not vector:
            raise UpstreamConnectionError(
                f"{self.name}: the provider's /embeddings answer holds no vector", code="upstream_bad_response"
            )
        return vector

    def http_error(self, resp: UpstreamResponse, payload: bytes) -> ProviderError:
        """The ProviderError for an error reply; adapters whose providers word errors their own way override it."""
        return provider_error_from_body(self.name, resp.status, payload, kept_headers(resp))

    async def read_json(self, resp: UpstreamResponse) -> tuple[Any, bytes]:
        """The whole body decoded, and as it came; a body that is not JSON is the provider's failure."""
        payload = await self.read_body(resp)
        try:
            return msgspec.json.decode(payload), payload
        except msgspec.DecodeError:
            raise UpstreamConnectionError(
                f"{self.name}: the provider answered with a body that is not JSON", code="upstream_bad_response"
            ) from None

    async def read_body(self, resp: UpstreamResponse) -> bytes:
        try:
            return await resp.read()
        except (TimeoutError, ServerTimeoutError):
            raise UpstreamTimeoutError(f"{self.name}: the provider did not finish its answer in time") from None
        except BodyTooLarge as exc:
            raise too_large(self.name, exc.limit, "answer") from None
        except ClientError as exc:
            raise UpstreamConnectionError(f"{self.name}: the connection broke mid-answer ({describe(exc)})") from None
        finally:
            resp.release()


def kept_headers(resp: UpstreamResponse) -> dict[str, str]:
    """Headers worth keeping from an error reply (the retry logic reads retry-after)."""
    out = {}
    for name in ("retry-after", "retry-after-ms", "x-request-id", "request-id"):
        v = resp.headers.get(name)
        if v is not None:
            out[name] = v
    return out


def describe(exc: BaseException) -> str:
    """An exception as a short text for an error message."""
    text = str(exc) or type(exc).__name__
    return text[:300]


def too_large(provider: str, limit: int, what: str) -> UpstreamConnectionError:
    """The provider sent more than ``max_upstream_bytes`` lets the gateway hold: 502 ``upstream_too_large``."""
    return UpstreamConnectionError(
        f"{provider}: the provider's {what} is larger than {limit} bytes, the cap set by"
        f" providers.{provider}.max_upstream_bytes",
        code="upstream_too_large",
    )


def stream_failure(provider: str, exc: BaseException) -> FerrymanError:
    """Map an exception raised while reading an open stream to the error event the client gets."""
    if isinstance(exc, FerrymanError):
        return exc
    if isinstance(exc, MalformedEvent):
        return UpstreamConnectionError(f"{provider}: the stream sent {exc}", code="upstream_bad_response")
    if isinstance(exc, EventTooLarge):
        return too_large(provider, exc.limit, "stream event")
    if isinstance(exc, BodyTooLarge):
        return too_large(provider, exc.limit, "stream")
    if isinstance(exc, asyncio.TimeoutError | ServerTimeoutError):
        return UpstreamTimeoutError(f"{provider}: the stream went silent for too long")
    return UpstreamConnectionError(f"{provider}: the stream broke before it finished ({describe(exc)})")
