"""The OpenTelemetry GenAI semantic conventions' words for what Ferryman knows: who a provider is
(``gen_ai.system`` or ``gen_ai.provider.name``), why an answer ended (``gen_ai.response.finish_reasons``),
where a provider is (``server.address``). Nothing here imports OpenTelemetry.

The conventions are still moving, and their transition plan says how: an instrumentation keeps emitting
the version it emitted (v1.36 and before) unless ``OTEL_SEMCONV_STABILITY_OPT_IN`` lists
``gen_ai_latest_experimental``; then it emits the latest names instead (never both). ``Conventions`` is
the one place that knows the two: the released names by default, the latest ones on that opt-in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ferryman.providers.base import Provider
from ferryman.providers.spec import ProviderConfig

OPERATION = "chat"  # the Responses API is a chat operation in the conventions' words

# the conventions' well-known values, by provider type
BY_TYPE = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "mock": "ferryman.mock",
}
# ``gen_ai.system`` (v1.36) spelled one well-known value otherwise than ``gen_ai.provider.name`` does
_RELEASED_NAME = {"x_ai": "xai"}
_JSON_FORMATS = frozenset({"json_schema", "json_object"})


class Conventions:
    """The names one version of the GenAI conventions gives to what Ferryman reports.

    Released (the default, v1.36): the provider is ``gen_ai.system``, and ``gen_ai.provider.name`` too (the
    name that replaced it, which collectors built for the newer releases read); OpenAI's request fields are
    ``gen_ai.openai.request.response_format`` (``text``, ``json_object``, ``json_schema``) and
    ``gen_ai.openai.{request,response}.service_tier``. Latest (``gen_ai_latest_experimental``): the
    provider is ``gen_ai.provider.name``; the format is ``gen_ai.output.type`` (``text``, ``json``);
    the service tiers are ``openai.{request,response}.service_tier``; and the usage details it added,
    ``gen_ai.usage.cache_read.input_tokens`` and ``gen_ai.usage.reasoning.output_tokens``, are set.
    """

    __slots__ = ("latest", "output_type", "request_tier", "response_tier")

    def __init__(self, latest: bool) -> None:
        self.latest = latest
        self.output_type = "gen_ai.output.type" if latest else "gen_ai.openai.request.response_format"
        self.request_tier = "openai.request.service_tier" if latest else "gen_ai.openai.request.service_tier"
        self.response_tier = "openai.response.service_tier" if latest else "gen_ai.openai.response.service_tier"

    def provider_attributes(self, name: str) -> dict[str, str]:
        """The attributes that name a provider (``name`` as ``provider_name`` gives it), in this version."""
        if self.latest:
            return {"gen_ai.provider.name": name}
        return {"gen_ai.system": _RELEASED_NAME.get(name, name), "gen_ai.provider.name": name}

    def output_value(self, format_type: str) -> str:
        """A request's ``text.format.type`` as this version's output type."""
        if self.latest:
            return "json" if format_type in _JSON_FORMATS else format_type
        return format_type


# a Chat Completions host the conventions name (by its well-known entry name in ``providers/catalog.py``)
BY_NAME = {
    "groq": "groq",
    "xai": "x_ai",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
}

# why a Responses answer ended, as the conventions (after OpenAI's finish_reason) say it
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_TOOL_CALLS = frozenset({"function_call", "custom_tool_call"})


def provider_name(config: ProviderConfig) -> str:
    """``gen_ai.provider.name`` of a configured provider: the conventions' value for its type or its
    well-known name; any other Chat Completions server by its type (``Conventions.provider_attributes`` adds
    the released ``gen_ai.system`` spelling by default)."""
    if config.type == "openai-chat":
        return BY_NAME.get(config.name, config.type)
    return BY_TYPE.get(config.type, config.type)


def server_of(provider: Provider) -> tuple[str | None, int | None]:
    """``server.address`` and ``server.port`` of a provider, when its base URL is known before a call."""
    url = getattr(provider, "base_url", None) or provider.config.base_url
    if not isinstance(url, str) or not url:
        return None, None
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None, None
    return parts.hostname, port


def finish_reasons(response: dict[str, Any]) -> list[str]:
    """The finish reason of a Responses answer: ``tool_call`` when it asks for a tool, ``length`` or
    ``content_filter`` when it is incomplete for that, ``error`` when it failed, else ``stop``."""
    status = response.get("status")
    if status == "failed":
        return ["error"]
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return [_INCOMPLETE.get(reason, str(reason)) if isinstance(reason, str) else "length"]
    output = response.get("output")
    if isinstance(output, list) and any(isinstance(item, dict) and item.get("type") in _TOOL_CALLS for item in output):
        return ["tool_call"]
    return ["stop"]
