"""Load generators for the overhead benchmark: sequential aiohttp clients, wrk (with an aiohttp fallback),
and a raw asyncio client that times every event of many concurrent paced streams."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import cast

import aiohttp

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

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


# ---- sequential clients (concurrency 1) ----------------------------------------------------------


def session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, force_close=False, keepalive_timeout=60)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def sequential_json(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], n: int
) -> list[float]:
    """Latency in ms of ``n`` requests sent one after the other, each read to its last byte."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        async with client.post(url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url} answered {resp.status}")
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


async def sequential_stream(
    client: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], n: int
) -> tuple[list[float], list[float]]:
    """(time to the first complete SSE event, time to the end of the stream) in ms, for ``n`` streams."""
    first, total = [], []
    for _ in range(n):
        start = time.perf_counter()
        async with client.post(url, data=body, headers=headers) as resp:
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
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_s: float = 0.0  # CPU time the server under test used during the run (set by the caller)

    @property
    def error_rate(self) -> float:
        return self.errors / max(1, self.requests + self.errors)

    def as_dict(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = {
            k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()
        }
        out["cpu_us_per_request"] = round(self.cpu_s / max(1, self.requests) * 1e6, 1)
        return out


LUA = """wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{headers}
"""
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_script(workdir: Path, body: bytes, headers: dict[str, str]) -> Path:
    script = workdir / "post.lua"
    extra = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items() if k.lower() != "content-type")
    script.write_text(LUA.format(body=body.decode(), headers=extra))
    return script


async def run_wrk(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, duration: float, workdir: Path, cpu: int | None
) -> str:
    """wrk's report of one run (one thread: the load generator has a single core); wrk is killed if cancelled."""
    assert WRK is not None
    script = wrk_script(workdir, body, headers)
    cmd = [WRK, "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "10s", "--latency"]
    cmd += ["-s", str(script), url]
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
            return float("nan")  # wrk prints no distribution when no request completed
        return float(m.group(1)) * _UNIT_MS[m.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if rps is None or total is None:
        raise ValueError(f"unexpected wrk output:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    requests = int(total.group(1)) - (int(non_2xx.group(1)) if non_2xx else 0)
    return LoadResult("wrk", float(rps.group(1)), ms("50"), ms("90"), ms("99"), requests, errors)


async def closed_loop(url: str, body: bytes, headers: dict[str, str], concurrency: int, duration: float) -> LoadResult:
    """The aiohttp fallback for wrk: ``concurrency`` clients each sending the next request when one ends."""
    latencies: list[float] = []
    errors = 0

    async def client(http: aiohttp.ClientSession, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (TimeoutError, aiohttp.ClientError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                errors += 1

    async with session(concurrency) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http, start + duration) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if not latencies:
        return LoadResult("aiohttp", 0.0, float("nan"), float("nan"), float("nan"), 0, errors)
    p = Percentiles.of(latencies)
    return LoadResult("aiohttp", len(latencies) / elapsed, p.p50, p.p90, p.p99, len(latencies), errors)


# ---- paced streams: the time every event takes through the gateway ------------------------------

STAMP = re.compile(rb"(\d{19})\|")


@dataclass
class StreamTrace:
    """One paced stream as the client saw it: for each text delta, when it arrived and when it was sent."""

    status: int = 0
    arrivals: list[int] = field(default_factory=list)  # perf_counter_ns at the client
    stamps: list[int] = field(default_factory=list)  # perf_counter_ns at the upstream
    error: str | None = None


class PacedClient(asyncio.Protocol):
    """A one-request HTTP/1.1 client (``Connection: close``) that timestamps every stamped delta it receives.

    The upstream writes ``perf_counter_ns()`` into each delta's text; the clock is the same on both sides
    (CLOCK_MONOTONIC), so arrival − stamp is the event's transit time through whatever lies between.
    """

    def __init__(self, request: bytes, deltas: int, done: asyncio.Future[None]) -> None:
        self.request = request
        self.deltas = deltas
        self.done = done
        self.trace = StreamTrace()
        self.carry = b""
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        trace = self.trace
        if not trace.status:
            self.head += data
            if b"\r\n" not in self.head:
                return
            trace.status = int(self.head.split(b" ", 2)[1])
            data, self.head = self.head, b""
        buf = self.carry + data
        end = 0
        for m in STAMP.finditer(buf):
            if len(trace.stamps) < self.deltas:  # later events repeat the text: only the deltas count
                trace.arrivals.append(now)
                trace.stamps.append(int(m.group(1)))
            end = m.end()
        self.carry = buf[max(end, len(buf) - 19) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.trace.error = repr(exc)
        if not self.done.done():
            self.done.set_result(None)


def paced_request(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    head = [f"POST /{path} HTTP/1.1", f"Host: {hostport}", "Content-Type: application/json", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-type"]
    head.append(f"Content-Length: {len(body)}")
    return host, int(port), ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def paced_streams(
    url: str, body: bytes, headers: dict[str, str], n: int, deltas: int, spread: float, timeout: float
) -> list[StreamTrace]:
    """``n`` concurrent streams, started evenly over ``spread`` seconds; each trace has every delta's timing."""
    loop = asyncio.get_running_loop()
    host, port, request = paced_request(url, body, headers)

    async def one(delay: float) -> StreamTrace:
        await asyncio.sleep(delay)
        done: asyncio.Future[None] = loop.create_future()
        client = PacedClient(request, deltas, done)
        try:
            transport, _ = await loop.create_connection(lambda: client, host, port)
        except OSError as exc:
            client.trace.error = repr(exc)
            return client.trace
        try:
            await asyncio.wait_for(done, timeout)
        except TimeoutError:
            client.trace.error = "timeout"
            transport.close()
        return client.trace

    return await asyncio.gather(*(one(spread * i / n) for i in range(n)))


@dataclass
class PacedSummary:
    streams: int
    complete: int  # streams that answered 200 and delivered every delta
    stalls: int  # gaps between consecutive deltas longer than twice the upstream's gap
    gap_ms: Percentiles  # time between consecutive deltas at the client
    transit_ms: Percentiles  # upstream write -> client read, per delta
    jitter_ms: Percentiles  # how much each gap grew on the way: transit(i) - transit(i-1)
    first_error: str | None

    @classmethod
    def of(cls, traces: list[StreamTrace], deltas: int, gap_ms: float) -> PacedSummary:
        gaps: list[float] = []
        transits: list[float] = []
        jitter: list[float] = []
        complete = stalls = 0
        first_error = None
        for t in traces:
            ok = t.status == 200 and len(t.stamps) == deltas and t.error is None
            complete += ok
            if not ok and first_error is None:
                first_error = t.error or f"status {t.status}, {len(t.stamps)} of {deltas} deltas"
            transit = [(a - s) / 1e6 for a, s in zip(t.arrivals, t.stamps, strict=True)]
            transits += transit
            for i in range(1, len(transit)):
                gap = (t.arrivals[i] - t.arrivals[i - 1]) / 1e6
                gaps.append(gap)
                jitter.append(transit[i] - transit[i - 1])
                stalls += gap > 2 * gap_ms
        empty = Percentiles(float("nan"), float("nan"), float("nan"))
        return cls(
            streams=len(traces),
            complete=complete,
            stalls=stalls,
            gap_ms=Percentiles.of(gaps) if gaps else empty,
            transit_ms=Percentiles.of(transits) if transits else empty,
            jitter_ms=Percentiles.of(jitter) if jitter else empty,
            first_error=first_error,
        )

    @property
    def held(self) -> bool:
        """Every stream complete and no stall."""
        return self.complete == self.streams and self.stalls == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "streams": self.streams,
            "complete": self.complete,
            "stalls": self.stalls,
            "gap_ms": self.gap_ms.as_dict(),
            "transit_ms": self.transit_ms.as_dict(),
            "jitter_ms": self.jitter_ms.as_dict(),
            "first_error": self.first_error,
        }
