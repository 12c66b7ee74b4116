"""Governance records in the store: virtual keys and teams (JSON documents by id) and spend (one row per
answered request), in SQL both SQLite and PostgreSQL speak.

A key is kept only as the SHA-256 of its value (inside its document); the value itself is never stored.
Spend rows are keyed by the response id, so a write that is retried never charges twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

KEYS = "ferryman_keys"
TEAMS = "ferryman_teams"
SPEND = "ferryman_spend"
SPEND_HOURS = "ferryman_spend_hours"  # the spend rows summed per key, team and hour (what budgets are read from)
RECORD_TABLES = frozenset({KEYS, TEAMS})

GOVERNANCE_TABLES: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {KEYS} (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {TEAMS} (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS {SPEND} (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    key_id TEXT,
    team_id TEXT,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL
)""",
    f"CREATE INDEX IF NOT EXISTS {SPEND}_at ON {SPEND}(at)",
)

# schema 8: the hourly sums, kept with every batch of spend rows, so the reload every few seconds reads a row per
# key, team and hour instead of summing every response of the last two hours (millions on a busy gateway); a
# key or team of None is '' there (a primary key has no NULL), filled from the rows already there
SPEND_HOURS_TABLE: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {SPEND_HOURS} (
    key_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    requests BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    PRIMARY KEY (key_id, team_id, hour)
)""",
    f"INSERT INTO {SPEND_HOURS} (key_id, team_id, hour, cost, requests, input_tokens, output_tokens) "
    f"SELECT COALESCE(key_id, ''), COALESCE(team_id, ''), at / 3600, SUM(cost), COUNT(*), SUM(input_tokens), "
    f"SUM(output_tokens) FROM {SPEND} GROUP BY COALESCE(key_id, ''), COALESCE(team_id, ''), at / 3600 "
    "ON CONFLICT (key_id, team_id, hour) DO NOTHING",
)

SPEND_COLUMNS = ("id", "at", "key_id", "team_id", "model", "provider", "cost", "input_tokens", "output_tokens")
GROUPS = {"key": "key_id", "team": "team_id", "model": "model", "provider": "provider"}


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class SpendRow:
    id: str  # the response's id
    at: int  # unix seconds
    key_id: str | None  # None: the master key
    team_id: str | None
    model: str  # as the client asked for it
    provider: str
    cost: float  # USD
    input_tokens: int
    output_tokens: int

    def __init__(
        self,
        id: str,
        at: int,
        key_id: str | None,
        team_id: str | None,
        model: str,
        provider: str,
        cost: float,
        input_tokens: int,
        output_tokens: int,
    ) -> None:
        self.id = id
        self.at = at
        self.key_id = key_id
        self.team_id = team_id
        self.model = model
        self.provider = provider
        self.cost = cost
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens

    def row(self) -> tuple[object, ...]:  # in SPEND_COLUMNS' order
        return (
            self.id, self.at, self.key_id, self.team_id, self.model, self.provider, self.cost, self.input_tokens,
            self.output_tokens,
        )  # fmt: skip


# (key_id, team_id, hour, cost, requests, input_tokens, output_tokens): what the in-memory ledger starts from
SpendBucket = tuple[str | None, str | None, int, float, int, int, int]
# (group, cost, requests, input_tokens, output_tokens)
SpendGroup = tuple[str | None, float, int, int, int]
# (bucket start in unix seconds, group, cost, requests, input_tokens, output_tokens)
SpendPoint = tuple[int, str | None, float, int, int, int]
BUCKETS = {"hour": 3600, "day": 86_400}


def to_bucket(r: Any) -> SpendBucket:
    return (r[0], r[1], int(r[2]), float(r[3]), int(r[4]), int(r[5]), int(r[6]))


def to_group(r: Any) -> SpendGroup:
    return (r[0], float(r[1]), int(r[2]), int(r[3]), int(r[4]))


def to_point(r: Any) -> SpendPoint:
    return (int(r[0]), r[1], float(r[2]), int(r[3]), int(r[4]), int(r[5]))


def upsert_record(table: str, mark: str) -> str:
    """``mark``: the dialect's placeholders for (id, body, updated_at), e.g. ``"?, ?, ?"``."""
    assert table in RECORD_TABLES
    return (
        f"INSERT INTO {table} (id, body, updated_at) VALUES ({mark}) "
        "ON CONFLICT (id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at"
    )


def insert_spend(marks: str) -> str:
    return f"INSERT INTO {SPEND} ({', '.join(SPEND_COLUMNS)}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING"


def spend_buckets(mark: str) -> str:
    """Spend per key, team and hour, of the hours from ``mark`` (unix seconds) on, from the hourly sums."""
    return (
        f"SELECT NULLIF(key_id, ''), NULLIF(team_id, ''), hour, cost, requests, input_tokens, output_tokens "
        f"FROM {SPEND_HOURS} WHERE hour >= {mark} / 3600"
    )


def add_hours(marks: str) -> str:
    """``marks``: the dialect's 7 placeholders (key_id, team_id, hour, cost, requests, input and output tokens)."""
    return (
        f"INSERT INTO {SPEND_HOURS} (key_id, team_id, hour, cost, requests, input_tokens, output_tokens) "
        f"VALUES ({marks}) ON CONFLICT (key_id, team_id, hour) DO UPDATE SET "
        f"cost = {SPEND_HOURS}.cost + excluded.cost, requests = {SPEND_HOURS}.requests + excluded.requests, "
        f"input_tokens = {SPEND_HOURS}.input_tokens + excluded.input_tokens, "
        f"output_tokens = {SPEND_HOURS}.output_tokens + excluded.output_tokens"
    )


def hour_sums(rows: Sequence[SpendRow]) -> list[tuple[str, str, int, float, int, int, int]]:
    """A batch of spend rows summed per key, team and hour, as ``add_hours`` takes them."""
    sums: dict[tuple[str, str, int], list[float]] = {}
    for row in rows:
        key = (row.key_id or "", row.team_id or "", row.at // 3600)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0.0, 0, 0, 0]
        acc[0] += row.cost
        acc[1] += 1
        acc[2] += row.input_tokens
        acc[3] += row.output_tokens
    return [(k, t, h, c, int(n), int(i), int(o)) for (k, t, h), (c, n, i, o) in sums.items()]


def spend_groups(group_by: str, p1: str, p2: str) -> str:
    """Spend per ``group_by`` (a key of ``GROUPS``) with ``p1 <= at < p2``."""
    column = GROUPS[group_by]
    return (
        f"SELECT {column}, SUM(cost), COUNT(*), SUM(input_tokens), SUM(output_tokens) FROM {SPEND} "
        f"WHERE at >= {p1} AND at < {p2} GROUP BY {column} ORDER BY {column}"
    )


def spend_points(group_by: str, bucket: str, p1: str, p2: str) -> str:
    """Spend per ``bucket`` (a key of ``BUCKETS``: hours or days of UTC) and ``group_by`` with ``p1 <= at < p2``,
    oldest first."""
    column, seconds = GROUPS[group_by], BUCKETS[bucket]
    return (
        f"SELECT (at / {seconds}) * {seconds}, {column}, SUM(cost), COUNT(*), SUM(input_tokens), "
        f"SUM(output_tokens) FROM {SPEND} WHERE at >= {p1} AND at < {p2} GROUP BY 1, 2 ORDER BY 1, 2"
    )


class RecordStore(Protocol):
    """What governance asks of a store (SQLite and PostgreSQL both have it)."""

    async def put_record(self, table: str, record_id: str, body: str, updated_at: int) -> None: ...

    async def records(self, table: str) -> list[str]:
        """Every document of ``table`` (``KEYS`` or ``TEAMS``)."""

    async def delete_record(self, table: str, record_id: str) -> bool: ...

    async def add_spend(self, rows: Sequence[SpendRow]) -> None:
        """Spend rows, in one transaction (a row whose response id is there already is left as it is)."""

    async def spend_buckets(self, since: int = 0) -> list[SpendBucket]:
        """Spend per key, team and hour, from ``since`` (unix seconds) on."""

    async def spend_by(self, group_by: str, start: int, end: int) -> list[SpendGroup]: ...

    async def spend_over_time(self, group_by: str, bucket: str, start: int, end: int) -> list[SpendPoint]:
        """Spend per time bucket and group (``spend_points``)."""
