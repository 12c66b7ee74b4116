"""Provider type -> adapter class. Adding a provider touches its own module and one line here."""

from __future__ import annotations

import importlib

from ferryman.config import ProviderConfig
from ferryman.providers.base import Provider
from ferryman.schemas.errors import NotImplementedYetError

# provider type -> "module:class"; imported only when a config uses the type
ADAPTERS: dict[str, str] = {
    "openai": "ferryman.providers.openai:OpenAIResponsesProvider",
    "openai-chat": "ferryman.providers.openai_chat:ChatCompletionsProvider",
    "anthropic": "ferryman.providers.anthropic:AnthropicProvider",
    "gemini": "ferryman.providers.gemini:GeminiProvider",
    "vertex": "ferryman.providers.gemini:VertexProvider",
    "bedrock": "ferryman.providers.bedrock:BedrockProvider",
    "azure": "ferryman.providers.azure:AzureProvider",
    "mock": "ferryman.providers.mock:MockProvider",
}


def _adapter_class(ptype: str) -> type | None:
    ref = ADAPTERS.get(ptype)
    if ref is None:
        return None
    module, _, name = ref.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None  # this build has no such adapter yet
        raise
    return getattr(mod, name)  # type: ignore[no-any-return]


class UnavailableProvider:
    """A configured provider whose adapter this build does not have: every call says so."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def _refuse(self) -> NotImplementedYetError:
        return NotImplementedYetError(
            f"provider {self.name!r} has type {self.config.type!r}, which this Ferryman build cannot serve yet"
        )

    async def create(self, call):  # type: ignore[no-untyped-def]
        raise self._refuse()

    async def stream(self, call):  # type: ignore[no-untyped-def]
        raise self._refuse()


def build_provider(config: ProviderConfig) -> Provider:
    cls = _adapter_class(config.type)
    if cls is None:
        return UnavailableProvider(config)  # type: ignore[return-value]
    return cls(config)  # type: ignore[no-any-return]
