"""Load generators for the overhead benchmark: sequential aiohttp clients, wrk, and an aiohttp fallback for wrk."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
WRK = shutil.which("wrk")


# ---- statistics ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Percentiles:
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        return cls(percentile(values, 50), percentile(values, 90), percentile(values, 99))

    @classmethod
    def median_of(cls, rounds: list[Percentiles]) -> Percentiles:
        """Each percentile as the median of the rounds' values: one noisy round cannot move it."""
        return cls(*(percentile([getattr(r, f) for r in rounds], 50) for f in ("p50", "p90", "p99")))

    def minus(self, other: Percentiles) -> Percentiles:
        return Percentiles(self.p50 - other.p50, self.p90 - other.p90, self.p99 - other.p99)

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


# ---- sequential clients (concurrency 1) ----------------------------------------------------------


def session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, force_close=False, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def sequential_json(client: aiohttp.ClientSession, url: str, body: bytes, n: int) -> list[float]:
    """Latency in ms of ``n`` requests sent one after the other, each read to its last byte."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        async with client.post(url, data=body, headers=HEADERS) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}")
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def sequential_stream(
    client: aiohttp.ClientSession, url: str, body: bytes, n: int
) -> tuple[list[float], list[float]]:
    """(time to the first complete SSE event, time to the end of the stream) in ms, for ``n`` streams."""
    first, total = [], []
    for _ in range(n):
        start = time.perf_counter()
        async with client.post(url, data=body, headers=HEADERS) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}")
            seen = b""
            async for chunk in resp.content.iter_any():
                seen += chunk
                if b"\n\n" in seen:
                    first.append((time.perf_counter() - start) * 1000)
                    break
            await resp.read()
        total.append((time.perf_counter() - start) * 1000)
    return first, total


# ---- throughput (closed loop at a fixed concurrency) ---------------------------------------------


@dataclass
class LoadResult:
    tool: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


LUA = """wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
"""
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_script(workdir: Path, body: bytes) -> Path:
    script = workdir / "post.lua"
    script.write_text(LUA.format(body=body.decode()))
    return script


async def run_wrk(url: str, body: bytes, concurrency: int, duration: float, workdir: Path, cpu: int | None) -> str:
    """wrk's report of one run (one thread: the load generator has a single core); wrk is killed if cancelled."""
    assert WRK is not None
    script = wrk_script(workdir, body)
    cmd = [WRK, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "-s", str(script), url]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=duration + 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.decode()}")
    return out.decode()


def parse_wrk(out: str) -> LoadResult:
    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m is None:
            raise ValueError(f"no {label}% latency in wrk output:\n{out}")
        return float(m.group(1)) * _UNIT_MS[m.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if rps is None or total is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return LoadResult("wrk", float(rps.group(1)), ms("50"), ms("99"), int(total.group(1)), errors)


async def closed_loop(url: str, body: bytes, concurrency: int, duration: float) -> LoadResult:
    """The aiohttp fallback for wrk: ``concurrency`` clients each sending the next request when one ends."""
    latencies: list[float] = []
    errors = 0

    async def client(http: aiohttp.ClientSession, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=HEADERS) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors += 1

    async with session(concurrency) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http, start + duration) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return LoadResult(
        "aiohttp",
        len(latencies) / elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        len(latencies),
        errors,
    )
