"""What the gateway adds to every reply: usage.cost and extra_fields.

One ``RequestContext`` travels with a request from the front door to the last byte; it knows what
the client asked for, what was tried, and which target finally served it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ferryman.config import Config
from ferryman.gateway.dispatch import Attempts
from ferryman.gateway.router import Target
from ferryman.gateway.usage import compute_cost


@dataclass(slots=True)
class RequestContext:
    model_requested: str
    stream: bool
    send_back_raw: bool
    t0: float = field(default_factory=time.perf_counter)
    attempts: Attempts = field(default_factory=Attempts)
    target: Target | None = None
    resumed: list[dict[str, Any]] | None = None  # a broken stream finished by another target
    cache_debug: dict[str, Any] | None = None

    @property
    def request_type(self) -> str:
        return "responses_stream" if self.stream else "responses"

    def latency_ms(self) -> float:
        return round((time.perf_counter() - self.t0) * 1000, 3)

    def extra_fields(self, *, sent: Any = None, raw_response: Any = None) -> dict[str, Any]:
        target = self.target
        extra: dict[str, Any] = {
            "request_type": self.request_type,
            "provider": target.provider if target else None,
            "model_requested": self.model_requested,
            "model_deployment": target.deployment if target else None,
            "latency": self.latency_ms(),
        }
        if len(self.attempts.log) > 1:
            extra["attempts"] = [{"target": label, "status": status} for label, status in self.attempts.log]
        if self.resumed:
            extra["resumed"] = self.resumed
        if self.cache_debug is not None:
            extra["cache_debug"] = self.cache_debug
        if self.send_back_raw:
            extra["raw_request"] = sent
            if isinstance(raw_response, bytes | bytearray):
                raw_response = msgspec.json.decode(raw_response)
            extra["raw_response"] = raw_response
        return extra


def add_cost(response: dict[str, Any], ctx: RequestContext, config: Config) -> None:
    """Price ``response['usage']`` in place (``cost: null`` when the model has no known price)."""
    usage = response.get("usage")
    target = ctx.target
    if not isinstance(usage, dict) or target is None:
        return
    provider = config.providers[target.provider]
    answered = response.get("model")
    models = (
        (target.deployment, answered)
        if isinstance(answered, str) and answered != target.deployment
        else (target.deployment,)
    )
    usage["cost"] = compute_cost(
        usage,
        provider_name=provider.name,
        provider_type=provider.type,
        model=models,
        output=response.get("output"),
        overrides=config.pricing,
    )
