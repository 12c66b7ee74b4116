"""What differs between Chat Completions servers, one table line per provider.

Every OpenAI-compatible server takes the same core request (``messages``, ``tools``, ``stream``) but
each differs at the edges: which field caps the output, whether reasoning effort or a usage chunk
may be asked for, how a model's own reasoning goes back in the next turn. Those differences live
here and nowhere else, so adding a provider is one line in ``QUIRKS``.

A provider is looked up by its config entry name (``mistral``, ``groq``, ...), then by its base
URL's host (a provider named ``my-groq`` pointed at api.groq.com is still Groq); anything else gets
``DEFAULT``, the plain OpenAI Chat Completions contract most local servers (vLLM, llama.cpp, LM Studio)
implement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

# how our reasoning items go back to the provider in a later turn
Replay = Literal["think", "reasoning_content", "reasoning_details", "mistral"]


@dataclass(frozen=True, slots=True)
class Quirks:
    max_tokens_field: str = "max_tokens"  # or "max_completion_tokens" (OpenAI's reasoning models need it)
    stream_usage: bool = True  # send stream_options.include_usage (a usage chunk before [DONE])
    reasoning_effort: bool = True  # the server takes ``reasoning_effort``
    # Responses effort -> the provider's word for it; levels not listed are sent as they are
    efforts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    reasoning_object: bool = False  # OpenRouter: ``reasoning: {effort | max_tokens}``, a budget too
    thinking_toggle: bool = False  # DeepSeek: ``thinking: {type: enabled|disabled}`` beside the effort
    reasoning_format: str | None = None  # Groq: ask for reasoning in its own field, not in <think> tags
    # the models that take a reasoning setting (a regular expression searched in the model name);
    # None: every model. To the others reasoning.* is a hint, not sent (Groq refuses it for Llama)
    reasoning_models: str | None = None
    replay: Replay | None = None  # how our reasoning items are sent back; None: left out
    think_tags: bool = True  # <think>...</think> at the start of the content is reasoning
    reasoning_in_completion: bool = True  # completion_tokens already counts reasoning tokens
    tools: bool = True
    parallel_tool_calls: bool = True  # the server takes ``parallel_tool_calls``
    required_choice: str = "required"  # Mistral's word for "call some tool" is "any"
    allowed_tools: bool = False  # OpenAI's ``tool_choice: {type: allowed_tools}``
    json_schema: bool = True  # ``response_format: {type: json_schema}``
    json_object: bool = True
    logprobs: bool = True  # ``logprobs`` / ``top_logprobs`` as OpenAI takes them
    files: Literal["file", "document_url"] | None = "file"  # OpenAI ``file`` parts / Mistral document_url
    web_search: Literal["openai", "perplexity"] | None = None  # ``web_search_options`` and its shape
    verbosity: bool = False  # OpenAI's ``verbosity``
    openai_hints: bool = False  # forward service_tier, prompt_cache_key, safety_identifier
    user: bool = False  # the server takes ``user``
    cache_control: bool = False  # OpenRouter passes content parts' cache_control to Anthropic/Gemini
    # embeddings: which API serves them, what ``dimensions`` is called, whether token arrays are taken
    embed_api: Literal["openai", "cohere"] = "openai"  # Cohere: its own v2 ``/embed`` (texts, input_type)
    embed_dimensions: str = "dimensions"  # Mistral: ``output_dimension``
    embed_tokens: bool = True  # ``input`` as token ids (OpenAI, vLLM); Mistral and Ollama take text only


DEFAULT = Quirks()
_FRONTIER = {"minimal": "low", "xhigh": "high", "max": "high"}  # for servers that know low/medium/high only

OPENAI = Quirks(
    max_tokens_field="max_completion_tokens",
    reasoning_models=r"(^|/)(o\d|gpt-5|codex)",  # gpt-4o, gpt-4.1 refuse reasoning_effort
    allowed_tools=True,
    web_search="openai",
    verbosity=True,
    openai_hints=True,
    user=True,
    think_tags=False,  # OpenAI never sends its reasoning as text
)

QUIRKS: dict[str, Quirks] = {
    "openai": OPENAI,
    "azure": replace(OPENAI, web_search=None, reasoning_models=None),  # deployments are named freely
    "mistral": Quirks(
        stream_usage=False,  # Mistral sends usage on its last chunk unasked
        efforts=MappingProxyType(_FRONTIER),
        replay="mistral",
        required_choice="any",
        logprobs=False,
        files="document_url",
        embed_dimensions="output_dimension",
        embed_tokens=False,
    ),
    "groq": Quirks(
        max_tokens_field="max_completion_tokens",
        stream_usage=False,  # usage comes in x_groq on the last chunk
        reasoning_format="parsed",
        reasoning_models=r"gpt-oss|qwen3|deepseek-r1|kimi-k2|magistral",  # Llama refuses reasoning_effort
        replay="think",
        logprobs=False,
        files=None,
        user=True,
    ),
    "deepseek": Quirks(
        thinking_toggle=True,
        efforts=MappingProxyType({"minimal": "low", "medium": "high", "xhigh": "max"}),
        replay="reasoning_content",  # required back after tool calls in thinking mode
        json_schema=False,
        files=None,
        parallel_tool_calls=False,
    ),
    "xai": Quirks(
        max_tokens_field="max_completion_tokens",
        reasoning_in_completion=False,  # xAI counts reasoning tokens beside completion tokens
        files=None,
        user=True,
    ),
    "together": Quirks(logprobs=False, files=None, user=True),  # Together's logprobs is a count, not a flag
    "fireworks": Quirks(files=None, user=True),
    "cerebras": Quirks(max_tokens_field="max_completion_tokens", files=None, user=True),
    "perplexity": Quirks(
        stream_usage=False,  # usage rides on every chunk
        tools=False,
        json_object=False,
        logprobs=False,
        files=None,
        web_search="perplexity",
    ),
    "openrouter": Quirks(
        reasoning_object=True,
        reasoning_effort=False,
        replay="reasoning_details",
        web_search="openai",
        user=True,
        cache_control=True,
    ),
    "cohere": Quirks(
        stream_usage=False,
        parallel_tool_calls=False,
        logprobs=False,
        files=None,
        efforts=MappingProxyType({"minimal": "low", "xhigh": "high", "max": "high"}),
        embed_api="cohere",
    ),
    "ollama": Quirks(efforts=MappingProxyType(_FRONTIER), files=None, embed_tokens=False),
    "lmstudio": Quirks(files=None),
    "vllm": Quirks(files=None),
}

# base URL host -> table line, for entries named freely
_HOSTS = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "azure"),
    ("mistral.ai", "mistral"),
    ("groq.com", "groq"),
    ("deepseek.com", "deepseek"),
    ("x.ai", "xai"),
    ("together.xyz", "together"),
    ("together.ai", "together"),
    ("fireworks.ai", "fireworks"),
    ("cerebras.ai", "cerebras"),
    ("perplexity.ai", "perplexity"),
    ("openrouter.ai", "openrouter"),
    ("cohere.ai", "cohere"),
    ("cohere.com", "cohere"),
)


def quirks_for(name: str, base_url: str | None) -> Quirks:
    """The table line for a provider entry: by name, then by the host it points at, else DEFAULT."""
    found = QUIRKS.get(name)
    if found is not None:
        return found
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    for suffix, key in _HOSTS:
        if host == suffix or host.endswith("." + suffix):
            return QUIRKS[key]
    return DEFAULT
