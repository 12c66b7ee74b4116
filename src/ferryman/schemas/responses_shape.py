"""The Responses API request's typed shape: the msgspec structs a body is validated into.

Apart from the checks that use them (``responses.py``, compiled with the hot path): mypyc compiles the
functions of a module, and a struct's annotations must stay the ones msgspec reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

NonNegInt = Annotated[int, Meta(ge=0)]
PosInt = Annotated[int, Meta(ge=1)]


class CacheControl(Struct, omit_defaults=True):
    type: str = "ephemeral"
    ttl: str | None = None


class Reasoning(Struct, omit_defaults=True):
    # open strings: a provider may add effort levels before Ferryman learns of them
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None
    max_tokens: NonNegInt | None = None


class JsonSchemaFormat(Struct, omit_defaults=True):
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


class TextFormat(Struct, omit_defaults=True):
    type: Literal["text", "json_schema", "json_object"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None
    json_schema: JsonSchemaFormat | None = None


class TextConfig(Struct, omit_defaults=True):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class Tool(Struct, omit_defaults=True):
    """One entry of ``tools``; only the fields Ferryman itself reads are typed."""

    type: str
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    cache_control: CacheControl | None = None


class ConversationRef(Struct):
    """``conversation`` as an object: ``{"id": "conv_..."}``."""

    id: str


class ResponsesRequest(Struct, omit_defaults=True):
    model: str
    input: str | list[dict[str, Any]] | None = None
    stream: bool = False
    instructions: str | None = None
    max_output_tokens: PosInt | None = None
    max_tool_calls: PosInt | None = None
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    previous_response_id: str | None = None
    conversation: str | ConversationRef | None = None  # kept by Ferryman (gateway/conversations.py)
    reasoning: Reasoning | None = None
    store: bool | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | None = None
    text: TextConfig | None = None
    tool_choice: str | dict[str, Any] | None = None
    tools: list[Tool] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    user: str | None = None
    include: list[str] | None = None
    service_tier: str | None = None
    background: bool | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None
    fallbacks: list[str] | None = None
    stop: str | list[str] | None = None
    top_k: NonNegInt | None = None
