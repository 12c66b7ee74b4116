"""Request-log benchmark: how fast the log's real write path fills SQLite and PostgreSQL, how much disk an
entry takes, and how long a filtered page of ``GET /admin/logs`` takes over HTTP on a million entries.

    python bench/logbench.py [--entries 1000000] [--stores sqlite,postgres] [--repeat 30]
                             [--postgres postgresql://postgres@127.0.0.1:5432/test]

1. Write: realistic entries (several providers, models, keys and teams; ~3% 5xx, some 429s and 400s;
   retries; content kept for a share of them) go through ``LogWriter.put`` into the store, exactly as the
   gateway's request-log hook hands them over (batches of the default ``batch_size``, one transaction
   each). Entries are made in chunks outside the timed part; the rate is entries / seconds the writer took
   to store them. The size per entry is the store's size on disk (SQLite: the file after a WAL checkpoint;
   PostgreSQL: both tables with their indexes and TOAST) divided by the entries.
2. Read: a ``ferryman serve`` process on that store (the mock provider, governance for the master key)
   answers ``GET /admin/logs`` with each filter, one request at a time on a keep-alive connection; p50
   and p95 over ``--repeat`` calls after two warm-up calls. Every page is checked against its filter.

SQLite goes to a temporary directory; PostgreSQL to a database of its own (``ferryman_logbench_<pid>``),
created on the server of ``--postgres`` and dropped at the end. Writes bench/results/logbench.json.
The benchmark measures the code of this checkout (its ``src/`` comes first on the path).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src"
sys.path.insert(0, str(SRC))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from loadgen import percentile  # noqa: E402
from servers import HOST, free_port, process, wait_ready  # noqa: E402

from ferryman.config import LogsEntry  # noqa: E402
from ferryman.plugins.logs.writer import LogWriter  # noqa: E402
from ferryman.state.logs import CONTENT, LOGS, LogEntry, new_log_id  # noqa: E402
from ferryman.state.postgres import PostgresStore  # noqa: E402
from ferryman.state.sqlite import SQLiteStore  # noqa: E402

MASTER = "sk-logbench-master-key-0123456789"
SPAN_DAYS = 30  # the entries' times are spread evenly over this many days, ending now
CHUNK = 20_000  # entries made, queued and flushed at a time

# (provider, share of traffic, its deployments)
PROVIDERS = [
    ("openai", 0.45, ["gpt-4o", "gpt-4o-mini", "o3"]),
    ("anthropic", 0.25, ["claude-sonnet-4-5", "claude-haiku-4-5"]),
    ("gemini", 0.15, ["gemini-2.5-pro", "gemini-2.5-flash"]),
    ("bedrock", 0.10, ["anthropic.claude-3-5-sonnet"]),
    ("groq", 0.05, ["llama-3.3-70b-versatile"]),
]
ALIASES = ["smart", "fast", "cheap", "reasoning"]  # asked for by alias half of the time
TEAMS = [f"team_{n:02d}" for n in range(20)]
KEYS = [(f"key_{n:03d}", TEAMS[n % len(TEAMS)]) for n in range(200)]
KEY_WEIGHTS = list(itertools.accumulate(1 / (n + 1) for n in range(len(KEYS))))  # a few heavy keys, a long tail
# status: share (the rest is 200)
STATUSES = [(500, 0.006), (502, 0.008), (503, 0.012), (504, 0.004), (429, 0.015), (400, 0.005)]
WORDS = (  # noqa: SIM905 - prose, read as prose
    "the customer asked about an invoice for last month and wants a summary of every charge in a short "
    "table please translate this paragraph into french keeping the tone formal explain why the build "
    "failed after the dependency upgrade write a python function that parses dates from log lines "
    "review the pull request for race conditions in the cache layer draft an email to the supplier "
    "about the delayed shipment list three risks of the migration plan and how to reduce each one "
    "classify the support ticket by urgency refund policy order status password reset shipping address"
).split()


@dataclass
class Made:
    """What the read phase asks for, taken from the entries written."""

    newest: float = 0.0
    oldest: float = 0.0
    with_content: int = 0
    fivexx: int = 0
    marker: str = ""  # a text kept in exactly one entry's content


def make_entries(rng: random.Random, start: int, count: int, total: int, t0: float, made: Made) -> list[LogEntry]:
    """Entries ``start`` to ``start + count`` of ``total``, spread over ``SPAN_DAYS`` from ``t0``."""
    step = SPAN_DAYS * 86_400 / total
    entries = []
    weights = list(itertools.accumulate(share for _, share, _ in PROVIDERS))
    for i in range(start, start + count):
        now = t0 + i * step + rng.random() * step
        provider, _, deployments = rng.choices(PROVIDERS, cum_weights=weights)[0]
        deployment = rng.choice(deployments)
        asked = rng.choice(ALIASES) if rng.random() < 0.5 else f"{provider}/{deployment}"
        key = rng.choices(KEYS, cum_weights=KEY_WEIGHTS)[0] if rng.random() < 0.9 else None
        status, roll = 200, rng.random()
        for code, share in STATUSES:
            if roll < share:
                status = code
                break
            roll -= share
        latency = rng.lognormvariate(6.3, 0.8)  # ~550 ms median
        attempts = [{"target": f"{provider}/{deployment}", "status": status, "latency_ms": round(latency, 3)}]
        if status >= 500 or rng.random() < 0.02:  # a retry before the last attempt
            attempts.insert(0, {"target": f"{provider}/{deployment}", "status": 503, "latency_ms": 41.7})
        ok = status == 200
        stream = rng.random() < 0.6
        input_tokens = int(rng.lognormvariate(6.5, 1.2)) if ok else 0
        output_tokens = int(rng.lognormvariate(5.3, 1.0)) if ok else 0
        content = None
        if rng.random() < 0.3 or i == total // 2:  # content kept for part of the traffic
            prompt = " ".join(rng.choices(WORDS, k=rng.randint(20, 120)))
            if i == total // 2:
                made.marker = f"ticket-{rng.getrandbits(48):012x}"
                prompt += " " + made.marker
            given = [{"role": "user", "content": prompt}]
            output = (
                [
                    {
                        "type": "message",
                        "id": f"msg_{i:x}",
                        "role": "assistant",
                        "status": "completed",
                        "content": [
                            {"type": "output_text", "text": " ".join(rng.choices(WORDS, k=rng.randint(10, 150)))}
                        ],
                    }
                ]
                if ok
                else None
            )
            content = (given, output)
            made.with_content += 1
        made.fivexx += status >= 500
        entries.append(
            LogEntry(
                id=new_log_id(now),
                created_at=now,
                route="responses",
                response_id=f"resp_{rng.getrandbits(96):024x}" if ok else None,
                key_id=key[0] if key else None,
                team_id=key[1] if key else None,
                model_requested=asked,
                provider=provider,
                model_deployment=deployment,
                status_code=status,
                error=None if ok else f"{provider} answered {status}: upstream error",
                latency_ms=round(latency, 3),
                ttft_ms=round(latency * 0.3, 3) if stream and ok else None,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_tokens=input_tokens // 4 if rng.random() < 0.2 else 0,
                reasoning_tokens=output_tokens // 2 if deployment == "o3" else 0,
                cost_usd=round((input_tokens * 2.5 + output_tokens * 10) / 1e6, 8),
                cache_hit=False,
                stream=stream,
                attempts=attempts,
                content=content,
            )
        )
        if i == 0:
            made.oldest = now
        made.newest = now
    return entries


async def write(store: Any, total: int, seed: int) -> tuple[float, Made]:
    """Every entry through the gateway's writer into ``store``: the seconds the writer took, what was made."""
    config = LogsEntry(queue_size=CHUNK)
    writer = LogWriter(store, config)
    writer.start()
    rng = random.Random(seed)
    made = Made()
    t0 = time.time() - SPAN_DAYS * 86_400
    spent = 0.0
    try:
        for start in range(0, total, CHUNK):
            batch = make_entries(rng, start, min(CHUNK, total - start), total, t0, made)
            began = time.perf_counter()
            for entry in batch:
                writer.put(entry)
            await writer.flush()
            spent += time.perf_counter() - began
            done = start + len(batch)
            if done % 200_000 == 0 or done == total:
                print(f"  {done:>9,} entries, {done / spent:,.0f}/s", flush=True)
    finally:
        await writer.stop()
    assert writer.dropped == 0 and writer.failed == 0, (writer.dropped, writer.failed)
    return spent, made


# ---- the stores ------------------------------------------------------------------------------------


@dataclass
class Size:
    total: int
    parts: dict[str, int]


def sqlite_size(path: Path) -> Size:
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        db.close()
    ours = ("ferryman_log", "sqlite_autoindex_ferryman_log")
    parts = {name: int(size) for name, size in rows if name.startswith(ours)}
    return Size(path.stat().st_size, parts)


async def postgres_size(dsn: str) -> Size:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"VACUUM ANALYZE {LOGS}")  # what autovacuum does after such a load, done now
        await conn.execute(f"VACUUM ANALYZE {CONTENT}")
        parts = {}
        for table in (LOGS, CONTENT):
            parts[f"{table} (heap+toast)"] = await conn.fetchval(f"SELECT pg_table_size('{table}')")
            parts[f"{table} indexes"] = await conn.fetchval(f"SELECT pg_indexes_size('{table}')")
    finally:
        await conn.close()
    return Size(sum(parts.values()), parts)


def deep_id(url: str, depth: int) -> str:
    """The id ``depth`` entries below the newest (an ``after`` deep into the log)."""
    sql = f"SELECT id FROM {LOGS} ORDER BY id DESC LIMIT 1 OFFSET {depth}"
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.split(":///", 1)[1])
        try:
            return str(db.execute(sql).fetchone()[0])
        finally:
            db.close()

    async def fetch() -> str:
        conn = await asyncpg.connect(url)
        try:
            return str(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(fetch())


@contextmanager
def postgres_database(admin: str) -> Iterator[str]:
    """A database of this run's own on the server of ``admin``; dropped however the run ends."""
    name = f"ferryman_logbench_{os.getpid()}"
    base = admin.rsplit("/", 1)[0]

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# ---- the read phase -------------------------------------------------------------------------------


def queries(made: Made, after: str) -> list[tuple[str, dict[str, Any]]]:
    hour = 3600
    middle = (made.oldest + made.newest) / 2
    recent = made.newest - hour
    return [
        ("no filter", {}),
        ("provider=openai (45%)", {"provider": "openai"}),
        ("provider=groq (5%)", {"provider": "groq"}),
        ("model=fast (alias, 12%)", {"model": "fast"}),
        ("model=groq/llama (2.5%)", {"model": "groq/llama-3.3-70b-versatile"}),
        ("key_id (heavy key, 15%)", {"key_id": "key_000"}),
        ("key_id (tail key, 0.1%)", {"key_id": "key_150"}),
        ("team_id", {"team_id": "team_07"}),
        ("status=5xx (3%)", {"status": "5xx"}),
        ("status=429", {"status": "429"}),
        ("from/to: last hour", {"from": int(recent), "to": int(made.newest) + 1}),
        ("from/to: an hour 15 days ago", {"from": int(middle), "to": int(middle) + hour}),
        ("from: last 7 days", {"from": int(made.newest - 7 * 86_400)}),
        ("q=invoice (common)", {"q": "invoice"}),
        ("q=<one entry's ticket>", {"q": made.marker}),
        ("after (90% deep)", {"after": after}),
        ("after (90% deep) + provider", {"after": after, "provider": "anthropic"}),
        ("provider=groq + status=5xx", {"provider": "groq", "status": "5xx"}),
        ("key_id (tail) + status=5xx", {"key_id": "key_150", "status": "5xx"}),
        ("team_id + 15-day-old hour", {"team_id": "team_07", "from": int(middle), "to": int(middle) + hour}),
        ("q=5 common words in a row (none has)", {"q": "the invoice for the customer"}),
        ("status=5xx + q=invoice", {"status": "5xx", "q": "invoice"}),
        ("key_id (tail) + q=invoice", {"key_id": "key_150", "q": "invoice"}),
        ("provider=groq + status=5xx + q=invoice", {"provider": "groq", "status": "5xx", "q": "invoice"}),
        ("limit=1000", {"limit": 1000}),
    ]


_CHECKS = {
    "provider": lambda e, v: e["provider"] == v,
    "model": lambda e, v: e["model_requested"] == v,
    "key_id": lambda e, v: e["key_id"] == v,
    "team_id": lambda e, v: e["team_id"] == v,
    "status": lambda e, v: (500 <= e["status_code"] < 600) if v == "5xx" else e["status_code"] == int(v),
    "from": lambda e, v: e["created_at"] >= v,
    "to": lambda e, v: e["created_at"] < v,
    "after": lambda e, v: e["id"] < v,
    "q": lambda e, v: True,  # content is not in a page; checked by the count of the rare one below
    "limit": lambda e, v: True,
}


def read(
    url: str, label: str, made: Made, after: str, repeat: int, workdir: Path, index: bool = True
) -> list[dict[str, Any]]:
    config = workdir / f"{label}.yaml"
    config.write_text(
        "providers: {mock: {}}\nmodels: []\n"
        f"store: '{url}'\n"
        "governance: {master_key: env.LOGBENCH_MASTER}\n"
        "metrics: false\n"
        f"logs: {{text_index: {str(index).lower()}}}\n"
    )
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC), "LOGBENCH_MASTER": MASTER}
    cmd = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port)]
    cmd += ["--log-level", "warning"]
    results = []
    with process(cmd, workdir / f"{label}.log", BENCH.parent, env) as proc:
        base = f"http://{HOST}:{port}"
        asyncio.run(wait_ready(f"{base}/ready", proc, workdir / f"{label}.log"))
        headers = {"authorization": f"Bearer {MASTER}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            for name, params in queries(made, after):
                times = []
                page: dict[str, Any] = {}
                for n in range(repeat + 2):
                    began = time.perf_counter()
                    reply = http.get(f"/admin/logs?{urlencode(params)}")
                    elapsed = (time.perf_counter() - began) * 1000
                    assert reply.status_code == 200, reply.text
                    if n >= 2:
                        times.append(elapsed)
                    page = reply.json()
                for entry in page["data"]:
                    for param, value in params.items():
                        assert _CHECKS[param](entry, value), (name, param, value, entry)
                if "q" in params and params["q"] == made.marker:
                    assert len(page["data"]) == 1, page
                p50, p95 = percentile(times, 50), percentile(times, 95)
                rows = len(page["data"])
                results.append({"query": name, "rows": rows, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2)})
                flag = "" if p95 < 100 else "  <-- over 100 ms"
                print(f"  {name:<34} {rows:>5} rows   p50 {p50:8.2f} ms   p95 {p95:8.2f} ms{flag}", flush=True)
    return results


# ---- the run ----------------------------------------------------------------------------------------


def bench_store(kind: str, url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    print(f"\n{kind}: writing {args.entries:,} entries", flush=True)
    index = not args.no_text_index  # the write rate and the q times, with the text index or without it
    store: Any = SQLiteStore(url, index) if kind == "sqlite" else PostgresStore(url, index)

    async def fill() -> tuple[float, Made]:
        await store.start()
        try:
            return await write(store, args.entries, args.seed)
        finally:
            await store.close()

    spent, made = asyncio.run(fill())
    rate = args.entries / spent
    size = sqlite_size(Path(url.split(":///", 1)[1])) if kind == "sqlite" else asyncio.run(postgres_size(url))
    per_entry = size.total / args.entries
    print(f"  insert rate {rate:,.0f} entries/s; on disk {size.total / 2**20:,.1f} MiB, {per_entry:,.0f} B/entry")
    for part, nbytes in sorted(size.parts.items()):
        print(f"    {part:<40} {nbytes / 2**20:9.1f} MiB  {nbytes / args.entries:7.0f} B/entry")
    print(
        f"  ({made.with_content:,} entries with content, {made.fivexx:,} 5xx)\n"
        f"{kind}: GET /admin/logs, {args.repeat} calls each",
        flush=True,
    )
    after = deep_id(url, int(args.entries * 0.9))
    pages = read(url, kind, made, after, args.repeat, workdir, index)
    return {
        "entries": args.entries,
        "insert_seconds": round(spent, 2),
        "entries_per_second": round(rate),
        "bytes_on_disk": size.total,
        "bytes_per_entry": round(per_entry),
        "parts": size.parts,
        "with_content": made.with_content,
        "pages": pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per query (after 2 warm-up calls)")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="the server to CREATE DATABASE on"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-text-index", action="store_true", help="the log without its text index (logs.text_index)")
    parser.add_argument("--output", default=str(BENCH / "results" / "logbench.json"))
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=BENCH
        ).stdout.strip(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "stores": {},
    }
    with tempfile.TemporaryDirectory(prefix="ferryman-logbench-") as tmp:
        workdir = Path(tmp)
        for kind in args.stores.split(","):
            if kind == "sqlite":
                report["stores"][kind] = bench_store(kind, f"sqlite:///{workdir}/logs.db", args, workdir)
            elif kind == "postgres":
                with postgres_database(args.postgres) as url:
                    report["stores"][kind] = bench_store(kind, url, args, workdir)
            else:
                parser.error(f"unknown store {kind!r}: sqlite or postgres")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
