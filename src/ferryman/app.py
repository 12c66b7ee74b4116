"""The ASGI application: routes, the lifespan that owns provider pools, and error rendering."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ferryman.config import Config, load_config
from ferryman.gateway import usage
from ferryman.gateway.background import BackgroundRunner
from ferryman.gateway.dispatch import Dispatcher
from ferryman.gateway.router import Router
from ferryman.http import ClientGone, Receive, Scope, Send, send_error, send_json
from ferryman.plugins.cache import ResponseCache
from ferryman.providers.base import Provider
from ferryman.providers.registry import build_provider
from ferryman.routes import stored
from ferryman.routes.responses import create_response
from ferryman.schemas.errors import FerrymanError, MethodNotAllowedError, NotFoundError
from ferryman.state.base import StoredResponse, open_store
from ferryman.state.pending import PendingWrites

log = logging.getLogger("ferryman")


def _log_failed_write(response_id: str, write: asyncio.Future[Any]) -> None:
    if not write.cancelled() and (exc := write.exception()) is not None:
        # the provider's answer is worth more than the record of it: the client has it anyway
        log.error("could not store response %s", response_id, exc_info=exc)


async def _settled(write: asyncio.Future[Any]) -> None:
    with contextlib.suppress(Exception):  # logged by _log_failed_write
        await write


Handler = Callable[["Gateway", Scope, Receive, Send], Awaitable[None]]
# every model route is served with and without ``/v1``: clients whose base URL has no ``/v1`` (LiteLLM's
# ``litellm_proxy/`` provider with ``api_base=http://host:8080``) call ``/responses`` itself
PREFIXES = ("/v1", "/openai/v1", "/litellm/v1", "", "/openai", "/litellm")
HEALTH_BODY = b'{"status":"ok"}'


async def health(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    if not gw.ready:
        await send_json(send, 503, b'{"status":"starting"}')
        return
    await send_json(send, 200, HEALTH_BODY)


class Gateway:
    """One gateway instance: its config, its provider adapters (with their pools), its routes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.providers: dict[str, Provider] = {name: build_provider(p) for name, p in config.providers.items()}
        self.router = Router(config)
        self.dispatcher = Dispatcher(config, self.providers, self.router)
        self.store: PendingWrites | None = PendingWrites(open_store(config.store)) if config.store else None
        self.background = BackgroundRunner(self.store)
        self.cache: ResponseCache | None = (
            ResponseCache(config, self.providers, self.dispatcher.keys) if config.cache is not None else None
        )
        self.ready = False
        self.routes: dict[str, dict[str, Handler]] = {"/health": {"GET": health}}
        for prefix in PREFIXES:
            self.routes[f"{prefix}/responses"] = {"POST": create_response}

    async def startup(self) -> None:
        if self.store is not None:
            await self.store.start()
        if self.cache is not None:
            await self.cache.start()
        for provider in self.providers.values():
            await provider.start()
        # What start-up built (modules, config, pricing tables, pools) lives as long as the process: moved out
        # of the collector's reach, a full collection scans only what requests allocate. Without this one
        # pause of ~30 ms every few thousand requests stalls every stream in flight.
        usage.preload()
        gc.collect()
        gc.freeze()
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        await self.background.stop()
        for provider in self.providers.values():
            await provider.stop()
        if self.store is not None:
            await self.store.close()
        if self.cache is not None:
            await self.cache.close()

    async def save(self, record: StoredResponse) -> None:
        """Store a response; a failing store is logged, and the answer still reaches the client."""
        await self.save_soon(record)

    def save_soon(self, record: StoredResponse) -> Awaitable[None]:
        """Start storing a response now; awaiting the result (after replying) waits for the commit. Never raises:
        a failing store is logged, and the answer still reaches the client."""
        assert self.store is not None
        write = self.store.put_soon(record)
        write.add_done_callback(functools.partial(_log_failed_write, record.id))
        return _settled(write)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            handler = self._match(scope["path"], scope["method"])
            await handler(self, scope, receive, send)
        except ClientGone:
            return
        except FerrymanError as exc:
            await self._send_error(send, exc)
        except Exception:  # noqa: BLE001 - a client never sees a stack trace
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            await self._send_error(send, FerrymanError("Ferryman hit an internal error.", code="internal_error"))

    async def _send_error(self, send: Send, exc: FerrymanError) -> None:
        attempts = getattr(exc, "ferryman_attempts", None)
        headers = [(b"x-ferryman-attempts", attempts.header().encode())] if attempts and attempts.log else []
        try:
            await send_error(send, exc, headers)
        except RuntimeError:
            # the response had already started (a stream): its relay explained the failure itself
            log.warning("error after the response started: %s", exc.message)

    def _match(self, path: str, method: str) -> Handler:
        methods = self.routes.get(path)
        if methods is None and len(path) > 1 and path.endswith("/"):
            methods = self.routes.get(path.rstrip("/"))
        if methods is None:
            methods = _stored_route(path)
        if methods is None:
            raise NotFoundError(f"No route for {method} {path}.", code="route_not_found")
        handler = methods.get(method)
        if handler is None:
            raise MethodNotAllowedError(
                f"{method} is not allowed on {path}; allowed: {', '.join(sorted(methods))}.",
                headers={"allow": ", ".join(sorted(methods))},
            )
        return handler

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # noqa: BLE001
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


_STORED = re.compile(r"^(?:/openai|/litellm)?(?:/v1)?/responses/([A-Za-z0-9_.:-]+)(/input_items|/cancel)?/?$")


def _stored_route(path: str) -> dict[str, Handler] | None:
    m = _STORED.match(path)
    if m is None:
        return None
    response_id, tail = m.group(1), m.group(2)

    def bind(fn: Callable[..., Awaitable[None]]) -> Handler:
        return lambda gw, scope, receive, send: fn(gw, scope, receive, send, response_id)

    if tail == "/input_items":
        return {"GET": bind(stored.list_input_items)}
    if tail == "/cancel":
        return {"POST": bind(stored.cancel_response)}
    return {"GET": bind(stored.get_response), "DELETE": bind(stored.delete_response)}


def create_app(config: Config) -> Gateway:
    return Gateway(config)


def app_from_env() -> Any:
    """Factory used by ``ferryman serve`` (each worker process builds its own gateway)."""
    path = os.environ.get("FERRYMAN_CONFIG") or None
    return create_app(load_config(path))
