"""Embeddings over OpenAI's ``POST {base_url}/embeddings``: OpenAI itself, Azure, and every OpenAI-compatible
server (Mistral, Ollama, vLLM, ...), with Cohere's v2 ``/embed`` for a Cohere entry.

To an OpenAI-native server (the ``openai`` and ``azure`` types) the client's body goes as it came, with only
``model`` swapped and the gateway's own fields removed: token arrays, ``dimensions``, ``encoding_format``
and ``user`` are OpenAI's. To any other server the request is rebuilt from what the quirks table allows:
``dimensions`` under the server's own name (Mistral: ``output_dimension``), token arrays only where taken,
``user`` only where taken, and floats asked for (``encoding_format`` left out: not every server knows
base64), turned into base64 here when the client asked for it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import Call, HttpProvider, UpstreamReply
from ferryman.providers.embeddings import Embeddings, floats, reply, texts
from ferryman.providers.malformed import reading
from ferryman.schemas.embeddings import EmbeddingsRequest
from ferryman.schemas.errors import FerrymanError

from .quirks import Quirks, quirks_for

GATEWAY_FIELDS = ("fallbacks", "input_type")


class OpenAIEmbeddings:
    """OpenAI's embeddings API, forwarded (``native``) or rebuilt for a compatible server (``quirks``)."""

    def __init__(self, provider: HttpProvider, quirks: Quirks | None = None) -> None:
        self.provider = provider
        self.quirks = quirks  # None: an OpenAI-native server, which gets the client's body as it is

    def url(self, call: Call) -> str:
        base = self.provider.config.base_url
        if not base:
            raise FerrymanError(
                f"provider {self.provider.name!r} has no base_url configured", code="provider_misconfigured"
            )
        return f"{base.rstrip('/')}/embeddings"

    def body(self, req: EmbeddingsRequest, call: Call) -> dict[str, Any]:
        quirks = self.quirks
        if quirks is None:
            sent = {k: v for k, v in call.raw.items() if k not in GATEWAY_FIELDS}
            sent["model"] = call.deployment
            return sent
        name = self.provider.name
        sent = {"model": call.deployment, "input": req.input if quirks.embed_tokens else texts(req, name)}
        if req.dimensions is not None:
            sent[quirks.embed_dimensions] = req.dimensions
        if req.user is not None and quirks.user:
            sent["user"] = req.user
        return sent

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        provider = self.provider
        sent = self.body(req, call)
        headers = provider.headers(call)
        resp = await provider.post(self.url(call), msgspec.json.encode(sent), headers, call, stream=False)
        body, payload = await provider.read_json(resp)
        with reading(provider.name, "the embeddings answer"):
            data = sorted(body["data"], key=lambda d: d.get("index", 0))
            # a string is a vector already in base64 (an OpenAI-native server asked for it)
            vectors = [e if isinstance(e := d["embedding"], str) else floats(e, provider.name) for d in data]
            usage = body.get("usage") or {}
            tokens = usage.get("prompt_tokens") or usage.get("total_tokens") or 0
            model = body.get("model") or call.deployment
        return reply(provider.name, req, vectors, model, tokens if isinstance(tokens, int) else 0, sent, payload)


def chat_embeddings(provider: HttpProvider) -> Embeddings:
    """The embeddings of an ``openai-chat`` entry: OpenAI's wire format with its quirks, or Cohere's own."""
    quirks = getattr(provider, "quirks", None) or quirks_for(provider.name, provider.config.base_url)
    if quirks.embed_api == "cohere":
        from ferryman.providers.cohere.embeddings import CohereEmbeddings

        return CohereEmbeddings(provider)
    return OpenAIEmbeddings(provider, quirks)
