"""usage.cost: USD prices of a reply, from the maintained ``genai-prices`` table or a config override.

A model with no known price gets ``cost: null`` (unknown), never zero (free); a provider type that
costs nothing (``mock``) gets zeros.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from genai_prices import Usage, data_snapshot
from genai_prices.types import ModelPrice, TieredPrices

from ferryman.config import PriceEntry
from ferryman.providers.catalog import KNOWN_PROVIDERS
from ferryman.providers.registry import PROVIDERS


def price_provider(provider_name: str, provider_type: str) -> str | None:
    """The genai-prices provider id: the well-known name's own (Groq, ...), else its type's."""
    known = KNOWN_PROVIDERS.get(provider_name)
    if known is not None and known.price_id is not None:
        return known.price_id
    spec = PROVIDERS.get(provider_type)
    return spec.price_id if spec is not None else None


_FREE = {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "request_cost": 0.0, "total_cost": 0.0}


def preload() -> None:
    """Load the pricing tables now (at start-up), not on the first request that needs a price."""
    data_snapshot.get_snapshot()


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


def token_counts(usage: Any) -> tuple[int, int]:
    """(input, output) tokens of an answer's ``usage``: a Responses one, or an embeddings one
    (``prompt_tokens``, and no output)."""
    if not isinstance(usage, dict):
        return 0, 0
    given, output = usage.get("input_tokens"), usage.get("output_tokens")  # (``_int``'s test, inline: every hook asks)
    if type(given) is not int or not given:
        given = _int(usage, "prompt_tokens")
    return given, output if type(output) is int else 0


def usage_counts(usage: dict[str, Any], output: Any = None) -> dict[str, int]:
    """Responses ``usage`` (and output items, for per-call tools), or an embeddings one -> genai-prices keys."""
    input_tokens, output_tokens = token_counts(usage)
    counts: dict[str, int] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    details = usage.get("input_tokens_details")
    if details:
        cached = _int(details, "cached_tokens")
        if cached:
            counts["cache_read_tokens"] = cached
        written = _int(details, "cache_write_tokens")
        if written:
            counts["cache_write_tokens"] = written
    details = usage.get("output_tokens_details")
    if details:
        reasoning = _int(details, "reasoning_tokens")
        if reasoning:
            counts["output_reasoning_tokens"] = reasoning
    if isinstance(output, list):
        searches = sum(1 for item in output if isinstance(item, dict) and item.get("type") == "web_search_call")
        if searches:
            counts["web_searches"] = searches
    return counts


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
    priced = _priced(provider_name, provider_type, models, overrides)
    if priced is None:
        return None
    if priced is _FREE_PRICE:
        return dict(_FREE)
    price, found, fee = priced
    counts = usage_counts(usage, output)
    if not fee and (costs := _fast_costs(price, counts)) is not None:
        return costs
    try:
        inp, out, total = _price(price, counts, found)
    except (LookupError, ValueError, TypeError):
        return None
    total += fee
    return {
        "input_tokens_cost": float(inp),
        "output_tokens_cost": float(out),
        "request_cost": float(total - inp - out),
        "total_cost": float(total),
    }


# a model's price: (the price now, the table's entry it came from (None: a config override), a fee per request)
Priced = tuple[ModelPrice, Any, Decimal]
_FREE_PRICE: Priced = (ModelPrice(), None, Decimal(0))  # a provider type that costs nothing (``mock``)
# (provider name, type, models, the config's overrides) -> (when resolved, the overrides, what it resolved to)
_PRICED: dict[tuple[str, str, tuple[str, ...], int], tuple[float, Any, Priced | None]] = {}


def _priced(
    provider_name: str, provider_type: str, models: tuple[str, ...], overrides: dict[str, PriceEntry] | None
) -> Priced | None:
    """What prices a call of ``models`` on that provider (None: no known price), resolved once an hour (a
    table's prices change on dates): the config's override first, a free provider type, then the table."""
    key = (provider_name, provider_type, models, id(overrides))
    now = time.monotonic()
    cached = _PRICED.get(key)
    if cached is not None and cached[1] is overrides and now - cached[0] < _PRICE_TTL:
        return cached[2]
    priced = _resolve(provider_name, provider_type, models, overrides)
    if len(_PRICED) >= 4096:
        _PRICED.clear()
    _PRICED[key] = (now, overrides, priced)
    return priced


def _resolve(
    provider_name: str, provider_type: str, models: tuple[str, ...], overrides: dict[str, PriceEntry] | None
) -> Priced | None:
    if overrides:
        override = next(
            (o for m in models for o in (overrides.get(f"{provider_name}/{m}"), overrides.get(m)) if o is not None),
            None,
        )
        if override is not None:
            fee = Decimal(str(override.request)) if override.request else Decimal(0)
            return _override_price(override), None, fee
    spec = PROVIDERS.get(provider_type)
    if spec is not None and spec.free:
        return _FREE_PRICE
    price_id = price_provider(provider_name, provider_type)
    found = next((f for m in models if (f := _find(price_id, m)) is not None), None)
    if found is None:
        return None
    try:
        return found[1].get_prices(datetime.now(tz=UTC)), found, Decimal(0)
    except (LookupError, ValueError, TypeError):
        return None


def _fast_costs(price: ModelPrice, counts: dict[str, int]) -> dict[str, float] | None:
    """``usage.cost`` from the fast path's whole amounts (``_amounts``), each divided once: the same floats as
    the Decimals' (both are the nearest float to the exact amount), without Decimal arithmetic."""
    found = _amounts(price, counts)
    if found is None:
        return None
    inp, out, fees, plan = found
    scale = plan.scale
    return {
        "input_tokens_cost": inp / scale,
        "output_tokens_cost": out / scale,
        "request_cost": fees / scale,
        "total_cost": (inp + out + fees) / scale,
    }


# --- the fast path ----------------------------------------------------------------------------------
# genai-prices computes a price in ~50 µs, a quarter of the gateway's own time per request. For the
# common case (per-token prices, plain or tiered by input size; token usage only) the same arithmetic
# is done here directly, in whole numbers (Decimal arithmetic and float() of Decimals took 10 of the 12 µs
# left); tests/test_usage.py checks it against the library for every such model in the table.

_SIMPLE_PRICES = frozenset(
    {
        "input_mtok",
        "output_mtok",
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",  # priced only for 1-hour cache writes, which these counts never hold
        "web_searches_kcount",
        "requests_kcount",
        "storage_searches_kcount",
    }
)
_SIMPLE_USAGE = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_reasoning_tokens",
        "web_searches",
    }
)
_MILLION = Decimal(1_000_000)
_THOUSAND = Decimal(1000)
_PRICE_TTL = 3600.0


def _price(price: ModelPrice, counts: dict[str, int], found: tuple[Any, Any] | None) -> tuple[Decimal, ...]:
    fast = fast_price(price, counts)
    if fast is not None:
        return fast
    usage = Usage(**counts)
    if found is None:
        calc = price.calc_price(usage)
        return calc["input_price"], calc["output_price"], calc["total_price"]
    result = found[1].calc_price(usage, found[0])
    return result.input_price, result.output_price, result.total_price


class _Plan:
    """A price's parts as the fast path reads them, once per price object, as whole numbers: each per-unit
    price times ``10**digits`` (the most decimal places of any of them), plain or tiered (``(base, ((start,
    price), ...))``). An amount is then a whole number of ``10**-(digits + 6)`` dollars (prices are per million
    tokens), exact, and ``amount / scale`` is the float nearest it, as ``float()`` of the same Decimal is."""

    __slots__ = ("digits", "flat", "parts", "scale")

    def __init__(self, parts: list[tuple[str, Any]]) -> None:
        values = [v for _, v in parts if isinstance(v, Decimal)]
        for _, v in parts:
            if isinstance(v, TieredPrices):
                values += [v.base, *(t.price for t in v.tiers)]
        digits = max((_places(v) for v in values), default=0)
        self.digits = digits + 6
        self.scale = 10**self.digits
        self.parts: dict[str, Any] = {name: _whole(value, digits) for name, value in parts}
        plain = all(isinstance(v, int) for v in self.parts.values())
        self.flat: dict[str, int] | None = self.parts if plain else None


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _whole(value: Any, digits: int) -> Any:
    """A price times ``10**digits``, as an int; a tiered one as ``(base, ((start, price), ...))`` of them."""
    if isinstance(value, Decimal):
        return int(value.scaleb(digits))
    tiers: TieredPrices = value
    return (_whole(tiers.base, digits), tuple((t.start, _whole(t.price, digits)) for t in reversed(tiers.tiers)))


_PLANS: dict[int, tuple[ModelPrice, _Plan | None]] = {}  # id(price) -> (price, its plan)


def _plan(price: ModelPrice) -> _Plan | None:
    """``_read_parts`` of a price as a ``_Plan``, once per price object."""
    found = _PLANS.get(id(price))
    if found is not None and found[0] is price:
        return found[1]
    parts = _read_parts(price)
    plan = None if parts is None else _Plan(parts)
    if len(_PLANS) >= 4096:
        _PLANS.clear()
    _PLANS[id(price)] = (price, plan)
    return plan


def _read_parts(price: ModelPrice) -> list[tuple[str, Any]] | None:
    """A price's set fields (name, value); None if one is not a per-token price the fast path knows
    (``_SIMPLE_PRICES``: plain or tiered)."""
    parts: list[tuple[str, Any]] = []
    for key, value in vars(price).items():
        if value is None or key.startswith("_"):
            continue
        if key not in _SIMPLE_PRICES or not isinstance(value, Decimal | TieredPrices):
            return None
        parts.append((key, value))
    return parts


def _tier(value: Any, input_tokens: int) -> int:
    """A per-unit price (``_whole``): a plain one, or the tier of a threshold-tiered one that ``input_tokens``
    falls in (crossing a tier prices every token at its rate, as genai-prices and the providers do)."""
    if isinstance(value, int):
        return value
    base, tiers = value
    for start, price in tiers:
        if input_tokens > start:
            return price  # type: ignore[no-any-return]
    return base  # type: ignore[no-any-return]


def _amounts(price: ModelPrice, counts: dict[str, int]) -> tuple[int, int, int, _Plan] | None:
    """(input, output, fees) in whole ``10**-plan.digits`` dollars for per-token prices (plain or tiered), and
    the plan; None when the library must decide."""
    plan = _plan(price)
    if plan is None or not counts.keys() <= _SIMPLE_USAGE:
        return None
    input_tokens = counts.get("input_tokens", 0)
    fields = plan.flat
    if fields is None:
        fields = {key: _tier(value, input_tokens) for key, value in plan.parts.items()}
    input_price = fields.get("input_mtok")
    output_price = fields.get("output_mtok")
    if input_price is None or output_price is None:
        return None
    searches = counts.get("web_searches", 0)
    if searches and "web_searches_kcount" not in fields:
        return None
    read = counts.get("cache_read_tokens", 0)
    written = counts.get("cache_write_tokens", 0)
    uncached = input_tokens - read - written
    if uncached < 0:
        return None
    inp = uncached * input_price
    if read:
        inp += read * fields.get("cache_read_mtok", input_price)
    if written:
        inp += written * fields.get("cache_write_mtok", input_price)
    fees = (searches * fields.get("web_searches_kcount", 0) + fields.get("requests_kcount", 0)) * 1000  # per 1,000
    return inp, counts["output_tokens"] * output_price, fees, plan


def fast_price(price: ModelPrice, counts: dict[str, int]) -> tuple[Decimal, Decimal, Decimal] | None:
    """(input, output, total) for per-token prices (plain or tiered), or None when the library must decide."""
    found = _amounts(price, counts)
    if found is None:
        return None
    inp, out, fees, plan = found
    shift = -plan.digits
    return Decimal(inp).scaleb(shift), Decimal(out).scaleb(shift), Decimal(inp + out + fees).scaleb(shift)


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


def priced_models(provider_name: str, provider_type: str) -> tuple[list[str], int]:
    """The models the pricing table lists for a provider (deprecated ones left out), and the table's date
    (unix seconds); nothing for a provider the table does not know."""
    snapshot = data_snapshot.get_snapshot()
    price_id = price_provider(provider_name, provider_type)
    provider = next((p for p in snapshot.providers if p.id == price_id), None) if price_id else None
    models = [m.id for m in provider.models if not m.deprecated] if provider is not None else []
    return models, int(snapshot.timestamp.timestamp())


def context_window(provider_name: str, provider_type: str, model: str) -> int | None:
    """The model's context window in tokens, when the pricing table knows it."""
    found = _find(price_provider(provider_name, provider_type), model)
    window = getattr(found[1], "context_window", None) if found else None
    return window if isinstance(window, int) and window > 0 else None
