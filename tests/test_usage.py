"""usage.cost from the maintained pricing table, cached tokens, unknown models, config overrides."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from ferryman.config import PriceEntry
from ferryman.gateway.usage import compute_cost
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture


def _cost(usage: dict, model: str = "gpt-4o", **kw) -> dict | None:
    return compute_cost(usage, provider_name="openai", provider_type="openai", model=model, **kw)


def test_gpt4o_prices_and_cached_tokens_are_cheaper() -> None:
    plain = _cost({"input_tokens": 1_000_000, "output_tokens": 1_000_000})
    assert plain == {"input_tokens_cost": 2.5, "output_tokens_cost": 10.0, "request_cost": 0.0, "total_cost": 12.5}
    cached = _cost({"input_tokens": 1_000_000, "input_tokens_details": {"cached_tokens": 400_000}, "output_tokens": 0})
    assert cached is not None
    assert cached["input_tokens_cost"] == pytest.approx(0.6 * 2.5 + 0.4 * 1.25)


def test_reasoning_tokens_are_output_tokens() -> None:
    usage = load_fixture("openai-responses/reasoning_summary")["response"]["body"]["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0
    cost = _cost(usage, model="gpt-5.2")
    assert cost is not None
    no_reasoning = _cost(
        {**usage, "output_tokens": usage["output_tokens"] - usage["output_tokens_details"]["reasoning_tokens"]},
        model="gpt-5.2",
    )
    assert no_reasoning is not None and cost["output_tokens_cost"] > no_reasoning["output_tokens_cost"]


def test_web_search_calls_are_priced_per_call() -> None:
    body = load_fixture("openai-responses/web_search")["response"]["body"]
    with_calls = _cost(body["usage"], model="gpt-5", output=body["output"])
    without = _cost(body["usage"], model="gpt-5")
    assert with_calls is not None and without is not None
    assert with_calls["request_cost"] > 0 and without["request_cost"] == 0


def test_unknown_model_has_null_cost_not_zero() -> None:
    assert _cost({"input_tokens": 10, "output_tokens": 10}, model="my-private-finetune") is None


def test_config_override() -> None:
    entry = PriceEntry(input_mtok=1.0, output_mtok=2.0, request=0.5)
    cost = _cost(
        {"input_tokens": 1_000_000, "output_tokens": 1_000_000}, model="my-model", overrides={"openai/my-model": entry}
    )
    assert cost == {"input_tokens_cost": 1.0, "output_tokens_cost": 2.0, "request_cost": 0.5, "total_cost": 3.5}


def test_a_models_price_is_found_once_and_each_configs_overrides_are_its_own() -> None:
    """What prices a model is resolved once (an hour) per provider, models and config; another config's
    overrides (a reloaded config) are read anew, and a model priced by one is the table's for the next."""
    usage = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    first = {"openai/gpt-4o": PriceEntry(input_mtok=1.0, output_mtok=2.0)}
    second = {"openai/gpt-4o": PriceEntry(input_mtok=3.0, output_mtok=4.0, request=0.25)}
    assert _cost(usage, overrides=first) == _cost(usage, overrides=first)
    assert _cost(usage, overrides=first) == {
        "input_tokens_cost": 1.0,
        "output_tokens_cost": 2.0,
        "request_cost": 0.0,
        "total_cost": 3.0,
    }
    assert _cost(usage, overrides=second) == {
        "input_tokens_cost": 3.0,
        "output_tokens_cost": 4.0,
        "request_cost": 0.25,
        "total_cost": 7.25,
    }
    table = _cost(usage, overrides={})
    assert table is not None and table["total_cost"] == 12.5  # gpt-4o in the table
    free = compute_cost(usage, provider_name="mock", provider_type="mock", model="gpt-4o")
    assert free == {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "request_cost": 0.0, "total_cost": 0.0}
    free["total_cost"] = 9.0  # a caller's copy: the next answer is zeros still
    assert compute_cost(usage, provider_name="mock", provider_type="mock", model="gpt-4o") == {
        **free,
        "total_cost": 0.0,
    }


def test_cost_through_the_gateway(fake: FakeUpstream) -> None:
    config = base_config(fake, pricing={"gpt-4o": {"input_mtok": 1000, "output_mtok": 1000}})
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    with GatewayServer(config) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        response = client.responses.create(model="smart", input="hi")
    usage = load_fixture("openai-responses/text_basic")["response"]["body"]["usage"]
    assert response.usage.cost["total_cost"] == pytest.approx(  # type: ignore[union-attr]
        (usage["input_tokens"] + usage["output_tokens"]) * 1000 / 1e6
    )


def test_fast_path_agrees_with_the_pricing_library_for_every_simple_model() -> None:
    """The fast path's Decimals equal the library's, and usage.cost's floats are the floats of those."""
    from datetime import UTC, datetime

    from genai_prices import Usage, data_snapshot
    from genai_prices.types import TieredPrices

    from ferryman.gateway.usage import _fast_costs, fast_price

    samples = [
        {"input_tokens": 1234, "output_tokens": 567},
        {"input_tokens": 10_000, "cache_read_tokens": 4000, "output_tokens": 10},
        {"input_tokens": 9000, "cache_read_tokens": 1000, "cache_write_tokens": 3000, "output_tokens": 2000},
        {"input_tokens": 500, "output_tokens": 900, "output_reasoning_tokens": 600},
        {"input_tokens": 500, "output_tokens": 90, "web_searches": 2},
        {"input_tokens": 300_000, "cache_read_tokens": 100_000, "output_tokens": 4000},  # past 200k tiers
        {"input_tokens": 1_500_000, "cache_write_tokens": 10_000, "output_tokens": 10},
    ]
    checked = tiered = 0
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            price = model.get_prices(datetime.now(tz=UTC))
            for counts in samples:
                fast = fast_price(price, counts)
                if fast is None:
                    continue
                lib = model.calc_price(Usage(**counts), provider)
                assert fast == (lib.input_price, lib.output_price, lib.total_price), (provider.id, model.id, counts)
                costs = _fast_costs(price, counts)  # usage.cost's floats, made without Decimals
                assert costs == {
                    "input_tokens_cost": float(lib.input_price),
                    "output_tokens_cost": float(lib.output_price),
                    "request_cost": float(lib.total_price - lib.input_price - lib.output_price),
                    "total_cost": float(lib.total_price),
                }, (provider.id, model.id, counts)
                checked += 1
                tiered += any(isinstance(v, TieredPrices) for v in vars(price).values())
    assert checked > 3000  # most of the table takes the fast path
    assert tiered > 100  # long-context (tiered) prices too


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        ({"input_tokens": 3, "output_tokens": 4}, (3, 4)),  # a Responses usage
        ({"prompt_tokens": 5, "total_tokens": 5}, (5, 0)),  # an embeddings one
        ({"input_tokens": 0, "prompt_tokens": 7}, (7, 0)),
        ({"input_tokens": True, "output_tokens": False}, (0, 0)),  # not counts
        ({"input_tokens": "9", "output_tokens": 2.0}, (0, 0)),
        ({}, (0, 0)),
        (None, (0, 0)),
    ],
)
def test_token_counts(usage: Any, counts: tuple[int, int]) -> None:
    from ferryman.gateway.usage import token_counts

    assert token_counts(usage) == counts
