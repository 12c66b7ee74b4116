"""OpenAI Responses API, and any server that speaks it natively: the fast path.

The client's body is forwarded with only ``model`` swapped and gateway-only fields removed, and the
stream is relayed event by event as it arrives. Nothing is translated, so nothing is lost.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.providers.base import Call, EventStream, HttpProvider, UpstreamReply
from ferryman.schemas.errors import UpstreamConnectionError
from ferryman.schemas.responses import native_openai_body
from ferryman.sse import flatten, iter_sse_batches


class OpenAIResponsesProvider(HttpProvider):
    path = "/responses"

    def url(self) -> str:
        return f"{self.config.base_url}{self.path}"

    def body(self, call: Call) -> dict[str, Any]:
        # ``stream`` is left as the client sent it: the dispatcher chose create() or stream() from it
        return native_openai_body(dict(call.raw), call.deployment)

    async def create(self, call: Call) -> UpstreamReply:
        headers = self.headers(call)
        sent = self.body(call)
        resp = await self.post(self.url(), msgspec.json.encode(sent), headers, call, stream=False)
        body, payload = await self.read_json(resp)
        if not isinstance(body, dict):
            raise UpstreamConnectionError(
                f"{self.name}: the provider answered with an unexpected body", code="upstream_bad_response"
            )
        return UpstreamReply(body=body, sent=sent, raw=payload)

    async def stream(self, call: Call) -> EventStream:
        headers = self.headers(call)
        headers["accept"] = "text/event-stream"
        sent = self.body(call)
        resp = await self.post(self.url(), msgspec.json.encode(sent), headers, call, stream=True)
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            # a server that ignored stream=true: relay its one JSON answer as a stream would end
            payload = await self.read_body(resp)
            raise UpstreamConnectionError(
                f"{self.name}: asked for a stream, the provider answered {ctype or 'no content-type'}"
                f" ({payload[:200].decode('utf-8', 'replace')})",
                code="upstream_bad_response",
            )
        batches = iter_sse_batches(resp.content.iter_any())
        return EventStream(events=flatten(batches), sent=sent, closers=[resp.close], batches=batches)
