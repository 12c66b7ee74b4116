"""Every provider type Ferryman serves, one line each: adding a provider touches its package and one line here.

A line is a ``ProviderSpec`` (``providers/spec.py``): the type name, its adapter and config struct
(named, imported only when a config uses the type), its price-table id, and what the gateway must
know about how it keeps conversations. The config loader, the router's pricing and the
conversation store all read this list rather than tables of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferryman.providers.spec import ProviderConfig, ProviderSpec

if TYPE_CHECKING:
    from ferryman.providers.base import Provider

PROVIDERS: dict[str, ProviderSpec] = {
    spec.type: spec
    for spec in (
        ProviderSpec(
            "openai",
            "ferryman.providers.openai:OpenAIResponsesProvider",
            price_id="openai",
            native_responses=True,
            needs_base_url=True,
            embeddings="ferryman.providers.openai_chat.embeddings:OpenAIEmbeddings",
        ),
        ProviderSpec(
            "openai-chat",
            "ferryman.providers.openai_chat:ChatCompletionsProvider",
            needs_base_url=True,
            embeddings="ferryman.providers.openai_chat.embeddings:chat_embeddings",
        ),
        ProviderSpec("anthropic", "ferryman.providers.anthropic:AnthropicProvider", price_id="anthropic"),
        ProviderSpec(
            "cohere",
            "ferryman.providers.cohere:CohereProvider",
            price_id="cohere",
            embeddings="ferryman.providers.cohere.embeddings:CohereEmbeddings",
        ),
        ProviderSpec(
            "gemini",
            "ferryman.providers.gemini:GeminiProvider",
            "ferryman.providers.gemini.config:GeminiConfig",
            "google",
            embeddings="ferryman.providers.gemini.embeddings:GeminiEmbeddings",
        ),
        ProviderSpec(
            "vertex",
            "ferryman.providers.gemini:VertexProvider",
            "ferryman.providers.gemini.config:VertexConfig",
            "google",
            keyless=True,
        ),
        ProviderSpec(
            "bedrock",
            "ferryman.providers.bedrock:BedrockProvider",
            "ferryman.providers.bedrock.config:BedrockConfig",
            "aws",
            keyless=True,
            embeddings="ferryman.providers.bedrock.embeddings:BedrockEmbeddings",
        ),
        ProviderSpec(
            "azure",
            "ferryman.providers.azure:AzureProvider",
            "ferryman.providers.azure:AzureConfig",
            "azure",
            native_responses=True,
            embeddings="ferryman.providers.azure:AzureEmbeddings",
        ),
        ProviderSpec(
            "mock",
            "ferryman.providers.mock:MockProvider",
            "ferryman.providers.mock.config:MockConfig",
            free=True,
            embeddings="ferryman.providers.mock.embeddings:MockEmbeddings",
            models=("echo", "gpt-4o", "embeddings"),
        ),
    )
}


def build_provider(config: ProviderConfig) -> Provider:
    """The adapter for a loaded config (whose type the loader already checked is listed)."""
    return PROVIDERS[config.type].adapter_class()(config)
