"""The Anthropic Messages door's body to Anthropic as the client wrote it (the fast path).

Nothing is translated on the way out: the client's bytes go with only ``model`` changed (``Native.body_for``),
to ``/v1/messages`` with the client's query (``?beta=true``) and its ``anthropic-beta`` and
``anthropic-version`` headers (the body was written for them), and this provider's own key in place of the
client's credential, which never leaves the gateway. So every field reaches Anthropic as it was sent: thinking
signatures, ``cache_control``, ``context_management``, ``mcp_servers``, ``container``, block types Ferryman has
never heard of. The reply comes back as Anthropic sent it (``UpstreamReply.native``) beside the canonical
response the hooks read, made by this adapter's own reader (``MessageReader``); a stream comes back as
Anthropic's own events, with a ``Tee`` the relay feeds each of them to (its first event read before the
stream is handed on, as the translated stream does: an ``overloaded_error`` there is still a 529 the
dispatcher can fall back from).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferryman.providers.base import Call, EventStream, UpstreamReply
from ferryman.providers.native import Native, streamed, whole

if TYPE_CHECKING:
    from . import AnthropicProvider

FORWARDED = ("anthropic-beta", "anthropic-version")  # the client's headers its body was written for


def forwarded(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The client's ``FORWARDED`` headers, from the ASGI scope's (several of one name joined by commas)."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        if key in FORWARDED:
            text = value.decode("latin-1")
            out[key] = f"{out[key]},{text}" if key in out else text
    return out


def headers_for(provider: AnthropicProvider, call: Call, native: Native) -> dict[str, str]:
    """The provider's headers (its key, its configured headers) with the client's ``anthropic-*`` ones: a beta the
    client names is added to a configured one, its API version is the one its body speaks."""
    headers = provider.headers(call)
    configured = {name.lower(): name for name in provider.config.headers}
    for key, value in native.headers.items():
        mine = configured.get(key)
        if mine is None:
            headers.pop(key, None)  # (the adapter's default version, under the same name)
            headers[key] = value
        elif key == "anthropic-beta":
            headers[mine] = f"{headers[mine]},{value}"
    return headers


def url_for(provider: AnthropicProvider, native: Native, path: str = "/v1/messages") -> str:
    url = provider.url_of(path)
    return f"{url}?{native.query}" if native.query else url


async def create(provider: AnthropicProvider, call: Call) -> UpstreamReply:
    native = call.native
    assert native is not None
    headers = headers_for(provider, call, native)
    url = url_for(provider, native)
    return await whole(
        provider, call, url, native.body_for(call.deployment), headers, sent=native.sent(call.deployment)
    )


async def stream(provider: AnthropicProvider, call: Call) -> EventStream:
    native = call.native
    assert native is not None
    headers = headers_for(provider, call, native)
    body = native.body_for(call.deployment)
    return await streamed(provider, call, url_for(provider, native), body, headers, sent=native.sent(call.deployment))
