"""Conversations in the store (OpenAI's Conversations API, kept by Ferryman for every provider), in SQL
both SQLite and PostgreSQL speak.

A conversation is a row (its owner's hash, its metadata, the next item's sequence number) and its items
one row each, in the order they were added (``seq``), each with the provider type whose answer or
request it was part of (``origin``: None for items a client added itself), so a history replayed to an
OpenAI-native provider leaves out another provider's reasoning, as a chain of stored responses does.

Appending reserves its sequence numbers by bumping the conversation's ``next_seq`` in the same
transaction, which also checks that the conversation still exists: items that arrive after a delete
(an answer that was still running) are dropped, and a deleted conversation stays deleted (its row is
kept with ``deleted_at`` and no metadata; its items are gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

CONVERSATIONS = "ferryman_conversations"
ITEMS = "ferryman_conversation_items"

CONVERSATION_TABLES: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {CONVERSATIONS} (
    id TEXT PRIMARY KEY,
    owner TEXT,
    created_at BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    deleted_at BIGINT
)""",
    f"""CREATE TABLE IF NOT EXISTS {ITEMS} (
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    origin TEXT,
    item TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
)""",
    f"CREATE INDEX IF NOT EXISTS {ITEMS}_id ON {ITEMS}(conversation_id, id)",
)

LAST_SEQ = 2**62  # above every sequence number: where a newest-first page starts

# every statement with numbered placeholders ({p1}, {p2}, ...): ``?1`` for SQLite, ``$1`` for PostgreSQL
_ROWS = "SELECT seq, id, origin, item FROM {items} WHERE conversation_id = {p1}"
_LIVE = "WHERE id = {p1} AND deleted_at IS NULL"
_STATEMENTS = {
    "create": "INSERT INTO {conv} (id, owner, created_at, metadata, next_seq) VALUES ({p1}, {p2}, {p3}, {p4}, {p5})",
    "get": "SELECT id, owner, created_at, metadata FROM {conv} " + _LIVE,
    "update": "UPDATE {conv} SET metadata = {p2} " + _LIVE,
    "delete": "UPDATE {conv} SET deleted_at = {p2}, metadata = '{{}}' " + _LIVE,
    "forget": "DELETE FROM {items} WHERE conversation_id = {p1}",
    "reserve": "UPDATE {conv} SET next_seq = next_seq + {p2} " + _LIVE + " RETURNING next_seq",
    "add": "INSERT INTO {items} (conversation_id, seq, id, origin, item) VALUES ({p1}, {p2}, {p3}, {p4}, {p5})",
    "items": _ROWS + " ORDER BY seq",
    "item": _ROWS + " AND id = {p2} ORDER BY seq LIMIT 1",
    "after": _ROWS + " AND seq > {p2} ORDER BY seq LIMIT {p3}",
    "before": _ROWS + " AND seq < {p2} ORDER BY seq DESC LIMIT {p3}",
    "remove": "DELETE FROM {items} WHERE conversation_id = {p1} AND id = {p2}",
}


def statements(mark: str) -> dict[str, str]:
    """Every statement in a dialect: ``mark`` is ``"?"`` (SQLite) or ``"$"`` (PostgreSQL)."""
    names = {"conv": CONVERSATIONS, "items": ITEMS, **{f"p{n}": f"{mark}{n}" for n in range(1, 6)}}
    return {name: sql.format(**names) for name, sql in _STATEMENTS.items()}


@dataclass(slots=True)
class ConversationRecord:
    id: str
    owner: str | None  # a hash of the credential that created it (None: created without one)
    created_at: int
    metadata: dict[str, str]

    def view(self) -> dict[str, Any]:
        """The conversation object of the API."""
        return {"id": self.id, "object": "conversation", "created_at": self.created_at, "metadata": self.metadata}


@dataclass(slots=True)
class StoredItem:
    id: str
    origin: str | None  # the provider type whose request or answer held it; None: a client added it
    item: dict[str, Any]
    seq: int = 0  # its place in the conversation (set by the store)


_enc = msgspec.json.encode
_dec = msgspec.json.decode


def conversation_row(r: ConversationRecord, next_seq: int) -> tuple[Any, ...]:
    return (r.id, r.owner, r.created_at, _enc(r.metadata).decode(), next_seq)


def to_conversation(row: Any) -> ConversationRecord:
    return ConversationRecord(id=row[0], owner=row[1], created_at=int(row[2]), metadata=_dec(row[3]))


def item_rows(conversation_id: str, first: int, items: list[StoredItem]) -> list[tuple[Any, ...]]:
    """Rows of ``items`` numbered from ``first`` on."""
    return [(conversation_id, first + n, i.id, i.origin, _enc(i.item).decode()) for n, i in enumerate(items)]


def to_item(row: Any) -> StoredItem:
    return StoredItem(id=row[1], origin=row[2], item=_dec(row[3]), seq=int(row[0]))


def metadata_text(metadata: dict[str, str]) -> str:
    return _enc(metadata).decode()


class ConversationStore(Protocol):
    """What the Conversations API asks of a store (SQLite and PostgreSQL both have it). None of it checks an
    owner: the caller reads the conversation first (``gateway/conversations.py``)."""

    async def add_conversation(self, record: ConversationRecord, items: list[StoredItem]) -> None: ...

    async def conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The conversation, unless it is unknown or deleted."""

    async def set_conversation_metadata(self, conversation_id: str, metadata: dict[str, str]) -> bool: ...

    async def delete_conversation(self, conversation_id: str) -> bool:
        """Mark it deleted and drop its items; False when there was none (or it was deleted already)."""

    async def append_items(self, conversation_id: str, items: list[StoredItem]) -> bool:
        """Add items at the end; False (nothing added) when the conversation is unknown or deleted."""

    async def conversation_items(self, conversation_id: str) -> list[StoredItem]:
        """Every item, oldest first."""

    async def conversation_item(self, conversation_id: str, item_id: str) -> StoredItem | None: ...

    async def conversation_page(self, conversation_id: str, start: int, limit: int, desc: bool) -> list[StoredItem]:
        """Up to ``limit`` items after ``start`` (a sequence number) in the order asked for."""

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool: ...
