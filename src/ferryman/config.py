"""Typed configuration: providers and their keys, model aliases, store, pricing overrides.

The file is YAML (JSON is YAML too). Unknown keys are errors that name the key and where it is,
because a misspelt ``fallback:`` silently ignored is a production outage waiting to happen.
Secrets are ``Secret`` objects: they print as ``****`` and only ``reveal()`` gives the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import msgspec
import yaml
from msgspec import Meta, Struct

from ferryman.providers.catalog import KNOWN_PROVIDERS, PROVIDER_TYPES


class ConfigError(Exception):
    """A config that cannot be used; the message says what and where."""


class Secret:
    """A secret value that never prints itself."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str | None, source: str) -> None:
        self._value = value
        self.source = source  # "literal" or "env.NAME": safe to show

    def reveal(self) -> str | None:
        return self._value

    @property
    def is_set(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        state = "set" if self.is_set else "NOT SET"
        return f"Secret({self.source}, {state})"

    __str__ = __repr__


_ENV_REF = re.compile(r"^(?:env\.|os\.environ/)([A-Za-z_][A-Za-z0-9_]*)$")


def resolve_secret(value: str, environ: Mapping[str, str]) -> Secret:
    m = _ENV_REF.match(value.strip())
    if m:
        name = m.group(1)
        return Secret(environ.get(name) or None, f"env.{name}")
    return Secret(value, "literal")


DEFAULT_TIMEOUT = 600.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_KEY_COOLDOWN = 60.0
DEFAULT_STORE = "sqlite:///./ferryman.db"


# ---- file schema (what users write) -------------------------------------------------------------

Positive = Annotated[float, Meta(gt=0)]


class KeyEntry(Struct, forbid_unknown_fields=True):
    value: str
    weight: Annotated[float, Meta(ge=0)] = 1.0
    models: list[str] = []


class ProviderEntry(Struct, forbid_unknown_fields=True):
    type: str | None = None
    base_url: str | None = None
    keys: list[KeyEntry] | None = None
    timeout: Positive | None = None
    connect_timeout: Positive | None = None
    max_retries: Annotated[int, Meta(ge=0)] | None = None
    headers: dict[str, str] = {}
    max_connections: Annotated[int, Meta(ge=1)] | None = None
    first_byte_timeout: Positive | None = None
    idle_timeout: Positive | None = None
    max_concurrency: Annotated[int, Meta(ge=1)] | None = None
    max_queue: Annotated[int, Meta(ge=0)] | None = None
    key_cooldown: Annotated[float, Meta(ge=0)] | None = None
    # how the provider is reached: an HTTP proxy (else HTTPS_PROXY / HTTP_PROXY / NO_PROXY), its own trust and identity
    proxy: str | None = None
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify_tls: bool = True
    # cloud specifics: Bedrock and Vertex (region), Vertex (project, credentials),
    # Azure (api_version, deployments), Bedrock SigV4 credentials (default: the AWS credential chain)
    region: str | None = None
    project: str | None = None
    credentials: str | None = None
    api_version: str | None = None
    deployments: dict[str, str] = {}
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None


class WeightedTarget(Struct, forbid_unknown_fields=True):
    target: str
    weight: Annotated[float, Meta(ge=0)] = 1.0


class ModelEntry(Struct, forbid_unknown_fields=True):
    name: str
    target: str | None = None
    targets: list[WeightedTarget] = []  # spread load: one is picked by weight, the others follow it
    fallbacks: list[str] = []
    cache: bool | None = None


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


class CacheEntry(Struct, forbid_unknown_fields=True, frozen=True):
    backend: str = "memory"  # or redis://host:port/db
    ttl: Positive = 3600.0
    namespace: str = "ferryman"
    semantic: SemanticCacheEntry | None = None
    allow_sampling: bool = False
    max_entries: Annotated[int, Meta(ge=1)] = 10_000
    max_bytes: Annotated[int, Meta(ge=1024)] = 256 * 1024 * 1024


class FileConfig(Struct, forbid_unknown_fields=True):
    # entries are checked one by one, so an error can name the provider it is in
    providers: dict[str, dict[str, Any]] = {}
    models: list[ModelEntry] = []
    store: str | bool = DEFAULT_STORE  # false: keep nothing
    send_back_raw: bool = False
    stream_keepalive: Positive = 15.0
    max_request_bytes: Annotated[int, Meta(ge=1024)] = 32 * 1024 * 1024
    pricing: dict[str, PriceEntry] = {}
    fallback_on: list[int | str] = []
    stream_resume: bool = False
    cache: CacheEntry | None = None


# ---- resolved config (what the gateway uses) ----------------------------------------------------


class ApiKey(Struct, frozen=True):
    secret: Secret
    weight: float = 1.0
    models: tuple[str, ...] = ()


class ProviderConfig(Struct):
    name: str
    type: str
    base_url: str | None
    keys: list[ApiKey]
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    headers: dict[str, str] = {}
    max_connections: int = 1000
    first_byte_timeout: float | None = None
    idle_timeout: float | None = None
    max_concurrency: int | None = None
    max_queue: int = 1000
    key_cooldown: float = DEFAULT_KEY_COOLDOWN
    key_env: str | None = None
    needs_key: bool = True
    proxy: Secret | None = None  # http://[user:password@]host:port (may hold a password: never printed)
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify_tls: bool = True
    region: str | None = None
    project: str | None = None
    credentials: Secret | None = None  # Vertex: service-account JSON (a path or the JSON itself)
    api_version: str | None = None
    deployments: dict[str, str] = {}
    aws_access_key_id: Secret | None = None
    aws_secret_access_key: Secret | None = None
    aws_session_token: Secret | None = None

    def usable_keys(self, model: str) -> list[ApiKey]:
        return [k for k in self.keys if k.secret.is_set and (not k.models or model in k.models)]


class ModelAlias(Struct):
    name: str
    targets: list[tuple[str, float]]  # (provider/model, weight); one entry for a plain alias
    fallbacks: list[str] = []
    cache: bool | None = None

    @property
    def target(self) -> str:
        return self.targets[0][0]


class Config(Struct):
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelAlias]
    store: str | None = None
    send_back_raw: bool = False
    stream_keepalive: float = 15.0
    max_request_bytes: int = 32 * 1024 * 1024
    pricing: dict[str, PriceEntry] = {}
    fallback_on: frozenset[int | str] = frozenset()
    stream_resume: bool = False
    cache: CacheEntry | None = None
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
    for name, raw_entry in fc.providers.items():
        entry = _convert(raw_entry, ProviderEntry, source, f"providers.{name}")
        providers[name] = _resolve_provider(name, entry, environ, source)

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
        models[m.name] = ModelAlias(m.name, targets, list(m.fallbacks), m.cache)

    store = None if fc.store is False else (DEFAULT_STORE if fc.store is True else fc.store)
    if store is not None and not re.match(r"^(sqlite|postgres|postgresql)(\+\w+)?://", store):
        raise ConfigError(f"{source}: store: {store!r} is not a store URL (sqlite:///path or postgresql://...)")
    return Config(
        providers=providers,
        models=models,
        store=store,
        send_back_raw=fc.send_back_raw,
        stream_keepalive=fc.stream_keepalive,
        max_request_bytes=fc.max_request_bytes,
        pricing=fc.pricing,
        fallback_on=frozenset(fc.fallback_on),
        stream_resume=fc.stream_resume,
        cache=_check_cache(fc.cache, providers, source),
        source=source,
    )


def config_from_env(environ: Mapping[str, str]) -> Config:
    """Every known provider whose standard key variable is set, with ``*_BASE_URL`` overrides."""
    providers: dict[str, ProviderConfig] = {}
    for known in KNOWN_PROVIDERS.values():
        if any(environ.get(name) for name in known.enabled_by):
            providers[known.name] = _resolve_provider(known.name, ProviderEntry(), environ, "environment")
    return Config(providers=providers, models={}, store=DEFAULT_STORE, source="environment")


def _resolve_provider(name: str, entry: ProviderEntry, environ: Mapping[str, str], source: str) -> ProviderConfig:
    where = f"{source}: providers.{name}"
    known = KNOWN_PROVIDERS.get(name)
    ptype = entry.type or (known.type if known else None)
    if ptype is None:
        raise ConfigError(
            f"{where}: 'type' is required for a provider that is not a known one "
            f"(types: {', '.join(PROVIDER_TYPES)}; known providers: {', '.join(KNOWN_PROVIDERS)})"
        )
    if ptype not in PROVIDER_TYPES:
        raise ConfigError(f"{where}.type: unknown provider type {ptype!r} (one of: {', '.join(PROVIDER_TYPES)})")

    base_url = entry.base_url
    if base_url is None and known is not None:
        base_url = environ.get(known.base_url_env) or known.base_url
    if base_url is not None:
        if not re.match(r"^https?://", base_url):
            raise ConfigError(f"{where}.base_url: {base_url!r} must start with http:// or https://")
        base_url = base_url.rstrip("/")
    elif ptype in ("openai", "openai-chat"):
        raise ConfigError(f"{where}.base_url: required for a {ptype!r} provider that is not a known one")

    if entry.keys is not None:
        keys = [ApiKey(resolve_secret(k.value, environ), k.weight, tuple(k.models)) for k in entry.keys]
    elif known is not None and known.key_env:
        keys = [ApiKey(Secret(environ.get(known.key_env) or None, f"env.{known.key_env}"))]
    else:
        keys = []

    return ProviderConfig(
        name=name,
        type=ptype,
        base_url=base_url,
        keys=keys,
        timeout=entry.timeout or DEFAULT_TIMEOUT,
        connect_timeout=entry.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        max_retries=DEFAULT_MAX_RETRIES if entry.max_retries is None else entry.max_retries,
        headers=dict(entry.headers),
        max_connections=entry.max_connections or 1000,
        first_byte_timeout=entry.first_byte_timeout,
        idle_timeout=entry.idle_timeout,
        max_concurrency=entry.max_concurrency,
        max_queue=1000 if entry.max_queue is None else entry.max_queue,
        key_cooldown=DEFAULT_KEY_COOLDOWN if entry.key_cooldown is None else entry.key_cooldown,
        region=entry.region,
        project=entry.project,
        credentials=_optional_secret(entry.credentials, environ),
        api_version=entry.api_version,
        deployments=dict(entry.deployments),
        aws_access_key_id=_optional_secret(entry.aws_access_key_id, environ),
        aws_secret_access_key=_optional_secret(entry.aws_secret_access_key, environ),
        aws_session_token=_optional_secret(entry.aws_session_token, environ),
        key_env=known.key_env if known else None,
        needs_key=known.needs_key if known else False,
        proxy=_check_proxy(entry.proxy, environ, where),
        **_check_tls(entry, where),
    )


def _check_proxy(value: str | None, environ: Mapping[str, str], where: str) -> Secret | None:
    proxy = _optional_secret(value, environ)
    if proxy is None or not proxy.is_set:
        return None
    url = proxy.reveal() or ""
    if not re.match(r"^http://[^/?#]+/?$", url):  # the value itself is not shown: it may hold a password
        scheme = url.partition("://")[0] if "://" in url else "none"
        raise ConfigError(
            f"{where}.proxy: must be an http:// proxy URL, http://[user:password@]host:port (scheme given: {scheme!r})"
        )
    return proxy


def _check_tls(entry: ProviderEntry, where: str) -> dict[str, Any]:
    files = {"ca_bundle": entry.ca_bundle, "client_cert": entry.client_cert, "client_key": entry.client_key}
    for key, path in files.items():
        if path is not None and not Path(path).expanduser().is_file():
            raise ConfigError(f"{where}.{key}: {path!r} is not a readable file")
    if entry.client_key is not None and entry.client_cert is None:
        raise ConfigError(f"{where}.client_key: needs client_cert (the certificate the key belongs to)")
    if not entry.verify_tls and entry.ca_bundle is not None:
        raise ConfigError(f"{where}.verify_tls: false ignores ca_bundle; give one or the other")
    tls: dict[str, Any] = {key: None if path is None else str(Path(path).expanduser()) for key, path in files.items()}
    tls["verify_tls"] = entry.verify_tls
    return tls


def _check_cache(cache: CacheEntry | None, providers: dict[str, ProviderConfig], source: str) -> CacheEntry | None:
    if cache is None:
        return None
    if cache.backend != "memory" and not re.match(r"^(rediss?|unix)://", cache.backend):
        raise ConfigError(f"{source}: cache.backend: {cache.backend!r} is not 'memory' or a redis:// URL")
    if cache.semantic is not None and cache.semantic.embeddings != "local":
        _check_target(cache.semantic.embeddings, providers, f"{source}: cache.semantic.embeddings")
    return cache


def _optional_secret(value: str | None, environ: Mapping[str, str]) -> Secret | None:
    return None if value is None else resolve_secret(value, environ)


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


def _convert(data: Any, kind: type[T], source: str, where: str) -> T:
    """msgspec.convert, with its errors put in plain words and located from the file's top."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        at = _AT.search(msg)
        path = at.group(1) if at else ""
        if at:
            msg = msg[: at.start()]
        location = (where + path).lstrip(".") or "the top level"
        unknown = _UNKNOWN.match(msg)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown.group(1)!r} in {location}") from None
        raise ConfigError(f"{source}: {location}: {msg.replace('`', chr(39))}") from None


def describe(config: Config) -> str:
    """A human summary for ``ferryman config check``: providers, keys (redacted), aliases."""
    lines = [f"config: {config.source}", "providers:"]
    if not config.providers:
        lines.append("  (none)")
    for p in config.providers.values():
        lines.append(f"  {p.name}: type={p.type} base_url={p.base_url or '(provider default)'}")
        for k in p.keys:
            scope = f" models={list(k.models)}" if k.models else ""
            lines.append(
                f"    key {k.secret.source}: {'set' if k.secret.is_set else 'NOT SET'} **** weight={k.weight:g}{scope}"
            )
        if not p.keys:
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
    lines.append(f"store: {config.store or '(none)'}")
    return "\n".join(lines)
