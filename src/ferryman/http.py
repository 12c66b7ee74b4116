"""Thin ASGI helpers: read a bounded body, send a JSON reply, read a header.

Ferryman speaks ASGI directly rather than through a web framework: its front door has a handful of
routes, and every microsecond between the socket and the provider is overhead a user pays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ferryman.schemas.errors import FerrymanError, PayloadTooLargeError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = ((b"content-type", b"application/json"),)
# headers of an error that a client should see (others, such as an upstream's request id, stay inside)
CLIENT_ERROR_HEADERS = frozenset({"retry-after", "retry-after-ms", "allow"})


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def read_body(receive: Receive, limit: int) -> bytes:
    msg = await receive()
    if msg["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body"):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ClientGone
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
        if not msg.get("more_body"):
            return b"".join(parts)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"The request body is larger than {limit} bytes (max_request_bytes).")


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_credential(scope: Scope) -> str | None:
    """The client's own credential (``Authorization: Bearer`` or ``x-api-key``), if it sent one."""
    auth = header(scope, b"authorization")
    if auth:
        return auth[7:].strip() if auth[:7].lower() == "bearer " else auth.strip()
    return header(scope, b"x-api-key")


async def send_json(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, exc: FerrymanError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    extra = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items() if k.lower() in CLIENT_ERROR_HEADERS]
    await send_json(send, exc.status, exc.to_json(), [*extra, *headers])
