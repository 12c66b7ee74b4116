"""The request log's admin API: ``GET /admin/logs`` (a page of entries, newest first, filtered) and
``GET /admin/logs/{id}`` (one entry with its content; a passed-through reply the log kept as it came is
read into output items here, ``plugins/logs/native.py``). Both need the governance master key; without
governance there is no admin credential, and both answer 404 saying so (read the store's tables).

Before reading, the writer is flushed: an entry of a request this process has answered is always there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferryman.gateway.exchange import Headers
from ferryman.http import Receive, Scope, Send, send_json
from ferryman.plugins.logs.writer import LogWriter
from ferryman.schemas.errors import InvalidApiKeyError, InvalidRequestError, NotFoundError
from ferryman.state.logs import LogQuery, LogStore

MAX_LIMIT = 1000
_PARAMS = frozenset({"provider", "model", "key_id", "team_id", "status", "from", "to", "q", "limit", "after"})
_STATUS = re.compile(r"^([1-5])(?:xx|XX)$|^([1-5][0-9][0-9])$")
_encode = msgspec.json.encode


class LogRoutes:
    def __init__(
        self,
        store: LogStore,
        writer: LogWriter,
        is_master: Callable[[Headers], bool],
        read_native: Callable[[dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.writer = writer
        self.is_master = is_master
        self.read_native = read_native  # a kept passed-through reply, into output items (plugins/logs/native.py)

    def _admin(self, scope: Scope) -> None:
        if not self.is_master(scope["headers"]):
            raise InvalidApiKeyError("The admin API needs the master key: 'Authorization: Bearer <master key>'.")

    async def list(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._admin(scope)
        query = parse_query(scope.get("query_string", b"").decode("latin-1"))
        await self.writer.flush()
        rows = await self.store.logs(query)
        more = len(rows) > query.limit
        data = rows[: query.limit]
        body = {"object": "list", "data": data, "has_more": more, "last_id": data[-1]["id"] if data else None}
        await send_json(send, 200, _encode(body))

    async def get(self, scope: Scope, receive: Receive, send: Send, entry_id: str) -> None:
        self._admin(scope)
        await self.writer.flush()
        entry = await self.store.log(entry_id)
        if entry is None:
            raise NotFoundError(f"No log entry with id '{entry_id}'.", param="id", code="log_entry_not_found")
        self.read_native(entry)
        await send_json(send, 200, _encode(entry))


async def unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """``/admin/logs`` without governance (no master key to ask for) or with the request log off."""
    raise NotFoundError(
        "The request log's admin API needs the request log (a store, and logs not false) and governance "
        "(its master key guards the log): configure both, or read the store's ferryman_logs table.",
        code="route_not_found",
    )


def parse_query(text: str) -> LogQuery:
    """The query string of ``GET /admin/logs`` as a ``LogQuery``; a clear 400 for a bad value."""
    raw = parse_qs(text, keep_blank_values=True)
    unknown = sorted(set(raw) - _PARAMS)
    if unknown:
        raise InvalidRequestError(
            f"Unknown query parameter '{unknown[0]}'; known: {', '.join(sorted(_PARAMS))}.",
            param=unknown[0],
            code="unknown_parameter",
        )
    one = {name: values[-1] for name, values in raw.items()}
    query = LogQuery(
        provider=one.get("provider") or None,
        model=one.get("model") or None,
        key_id=one.get("key_id") or None,
        team_id=one.get("team_id") or None,
        q=one.get("q") or None,
        after=one.get("after") or None,
    )
    if "status" in one:
        m = _STATUS.match(one["status"])
        if m is None:
            raise InvalidRequestError(
                "'status' is an HTTP status (429) or a class of them (5xx).", param="status", code="invalid_value"
            )
        query.status = (int(m[1]) * 100, int(m[1]) * 100 + 99) if m[1] else (int(m[2]), int(m[2]))
    for name in ("from", "to"):
        if name in one:
            try:
                value = float(one[name])
            except ValueError:
                value = -1.0
            if not value >= 0:
                raise InvalidRequestError(f"'{name}' is a time in unix seconds.", param=name, code="invalid_value")
            if name == "from":
                query.start = value
            else:
                query.end = value
    if "limit" in one:
        try:
            limit = int(one["limit"])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequestError(
                f"'limit' is a whole number from 1 to {MAX_LIMIT}.", param="limit", code="invalid_value"
            )
        query.limit = limit
    return query
