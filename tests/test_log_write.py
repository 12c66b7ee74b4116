"""The request log's writes, on SQLite and on PostgreSQL: batches of any size (SQLite writes several rows
to a statement) read back field for field; and schema 9 (the key's and team's indexes hold only entries
that name one): a store of schema 8 migrated at start-up keeps its entries, and the admin API's key and
team filters still read the indexes.

Each test runs on a store of its own (``test_log_search.store_url``: on PostgreSQL, a database it creates).
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from dataclasses import replace
from typing import Any

import asyncpg

from ferryman.state import open_store
from ferryman.state.base import SCHEMA_VERSION
from ferryman.state.logs import (
    LOGS,
    LogEntry,
    LogQuery,
    entry_view,
    select_logs,
)
from ferryman.state.sqlite_rows import MOST
from tests import test_log_search, test_request_log
from tests.test_request_log import Logged

store_url = test_log_search.store_url  # a store of the test's own
start = test_request_log.start  # a gateway with governance and the request log


def _entry(model: str, n: int, *, key: tuple[str, str] | None = None) -> LogEntry:
    """An entry whose optional fields are set or None, and whose flags are true or false, by ``n``."""
    odd = n % 2 == 1
    answered = {"ttft_ms": 0.25, "cost_detail": {"total_cost": 0.001 * n}}
    failed = {"provider": None, "model_deployment": None, "status_code": 502, "error": "openai answered 502"}
    entry = replace(
        test_log_search._old_entry(uuid.uuid4().hex),
        **(answered if odd else failed),  # type: ignore[arg-type]
        response_id=f"resp_{n}" if odd else None,
        key_id=key[0] if key else None,
        team_id=key[1] if key else None,
        model_requested=model,
        latency_ms=1.5 + n,
        input_tokens=n,
        cost_usd=0.001 * n,
        cache_hit=odd,
        stream=not odd,
        attempts=[{"target": "openai/gpt-4o", "status": 200, "latency_ms": 1.0}] if odd else [],
        content=([{"role": "user", "content": f"hello {n}"}], None if n % 3 else [{"type": "message"}])
        if n % 4
        else None,
    )
    entry.id = entry.id[:4] + f"{int(entry.id[4:18], 16) + n:014x}" + entry.id[18:]  # ids in the order made
    return entry


def test_batches_of_any_size_are_written_whole(store_url: str) -> None:
    """Sizes around SQLite's statements of several rows (powers of two, at most ``MOST``): every entry is
    read back as written, None and flags included; an id written again is kept once."""
    model = f"m-{uuid.uuid4().hex[:8]}"
    sizes = [1, 2, 3, MOST - 1, MOST, MOST + 1, 2 * MOST + 3]
    batches: list[list[LogEntry]] = []
    for size in sizes:
        base = sum(len(b) for b in batches)
        batches.append([_entry(model, base + i) for i in range(size)])
    written = [e for batch in batches for e in batch]

    async def run() -> tuple[list[dict[str, Any]], list[dict[str, Any] | None]]:
        store: Any = open_store(store_url)
        await store.start()
        try:
            for batch in batches:
                await store.add_logs(batch)
            await store.add_logs([written[0], _entry(model, len(written))])  # a known id, and a new entry
            listed = await store.logs(LogQuery(model=model, limit=1000))
            return listed, [await store.log(e.id) for e in written]
        finally:
            await store.close()

    listed, full = asyncio.run(run())
    assert len(listed) == len(written) + 1
    expected = {e.id: entry_view(e.row()) for e in written}
    assert [v for v in listed if v["id"] in expected] == [expected[e.id] for e in reversed(written)]
    for entry, view in zip(written, full, strict=True):
        given, output = entry.content if entry.content is not None else (None, None)
        assert view == expected[entry.id] | {"input": given, "output": output}


# ---- a store of schema 8 ---------------------------------------------------------------------------------


BEFORE = 8  # the schema before the key's and team's indexes kept only entries that name one


def _indexes(url: str) -> dict[str, str]:
    """The request log's key and team indexes, as the database defines them."""
    names = (f"{LOGS}_key_id", f"{LOGS}_team_id")
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as db:
            rows = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall()
    else:

        async def read() -> list[Any]:
            conn = await asyncpg.connect(url)
            try:
                return list(await conn.fetch("SELECT indexname, indexdef FROM pg_indexes"))
            finally:
                await conn.close()

        rows = asyncio.run(read())
    return {name: sql for name, sql in rows if name in names}


def _plan(url: str, query: LogQuery) -> str:
    """How the database reads the admin API's page for ``query`` (PostgreSQL: as on a table too large to scan)."""
    if url.startswith("sqlite"):
        sql, params = select_logs(query, lambda n: "?", "LIKE")
        with sqlite3.connect(url.split(":///", 1)[1]) as db:
            return "\n".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))
    sql, params = select_logs(query, lambda n: f"${n}", "ILIKE")

    async def explain() -> str:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")
                return "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *params))
        finally:
            await conn.close()

    return asyncio.run(explain())


def test_a_store_of_schema_8_keeps_its_entries_and_indexes_only_keys_and_teams_named(
    store_url: str, start: Any
) -> None:
    old_key, old_team = f"key_{uuid.uuid4().hex[:12]}", f"team_{uuid.uuid4().hex[:12]}"
    model = f"m-{uuid.uuid4().hex[:8]}"
    kept = [_entry(model, 1, key=(old_key, old_team)), _entry(model, 2)]
    test_log_search._write_previous_version(store_url, *kept, version=BEFORE)
    assert all(" WHERE " not in sql.upper() for sql in _indexes(store_url).values())

    gw: Logged = start(store=store_url)
    assert [e["id"] for e in gw.admin.get("/admin/logs", params={"model": model}).json()["data"]] == [
        e.id for e in reversed(kept)
    ]
    for name, value in (("key_id", old_key), ("team_id", old_team)):
        page = gw.admin.get("/admin/logs", params={name: value}).json()["data"]
        assert [e["id"] for e in page] == [kept[0].id]
        assert page[0] == entry_view(kept[0].row())
    said = gw.client.responses.create(model="smart", input="after the migration").id
    assert [e["response_id"] for e in gw.entries()["data"]] == [said]  # gw.entries: by the gateway's key
    assert [e["response_id"] for e in gw.entries(team_id=gw.team_id)["data"]] == [said]

    indexes = _indexes(store_url)
    assert sorted(indexes) == [f"{LOGS}_key_id", f"{LOGS}_team_id"]
    for name, sql in indexes.items():
        column = name.removeprefix(f"{LOGS}_")
        assert f"WHERE ({column} IS NOT NULL)" in sql or f"WHERE {column} IS NOT NULL" in sql, sql
    for query in (
        LogQuery(key_id=old_key),
        LogQuery(team_id=old_team),
        LogQuery(key_id=old_key, after=kept[1].id, limit=10),
        LogQuery(team_id=old_team, status=(500, 599)),
    ):
        index = f"{LOGS}_key_id" if query.key_id else f"{LOGS}_team_id"
        assert index in _plan(store_url, query), (query, _plan(store_url, query))
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.split(":///", 1)[1]) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
