"""SQLite store: the embedded default. WAL mode, one connection on its own thread (aiosqlite)."""

from __future__ import annotations

import aiosqlite

from ferryman.state.base import StoredResponse
from ferryman.state.sql import CHAIN, COLUMNS, CREATE, TABLE, from_row, to_row


def sqlite_path(url: str) -> str:
    """``sqlite:///./ferryman.db`` -> ``./ferryman.db``; ``sqlite:////var/x.db`` -> ``/var/x.db``."""
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


class SQLiteStore:
    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self._db: aiosqlite.Connection | None = None

    async def start(self) -> None:
        self._db = await aiosqlite.connect(self.path)
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
        await self._db.execute("PRAGMA busy_timeout=5000")  # several workers may share the file
        await self._db.execute(CREATE)
        await self._db.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_prev ON {TABLE}(previous_response_id)")
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store used before start()")
        return self._db

    async def put(self, record: StoredResponse) -> None:
        await self.db.execute(
            f"INSERT OR REPLACE INTO {TABLE} ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", to_row(record)
        )
        await self.db.commit()

    async def get(self, response_id: str) -> StoredResponse | None:
        async with self.db.execute(f"SELECT {COLUMNS} FROM {TABLE} WHERE id = ?", (response_id,)) as cur:
            row = await cur.fetchone()
        return from_row(row) if row else None

    async def chain(self, response_id: str) -> list[StoredResponse]:
        async with self.db.execute(CHAIN.format(p1="?"), (response_id,)) as cur:
            rows = await cur.fetchall()
        return [from_row(r) for r in rows]

    async def delete(self, response_id: str) -> bool:
        cur = await self.db.execute(f"DELETE FROM {TABLE} WHERE id = ?", (response_id,))
        await self.db.commit()
        return (cur.rowcount or 0) > 0
