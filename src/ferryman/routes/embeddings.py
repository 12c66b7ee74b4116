"""POST /v1/embeddings (every prefix): OpenAI's embeddings door.

It checks the body once into the canonical ``EmbeddingsRequest`` (``schemas/embeddings.py``), reads the
headers the Responses door reads (``x-ferryman-timeout``, ``x-ferryman-send-back-raw``), and asks the
pipeline for an answer: the hooks that serve every door (governance, cost, metrics, the request log) run
around a dispatch through the same router, keys, retries and fallbacks, and the reply is OpenAI's list with
``usage.cost``, ``extra_fields`` and the same ``x-ferryman-*`` headers. A client that leaves before the
provider has answered cancels the call.
"""

from __future__ import annotations

import msgspec

from ferryman.gateway.hooks import Pending
from ferryman.http import LeaveWatch, Receive, Scope, Send, send_json
from ferryman.routes.door import Answering, Door, gateway_headers, options
from ferryman.schemas.embeddings import validate_embeddings


class EmbeddingsDoor(Door):
    route = "embeddings"

    async def _answer(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> Pending:
        raw, req = validate_embeddings(body)
        pipeline = self.pipeline
        given = options(scope)  # (its drop_unsupported is not read: nothing of an embeddings request is dropped)
        ex = pipeline.embeddings_exchange(
            req,
            raw,
            scope["headers"],
            credential=given.credential,
            send_back_raw=given.send_back_raw,
            timeout=given.timeout,
        )
        async with Answering(pipeline, ex):
            with LeaveWatch(receive, lambda: ex.target is None):
                response, pending = await pipeline.embed(ex)
        await send_json(send, 200, msgspec.json.encode(response), gateway_headers(ex, whole=True))
        return pending
