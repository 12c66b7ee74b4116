"""Gemini API embeddings: ``POST {base_url}/{version}/models/{model}:batchEmbedContents``.

``{"requests": [{"model": "models/{model}", "content": {"parts": [{"text"}]}, "outputDimensionality",
"taskType"}]}`` -> ``{"embeddings": [{"values": [...]}, ...]}``, one request per input, in order.
``dimensions`` is ``outputDimensionality``; ``input_type`` becomes ``taskType`` (Cohere's words mapped to
Google's, anything else upper-cased as Google writes its task types). The answer counts no tokens, so
``usage.prompt_tokens`` is an estimate (about four characters a token), and the cost is priced from it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import Call, UpstreamReply
from ferryman.providers.embeddings import estimate_tokens, floats, reply, texts
from ferryman.providers.malformed import reading
from ferryman.providers.paths import path_segment
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import ProviderError

from . import GEMINI_BASE_URL, GeminiProvider, google_error

TASK_TYPES = {
    "search_query": "RETRIEVAL_QUERY",
    "search_document": "RETRIEVAL_DOCUMENT",
    "classification": "CLASSIFICATION",
    "clustering": "CLUSTERING",
}


class GeminiEmbeddings:
    def __init__(self, provider: GeminiProvider) -> None:
        self.provider = provider

    def url(self, call: Call) -> str:
        config = self.provider.config
        base = config.base_url or GEMINI_BASE_URL
        version = config.api_version or self.provider.default_version
        return f"{base}/{version}/models/{path_segment(self.provider.model(call))}:batchEmbedContents"

    def body(self, req: EmbeddingsRequest, call: Call) -> dict[str, Any]:
        model = f"models/{self.provider.model(call)}"
        task = TASK_TYPES.get(req.input_type, req.input_type.upper()) if req.input_type else None
        requests = []
        for text in texts(req, self.provider.name):
            one: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if req.dimensions is not None:
                one["outputDimensionality"] = req.dimensions
            if task is not None:
                one["taskType"] = task
            requests.append(one)
        return {"requests": requests}

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        provider = self.provider
        sent = self.body(req, call)
        try:
            resp = await provider.post(
                self.url(call), msgspec.json.encode(sent), provider.headers(call), call, stream=False
            )
        except ProviderError as exc:
            raise google_error(exc) from None
        body, payload = await provider.read_json(resp)
        with reading(provider.name, "the embeddings answer"):
            vectors = [floats(e["values"], provider.name) for e in body["embeddings"]]
        tokens = estimate_tokens(req.inputs)  # texts (checked above)
        return reply(provider.name, req, vectors, provider.model(call), tokens, sent, payload)
