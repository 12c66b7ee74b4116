"""The ASGI application: routes, the lifespan that owns provider pools, and error rendering."""

from __future__ import annotations

import functools
import gc
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ferryman.config import Config, ConfigError, load_config, secret_values
from ferryman.gateway import usage
from ferryman.gateway.background import BackgroundRunner
from ferryman.gateway.conversations import Conversations
from ferryman.gateway.cost import CostHook
from ferryman.gateway.dispatch import Dispatcher
from ferryman.gateway.hooks import Hook
from ferryman.gateway.pipeline import Pipeline
from ferryman.gateway.router import Router
from ferryman.gateway.storing import StoreHook
from ferryman.http import BodyBudget, Receive, Scope, Send, send_json
from ferryman.plugins.cache import ResponseCache
from ferryman.plugins.cache.hook import CacheHook
from ferryman.plugins.governance.hook import GovernanceHook
from ferryman.plugins.logs.console import setup_console, write_directly
from ferryman.plugins.logs.hook import RequestLogHook
from ferryman.plugins.logs.native import NativeReader
from ferryman.plugins.logs.writer import LogWriter
from ferryman.providers.base import Provider
from ferryman.providers.registry import build_provider
from ferryman.routes.admin import AdminRoutes
from ferryman.routes.anthropic import AnthropicDoor, CountTokens
from ferryman.routes.chat import ChatDoor
from ferryman.routes.conversations import ConversationRoutes
from ferryman.routes.embeddings import EmbeddingsDoor
from ferryman.routes.entry import Entry, Handler
from ferryman.routes.gemini import METHODS as GEMINI_METHODS
from ferryman.routes.gemini import PATH as GEMINI_PATH
from ferryman.routes.gemini import GeminiDoor
from ferryman.routes.logs import LogRoutes, unavailable
from ferryman.routes.models import Models
from ferryman.routes.providers import ProviderRoutes
from ferryman.routes.ready import Readiness
from ferryman.routes.responses import ResponsesDoor
from ferryman.routes.stored import StoredResponses
from ferryman.schemas.errors import MethodNotAllowedError, NotFoundError
from ferryman.scrub import protect
from ferryman.state import open_store
from ferryman.state.conversations import ConversationStore
from ferryman.state.logs import LogStore
from ferryman.state.logsearch import text_index_wanted
from ferryman.state.pending import PendingWrites
from ferryman.state.records import RecordStore

if TYPE_CHECKING:
    from ferryman.mcp.server import GatewayMcpServer
    from ferryman.plugins.metrics.hook import MetricsHook
    from ferryman.plugins.telemetry.export import Exporters
    from ferryman.routes.ui import Dashboard

log = logging.getLogger("ferryman")

# every model route is served with and without ``/v1``: clients whose base URL has no ``/v1`` (LiteLLM's
# ``litellm_proxy/`` provider with ``api_base=http://host:8080``) call ``/responses`` itself
PREFIXES = ("/v1", "/openai/v1", "/litellm/v1", "", "/openai", "/litellm")
HEALTH_BODY = b'{"status":"ok"}'
GC_YOUNG = 50_000  # bench/variants.py features, CPU µs per request: bare 179 -> 172, full 262 -> 247


class Gateway(Entry):
    """One gateway instance: its config, its provider adapters (with their pools), its pipeline, its routes."""

    def __init__(self, config: Config) -> None:
        protect(secret_values(config))  # before anything can fail or log: its secrets never leave as text
        self.config = config
        self.providers: dict[str, Provider] = {name: build_provider(p) for name, p in config.providers.items()}
        self.router = Router(config)
        self.dispatcher = Dispatcher(config, self.providers, self.router)
        store = open_store(config.store, _text_index(config)) if config.store else None
        self.store: PendingWrites | None = PendingWrites(store) if store is not None else None
        self.background = BackgroundRunner(self.store)
        self.conversations: Conversations | None = None
        if self.store is not None:
            threads: ConversationStore = self.store.inner  # type: ignore[assignment]  # SQLite and PostgreSQL have it
            self.conversations = Conversations(threads, self.store)
        self.cache: ResponseCache | None = (
            ResponseCache(config, self.providers, self.dispatcher.keys) if config.cache is not None else None
        )
        # the pipeline's hooks, in order: ``before`` parts run top-down before dispatch, ``after`` parts
        # top-down on the final response (cost first, so what is stored, cached and charged is priced).
        # Governance comes right after cost, which has no ``before``: its ``before`` runs first of all (a
        # refused request loads nothing and calls nobody), its ``after`` charges the priced answer.
        hooks: list[Hook] = [CostHook(config)]
        # traces: its ``before`` first of all (every request has a span, and every provider call its trace context)
        self.telemetry: Exporters | None = None
        if config.telemetry is not None:
            try:  # OpenTelemetry only with a telemetry section
                from ferryman.plugins.telemetry.export import Exporters
                from ferryman.plugins.telemetry.genai import Conventions
                from ferryman.plugins.telemetry.hook import TracesHook
                from ferryman.plugins.telemetry.metrics import GenAIMetrics
            except ImportError as exc:
                raise ConfigError(
                    f"{config.source}: telemetry: needs the OpenTelemetry SDK ({exc.name} is missing): "
                    "pip install 'ferryman[otel]'"
                ) from None

            self.telemetry = Exporters(config.telemetry)
            metrics = GenAIMetrics(self.telemetry.meter)
            conventions = Conventions(config.telemetry.genai_latest)
            hooks.append(TracesHook(self.telemetry.tracer, self.providers, metrics, conventions))
        self.log_writer: LogWriter | None = None  # the request log's batched writer (its hook is added last)
        if config.logs is not None and self.store is not None:
            log_store: LogStore = self.store.inner  # type: ignore[assignment]  # SQLite and PostgreSQL have it
            self.log_writer = LogWriter(log_store, config.logs)
        # metrics: its ``before`` first of all (every request is counted in flight), its ``after`` on the priced answer
        self.metrics: MetricsHook | None = None
        if config.metrics is not None:
            from ferryman.plugins.metrics.hook import MetricsHook  # prometheus_client only with metrics on

            writer = self.log_writer
            self.metrics = MetricsHook(dropped=writer.dropped_count) if writer is not None else MetricsHook()
            hooks.append(self.metrics)
        self.governance: GovernanceHook | None = None
        if config.governance is not None:
            assert self.store is not None  # the config loader requires a store with governance
            records: RecordStore = self.store.inner  # type: ignore[assignment]  # SQLite and PostgreSQL have both
            self.governance = GovernanceHook(config.governance, records)
            hooks.append(self.governance)
        hooks.append(StoreHook(config, self.store, self.conversations))
        if self.cache is not None:
            hooks.append(CacheHook(self.cache))
        # the request log comes last: its entry sees the priced answer, the key and the cache's verdict
        hooks.append(RequestLogHook(self.log_writer, content=config.logs is not None and config.logs.content))
        self.pipeline = Pipeline(config, self.router, self.dispatcher, hooks, self.store, self.background)
        self.ready = False
        self.server_limits = config.server  # read by the connection protocol (connection.py)
        budget = BodyBudget(config.server.max_request_bytes_in_flight)
        door_options: dict[str, Any] = {
            "max_request_bytes": config.max_request_bytes,
            "keepalive": config.stream_keepalive,
            "budget": budget,
        }
        responses = ResponsesDoor(self.pipeline, **door_options)
        chat = ChatDoor(self.pipeline, **door_options)
        gov = self.governance
        self.stored = StoredResponses(self.store, self.background, gov.authenticate if gov is not None else None)
        readiness = Readiness(
            config,
            lambda: self.ready,
            self.store.ping if self.store is not None else None,
            self.cache.ping if self.cache is not None else None,
        )
        self.routes: dict[str, dict[str, Handler]] = {
            "/health": {"GET": self.health},
            "/ready": {"GET": readiness.ready},
        }
        embeddings = EmbeddingsDoor(
            self.pipeline, max_request_bytes=config.max_request_bytes, keepalive=config.stream_keepalive, budget=budget
        )
        self.models = Models(config, gov)
        self.threads = ConversationRoutes(
            self.conversations, budget, config.max_request_bytes, gov.authenticate if gov is not None else None
        )
        for prefix in PREFIXES:
            self.routes[f"{prefix}/responses"] = {"POST": responses.create}
            self.routes[f"{prefix}/conversations"] = {"POST": self.threads.create}
            self.routes[f"{prefix}/chat/completions"] = {"POST": chat.create}
            self.routes[f"{prefix}/embeddings"] = {"POST": embeddings.create}
            self.routes[f"{prefix}/models"] = {"GET": self.models.list}
        # the Anthropic Messages door: Anthropic SDKs and Claude Code with base_url .../anthropic
        messages = AnthropicDoor(
            self.pipeline, max_request_bytes=config.max_request_bytes, keepalive=config.stream_keepalive, budget=budget
        )
        count = CountTokens(
            self.pipeline,
            max_request_bytes=config.max_request_bytes,
            budget=budget,
            authenticate=self.governance.authenticate if self.governance is not None else None,
        )
        self.routes["/anthropic/v1/messages"] = {"POST": messages.create}
        self.routes["/anthropic/v1/messages/count_tokens"] = {"POST": count.count}
        # the Gemini API: /genai/v1beta/models/{model}:generateContent (a path parameter: _gemini_route)
        self.gemini = GeminiDoor(
            self.pipeline, max_request_bytes=config.max_request_bytes, keepalive=config.stream_keepalive, budget=budget
        )
        self.admin: AdminRoutes | None = None
        if gov is not None:
            admin = self.admin = AdminRoutes(gov, budget)
            self.routes["/admin/keys"] = {"POST": admin.create_key, "GET": admin.list_keys}
            self.routes["/admin/teams"] = {"POST": admin.create_team, "GET": admin.list_teams}
            self.routes["/admin/spend"] = {"GET": admin.spend}
            self.routes["/v1/key"] = {"GET": admin.own_key}
        if self.metrics is not None and config.metrics is not None:
            from ferryman.plugins.metrics.route import MetricsRoute

            master = gov.is_master if gov is not None and config.metrics.require_key else None
            self.routes["/metrics"] = {"GET": MetricsRoute(self.metrics, master).metrics}
        self.dashboard: Dashboard | None = None  # /ui, made on its first request (_ui_route)
        # Ferryman as one MCP server over the config's (the SDK only with an mcp section that names servers)
        self.mcp_server: GatewayMcpServer | None = None
        if config.mcp is not None and config.mcp.servers:
            from ferryman.mcp.server import GatewayMcpServer
            from ferryman.routes.mcp import McpRoute

            self.mcp_server = GatewayMcpServer(config.mcp)
            self.pipeline.mcp_client = self.mcp_server.client  # one session per server for /mcp and requests
            handle = McpRoute(self.mcp_server, gov).handle
            self.routes["/mcp"] = {"POST": handle, "GET": handle, "DELETE": handle}
        self.logs: LogRoutes | None = None
        if gov is not None and self.log_writer is not None:
            self.logs = LogRoutes(self.log_writer.store, self.log_writer, gov.is_master, NativeReader(self.providers))
            self.routes["/admin/logs"] = {"GET": self.logs.list}
        else:
            self.routes["/admin/logs"] = {"GET": unavailable}
        if gov is not None:
            providers = ProviderRoutes(config, self.dispatcher.keys, self.log_writer, gov.is_master)
            self.routes["/admin/providers"] = {"GET": providers.listing}

    async def health(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.ready:
            await send_json(send, 503, b'{"status":"starting"}')
            return
        await send_json(send, 200, HEALTH_BODY)

    async def startup(self) -> None:
        if self.store is not None:
            await self.store.start()
        if self.governance is not None:
            await self.governance.start()
        if self.log_writer is not None:
            self.log_writer.start()
        if self.cache is not None:
            await self.cache.start()
        for provider in self.providers.values():
            await provider.start()
        if self.mcp_server is not None:
            await self.mcp_server.start()
        # What start-up built (modules, config, pricing tables, pools) lives as long as the process: moved out
        # of the collector's reach, a full collection scans only what requests allocate. Without this one
        # pause of ~30 ms every few thousand requests stalls every stream in flight.
        usage.preload()
        gc.collect()
        gc.freeze()
        # a young-generation collection every GC_YOUNG allocations, not Python's 700: a request allocates a few
        # hundred containers, so the default ran one (and every tenth an older one) about every other request
        gc.set_threshold(GC_YOUNG, 10, 10)
        self.ready = True

    async def shutdown(self) -> None:
        self.ready = False
        write_directly()  # the process may end by a signal, with no ``atexit``: no line may wait in a queue
        if self.mcp_server is not None:
            await self.mcp_server.stop()
        await self.background.stop()
        if self.governance is not None:
            await self.governance.stop()
        if self.log_writer is not None:
            await self.log_writer.stop()  # what is queued is written before the store closes
        for provider in self.providers.values():
            await provider.stop()
        if self.store is not None:
            await self.store.close()
        if self.cache is not None:
            await self.cache.close()
        if self.metrics is not None:
            self.metrics.stop()
        if self.telemetry is not None:
            await self.telemetry.shutdown()  # the spans and metrics still queued are exported

    def _stored_route(self, path: str) -> dict[str, Handler] | None:
        m = _STORED.match(path)
        if m is None:
            return None
        response_id, tail = m.group(1), m.group(2)
        stored = self.stored
        bind = functools.partial(_bind, arg=response_id)
        if tail == "/input_items":
            return {"GET": bind(stored.input_items)}
        if tail == "/cancel":
            return {"POST": bind(stored.cancel)}
        return {"GET": bind(stored.get), "DELETE": bind(stored.delete)}

    def _conversation_route(self, path: str) -> dict[str, Handler] | None:
        m = _CONVERSATION.match(path)
        if m is None:
            return None
        conversation_id, items, item_id = m.group(1), m.group(2), m.group(3)
        routes = self.threads
        if item_id is not None:
            get, delete = routes.get_item, routes.delete_item
            return {
                "GET": lambda scope, receive, send: get(scope, receive, send, conversation_id, item_id),
                "DELETE": lambda scope, receive, send: delete(scope, receive, send, conversation_id, item_id),
            }
        bind = functools.partial(_bind, arg=conversation_id)
        if items is not None:
            return {"GET": bind(routes.list_items), "POST": bind(routes.add_items)}
        return {"GET": bind(routes.get), "POST": bind(routes.update), "DELETE": bind(routes.delete)}

    def _admin_route(self, path: str) -> dict[str, Handler] | None:
        m = _ADMIN.match(path) if self.admin is not None else None
        if m is None or self.admin is None:
            return None
        kind, admin = m.group(1), self.admin
        bind = functools.partial(_bind, arg=m.group(2))
        if kind == "keys":
            return {"GET": bind(admin.get_key), "PATCH": bind(admin.update_key), "DELETE": bind(admin.revoke_key)}
        return {"GET": bind(admin.get_team), "PATCH": bind(admin.update_team), "DELETE": bind(admin.delete_team)}

    def _log_route(self, path: str) -> dict[str, Handler] | None:
        m = _LOG.match(path)
        if m is None:
            return None
        if self.logs is None:
            return {"GET": unavailable}
        return {"GET": _bind(self.logs.get, m.group(1))}

    def _gemini_route(self, path: str) -> dict[str, Handler] | None:
        m = GEMINI_PATH.match(path)
        if m is None:
            return None
        door = self.gemini
        return {"POST": door.create if m.group(2) in GEMINI_METHODS else door.unimplemented}

    def _ui_route(self, path: str) -> dict[str, Handler] | None:
        """``/ui`` and its files: the dashboard's module is imported on the first request for it."""
        if path != "/ui" and not path.startswith("/ui/"):
            return None
        if self.dashboard is None:
            from ferryman.routes.ui import Dashboard

            self.dashboard = Dashboard()
        handler = _bind(self.dashboard.serve, path[4:].rstrip("/") if path.startswith("/ui/") else "")
        return {"GET": handler, "HEAD": handler}

    def _model_route(self, path: str) -> dict[str, Handler] | None:
        m = _MODEL.match(path)
        return {"GET": _bind(self.models.get, m.group(1))} if m is not None else None

    def _match(self, path: str, method: str) -> Handler:
        methods = self.routes.get(path)
        if methods is None and len(path) > 1 and path.endswith("/"):
            methods = self.routes.get(path.rstrip("/"))
        if methods is None:
            methods = (
                self._stored_route(path)
                or self._conversation_route(path)
                or self._admin_route(path)
                or self._log_route(path)
                or self._gemini_route(path)
                or self._model_route(path)
                or self._ui_route(path)
            )
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


def _bind(fn: Callable[[Scope, Receive, Send, str], Awaitable[None]], arg: str) -> Handler:
    """A route handler that takes what its path held (a response id, a key id) as a fourth argument."""
    return lambda scope, receive, send: fn(scope, receive, send, arg)


_STORED = re.compile(r"^(?:/openai|/litellm)?(?:/v1)?/responses/([A-Za-z0-9_.:-]+)(/input_items|/cancel)?/?$")

_CONVERSATION = re.compile(
    r"^(?:/openai|/litellm)?(?:/v1)?/conversations/([A-Za-z0-9_.:-]+)(/items(?:/([A-Za-z0-9_.:-]+))?)?/?$"
)

_ADMIN = re.compile(r"^/admin/(keys|teams)/([A-Za-z0-9_.:-]+)/?$")

_LOG = re.compile(r"^/admin/logs/([A-Za-z0-9_.:-]+)/?$")

_MODEL = re.compile(r"^(?:/openai|/litellm)?(?:/v1)?/models/(.+?)/?$")


def create_app(config: Config) -> Gateway:
    return Gateway(config)


def app_from_env() -> Any:
    """Factory used by ``ferryman serve`` (each worker process builds its own gateway)."""
    setup_console()  # each worker's console, as ``ferryman serve`` set it (FERRYMAN_LOG_LEVEL, _FORMAT)
    path = os.environ.get("FERRYMAN_CONFIG") or None
    return create_app(load_config(path))


def _text_index(config: Config) -> bool | None:
    """What the request log's text index should be (None: no log, nothing to decide)."""
    if config.logs is None or config.store is None:
        return None
    return text_index_wanted(config.store, config.logs.text_index)
