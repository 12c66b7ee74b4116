"""GET / DELETE /v1/responses/{id}, GET .../input_items, POST .../cancel (every route prefix).

Only the owner of a stored response (the client credential that created it) may read or delete it;
anyone else gets the same 404 as for an unknown or deleted id, after the same wait (the store's
``get_owned``), so ids cannot be probed. With governance the credential must be a valid key (else 401);
a virtual key owns what it created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferryman.gateway.background import BackgroundRunner
from ferryman.gateway.exchange import Headers
from ferryman.http import Receive, Scope, Send, client_credential, send_json
from ferryman.routes.replay import replay_stream
from ferryman.schemas.errors import InvalidRequestError, NotFoundError
from ferryman.state.base import StoredResponse, owner_of
from ferryman.state.pending import PendingWrites

_encode = msgspec.json.encode


class StoredResponses:
    """The routes of stored responses: they need the store, and the background runner to cancel one."""

    def __init__(
        self,
        store: PendingWrites | None,
        background: BackgroundRunner,
        authenticate: Callable[[Headers], object] | None = None,
    ) -> None:
        self.store = store
        self.background = background
        self.authenticate = authenticate  # with governance: a valid key first (else 401)

    async def _load(self, scope: Scope, response_id: str) -> StoredResponse:
        if self.authenticate is not None:
            self.authenticate(scope["headers"])
        owner = owner_of(client_credential(scope))
        record = await self.store.get_owned(response_id, owner) if self.store is not None else None
        if record is None:
            raise NotFoundError(f"No response with id '{response_id}' found.", param="response_id", code="not_found")
        return record

    async def get(self, scope: Scope, receive: Receive, send: Send, response_id: str) -> None:
        await get_response(await self._load(scope, response_id), scope, send)

    async def delete(self, scope: Scope, receive: Receive, send: Send, response_id: str) -> None:
        await self._load(scope, response_id)
        assert self.store is not None
        await self.store.delete(response_id)
        await send_json(send, 200, _encode({"id": response_id, "object": "response.deleted", "deleted": True}))

    async def input_items(self, scope: Scope, receive: Receive, send: Send, response_id: str) -> None:
        await list_input_items(await self._load(scope, response_id), scope, send)

    async def cancel(self, scope: Scope, receive: Receive, send: Send, response_id: str) -> None:
        record = await self._load(scope, response_id)
        if not record.response.get("background"):
            raise InvalidRequestError(
                "Only responses created with background=true can be cancelled.",
                param="response_id",
                code="not_cancellable",
            )
        await send_json(send, 200, _encode(await self.background.cancel(record)))


async def get_response(record: StoredResponse, scope: Scope, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode())
    if query.get("stream", ["false"])[-1].lower() in ("1", "true"):
        await replay_stream(send, record.response)
        return
    await send_json(send, 200, _encode(record.response))


@dataclass(slots=True)
class Page:
    """A list route's paging, as OpenAI pages lists: ``order`` (``desc`` unless ``asc``), ``limit`` (1 to 100,
    20 unless given) and ``after`` (the last id of the page before)."""

    desc: bool
    limit: int
    after: str | None
    query: dict[str, list[str]]


def page_of(scope: Scope) -> Page:
    """The query string's paging, or a 400 naming the bad value."""
    query = parse_qs(scope.get("query_string", b"").decode())
    order = query.get("order", ["desc"])[-1]
    if order not in ("asc", "desc"):
        raise InvalidRequestError("'order' must be 'asc' or 'desc'.", param="order", code="invalid_value")
    try:
        limit = int(query.get("limit", ["20"])[-1])
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise InvalidRequestError("'limit' must be an integer from 1 to 100.", param="limit", code="invalid_value")
    return Page(order == "desc", limit, query.get("after", [None])[-1] or None, query)


async def list_input_items(record: StoredResponse, scope: Scope, send: Send) -> None:
    page = page_of(scope)
    limit, after = page.limit, page.after
    items: list[dict[str, Any]] = list(record.input_items)
    if page.desc:
        items.reverse()
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequestError(f"No input item with id '{after}'.", param="after", code="invalid_value")
        items = items[ids.index(after) + 1 :]
    kept = items[:limit]
    body = {
        "object": "list",
        "data": kept,
        "first_id": kept[0].get("id") if kept else None,
        "last_id": kept[-1].get("id") if kept else None,
        "has_more": len(items) > limit,
    }
    await send_json(send, 200, _encode(body))
