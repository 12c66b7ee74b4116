"""What every provider's embeddings capability shares: the contract, and OpenAI's reply shape.

A provider type that serves embeddings names its capability in its registry line
(``ProviderSpec.embeddings``, ``"module:Class"``, imported on the first embeddings request it gets). The
class is built once from the type's adapter (its connection pool, auth, timeouts and error mapping) and
turns the canonical ``EmbeddingsRequest`` into the provider's native call and its answer into OpenAI's
shape (``reply``): ``data`` in input order, ``usage`` as ``prompt_tokens`` / ``total_tokens``, vectors as
floats or, with ``encoding_format: base64``, as OpenAI sends them: the little-endian float32 bytes,
base64-encoded (``as_base64``: a provider that gives floats is converted here).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ferryman.providers.base import Call, UpstreamReply
from ferryman.providers.malformed import malformed
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import InvalidRequestError


class Embeddings(Protocol):
    """One provider's embeddings: ``call`` carries the deployment, the key, the timeout and extra headers."""

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply: ...


def as_base64(vector: Sequence[float]) -> str:
    """A vector as OpenAI's ``base64`` encoding gives it: little-endian float32 bytes, base64-encoded."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def reply(
    provider: str,
    req: EmbeddingsRequest,
    vectors: Sequence[Any],
    model: str,
    prompt_tokens: int,
    sent: dict[str, Any],
    raw: Any = None,
) -> UpstreamReply:
    """OpenAI's embeddings list from one vector per input (floats; a string is one already in base64)."""
    if len(vectors) != len(req.inputs):
        raise malformed(provider, f"{len(vectors)} embeddings for {len(req.inputs)} inputs")
    base64_wanted = req.encoding_format == "base64"
    data = []
    for i, vector in enumerate(vectors):
        if not isinstance(vector, str) and base64_wanted:
            vector = as_base64(vector)
        data.append({"object": "embedding", "index": i, "embedding": vector})
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
    return UpstreamReply(body=body, sent=sent, raw=raw)


def texts(req: EmbeddingsRequest, provider: str) -> list[str]:
    """The inputs as texts, for a provider that takes no token arrays (a 400 naming ``input`` otherwise)."""
    if req.tokens:
        raise InvalidRequestError(
            f"provider {provider!r} embeds text only: send 'input' as a string or a list of strings.",
            param="input",
            code="unsupported_value",
        )
    return req.inputs  # texts, as they are not tokens


def floats(value: Any, provider: str) -> list[float]:
    """One vector as the provider sent it: a non-empty list of numbers, or the provider's failure."""
    if not isinstance(value, list) or not value or not isinstance(value[0], int | float):
        raise malformed(provider, "an embedding is not a list of numbers")
    return value


def estimate_tokens(inputs: Sequence[str]) -> int:
    """Tokens of texts at ~4 characters each, for a provider that does not count them (Gemini)."""
    return sum(-(-len(text) // 4) for text in inputs)


def refuse_dimensions(req: EmbeddingsRequest, provider: str, model: str) -> None:
    if req.dimensions is not None:
        raise InvalidRequestError(
            f"provider {provider!r} cannot set the dimensions of model {model!r}.",
            param="dimensions",
            code="unsupported_parameter",
        )
