"""The registry's reload never loses an admin change this gateway made while the store was being read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ferryman.plugins.governance.model import KeyChange
from ferryman.plugins.governance.registry import Registry
from ferryman.state.records import KEYS
from ferryman.state.sqlite import SQLiteStore


class _ReadThenWait:
    """The real SQLite store, whose first read of the keys hands back its rows only once ``go`` is set: what a
    reload has read is then older than what happens meanwhile."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.read = asyncio.Event()
        self.go = asyncio.Event()
        self.held = False

    async def records(self, table: str) -> list[str]:
        rows = await self.inner.records(table)
        if table == KEYS and not self.held:
            self.held = True
            self.read.set()
            await self.go.wait()
        return rows

    async def put_record(self, table: str, record_id: str, body: str, updated_at: int) -> None:
        await self.inner.put_record(table, record_id, body, updated_at)


def test_a_key_created_during_a_reload_is_kept(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        inner = SQLiteStore(f"sqlite:///{tmp_path / 'ferryman.db'}")
        await inner.start()
        try:
            store = _ReadThenWait(inner)
            registry = Registry(store)  # type: ignore[arg-type]  # (the two calls a registry makes here)
            reload = asyncio.create_task(registry.load())
            await store.read.wait()  # the reload has read the keys: none yet
            key, _ = await registry.create_key(KeyChange(name="made meanwhile"))
            revoked = await registry.revoke_key((await registry.create_key(KeyChange(name="revoked meanwhile")))[0].id)
            store.go.set()
            await reload
            return key.key_hash in registry.by_hash, registry.keys[revoked.id].revoked
        finally:
            await inner.close()

    assert asyncio.run(scenario()) == (True, True)
