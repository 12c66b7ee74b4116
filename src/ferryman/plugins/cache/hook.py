"""The cache as a pipeline hook: answer from the cache before any provider is called, keep what one answered.

A hit is a new response (its own id, the time of now) that cost nothing upstream (``usage.cost`` all
zeros), with ``extra_fields.cache_debug`` saying where it came from; a miss is told in ``cache_debug``
too. Only completed answers of providers are kept (never a hit again).
"""

from __future__ import annotations

import time
from typing import Any

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Hook, Pending
from ferryman.gateway.router import Target
from ferryman.ids import new_id
from ferryman.plugins.cache import Plan, ResponseCache, miss_debug

_FREE = {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "request_cost": 0.0, "total_cost": 0.0}


class CacheHook(Hook):
    name = "cache"

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache

    async def before(self, ex: Exchange) -> None:
        native = ex.compat.native  # the door's own request, when its target may speak that API
        if native is not None and (native.untranslated or native.deferred):
            return  # the key is made of the canonical request, which lacks what only the door's own API says
        owner = None if self.cache.shared else ex.owner
        plan = self.cache.plan(ex.header, ex.raw, ex.responses, owner)
        if plan is None:
            return
        ex.state[self.name] = plan
        hit = await self.cache.lookup(plan)
        if hit is None:
            ex.cache_debug = miss_debug(plan)
            return
        response = dict(hit.response, id=new_id("resp"), created_at=int(time.time()))
        response["usage"] = {**(response.get("usage") or {}), "cost": dict(_FREE)}
        ex.target = Target(hit.provider, hit.model)
        ex.cache_debug = hit.debug
        ex.answer = response

    def reads_output(self, ex: Exchange) -> bool:
        return ex.state.get(self.name) is not None  # a plan: the answer is kept

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        plan: Plan | None = ex.state.get(self.name)
        if plan is not None and ex.answer is None and ex.target is not None:
            await self.cache.store(plan, response, ex.target.provider, ex.target.deployment)
        return None
