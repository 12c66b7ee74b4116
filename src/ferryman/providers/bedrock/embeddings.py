"""Bedrock embeddings over InvokeModel (``POST {base_url}/model/{modelId}/invoke``, signed as Converse is):
Amazon Titan and Cohere Embed models, each in its own body.

- Titan Text Embeddings (``amazon.titan-embed-text-v2:0``, ``-v1``) embed one text per call, so the inputs
  go as concurrent calls: ``{"inputText", "dimensions", "normalize": true}`` -> ``{"embedding",
  "inputTextTokenCount"}``. ``dimensions`` (256, 512 or 1024) is taken by v2 only.
- Cohere Embed (``cohere.embed-english-v3``, ``cohere.embed-v4:0``, ...) embeds a list:
  ``{"texts", "input_type", "embedding_types": ["float"], "output_dimension"}`` ->
  ``{"embeddings": {"float": [[...], ...]}}``; its tokens are the ``x-amzn-bedrock-input-token-count``
  header. ``dimensions`` is ``output_dimension``, taken by v4 only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from ferryman.providers.base import Call, UpstreamReply
from ferryman.providers.embeddings import floats, refuse_dimensions, reply, texts
from ferryman.providers.malformed import expect, reading
from ferryman.providers.paths import path_segment
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import InvalidRequestError

from . import BedrockProvider

TOKEN_HEADER = "x-amzn-bedrock-input-token-count"
DEFAULT_INPUT_TYPE = "search_document"


class BedrockEmbeddings:
    def __init__(self, provider: BedrockProvider) -> None:
        self.provider = provider

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        model = call.deployment
        inputs = texts(req, self.provider.name)
        if "titan-embed" in model:
            if req.dimensions is not None and "-v1" in model:
                refuse_dimensions(req, self.provider.name, model)
            bodies = [_titan(text, req.dimensions) for text in inputs]
            answers = await asyncio.gather(*(self._invoke(call, body) for body in bodies))
            with reading(self.provider.name, "the embeddings answer"):
                vectors = [floats(body["embedding"], self.provider.name) for body, _ in answers]
                tokens = sum(int(body.get("inputTextTokenCount") or 0) for body, _ in answers)
            sent: dict[str, Any] = {"requests": bodies}
        elif "cohere.embed" in model:
            if req.dimensions is not None and "embed-v4" not in model:
                refuse_dimensions(req, self.provider.name, model)
            sent = {"texts": inputs, "input_type": req.input_type or DEFAULT_INPUT_TYPE, "embedding_types": ["float"]}
            if req.dimensions is not None:
                sent["output_dimension"] = req.dimensions
            body, tokens = await self._invoke(call, sent)
            with reading(self.provider.name, "the embeddings answer"):
                vectors = [floats(v, self.provider.name) for v in body["embeddings"]["float"]]
        else:
            raise InvalidRequestError(
                f"provider {self.provider.name!r} embeds with Titan (amazon.titan-embed-*) and Cohere"
                f" (cohere.embed-*) models, not {model!r}.",
                param="model",
                code="unsupported_model",
            )
        return reply(self.provider.name, req, vectors, model, tokens, sent)

    async def _invoke(self, call: Call, native: dict[str, Any]) -> tuple[Any, int]:
        """One InvokeModel call: its decoded body, and the input tokens its header counts."""
        provider = self.provider
        url = f"{provider.base_url}/model/{path_segment(call.deployment)}/invoke"
        body = msgspec.json.encode(native)
        headers = await provider.signed_headers(url, body, call)
        resp = await provider.post(url, body, headers, call, stream=False)
        counted = resp.headers.get(TOKEN_HEADER, "")
        answer, _ = await provider.read_json(resp)
        expect(provider.name, answer, dict, "the embeddings answer")
        return answer, int(counted) if counted.isdigit() else 0


def _titan(text: str, dimensions: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": text}
    if dimensions is not None:
        body["dimensions"] = dimensions
        body["normalize"] = True
    return body
