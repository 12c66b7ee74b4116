"""The response store: what ``store: true`` keeps, so a conversation can go on on any provider.

A record holds one response: the request that made it (minus gateway-only fields; request bodies
carry no credentials), the input items it was given, the response object, who owns it (a hash of
the client's credential, never the credential) and how it chains (``previous_response_id``).
Backends: SQLite (embedded default) and PostgreSQL (shared by many gateway processes). Both write a
record in one statement, so a crash never leaves half a response behind.

Deleting a record keeps a tombstone (its id, its owner, when; nothing of its content), so an id
Ferryman has seen stays known after it is gone: it is never taken for one only a provider knows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

# 1: responses; 2: tombstones of deleted ones; 3: governance (keys, teams, spend); 4: request log; 5: conversations;
# 6: the request log's cost breakdown; 7: the request log's text index; 8: spend summed per key, team and hour;
# 9: the request log's key and team indexes only of the entries that name one
SCHEMA_VERSION = 9


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class StoredResponse:
    id: str
    owner: str | None
    created_at: int
    previous_response_id: str | None
    provider: str
    provider_type: str
    native_chain: bool  # the provider keeps it too (OpenAI with store): its own chain can be used
    status: str
    request: dict[str, Any]
    input_items: list[dict[str, Any]]
    response: dict[str, Any]
    # ``response`` as JSON, when it is at hand already (the reply's body, as the client got it): written as it is
    response_json: bytes | None = field(default=None, compare=False, repr=False)

    def __init__(
        self,
        id: str,
        owner: str | None,
        created_at: int,
        previous_response_id: str | None,
        provider: str,
        provider_type: str,
        native_chain: bool,
        status: str,
        request: dict[str, Any],
        input_items: list[dict[str, Any]],
        response: dict[str, Any],
        response_json: bytes | None = None,
    ) -> None:
        self.id = id
        self.owner = owner
        self.created_at = created_at
        self.previous_response_id = previous_response_id
        self.provider = provider
        self.provider_type = provider_type
        self.native_chain = native_chain
        self.status = status
        self.request = request
        self.input_items = input_items
        self.response = response
        self.response_json = response_json


class ResponseStore(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise unless the store answers (``GET /ready``)."""

    async def put(self, record: StoredResponse) -> None:
        """Insert or replace a record (a background response is written again when it ends)."""

    async def get(self, response_id: str) -> StoredResponse | None: ...

    async def chain(self, response_id: str) -> list[StoredResponse]:
        """The record and its predecessors, oldest first (empty when the id is unknown)."""

    async def delete(self, response_id: str) -> bool:
        """Remove a record, leaving its tombstone; False when there was no record."""

    async def seen(self, response_id: str) -> bool:
        """Whether the id is stored, or was and has been deleted (a tombstone)."""


def may_read(record: StoredResponse, owner: str | None) -> bool:
    """Whether a client (by its owner tag) may read a record: its own, or one nobody owns."""
    return record.owner is None or record.owner == owner


def owner_of(credential: str | None) -> str | None:
    """A stable, non-reversible owner tag for a client credential."""
    if not credential:
        return None
    return owner_tag(credential_digest(credential))


def credential_digest(credential: str) -> str:
    """A credential's SHA-256, in hex: its owner tag is its first half, a virtual key's record holds all of it."""
    return hashlib.sha256(credential.encode()).hexdigest()


def owner_tag(digest: str) -> str:
    """The owner tag of a credential, from its ``credential_digest``."""
    return digest[:32]
