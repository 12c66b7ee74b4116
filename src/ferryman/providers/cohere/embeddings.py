"""Cohere's embeddings: its v2 ``POST /v2/embed``, for the native ``cohere`` type and for an ``openai-chat``
entry on Cohere's compatibility API (whose chat goes through that API).

``{"model", "texts", "input_type", "embedding_types": ["float"], "output_dimension"}`` ->
``{"embeddings": {"float": [[...], ...]}, "meta": {"billed_units": {"input_tokens"}}}``. ``input_type``
(required by Cohere's v3 and later models) is the request's own, else ``search_document``; ``dimensions``
is ``output_dimension`` (embed-v4). The v2 API lives at the host's root: a base URL ending in
``/compatibility/v1`` (the well-known entry's) loses that part.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import Call, HttpProvider, UpstreamReply
from ferryman.providers.embeddings import floats, reply, texts
from ferryman.providers.malformed import reading
from ferryman.schemas.embeddings import EmbeddingsRequest

COMPATIBILITY = "/compatibility/v1"
DEFAULT_INPUT_TYPE = "search_document"


class CohereEmbeddings:
    def __init__(self, provider: HttpProvider) -> None:
        self.provider = provider
        base = (provider.config.base_url or "https://api.cohere.com").rstrip("/")
        self.url = f"{base.removesuffix(COMPATIBILITY)}/v2/embed"

    def body(self, req: EmbeddingsRequest, call: Call) -> dict[str, Any]:
        sent: dict[str, Any] = {
            "model": call.deployment,
            "texts": texts(req, self.provider.name),
            "input_type": req.input_type or DEFAULT_INPUT_TYPE,
            "embedding_types": ["float"],
        }
        if req.dimensions is not None:
            sent["output_dimension"] = req.dimensions
        return sent

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        provider = self.provider
        sent = self.body(req, call)
        resp = await provider.post(self.url, msgspec.json.encode(sent), provider.headers(call), call, stream=False)
        body, payload = await provider.read_json(resp)
        with reading(provider.name, "the embeddings answer"):
            vectors = [floats(v, provider.name) for v in body["embeddings"]["float"]]
            billed = (body.get("meta") or {}).get("billed_units") or {}
            tokens = billed.get("input_tokens") or 0
        return reply(provider.name, req, vectors, call.deployment, int(tokens), sent, payload)
