"""The mock provider's own settings: how long it takes before its first token, and how fast it talks."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from ferryman.providers.spec import Positive, ProviderConfig


class MockConfig(ProviderConfig):
    latency_ms: Annotated[float, Meta(ge=0)] = 0.0  # before the first token (default: at once)
    tokens_per_second: Positive | None = None  # the pace of its output (default: unpaced)

    def summary(self) -> str:
        pace = f"{self.tokens_per_second:g} tokens/s" if self.tokens_per_second else "unpaced"
        return f"type=mock (answers by itself) latency_ms={self.latency_ms:g} {pace}"
