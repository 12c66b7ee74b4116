"""POST /v1/chat/completions (every prefix): the OpenAI Chat Completions front door.

Its body is translated into the canonical request (``doors/chat/request.py``) and checked as a
Responses body is, before anything is called; its answer is the canonical response rendered as a
``chat.completion`` (``doors/chat/response.py``) and its stream the canonical events transcoded into
``chat.completion.chunk`` frames (``doors/chat/stream.py``). Its errors are OpenAI's shape, the
app's default. The flow between is every door's (``door.py``).

The fast path: a target that speaks Chat Completions itself (a Chat Completions server, OpenAI, Azure)
gets the client's own body with only ``model`` changed (``providers/native.py``), and the client gets
that server's reply and chunks as they came, with Ferryman's additions spliced in
(``doors/chat/passthrough.py``). What the canonical request has no form for (``n`` above 1,
``logit_bias``, a server's own fields) is refused only when the request goes to a target that does not.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.doors.chat import passthrough
from ferryman.doors.chat.request import responses_request, untranslated
from ferryman.doors.chat.response import completion
from ferryman.doors.chat.stream import ChatTranscoder
from ferryman.gateway.exchange import Exchange
from ferryman.gateway.passthrough import Frames
from ferryman.http import Scope, Send, send_json
from ferryman.providers.native import CHAT, Native
from ferryman.routes.door import Door, gateway_headers
from ferryman.routes.transcode import TranscodingSend
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import check_request, decode_json

GATEWAY_FIELDS = ("fallbacks",)  # Ferryman's own, never sent to a provider


def _include_usage(ex: Exchange) -> bool:
    own = ex.compat.native  # the chat door always keeps the client's request
    assert own is not None
    options = own.decoded.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


class ChatDoor(Door):
    route = "chat_completions"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        native = decode_json(body)
        if not isinstance(native, dict):
            raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
        raw = responses_request(native)
        req = check_request(raw)
        own = Native(CHAT, body, native, untranslated(native), drop=GATEWAY_FIELDS)
        return self.exchange(scope, req, raw, own)

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        if ex.native_reply is not None:
            body = passthrough.reply(ex.native_reply, response)
            ex.native_reply = body  # what the client got, as it got it (the request log keeps these bytes)
        else:
            body = msgspec.json.encode(completion(response))
        await send_json(send, 200, body, gateway_headers(ex, whole=True))

    def stream_send(self, send: Send, ex: Exchange) -> Send:
        return TranscodingSend(send, ChatTranscoder(_include_usage(ex)))

    def frames(self, ex: Exchange) -> Frames:
        return passthrough.ChatFrames(_include_usage(ex))
