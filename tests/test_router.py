"""Model names -> targets: aliases, provider/model, bare names, ambiguity, fallbacks."""

from __future__ import annotations

from collections import Counter

import pytest

from ferryman.config import config_from_dict
from ferryman.gateway.keys import KeyPool
from ferryman.gateway.router import Router, Target
from ferryman.schemas.errors import AuthenticationError, InvalidRequestError, NotFoundError

CONFIG = config_from_dict(
    {
        "providers": {
            "openai": {"keys": [{"value": "a"}]},
            "anthropic": {"keys": [{"value": "b"}]},
            "groq": {"keys": [{"value": "c"}]},
            "local": {"type": "openai", "base_url": "http://127.0.0.1:1/v1"},
        },
        "models": [
            {"name": "smart", "target": "openai/gpt-4o-mini", "fallbacks": ["anthropic/claude-3-5-haiku-latest"]},
            {"name": "cheap", "target": "groq/meta-llama/llama-4-scout-17b-16e-instruct"},
        ],
    },
    {},
)
router = Router(CONFIG)


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("openai/gpt-4o-mini", Target("openai", "gpt-4o-mini")),
        ("local/my-model", Target("local", "my-model")),
        ("groq/openai/gpt-oss-120b", Target("groq", "openai/gpt-oss-120b")),
        ("cheap", Target("groq", "meta-llama/llama-4-scout-17b-16e-instruct")),
        ("gpt-4", Target("openai", "gpt-4")),
        ("o3-mini", Target("openai", "o3-mini")),
        ("claude-3-5-haiku-latest", Target("anthropic", "claude-3-5-haiku-latest")),
        ("llama-3.3-70b-versatile", Target("groq", "llama-3.3-70b-versatile")),  # only groq of its servers is here
    ],
)
def test_resolve(name: str, target: Target) -> None:
    assert router.resolve(name) == target


def test_alias_order_primary_then_request_then_alias_fallbacks() -> None:
    targets = router.targets("smart", ["openai/gpt-4o", "cheap"])
    assert [t.label for t in targets] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        "anthropic/claude-3-5-haiku-latest",
    ]
    assert [t.label for t in router.targets("smart", ["openai/gpt-4o-mini"])] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-3-5-haiku-latest",
    ]


def test_errors() -> None:
    with pytest.raises(InvalidRequestError, match="ambiguous") as info:
        Router(config_from_dict({"providers": {"openai": {}}}, {})).resolve("qwen-2.5-32b")
    assert "together" in info.value.message
    with pytest.raises(InvalidRequestError, match="GEMINI_API_KEY"):
        router.resolve("gemini-2.0-flash")
    with pytest.raises(NotFoundError, match="Unknown provider 'acme'"):
        router.resolve("acme/model")
    with pytest.raises(NotFoundError, match="Model aliases: cheap, smart"):
        router.resolve("whatever")
    with pytest.raises(NotFoundError) as fb:
        router.targets("smart", ["acme/x"])
    assert fb.value.param == "fallbacks"


def test_weighted_key_pick_and_model_scoping() -> None:
    provider = config_from_dict(
        {
            "providers": {
                "openai": {
                    "keys": [
                        {"value": "heavy", "weight": 3},
                        {"value": "light", "weight": 1},
                        {"value": "mini-only", "weight": 100, "models": ["gpt-4o-mini"]},
                        {"value": "off", "weight": 0},
                    ]
                }
            }
        },
        {},
    ).providers["openai"]
    picks = Counter(KeyPool(provider).pick("gpt-4o").secret.reveal() for _ in range(4000))  # type: ignore[union-attr]
    assert set(picks) == {"heavy", "light"}
    assert 0.70 < picks["heavy"] / 4000 < 0.80
    mini = Counter(KeyPool(provider).pick("gpt-4o-mini").secret.reveal() for _ in range(1000))  # type: ignore[union-attr]
    assert mini["mini-only"] > 900 and "off" not in mini  # scoped key allowed here, and by far the heaviest

    scoped = config_from_dict({"providers": {"openai": {"keys": [{"value": "x", "models": ["a"]}]}}}, {})
    with pytest.raises(AuthenticationError, match="may serve model 'b'"):
        KeyPool(scoped.providers["openai"]).pick("b")
    keyless = config_from_dict({"providers": {"local": {"type": "openai", "base_url": "http://x"}}}, {})
    assert KeyPool(keyless.providers["local"]).pick("m") is None
