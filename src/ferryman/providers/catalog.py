"""Well-known provider names: data about who serves what, before reading any config.

A config entry's name is free; its ``type`` picks the adapter (``providers/registry.py`` lists the
types and all they imply). A well-known name (``openai``, ``groq``, ...) brings its defaults:
provider type, base URL (exactly what the provider's official SDK calls its base URL), the
environment variable of its key, its id in the price table when that is not its type's, and the
model-name prefixes that let a bare name such as ``claude-3-5-haiku-latest`` find its provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class KnownProvider:
    name: str
    type: str
    base_url: str | None
    key_env: str | None
    prefixes: tuple[str, ...] = ()
    price_id: str | None = None  # its genai-prices provider id, when not its type's (a Chat Completions host)
    needs_key: bool = True  # False: a server that takes no key (a keyless type, e.g. bedrock, never needs one)
    also_enabled_by: tuple[str, ...] = ()  # env vars that enable it without a config file, besides key_env
    builtin: bool = False  # always configured, unless its config entry says ``enabled: false``
    # (type, base URL) of another API the provider serves: an entry picks it by ``type``, or by a base_url
    # with that URL's path (such an entry written before ``type`` defaulted to the first API keeps working)
    also: tuple[tuple[str, str], ...] = ()

    @property
    def enabled_by(self) -> tuple[str, ...]:
        return ((self.key_env,) if self.key_env else ()) + self.also_enabled_by

    @property
    def base_url_env(self) -> str:
        return f"{self.name.upper().replace('-', '_')}_BASE_URL"

    def type_for(self, base_url: object) -> str:
        """The type of an entry that names none: the other API whose path ``base_url`` has, else the default."""
        if isinstance(base_url, str):
            path = urlsplit(base_url).path.rstrip("/")
            for ptype, url in self.also:
                if path and path == urlsplit(url).path.rstrip("/"):
                    return ptype
        return self.type

    def base_url_for(self, ptype: str) -> str | None:
        """The default base URL of an entry of type ``ptype``."""
        return next((url for other, url in self.also if other == ptype), self.base_url)


KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    p.name: p
    for p in (
        KnownProvider(
            "openai",
            "openai",
            "https://api.openai.com/v1",
            "OPENAI_API_KEY",
            ("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-", "computer-use-", "text-embedding-", "dall-e"),
        ),
        KnownProvider("azure", "azure", None, "AZURE_API_KEY"),
        KnownProvider("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", ("claude-",)),
        KnownProvider(
            "gemini",
            "gemini",
            "https://generativelanguage.googleapis.com",
            "GEMINI_API_KEY",
            ("gemini-", "gemma-", "learnlm-"),
        ),
        KnownProvider("vertex", "vertex", None, None, also_enabled_by=("VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")),
        # a Bedrock API key is a bearer token; without one, requests are SigV4-signed with AWS credentials
        KnownProvider("bedrock", "bedrock", None, "AWS_BEARER_TOKEN_BEDROCK", also_enabled_by=("AWS_ACCESS_KEY_ID",)),
        KnownProvider(
            "mistral",
            "openai-chat",
            "https://api.mistral.ai/v1",
            "MISTRAL_API_KEY",
            ("mistral-", "ministral-", "magistral-", "codestral-", "pixtral-", "open-mistral-", "devstral-"),
            price_id="mistral",
        ),
        KnownProvider("groq", "openai-chat", "https://api.groq.com/openai/v1", "GROQ_API_KEY", price_id="groq"),
        KnownProvider(
            "cohere",
            "cohere",
            "https://api.cohere.com",
            "COHERE_API_KEY",
            ("command-", "c4ai-"),
            also=(("openai-chat", "https://api.cohere.ai/compatibility/v1"),),  # its OpenAI-compatibility API
        ),
        KnownProvider(
            "deepseek",
            "openai-chat",
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
            ("deepseek-",),
            price_id="deepseek",
        ),
        KnownProvider("xai", "openai-chat", "https://api.x.ai/v1", "XAI_API_KEY", ("grok-",), price_id="x-ai"),
        KnownProvider(
            "together", "openai-chat", "https://api.together.xyz/v1", "TOGETHER_API_KEY", price_id="together"
        ),
        KnownProvider(
            "fireworks",
            "openai-chat",
            "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_API_KEY",
            price_id="fireworks",
        ),
        KnownProvider("cerebras", "openai-chat", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY", price_id="cerebras"),
        KnownProvider(
            "perplexity",
            "openai-chat",
            "https://api.perplexity.ai",
            "PERPLEXITY_API_KEY",
            ("sonar",),
            price_id="perplexity",
        ),
        KnownProvider(
            "openrouter", "openai-chat", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", price_id="openrouter"
        ),
        KnownProvider("ollama", "openai-chat", "http://localhost:11434/v1", None, needs_key=False),
        KnownProvider("lmstudio", "openai-chat", "http://localhost:1234/v1", None, needs_key=False),
        KnownProvider("vllm", "openai", None, "VLLM_API_KEY", needs_key=False),
        # answers by itself (providers/mock/): Ferryman can be tried, tested and load-tested without a key
        KnownProvider("mock", "mock", None, None, needs_key=False, builtin=True),
    )
}

# Bare names served by several providers: never guessed, the error lists who could serve them.
AMBIGUOUS_PREFIXES: dict[str, tuple[str, ...]] = {
    "llama": ("groq", "together", "fireworks", "cerebras", "bedrock", "ollama"),
    "meta-llama": ("groq", "together", "openrouter"),
    "qwen": ("groq", "together", "fireworks", "cerebras", "ollama"),
    "gpt-oss": ("openai", "groq", "together", "fireworks", "cerebras", "ollama"),
    "mixtral": ("mistral", "groq", "together", "fireworks"),
    "kimi": ("groq", "together", "fireworks"),
    "phi-": ("azure", "ollama"),
}


def infer_providers(model: str) -> tuple[list[str], bool]:
    """Providers that could serve a bare model name, and whether the name is ambiguous."""
    lower = model.lower()
    for prefix, candidates in AMBIGUOUS_PREFIXES.items():
        if lower.startswith(prefix):
            return list(candidates), True
    for known in KNOWN_PROVIDERS.values():
        if any(lower.startswith(p) for p in known.prefixes):
            return [known.name], False
    return [], False
