"""``GET /metrics``: the Prometheus text format, of this process or, with several workers, of them all."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ferryman.gateway.exchange import Headers
from ferryman.http import Receive, Scope, Send
from ferryman.plugins.metrics import MULTIPROC_ENV
from ferryman.plugins.metrics.hook import MetricsHook
from ferryman.schemas.errors import InvalidApiKeyError

_HEADERS = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"cache-control", b"no-store")]


class MetricsRoute:
    def __init__(self, hook: MetricsHook, master: Callable[[Headers], bool] | None) -> None:
        self.hook = hook
        self.master = master  # with ``metrics: {require_key: true}``: whether a request has the master key

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.master is not None and not self.master(scope["headers"]):
            raise InvalidApiKeyError("/metrics needs the master key: 'Authorization: Bearer <master key>'.")
        shared = os.environ.get(MULTIPROC_ENV)
        # every worker's values are in files: read off the event loop
        body = await asyncio.to_thread(_every_worker, shared) if shared else generate_latest(self.hook.registry)
        await send({"type": "http.response.start", "status": 200, "headers": [*_HEADERS, _length(body)]})
        await send({"type": "http.response.body", "body": body})


def _every_worker(path: str) -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def _length(body: bytes) -> tuple[bytes, bytes]:
    return (b"content-length", str(len(body)).encode())
