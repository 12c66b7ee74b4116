"""SQL shared by the SQLite and PostgreSQL stores (both speak this subset)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from ferryman.state.base import SCHEMA_VERSION, StoredResponse
from ferryman.state.conversations import CONVERSATION_TABLES
from ferryman.state.logs import LOG_COST_DETAIL, LOG_SPARSE_OWNERS, LOG_TABLES
from ferryman.state.logsearch import POSTGRES_INDEX
from ferryman.state.records import GOVERNANCE_TABLES, SPEND_HOURS_TABLE

TABLE = "ferryman_responses"
DELETED = "ferryman_deleted"  # tombstones: the id, its owner and when; no content

CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    id TEXT PRIMARY KEY,
    owner TEXT,
    created_at BIGINT NOT NULL,
    previous_response_id TEXT,
    provider TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    native_chain BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    input_items TEXT NOT NULL,
    response TEXT NOT NULL
)
"""

Dialect = Literal["sqlite", "postgres"]

# what each schema version adds, in order (every statement idempotent: a half-run migration reruns); a
# step is the same SQL for both stores, or each dialect's own
MIGRATIONS: tuple[tuple[str, ...] | Mapping[Dialect, tuple[str, ...]], ...] = (
    (CREATE, f"CREATE INDEX IF NOT EXISTS {TABLE}_prev ON {TABLE}(previous_response_id)"),
    (f"CREATE TABLE IF NOT EXISTS {DELETED} (id TEXT PRIMARY KEY, owner TEXT, deleted_at BIGINT NOT NULL)",),
    GOVERNANCE_TABLES,
    LOG_TABLES,
    CONVERSATION_TABLES,
    LOG_COST_DETAIL,
    # the request log's text search: PostgreSQL's index (on by default); SQLite's is made or dropped at start-up
    # by ``logs.text_index`` (off by default), like PostgreSQL's when the setting says so
    {"sqlite": (), "postgres": POSTGRES_INDEX},
    SPEND_HOURS_TABLE,
    LOG_SPARSE_OWNERS,
)
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrations_after(version: int, dialect: Dialect) -> list[str]:
    """The statements that bring a schema at ``version`` (0: none yet) to ``SCHEMA_VERSION``."""
    steps = (step if isinstance(step, tuple) else step[dialect] for step in MIGRATIONS[version:])
    return [statement for step in steps for statement in step]


NAMES = (
    "id",
    "owner",
    "created_at",
    "previous_response_id",
    "provider",
    "provider_type",
    "native_chain",
    "status",
    "request",
    "input_items",
    "response",
)  # the order of to_row / from_row
COLUMNS = ", ".join(NAMES)


def upsert(mark: Callable[[int], str]) -> str:
    """Insert a record, or rewrite every column of the one with its id (a background response ends so).

    ``mark(n)`` is the dialect's placeholder for the n-th parameter, counted from 1.
    """
    values = ", ".join(mark(n) for n in range(1, len(NAMES) + 1))
    updates = ", ".join(f"{name} = excluded.{name}" for name in NAMES if name != "id")
    return f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {updates}"


# predecessors first; depth-bounded so a corrupt cycle cannot loop
CHAIN = f"""
WITH RECURSIVE chain(id, prev, depth) AS (
    SELECT id, previous_response_id, 0 FROM {TABLE} WHERE id = {{p1}}
    UNION ALL
    SELECT t.id, t.previous_response_id, chain.depth + 1
    FROM {TABLE} t JOIN chain ON t.id = chain.prev
    WHERE chain.depth < 10000
)
SELECT {", ".join("t." + name for name in NAMES)}
FROM chain JOIN {TABLE} t ON t.id = chain.id
ORDER BY chain.depth DESC
"""

# a record's tombstone, from the record (``{p1}``: its id, ``{p2}``: the time; ``{rows}``: where it is read)
TOMBSTONE = f"""
INSERT INTO {DELETED} (id, owner, deleted_at) SELECT id, owner, {{p2}} FROM {{rows}} WHERE id = {{p1}}
ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, deleted_at = excluded.deleted_at
"""

SEEN = f"SELECT 1 FROM {TABLE} WHERE id = {{p1}} UNION ALL SELECT 1 FROM {DELETED} WHERE id = {{p1}}"

_enc = msgspec.json.encode
_dec = msgspec.json.decode


def to_row(r: StoredResponse) -> tuple[Any, ...]:
    return (
        r.id,
        r.owner,
        r.created_at,
        r.previous_response_id,
        r.provider,
        r.provider_type,
        r.native_chain,
        r.status,
        _enc(r.request).decode(),
        _enc(r.input_items).decode(),
        (r.response_json or _enc(r.response)).decode(),
    )


def from_row(row: Any) -> StoredResponse:
    return StoredResponse(
        id=row[0],
        owner=row[1],
        created_at=int(row[2]),
        previous_response_id=row[3],
        provider=row[4],
        provider_type=row[5],
        native_chain=bool(row[6]),
        status=row[7],
        request=_dec(row[8]),
        input_items=_dec(row[9]),
        response=_dec(row[10]),
    )
