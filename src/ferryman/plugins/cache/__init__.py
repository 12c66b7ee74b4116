"""The response cache: exact and semantic, in process or in Redis.

Before a request is dispatched, ``plan`` decides whether the cache applies (a ``cache`` section in
the config, the model not opted out, no sampling unless ``allow_sampling``, the request headers);
``lookup`` answers from an earlier completed response when one matches exactly, or — with a
``semantic`` section — when the last user message means nearly the same (cosine similarity at or
above the threshold) within the same model, settings, tools and history. ``store`` keeps a completed
reply. Entries never hold keys: only the response object and who produced it.

Request headers: ``x-ferryman-cache: no-cache`` (do not answer from the cache; the fresh answer is
stored) or ``no-store`` (do not store this answer), ``x-ferryman-cache-ttl: seconds``,
``x-ferryman-cache-key: <key>`` (your own exact key), ``x-ferryman-cache-namespace: <ns>`` (a
separate key space), ``x-ferryman-cache-threshold: 0.9``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from ferryman.config import CacheEntry, Config
from ferryman.http import Scope, header
from ferryman.plugins.cache.embeddings import Embedder, LocalEmbedder, ProviderEmbedder
from ferryman.plugins.cache.key import exact_key, semantic_parts
from ferryman.plugins.cache.memory import MemoryBackend
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import ResponsesRequest

log = logging.getLogger("ferryman.cache")

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@dataclass(slots=True)
class Plan:
    key: str
    read: bool
    write: bool
    ttl: float
    semantic: tuple[str, str] | None  # (scope, text)
    threshold: float


@dataclass(slots=True)
class Hit:
    response: dict[str, Any]
    provider: str
    model: str
    debug: dict[str, Any]


class ResponseCache:
    def __init__(self, config: Config) -> None:
        assert config.cache is not None
        self.settings: CacheEntry = config.cache
        self.config = config
        if self.settings.backend == "memory":
            self.backend: Any = MemoryBackend(self.settings.max_entries, self.settings.max_bytes)
        else:
            from ferryman.plugins.cache.redis import RedisBackend

            self.backend = RedisBackend(self.settings.backend, self.settings.namespace)
        self.embedder: Embedder | None = None
        semantic = self.settings.semantic
        if semantic is not None:
            if semantic.embeddings == "local":
                self.embedder = LocalEmbedder()
            else:
                provider, _, model = semantic.embeddings.partition("/")
                self.embedder = ProviderEmbedder(config.providers[provider], model)

    async def start(self) -> None:
        await self.backend.start()
        if self.embedder is not None:
            await self.embedder.start()

    async def close(self) -> None:
        await self.backend.close()
        if self.embedder is not None:
            await self.embedder.close()

    # ---- deciding -------------------------------------------------------------------------------

    def plan(self, scope: Scope, raw: dict[str, Any], req: ResponsesRequest) -> Plan | None:
        if req.background:
            return None
        alias = self.config.models.get(req.model)
        if alias is not None and alias.cache is False:
            return None
        if req.temperature is not None and req.temperature > 0 and not self.settings.allow_sampling:
            return None
        control = (header(scope, b"x-ferryman-cache") or "").lower().replace(" ", "").split(",")
        read, write = "no-cache" not in control, "no-store" not in control
        if not (read or write):
            return None
        ttl = self._number(scope, b"x-ferryman-cache-ttl", self.settings.ttl, low=0.001)
        namespace = header(scope, b"x-ferryman-cache-namespace") or ""
        custom = header(scope, b"x-ferryman-cache-key")
        key = f"{namespace}|{custom or exact_key(raw)}"
        semantic = None
        threshold = 1.0
        if self.settings.semantic is not None and custom is None:
            parts = semantic_parts(raw)
            if parts is not None:
                semantic = (f"{namespace}|{parts[0]}", parts[1])
            threshold = self._number(scope, b"x-ferryman-cache-threshold", self.settings.semantic.threshold, high=1)
        return Plan(key, read, write, ttl, semantic, threshold)

    @staticmethod
    def _number(scope: Scope, name: bytes, default: float, low: float = 0.0, high: float | None = None) -> float:
        value = header(scope, name)
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
        if not plan.read:
            return None
        value = await self.backend.get(plan.key)
        if value is not None:
            return self._hit(value, plan.key, "direct", plan, similarity=1.0)
        if plan.semantic is None or self.embedder is None:
            return None
        scope, text = plan.semantic
        vector = await self.embedder.embed(text)
        found = await self.backend.nearest(scope, vector)
        if found is None or found[1] < plan.threshold:
            return None
        value = await self.backend.get(found[0])
        if value is None:
            return None
        return self._hit(value, found[0], "semantic", plan, similarity=found[1])

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
        if not plan.write or response.get("status") != "completed":
            return
        kept = {k: v for k, v in response.items() if k != "extra_fields"}
        value = _encode({"response": kept, "provider": provider, "model": model, "stored_at": time.time()})
        await self.backend.set(plan.key, value, plan.ttl)
        if plan.semantic is not None and self.embedder is not None:
            scope, text = plan.semantic
            try:
                vector = await self.embedder.embed(text)
            except Exception as exc:  # noqa: BLE001 - an embedding failure only costs a future hit
                log.warning("cache: could not embed a prompt (%s)", exc)
                return
            await self.backend.add_vector(scope, plan.key, vector, plan.ttl)


def _short(key: str) -> str:
    namespace, _, digest = key.rpartition("|")
    return f"{namespace}|{digest[:32]}" if namespace else digest[:32]


def miss_debug(plan: Plan) -> dict[str, Any]:
    return {"cache_hit": False, "cache_id": _short(plan.key)}
