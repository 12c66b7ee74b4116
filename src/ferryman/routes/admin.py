"""The governance admin API (``/admin/keys``, ``/admin/teams``, ``/admin/spend``; the master key only) and
``GET /v1/key`` (a virtual key's own budget, limits and spend).

JSON in, JSON out, errors in the OpenAI shape. A key's value is in the answer to its create only; every
other answer shows its ``key_prefix``.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qs

import msgspec

from ferryman.http import BodyBudget, Receive, Scope, Send, read_body, send_json
from ferryman.plugins.governance.hook import GovernanceHook
from ferryman.plugins.governance.model import KeyChange, Team, TeamChange, VirtualKey
from ferryman.schemas.errors import InvalidApiKeyError, InvalidRequestError
from ferryman.state.records import BUCKETS, GROUPS

MAX_BODY = 1024 * 1024
_encode = msgspec.json.encode
T = TypeVar("T")


class AdminRoutes:
    def __init__(self, governance: GovernanceHook, budget: BodyBudget) -> None:
        self.gov = governance
        self.registry = governance.registry
        self.budget = budget

    def _admin(self, scope: Scope) -> None:
        if not self.gov.is_master(scope["headers"]):
            raise InvalidApiKeyError("The admin API needs the master key: 'Authorization: Bearer <master key>'.")

    async def _body(self, scope: Scope, receive: Receive, kind: type[T]) -> T:
        self._admin(scope)
        body = await read_body(receive, MAX_BODY, self.budget)
        self.budget.give(len(body))
        try:
            return msgspec.json.decode(body or b"{}", type=kind)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"Invalid body: {exc}", code="invalid_value") from None
        except msgspec.DecodeError:
            raise InvalidRequestError("The body is not valid JSON.", code="invalid_json") from None

    # ---- keys -----------------------------------------------------------------------------------

    async def create_key(self, scope: Scope, receive: Receive, send: Send) -> None:
        change = await self._body(scope, receive, KeyChange)
        key, value = await self.registry.create_key(change)
        await send_json(send, 201, _encode({**self._key_view(key), "key": value}))

    async def list_keys(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._admin(scope)
        keys = sorted(self.registry.keys.values(), key=lambda k: k.created_at)
        data = [self._key_view(k, spend=True, team=False) for k in keys]
        await send_json(send, 200, _encode({"object": "list", "data": data}))

    async def get_key(self, scope: Scope, receive: Receive, send: Send, key_id: str) -> None:
        self._admin(scope)
        await send_json(send, 200, _encode(self._key_view(self.registry.key(key_id), spend=True)))

    async def update_key(self, scope: Scope, receive: Receive, send: Send, key_id: str) -> None:
        change = await self._body(scope, receive, KeyChange)
        await send_json(send, 200, _encode(self._key_view(await self.registry.update_key(key_id, change))))

    async def revoke_key(self, scope: Scope, receive: Receive, send: Send, key_id: str) -> None:
        self._admin(scope)
        key = await self.registry.revoke_key(key_id)
        await send_json(send, 200, _encode({"id": key.id, "object": "key.deleted", "deleted": True}))

    async def own_key(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /v1/key: the caller's own key, with its spend and what remains of its budget."""
        key = self.gov.authenticate(scope["headers"])
        if key is None:
            raise InvalidRequestError("The master key has no budget or limits: call /admin/keys.", code="master_key")
        await send_json(send, 200, _encode(self._key_view(key, spend=True)))

    def _key_view(self, key: VirtualKey, *, spend: bool = False, team: bool = True) -> dict[str, Any]:
        view: dict[str, Any] = msgspec.to_builtins(key)
        del view["key_hash"]
        view["object"] = "key"
        if spend:
            view.update(self._spend(f"key:{key.id}", key.budget.period if key.budget else None, key.budget))
            of = self.gov.team_of(key) if team else None
            if of is not None:
                view["team"] = self._team_view(of)
        return view

    # ---- teams ----------------------------------------------------------------------------------

    async def create_team(self, scope: Scope, receive: Receive, send: Send) -> None:
        team = await self.registry.create_team(await self._body(scope, receive, TeamChange))
        await send_json(send, 201, _encode(self._team_view(team)))

    async def list_teams(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._admin(scope)
        data = [self._team_view(t) for t in sorted(self.registry.teams.values(), key=lambda t: t.created_at)]
        await send_json(send, 200, _encode({"object": "list", "data": data}))

    async def get_team(self, scope: Scope, receive: Receive, send: Send, team_id: str) -> None:
        self._admin(scope)
        await send_json(send, 200, _encode(self._team_view(self.registry.team(team_id))))

    async def update_team(self, scope: Scope, receive: Receive, send: Send, team_id: str) -> None:
        change = await self._body(scope, receive, TeamChange)
        await send_json(send, 200, _encode(self._team_view(await self.registry.update_team(team_id, change))))

    async def delete_team(self, scope: Scope, receive: Receive, send: Send, team_id: str) -> None:
        self._admin(scope)
        await self.registry.delete_team(team_id)
        await send_json(send, 200, _encode({"id": team_id, "object": "team.deleted", "deleted": True}))

    def _team_view(self, team: Team) -> dict[str, Any]:
        view: dict[str, Any] = msgspec.to_builtins(team)
        view["object"] = "team"
        view.update(self._spend(f"team:{team.id}", team.budget.period if team.budget else None, team.budget))
        return view

    def _spend(self, subject: str, period: str | None, budget: Any) -> dict[str, Any]:
        """Spend in the budget's current period (ever, without a period), and what remains of the budget."""
        used = self.gov.ledger.spent(subject, period, self.gov.clock())
        return {
            "spend_usd": used.cost,
            "requests": used.requests,
            "input_tokens": used.input_tokens,
            "output_tokens": used.output_tokens,
            "remaining_usd": max(0.0, budget.max_usd - used.cost) if budget is not None else None,
        }

    # ---- spend ----------------------------------------------------------------------------------

    async def spend(self, scope: Scope, receive: Receive, send: Send) -> None:
        """GET /admin/spend?group_by=key|team|model|provider[&from=&to=] (unix seconds)[&bucket=hour|day], from
        the store; with ``bucket``, one row per bucket and group (``t``: the bucket's start), oldest first."""
        self._admin(scope)
        query = parse_qs(scope.get("query_string", b"").decode())
        group_by = query.get("group_by", ["key"])[-1]
        if group_by not in GROUPS:
            raise InvalidRequestError(
                f"'group_by' must be one of: {', '.join(GROUPS)}.", param="group_by", code="invalid_value"
            )
        bucket = query.get("bucket", [None])[-1]
        if bucket is not None and bucket not in BUCKETS:
            raise InvalidRequestError(
                f"'bucket' must be one of: {', '.join(BUCKETS)}.", param="bucket", code="invalid_value"
            )
        try:
            start = int(query.get("from", ["0"])[-1])
            end = int(query.get("to", [str(int(self.gov.clock()) + 1)])[-1])
        except ValueError:
            raise InvalidRequestError("'from' and 'to' are unix seconds.", param="from", code="invalid_value") from None
        await self.gov.spend.flush()  # every charge made so far is in the table
        if bucket is None:
            rows = await self.gov.store.spend_by(group_by, start, end)
            data = [{group_by: g, **_totals(cost, n, i, o)} for g, cost, n, i, o in rows]
        else:
            points = await self.gov.store.spend_over_time(group_by, bucket, start, end)
            data = [{"t": t, group_by: g, **_totals(cost, n, i, o)} for t, g, cost, n, i, o in points]
        await send_json(send, 200, _encode({"object": "list", "data": data}))


def _totals(cost: float, requests: int, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {"spend_usd": cost, "requests": requests, "input_tokens": input_tokens, "output_tokens": output_tokens}
