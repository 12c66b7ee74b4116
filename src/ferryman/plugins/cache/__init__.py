"""The response cache: exact and semantic, in process or in Redis.

Before a request is dispatched, ``plan`` decides whether the cache applies (a ``cache`` section in
the config, the model not opted out, no sampling unless ``allow_sampling``, the request headers);
``lookup`` answers from an earlier completed response when one matches exactly, or — with a
``semantic`` section — when the last user message means nearly the same (cosine similarity at or
above the threshold) within the same model, settings, tools and history. ``store`` keeps a completed
reply. Entries never hold keys: only the response object and who produced it.

Entries are scoped: with ``scope: key`` (the default) a request is only answered from entries that
requests with the same credential wrote (the scope is a hash of the credential; requests without one
share one scope); ``gateway`` shares entries between all callers. A custom key
(``x-ferryman-cache-key``) lives in its own space, which no computed key can reach. A key reads
``<scope>|<namespace>|<tail>``: the namespace is escaped so it holds no ``|``, and the tail is
either a computed key (hex) or ``key:<custom key>``.

A cache problem — embeddings down or slow (bounded by ``semantic.timeout``), Redis down or hanging
(bounded by ``redis_timeout``, then skipped by a circuit breaker), a corrupt entry — only ever means
"no cache" for that request: a warning is logged (once per breaker opening for Redis) and the request
goes on to the provider. The prompt is embedded at most once per request: ``lookup`` keeps the vector
in the ``Plan`` and ``store`` reuses it (a failed embedding is not tried again).

Request headers: ``x-ferryman-cache: no-cache`` (do not answer from the cache; the fresh answer is
stored) or ``no-store`` (do not store this answer), ``x-ferryman-cache-ttl: seconds``,
``x-ferryman-cache-key: <key>`` (your own exact key), ``x-ferryman-cache-namespace: <ns>`` (a
separate key space), ``x-ferryman-cache-threshold: 0.9``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from ferryman.config import CacheEntry, Config
from ferryman.gateway.keys import KeyPool
from ferryman.plugins.cache.breaker import CacheUnavailable
from ferryman.plugins.cache.embeddings import Embedder, embedder_for
from ferryman.plugins.cache.key import exact_key, semantic_parts
from ferryman.plugins.cache.memory import MemoryBackend
from ferryman.providers.base import Provider
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import ResponsesRequest

log = logging.getLogger("ferryman.cache")

Header = Callable[[bytes], str | None]  # a request header by its lower-case name

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@dataclass(slots=True)
class Plan:
    key: str
    read: bool
    write: bool
    ttl: float
    semantic: tuple[str, str] | None  # (scope, text); None when there is nothing (more) to compare by meaning
    threshold: float
    vector: np.ndarray | None = None  # the text's embedding, once computed: lookup's is reused by store


@dataclass(slots=True)
class Hit:
    response: dict[str, Any]
    provider: str
    model: str
    debug: dict[str, Any]


class ResponseCache:
    def __init__(self, config: Config, providers: Mapping[str, Provider], keys: Mapping[str, KeyPool]) -> None:
        """``providers`` (the built adapters) and their ``keys`` pools serve ``provider/model`` embeddings."""
        assert config.cache is not None
        self.settings: CacheEntry = config.cache
        self.config = config
        if self.settings.backend == "memory":
            self.backend: Any = MemoryBackend(self.settings.max_entries, self.settings.max_bytes)
        else:
            from ferryman.plugins.cache.redis import RedisBackend

            settings = self.settings
            self.backend = RedisBackend(
                settings.backend, settings.namespace, settings.redis_timeout, settings.redis_cooldown
            )
        self.shared = self.settings.scope == "gateway"  # else each credential has its own entries
        semantic = self.settings.semantic
        self.embedder: Embedder | None = embedder_for(semantic, providers, keys) if semantic is not None else None
        self.embed_timeout = semantic.timeout if semantic is not None else 0.0

    async def start(self) -> None:
        await self.backend.start()
        if self.embedder is not None:
            await self.embedder.start()

    async def close(self) -> None:
        await self.backend.close()
        if self.embedder is not None:
            await self.embedder.close()

    async def ping(self) -> None:
        """Raise unless the backend answers (``GET /ready``; Redis bypasses its breaker here)."""
        await self.backend.ping()

    # ---- deciding -------------------------------------------------------------------------------

    def plan(self, header: Header, raw: dict[str, Any], req: ResponsesRequest, owner: str | None) -> Plan | None:
        """Whether and how the cache applies to this request (``header`` reads the request's headers;
        ``owner`` is the caller's credential hash, unused when the cache is ``shared``)."""
        if req.background or req.conversation is not None:  # a conversation's id names a history that grows
            return None
        alias = self.config.models.get(req.model)
        if alias is not None and alias.cache is False:
            return None
        if req.temperature is not None and req.temperature > 0 and not self.settings.allow_sampling:
            return None
        control = (header(b"x-ferryman-cache") or "").lower().replace(" ", "").split(",")
        read, write = "no-cache" not in control, "no-store" not in control
        if not (read or write):
            return None
        ttl = self._number(header, b"x-ferryman-cache-ttl", self.settings.ttl, low=0.001)
        namespace = (header(b"x-ferryman-cache-namespace") or "").replace("%", "%25").replace("|", "%7C")
        prefix = f"{'gateway' if self.shared else owner or 'anonymous'}|{namespace}|"
        custom = header(b"x-ferryman-cache-key")
        key = prefix + (exact_key(raw) if custom is None else f"key:{custom}")
        semantic = None
        threshold = 1.0
        if self.settings.semantic is not None and custom is None:
            parts = semantic_parts(raw)
            if parts is not None:
                semantic = (prefix + parts[0], parts[1])
            threshold = self._number(header, b"x-ferryman-cache-threshold", self.settings.semantic.threshold, high=1)
        return Plan(key, read, write, ttl, semantic, threshold)

    @staticmethod
    def _number(header: Header, name: bytes, default: float, low: float = 0.0, high: float | None = None) -> float:
        value = header(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not (number >= low and (high is None or number <= high)):
            raise InvalidRequestError(
                f"Header {name.decode()} must be a number"
                + (f" from {low:g} to {high:g}." if high is not None else f" of at least {low:g}."),
                param=name.decode(),
                code="invalid_header",
            )
        return number

    # ---- reading and writing --------------------------------------------------------------------

    async def lookup(self, plan: Plan) -> Hit | None:
        """The cached answer for the plan, or None: a miss, or a cache problem (logged, never raised)."""
        if not plan.read:
            return None
        try:
            value = await self.backend.get(plan.key)
            if value is not None:
                return self._hit(value, plan.key, "direct", plan, similarity=1.0)
            if plan.semantic is None:
                return None
            scope = plan.semantic[0]
            vector = await self._embedding(plan)
            if vector is None:
                return None
            found = await self.backend.nearest(scope, vector)
            if found is None or found[1] < plan.threshold:
                return None
            value = await self.backend.get(found[0])
            if value is None:
                return None
            return self._hit(value, found[0], "semantic", plan, similarity=found[1])
        except CacheUnavailable:  # the backend failed or is skipped: its breaker has said so once
            return None
        except Exception as exc:  # noqa: BLE001 - a cache problem only means no cache for this request
            log.warning("cache: lookup failed (%s); answering without the cache", _reason(exc))
            return None

    async def _embedding(self, plan: Plan) -> np.ndarray | None:
        """The semantic text's vector, computed once per request; None (and one warning) when embedding fails,
        which also ends the semantic part of this request, so ``store`` does not try again."""
        if plan.vector is not None or plan.semantic is None or self.embedder is None:
            return plan.vector
        try:
            async with asyncio.timeout(self.embed_timeout):
                plan.vector = await self.embedder.embed(plan.semantic[1])
        except Exception as exc:  # noqa: BLE001 - an embedding failure only costs this request its semantic cache
            plan.semantic = None
            reason = f"no answer within {self.embed_timeout:g} s" if isinstance(exc, TimeoutError) else _reason(exc)
            log.warning(
                "cache: could not embed the prompt with %s (%s); no semantic cache for this request",
                self.embedder.name,
                reason,
            )
        return plan.vector

    def _hit(self, value: bytes, key: str, hit_type: str, plan: Plan, similarity: float) -> Hit:
        entry = _decode(value)
        response = entry["response"]
        debug = {
            "cache_hit": True,
            "cache_id": _short(key),
            "hit_type": hit_type,
            "provider_used": entry["provider"],
            "model_used": entry["model"],
            "input_tokens": (response.get("usage") or {}).get("input_tokens"),
        }
        if hit_type == "semantic":
            debug["threshold"] = plan.threshold
            debug["similarity"] = round(similarity, 6)
        return Hit(response, entry["provider"], entry["model"], debug)

    async def store(self, plan: Plan, response: dict[str, Any], provider: str, model: str) -> None:
        """Keep a completed reply (and its vector, reusing lookup's); a cache problem is logged, never raised."""
        if not plan.write or response.get("status") != "completed":
            return
        try:
            kept = {k: v for k, v in response.items() if k != "extra_fields"}
            value = _encode({"response": kept, "provider": provider, "model": model, "stored_at": time.time()})
            await self.backend.set(plan.key, value, plan.ttl)
            if plan.semantic is None:
                return
            scope = plan.semantic[0]
            vector = await self._embedding(plan)
            if vector is not None:
                await self.backend.add_vector(scope, plan.key, vector, plan.ttl)
        except CacheUnavailable:
            return
        except Exception as exc:  # noqa: BLE001 - a failed store only costs a future hit
            log.warning("cache: could not store a reply (%s)", _reason(exc))


def _reason(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:300]


def _short(key: str) -> str:
    """The key without its scope (the caller's credential hash is not the client's business), shortened."""
    _, namespace, tail = key.split("|", 2)
    return f"{namespace}|{tail[:32]}" if namespace else tail[:32]


def miss_debug(plan: Plan) -> dict[str, Any]:
    return {"cache_hit": False, "cache_id": _short(plan.key)}
