"""What the gateway knows about a provider type (``ProviderSpec``), and the config every type shares.

These records sit below both ``ferryman.config`` (which reads a file into them) and the adapters
(which take them), so this module imports nothing from either: only ``ferryman.secret``. That keeps
the arrows pointing one way: config -> providers.registry -> providers.spec, and an adapter ->
providers.spec, never an adapter -> config.

A provider entry is decoded straight into its type's config struct: ``ProviderConfig`` holds the
keys every type takes; a type with keys of its own subclasses it in its own package (Bedrock's
``region`` and AWS credentials, Azure's ``deployments``, ...), so a key that belongs to another
type is refused where it is written. The same struct is what the adapter reads at run time.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta, Struct

from ferryman.secret import Secret

if TYPE_CHECKING:
    from ferryman.providers.base import Provider
    from ferryman.providers.embeddings import Embeddings

DEFAULT_TIMEOUT = 600.0
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 2
DEFAULT_KEY_COOLDOWN = 60.0
DEFAULT_MAX_UPSTREAM_BYTES = 64 * 1024 * 1024

Positive = Annotated[float, Meta(gt=0)]


class ApiKey(Struct, frozen=True, forbid_unknown_fields=True):
    """One key of a provider; written ``{value, weight, models}`` in the file."""

    secret: Secret = msgspec.field(name="value")
    weight: Annotated[float, Meta(ge=0)] = 1.0
    models: tuple[str, ...] = ()  # empty: any model


class ProviderConfig(Struct, forbid_unknown_fields=True):
    """The keys every provider type takes (and the base of each type's own config struct)."""

    name: str
    type: str
    base_url: str | None = None
    keys: list[ApiKey] = []
    timeout: Positive = DEFAULT_TIMEOUT
    connect_timeout: Positive = DEFAULT_CONNECT_TIMEOUT
    max_retries: Annotated[int, Meta(ge=0)] = DEFAULT_MAX_RETRIES
    headers: dict[str, str] = {}
    max_connections: Annotated[int, Meta(ge=1)] = 1000
    first_byte_timeout: Positive | None = None
    idle_timeout: Positive | None = None
    max_concurrency: Annotated[int, Meta(ge=1)] | None = None
    max_queue: Annotated[int, Meta(ge=0)] = 1000
    key_cooldown: Annotated[float, Meta(ge=0)] = DEFAULT_KEY_COOLDOWN
    # the most the gateway holds of one answer: a whole reply (as sent and inflated), one stream event, and the
    # whole of a stream it translates (its builder keeps the response); past it the answer fails as too large
    max_upstream_bytes: Annotated[int, Meta(ge=1024)] = DEFAULT_MAX_UPSTREAM_BYTES
    # how the provider is reached: an HTTP proxy (else HTTPS_PROXY / HTTP_PROXY / NO_PROXY), its own trust and identity
    proxy: Secret | None = None  # http://[user:password@]host:port (may hold a password: never printed)
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    verify_tls: bool = True
    # set by the loader from the entry's name and the provider catalog, never written in the file
    key_env: str | None = None
    needs_key: bool = True

    def usable_keys(self, model: str) -> list[ApiKey]:
        return [k for k in self.keys if k.secret.is_set and (not k.models or model in k.models)]

    def summary(self) -> str:
        """One line for ``ferryman config check`` (no secrets); a type with settings of its own adds them."""
        return f"type={self.type} base_url={self.base_url or '(provider default)'}"

    def speaks_responses(self, model: str) -> bool:
        """Whether ``model`` takes the Responses API here, when the type speaks it (see Azure's ``chat:``)."""
        return True


# fields of ProviderConfig the loader fills in; a file that writes one gets "unknown key"
DERIVED_FIELDS = frozenset({"name", "key_env", "needs_key"})


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One provider type, as the registry lists it.

    Classes are named as ``"module:Class"`` and imported only when a config uses the type, so an
    unused provider (Bedrock's botocore, say) costs nothing at start-up.
    """

    type: str  # what a config entry's ``type`` says
    adapter: str  # "module:Class" of its Provider
    config: str | None = None  # "module:Class" of its ProviderConfig subclass; None: the shared keys only
    price_id: str | None = None  # its provider id in the genai-prices table
    native_responses: bool = False  # speaks the Responses API and keeps its own previous_response_id chain
    needs_base_url: bool = False  # an entry not named after a known provider must give base_url
    keyless: bool = False  # may authenticate without an API key (cloud credentials)
    free: bool = False  # every answer costs nothing: priced at zero, not unknown (a pricing override still wins)
    # "module:callable" building its embeddings capability from the adapter (providers/embeddings.py); None: none
    embeddings: str | None = None
    models: tuple[str, ...] = ()  # what GET /v1/models lists for a type without a price table (the mock)

    def adapter_class(self) -> Callable[[ProviderConfig], Provider]:
        cls: Callable[[ProviderConfig], Provider] = _load(self.adapter)
        return cls

    def embeddings_for(self, adapter: Provider) -> Embeddings | None:
        """The type's embeddings capability over ``adapter`` (its module imported now), or None."""
        if self.embeddings is None:
            return None
        build: Callable[[Provider], Embeddings] = _load(self.embeddings)
        return build(adapter)

    def config_class(self) -> builtins.type[ProviderConfig]:
        if self.config is None:
            return ProviderConfig
        cls = _load(self.config)
        if not (isinstance(cls, type) and issubclass(cls, ProviderConfig)):
            raise TypeError(f"{self.config} is not a ProviderConfig")
        return cls


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)
