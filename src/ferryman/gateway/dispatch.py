"""Call the targets in order: retry a retryable failure with backoff, then move down the list.

Per target: a key is picked by weight (keys failing with 401/403/429 cool down and the next key is
tried at once), a slot is taken from the provider's concurrency limiter, and the adapter is called.
A retryable failure (timeout, connection error, 408/409/429/5xx/529) is retried on the same target
with exponential backoff and jitter, honouring ``retry-after`` / ``retry-after-ms``, up to the
provider's ``max_retries``; then the next target is tried. A caller's own mistake (400, 401, 404,
...) returns at once — another provider would refuse it too — unless ``fallback_on`` in the config
names its status or code.

Streams fail over only before their first byte reaches the client; ``open_stream`` returns once an
upstream has accepted the request (2xx), and what happens after that is the relay's business. The
stream keeps its limiter slot until it is closed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ferryman.config import ApiKey, Config
from ferryman.gateway.keys import COOLING_STATUSES, KeyPool
from ferryman.gateway.limits import Limiter
from ferryman.gateway.router import Router, Target
from ferryman.providers.base import Call, Compat, EventStream, Provider, UpstreamReply
from ferryman.providers.registry import PROVIDERS
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.responses import ResponsesRequest

if TYPE_CHECKING:
    from ferryman.providers.embeddings import Embeddings

T = TypeVar("T")
# per target, the request as that target should get it (a stored conversation replayed or not)
Shape = Callable[[Target, ResponsesRequest, dict[str, Any]], tuple[ResponsesRequest, dict[str, Any]]]

# what a target label keeps as is in the x-ferryman-attempts header (the rest is percent-encoded)
_LABEL_SAFE = "/:@.+=!*'()$&;"
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 30.0


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class Attempt:
    """One call to one target: its status (200 when it answered) and how long the provider took."""

    target: Target
    status: int
    started: float  # time.perf_counter() when the call began
    seconds: float  # until the provider answered (a stream: until it was open), or failed

    def __init__(self, target: Target, status: int, started: float, seconds: float) -> None:
        self.target = target
        self.status = status
        self.started = started
        self.seconds = seconds

    @property
    def label(self) -> str:
        return self.target.label


@dataclass(slots=True, init=False)  # a compiled ``__init__``
class Attempts:
    """What was tried, for extra_fields, the x-ferryman-attempts header, logs, metrics and traces."""

    log: list[Attempt]

    def __init__(self, log: list[Attempt] | None = None) -> None:
        self.log = [] if log is None else log

    def header(self) -> str:
        """``label:status`` per attempt; a label is client text, so it is percent-encoded to a header-safe
        ASCII token whatever it holds (a model name was checked at the door, an alias's was not)."""
        log = self.log
        if len(log) == 1:
            return f"{_quoted(log[0].label)}:{log[0].status}"
        return ",".join(f"{_quoted(a.label)}:{a.status}" for a in log)

    @property
    def upstream_seconds(self) -> float:
        """The time spent waiting for providers (backoff sleeps between attempts not counted)."""
        return sum(a.seconds for a in self.log)


@lru_cache(maxsize=1024)  # bounded: labels may hold client text
def _quoted(label: str) -> str:
    return quote(label, safe=_LABEL_SAFE)


class Dispatcher:
    def __init__(self, config: Config, providers: dict[str, Provider], router: Router) -> None:
        self.config = config
        self.providers = providers
        self.router = router
        self.keys = {name: KeyPool(p.config) for name, p in providers.items()}
        self.limiters = {
            name: Limiter(name, p.config.max_concurrency, p.config.max_queue)
            for name, p in providers.items()
            if p.config.max_concurrency
        }
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._embeddings: dict[str, Embeddings] = {}  # each provider's, built on its first embeddings request

    async def create(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        targets: list[Target],
        attempts: Attempts,
        timeout: float | None,
        shape: Shape | None = None,
        compat: Compat | None = None,
    ) -> tuple[UpstreamReply, Target]:
        return await self._run(req, raw, targets, attempts, timeout, shape, compat, stream=False)  # type: ignore[return-value]

    async def open_stream(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        targets: list[Target],
        attempts: Attempts,
        timeout: float | None,
        shape: Shape | None = None,
        compat: Compat | None = None,
    ) -> tuple[EventStream, Target]:
        return await self._run(req, raw, targets, attempts, timeout, shape, compat, stream=True)  # type: ignore[return-value]

    async def embed(
        self,
        req: EmbeddingsRequest,
        raw: dict[str, Any],
        targets: list[Target],
        attempts: Attempts,
        timeout: float | None,
        compat: Compat,
    ) -> tuple[UpstreamReply, Target]:
        """An embeddings request, through the same targets, keys, limits, retries and fallbacks."""
        routing = ResponsesRequest(model=req.model)  # what a Call carries besides the embeddings request
        return await self._run(routing, raw, targets, attempts, timeout, None, compat, stream=False, embeddings=req)  # type: ignore[return-value]

    def embeddings_of(self, target: Target) -> Embeddings:
        """The embeddings capability of a target's provider; a 400 for a provider type that has none."""
        found = self._embeddings.get(target.provider)
        if found is None:
            provider = self.providers[target.provider]
            found = PROVIDERS[provider.config.type].embeddings_for(provider)
            if found is None:
                raise InvalidRequestError(
                    f"provider {target.provider!r} (type {provider.config.type}) does not serve embeddings.",
                    param="model",
                    code="unsupported_model",
                )
            self._embeddings[target.provider] = found
        return found

    async def _run(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        targets: list[Target],
        attempts: Attempts,
        timeout: float | None,
        shape: Shape | None,
        compat: Compat | None,
        *,
        stream: bool,
        embeddings: EmbeddingsRequest | None = None,
    ) -> tuple[UpstreamReply | EventStream, Target]:
        last: FerrymanError | None = None
        compat = compat if compat is not None else Compat()
        for target in targets:
            req_t, raw_t = shape(target, req, raw) if shape is not None else (req, raw)
            try:
                tried = await self._try_target(
                    req_t,
                    raw_t,
                    target,
                    attempts,
                    timeout,
                    req.previous_response_id,
                    compat,
                    stream=stream,
                    embeddings=embeddings,
                )
                return tried, target
            except FerrymanError as exc:
                if not (exc.retryable or self._falls_back(exc)):
                    raise
                last = exc
        assert last is not None
        raise last

    async def _try_target(
        self,
        req: ResponsesRequest,
        raw: dict[str, Any],
        target: Target,
        attempts: Attempts,
        timeout: float | None,
        chained_to: str | None,
        compat: Compat,
        *,
        stream: bool,
        embeddings: EmbeddingsRequest | None = None,
    ) -> UpstreamReply | EventStream:
        provider = self.providers[target.provider]
        embedder = self.embeddings_of(target) if embeddings is not None else None
        pool = self.keys[target.provider]
        limiter = self.limiters.get(target.provider)
        retries = provider.config.max_retries
        native = compat.native
        if native is not None and not provider.passes(native, target.deployment):
            native.refuse_untranslated(target.provider)  # the canonical request goes instead: is it whole?
            native = None
        tried: tuple[ApiKey, ...] = ()
        attempt = 0
        while True:
            key = pool.pick(target.deployment, exclude=tried)
            call = Call(req, raw, target.deployment, key, timeout, chained_to, compat.drop_unsupported)
            call.headers = compat.headers
            call.native = native
            started = time.perf_counter()
            result: UpstreamReply | EventStream
            try:
                if limiter is not None:
                    await limiter.acquire()
                try:
                    if embedder is not None:
                        result = await embedder.embed(embeddings, call)  # type: ignore[arg-type]  # set with it
                    else:
                        result = await (provider.stream(call) if stream else provider.create(call))
                except BaseException:
                    if limiter is not None:
                        limiter.release()
                    raise
            except FerrymanError as exc:
                attempts.log.append(Attempt(target, exc.status, started, time.perf_counter() - started))
                hinted = _retry_after(exc.headers)
                if key is not None and exc.domain == "provider":  # only the provider's answer says a key is spent
                    pool.failed(key, exc.status, hinted)
                    tried = (*tried, key)
                    if exc.status in COOLING_STATUSES and pool.has_other(target.deployment, tried):
                        continue  # this key is spent or broken, not the request: the next key, at once
                if not exc.retryable or attempt >= retries:
                    raise
                await self.sleep(self._delay(hinted, attempt))
                attempt += 1
                continue
            if limiter is not None:
                if stream:
                    result.on_close(limiter.release)  # type: ignore[union-attr]
                else:
                    limiter.release()
            if key is not None:
                pool.succeeded(key)
            attempts.log.append(Attempt(target, 200, started, time.perf_counter() - started))
            compat.dropped = call.dropped
            return result

    def _falls_back(self, exc: FerrymanError) -> bool:
        wanted = self.config.fallback_on
        return bool(wanted) and (exc.status in wanted or (exc.code is not None and exc.code in wanted))

    @staticmethod
    def _delay(hinted: float | None, attempt: int) -> float:
        if hinted is not None:
            return min(hinted, RETRY_AFTER_CAP)
        return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def _retry_after(headers: dict[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    sec = headers.get("retry-after")
    if sec is not None:
        try:
            return max(0.0, float(sec))
        except ValueError:
            return None  # an HTTP date: our own backoff instead
    return None
