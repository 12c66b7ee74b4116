"""The canonical response's ``usage`` object, as every adapter makes it (compiled with the hot path)."""

from __future__ import annotations

from typing import Any


def usage_object(
    input_tokens: int,
    output_tokens: int,
    *,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> dict[str, Any]:
    """The canonical response's ``usage``: input tokens include cached and cache-written ones."""
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens, "cache_write_tokens": cache_write_tokens},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }
