"""Virtual keys and teams in memory (by the hash of a key's value, and by id), kept in step with the store.

Every request is checked against these maps: no database round trip on the hot path. They are loaded at
start-up and reloaded (``load``) every ``governance.refresh`` seconds in the background by the hook, so a
key created, changed or revoked by another gateway sharing the store is honoured here within that time;
this gateway's own admin changes are written to the store and to the maps at once.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.plugins.governance.model import KeyChange, Team, TeamChange, VirtualKey, key_hash, new_key
from ferryman.schemas.errors import InvalidRequestError, NotFoundError
from ferryman.state.records import KEYS, TEAMS, RecordStore

_encode = msgspec.json.encode


class Registry:
    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self.by_hash: dict[str, VirtualKey] = {}
        self.keys: dict[str, VirtualKey] = {}
        self.teams: dict[str, Team] = {}
        self._changes = 0  # this gateway's admin changes so far (each counted once the store has it)

    async def load(self) -> None:
        """The maps from the store. A change made here while the store was read (a key created or revoked) is
        read again rather than lost until the next reload: the read that missed it is not the one kept."""
        for _ in range(5):  # (changes without end meanwhile: the last read, as the next reload would)
            seen = self._changes
            keys = [msgspec.json.decode(body, type=VirtualKey) for body in await self.store.records(KEYS)]
            teams = [msgspec.json.decode(body, type=Team) for body in await self.store.records(TEAMS)]
            if self._changes == seen:
                break
        self.keys = {k.id: k for k in keys}
        self.by_hash = {k.key_hash: k for k in keys}
        self.teams = {t.id: t for t in teams}

    # ---- keys ------------------------------------------------------------------------------------

    async def create_key(self, change: KeyChange) -> tuple[VirtualKey, str]:
        """A new key from a create body, stored; and its value, which is never kept."""
        name = _required_name(change.name)
        value = new_key()
        key = VirtualKey(
            id=new_id("key"),
            name=name,
            key_hash=key_hash(value),
            key_prefix=value[:10],
            created_at=int(time.time()),
        )
        key = self._changed(key, change)
        await self._put_key(key)
        return key, value

    def key(self, key_id: str) -> VirtualKey:
        key = self.keys.get(key_id)
        if key is None:
            raise NotFoundError(f"No key with id '{key_id}'.", param="id", code="not_found")
        return key

    async def update_key(self, key_id: str, change: KeyChange) -> VirtualKey:
        key = self._changed(self.key(key_id), change)
        await self._put_key(key)
        return key

    async def revoke_key(self, key_id: str) -> VirtualKey:
        """A revoked key is refused from now on; its record (and its spend) stays."""
        key = msgspec.structs.replace(self.key(key_id), revoked=True)
        await self._put_key(key)
        return key

    def _changed(self, key: VirtualKey, change: KeyChange) -> VirtualKey:
        fields = _given(change)
        team_id = fields.get("team_id")
        if team_id is not None and team_id not in self.teams:
            raise InvalidRequestError(f"No team with id '{team_id}'.", param="team_id", code="invalid_value")
        return msgspec.structs.replace(key, **fields)

    async def _put_key(self, key: VirtualKey) -> None:
        await self.store.put_record(KEYS, key.id, _encode(key).decode(), int(time.time()))
        self._changes += 1
        self.keys[key.id] = key
        self.by_hash[key.key_hash] = key

    # ---- teams -----------------------------------------------------------------------------------

    async def create_team(self, change: TeamChange) -> Team:
        team = Team(id=new_id("team"), name=_required_name(change.name), created_at=int(time.time()))
        team = msgspec.structs.replace(team, **_given(change))
        await self._put_team(team)
        return team

    def team(self, team_id: str) -> Team:
        team = self.teams.get(team_id)
        if team is None:
            raise NotFoundError(f"No team with id '{team_id}'.", param="id", code="not_found")
        return team

    async def update_team(self, team_id: str, change: TeamChange) -> Team:
        team = msgspec.structs.replace(self.team(team_id), **_given(change))
        await self._put_team(team)
        return team

    async def delete_team(self, team_id: str) -> None:
        self.team(team_id)
        members = [k.id for k in self.keys.values() if k.team_id == team_id and not k.revoked]
        if members:
            raise InvalidRequestError(
                f"Team '{team_id}' still has keys ({', '.join(members)}): move or revoke them first.",
                param="id",
                code="team_not_empty",
            )
        await self.store.delete_record(TEAMS, team_id)
        self._changes += 1
        self.teams.pop(team_id, None)

    async def _put_team(self, team: Team) -> None:
        await self.store.put_record(TEAMS, team.id, _encode(team).decode(), int(time.time()))
        self._changes += 1
        self.teams[team.id] = team


def _required_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidRequestError("'name' is required.", param="name", code="missing_required_parameter")
    return name


def _given(change: msgspec.Struct) -> dict[str, Any]:
    """The fields a create or PATCH body gave (null included: it clears the field)."""
    return {f: v for f in change.__struct_fields__ if (v := getattr(change, f)) is not msgspec.UNSET}
