"""The cost hook: ``usage.cost`` of every answer a provider gave, in USD (``gateway/usage.py`` prices it).

An answer from the cache cost nothing upstream; the cache hook prices it at zero itself.
"""

from __future__ import annotations

from typing import Any

from ferryman.config import Config
from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import EVERY_OPERATION, Hook, Pending
from ferryman.gateway.usage import compute_cost


class CostHook(Hook):
    name = "cost"
    operations = EVERY_OPERATION
    head_only = True  # a passed-through reply is priced before it goes out: its usage and model are all it needs

    def __init__(self, config: Config) -> None:
        self.config = config

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        if ex.answer is None:
            add_cost(response, ex, self.config)
        return None


def add_cost(response: dict[str, Any], ex: Exchange, config: Config) -> None:
    """Price ``response['usage']`` in place (``cost: null`` when the model has no known price)."""
    usage = response.get("usage")
    target = ex.target
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
