"""Fake embeddings upstreams: each answers in its provider's own wire format, with vectors made from what it
was sent (``vector``), so a test can compute the vectors it expects from its own input.

OpenAI (and Azure, Mistral, Ollama, any compatible server): ``/embeddings`` with ``data[].embedding`` as
floats, or base64 little-endian float32 when asked ``encoding_format: base64``, and ``usage.prompt_tokens``;
Gemini: ``:batchEmbedContents`` with ``embeddings[].values``; Cohere v2: ``embeddings.float`` and
``meta.billed_units.input_tokens``; Bedrock: Titan's ``embedding`` / ``inputTextTokenCount`` and Cohere's
``embeddings.float`` with the ``x-amzn-bedrock-input-token-count`` header.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from tests.fakes.upstream import Received, Reply

DEFAULT_DIMENSIONS = 4


def vector(item: Any, dimensions: int | None = None) -> list[float]:
    """The fake's vector for one input (a text or a token array): exact in float32."""
    digest = hashlib.sha256(repr(item).encode()).digest()
    return [digest[i % len(digest)] / 64 for i in range(dimensions or DEFAULT_DIMENSIONS)]


def tokens(item: Any) -> int:
    """The fake's token count for one input: words of a text, or a token array's length."""
    return len(item.split()) if isinstance(item, str) else len(item)


def openai(received: Received, dimensions_field: str = "dimensions") -> Reply:
    body = received.json
    raw = body["input"]
    inputs = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else raw
    data = []
    for i, item in enumerate(inputs):
        values: Any = vector(item, body.get(dimensions_field))
        if body.get("encoding_format") == "base64":
            values = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": i, "embedding": values})
    used = sum(tokens(item) for item in inputs)
    return Reply(
        json={
            "object": "list",
            "data": data[::-1],  # out of order: the index says where each goes
            "model": body["model"],
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }
    )


def mistral(received: Received) -> Reply:
    return openai(received, "output_dimension")


def gemini(received: Received) -> Reply:
    requests = received.json["requests"]
    return Reply(
        json={
            "embeddings": [
                {"values": vector(r["content"]["parts"][0]["text"], r.get("outputDimensionality"))} for r in requests
            ]
        }
    )


def cohere(received: Received) -> Reply:
    body = received.json
    texts = body["texts"]
    return Reply(
        json={
            "id": "emb-1",
            "embeddings": {"float": [vector(t, body.get("output_dimension")) for t in texts]},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(map(tokens, texts))}},
        }
    )


def titan(received: Received) -> Reply:
    body = received.json
    text = body["inputText"]
    values = vector(text, body.get("dimensions"))
    return Reply(json={"embedding": values, "inputTextTokenCount": tokens(text), "embeddingsByType": {"float": values}})


def bedrock_cohere(received: Received) -> Reply:
    body = received.json
    texts = body["texts"]
    reply = cohere(received)
    reply.json = {
        "id": "emb-1",
        "embeddings": reply.json["embeddings"],
        "texts": texts,
        "response_type": "embeddings_by_type",
    }
    reply.headers = {"x-amzn-bedrock-input-token-count": str(sum(map(tokens, texts)))}
    return reply
