"""The embeddings request as Ferryman accepts it (OpenAI's ``POST /v1/embeddings``), checked once at the door.

``input`` is a string, a list of strings, a list of token ids or a list of such lists, as OpenAI takes it;
``validate_embeddings`` turns it into ``inputs`` (one entry per vector asked for) and says whether they
are token arrays, which only a provider that takes tokens is sent (the others refuse them by name).
``fallbacks`` is the gateway's own, as on the Responses door; ``input_type`` is a hint for the providers
that take one (Cohere's ``input_type``, Gemini's ``taskType``), never sent to OpenAI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import decode_request

# OpenAI's own bound on the inputs of one request
MAX_INPUTS = 2048


class EmbeddingsRequest(Struct, kw_only=True):
    model: str
    input: str | list[Any]
    dimensions: Annotated[int, Meta(ge=1)] | None = None
    encoding_format: Literal["float", "base64"] = "float"
    user: str | None = None
    fallbacks: list[str] | None = None
    input_type: str | None = None
    # set by validate_embeddings: one entry per vector, texts or token arrays
    inputs: list[Any] = []  # list[str], or list[list[int]] when ``tokens``
    tokens: bool = False


def validate_embeddings(body: bytes) -> tuple[dict[str, Any], EmbeddingsRequest]:
    """Decode and check a request body; raise InvalidRequestError naming the bad field."""
    raw, req = decode_request(body, EmbeddingsRequest)
    req.inputs, req.tokens = _inputs(req.input)
    return raw, req


def _inputs(value: str | list[Any]) -> tuple[list[str] | list[list[int]], bool]:
    if isinstance(value, str):
        if not value:
            raise _invalid("input", "a non-empty string")
        return [value], False
    if not value or len(value) > MAX_INPUTS:
        raise _invalid("input", f"a list of 1 to {MAX_INPUTS} inputs")
    if all(isinstance(v, str) for v in value):
        for i, text in enumerate(value):
            if not text:
                raise _invalid(f"input[{i}]", "a non-empty string")
        return list(value), False
    if all(_token(v) for v in value):
        return [list(value)], True
    arrays: list[list[int]] = []
    for i, v in enumerate(value):
        if not (isinstance(v, list) and v and all(_token(t) for t in v)):
            raise _invalid(f"input[{i}]", "a non-empty list of token ids (like every other entry)")
        arrays.append(v)
    return arrays, True


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _invalid(param: str, what: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid value for '{param}': expected {what}.", param=param, code="invalid_value")
