"""``GET /ready``: whether this gateway can serve, with the reasons, for load balancers and Kubernetes.

Ready means: started (and not shutting down), the store answers (when there is one), the cache
answers (when one is configured; Redis is pinged whatever its breaker says), and at least one provider
can be called (a key is set, or it needs none, as the mock). 200 ``{"status": "ready", "checks"}``,
else 503 ``{"status": "not_ready", "checks", "reasons"}``. Each check is bounded by ``TIMEOUT``.
``GET /health`` stays the cheap liveness probe: it checks nothing.

Governance's counters are in process memory (``counters: memory``, the only kind built): nothing to
reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ferryman.config import Config
from ferryman.http import Receive, Scope, Send, send_json
from ferryman.scrub import scrub

TIMEOUT = 2.0  # seconds a dependency may take to answer


class Readiness:
    def __init__(
        self,
        config: Config,
        started: Callable[[], bool],
        store: Callable[[], Awaitable[None]] | None,
        cache: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.config = config
        self.started = started
        self.pings = {name: ping for name, ping in (("store", store), ("cache", cache)) if ping is not None}

    async def ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        checks: dict[str, Any] = {"started": self.started()}
        reasons: list[str] = [] if checks["started"] else ["the gateway is starting or stopping"]
        for name, ping in self.pings.items():
            error = await _reach(ping)
            checks[name] = error is None
            if error is not None:
                reasons.append(f"the {name} does not answer: {error}")
        usable = [
            p.name for p in self.config.providers.values() if not p.needs_key or any(k.secret.is_set for k in p.keys)
        ]
        checks["providers"] = usable
        if not usable:
            reasons.append("no provider can be called: none has a key set (set one, or configure the mock)")
        body: dict[str, Any] = {"status": "not_ready" if reasons else "ready", "checks": checks}
        if reasons:
            body["reasons"] = reasons
        await send_json(send, 503 if reasons else 200, msgspec.json.encode(body))


async def _reach(ping: Callable[[], Awaitable[None]]) -> str | None:
    """None when ``ping`` answers in time, else why not (an exception's type and message, scrubbed)."""
    try:
        await asyncio.wait_for(ping(), TIMEOUT)
    except TimeoutError:
        return f"no answer within {TIMEOUT:g} s"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return scrub(f"{type(exc).__name__}: {exc}")
    return None
