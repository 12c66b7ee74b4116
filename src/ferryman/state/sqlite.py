"""SQLite store: the embedded default. WAL mode, one connection on a thread of its own, group commit.

Every call is a job for that thread. The jobs made during one turn of the event loop are handed over
together at its end (one wake-up of the thread, not one per job: each is a GIL hand-off that stalls
the loop), and jobs that queue up while the thread is busy are run together: the writes among them in
one transaction, and all their results handed back to the event loop in one wake-up. Under load that
is one commit and one thread hop for many responses, instead of two hops each; a lone request pays
one hop. A job's caller is answered only after its transaction committed;
whether the client's reply waits for that is the config's ``store.sync`` (``gateway/storing.py``).
Commits are durable across a crash of the process, not of the machine (WAL, ``synchronous=NORMAL``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    FEW,
    LOG_COLUMNS,
    ONE_CONTENT,
    ONE_LOG,
    PROVIDER_COUNTS,
    PROVIDER_LATENCIES,
    PRUNE,
    LogEntry,
    LogQuery,
    entry_view,
    filtered_ids,
    insert_content,
    insert_log,
    provider_stats,
    select_logs,
)
from ferryman.state.logsearch import SQLITE_INDEX, SQLITE_INDEXED, SQLITE_UNINDEX, TEXT, UNINDEXED
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
from ferryman.state.sqlite_rows import insert_rows, most_rows

_PUT = upsert(lambda n: "?")
_GET = f"SELECT {COLUMNS} FROM {TABLE} WHERE id = ?"
_TOMBSTONE = TOMBSTONE.format(p1="?1", p2="?2", rows=TABLE)
_DELETE = f"DELETE FROM {TABLE} WHERE id = ?1"
_SEEN = SEEN.format(p1="?1")
_CHAIN = CHAIN.format(p1="?")
_SPEND = insert_spend(", ".join("?" for _ in SPEND_COLUMNS))
_HOURS = add_hours("?, ?, ?, ?, ?, ?, ?")
_LOG_MARKS = ", ".join("?" for _ in LOG_COLUMNS)
_ONE_LOG = ONE_LOG.format(p1="?")
_ONE_CONTENT = ONE_CONTENT.format(p1="?")
_PROVIDER_COUNTS = PROVIDER_COUNTS.format(p1="?", p2="?")
_PROVIDER_LATENCIES = PROVIDER_LATENCIES.format(p1="?", p2="?")
_PRUNE = tuple(statement.format(p1="?") for statement in PRUNE)
_CONV = statements("?")

log = logging.getLogger("ferryman")

# sqlite3 adapts every parameter that is not exactly an int, float, str or bytes: for None and bool (a log
# entry's row has half a dozen) it finds no adapter, then asks its protocol type for ``__adapt__``, which on
# Python 3.11 raises and clears an AttributeError (a sixth of the entry's write). Registered, both bind at
# once as they did (NULL; 0 or 1), for every sqlite3 user of the process.
_NOTHING: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)  # None -> None, and in C: a Python function costs more
sqlite3.register_adapter(bool, int)


def sqlite_path(url: str) -> str:
    """``sqlite:///./ferryman.db`` -> ``./ferryman.db``; ``sqlite:////var/x.db`` -> ``/var/x.db``."""
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


@dataclass(slots=True)
class _Job:
    run: Callable[[sqlite3.Connection], Any]
    write: bool
    future: asyncio.Future[Any]
    result: Any = None
    error: BaseException | None = field(default=None)


def _deliver(jobs: list[_Job]) -> None:
    """On the event loop: settle the futures of one batch (a caller may have given up: cancelled)."""
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


class SQLiteStore:
    def __init__(self, url: str, text_index: bool | None = None) -> None:
        self.path = sqlite_path(url)
        self.text_index = text_index  # make (true) or drop (false) the log's text index at start; None: as it is
        self._jobs: queue.SimpleQueue[list[_Job] | None] = queue.SimpleQueue()
        self._turn: list[_Job] = []  # the jobs made during this turn of the event loop, handed over at its end
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._text: str | None = None  # the FTS5 index of the log's content, when this SQLite has FTS5 trigrams
        self._most_logs = self._most_contents = 1  # log rows and content rows one insert takes (``most_rows``)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._work, args=(ready,), name="ferryman-sqlite", daemon=True)
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    async def close(self) -> None:
        if self._thread is not None:
            self._hand_over()
            self._jobs.put(None)  # after every job already queued
            await asyncio.to_thread(self._thread.join)
            self._thread = None

    # ---- the thread ------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        # autocommit mode: transactions are begun and committed explicitly, one per batch of writes
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            db.execute("PRAGMA busy_timeout=5000")  # several workers may share the file
            _migrate(db)
            self._most_logs, self._most_contents = most_rows(db, len(LOG_COLUMNS)), most_rows(db, 3)
            if self.text_index is not None:
                _index_text(db, self.text_index)
            if db.execute(SQLITE_INDEXED).fetchone() is not None:
                self._text = TEXT
            elif self.text_index:
                log.warning(UNINDEXED)
        except BaseException:
            db.close()
            raise
        return db

    def _work(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            db = self._open()
        except Exception as exc:  # noqa: BLE001 - handed to start()'s caller
            loop.call_soon_threadsafe(_settle, ready, exc)
            return
        loop.call_soon_threadsafe(_settle, ready, None)
        try:
            while True:
                jobs = self._jobs.get()
                if jobs is None:
                    return
                batch = jobs
                stop = False
                while True:  # everything else already waiting joins this batch
                    try:
                        nxt = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch += nxt
                self._run_batch(db, batch)
                try:
                    loop.call_soon_threadsafe(_deliver, batch)
                except RuntimeError:  # the loop is gone: nobody is waiting any more
                    return
                if stop:
                    return
        finally:
            db.close()

    @staticmethod
    def _run_batch(db: sqlite3.Connection, batch: list[_Job]) -> None:
        if not any(job.write for job in batch):
            for job in batch:
                _run_one(db, job)
            return
        try:
            db.execute("BEGIN")
            for job in batch:
                job.result = job.run(db)
            db.execute("COMMIT")
        except Exception:  # noqa: BLE001 - one bad job must not fail the others: run each on its own
            if db.in_transaction:
                db.execute("ROLLBACK")
            for job in batch:
                job.result = None
                _run_one(db, job)

    # ---- the API ---------------------------------------------------------------------------------

    def _submit(self, run: Callable[[sqlite3.Connection], Any], *, write: bool) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise RuntimeError("store used before start()")
        future = self._loop.create_future()
        turn = self._turn
        turn.append(_Job(run, write, future))
        if len(turn) == 1:
            self._loop.call_soon(self._hand_over)
        return future

    def _hand_over(self) -> None:
        """The jobs of this turn of the event loop, to the thread in one wake-up."""
        if self._turn:
            jobs, self._turn = self._turn, []
            self._jobs.put(jobs)

    async def put(self, record: StoredResponse) -> None:
        await self.put_nowait(record)

    def put_nowait(self, record: StoredResponse) -> asyncio.Future[Any]:
        """Queue the write; the future settles when it is committed. No task, no coroutine: the hot path."""
        row = to_row(record)  # encoded here: the thread only runs SQL
        return self._submit(lambda db: db.execute(_PUT, row), write=True)

    async def get(self, response_id: str) -> StoredResponse | None:
        row = await self._submit(lambda db: db.execute(_GET, (response_id,)).fetchone(), write=False)
        return from_row(row) if row else None

    async def chain(self, response_id: str) -> list[StoredResponse]:
        rows = await self._submit(lambda db: db.execute(_CHAIN, (response_id,)).fetchall(), write=False)
        return [from_row(r) for r in rows]

    async def delete(self, response_id: str) -> bool:
        def run(db: sqlite3.Connection) -> int:
            db.execute(_TOMBSTONE, (response_id, int(time.time())))
            return int(db.execute(_DELETE, (response_id,)).rowcount or 0)

        count: int = await self._submit(run, write=True)
        return count > 0

    async def seen(self, response_id: str) -> bool:
        row = await self._submit(lambda db: db.execute(_SEEN, (response_id,)).fetchone(), write=False)
        return row is not None

    async def ping(self) -> None:
        """A read through the store's thread: the file is open and answers."""
        await self._submit(lambda db: db.execute("SELECT 1").fetchone(), write=False)

    async def ids(self) -> list[str]:
        """Every stored response id (for maintenance and tests)."""
        rows = await self._submit(lambda db: db.execute(f"SELECT id FROM {TABLE}").fetchall(), write=False)
        return [r[0] for r in rows]

    # ---- governance records (state/records.py) ---------------------------------------------------

    async def put_record(self, table: str, record_id: str, body: str, updated_at: int) -> None:
        sql = upsert_record(table, "?, ?, ?")
        await self._submit(lambda db: db.execute(sql, (record_id, body, updated_at)), write=True)

    async def records(self, table: str) -> list[str]:
        assert table in RECORD_TABLES
        rows = await self._submit(lambda db: db.execute(f"SELECT body FROM {table}").fetchall(), write=False)
        return [r[0] for r in rows]

    async def delete_record(self, table: str, record_id: str) -> bool:
        assert table in RECORD_TABLES
        sql = f"DELETE FROM {table} WHERE id = ?"
        count: int = await self._submit(lambda db: int(db.execute(sql, (record_id,)).rowcount or 0), write=True)
        return count > 0

    async def add_spend(self, rows: Sequence[SpendRow]) -> None:
        values = [row.row() for row in rows]
        hours = hour_sums(rows)

        def run(db: sqlite3.Connection) -> None:  # in the batch's transaction: the rows and their sums together
            db.executemany(_SPEND, values)
            db.executemany(_HOURS, hours)

        await self._submit(run, write=True)

    async def spend_buckets(self, since: int = 0) -> list[SpendBucket]:
        sql = spend_buckets("?")
        rows = await self._submit(lambda db: db.execute(sql, (since,)).fetchall(), write=False)
        return [to_bucket(r) for r in rows]

    async def spend_by(self, group_by: str, start: int, end: int) -> list[SpendGroup]:
        sql = spend_groups(group_by, "?", "?")
        rows = await self._submit(lambda db: db.execute(sql, (start, end)).fetchall(), write=False)
        return [to_group(r) for r in rows]

    async def spend_over_time(self, group_by: str, bucket: str, start: int, end: int) -> list[SpendPoint]:
        sql = spend_points(group_by, bucket, "?", "?")
        rows = await self._submit(lambda db: db.execute(sql, (start, end)).fetchall(), write=False)
        return [to_point(r) for r in rows]

    # ---- the request log (state/logs.py) ---------------------------------------------------------

    async def add_logs(self, entries: list[LogEntry]) -> None:
        await self._submit(lambda db: self._add_logs(db, entries), write=True)

    def _add_logs(self, db: sqlite3.Connection, entries: list[LogEntry]) -> None:
        """On the store's thread: the entries' rows and content encoded, and written several to a statement."""
        insert_rows(db, _log_rows, [e.row() for e in entries], self._most_logs)
        contents = [row for row in (e.content_row() for e in entries) if row is not None]
        if contents:
            insert_rows(db, _content_rows, contents, self._most_contents)

    async def logs(self, query: LogQuery) -> list[dict[str, Any]]:
        def run(db: sqlite3.Connection) -> list[Any]:
            among = None
            filtered = filtered_ids(query, lambda n: "?") if self._text is not None and query.q else None
            if filtered is not None:
                ids = [row[0] for row in db.execute(*filtered)]
                if len(ids) < FEW:  # the other filters leave a few entries: their content is read
                    among = ids
            sql, params = select_logs(query, lambda n: "?", "LIKE", self._text, among)
            return db.execute(sql, params).fetchall() if among != [] else []

        rows = await self._submit(run, write=False)
        return [entry_view(r) for r in rows]

    async def log(self, entry_id: str) -> dict[str, Any] | None:
        def run(db: sqlite3.Connection) -> tuple[Any, Any]:
            row = db.execute(_ONE_LOG, (entry_id,)).fetchone()
            content = db.execute(_ONE_CONTENT, (entry_id,)).fetchone() if row is not None else None
            return row, content

        row, content = await self._submit(run, write=False)
        return entry_view(row, content or (None, None)) if row is not None else None

    async def provider_stats(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        span = (int(start * 1000), int(end * 1000))

        def run(db: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            counts = db.execute(_PROVIDER_COUNTS, span).fetchall()
            return counts, db.execute(_PROVIDER_LATENCIES, span).fetchall()

        counts, latencies = await self._submit(run, write=False)
        return provider_stats(counts, latencies)

    async def prune_logs(self, before: float) -> int:
        cutoff = int(before * 1000)

        def run(db: sqlite3.Connection) -> int:
            db.execute(_PRUNE[0], (cutoff,))
            return int(db.execute(_PRUNE[1], (cutoff,)).rowcount or 0)

        count: int = await self._submit(run, write=True)
        return count

    # ---- conversations (state/conversations.py) ---------------------------------------------------

    async def add_conversation(self, record: ConversationRecord, items: list[StoredItem]) -> None:
        row, rows = conversation_row(record, len(items)), item_rows(record.id, 0, items)

        def run(db: sqlite3.Connection) -> None:
            db.execute(_CONV["create"], row)
            db.executemany(_CONV["add"], rows)

        await self._submit(run, write=True)

    async def conversation(self, conversation_id: str) -> ConversationRecord | None:
        row = await self._submit(lambda db: db.execute(_CONV["get"], (conversation_id,)).fetchone(), write=False)
        return to_conversation(row) if row else None

    async def set_conversation_metadata(self, conversation_id: str, metadata: dict[str, str]) -> bool:
        params = (conversation_id, metadata_text(metadata))
        count: int = await self._submit(lambda db: db.execute(_CONV["update"], params).rowcount, write=True)
        return count > 0

    async def delete_conversation(self, conversation_id: str) -> bool:
        def run(db: sqlite3.Connection) -> int:
            count = int(db.execute(_CONV["delete"], (conversation_id, int(time.time()))).rowcount or 0)
            db.execute(_CONV["forget"], (conversation_id,))
            return count

        count: int = await self._submit(run, write=True)
        return count > 0

    def append_nowait(self, conversation_id: str, items: list[StoredItem]) -> asyncio.Future[Any]:
        """Queue the append; the future settles (True: added, False: no such conversation) once committed."""

        def run(db: sqlite3.Connection) -> bool:
            end = db.execute(_CONV["reserve"], (conversation_id, len(items))).fetchone()
            if end is None:
                return False
            db.executemany(_CONV["add"], item_rows(conversation_id, int(end[0]) - len(items), items))
            return True

        return self._submit(run, write=True)

    async def append_items(self, conversation_id: str, items: list[StoredItem]) -> bool:
        added: bool = await self.append_nowait(conversation_id, items)
        return added

    async def conversation_items(self, conversation_id: str) -> list[StoredItem]:
        rows = await self._submit(lambda db: db.execute(_CONV["items"], (conversation_id,)).fetchall(), write=False)
        return [to_item(r) for r in rows]

    async def conversation_item(self, conversation_id: str, item_id: str) -> StoredItem | None:
        params = (conversation_id, item_id)
        row = await self._submit(lambda db: db.execute(_CONV["item"], params).fetchone(), write=False)
        return to_item(row) if row else None

    async def conversation_page(self, conversation_id: str, start: int, limit: int, desc: bool) -> list[StoredItem]:
        sql, params = _CONV["before" if desc else "after"], (conversation_id, start, limit)
        rows = await self._submit(lambda db: db.execute(sql, params).fetchall(), write=False)
        return [to_item(r) for r in rows]

    async def delete_conversation_item(self, conversation_id: str, item_id: str) -> bool:
        params = (conversation_id, item_id)
        count: int = await self._submit(lambda db: db.execute(_CONV["remove"], params).rowcount, write=True)
        return count > 0


@functools.cache
def _log_rows(n: int) -> str:
    return insert_log(_LOG_MARKS, n)


@functools.cache
def _content_rows(n: int) -> str:
    return insert_content("?, ?, ?", n)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the file's schema (its ``user_version``) up to ``SCHEMA_VERSION``, in one transaction."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait (busy_timeout), then see it done
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        for statement in migrations_after(version, "sqlite"):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _index_text(db: sqlite3.Connection, wanted: bool) -> None:
    """Make the log's text index (and index what is kept already), or drop it, as ``logs.text_index`` says;
    without FTS5 trigrams there is none to make (``q`` scans)."""
    indexed = db.execute(SQLITE_INDEXED).fetchone() is not None
    if indexed == wanted or (wanted and not _has_trigrams(db)):
        return
    db.execute("BEGIN IMMEDIATE")  # one process changes it; the others wait, then find it done
    try:
        if (db.execute(SQLITE_INDEXED).fetchone() is not None) != wanted:
            for statement in SQLITE_INDEX if wanted else SQLITE_UNINDEX:
                db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _has_trigrams(db: sqlite3.Connection) -> bool:
    """Whether this SQLite has FTS5 and its trigram tokenizer (3.34 or later, built with FTS5)."""
    try:
        db.execute("CREATE VIRTUAL TABLE temp.ferryman_probe USING fts5(x, tokenize='trigram')")
    except sqlite3.OperationalError:
        return False
    db.execute("DROP TABLE temp.ferryman_probe")
    return True


def _run_one(db: sqlite3.Connection, job: _Job) -> None:
    try:
        if job.write:
            db.execute("BEGIN")
            job.result = job.run(db)
            db.execute("COMMIT")
        else:
            job.result = job.run(db)
    except Exception as exc:  # noqa: BLE001 - raised in the caller
        if db.in_transaction:
            db.execute("ROLLBACK")
        job.error = exc


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)
