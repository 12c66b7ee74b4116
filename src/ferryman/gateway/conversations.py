"""Conversations (OpenAI's Conversations API) as Ferryman keeps them, for every provider: what the
``/v1/conversations`` routes and a ``POST /v1/responses`` with ``conversation`` share.

A conversation belongs to the credential that created it (its hash, as for stored responses): for anyone
else it is a 404, exactly like an id that never existed or was deleted (one query either way, so the
timing does not tell them apart). Items are kept as the API lists them: each with an id (made for it
when it came without one) and a message with its ``type`` and ``status``.

The items of an answer are appended once it is complete, a write started before the reply and
committed after it (``store.sync: after_reply``) or before it (``before_reply``), as the stored response
itself is; a read of the conversation in this process waits for that write first, so the next turn
always sees the last one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ferryman.ids import new_id
from ferryman.schemas.errors import InvalidRequestError, NotFoundError
from ferryman.schemas.items import check_input, input_list
from ferryman.state.conversations import ConversationRecord, ConversationStore, StoredItem
from ferryman.state.pending import PendingWrites

MAX_ITEMS = 20  # items one create or add may carry, as OpenAI allows
MAX_METADATA = 16  # pairs; keys up to 64 characters, values up to 512
_ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


class Conversations:
    def __init__(self, store: ConversationStore, pending: PendingWrites) -> None:
        self.store = store
        self.pending = pending

    async def create(
        self, owner: str | None, items: list[dict[str, Any]], metadata: dict[str, str]
    ) -> tuple[ConversationRecord, list[StoredItem]]:
        record = ConversationRecord(new_id("conv"), owner, int(time.time()), metadata)
        stored = stored_items(items, None)
        await self.store.add_conversation(record, stored)
        return record, stored

    async def get(self, conversation_id: str, owner: str | None, param: str = "conversation_id") -> ConversationRecord:
        """The conversation if ``owner`` may read it; a 404 otherwise (unknown, deleted or someone else's)."""
        record = await self.store.conversation(conversation_id)
        if record is None or (record.owner is not None and record.owner != owner):
            raise NotFoundError(f"Conversation with id '{conversation_id}' not found.", param=param, code="not_found")
        return record

    async def items(self, conversation_id: str) -> list[StoredItem]:
        """Every item, oldest first, once this process's appends to it are in."""
        await self.pending.settled(conversation_id)
        return await self.store.conversation_items(conversation_id)

    async def add(self, conversation_id: str, items: list[dict[str, Any]]) -> list[StoredItem]:
        """Items a client adds (checked by ``checked_items``); a 404 when the conversation is gone meanwhile."""
        stored = stored_items(items, None)
        await self.pending.settled(conversation_id)  # after what an answer still appends: in order
        if not await self.store.append_items(conversation_id, stored):
            raise NotFoundError(
                f"Conversation with id '{conversation_id}' not found.", param="conversation_id", code="not_found"
            )
        return stored

    def append_soon(self, conversation_id: str, items: list[dict[str, Any]], origin: str) -> asyncio.Future[Any]:
        """Start appending an answer's input and output items (made by a provider of type ``origin``); the
        future settles once they are committed (or dropped: the conversation was deleted meanwhile)."""
        stored = stored_items(items, origin)
        append_nowait = getattr(self.store, "append_nowait", None)
        write = (
            append_nowait(conversation_id, stored)
            if append_nowait is not None
            else asyncio.ensure_future(self.store.append_items(conversation_id, stored))
        )
        return self.pending.track(conversation_id, write)


def stored_items(items: list[dict[str, Any]], origin: str | None) -> list[StoredItem]:
    """Items as a conversation keeps them: shorthand messages in full, each with an id and a type, a
    message with its status."""
    kept: list[StoredItem] = []
    for given in input_list(items):
        item = dict(given)
        kind = item.setdefault("type", "message")
        if kind == "message":
            item.setdefault("status", "completed")
        if not isinstance(item.get("id"), str) or not item["id"]:
            item["id"] = new_id(_ID_PREFIXES.get(kind, "item"))
        kept.append(StoredItem(item["id"], origin, item))
    return kept


def checked_items(items: Any, *, required: bool) -> list[dict[str, Any]]:
    """A client's ``items`` (at most ``MAX_ITEMS``, each shaped as a request's input item), or a 400."""
    if items is None and not required:
        return []
    if not isinstance(items, list):
        raise InvalidRequestError("'items' must be a list of items.", param="items", code="invalid_value")
    if len(items) > MAX_ITEMS:
        raise InvalidRequestError(
            f"'items' may hold at most {MAX_ITEMS} items at a time; add the rest in another call.",
            param="items",
            code="invalid_value",
        )
    check_input(items, "items")
    return items


def checked_metadata(metadata: Any) -> dict[str, str]:
    """A client's ``metadata`` (at most 16 string pairs, keys up to 64 characters, values up to 512), or a 400."""
    if metadata is None:
        return {}
    fits = (
        isinstance(metadata, dict)
        and len(metadata) <= MAX_METADATA
        and all(isinstance(k, str) and len(k) <= 64 for k in metadata)
        and all(isinstance(v, str) and len(v) <= 512 for v in metadata.values())
    )
    if not fits:
        raise InvalidRequestError(
            "'metadata' must be an object of at most 16 string values (keys up to 64 characters, values up to 512).",
            param="metadata",
            code="invalid_value",
        )
    return dict(metadata)


def item_view(item: dict[str, Any], include: list[str]) -> dict[str, Any]:
    """An item as the API shows it: a reasoning item's ``encrypted_content`` only when ``include`` asks."""
    if item.get("type") == "reasoning" and "reasoning.encrypted_content" not in include and "encrypted_content" in item:
        return {k: v for k, v in item.items() if k != "encrypted_content"}
    return item
