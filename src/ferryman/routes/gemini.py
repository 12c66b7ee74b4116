"""POST /genai/{v1beta,v1}/models/{model}:generateContent and :streamGenerateContent: the Gemini API door.

A client of Google's Gemini API (the ``google-genai`` SDK with ``base_url=http://host/genai``, or any
REST client) reaches every provider through it. The model is the URL's: an alias, ``provider/model``
(the SDK sends the slash as it is; a ``%2F`` is decoded the same) or a bare name, ``models/`` removed.
The request is translated to the canonical one (``doors/gemini/request.py``) and the answer back
(``doors/gemini/response.py``, ``stream.py``); errors are Google's ``{"error": {code, message,
status}}``. The credential is ``x-goog-api-key`` (or any header the other doors take), else the
``?key=`` of the URL, as Google's API takes it. Other methods (``countTokens``, ...) are a 501.

The fast path: a target of the ``gemini`` type gets the client's own body as it came (it names no model;
the URL does), and the client gets Google's reply and chunks as they came (``providers/gemini/passthrough.py``,
``doors/gemini/passthrough.py``); a stream only with ``alt=sse`` (JSON-array chunks are translated to). What
the door cannot translate is refused only when the request goes to a target of another type.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferryman.doors.gemini.passthrough import GeminiFrames
from ferryman.doors.gemini.request import HostedTools, responses_request
from ferryman.doors.gemini.response import error_body, generate_content_response
from ferryman.doors.gemini.stream import GeminiStream
from ferryman.gateway.exchange import Exchange
from ferryman.gateway.passthrough import Frames
from ferryman.http import Receive, Scope, Send, error_headers, send_json
from ferryman.providers.native import GENERATE, Native
from ferryman.routes.door import Door, gateway_headers
from ferryman.routes.transcode import TranscodingSend
from ferryman.schemas.errors import FerrymanError, InvalidRequestError
from ferryman.schemas.responses import check_request, decode_json

# the model is everything up to the last colon (a Bedrock model id has colons of its own)
PATH = re.compile(r"^/genai/(?:v1beta|v1|v1alpha)/models/(.+):([A-Za-z]+)$")
METHODS = frozenset({"generateContent", "streamGenerateContent"})


class GeminiDoor(Door):
    route = "gemini"

    def parse(self, scope: Scope, body: bytes) -> Exchange:
        m = PATH.match(scope["path"])
        assert m is not None  # the app routes only matching paths here
        model = m.group(1).removeprefix("models/")
        stream = m.group(2) == "streamGenerateContent"
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sse = query.get("alt") == ["sse"]
        hosted = HostedTools()
        decoded = decode_json(body)
        # a stream is passed through as SSE only: a client that asked for JSON-array chunks is translated to
        own = Native(GENERATE, body, decoded) if isinstance(decoded, dict) and (sse or not stream) else None
        deferred = own.deferred if own is not None else None
        raw = responses_request(decoded, model, stream=stream, hosted=hosted, deferred=deferred)
        req = check_request(raw)
        keys = query.get("key")
        ex = self.exchange(scope, req, raw, own, credential=keys[0] if keys else None)
        for param, name in hosted.unknown:
            if ex.compat.drop_unsupported:
                ex.compat.dropped.append(name)
                continue
            refusal = InvalidRequestError(
                f"'{param}' is not supported by Ferryman's Gemini API: the {name} tool has no counterpart "
                "outside Gemini (compat.drop_unsupported leaves it out instead).",
                param=param,
                code="unsupported_parameter",
            )
            if own is None:
                raise refusal
            own.deferred.append(refusal)
        ex.state[self.route] = sse
        return ex

    async def reply(self, send: Send, ex: Exchange, response: dict[str, Any]) -> None:
        body = ex.native_reply  # Google's own bytes, on the fast path
        if not isinstance(body, bytes):
            body = msgspec.json.encode(generate_content_response(response))
        await send_json(send, 200, body, gateway_headers(ex, whole=True))

    def stream_send(self, send: Send, ex: Exchange) -> Send:
        return TranscodingSend(send, GeminiStream(sse=bool(ex.state.get(self.route))))

    def frames(self, ex: Exchange) -> Frames:
        return GeminiFrames()

    async def render_error(self, send: Send, exc: FerrymanError) -> None:
        await send_error(send, exc)

    async def unimplemented(self, scope: Scope, receive: Receive, send: Send) -> None:
        m = PATH.match(scope["path"])
        method = m.group(2) if m else "?"
        exc = FerrymanError(
            f"Method {method} is not served by Ferryman's Gemini API (generateContent, streamGenerateContent).",
            status=501,
            code="method_not_implemented",
        )
        await self.render_error(send, exc)


async def send_error(send: Send, exc: FerrymanError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """``exc`` in Google's shape, with the headers a client should see (``retry-after``, ``x-ratelimit-*``)."""
    await send_json(send, exc.status, error_body(exc), [*error_headers(exc), *headers])
