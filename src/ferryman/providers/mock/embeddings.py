"""The mock's embeddings: a vector made from the words of each input, so equal texts get equal vectors and
texts that share words point the same way (cosine similarity means something), with no model and no network.

Each word (or token id) is hashed to one of the vector's dimensions and a sign; the counts are summed and
the vector scaled to unit length. ``dimensions`` sets its length (default 256). Usage counts about four
characters a token (a token array: its length), as the mock's answers do; like them it costs nothing.
"""

from __future__ import annotations

import hashlib
import math
import re

from ferryman.providers.base import Call, UpstreamReply
from ferryman.providers.embeddings import reply
from ferryman.providers.mock import tokens
from ferryman.providers.mock.provider import MockProvider
from ferryman.schemas.embeddings import EmbeddingsRequest

DEFAULT_DIMENSIONS = 256
_WORD = re.compile(r"\w+")


class MockEmbeddings:
    def __init__(self, provider: MockProvider) -> None:
        self.provider = provider

    async def embed(self, req: EmbeddingsRequest, call: Call) -> UpstreamReply:
        if self.provider.latency:
            await self.provider.sleep(self.provider.latency)
        size = req.dimensions or DEFAULT_DIMENSIONS
        vectors: list[list[float]] = []
        used = 0
        for one in req.inputs:
            if isinstance(one, str):
                words = _WORD.findall(one.lower())
                used += tokens.estimate(one)
            else:
                words = [str(t) for t in one]
                used += len(one)
            vectors.append(vector(words, size))
        sent = {"model": call.deployment, "input": req.input, "dimensions": size}
        return reply(self.provider.name, req, vectors, call.deployment, used, sent)


def vector(words: list[str], size: int) -> list[float]:
    """The unit vector of a bag of words (all zeros for none)."""
    out = [0.0] * size
    for word in words:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        n = int.from_bytes(digest, "little")
        out[n % size] += 1.0 if (n >> 63) & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in out))
    return [x / norm for x in out] if norm else out
