"""``GET /admin/providers``: each configured provider as an operator looks at it (the master key only).

Its type, how many keys it has and which of them are cooling down in this process (``gateway/keys.py``),
the aliases that send to it (as a target or a fallback), and, from the request log, its recent requests:
how many, how many failed, and the median latency, over the last ``window`` seconds (default an hour).
The numbers come from the log's table (one grouped count and a sample of the newest latencies), not from
counters kept on the request path, so the model routes do nothing for this page; without the request log
they are null.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ferryman.config import Config
from ferryman.gateway.exchange import Headers
from ferryman.gateway.keys import KeyPool
from ferryman.http import Receive, Scope, Send, send_json
from ferryman.plugins.logs.writer import LogWriter
from ferryman.schemas.errors import InvalidApiKeyError, InvalidRequestError

DEFAULT_WINDOW = 3600
MAX_WINDOW = 30 * 86_400
_NO_STATS = {"requests": None, "errors": None, "error_rate": None, "p50_latency_ms": None}


class ProviderRoutes:
    def __init__(
        self,
        config: Config,
        keys: dict[str, KeyPool],
        log: LogWriter | None,
        is_master: Callable[[Headers], bool],
    ) -> None:
        self.config = config
        self.keys = keys
        self.log = log  # None: no request log, no recent numbers
        self.is_master = is_master

    async def listing(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.is_master(scope["headers"]):
            raise InvalidApiKeyError("The admin API needs the master key: 'Authorization: Bearer <master key>'.")
        window = _window(scope.get("query_string", b"").decode("latin-1"))
        stats: dict[str, dict[str, Any]] = {}
        if self.log is not None:
            await self.log.flush()
            now = self.log.clock()
            stats = await self.log.store.provider_stats(now - window, now)
        data = []
        for name, provider in sorted(self.config.providers.items()):
            pool = self.keys.get(name)
            cooling = pool.cooling() if pool is not None else []
            recent = _NO_STATS if self.log is None else stats.get(name, _NONE_YET)
            data.append(
                {
                    "name": name,
                    "type": provider.type,
                    "keys": len(provider.keys),
                    "cooling_keys": [{"key": i, "seconds_left": left} for i, left in cooling],
                    "aliases": self.aliases_of(name),
                    **recent,
                }
            )
        body = {"object": "list", "window": window, "data": data}
        await send_json(send, 200, msgspec.json.encode(body))

    def aliases_of(self, provider: str) -> list[str]:
        """The aliases whose targets or fallbacks name ``provider/...``."""
        prefix = provider + "/"
        return sorted(
            name
            for name, alias in self.config.models.items()
            if any(t.startswith(prefix) for t, _ in alias.targets) or any(f.startswith(prefix) for f in alias.fallbacks)
        )


_NONE_YET = {"requests": 0, "errors": 0, "error_rate": 0.0, "p50_latency_ms": None}


def _window(query: str) -> int:
    raw = parse_qs(query).get("window")
    if raw is None:
        return DEFAULT_WINDOW
    try:
        window = int(raw[-1])
    except ValueError:
        window = 0
    if not 1 <= window <= MAX_WINDOW:
        raise InvalidRequestError(
            f"'window' is a whole number of seconds from 1 to {MAX_WINDOW}.", param="window", code="invalid_value"
        )
    return window
