"""The governance records: virtual keys and teams, with their budgets and rate limits (msgspec Structs).

A key's value (``sk-fm-`` and 32 random bytes, URL-safe) is shown once, by the admin API's create; the
record keeps its SHA-256 (``key_hash``) and its first characters (``key_prefix``, to tell keys apart).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from ferryman.state.base import credential_digest

KEY_PREFIX = "sk-fm-"
Period = Literal["1d", "7d", "30d"]
PERIOD_HOURS: dict[str, int] = {"1d": 24, "7d": 7 * 24, "30d": 30 * 24}


class Budget(Struct, forbid_unknown_fields=True, frozen=True):
    max_usd: Annotated[float, Meta(ge=0)]
    period: Period | None = None  # rolling window of the last 1, 7 or 30 days; None: lifetime


class Limits(Struct, forbid_unknown_fields=True, frozen=True):
    rpm: Annotated[int, Meta(ge=1)] | None = None  # requests per minute
    tpm: Annotated[int, Meta(ge=1)] | None = None  # tokens (input + output) per minute


class Team(Struct, kw_only=True):
    id: str
    name: str
    created_at: int
    budget: Budget | None = None
    limits: Limits | None = None
    metadata: dict[str, Any] = {}


class VirtualKey(Struct, kw_only=True):
    id: str
    name: str
    key_hash: str
    key_prefix: str
    created_at: int
    models: list[str] | None = None  # allow-list of names as clients send them; None: every model
    # the MCP servers of the config (``mcp.servers``) it may use, in requests and at /mcp; None: every one, and
    # a request's own server_url (a key limited to some servers may not name its own)
    mcp_servers: list[str] | None = None
    budget: Budget | None = None
    limits: Limits | None = None
    team_id: str | None = None
    expires_at: int | None = None  # unix seconds
    metadata: dict[str, Any] = {}
    revoked: bool = False


class KeyChange(Struct, forbid_unknown_fields=True):
    """A create (``name`` required) or PATCH body of ``/admin/keys``: what is not given stays as it is."""

    name: str | UnsetType = UNSET
    models: list[str] | None | UnsetType = UNSET
    mcp_servers: list[str] | None | UnsetType = UNSET
    budget: Budget | None | UnsetType = UNSET
    limits: Limits | None | UnsetType = UNSET
    team_id: str | None | UnsetType = UNSET
    expires_at: int | None | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


class TeamChange(Struct, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    budget: Budget | None | UnsetType = UNSET
    limits: Limits | None | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(value: str) -> str:
    return credential_digest(value)  # (the exchange's own digest of its credential is the same: made once)
