"""Typed configuration: providers and their keys, model aliases, store, pricing overrides.

The file is YAML (JSON is YAML too). Unknown keys are errors that name the key and where it is,
because a misspelt ``fallback:`` silently ignored is a production outage waiting to happen.
Secrets are ``Secret`` objects: they print as ``****`` and only ``reveal()`` gives the value.

A provider entry is decoded into its type's own config struct, which the provider registry names
(``providers/registry.py``; the structs themselves subclass ``providers/spec.py``'s
``ProviderConfig``), so a key of another provider type is an error. Those records live below this
module and import nothing from it: config reads the registry, the registry never reads config.
``ApiKey``, ``ProviderConfig`` and ``Secret`` are re-exported here for the code that loads configs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import msgspec
import yaml
from msgspec import Meta, Struct

from ferryman.providers.catalog import KNOWN_PROVIDERS
from ferryman.providers.registry import PROVIDERS
from ferryman.providers.spec import DERIVED_FIELDS, ApiKey, Positive, ProviderConfig
from ferryman.scrub import mask_url_passwords, secret_parts, url_password
from ferryman.secret import Secret, resolve_secret

__all__ = [
    "ApiKey",
    "CacheEntry",
    "Config",
    "ConfigError",
    "Governance",
    "CompatEntry",
    "Mcp",
    "McpServer",
    "ModelAlias",
    "PriceEntry",
    "ProviderConfig",
    "Secret",
    "ServerLimits",
    "Telemetry",
    "config_from_dict",
    "config_from_env",
    "describe",
    "load_config",
    "resolve_secret",
    "secret_values",
]


class ConfigError(Exception):
    """A config that cannot be used; the message says what and where."""


DEFAULT_STORE = "sqlite:///./ferryman.db"
StoreSync = Literal["before_reply", "after_reply"]
DEFAULT_STORE_SYNC: StoreSync = "after_reply"  # bench/README.md "Store sync": +0.09 ms per request


# ---- file schema (what users write) -------------------------------------------------------------


class WeightedTarget(Struct, forbid_unknown_fields=True):
    target: str
    weight: Annotated[float, Meta(ge=0)] = 1.0


class CompatEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """How faithful a translated request must be."""

    # a tool the provider cannot run (web_search on a Chat Completions server, ...): left out and named in
    # extra_fields.dropped and x-ferryman-dropped, instead of a 400
    drop_unsupported: bool = False


class ModelEntry(Struct, forbid_unknown_fields=True):
    name: str
    target: str | None = None
    targets: list[WeightedTarget] = []  # spread load: one is picked by weight, the others follow it
    fallbacks: list[str] = []
    cache: bool | None = None
    compat: CompatEntry | None = None  # for requests to this alias, instead of the top-level one


class PriceEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """USD per million tokens (and per request), overriding the maintained pricing table."""

    input_mtok: Annotated[float, Meta(ge=0)] | None = None
    output_mtok: Annotated[float, Meta(ge=0)] | None = None
    cache_read_mtok: Annotated[float, Meta(ge=0)] | None = None
    cache_write_mtok: Annotated[float, Meta(ge=0)] | None = None
    request: Annotated[float, Meta(ge=0)] | None = None


class SemanticCacheEntry(Struct, forbid_unknown_fields=True, frozen=True):
    threshold: Annotated[float, Meta(ge=0, le=1)] = 0.85
    embeddings: str = "local"  # or provider/model (an OpenAI-compatible /embeddings endpoint)
    timeout: Positive = 2.0  # seconds an embedding may take before the request goes on without the cache


class CacheEntry(Struct, forbid_unknown_fields=True, frozen=True):
    backend: str = "memory"  # or redis://host:port/db
    ttl: Positive = 3600.0
    namespace: str = "ferryman"
    # whose entries a request may be answered from: its own credential's ("key"), everyone's ("gateway");
    # "team" is governance's: until teams exist it scopes like "key"
    scope: Literal["key", "team", "gateway"] = "key"
    redis_timeout: Annotated[float, Meta(gt=0, le=10)] = 0.25  # seconds one Redis call may take
    redis_cooldown: Positive = 5.0  # seconds the cache is skipped after a Redis failure, before a probe
    semantic: SemanticCacheEntry | None = None
    allow_sampling: bool = False
    max_entries: Annotated[int, Meta(ge=1)] = 10_000
    max_bytes: Annotated[int, Meta(ge=1024)] = 256 * 1024 * 1024


class StoreEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """``store: {url, sync}``, the long form of ``store: URL``."""

    url: str = DEFAULT_STORE
    sync: StoreSync = DEFAULT_STORE_SYNC  # when the commit happens: before the reply goes out, or after


class GovernanceEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``governance:`` section as written: the master key (``env.NAME`` or a literal) and the counters."""

    master_key: str
    counters: str = "memory"  # or redis://host:port/db: rate limits and spend shared by every process and host
    namespace: str = "ferryman"  # prefix of the counters' Redis keys
    redis_timeout: Annotated[float, Meta(gt=0, le=10)] = 0.1  # seconds one Redis round trip may take
    redis_cooldown: Positive = 5.0  # seconds the counters stay in process after a Redis failure, before a probe
    refresh: Positive = 5.0  # seconds between reloads of keys, teams and recent spend from the store


class Governance(Struct, frozen=True):
    """The resolved ``governance:`` section: with it every model route needs a virtual key or the master key."""

    master_key: Secret
    counters: str = "memory"
    namespace: str = "ferryman"
    redis_timeout: float = 0.1
    redis_cooldown: float = 5.0
    refresh: float = 5.0


class MetricsEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``metrics:`` section (``GET /metrics``, on by default; ``metrics: false`` turns it off)."""

    require_key: bool = False  # the scrape needs governance's master key


class LogsEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``logs:`` section (``logs: false`` turns the request log off; it is on by default with a store)."""

    content: bool = True  # keep each request's input and output; false: metadata only
    retention_days: Positive | None = None  # entries older than this are pruned in the background; None: kept
    queue_size: Annotated[int, Meta(ge=1)] = 10_000  # entries waiting for the writer; past it, dropped and counted
    batch_size: Annotated[int, Meta(ge=1)] = 500  # entries written in one transaction
    # the index of kept content that makes ``q`` fast (state/logsearch.py); None: on with PostgreSQL (the database
    # server pays for it), off with SQLite (the gateway's own process would: about 4x the write cost of an entry)
    text_index: bool | None = None


class TelemetryEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``telemetry:`` section as written: where traces and GenAI metrics go over OTLP/HTTP (protobuf)."""

    otlp_endpoint: str  # the collector's base URL (http://collector:4318); /v1/traces and /v1/metrics are added
    service_name: str = "ferryman"
    headers: dict[str, str] = {}  # sent with every export (a vendor's API key): values are secrets (``env.NAME``)


class Telemetry(Struct, frozen=True):
    """The resolved ``telemetry:`` section (None: nothing of OpenTelemetry is imported)."""

    otlp_endpoint: str
    service_name: str = "ferryman"
    headers: dict[str, Secret] = {}
    # OTEL_SEMCONV_STABILITY_OPT_IN lists gen_ai_latest_experimental: the newest GenAI conventions' names
    genai_latest: bool = False


class McpServerEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """One of ``mcp.servers``: a remote server (``url``, with ``headers`` whose values are secrets) or a local
    one Ferryman starts and talks to over stdio (``command``, with its ``env``)."""

    url: str | None = None
    headers: dict[str, str] = {}
    transport: Literal["streamable_http", "sse"] | None = None  # by default SSE for a URL ending in /sse
    command: list[str] | None = None
    env: dict[str, str] = {}  # values are secrets too (``env.NAME``)
    description: str | None = None


class McpEntry(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``mcp:`` section as written."""

    servers: dict[str, McpServerEntry] = {}
    # who runs an ``mcp`` tool of a request to OpenAI-native targets: OpenAI itself when every server_url is
    # public ("public"), or always Ferryman ("never")
    openai_native: Literal["public", "never"] = "public"
    inline_servers: bool = True  # a request may name its own server_url (false: only the servers here)
    max_tool_calls: Annotated[int, Meta(ge=1)] = 20  # per request, unless the request's max_tool_calls says less
    connect_timeout: Positive = 10.0  # seconds to connect to a server and list its tools
    call_timeout: Positive = 60.0  # seconds one tool call may take
    list_ttl: Annotated[float, Meta(ge=0)] = 60.0  # seconds a server's tool list is kept


class McpServer(Struct, frozen=True):
    """A resolved server of ``mcp.servers``."""

    name: str
    url: str | None = None
    headers: dict[str, Secret] = {}
    transport: str = "streamable_http"
    command: tuple[str, ...] = ()
    env: dict[str, Secret] = {}
    description: str | None = None


class Mcp(Struct, frozen=True):
    """The resolved ``mcp:`` section (None when the config has none: requests' own servers use these defaults)."""

    servers: dict[str, McpServer] = {}
    openai_native: str = "public"
    inline_servers: bool = True
    max_tool_calls: int = 20
    connect_timeout: float = 10.0
    call_timeout: float = 60.0
    list_ttl: float = 60.0


class ServerLimits(Struct, forbid_unknown_fields=True, frozen=True):
    """The ``server:`` section: how long a client may take, and how much of the gateway it may hold."""

    header_timeout: Positive = 30.0  # seconds from a request's first byte to the end of its headers
    body_timeout: Positive = 60.0  # seconds from the end of the headers to the end of the body
    idle_timeout: Positive = 5.0  # seconds a connection may stay silent before (the next) request
    max_connections: Annotated[int, Meta(ge=1)] = 10_000  # open connections per process; past it, 503
    max_request_bytes_in_flight: Annotated[int, Meta(ge=1024)] = 256 * 1024 * 1024  # bodies held at once; 503


class FileConfig(Struct, forbid_unknown_fields=True):
    # entries are checked one by one, so an error can name the provider it is in
    providers: dict[str, dict[str, Any]] = {}
    models: list[ModelEntry] = []
    store: str | bool | StoreEntry = DEFAULT_STORE  # false: keep nothing
    forward_unknown_response_ids: bool = False  # a previous_response_id Ferryman never saw goes to OpenAI as is
    send_back_raw: bool = False
    stream_keepalive: Positive = 15.0
    max_request_bytes: Annotated[int, Meta(ge=1024)] = 32 * 1024 * 1024
    pricing: dict[str, PriceEntry] = {}
    fallback_on: list[int | str] = []
    stream_resume: bool = False
    cache: CacheEntry | None = None
    server: ServerLimits = ServerLimits()
    compat: CompatEntry = CompatEntry()
    governance: GovernanceEntry | None = None
    metrics: bool | MetricsEntry = True
    logs: bool | LogsEntry = True
    telemetry: TelemetryEntry | None = None
    mcp: McpEntry | None = None


# ---- resolved config (what the gateway uses) ----------------------------------------------------


class ModelAlias(Struct):
    name: str
    targets: list[tuple[str, float]]  # (provider/model, weight); one entry for a plain alias
    fallbacks: list[str] = []
    cache: bool | None = None
    compat: CompatEntry | None = None

    @property
    def target(self) -> str:
        return self.targets[0][0]


class Config(Struct):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelAlias]
    store: str | None = None
    store_sync: StoreSync = DEFAULT_STORE_SYNC
    forward_unknown_response_ids: bool = False
    send_back_raw: bool = False
    stream_keepalive: float = 15.0
    max_request_bytes: int = 32 * 1024 * 1024
    pricing: dict[str, PriceEntry] = {}
    fallback_on: frozenset[int | str] = frozenset()
    stream_resume: bool = False
    cache: CacheEntry | None = None
    server: ServerLimits = ServerLimits()
    compat: CompatEntry = CompatEntry()
    governance: Governance | None = None
    metrics: MetricsEntry | None = MetricsEntry()  # None: no /metrics, nothing of prometheus_client imported
    logs: LogsEntry | None = None  # the request log; None: off (``logs: false``, or no store)
    telemetry: Telemetry | None = None  # OpenTelemetry traces and metrics over OTLP; None: off
    mcp: Mcp | None = None  # MCP servers Ferryman runs tools on (and serves at /mcp); None: no section
    source: str = "environment"


def load_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Config:
    """Load a config file, or build one from the environment when ``path`` is None."""
    env = os.environ if environ is None else environ
    if path is None:
        return config_from_env(env)
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return config_from_dict(data if data is not None else {}, env, source=str(p))


def config_from_dict(data: Any, environ: Mapping[str, str], source: str = "<dict>") -> Config:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping at the top level")
    fc = _convert(data, FileConfig, source, "")
    providers: dict[str, ProviderConfig] = {}
    for name, entry in fc.providers.items():
        if _enabled(entry, name, source):
            providers[name] = _resolve_provider(name, entry, environ, source)
    for known in KNOWN_PROVIDERS.values():
        if known.builtin and known.name not in fc.providers:
            providers[known.name] = _resolve_provider(known.name, {}, environ, source)

    models: dict[str, ModelAlias] = {}
    for i, m in enumerate(fc.models):
        where = f"{source}: models[{i}]"
        if m.name in models:
            raise ConfigError(f"{where}: duplicate model alias {m.name!r}")
        if (m.target is None) == (not m.targets):
            raise ConfigError(f"{where}: give either 'target' or 'targets' (a weighted list), not both or neither")
        targets = [(m.target, 1.0)] if m.target is not None else [(t.target, t.weight) for t in m.targets]
        for ref in (*(t for t, _ in targets), *m.fallbacks):
            _check_target(ref, providers, where)
        models[m.name] = ModelAlias(m.name, targets, list(m.fallbacks), m.cache, m.compat)

    store_entry = fc.store if isinstance(fc.store, StoreEntry) else StoreEntry()
    store = fc.store if isinstance(fc.store, str) else (None if fc.store is False else store_entry.url)
    if store is not None and not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", store):
        raise ConfigError(f"{source}: store: {store!r} is not a store URL (sqlite:///path or postgresql://...)")
    if fc.server.max_request_bytes_in_flight < fc.max_request_bytes:
        raise ConfigError(
            f"{source}: server.max_request_bytes_in_flight ({fc.server.max_request_bytes_in_flight}) is below "
            f"max_request_bytes ({fc.max_request_bytes}): a body of the largest accepted size could never be read"
        )
    return Config(
        providers=providers,
        models=models,
        store=store,
        store_sync=store_entry.sync,
        forward_unknown_response_ids=fc.forward_unknown_response_ids,
        send_back_raw=fc.send_back_raw,
        stream_keepalive=fc.stream_keepalive,
        max_request_bytes=fc.max_request_bytes,
        pricing=fc.pricing,
        fallback_on=frozenset(fc.fallback_on),
        stream_resume=fc.stream_resume,
        cache=_check_cache(fc.cache, providers, source),
        server=fc.server,
        compat=fc.compat,
        governance=_governance(fc.governance, store, environ, source),
        metrics=_metrics(fc.metrics, fc.governance is not None, source),
        logs=_logs(fc.logs, store, source),
        telemetry=_telemetry(fc.telemetry, environ, source),
        mcp=_mcp(fc.mcp, environ, source),
        source=source,
    )


def config_from_env(environ: Mapping[str, str]) -> Config:
    """Every known provider whose standard key variable is set, with ``*_BASE_URL`` overrides."""
    providers: dict[str, ProviderConfig] = {}
    for known in KNOWN_PROVIDERS.values():
        if known.builtin or any(environ.get(name) for name in known.enabled_by):
            providers[known.name] = _resolve_provider(known.name, {}, environ, "environment")
    return Config(providers=providers, models={}, store=DEFAULT_STORE, logs=LogsEntry(), source="environment")


def _enabled(entry: dict[str, Any], name: str, source: str) -> bool:
    """``enabled: false`` leaves an entry out (how the built-in mock provider is turned off); the key is consumed."""
    enabled = entry.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{source}: providers.{name}.enabled: expected true or false, got {enabled!r}")
    return enabled


def _resolve_provider(name: str, raw: dict[str, Any], environ: Mapping[str, str], source: str) -> ProviderConfig:
    """One entry, decoded into its type's config struct with the known provider's defaults filled in."""
    where = f"providers.{name}"
    entry = {k: v for k, v in raw.items() if v is not None}  # null: the default
    known = KNOWN_PROVIDERS.get(name)
    base_url = entry.get("base_url") or (environ.get(known.base_url_env) if known else None)
    ptype = entry.get("type", known.type_for(base_url) if known else None)
    types = ", ".join(PROVIDERS)
    if ptype is None:
        raise ConfigError(
            f"{source}: {where}: 'type' is required for a provider that is not a known one "
            f"(types: {types}; known providers: {', '.join(KNOWN_PROVIDERS)})"
        )
    spec = PROVIDERS.get(ptype) if isinstance(ptype, str) else None
    if spec is None:
        raise ConfigError(f"{source}: {where}.type: unknown provider type {ptype!r} (one of: {types})")
    try:
        kind = spec.config_class()
        spec.adapter_class()
    except (ImportError, AttributeError, TypeError) as exc:
        raise ConfigError(f"{source}: {where}.type: provider type {ptype!r} cannot be loaded: {exc}") from None

    def unknown_key(key: str) -> str:
        owners = _types_taking(key)
        hint = f" (a key of: {', '.join(owners)})" if owners else ""
        return f"{source}: {where}: unknown key {key!r} for provider type {ptype!r}{hint}"

    for key in sorted(DERIVED_FIELDS & entry.keys()):
        raise ConfigError(unknown_key(key))
    entry.update(
        name=name,
        type=ptype,
        key_env=known.key_env if known else None,
        needs_key=bool(known and known.needs_key and not spec.keyless),
    )
    if "base_url" not in entry and known is not None:
        entry["base_url"] = environ.get(known.base_url_env) or known.base_url_for(str(ptype))
    if "keys" not in entry and known is not None and known.key_env:
        entry["keys"] = [{"value": f"env.{known.key_env}"}]
    config = _convert(entry, kind, source, where, dec_hook=_secret_hook(environ), unknown_key=unknown_key)

    if config.base_url is not None:
        if not re.match(r"^https?://", config.base_url):
            raise ConfigError(f"{source}: {where}.base_url: {config.base_url!r} must start with http:// or https://")
        config.base_url = config.base_url.rstrip("/")
    elif spec.needs_base_url:
        raise ConfigError(f"{source}: {where}.base_url: required for a {ptype!r} provider that is not a known one")
    _check_proxy(config, f"{source}: {where}")
    _check_tls(config, f"{source}: {where}")
    return config


def _check_proxy(config: ProviderConfig, where: str) -> None:
    proxy = config.proxy
    if proxy is None or not proxy.is_set:
        config.proxy = None
        return
    url = proxy.reveal() or ""
    if not re.match(r"^http://[^/?#]+/?$", url):  # the value itself is not shown: it may hold a password
        scheme = url.partition("://")[0] if "://" in url else "none"
        raise ConfigError(
            f"{where}.proxy: must be an http:// proxy URL, http://[user:password@]host:port (scheme given: {scheme!r})"
        )


def _check_tls(config: ProviderConfig, where: str) -> None:
    for key in ("ca_bundle", "client_cert", "client_key"):
        path = getattr(config, key)
        if path is None:
            continue
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"{where}.{key}: {path!r} is not a readable file")
        setattr(config, key, str(Path(path).expanduser()))
    if config.client_key is not None and config.client_cert is None:
        raise ConfigError(f"{where}.client_key: needs client_cert (the certificate the key belongs to)")
    if not config.verify_tls and config.ca_bundle is not None:
        raise ConfigError(f"{where}.verify_tls: false ignores ca_bundle; give one or the other")


def _types_taking(key: str) -> list[str]:
    """Provider types whose config has ``key`` (for an error message: imports every type's config)."""
    owners = []
    for spec in PROVIDERS.values():
        try:
            fields = msgspec.structs.fields(spec.config_class())
        except (ImportError, AttributeError, TypeError):
            continue
        if any(f.encode_name == key for f in fields) and key not in DERIVED_FIELDS:
            owners.append(spec.type)
    return owners


def _secret_hook(environ: Mapping[str, str]) -> Callable[[type, Any], Any]:
    """Decodes a ``Secret`` field: ``env.NAME`` / ``os.environ/NAME`` from ``environ``, else the literal."""

    def hook(kind: type, value: Any) -> Any:
        if kind is not Secret:
            raise NotImplementedError
        if not isinstance(value, str):
            raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
        return resolve_secret(value, environ)

    return hook


_REDIS_URL = re.compile(r"^(rediss?|unix)://")


def _check_cache(cache: CacheEntry | None, providers: dict[str, ProviderConfig], source: str) -> CacheEntry | None:
    if cache is None:
        return None
    if cache.backend != "memory" and not _REDIS_URL.match(cache.backend):
        raise ConfigError(f"{source}: cache.backend: {cache.backend!r} is not 'memory' or a redis:// URL")
    if cache.semantic is not None and cache.semantic.embeddings != "local":
        _check_target(cache.semantic.embeddings, providers, f"{source}: cache.semantic.embeddings")
    return cache


def _governance(
    entry: GovernanceEntry | None, store: str | None, environ: Mapping[str, str], source: str
) -> Governance | None:
    if entry is None:
        return None
    master = resolve_secret(entry.master_key, environ)
    if not master.is_set:
        raise ConfigError(f"{source}: governance.master_key: {master.source} is not set")
    if len(master.reveal() or "") < 16:
        raise ConfigError(f"{source}: governance.master_key: must be at least 16 characters long")
    if entry.counters != "memory" and not _REDIS_URL.match(entry.counters):
        raise ConfigError(f"{source}: governance.counters: {entry.counters!r} is not 'memory' or a redis:// URL")
    if store is None:
        raise ConfigError(f"{source}: governance: needs a store (keys, teams and spend are kept there)")
    return Governance(
        master_key=master,
        counters=entry.counters,
        namespace=entry.namespace,
        redis_timeout=entry.redis_timeout,
        redis_cooldown=entry.redis_cooldown,
        refresh=entry.refresh,
    )


def _metrics(entry: bool | MetricsEntry, governed: bool, source: str) -> MetricsEntry | None:
    if entry is False:
        return None
    metrics = entry if isinstance(entry, MetricsEntry) else MetricsEntry()
    if metrics.require_key and not governed:
        raise ConfigError(f"{source}: metrics.require_key: needs a governance section (its master key reads /metrics)")
    return metrics


def _logs(entry: bool | LogsEntry, store: str | None, source: str) -> LogsEntry | None:
    if entry is False:
        return None
    if store is None:
        if isinstance(entry, LogsEntry):
            raise ConfigError(
                f"{source}: logs: the request log is kept in the store: configure one, or set logs: false"
            )
        return None
    return entry if isinstance(entry, LogsEntry) else LogsEntry()


def _telemetry(entry: TelemetryEntry | None, environ: Mapping[str, str], source: str) -> Telemetry | None:
    if entry is None:
        return None
    parts = urlsplit(entry.otlp_endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{source}: telemetry.otlp_endpoint: {mask_url_passwords(entry.otlp_endpoint)!r} is not an http(s) URL"
        )
    headers = {name: resolve_secret(value, environ) for name, value in entry.headers.items()}
    for name, secret in headers.items():
        if not secret.is_set:
            raise ConfigError(f"{source}: telemetry.headers.{name}: {secret.source} is not set")
    # the OpenTelemetry variable: a comma-separated list of opt-ins, one per family of conventions
    opt_in = {value.strip() for value in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    latest = "gen_ai_latest_experimental" in opt_in
    return Telemetry(entry.otlp_endpoint.rstrip("/"), entry.service_name, headers, latest)


_MCP_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,47}$")


def _mcp(entry: McpEntry | None, environ: Mapping[str, str], source: str) -> Mcp | None:
    if entry is None:
        return None
    servers: dict[str, McpServer] = {}
    for name, server in entry.servers.items():
        where = f"{source}: mcp.servers.{name}"
        if not _MCP_LABEL.match(name):
            raise ConfigError(f"{where}: a server's name is a letter, then letters, digits, '_' or '-' (48 at most)")
        if (server.url is None) == (server.command is None):
            raise ConfigError(f"{where}: give either 'url' (a remote server) or 'command' (a stdio one), not both")
        if server.url is not None and not re.match(r"^https?://", server.url):
            raise ConfigError(f"{where}.url: {mask_url_passwords(server.url)!r} is not an http(s) URL")
        if server.command is not None and not server.command:
            raise ConfigError(f"{where}.command: give the program and its arguments")
        if server.command is not None and (server.headers or server.transport):
            raise ConfigError(f"{where}: 'headers' and 'transport' are for a server with a 'url'")
        if server.url is not None and server.env:
            raise ConfigError(f"{where}: 'env' is for a server with a 'command'")
        secrets: list[dict[str, Secret]] = []
        for field, values in (("headers", server.headers), ("env", server.env)):
            resolved = {k: resolve_secret(v, environ) for k, v in values.items()}
            for k, secret in resolved.items():
                if not secret.is_set:
                    raise ConfigError(f"{where}.{field}.{k}: {secret.source} is not set")
            secrets.append(resolved)
        transport = server.transport or (
            "sse"
            if server.url is not None and urlsplit(server.url).path.rstrip("/").endswith("/sse")
            else "streamable_http"
        )
        servers[name] = McpServer(
            name,
            url=server.url,
            headers=secrets[0],
            transport=transport if server.url is not None else "stdio",
            command=tuple(server.command or ()),
            env=secrets[1],
            description=server.description,
        )
    return Mcp(
        servers=servers,
        openai_native=entry.openai_native,
        inline_servers=entry.inline_servers,
        max_tool_calls=entry.max_tool_calls,
        connect_timeout=entry.connect_timeout,
        call_timeout=entry.call_timeout,
        list_ttl=entry.list_ttl,
    )


def _check_target(ref: str, providers: dict[str, ProviderConfig], where: str) -> None:
    provider, sep, model = ref.partition("/")
    if not sep or not model:
        raise ConfigError(f"{where}: target {ref!r} must be 'provider/model'")
    if provider not in providers:
        known = ", ".join(sorted(providers)) or "none"
        raise ConfigError(f"{where}: target {ref!r} names provider {provider!r}, which is not configured ({known})")


_AT = re.compile(r" - at `\$([^`]*)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]+)`$")

T = TypeVar("T")


def _convert(
    data: Any,
    kind: type[T],
    source: str,
    where: str,
    *,
    dec_hook: Callable[[type, Any], Any] | None = None,
    unknown_key: Callable[[str], str] | None = None,
) -> T:
    """msgspec.convert, with its errors put in plain words and located from the file's top.

    ``unknown_key`` words the error for an unknown key at ``where`` itself (not in a nested part).
    """
    try:
        return msgspec.convert(data, kind, dec_hook=dec_hook)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        at = _AT.search(msg)
        path = at.group(1) if at else ""
        if at:
            msg = msg[: at.start()]
        location = (where + path).lstrip(".") or "the top level"
        unknown = _UNKNOWN.match(msg)
        if unknown and unknown_key is not None and not path:
            raise ConfigError(unknown_key(unknown.group(1))) from None
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown.group(1)!r} in {location}") from None
        raise ConfigError(f"{source}: {location}: {msg.replace('`', chr(39))}") from None


def unset_keys(config: Config) -> list[str]:
    """One line per configured key whose environment variable is not set (the provider cannot use that key)."""
    return [
        f"provider {p.name!r}: key {k.secret.source} is not set"
        + (f" (set {k.secret.source.removeprefix('env.')})" if k.secret.source.startswith("env.") else "")
        for p in config.providers.values()
        for k in p.keys
        if not k.secret.is_set
    ]


def describe(config: Config) -> str:
    """A human summary for ``ferryman config check``: providers, keys (redacted), aliases."""
    lines = [f"config: {config.source}", "providers:"]
    if not config.providers:
        lines.append("  (none)")
    for p in config.providers.values():
        lines.append(f"  {p.name}: {p.summary()}")
        for k in p.keys:
            scope = f" models={list(k.models)}" if k.models else ""
            lines.append(
                f"    key {k.secret.source}: {'set' if k.secret.is_set else 'NOT SET'} **** weight={k.weight:g}{scope}"
            )
        if not p.keys and p.needs_key:
            lines.append("    (no keys)")
        if p.headers:
            lines.append(f"    headers: {', '.join(sorted(p.headers))} (values hidden)")
        if p.proxy is not None:
            proxy = urlsplit(p.proxy.reveal() or "")
            lines.append(
                f"    proxy: http://{proxy.hostname}:{proxy.port or 80} ({p.proxy.source}, credentials hidden)"
            )
        if p.ca_bundle or p.client_cert:
            lines.append(f"    tls: ca_bundle={p.ca_bundle or '(system)'} client_cert={p.client_cert or '(none)'}")
        if not p.verify_tls:
            lines.append("    tls: certificate NOT verified (verify_tls: false)")
    lines.append("models:")
    if not config.models:
        lines.append("  (none)")
    for m in config.models.values():
        fb = f" fallbacks={m.fallbacks}" if m.fallbacks else ""
        spread = ", ".join(f"{t} ({w:g})" for t, w in m.targets) if len(m.targets) > 1 else m.target
        lines.append(f"  {m.name} -> {spread}{fb}")
    if config.store:
        lines.append(f"store: {config.store} (sync: {config.store_sync})")
        if config.forward_unknown_response_ids:
            lines.append("  previous_response_id that Ferryman never saw: forwarded to OpenAI-native providers")
    else:
        lines.append("store: (none)")
    if config.logs is not None:
        kept = "with content" if config.logs.content else "metadata only"
        days = f", pruned after {config.logs.retention_days:g} days" if config.logs.retention_days else ""
        lines.append(f"request log: in the store, {kept}{days}")
    else:
        lines.append("request log: off")
    return mask_url_passwords("\n".join(lines))  # a store or base_url with user:password@ shows user:****@


# a configured header whose name says it carries a credential (its value is scrubbed like a key)
_CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|password|cookie|signature", re.IGNORECASE)


def secret_values(config: Config) -> list[str]:
    """Every secret the config holds, for ``ferryman.scrub``: each provider's keys and ``Secret`` fields
    (AWS credentials, a proxy URL and its password, Vertex credentials' private key), credential-like
    header values, the passwords in a base_url, the store URL and the cache's Redis URL, and governance's
    master key and the password in its counters' Redis URL, telemetry's export headers and endpoint password, and
    the MCP servers' credential-like headers and environment variables."""
    values: list[str | None] = []
    for p in config.providers.values():
        secrets = [k.secret for k in p.keys]
        secrets += [v for f in msgspec.structs.fields(p) if isinstance(v := getattr(p, f.name), Secret)]
        for secret in secrets:
            value = secret.reveal()
            if value:
                values += secret_parts(value)
        for name, v in p.headers.items():
            if _CREDENTIAL_HEADER.search(name) and v.strip():
                values += [v, v.split()[-1]]  # "Bearer xyz" and xyz
        values.append(url_password(p.base_url or ""))
    values.append(url_password(config.store or ""))
    if config.cache is not None:
        values.append(url_password(config.cache.backend))
    if config.governance is not None:
        values += [config.governance.master_key.reveal(), url_password(config.governance.counters)]
    if config.telemetry is not None:
        values.append(url_password(config.telemetry.otlp_endpoint))
        for secret in config.telemetry.headers.values():
            value = secret.reveal() or ""
            values += [value, value.split()[-1] if value.strip() else ""]  # "Bearer xyz" and xyz
    if config.mcp is not None:
        for server in config.mcp.servers.values():
            values.append(url_password(server.url or ""))
            for name, secret in (*server.headers.items(), *server.env.items()):
                value = secret.reveal() or ""
                if _CREDENTIAL_HEADER.search(name) and value.strip():  # a value like "1" is no secret to scrub
                    values += [value, value.split()[-1]]
    return [v for v in values if v]
