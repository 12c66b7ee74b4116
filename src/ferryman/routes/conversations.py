"""The Conversations API (every route prefix): ``/v1/conversations`` and its items, kept by Ferryman.

``POST /v1/conversations`` makes one (with up to 20 first items and metadata); ``GET``, ``POST`` (new
metadata) and ``DELETE`` ``/v1/conversations/{id}``; ``GET`` (paged as OpenAI pages lists: ``limit``,
``after``, ``order``, ``include``) and ``POST`` ``/v1/conversations/{id}/items``; ``GET`` and ``DELETE``
``/v1/conversations/{id}/items/{item_id}`` (a delete answers with the conversation). A ``POST
/v1/responses`` with ``conversation`` reads and extends the same conversations, on any provider.

A conversation is its creator's (``gateway/conversations.py``): for anyone else, as for an unknown or
deleted id, a 404. With governance the credential must be a valid key (else 401). Without a store
there is nowhere to keep them: every route answers a 404 saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferryman.gateway.conversations import Conversations, checked_items, checked_metadata, item_view
from ferryman.gateway.exchange import Headers
from ferryman.http import BodyBudget, Receive, Scope, Send, client_credential, read_body, send_json
from ferryman.routes.stored import page_of
from ferryman.schemas.errors import InvalidRequestError, NotFoundError
from ferryman.schemas.responses import decode_json
from ferryman.state.base import owner_of
from ferryman.state.conversations import LAST_SEQ, ConversationRecord, StoredItem

_encode = msgspec.json.encode


class ConversationRoutes:
    def __init__(
        self,
        conversations: Conversations | None,
        budget: BodyBudget,
        max_request_bytes: int,
        authenticate: Callable[[Headers], object] | None = None,
    ) -> None:
        self.conversations = conversations
        self.budget = budget
        self.max_request_bytes = max_request_bytes
        self.authenticate = authenticate  # with governance: a valid key first (else 401)

    def _caller(self, scope: Scope) -> tuple[Conversations, str | None]:
        """The conversations and the caller's owner tag (after governance has checked its key)."""
        if self.conversations is None:
            raise NotFoundError(
                "Conversations are kept in Ferryman's store, and this gateway has none: configure one "
                "(store: in the config).",
                code="store_not_configured",
            )
        if self.authenticate is not None:
            self.authenticate(scope["headers"])
        return self.conversations, owner_of(client_credential(scope))

    async def _body(self, receive: Receive) -> dict[str, Any]:
        body = await read_body(receive, self.max_request_bytes, self.budget)
        self.budget.give(len(body))
        raw = decode_json(body) if body.strip() else {}
        if not isinstance(raw, dict):
            raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
        return raw

    async def _own(self, scope: Scope, conversation_id: str) -> tuple[Conversations, ConversationRecord]:
        conversations, owner = self._caller(scope)
        return conversations, await conversations.get(conversation_id, owner)

    # ---- conversations ---------------------------------------------------------------------------

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        conversations, owner = self._caller(scope)
        raw = await self._body(receive)
        items = checked_items(raw.get("items"), required=False)
        record, _ = await conversations.create(owner, items, checked_metadata(raw.get("metadata")))
        await send_json(send, 200, _encode(record.view()))

    async def get(self, scope: Scope, receive: Receive, send: Send, conversation_id: str) -> None:
        _, record = await self._own(scope, conversation_id)
        await send_json(send, 200, _encode(record.view()))

    async def update(self, scope: Scope, receive: Receive, send: Send, conversation_id: str) -> None:
        conversations, record = await self._own(scope, conversation_id)
        raw = await self._body(receive)
        if "metadata" not in raw:
            raise InvalidRequestError("Missing required parameter: 'metadata'.", param="metadata", code="missing")
        record.metadata = checked_metadata(raw["metadata"])
        if not await conversations.store.set_conversation_metadata(conversation_id, record.metadata):
            await conversations.get(conversation_id, None)  # deleted meanwhile: its 404
        await send_json(send, 200, _encode(record.view()))

    async def delete(self, scope: Scope, receive: Receive, send: Send, conversation_id: str) -> None:
        conversations, _ = await self._own(scope, conversation_id)
        await conversations.pending.settled(conversation_id)  # an append in flight lands first, then goes too
        await conversations.store.delete_conversation(conversation_id)
        body = {"id": conversation_id, "object": "conversation.deleted", "deleted": True}
        await send_json(send, 200, _encode(body))

    # ---- items -----------------------------------------------------------------------------------

    async def list_items(self, scope: Scope, receive: Receive, send: Send, conversation_id: str) -> None:
        conversations, _ = await self._own(scope, conversation_id)
        page = page_of(scope)
        start = LAST_SEQ if page.desc else -1
        await conversations.pending.settled(conversation_id)
        if page.after:
            found = await conversations.store.conversation_item(conversation_id, page.after)
            if found is None:
                raise InvalidRequestError(f"No item with id '{page.after}'.", param="after", code="invalid_value")
            start = found.seq
        rows = await conversations.store.conversation_page(conversation_id, start, page.limit + 1, page.desc)
        include = _include(page.query)
        await send_json(send, 200, _encode(_list(rows[: page.limit], include, has_more=len(rows) > page.limit)))

    async def add_items(self, scope: Scope, receive: Receive, send: Send, conversation_id: str) -> None:
        conversations, _ = await self._own(scope, conversation_id)
        query = parse_qs(scope.get("query_string", b"").decode())
        items = checked_items((await self._body(receive)).get("items"), required=True)
        added = await conversations.add(conversation_id, items)
        await send_json(send, 200, _encode(_list(added, _include(query), has_more=False)))

    async def get_item(self, scope: Scope, receive: Receive, send: Send, conversation_id: str, item_id: str) -> None:
        conversations, _ = await self._own(scope, conversation_id)
        await conversations.pending.settled(conversation_id)
        found = await conversations.store.conversation_item(conversation_id, item_id)
        if found is None:
            raise _no_item(item_id)
        query = parse_qs(scope.get("query_string", b"").decode())
        await send_json(send, 200, _encode(item_view(found.item, _include(query))))

    async def delete_item(self, scope: Scope, receive: Receive, send: Send, conversation_id: str, item_id: str) -> None:
        conversations, record = await self._own(scope, conversation_id)
        await conversations.pending.settled(conversation_id)
        if not await conversations.store.delete_conversation_item(conversation_id, item_id):
            raise _no_item(item_id)
        await send_json(send, 200, _encode(record.view()))


def _include(query: dict[str, list[str]]) -> list[str]:
    return [*query.get("include", []), *query.get("include[]", [])]


def _list(items: list[StoredItem], include: list[str], *, has_more: bool) -> dict[str, Any]:
    data = [item_view(i.item, include) for i in items]
    return {
        "object": "list",
        "data": data,
        "first_id": items[0].id if items else None,
        "last_id": items[-1].id if items else None,
        "has_more": has_more,
    }


def _no_item(item_id: str) -> NotFoundError:
    return NotFoundError(f"Item with id '{item_id}' not found.", param="item_id", code="not_found")
