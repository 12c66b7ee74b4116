"""Provider type -> adapter class. Adding a provider touches its own module and one line here."""

from __future__ import annotations

from ferryman.config import ProviderConfig
from ferryman.providers.base import Provider
from ferryman.providers.openai import OpenAIResponsesProvider
from ferryman.schemas.errors import NotImplementedYetError

ADAPTERS: dict[str, type] = {
    "openai": OpenAIResponsesProvider,
}


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
            f"provider {self.name!r} has type {self.config.type!r}, which this Ferryman build cannot "
            f"serve yet (available: {', '.join(sorted(ADAPTERS))})"
        )

    async def create(self, call):  # type: ignore[no-untyped-def]
        raise self._refuse()

    async def stream(self, call):  # type: ignore[no-untyped-def]
        raise self._refuse()


def build_provider(config: ProviderConfig) -> Provider:
    cls = ADAPTERS.get(config.type)
    if cls is None:
        return UnavailableProvider(config)  # type: ignore[return-value]
    return cls(config)  # type: ignore[no-any-return]
