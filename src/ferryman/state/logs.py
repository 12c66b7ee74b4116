"""The request log in the store: one compact row per client request, its content in a table of its own,
in SQL both SQLite and PostgreSQL speak.

Rows hold numbers and short names only (no price tables, no configs); the request's input and its
answer's output, when the log keeps content, go to ``ferryman_log_content`` under the same id, so a
query that filters and pages never reads them. Ids sort by time (``new_log_id``), so "newest first" is
the primary key read backwards and ``after`` paging is ``id < after``; every filter has an index that
ends with the id.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from ferryman.ids import random_hex

LOGS = "ferryman_logs"
CONTENT = "ferryman_log_content"

LOG_COLUMNS = (
    "id",
    "created_at",  # unix milliseconds
    "route",
    "response_id",
    "key_id",
    "team_id",
    "model_requested",
    "provider",
    "model_deployment",
    "status_code",
    "error",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cache_hit",
    "stream",
    "attempts",  # JSON: [{"target", "status", "latency_ms"}, ...]
    "cost_detail",  # JSON: the answer's usage.cost (input, output and request parts, total); null: not priced
)
_FILTERED = ("provider", "model_requested", "key_id", "team_id", "status_code")

LOG_TABLES: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {LOGS} (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    route TEXT NOT NULL,
    response_id TEXT,
    key_id TEXT,
    team_id TEXT,
    model_requested TEXT NOT NULL,
    provider TEXT,
    model_deployment TEXT,
    status_code INTEGER NOT NULL,
    error TEXT,
    latency_ms DOUBLE PRECISION NOT NULL,
    ttft_ms DOUBLE PRECISION,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    cache_hit BOOLEAN NOT NULL,
    stream BOOLEAN NOT NULL,
    attempts TEXT NOT NULL
)""",
    f"CREATE TABLE IF NOT EXISTS {CONTENT} (id TEXT PRIMARY KEY, input TEXT, output TEXT)",
    f"CREATE INDEX IF NOT EXISTS {LOGS}_created ON {LOGS}(created_at)",
    *(f"CREATE INDEX IF NOT EXISTS {LOGS}_{c} ON {LOGS}({c}, id)" for c in _FILTERED),
)
# schema 6: the cost's parts beside its total (the dashboard's cost breakdown); older entries have none
LOG_COST_DETAIL: tuple[str, ...] = (f"ALTER TABLE {LOGS} ADD COLUMN cost_detail TEXT",)
# schema 9: the key's and team's indexes hold only the entries that name one. Without governance no entry
# does, and each write paid for two index rows nobody reads (a tenth of an entry's write on SQLite); a
# filter (``key_id = ...``) implies ``IS NOT NULL``, so both databases still read it from the index
LOG_SPARSE_OWNERS: tuple[str, ...] = tuple(
    statement
    for column in ("key_id", "team_id")
    for statement in (
        f"DROP INDEX IF EXISTS {LOGS}_{column}",
        f"CREATE INDEX IF NOT EXISTS {LOGS}_{column} ON {LOGS}({column}, id) WHERE {column} IS NOT NULL",
    )
)

_enc = msgspec.json.encode
_dec = msgspec.json.decode


_last = 0
_tag = random_hex(5)


def _new_tag() -> None:
    global _tag
    _tag = random_hex(5)


os.register_at_fork(after_in_child=_new_tag)  # a forked worker's ids are its own


def new_log_id(now: float) -> str:
    """``log_`` + the time in microseconds (hex, fixed width; in this process strictly increasing, whatever the
    clock does) + this process's random tag (drawn at its start, apart from another process's ids): ids sort
    by when they were made."""
    global _last
    _last = max(_last + 1, int(now * 1_000_000))
    return "log_%014x%s" % (_last, _tag)  # noqa: UP031 (compiled, an f-string with a format spec costs three times as much)


@dataclass(slots=True, init=False)  # a compiled ``__init__`` (dataclass's own would be interpreted)
class LogEntry:
    id: str
    created_at: float  # unix seconds
    route: str
    response_id: str | None
    key_id: str | None
    team_id: str | None
    model_requested: str
    provider: str | None
    model_deployment: str | None
    status_code: int
    error: str | None
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_usd: float
    cache_hit: bool
    stream: bool
    attempts: list[dict[str, Any]]
    cost_detail: dict[str, Any] | None  # usage.cost as the answer had it
    content: tuple[Any, Any] | None  # (input, output) as sent; None: not kept

    def __init__(
        self,
        id: str,
        created_at: float,
        route: str,
        response_id: str | None,
        key_id: str | None,
        team_id: str | None,
        model_requested: str,
        provider: str | None,
        model_deployment: str | None,
        status_code: int,
        error: str | None,
        latency_ms: float,
        ttft_ms: float | None,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int,
        reasoning_tokens: int,
        cost_usd: float,
        cache_hit: bool,
        stream: bool,
        attempts: list[dict[str, Any]],
        cost_detail: dict[str, Any] | None = None,
        content: tuple[Any, Any] | None = None,
    ) -> None:
        self.id = id
        self.created_at = created_at
        self.route = route
        self.response_id = response_id
        self.key_id = key_id
        self.team_id = team_id
        self.model_requested = model_requested
        self.provider = provider
        self.model_deployment = model_deployment
        self.status_code = status_code
        self.error = error
        self.latency_ms = latency_ms
        self.ttft_ms = ttft_ms
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.cost_usd = cost_usd
        self.cache_hit = cache_hit
        self.stream = stream
        self.attempts = attempts
        self.cost_detail = cost_detail
        self.content = content

    def row(self) -> tuple[Any, ...]:
        """The entry in ``LOG_COLUMNS`` order."""
        detail = self.cost_detail
        return (
            self.id,
            int(self.created_at * 1000),
            self.route,
            self.response_id,
            self.key_id,
            self.team_id,
            self.model_requested,
            self.provider,
            self.model_deployment,
            self.status_code,
            self.error,
            self.latency_ms,
            self.ttft_ms,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.reasoning_tokens,
            self.cost_usd,
            self.cache_hit,
            self.stream,
            _enc(self.attempts).decode(),
            None if detail is None else _enc(detail).decode(),
        )

    def content_row(self) -> tuple[str, str | None, str | None] | None:
        if self.content is None:
            return None
        given, output = self.content
        return (
            self.id,
            None if given is None else _enc(given).decode(),
            None if output is None else _enc(output).decode(),
        )


def entry_view(row: Any, content: Any = None) -> dict[str, Any]:
    """A row (in ``LOG_COLUMNS`` order) as the admin API shows it; with its content row when asked for."""
    view = dict(zip(LOG_COLUMNS, row, strict=True))
    view["object"] = "log.entry"
    view["created_at"] = int(view["created_at"]) / 1000
    view["cache_hit"] = bool(view["cache_hit"])
    view["stream"] = bool(view["stream"])
    view["attempts"] = _dec(view["attempts"])
    view["cost_detail"] = _dec(view["cost_detail"]) if view["cost_detail"] is not None else None
    if content is not None:
        view["input"] = _dec(content[0]) if content[0] is not None else None
        view["output"] = _dec(content[1]) if content[1] is not None else None
    return view


def insert_log(marks: str, rows: int = 1) -> str:
    """The insert of ``rows`` entries (``marks``: one row's placeholders; several rows take positional ones)."""
    return f"INSERT INTO {LOGS} ({', '.join(LOG_COLUMNS)}) VALUES {_values(marks, rows)} ON CONFLICT (id) DO NOTHING"


def insert_content(marks: str, rows: int = 1) -> str:
    return f"INSERT INTO {CONTENT} (id, input, output) VALUES {_values(marks, rows)} ON CONFLICT (id) DO NOTHING"


def _values(marks: str, rows: int) -> str:
    return ", ".join([f"({marks})"] * rows)


@dataclass(slots=True)
class LogQuery:
    """The filters of ``GET /admin/logs``; ``status`` is a code (``429``) or a class (``5xx``)."""

    provider: str | None = None
    model: str | None = None
    key_id: str | None = None
    team_id: str | None = None
    status: tuple[int, int] | None = None  # lowest, highest
    start: float | None = None  # unix seconds, inclusive
    end: float | None = None  # unix seconds, exclusive
    q: str | None = None
    after: str | None = None  # an entry id: the page starts below it
    limit: int = 100


class _Where:
    """The conditions of a query and their parameters, numbered by the dialect's ``mark(n)``."""

    def __init__(self, mark: Any) -> None:
        self.mark = mark
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *values: Any) -> None:
        marks = [self.mark(len(self.params) + i + 1) for i in range(len(values))]
        self.conditions.append(condition.format(*marks))
        self.params.extend(values)

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.conditions) if self.conditions else ""


def _filters(query: LogQuery, mark: Any) -> _Where:
    """The conditions on the entries' own columns (every filter but ``q`` and ``after``)."""
    where = _Where(mark)
    for column, value in (
        ("provider", query.provider),
        ("model_requested", query.model),
        ("key_id", query.key_id),
        ("team_id", query.team_id),
    ):
        if value is not None:
            where.add(f"l.{column} = {{}}", value)
    if query.status is not None and query.status[0] == query.status[1]:  # one code: its index is in id order
        where.add("l.status_code = {}", query.status[0])
    elif query.status is not None:
        where.add("l.status_code BETWEEN {} AND {}", *query.status)
    if query.start is not None:
        where.add("l.created_at >= {}", int(query.start * 1000))
    if query.end is not None:
        where.add("l.created_at < {}", int(query.end * 1000))
    return where


# a q whose other filters leave fewer entries than this reads those and matches their content, instead of
# walking the text index's candidates (SQLite: it has no statistics to choose so by itself)
FEW = 5000


def filtered_ids(query: LogQuery, mark: Any) -> tuple[str, list[Any]] | None:
    """The newest ``FEW`` ids ``query``'s filters but ``q`` leave (its SQL and parameters); None when it has
    no other filter."""
    where = _filters(query, mark)
    if query.after is not None:
        where.add("l.id < {}", query.after)
    if not where.conditions:
        return None
    return f"SELECT l.id FROM {LOGS} l{where.sql()} ORDER BY l.id DESC LIMIT {FEW}", where.params


def select_logs(
    query: LogQuery, mark: Any, like: str, text: str | None = None, among: list[str] | None = None
) -> tuple[str, list[Any]]:
    """The page's SQL (``limit + 1`` rows, to tell ``has_more``) and its parameters; ``mark(n)`` is the
    dialect's n-th placeholder and ``like`` its case-insensitive LIKE (``LIKE`` in SQLite, ``ILIKE``);
    ``text``: SQLite's FTS5 trigram index of the content (``state/logsearch.py``), to search ``q`` with;
    ``among``: the entries to read instead (``filtered_ids``, when they are few)."""
    where = _filters(query, mark)
    if among is not None:
        where.add(f"l.id IN ({', '.join('{}' for _ in among)})", *among)
        text = None
    columns = ", ".join("l." + c for c in LOG_COLUMNS)
    pattern = "%" + (query.q or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    exact = f"(c.input {like} {{}} ESCAPE '\\' OR c.output {like} {{}} ESCAPE '\\')"
    if query.q and text is not None and len(query.q) >= 3:
        # the index's candidates, newest row first (FTS5 reads them lazily in rowid order: rows are written
        # in id order), so the page ends at its last match whether the text is common or rare; CROSS JOIN
        # keeps that order of the loops (SQLite would rather probe the index once per filtered entry)
        where.add("f.body LIKE {}", "%" + query.q + "%")  # LIKE on FTS5 takes no ESCAPE: % _ match more
        if any(char in query.q for char in "%_\n"):  # ... so those are matched exactly, column by column
            where.add(exact, pattern, pattern)
        if query.after is not None:  # the rows before ``after``'s (or before the first kept after it)
            top = f"(SELECT rowid FROM {CONTENT} WHERE id >= {{}} ORDER BY id LIMIT 1)"
            where.add(f"c.id < {{}} AND f.rowid < coalesce({top}, 9223372036854775807)", query.after, query.after)
        sql = f"SELECT {columns} FROM {text} f CROSS JOIN {CONTENT} c CROSS JOIN {LOGS} l"
        where.add("c.rowid = f.rowid AND l.id = c.id")
        order = "f.rowid"
    else:
        # the page order's column: with ``q``, the content's id (the same id), so the newest content is
        # read first and the scan stops at the page's last match, instead of matching every kept content
        order = "c.id" if query.q else "l.id"
        if query.after is not None:
            where.add(f"{order} < {{}}", query.after)
        sql = f"SELECT {columns} FROM {LOGS} l"
        if query.q:
            where.add(exact, pattern, pattern)
            sql += f" JOIN {CONTENT} c ON c.id = l.id"
    sql += where.sql() + f" ORDER BY {order} DESC LIMIT {int(query.limit) + 1}"
    return sql, where.params


ONE_LOG = f"SELECT {', '.join(LOG_COLUMNS)} FROM {LOGS} WHERE id = {{p1}}"
ONE_CONTENT = f"SELECT input, output FROM {CONTENT} WHERE id = {{p1}}"
# content first, while its rows can still be found by the entries' time
PRUNE = (
    f"DELETE FROM {CONTENT} WHERE id IN (SELECT id FROM {LOGS} WHERE created_at < {{p1}})",
    f"DELETE FROM {LOGS} WHERE created_at < {{p1}}",
)


# per provider, the entries made from {p1} to {p2} (unix ms, both included): their number, how many failed (a
# status of 400 or more), and the latencies of the newest of them (a sample: a busy hour's median needs no million rows)
PROVIDER_COUNTS = (
    f"SELECT provider, COUNT(*), SUM(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) FROM {LOGS} "
    f"WHERE created_at >= {{p1}} AND created_at <= {{p2}} AND provider IS NOT NULL GROUP BY provider"
)
LATENCY_SAMPLE = 10_000
PROVIDER_LATENCIES = (
    f"SELECT provider, latency_ms FROM {LOGS} WHERE created_at >= {{p1}} AND created_at <= {{p2}} "
    "AND provider IS NOT NULL "
    f"ORDER BY created_at DESC LIMIT {LATENCY_SAMPLE}"
)


def provider_stats(counts: list[Any], latencies: list[Any]) -> dict[str, dict[str, Any]]:
    """The rows of ``PROVIDER_COUNTS`` and ``PROVIDER_LATENCIES`` as ``{provider: {requests, errors, error_rate,
    p50_latency_ms}}``."""
    by_provider: dict[str, list[float]] = {}
    for provider, latency in latencies:
        by_provider.setdefault(provider, []).append(float(latency))
    stats: dict[str, dict[str, Any]] = {}
    for provider, requests, errors in counts:
        sample = by_provider.get(provider)
        stats[provider] = {
            "requests": int(requests),
            "errors": int(errors or 0),
            "error_rate": int(errors or 0) / int(requests),
            "p50_latency_ms": round(statistics.median(sample), 3) if sample else None,
        }
    return stats


class LogStore(Protocol):
    """What the request log asks of a store (SQLite and PostgreSQL both have it)."""

    async def add_logs(self, entries: list[LogEntry]) -> None:
        """Write a batch of entries (and their content) in one transaction."""

    async def logs(self, query: LogQuery) -> list[dict[str, Any]]:
        """Up to ``query.limit + 1`` entries, newest first, without content."""

    async def log(self, entry_id: str) -> dict[str, Any] | None:
        """One entry with its content (``input``, ``output``: None when not kept)."""

    async def provider_stats(self, start: float, end: float) -> dict[str, dict[str, Any]]:
        """Per provider, the entries made from ``start`` to ``end`` (unix seconds): ``provider_stats``."""

    async def prune_logs(self, before: float) -> int:
        """Delete the entries made before ``before`` (unix seconds); how many went."""
