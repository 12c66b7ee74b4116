"""``background: true``: the gateway runs the request itself and the client polls or cancels it.

The response is stored at once as ``queued`` and returned; a task in this process calls the
provider (without ``background``, so even providers that have no such mode serve it) and stores the
final response under the same id. Cancelling marks the record ``cancelled`` (seen by every process
sharing the store) and stops the task when it runs here; a task that finishes after a cancel
leaves the record cancelled. A task the gateway's shutdown cuts off stores its response as ``failed``
(``server_error``, saying to create it again): a client polling it gets an answer, not ``queued`` forever;
one whose answer is already in hand is stored before the shutdown goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ferryman.ids import new_id
from ferryman.schemas.errors import FerrymanError
from ferryman.state.base import ResponseStore, StoredResponse

log = logging.getLogger("ferryman.background")

Work = Callable[[], Awaitable[dict[str, Any]]]

_CUT_OFF = {
    "code": "server_error",
    "message": "The gateway shut down before this background response finished; create it again.",
}


class BackgroundRunner:
    def __init__(self, store: ResponseStore | None) -> None:
        self.store = store
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stopping = False  # the gateway is shutting down: a task cancelled now records its failure
        self.finishing: set[str] = set()  # responses whose answer is in hand, being stored: a shutdown waits for them

    def skeleton(self, raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id("resp"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "queued",
            "background": True,
            "error": None,
            "incomplete_details": None,
            "instructions": raw.get("instructions"),
            "model": raw.get("model"),
            "output": [],
            "previous_response_id": raw.get("previous_response_id"),
            "store": True,
            "usage": None,
            "metadata": raw.get("metadata") or {},
        }

    def launch(self, record: StoredResponse, work: Work) -> None:
        task = asyncio.create_task(self._run(record, work), name=f"background {record.id}")
        self.tasks[record.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(record.id, None))

    async def _run(self, record: StoredResponse, work: Work) -> None:
        assert self.store is not None
        try:
            response = await work()
            response["id"] = record.id
            response["background"] = True
        except asyncio.CancelledError:
            if not self.stopping:  # cancelled by its client: ``cancel`` has stored that
                return
            response = {**record.response, "status": "failed", "error": dict(_CUT_OFF)}
        except FerrymanError as exc:
            response = {**record.response, "status": "failed", "error": {"code": exc.code, "message": exc.message}}
        except Exception:  # noqa: BLE001 - a background failure is recorded, never lost
            log.exception("background response %s failed", record.id)  # the details go to the (scrubbed) log only
            error = {"code": "internal_error", "message": "Ferryman hit an internal error."}
            response = {**record.response, "status": "failed", "error": error}
        self.finishing.add(record.id)
        try:
            current = await self.store.get(record.id)
            if current is None or current.status == "cancelled":
                return
            record.response, record.response_json = response, None
            record.status = str(response.get("status") or "completed")
            await self.store.put(record)
        finally:
            self.finishing.discard(record.id)

    async def cancel(self, record: StoredResponse) -> dict[str, Any]:
        assert self.store is not None
        task = self.tasks.pop(record.id, None)
        if task is not None:
            task.cancel()
        if record.status in ("queued", "in_progress"):
            record.response, record.response_json = {**record.response, "status": "cancelled"}, None
            record.status = "cancelled"
            await self.store.put(record)
        return record.response

    async def stop(self) -> None:
        """Cut off the responses still at their provider (each stored as failed); wait for those being stored."""
        self.stopping = True
        for response_id, task in list(self.tasks.items()):
            if response_id not in self.finishing:
                task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
