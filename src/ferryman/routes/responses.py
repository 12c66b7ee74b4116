"""POST /v1/responses (every prefix): the OpenAI Responses front door, the canonical API itself.

It parses the body once into the canonical request (the gateway's headers, ``x-ferryman-timeout`` and
the like, are read by every door alike in ``Door.exchange``); the rest of the flow is every door's
(``door.py``). Its stream is the canonical stream, relayed as it comes; its errors are OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.gateway.exchange import Exchange
from ferryman.http import Scope, Send, send_json
from ferryman.routes.door import Door, gateway_headers
from ferryman.schemas.responses import validate_request


class ResponsesDoor(Door):
    route = "responses"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        raw, req = validate_request(body)
        return self.exchange(scope, req, raw)

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        body = msgspec.json.encode(response)
        ex.reply_json = (response, body)  # what the store keeps of it (``StoredResponse.response_json``)
        await send_json(send, 200, body, gateway_headers(ex, whole=True))
