"""PostgreSQL store: pooled (asyncpg), shared by many gateway processes and hosts.

Migrations run at start-up under an advisory lock, so processes starting together do not race.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from ferryman.state.base import SCHEMA_VERSION, StoredResponse
from ferryman.state.conversations import (
    ConversationRecord,
    StoredItem,
    conversation_row,
    item_rows,
    metadata_text,
    statements,
    to_conversation,
    to_item,
)
from ferryman.state.logs import (
    LOG_COLUMNS,
    ONE_CONTENT,
    ONE_LOG,
    PROVIDER_COUNTS,
    PROVIDER_LATENCIES,
    PRUNE,
    LogEntry,
    LogQuery,
    entry_view,
    insert_content,
    insert_log,
    provider_stats,
    select_logs,
)
from ferryman.state.logsearch import POSTGRES_INDEX, POSTGRES_INDEXED, POSTGRES_UNINDEX, UNINDEXED
from ferryman.state.records import (
    RECORD_TABLES,
    SPEND_COLUMNS,
    SpendBucket,
    SpendGroup,
    SpendPoint,
    SpendRow,
    add_hours,
    hour_sums,
    insert_spend,
    spend_buckets,
    spend_groups,
    spend_points,
    to_bucket,
    to_group,
    to_point,
    upsert_record,
)
from ferryman.state.sql import CHAIN, COLUMNS, SEEN, TABLE, TOMBSTONE, from_row, migrations_after, to_row, upsert

_LOCK_KEY = 0x466572727921  # "Ferry!"

_UPSERT = upsert(lambda n: f"${n}")
# one statement: the record goes and its tombstone comes, or neither
_DELETE = f"WITH gone AS (DELETE FROM {TABLE} WHERE id = $1 RETURNING id, owner) " + TOMBSTONE.format(
    p1="$1", p2="$2::BIGINT", rows="gone"
)
_SEEN = SEEN.format(p1="$1")
_SPEND = insert_spend(", ".join(f"${n}" for n in range(1, len(SPEND_COLUMNS) + 1)))
_HOURS = add_hours("$1, $2, $3, $4, $5, $6, $7")
_LOG = insert_log(", ".join(f"${n}" for n in range(1, len(LOG_COLUMNS) + 1)))
_CONTENT = insert_content("$1, $2, $3")
_ONE_LOG = ONE_LOG.format(p1="$1")
_ONE_CONTENT = ONE_CONTENT.format(p1="$1")
_PROVIDER_COUNTS = PROVIDER_COUNTS.format(p1="$1::BIGINT", p2="$2::BIGINT")
_PROVIDER_LATENCIES = PROVIDER_LATENCIES.format(p1="$1::BIGINT", p2="$2::BIGINT")
_PRUNE = tuple(statement.format(p1="$1::BIGINT") for statement in PRUNE)
_CONV = statements("$")

log = logging.getLogger("ferryman")


def asyncpg_dsn(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


class PostgresStore:
    def __init__(self, url: str, text_index: bool | None = None, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = asyncpg_dsn(url)
        self.text_index = text_index  # make (true) or drop (false) the log's text index at start; None: as it is
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self._pool = await asyncpg.create_pool(self.dsn, min_size=self.min_size, max_size=self.max_size)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            await conn.execute("CREATE TABLE IF NOT EXISTS ferryman_schema (version INT NOT NULL)")
            current = await conn.fetchval("SELECT max(version) FROM ferryman_schema")
            if current is None or current < SCHEMA_VERSION:
                for statement in migrations_after(current or 0, "postgres"):
                    await conn.execute(statement)
                await conn.execute("INSERT INTO ferryman_schema (version) VALUES ($1)", SCHEMA_VERSION)
            indexed = await conn.fetchval(POSTGRES_INDEXED)
            if self.text_index is False and indexed:
                await conn.execute(POSTGRES_UNINDEX)
            elif self.text_index and not indexed:
                for statement in POSTGRES_INDEX:  # warns, never fails, without pg_trgm
                    await conn.execute(statement)
                if not await conn.fetchval(POSTGRES_INDEXED):
                    log.warning(UNINDEXED)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("store used before start()")
        return self._pool

    async def ping(self) -> None:
        """A round trip to the database."""
        await self.pool.fetchval("SELECT 1")

    async def put(self, record: StoredResponse) -> None:
        await self.pool.execute(_UPSERT, *to_row(record))

    async def get(self, response_id: str) -> StoredResponse | None:
        row = await self.pool.fetchrow(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = $1", response_id)
        return from_row(row) if row else None

    async def chain(self, response_id: str) -> list[StoredResponse]:
        rows = await self.pool.fetch(CHAIN.format(p1="$1"), response_id)
        return [from_row(r) for r in rows]

    async def delete(self, response_id: str) -> bool:
        status: str = await self.pool.execute(_DELETE, response_id, int(time.time()))
        return status.endswith(" 1")

    async def seen(self, response_id: str) -> bool:
        return await self.pool.fetchval(_SEEN, response_id) is not None

    # ---- governance records (state/records.py) ---------------------------------------------------

    async def put_record(self, table: str, record_id: str, body: str, updated_at: int) -> None:
        await self.pool.execute(upsert_record(table, "$1, $2, $3"), record_id, body, updated_at)

    async def records(self, table: str) -> list[str]:
        assert table in RECORD_TABLES
        return [r[0] for r in await self.pool.fetch(f"SELECT body FROM {table}")]

    async def delete_record(self, table: str, record_id: str) -> bool:
        assert table in RECORD_TABLES
        status: str = await self.pool.execute(f"DELETE FROM {table} WHERE id = $1", record_id)
        return status.endswith(" 1")

    async def add_spend(self, rows: Sequence[SpendRow]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():  # the rows and their sums together
            await conn.executemany(_SPEND, [row.row() for row in rows])
            await conn.executemany(_HOURS, hour_sums(rows))

    async def spend_buckets(self, since: int = 0) -> list[SpendBucket]:
        rows = await self.pool.fetch(spend_buckets("$1::BIGINT"), since)
        return [to_bucket(r) for r in rows]

    async def spend_by(self, group_by: str, start: int, end: int) -> list[SpendGroup]:
        rows = await self.pool.fetch(spend_groups(group_by, "$1::BIGINT", "$2::BIGINT"), start, end)
        return [to_group(r) for r in rows]

    async def spend_over_time(self, group_by: str, bucket: str, start: int, end: int) -> list[SpendPoint]:
        rows = await self.pool.fetch(spend_points(group_by, bucket, "$1::BIGINT", "$2::BIGINT"), start, end)
        return [to_point(r) for r in rows]

    # ---- the request log (state/logs.py) ---------------------------------------------------------

    async def add_logs(self, entries: list[LogEntry]) -> None:
        rows = [e.row() for e in entries]
        contents = [row for row in (e.content_row() for e in entries) if row is not None]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(_LOG, rows)
            if contents:
                await conn.executemany(_CONTENT, contents)

    async def logs(self, query: LogQuery) -> list[dict[str, Any]]:
        sql, params = select_logs(query, lambda n: f"${n}", "ILIKE")
        return [entry_view(r) for r in await self.pool.fetch(sql, *params)]

    async def log(self, entry_id: str) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(_ONE_LOG, entry_id)
            if row is None:
                return None
            content = await conn.fetchrow(_ONE_CONTENT, entry_id)
        return entry_view(row, content or (None, None))

    async def provider_stats(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        span = (int(start * 1000), int(end * 1000))
        async with self.pool.acquire() as conn:
            counts = await conn.fetch(_PROVIDER_COUNTS, *span)
            latencies = await conn.fetch(_PROVIDER_LATENCIES, *span)
        return provider_stats(counts, latencies)

    async def prune_logs(self, before: float) -> int:
        cutoff = int(before * 1000)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_PRUNE[0], cutoff)
            status: str = await conn.execute(_PRUNE[1], cutoff)
        return int(status.rsplit(" ", 1)[-1])

    # ---- conversations (state/conversations.py) ---------------------------------------------------

    async def add_conversation(self, record: ConversationRecord, items: list[StoredItem]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_CONV["create"], *conversation_row(record, len(items)))
            if items:
                await conn.executemany(_CONV["add"], item_rows(record.id, 0, items))

    async def conversation(self, conversation_id: str) -> ConversationRecord | None:
        row = await self.pool.fetchrow(_CONV["get"], conversation_id)
        return to_conversation(row) if row else None

    async def set_conversation_metadata(self, conversation_id: str, metadata: dict[str, str]) -> bool:
        status: str = await self.pool.execute(_CONV["update"], conversation_id, metadata_text(metadata))
        return status.endswith(" 1")

    async def delete_conversation(self, conversation_id: str) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            status: str = await conn.execute(_CONV["delete"], conversation_id, int(time.time()))
            await conn.execute(_CONV["forget"], conversation_id)
        return status.endswith(" 1")

    async def append_items(self, conversation_id: str, items: list[StoredItem]) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # the row lock this takes orders concurrent appends to one conversation
            end = await conn.fetchval(_CONV["reserve"], conversation_id, len(items))
            if end is None:
                return False
            await conn.executemany(_CONV["add"], item_rows(conversation_id, int(end) - len(items), items))
        return True

    async def conversation_items(self, conversation_id: str) -> list[StoredItem]:
        return [to_item(r) for r in await self.pool.fetch(_CONV["items"], conversation_id)]

    async def conversation_item(self, conversation_id: str, item_id: str) -> StoredItem | None:
        row = await self.pool.fetchrow(_CONV["item"], conversation_id, item_id)
        return to_item(row) if row else None

    async def conversation_page(self, conversation_id: str, start: int, limit: int, desc: bool) -> list[StoredItem]:
        rows = await self.pool.fetch(_CONV["before" if desc else "after"], conversation_id, start, limit)
        return [to_item(r) for r in rows]

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        status: str = await self.pool.execute(_CONV["remove"], conversation_id, item_id)
        return not status.endswith(" 0")
