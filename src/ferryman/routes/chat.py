"""POST /v1/chat/completions (every prefix): the OpenAI Chat Completions front door.

Its body is translated into the canonical request (``doors/chat/request.py``) and checked as a
Responses body is, before anything is called; its answer is the canonical response rendered as a
``chat.completion`` (``doors/chat/response.py``) and its stream the canonical events transcoded into
``chat.completion.chunk`` frames (``doors/chat/stream.py``). Its errors are OpenAI's shape, the
app's default. The flow between is every door's (``door.py``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.doors.chat.request import refuse_untranslated, responses_request, untranslated
from ferryman.doors.chat.response import completion
from ferryman.doors.chat.stream import ChatTranscoder
from ferryman.gateway.exchange import Exchange
from ferryman.http import Scope, Send, send_json
from ferryman.routes.door import Door, gateway_headers
from ferryman.routes.transcode import TranscodingSend
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import check_request, decode_json


class ChatDoor(Door):
    route = "chat_completions"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        native = decode_json(body)
        if not isinstance(native, dict):
            raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
        raw = responses_request(native)
        req = check_request(raw)
        refuse_untranslated(untranslated(native))
        return self.exchange(scope, req, raw, native)

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        await send_json(send, 200, msgspec.json.encode(completion(response)), gateway_headers(ex, whole=True))

    def stream_send(self, send: Send, ex: Exchange) -> Send:
        options = ex.native.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return TranscodingSend(send, ChatTranscoder(include_usage))
