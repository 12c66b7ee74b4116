"""The request log's text search (``GET /admin/logs?q=``) through real HTTP, on SQLite and on PostgreSQL:
a case-insensitive substring of the kept input or output, found through the text index
(``state/logsearch.py``); entries without content never indexed; retention taking index rows with the
entries; a store of the previous schema version migrated at start-up with its old entries searchable;
and a store without the index (no FTS5 trigrams, no ``pg_trgm``) still answering ``q``.

Each test runs on a store of its own (on PostgreSQL, a database it creates on the test server and drops):
the shared test database may already be at a schema version another change made.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ferryman.state.base import SCHEMA_VERSION
from ferryman.state.logs import CONTENT, LOG_COLUMNS, LogEntry, insert_content, insert_log
from ferryman.state.logsearch import TEXT, TRIGRAMS
from ferryman.state.sql import MIGRATIONS
from tests import test_request_log
from tests.conftest import PG_URL
from tests.test_request_log import DAY, Clock, Logged

Start = Callable[..., Logged]
INDEXED = {"text_index": True}  # SQLite's is off by default (the gateway's own process would pay for it)
start = test_request_log.start  # the fixture: a gateway with governance and the request log, on ``store_url``


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Overrides the shared one (``start`` asks for it): a SQLite file, or a PostgreSQL database, of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/logs.db"
    else:
        with _postgres_database() as url:
            yield url


def _found(gw: Logged, q: str, **params: Any) -> list[str | None]:
    return [e["response_id"] for e in gw.entries(q=q, **params)["data"]]


def _indexed(url: str, text: str) -> int:
    """How many content rows the store's text index itself finds holding ``text`` (not the content table:
    a row the index kept after its content went would still count)."""
    if url.startswith("sqlite"):
        # the rows that have every trigram of ``text``, from the index alone (a LIKE would check each
        # against its content, and so miss a row the index kept after its content went)
        every = " AND ".join('"' + text[i : i + 3] + '"' for i in range(len(text) - 2))
        with sqlite3.connect(url.split(":///", 1)[1]) as db:
            return int(db.execute(f"SELECT count(*) FROM {TEXT} WHERE {TEXT} MATCH ?", (every,)).fetchone()[0])

    async def count() -> int:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_seqscan = off")  # read through the trigram index
                sql = f"SELECT count(*) FROM {CONTENT} WHERE input ILIKE $1"
                plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, f"%{text}%"))
                assert TRIGRAMS in plan, plan
                return int(await conn.fetchval(sql, f"%{text}%"))
        finally:
            await conn.close()

    return asyncio.run(count())


@pytest.mark.parametrize("walk", ["chosen", "index"])
def test_q_finds_a_substring_of_the_input_or_output_in_any_case(
    store_url: str, start: Start, monkeypatch: pytest.MonkeyPatch, walk: str
) -> None:
    """``walk``: SQLite reads the few entries other filters leave (``chosen``, as here: few entries) or
    always walks the text index's matches (``index``, as on a large log)."""
    if walk == "index":
        if not store_url.startswith("sqlite"):
            pytest.skip("SQLite's choice only")
        import ferryman.state.sqlite

        monkeypatch.setattr(ferryman.state.sqlite, "FEW", 0)
    gw = start(store=store_url, logs=INDEXED)
    token = uuid.uuid4().hex
    said = [
        gw.client.responses.create(model="smart", input=text).id
        for text in (f"Refund order {token} today", "Nothing here", f"Quote {token[:8]} with 100%_sure")
    ]
    assert _found(gw, token) == [said[0]]
    assert _found(gw, token[5:17].upper()) == [said[0]]  # inside a word, in another case
    assert _found(gw, f"ORDER {token[:6]}") == [said[0]]  # across words
    assert _found(gw, token[:8]) == [said[2], said[0]]  # newest first
    assert _found(gw, "100%_sure") == [said[2]]  # % and _ are text
    assert _found(gw, "100%_surE!") == []
    assert _found(gw, "capital of FRANCE") == said[::-1]  # the answer's text (the fake's): the output
    assert {said[0], said[2]} <= set(_found(gw, token[:2]))  # too short for a trigram: still found
    assert _found(gw, uuid.uuid4().hex) == []
    assert _found(gw, token[:8], status="2xx") == [said[2], said[0]]  # with other filters
    assert _found(gw, token[:8], status="5xx") == []
    first = gw.entries(q=token[:8], limit=1)
    assert [e["response_id"] for e in first["data"]] == [said[2]] and first["has_more"] is True
    second = gw.entries(q=token[:8], limit=1, after=first["last_id"])
    assert [e["response_id"] for e in second["data"]] == [said[0]] and second["has_more"] is False


@pytest.mark.parametrize("content", [True, False])
def test_an_entry_without_content_is_never_indexed(store_url: str, start: Start, content: bool) -> None:
    gw = start(store=store_url, logs={"content": content, **INDEXED})
    secret = uuid.uuid4().hex
    said = gw.client.responses.create(model="smart", input=f"Keep {secret} quiet").id
    assert gw.only()["response_id"] == said  # the entry is there either way
    assert _found(gw, secret) == ([said] if content else [])
    assert _indexed(store_url, secret) == int(content)


def test_retention_takes_the_index_rows_with_the_entries(store_url: str, start: Start) -> None:
    clock = Clock(time.time() - 40 * DAY)
    gw = start(clock=clock, store=store_url, logs={"retention_days": 30, **INDEXED})
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    said = gw.client.responses.create(model="smart", input=f"old {old}").id
    assert _found(gw, old) == [said] and _indexed(store_url, old) == 1
    clock.now += 31 * DAY  # the old entry is now 31 days old, and an hourly prune is due
    said = gw.client.responses.create(model="smart", input=f"new {new}").id
    assert _found(gw, new) == [said]  # the write that pruned, read back
    assert _found(gw, old) == [] and _indexed(store_url, old) == 0
    assert _indexed(store_url, new) == 1


# ---- a store of the previous schema version ----------------------------------------------------------


def _old_entry(marker: str) -> LogEntry:
    now = time.time()
    return LogEntry(
        id=f"log_{int(now * 1_000_000):014x}{uuid.uuid4().hex[:10]}",
        created_at=now,
        route="responses",
        response_id=f"resp_{uuid.uuid4().hex}",
        key_id=None,
        team_id=None,
        model_requested="smart",
        provider="openai",
        model_deployment="gpt-4o",
        status_code=200,
        error=None,
        latency_ms=1.0,
        ttft_ms=None,
        input_tokens=1,
        output_tokens=1,
        cached_tokens=0,
        reasoning_tokens=0,
        cost_usd=0.0,
        cache_hit=False,
        stream=False,
        attempts=[],
        content=([{"role": "user", "content": f"kept before the index: {marker}"}], None),
    )


# the schema version before the text index's step (the one step written per dialect)
BEFORE_INDEX = next(i for i, step in enumerate(MIGRATIONS) if isinstance(step, dict))


def _statements(version: int, dialect: str) -> list[str]:
    """What the migrations up to ``version`` run on ``dialect``."""
    steps = (step if isinstance(step, tuple) else step[dialect] for step in MIGRATIONS[:version])  # type: ignore[index]
    return [statement for step in steps for statement in step]


@contextmanager
def _postgres_database() -> Iterator[str]:
    """A database of the test's own, on the test server (skipped when there is none)."""
    from tests.conftest import _postgres_available

    if not _postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}")
    name = f"ferryman_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    try:
        yield f"{PG_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _write_previous_version(url: str, *entries: LogEntry, version: int = BEFORE_INDEX) -> None:
    """The schema as ``version`` (by default: the one before the text index) left it, holding ``entries``
    with their content."""
    rows = [(entry.row(), entry.content_row()) for entry in entries]
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split(":///", 1)[1]) as db:
            for statement in _statements(version, "sqlite"):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version}")
            for log_row, content_row in rows:
                db.execute(insert_log(", ".join("?" for _ in LOG_COLUMNS)), log_row)
                db.execute(insert_content("?, ?, ?"), content_row)
        return

    async def write() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in _statements(version, "postgres"):
                await conn.execute(statement)
            await conn.execute("CREATE TABLE ferryman_schema (version INT NOT NULL)")
            await conn.execute("INSERT INTO ferryman_schema (version) VALUES ($1)", version)
            for log_row, content_row in rows:
                await conn.execute(insert_log(", ".join(f"${n}" for n in range(1, len(LOG_COLUMNS) + 1))), *log_row)
                await conn.execute(insert_content("$1, $2, $3"), *content_row)
        finally:
            await conn.close()

    asyncio.run(write())


def test_a_store_of_the_previous_version_is_indexed_at_start_up(store_url: str, start: Start) -> None:
    marker = uuid.uuid4().hex
    entry = _old_entry(marker)
    _write_previous_version(store_url, entry)
    gw = start(store=store_url, logs=INDEXED)
    page = gw.admin.get("/admin/logs", params={"q": marker[4:20].upper()}).json()
    assert [e["id"] for e in page["data"]] == [entry.id]
    assert _indexed(store_url, marker) == 1  # the rows kept before the index are in it
    said = gw.client.responses.create(model="smart", input=f"after the index {marker}").id
    assert _found(gw, marker) == [said]  # the gateway's key: the new entry only
    everyone = gw.admin.get("/admin/logs", params={"q": marker}).json()["data"]
    assert [e["response_id"] for e in everyone] == [said, entry.response_id]
    assert _indexed(store_url, marker) == 2


# ---- a store without the index --------------------------------------------------------------------------


def _search_without_an_index(gw: Logged) -> None:
    token = uuid.uuid4().hex
    said = [gw.client.responses.create(model="smart", input=f"no index {token} {n}").id for n in range(2)]
    assert _found(gw, token[3:15].upper()) == said[::-1]
    assert _found(gw, f"{token} 0") == [said[0]]
    first = gw.entries(q=token, limit=1)
    assert [e["response_id"] for e in gw.entries(q=token, after=first["last_id"])["data"]] == [said[0]]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sqlite_without_fts5_trigrams_still_searches(
    store_url: str, start: Start, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An SQLite built without FTS5 or older than 3.34: the migration leaves the index out, and ``q`` scans."""
    import ferryman.state.sqlite

    monkeypatch.setattr(ferryman.state.sqlite, "_has_trigrams", lambda db: False)
    url = store_url
    with caplog.at_level(logging.WARNING, logger="ferryman"):
        gw = start(logs=INDEXED)
    assert any("has no index" in r.getMessage() for r in caplog.records)
    _search_without_an_index(gw)
    gw.server.stop()
    with sqlite3.connect(url.split(":///", 1)[1]) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE ?", (f"{TEXT}%",)).fetchall() == []


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_postgres_without_pg_trgm_still_searches(
    store_url: str, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A role that may not create the extension: the migration warns and goes on, and ``q`` scans."""
    role = f"ferryman_plain_{uuid.uuid4().hex[:8]}"
    url = store_url

    async def admin(sql: str) -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await (conn.fetchval(sql) if sql.startswith("SELECT") else conn.execute(sql))
        finally:
            await conn.close()

    if asyncio.run(admin("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")):
        pytest.skip("pg_trgm is already in the new database (its template has it)")
    asyncio.run(admin(f"CREATE ROLE {role} LOGIN; GRANT USAGE, CREATE ON SCHEMA public TO {role}"))
    try:
        with caplog.at_level(logging.WARNING, logger="ferryman"):
            gw = start(store=url.replace("://postgres@", f"://{role}@"), logs=INDEXED)
        assert any("has no index" in r.getMessage() for r in caplog.records)
        _search_without_an_index(gw)
        gw.server.stop()
        assert asyncio.run(admin(f"SELECT to_regclass('{TRIGRAMS}') IS NULL")) is True
        assert asyncio.run(admin("SELECT max(version) FROM ferryman_schema")) == SCHEMA_VERSION
    finally:  # the role's tables go with its grants, then the role (the server is stopped by then)
        asyncio.run(admin(f"DROP OWNED BY {role}"))
        asyncio.run(admin(f"DROP ROLE IF EXISTS {role}"))


def test_the_readme_gives_the_migration_s_own_postgres_index() -> None:
    """What the README tells an operator to run by hand, where the migration could not make the index."""
    import re

    from ferryman.state.logsearch import POSTGRES_INDEX

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```sql\n(.*?)^```", readme, re.S | re.M)

    def words(sql: str) -> str:
        return " ".join(sql.split())

    statements = [words(s) + ";" for s in block.split(";") if s.strip()]
    assert len(statements) == 2
    for statement in statements:
        assert statement in words(POSTGRES_INDEX[0]), statement


def test_text_index_defaults_and_switch(tmp_path: Path, start: Start) -> None:
    """SQLite's text index is off by default (its writes are the gateway's own work), made (with what is kept
    already) by ``text_index: true`` and dropped again by ``false``; ``q`` answers the same either way.
    PostgreSQL's is on by default."""
    url = f"sqlite:///{tmp_path}/switch.db"
    path = url.split(":///", 1)[1]

    def indexed() -> bool:
        with sqlite3.connect(path) as db:
            return db.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{TEXT}'").fetchone() is not None

    def found(gw: Logged, q: str) -> list[str]:
        return [e["id"] for e in gw.admin.get("/admin/logs", params={"q": q}).json()["data"]]

    marker = "ferry" + uuid.uuid4().hex
    gw = start(store=url)
    gw.client.responses.create(model="gpt-4o", input=f"find {marker} here")
    assert found(gw, marker[2:20]) and not indexed()
    gw.server.stop()
    gw = start(store=url, logs=INDEXED)
    assert indexed() and _indexed(url, marker[2:20]) == 1  # the entry kept before the index, indexed
    assert found(gw, marker[2:20])
    gw.server.stop()
    gw = start(store=url, logs={"text_index": False})
    assert not indexed() and found(gw, marker[2:20])
    gw.server.stop()
    with _postgres_database() as pg:
        on_postgres = start(store=pg)
        assert _indexed(pg, "nothing-logged-yet") == 0  # its index is there: the count reads through it
        on_postgres.server.stop()
