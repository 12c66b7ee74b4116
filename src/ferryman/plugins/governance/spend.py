"""Spend rows written to the store in batches, off the request's path.

Every answered request is charged in memory at once (the ledger: what budgets are checked against); its
spend row, the durable record, only has to reach the store's spend table soon. So a request hands its
row over (``put``, no await) and the rows gathered over ``LINGER`` seconds go in one statement: one store
job per 20 ms on a busy gateway instead of one per request, each of which was a trip through the store's
thread and a future to settle (about 40% of what governance cost a request). Whoever reads the table
(``/admin/spend``, the reload that takes other gateways' spend) ``flush``es first, so it sees every row
charged before it asked; a graceful stop writes what is left. A batch the store refuses is logged: the
charge in memory stays.
"""

from __future__ import annotations

import asyncio
import logging

from ferryman.state.records import RecordStore, SpendRow

log = logging.getLogger("ferryman")

LINGER = 0.02  # seconds rows gather before they are written


class SpendWriter:
    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.rows: list[SpendRow] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    def put(self, row: SpendRow) -> None:
        self.rows.append(row)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(LINGER, self._write)

    def _write(self) -> None:
        self._timer = None
        rows, self.rows = self.rows, []
        if rows:
            task = asyncio.get_running_loop().create_task(self._save(rows))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _save(self, rows: list[SpendRow]) -> None:
        try:
            await self.store.add_spend(rows)
        except Exception:  # noqa: BLE001 - the clients have their answers; the ledger in memory has the charges
            log.exception("governance: could not record the spend of %d responses", len(rows))

    async def flush(self) -> None:
        """Until every row put so far is written (or its failure logged)."""
        if self._timer is not None:
            self._timer.cancel()
        self._write()
        if self._writing:
            await asyncio.gather(*self._writing)
