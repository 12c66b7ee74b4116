"""Thin ASGI helpers: read a bounded body, notice a client that leaves, send a JSON reply, read a header.

Ferryman speaks ASGI directly rather than through a web framework: its front door has a handful of
routes, and every microsecond between the socket and the provider is overhead a user pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from ferryman.cycle import Cycle
from ferryman.schemas.errors import FerrymanError, PayloadTooLargeError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = ((b"content-type", b"application/json"),)
# headers of an error that a client should see (others, such as an upstream's request id, stay inside)
CLIENT_ERROR_HEADERS = frozenset(
    {
        "retry-after",
        "retry-after-ms",
        "allow",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    }
)


class ClientGone(Exception):
    """The client disconnected before its answer: nothing more is sent to it."""


# seconds a request runs before a task starts watching for its client to leave: a request answered sooner
# (most of them, against a fast provider) costs one timer, not a task
WATCH_AFTER = 0.1


class LeaveWatch:
    """``with LeaveWatch(receive, wanted):`` cancels the block if the client disconnects while ``wanted()``.

    ``wanted`` says whether the work still serves only the client: true while the provider's answer has
    not arrived (the upstream call is cancelled, its connection closed, nothing is stored), false once it
    has (what is paid for is finished: priced and stored, its reply dropped). A cancellation the watch
    caused leaves the block as ``ClientGone``. Under Ferryman's own server (``receive`` is a ``Cycle``'s)
    the connection tells the watch when its client leaves, and the watch costs nothing until then; under
    another ASGI server ``receive`` is read after ``WATCH_AFTER`` seconds, once the body has been read, and
    a client that left earlier is noticed then.
    """

    __slots__ = ("cycle", "left", "previous", "receive", "task", "timer", "wanted", "watcher")

    def __init__(self, receive: Receive, wanted: Callable[[], bool]) -> None:
        self.receive = receive
        self.wanted = wanted
        self.left = False
        self.task: asyncio.Task[Any] | None = None
        self.cycle: Cycle | None = None
        self.previous: Callable[[], None] | None = None  # an enclosing watch's, on the same cycle
        self.timer: asyncio.TimerHandle | None = None
        self.watcher: asyncio.Task[None] | None = None

    def __enter__(self) -> LeaveWatch:
        cycle = getattr(self.receive, "__self__", None)
        if type(cycle) is Cycle:
            self.task = cycle.task  # the request's, where its app runs (and this block with it)
            self.cycle = cycle
            self.previous = cycle.on_leave
            cycle.on_leave = self._leave
            if cycle.disconnected:  # gone already: the block's first await is cancelled
                self._leave()
        else:
            self.task = asyncio.current_task()
            self.timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._start)
        return self

    def _start(self) -> None:
        self.timer = None
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self._leave()

    def _leave(self) -> None:
        if not self.left and self.wanted() and self.task is not None:
            self.left = True
            self.task.cancel()
        if self.previous is not None:
            self.previous()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.cycle is not None:
            self.cycle.on_leave = self.previous
        if self.timer is not None:
            self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()
        if self.left and self.task is not None:
            self.task.uncancel()
            if kind is asyncio.CancelledError:
                raise ClientGone from None


class BodyBudget:
    """The request bytes the gateway holds at once, across requests (``server.max_request_bytes_in_flight``).

    ``read_body`` takes a body's bytes from it as they arrive; the caller gives them back once its reply
    has been sent (a body and what it was parsed into live that long). A body that would go past the budget is
    refused with 503 and ``retry-after`` before more of it is read: many large bodies at once cannot take
    the process's memory.
    """

    __slots__ = ("held", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        held = self.held + size
        if held > self.limit:
            raise FerrymanError(
                f"Ferryman is holding as many request bytes as it may ({self.limit}, "
                "server.max_request_bytes_in_flight); retry shortly.",
                status=503,
                code="gateway_busy",
                headers={"retry-after": "1"},
            )
        self.held = held

    def give(self, size: int) -> None:
        self.held -= size


async def read_body(receive: Receive, limit: int, budget: BodyBudget) -> bytes:
    """The whole body, at most ``limit`` bytes, taken from ``budget`` (the caller gives back its length)."""
    msg = await receive()
    if msg["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = msg.get("body", b"")
    if not msg.get("more_body"):
        if len(body) > limit:
            raise _too_large(limit)
        budget.take(len(body))
        return body
    parts = [body]
    size = len(body)
    budget.take(size)
    try:
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                raise ClientGone
            chunk = msg.get("body", b"")
            if size + len(chunk) > limit:
                raise _too_large(limit)
            budget.take(len(chunk))
            size += len(chunk)
            parts.append(chunk)
            if not msg.get("more_body"):
                return b"".join(parts)
    except BaseException:
        budget.give(size)
        raise


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"The request body is larger than {limit} bytes (max_request_bytes).")


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_credential(scope: Scope) -> str | None:
    """The client's own credential (``Authorization: Bearer``, ``x-api-key``, Azure's ``api-key`` or Google's
    ``x-goog-api-key``), if it sent one."""
    return credential_of(scope["headers"])


# the headers a credential comes in, by name: which of ``credential_from``'s arguments each one is
CREDENTIAL_HEADERS = {b"authorization": 0, b"x-api-key": 1, b"api-key": 2, b"x-goog-api-key": 2}


def header_slots(headers: Iterable[tuple[bytes, bytes]], slots: dict[bytes, int], size: int) -> list[bytes | None]:
    """The values of the headers ``slots`` names, each at its place (of ``size``; the last of a repeated one
    wins, None for one not sent): one pass, a dict lookup a header."""
    found: list[bytes | None] = [None] * size
    slot_of = slots.get
    for key, value in headers:
        slot = slot_of(key)
        if slot is not None:
            found[slot] = value
    return found


def credential_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """``client_credential`` from a request's headers."""
    auth, api_key, other_key = header_slots(headers, CREDENTIAL_HEADERS, 3)
    return credential_from(auth, api_key, other_key)


def credential_from(auth: bytes | None, api_key: bytes | None, other_key: bytes | None) -> str | None:
    """The credential of a request that sent these headers (``Authorization`` first, a ``Bearer`` one as its token;
    then ``x-api-key``; then Azure's ``api-key`` or Google's ``x-goog-api-key``)."""
    if auth:
        text = auth.decode("latin-1")
        return text[7:].strip() if text[:7].lower() == "bearer " else text.strip()
    key = api_key or other_key
    return None if key is None else key.decode("latin-1")


async def send_json(send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def error_headers(exc: FerrymanError) -> list[tuple[bytes, bytes]]:
    """The headers of an error a client should see (``CLIENT_ERROR_HEADERS``), and the attempts it made."""
    out = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items() if k.lower() in CLIENT_ERROR_HEADERS]
    attempts = getattr(exc, "ferryman_attempts", None)
    if attempts and attempts.log:
        out.append((b"x-ferryman-attempts", attempts.header().encode()))
    return out


async def send_error(send: Send, exc: FerrymanError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    await send_json(send, exc.status, exc.to_json(), [*error_headers(exc), *headers])
