"""usage.cost: USD prices of a reply, from the maintained ``genai-prices`` table or a config override.

A model with no known price gets ``cost: null`` (unknown), never zero (free).
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice

from ferryman.config import PriceEntry

# Ferryman provider type/name -> genai-prices provider id
_PRICE_PROVIDER = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "gemini": "google",
    "vertex": "google",
    "bedrock": "aws",
    "mistral": "mistral",
    "groq": "groq",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "together": "together",
    "fireworks": "fireworks",
    "cerebras": "cerebras",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
}


@lru_cache(maxsize=1024)
def _find(provider_id: str | None, model: str) -> tuple[Any, Any] | None:
    snapshot = data_snapshot.get_snapshot()
    try:
        return snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        if provider_id is None:
            return None
        try:  # a reseller (OpenRouter, Azure, ...) may serve a model priced under its maker
            return snapshot.find_provider_model(model, None, None, None)
        except LookupError:
            return None


def _int(d: Any, *path: str) -> int:
    for key in path:
        if not isinstance(d, dict):
            return 0
        d = d.get(key)
    return d if isinstance(d, int) and not isinstance(d, bool) else 0


def usage_for_pricing(usage: dict[str, Any], output: Any = None) -> Usage:
    """Responses ``usage`` (and output items, for per-call tools) -> genai-prices ``Usage``."""
    kwargs: dict[str, int] = {
        "input_tokens": _int(usage, "input_tokens"),
        "output_tokens": _int(usage, "output_tokens"),
    }
    cached = _int(usage, "input_tokens_details", "cached_tokens")
    if cached:
        kwargs["cache_read_tokens"] = cached
    written = _int(usage, "input_tokens_details", "cache_write_tokens")
    if written:
        kwargs["cache_write_tokens"] = written
    if isinstance(output, list):
        searches = sum(1 for item in output if isinstance(item, dict) and item.get("type") == "web_search_call")
        if searches:
            kwargs["web_searches"] = searches
    return Usage(**kwargs)


def compute_cost(
    usage: dict[str, Any],
    *,
    provider_name: str,
    provider_type: str,
    model: str | tuple[str, ...],
    output: Any = None,
    overrides: dict[str, PriceEntry] | None = None,
) -> dict[str, float] | None:
    """The seed's ``usage.cost`` object, or None when the model has no known price.

    ``model`` may be several names for the same call (the deployment asked for, the model the
    provider says answered); the first one with a price wins, config overrides before the table.
    """
    if not isinstance(usage, dict):
        return None
    models = (model,) if isinstance(model, str) else model
    priced = usage_for_pricing(usage, output)
    override = None
    if overrides:
        override = next(
            (o for m in models for o in (overrides.get(f"{provider_name}/{m}"), overrides.get(m)) if o is not None),
            None,
        )
    if override is not None:
        calc = _override_price(override).calc_price(priced)
        inp, out, total = calc["input_price"], calc["output_price"], calc["total_price"]
        if override.request:
            total += Decimal(str(override.request))
    else:
        price_provider = _PRICE_PROVIDER.get(provider_name) or _PRICE_PROVIDER.get(provider_type)
        found = next((f for m in models if (f := _find(price_provider, m)) is not None), None)
        if found is None:
            return None
        provider, model_info = found
        try:
            result = model_info.calc_price(priced, provider)
        except (LookupError, ValueError, TypeError):
            return None
        inp, out, total = result.input_price, result.output_price, result.total_price
    return {
        "input_tokens_cost": float(inp),
        "output_tokens_cost": float(out),
        "request_cost": float(total - inp - out),
        "total_cost": float(total),
    }


@lru_cache(maxsize=256)
def _override_price(entry: PriceEntry) -> ModelPrice:
    kwargs = {}
    for field, key in (
        ("input_mtok", "input_mtok"),
        ("output_mtok", "output_mtok"),
        ("cache_read_mtok", "cache_read_mtok"),
        ("cache_write_mtok", "cache_write_mtok"),
    ):
        value = getattr(entry, field)
        if value is not None:
            kwargs[key] = Decimal(str(value))
    return ModelPrice(**kwargs)


def context_window(provider_name: str, provider_type: str, model: str) -> int | None:
    """The model's context window in tokens, when the pricing table knows it."""
    found = _find(_PRICE_PROVIDER.get(provider_name) or _PRICE_PROVIDER.get(provider_type), model)
    window = getattr(found[1], "context_window", None) if found else None
    return window if isinstance(window, int) and window > 0 else None
