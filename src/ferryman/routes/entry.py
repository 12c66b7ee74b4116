"""Every HTTP request's way in: the ASGI callable's per-request part, compiled with the hot path.

``Entry.__call__`` takes a request to its handler (``_match``: the gateway's route table, ``app.py``) and
answers what escapes it in the shape of the API its path belongs to (``routes/shapes.py``): a client that
left gets nothing, a Ferryman error its status and shape, anything else a 500 without a stack trace.
The gateway's own class subclasses it (an interpreted class: how it matches a path and runs its lifespan
are its own); the two coroutine frames every request went through were a Python frame each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from mypy_extensions import mypyc_attr

from ferryman.http import ClientGone, Receive, Scope, Send
from ferryman.routes.shapes import error_sender
from ferryman.schemas.errors import FerrymanError

log = logging.getLogger("ferryman")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


@mypyc_attr(allow_interpreted_subclasses=True)  # the gateway (app.py) is an interpreted class
class Entry:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            handler = self._match(scope["path"], scope["method"])
            await handler(scope, receive, send)
        except ClientGone:
            return
        except FerrymanError as exc:
            await self._send_error(scope, send, exc)
        except Exception:  # noqa: BLE001 - a client never sees a stack trace
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await self._send_error(scope, send, FerrymanError("Ferryman hit an internal error.", code="internal_error"))

    async def _send_error(self, scope: Scope, send: Send, exc: FerrymanError) -> None:
        """``exc`` in the shape of the API the request's path belongs to (``routes/shapes.py``)."""
        try:
            await error_sender(scope["path"])(send, exc, ())
        except RuntimeError:
            # the response had already started (a stream): its relay explained the failure itself
            log.warning("error after the response started: %s", exc.message)

    def _match(self, path: str, method: str) -> Handler:
        """The handler of ``method`` on ``path`` (a 404 or 405 ``FerrymanError`` when there is none)."""
        raise NotImplementedError

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """ASGI's lifespan protocol: the gateway's start and stop."""
        raise NotImplementedError
