"""The governance hook: who is calling (a virtual key or the master key), whether they may, and what it cost.

``before`` runs before any other hook's and before dispatch, from memory (with shared counters, plus one
pipelined Redis round trip): the key (by the hash of the credential the client sent), its model
allow-list, its budget and its team's (against the spend in the ledger, and Redis's recent hours), then
its rate limits and its team's (against this process's minute, or Redis's). A refusal is a policy error
and no provider is called; a request let through carries the ``x-ratelimit-*`` headers of its key (or
of its team, if only the team has limits) in its reply.
``after`` charges the answer's ``usage.cost.total_cost`` (0 for a cache hit, or for a model without a
known price) to the key and its team: in memory at once, so the next request already sees it, and in
Redis and the store's spend table after the reply has gone out. The master key is never limited; its
spend is recorded without a key.

Redis failing or hanging never fails a request: the breaker (``shared.py``) logs one warning and the
counters of this process are used until Redis answers again. Keys, teams and the recent hours of spend
are reloaded from the store every ``refresh`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ferryman.config import Governance
from ferryman.gateway.exchange import RESPONSES, Exchange, Headers
from ferryman.gateway.hooks import EVERY_OPERATION, Hook, Pending
from ferryman.gateway.usage import token_counts
from ferryman.http import credential_of
from ferryman.ids import new_id
from ferryman.plugins.cache.breaker import CacheUnavailable
from ferryman.plugins.governance.ledger import Ledger
from ferryman.plugins.governance.limits import WINDOW, RateLimits, verdict
from ferryman.plugins.governance.model import Budget, Team, VirtualKey, key_hash
from ferryman.plugins.governance.registry import Registry
from ferryman.plugins.governance.spend import SpendWriter
from ferryman.plugins.governance.terms import Terms, TermsCache
from ferryman.schemas.errors import BudgetExceededError, FerrymanError, InvalidApiKeyError, ModelNotAllowedError
from ferryman.state.records import RecordStore, SpendRow

if TYPE_CHECKING:
    from ferryman.plugins.governance.shared import Reading, SharedCounters

log = logging.getLogger("ferryman")


class GovernanceHook(Hook):
    name = "governance"
    observes = True  # its ``after`` charges what was answered, once the client has it (``before`` refuses)
    needs_targets = False  # the caller is checked before the model is routed: no key, no hint of the config
    operations = EVERY_OPERATION  # embeddings are keyed, allowed, limited and charged as responses are

    def __init__(self, config: Governance, store: RecordStore, clock: Callable[[], float] = time.time) -> None:
        self.master_hash = key_hash(config.master_key.reveal() or "")
        self.store = store
        self.refresh = config.refresh
        self.registry = Registry(store)
        self.ledger = Ledger()
        self.spend = SpendWriter(store)
        self.limits = RateLimits()
        self.terms = TermsCache()
        self.shared: SharedCounters | None = None
        if config.counters != "memory":
            from ferryman.plugins.governance.shared import SharedCounters  # redis only with Redis counters

            self.shared = SharedCounters(config.counters, config.namespace, config.redis_timeout, config.redis_cooldown)
        self.clock = clock  # unix seconds; a test sets its own to roll budget periods and minutes over
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.registry.load()
        self.ledger.load(await self.store.spend_buckets())
        if self.shared is not None:
            await self.shared.start()
        self._task = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.spend.flush()
        if self.shared is not None:
            await self.shared.close()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh)
            await self.reload()

    async def reload(self) -> None:
        """Keys and teams, and the spend of the previous and the current hour, from the store (what other
        gateways sharing it changed and spent); a failure leaves what is in memory as it was."""
        try:
            await self.registry.load()
            await self.spend.flush()  # this process's rows are in what is read back
            since = (int(self.clock() // 3600) - 1) * 3600
            self.ledger.refresh(await self.store.spend_buckets(since), since // 3600)
        except Exception:  # noqa: BLE001 - the maps and the ledger in memory stay as they were
            log.exception("governance: could not reload keys, teams and spend from the store")

    # ---- who ------------------------------------------------------------------------------------

    def authenticate(self, headers: Headers) -> VirtualKey | None:
        """The caller's virtual key, or None for the master key; anything else is a 401."""
        return self.key_of(credential_of(headers))

    def key_of(self, credential: str | None, digest: str | None = None) -> VirtualKey | None:
        """``authenticate`` for a credential a door has read (Gemini's also comes as ``?key=``); ``digest``: its
        ``key_hash``, when made already."""
        if not credential:
            raise InvalidApiKeyError(
                "No API key: send a Ferryman virtual key as 'Authorization: Bearer <key>', 'x-api-key', "
                "'api-key' or 'x-goog-api-key'."
            )
        if digest is None:
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
        key = self.key_of(ex.credential, ex.credential_digest())
        if key is None:
            return
        ex.state[self.name] = key
        if key.models is not None:
            for name in (ex.request.model, *(ex.request.fallbacks or ())):
                if not permits(key.models, name):
                    param = "model" if name == ex.request.model else "fallbacks"
                    raise ModelNotAllowedError(f"Key '{key.name}' may not use model '{name}'.", param=param)
        if key.mcp_servers is not None and ex.operation == RESPONSES and ex.responses.tools is not None:
            _check_mcp_servers(key, ex.raw.get("tools") or [])
        terms = self.terms.of(key, self.team_of(key))
        if terms.budgeted or terms.limited:
            await self._check(ex, terms)

    async def _check(self, ex: Exchange, terms: Terms) -> None:
        """Budgets, then rate limits: from the shared counters (one round trip) or, without them or while
        Redis fails, from this process's; the reply's ``x-ratelimit-*`` headers."""
        now = self.clock()
        budgeted, limited = terms.budgeted, terms.limited
        reading: Reading | None = None
        if self.shared is not None:
            with contextlib.suppress(CacheUnavailable):  # counted in this process meanwhile
                reading = await self.shared.read(
                    terms.limited_subjects, terms.budgeted_subjects, int(now // WINDOW), int(now // 3600)
                )
        if reading is None:
            for subject, who, budget in budgeted:
                self._check_budget(subject, who, budget, now, None)
            if limited:
                ex.reply_headers += self.limits.take(limited, now)
            return
        try:
            for i, (subject, who, budget) in enumerate(budgeted):
                self._check_budget(subject, who, budget, now, reading.spend[i])
            if not limited:
                return
            minute = int(now // WINDOW)
            used = []
            for i, subject in enumerate(terms.limited_subjects):  # this process's counts are part of Redis's
                requests, tokens = self.limits.used(subject, minute)
                used.append((max(reading.requests[i] - 1, requests), max(reading.tokens[i], tokens)))
            headers = verdict(limited, used, now)
            self.limits.count(terms.limited_subjects, now)
        except FerrymanError:
            if limited and self.shared is not None:
                await self.shared.give_back(terms.limited_subjects, int(now // WINDOW))
            raise
        ex.reply_headers += headers

    def _check_budget(self, subject: str, who: str, budget: Budget, now: float, live: dict[int, float] | None) -> None:
        """A 402 if ``budget`` is spent (``live``: the recent hours' spend the shared counters read)."""
        if self.ledger.remaining(subject, budget, now, live) <= 0:
            period = f"per {budget.period}" if budget.period else "in all"
            raise BudgetExceededError(f"The budget of {who} (${budget.max_usd:g} {period}) is spent.")

    def reads_output(self, ex: Exchange) -> bool:
        return False  # the usage and id: what it charges

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        key: VirtualKey | None = ex.state.get(self.name)  # None: the master key
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        cost_fields = usage.get("cost")
        cost = cost_fields.get("total_cost") if isinstance(cost_fields, dict) else None
        cost = float(cost) if isinstance(cost, int | float) else 0.0
        input_tokens, output_tokens = token_counts(usage)
        now = self.clock()
        if key is None:
            key_id = team_id = None
            charged: list[str] = []
        else:
            key_id, team_id = key.id, key.team_id
            charged = self.terms.of(key, self.team_of(key)).charged
        tokens = input_tokens + output_tokens
        self.ledger.charge(charged, now, cost, input_tokens, output_tokens)
        self.limits.add_tokens(charged, tokens, now)
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
        self.spend.put(row)
        if self.shared is not None and charged:
            return self._charge_shared(charged, now, cost, tokens)
        return None

    async def _charge_shared(self, charged: list[str], now: float, cost: float, tokens: int) -> None:
        """Charges the shared counters (after the reply); Redis failing leaves the charge in memory."""
        assert self.shared is not None
        with contextlib.suppress(CacheUnavailable):  # the breaker has warned
            await self.shared.charge(charged, int(now // WINDOW), int(now // 3600), cost, tokens)


def _check_mcp_servers(key: VirtualKey, tools: list[Any]) -> None:
    """A key limited to some MCP servers names only those (by ``server_label``, never its own ``server_url``)."""
    allowed = key.mcp_servers or []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "mcp":
            continue
        label = tool.get("server_label")
        if tool.get("server_url") is not None or label not in allowed:
            raise ModelNotAllowedError(
                f"Key '{key.name}' may not use the MCP server {label!r}"
                + (" (its own server_url)." if tool.get("server_url") is not None else "."),
                param=f"tools[{i}]",
                code="mcp_server_not_allowed",
            )


def may_use_mcp_server(key: VirtualKey | None, name: str) -> bool:
    """Whether a caller (a virtual key, None for the master key) may use a server of ``mcp.servers``."""
    return key is None or key.mcp_servers is None or name in key.mcp_servers


def permits(allowed: list[str], name: str) -> bool:
    """Whether an allow-list takes a model name as the client sent it: the name itself (an alias,
    ``provider/model``, a bare name), or ``provider/*`` for every ``provider/...`` name."""
    if name in allowed:
        return True
    provider, sep, _ = name.partition("/")
    return bool(sep) and f"{provider}/*" in allowed
