"""The request log's writer at shutdown: ``stop`` writes what is queued and returns, whatever the writer is
doing when it is asked, against a real SQLite store whose writes the test holds and releases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ferryman.config import LogsEntry
from ferryman.plugins.logs.writer import LogWriter
from ferryman.state import open_store
from tests.test_log_write import _entry
from tests.test_request_log import _Held


def test_stop_while_a_batch_is_being_written_writes_everything_and_returns(tmp_path: Path) -> None:
    """The shutdown that hung: ``stop`` asked while a batch was in the store's hands. Everything queued by
    then, and an entry queued after the ask (a request finishing during the shutdown), is written."""

    async def run() -> list[dict[str, Any] | None]:
        store: Any = open_store(f"sqlite:///{tmp_path}/log.db")
        await store.start()
        held = _Held(store)  # its batches wait for ``release``; ``entered``: one is waiting
        writer = LogWriter(held, LogsEntry(batch_size=1))
        writer.start()
        first, second = _entry("m", 1), _entry("m", 2)
        writer.put(first)
        assert await asyncio.to_thread(held.entered.wait, 10)
        stopping = asyncio.create_task(writer.stop())
        writer.put(second)
        held.release.set()
        try:
            done, _ = await asyncio.wait({stopping}, timeout=10)  # a bound on failure: it returns at once
            assert stopping in done, "stop did not return"
        finally:
            views = [await store.log(first.id), await store.log(second.id)]
            await store.close()
        return views

    first, second = asyncio.run(run())
    assert first is not None and first["model_requested"] == "m"
    assert second is not None and second["model_requested"] == "m"


def test_stop_while_entries_gather_writes_them_at_once(tmp_path: Path) -> None:
    """``stop`` during the linger (entries gathering for a batch) cuts it short and writes them."""

    async def run() -> tuple[int, dict[str, Any] | None]:
        store: Any = open_store(f"sqlite:///{tmp_path}/log.db")
        await store.start()
        writer = LogWriter(store, LogsEntry(batch_size=100))
        writer.start()
        entry = _entry("m", 1)
        writer.put(entry)
        queued = len(writer.queue)
        stopping = asyncio.create_task(writer.stop())
        try:
            done, _ = await asyncio.wait({stopping}, timeout=10)
            assert stopping in done, "stop did not return"
            return queued, await store.log(entry.id)
        finally:
            await store.close()

    queued, view = asyncio.run(run())
    assert queued == 1  # still gathering when stop was asked
    assert view is not None and view["id"]
