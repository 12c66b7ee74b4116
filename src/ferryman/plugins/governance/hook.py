"""The governance hook: who is calling (a virtual key or the master key), whether they may, and what it cost.

``before`` runs before any other hook's and before dispatch, from memory only: the key (by the hash of
the credential the client sent), its model allow-list, its budget and its team's (against the spend in
the ledger), then its rate limits and its team's. A refusal is a policy error and no provider is called.
``after`` charges the answer's ``usage.cost.total_cost`` (0 for a cache hit, or for a model without a
known price) to the key and its team: in memory at once, so the next request already sees it, and in
the store's spend table after the reply has gone out. The master key is never limited; its spend is
recorded without a key.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from ferryman.config import Governance
from ferryman.gateway.exchange import Exchange, Headers
from ferryman.gateway.hooks import Hook, Pending
from ferryman.http import credential_of
from ferryman.ids import new_id
from ferryman.plugins.governance.ledger import Ledger, subjects
from ferryman.plugins.governance.limits import RateLimits
from ferryman.plugins.governance.model import Budget, Limits, Team, VirtualKey, key_hash
from ferryman.plugins.governance.registry import Registry
from ferryman.schemas.errors import BudgetExceededError, InvalidApiKeyError, ModelNotAllowedError
from ferryman.state.records import RecordStore, SpendRow

log = logging.getLogger("ferryman")


class GovernanceHook(Hook):
    name = "governance"
    needs_targets = False  # the caller is checked before the model is routed: no key, no hint of the config

    def __init__(self, config: Governance, store: RecordStore, clock: Callable[[], float] = time.time) -> None:
        self.master_hash = key_hash(config.master_key.reveal() or "")
        self.store = store
        self.registry = Registry(store, config.refresh)
        self.ledger = Ledger()
        self.limits = RateLimits()
        self.clock = clock  # unix seconds; a test sets its own to roll budget periods and minutes over

    async def start(self) -> None:
        await self.registry.start()
        self.ledger.load(await self.store.spend_buckets())

    async def stop(self) -> None:
        await self.registry.stop()

    # ---- who ------------------------------------------------------------------------------------

    def authenticate(self, headers: Headers) -> VirtualKey | None:
        """The caller's virtual key, or None for the master key; anything else is a 401."""
        credential = credential_of(headers)
        if not credential:
            raise InvalidApiKeyError(
                "No API key: send a Ferryman virtual key as 'Authorization: Bearer <key>', 'x-api-key' or 'api-key'."
            )
        digest = key_hash(credential)
        if hmac.compare_digest(digest, self.master_hash):
            return None
        key = self.registry.by_hash.get(digest)
        # one message whether the key is unknown, revoked or expired: nothing to learn by probing
        if key is None or key.revoked or (key.expires_at is not None and key.expires_at <= self.clock()):
            raise InvalidApiKeyError("Invalid API key: unknown, revoked or expired.")
        return key

    def is_master(self, headers: Headers) -> bool:
        credential = credential_of(headers)
        return bool(credential) and hmac.compare_digest(key_hash(credential or ""), self.master_hash)

    def team_of(self, key: VirtualKey) -> Team | None:
        return self.registry.teams.get(key.team_id) if key.team_id is not None else None

    # ---- the hook -------------------------------------------------------------------------------

    async def before(self, ex: Exchange) -> None:
        key = self.authenticate(ex.headers)
        if key is None:
            return
        ex.state[self.name] = key
        if key.models is not None:
            for name in (ex.request.model, *(ex.request.fallbacks or ())):
                if not permits(key.models, name):
                    param = "model" if name == ex.request.model else "fallbacks"
                    raise ModelNotAllowedError(f"Key '{key.name}' may not use model '{name}'.", param=param)
        team = self.team_of(key)
        now = self.clock()
        self._check_budget(f"key:{key.id}", f"key '{key.name}'", key.budget, now)
        limited: list[tuple[str, Limits]] = [(f"key:{key.id}", key.limits)] if key.limits is not None else []
        if team is not None:
            self._check_budget(f"team:{team.id}", f"team '{team.name}'", team.budget, now)
            if team.limits is not None:
                limited.append((f"team:{team.id}", team.limits))
        if limited:
            self.limits.take(limited, now)

    def _check_budget(self, subject: str, who: str, budget: Budget | None, now: float) -> None:
        if budget is not None and self.ledger.remaining(subject, budget, now) <= 0:
            period = f"per {budget.period}" if budget.period else "in all"
            raise BudgetExceededError(f"The budget of {who} (${budget.max_usd:g} {period}) is spent.")

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        key: VirtualKey | None = ex.state.get(self.name)  # None: the master key
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        cost_fields = usage.get("cost")
        cost = cost_fields.get("total_cost") if isinstance(cost_fields, dict) else None
        cost = float(cost) if isinstance(cost, int | float) else 0.0
        input_tokens = _int(usage.get("input_tokens"))
        output_tokens = _int(usage.get("output_tokens"))
        now = self.clock()
        key_id = key.id if key is not None else None
        team_id = key.team_id if key is not None else None
        charged = subjects(key_id, team_id)
        self.ledger.charge(charged, now, cost, input_tokens, output_tokens)
        self.limits.add_tokens(charged, input_tokens + output_tokens, now)
        row = SpendRow(
            id=str(response.get("id") or new_id("resp")),
            at=int(now),
            key_id=key_id,
            team_id=team_id,
            model=ex.request.model,
            provider=ex.target.provider if ex.target is not None else "",
            cost=cost,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        return self._record(row)

    async def _record(self, row: SpendRow) -> None:
        """Writes a spend row (after the reply); a failure is logged, the charge in memory stays."""
        try:
            await self.store.add_spend(row)
        except Exception:  # noqa: BLE001 - the client has its answer; the ledger in memory has the charge
            log.exception("governance: could not record the spend of response %s", row.id)


def permits(allowed: list[str], name: str) -> bool:
    """Whether an allow-list takes a model name as the client sent it: the name itself (an alias,
    ``provider/model``, a bare name), or ``provider/*`` for every ``provider/...`` name."""
    if name in allowed:
        return True
    provider, sep, _ = name.partition("/")
    return bool(sep) and f"{provider}/*" in allowed


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
