"""The Gemini door's body to the Gemini API as the client wrote it (the fast path).

A ``generateContent`` body names no model (the URL does), so the client's bytes go exactly as they came, to
this provider's URL for the deployment (``:streamGenerateContent?alt=sse`` for a stream: the passthrough is
taken only by a client that asked for SSE, ``GeminiProvider.passes``), with this provider's key; the client's
own query (its ``?key=``, Ferryman's credential) never leaves the gateway. The reply comes back as Google sent
it, its bytes untouched (``UpstreamReply.native``), beside the canonical response the hooks read, made by this
adapter's own reader; a stream comes back as Google's own chunks with a ``Tee`` the relay feeds each of them
to (``groundingMetadata``, ``safetyRatings``, ``thoughtSignature`` and fields not yet known reach the client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.native import streamed, whole

if TYPE_CHECKING:
    from . import GeminiProvider


async def create(provider: GeminiProvider, call: Call) -> UpstreamReply:
    native = call.native
    assert native is not None
    url = provider.url(call, stream=False)
    return await whole(provider, call, url, native.body, provider.headers(call), sent=native.decoded, as_bytes=True)


async def stream(provider: GeminiProvider, call: Call) -> EventStream:
    native = call.native
    assert native is not None
    url = provider.url(call, stream=True)
    return await streamed(provider, call, url, native.body, provider.headers(call), sent=native.decoded)
