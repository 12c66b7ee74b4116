"""POST /v1/responses (every prefix): the OpenAI Responses front door, the canonical API itself.

It parses the body once into the canonical request and reads its own headers (``x-ferryman-timeout``,
``x-ferryman-send-back-raw``, ``x-ferryman-drop-unsupported``); the rest of the flow is every door's
(``door.py``). Its stream is the canonical stream, relayed as it comes; its errors are OpenAI's shape.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.gateway.exchange import Exchange
from ferryman.http import Scope, Send, client_credential, header, send_json
from ferryman.routes.door import Door, gateway_headers
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import validate_request

_TRUE = {"1", "true", "yes", "on"}


def _timeout_header(scope: Scope) -> float | None:
    value = header(scope, b"x-ferryman-timeout")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidRequestError(
            "Header x-ferryman-timeout must be a positive number of seconds.",
            param="x-ferryman-timeout",
            code="invalid_header",
        )
    return seconds


def _flag_header(scope: Scope, name: bytes) -> bool | None:
    """A true/false header (``1``/``true``/``yes``/``on`` is true, anything else false); None when absent."""
    value = header(scope, name)
    return None if value is None else value.strip().lower() in _TRUE


class ResponsesDoor(Door):
    route = "responses"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        raw, req = validate_request(body)
        return self.pipeline.exchange(
            req,
            raw,
            scope["headers"],
            credential=client_credential(scope),
            send_back_raw=bool(_flag_header(scope, b"x-ferryman-send-back-raw")),
            timeout=_timeout_header(scope),
            drop_unsupported=_flag_header(scope, b"x-ferryman-drop-unsupported"),
        )

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        await send_json(send, 200, msgspec.json.encode(response), gateway_headers(ex, whole=True))
