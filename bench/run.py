"""Ferryman overhead benchmark: the latency and throughput Ferryman adds over calling the upstream directly.

    python bench/run.py [--duration 10] [--quick] [--workers 1]

Starts the fake upstream (bench/upstream.py) and Ferryman as subprocesses, measures the same requests
sent directly to the upstream and through Ferryman, prints one table and writes bench/results/latest.json.
On a machine with two or more cores, Ferryman runs on core 0; the upstream and the load generators
(this process and wrk) share core 1. Only loopback addresses are used; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from loadgen import (
    WRK,
    Percentiles,
    closed_loop,
    parse_wrk,
    run_wrk,
    sequential_json,
    sequential_stream,
    session,
)

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
MODEL = "fast"
UPSTREAM_MODEL = "gpt-4o"
PROMPT = "Explain in two sentences what an LLM gateway does."


# ---- options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    duration: float  # seconds per throughput run
    warmup: int  # sequential requests per target before measuring
    rounds: int
    requests: int  # non-stream requests per target per round
    streams: int  # stream requests per target per round
    concurrency: int
    workers: int
    latency_ms: float
    deltas: int
    delta_gap_ms: float
    use_wrk: bool
    store: bool  # Ferryman's default SQLite response store, in a temporary directory
    output: Path


def parse_args(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description="measure the latency Ferryman adds over a direct upstream call")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run (default 10)")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke check, not a measurement")
    parser.add_argument("--workers", type=int, default=1, help="Ferryman worker processes (default 1)")
    parser.add_argument("--concurrency", type=int, default=50, help="connections for throughput runs (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of sequential requests (default 5)")
    parser.add_argument("--requests", type=int, default=1000, help="sequential requests per round (default 1000)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="upstream delay before answering")
    parser.add_argument("--deltas", type=int, default=20, help="output_text.delta events per stream (default 20)")
    parser.add_argument("--delta-gap-ms", type=float, default=0.0, help="upstream delay between stream events")
    parser.add_argument("--no-store", action="store_true", help="run Ferryman with store: false")
    parser.add_argument("--no-wrk", action="store_true", help="use the aiohttp load generator even if wrk exists")
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "latest.json")
    args = parser.parse_args(argv)
    quick = args.quick
    return Plan(
        duration=2.0 if quick else args.duration,
        warmup=50 if quick else 300,
        rounds=2 if quick else args.rounds,
        requests=100 if quick else args.requests,
        streams=50 if quick else max(1, args.requests // 3),
        concurrency=args.concurrency,
        workers=args.workers,
        latency_ms=args.latency_ms,
        deltas=args.deltas,
        delta_gap_ms=args.delta_gap_ms,
        use_wrk=WRK is not None and not args.no_wrk,
        store=not args.no_store,
        output=args.output,
    )


# ---- processes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cores:
    gateway: int | None  # None: one core, no pinning
    load: int | None

    @classmethod
    def detect(cls) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        return cls(cpus[0], cpus[1]) if len(cpus) >= 2 else cls(None, None)


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return cmd if cpu is None else ["taskset", "-c", str(cpu), *cmd]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def write_config(workdir: Path, upstream_port: int, *, store: bool) -> Path:
    path = workdir / "ferryman.yaml"
    path.write_text(
        "providers:\n"
        f'  openai: {{base_url: "http://{HOST}:{upstream_port}/v1", keys: [{{value: sk-bench}}], max_retries: 0}}\n'
        "models:\n"
        f"  - {{name: {MODEL}, target: openai/{UPSTREAM_MODEL}}}\n" + ("" if store else "store: false\n")
    )
    return path


@contextmanager
def process(cmd: list[str], log: Path, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess in its own session, stopped (SIGTERM, then SIGKILL) however the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what this script started
        proc.wait(timeout=5)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it exits or never gets there."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail(log)}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s:\n{tail(log)}")


def keep(log: Path, text: str) -> None:
    log.write_text(text)


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers when --workers > 1)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids += process_tree(int(child))
    return pids


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- other processes' CPU use (this machine may be shared) -------------------------------------

HZ = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU time spent on the whole machine since boot: user, nice, system, irq, softirq (not idle, iowait, steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[0:3]) + sum(fields[5:7])) / HZ


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid``, including its children that have been waited for."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    utime, stime, cutime, cstime = stat[stat.rindex(")") + 2 :].split()[11:15]
    return (int(utime) + int(stime) + int(cutime) + int(cstime)) / HZ


def own_seconds(pids: list[int]) -> float:
    """CPU time of this process, its waited-for children (wrk) and ``pids`` (the servers and their workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + sum(cpu_seconds(p) for p in pids)


@dataclass
class CpuAudit:
    """How much CPU other processes took while the benchmark ran: a busy neighbour skews every number."""

    servers: list[int]
    start_busy: float = 0.0
    start_own: float = 0.0
    start_wall: float = 0.0

    def start(self) -> None:
        self.start_busy, self.start_own, self.start_wall = busy_seconds(), self.own(), time.monotonic()

    def own(self) -> float:
        return own_seconds([p for server in self.servers for p in process_tree(server)])

    def result(self) -> dict[str, float]:
        other = (busy_seconds() - self.start_busy) - (self.own() - self.start_own)
        wall = time.monotonic() - self.start_wall
        return {"other_cpu_s": round(max(other, 0.0), 2), "wall_s": round(wall, 1)}


# ---- measurements --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    direct: str
    ferryman: str

    def items(self) -> list[tuple[str, str]]:
        return [("direct", self.direct), ("ferryman", self.ferryman)]

    def alternating(self, rounds: int) -> Iterator[tuple[int, str, str]]:
        """(round, name, url), both targets each round, the order flipped every round so drift hurts neither."""
        for i in range(rounds):
            for name, url in self.items() if i % 2 == 0 else self.items()[::-1]:
                yield i, name, url


def request_body(model: str, *, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "input": PROMPT, "max_output_tokens": 200}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def bodies(stream: bool) -> dict[str, bytes]:
    return {"direct": request_body(UPSTREAM_MODEL, stream=stream), "ferryman": request_body(MODEL, stream=stream)}


async def check_ferryman(url: str) -> None:
    """One request of each kind, to fail clearly (not with a table of errors) if Ferryman is not relaying."""
    async with session(1) as http:
        async with http.post(url, data=request_body(MODEL, stream=False)) as resp:
            reply = await resp.json()
            if resp.status != 200 or "cost" not in reply.get("usage", {}) or "extra_fields" not in reply:
                raise RuntimeError(f"unexpected non-stream reply ({resp.status}): {reply}")
        async with http.post(url, data=request_body(MODEL, stream=True)) as resp:
            text = (await resp.read()).decode()
            if resp.status != 200 or '"chunk_index"' not in text or "response.completed" not in text:
                raise RuntimeError(f"unexpected stream reply ({resp.status}): {text[:2000]}")


async def non_stream_c1(plan: Plan, targets: Targets) -> dict[str, Any]:
    rounds: dict[str, list[Percentiles]] = {"direct": [], "ferryman": []}
    body = bodies(stream=False)
    async with session(1) as direct, session(1) as gateway:
        clients = {"direct": direct, "ferryman": gateway}
        for name, url in targets.items():
            await sequential_json(clients[name], url, body[name], plan.warmup)
        for _, name, url in targets.alternating(plan.rounds):
            rounds[name].append(Percentiles.of(await sequential_json(clients[name], url, body[name], plan.requests)))
    result = {name: Percentiles.median_of(r) for name, r in rounds.items()}
    return {
        "direct_ms": result["direct"].as_dict(),
        "ferryman_ms": result["ferryman"].as_dict(),
        "added_ms": result["ferryman"].minus(result["direct"]).as_dict(),
        "rounds": plan.rounds,
        "requests_per_round": plan.requests,
    }


async def stream_c1(plan: Plan, targets: Targets) -> dict[str, Any]:
    first: dict[str, list[Percentiles]] = {"direct": [], "ferryman": []}
    total: dict[str, list[Percentiles]] = {"direct": [], "ferryman": []}
    body = bodies(stream=True)
    async with session(1) as direct, session(1) as gateway:
        clients = {"direct": direct, "ferryman": gateway}
        for name, url in targets.items():
            await sequential_stream(clients[name], url, body[name], plan.warmup // 3)
        for _, name, url in targets.alternating(plan.rounds):
            ttft, whole = await sequential_stream(clients[name], url, body[name], plan.streams)
            first[name].append(Percentiles.of(ttft))
            total[name].append(Percentiles.of(whole))
    ttft_med = {name: Percentiles.median_of(r) for name, r in first.items()}
    total_med = {name: Percentiles.median_of(r) for name, r in total.items()}
    return {
        "ttft_direct_ms": ttft_med["direct"].as_dict(),
        "ttft_ferryman_ms": ttft_med["ferryman"].as_dict(),
        "ttft_added_ms": ttft_med["ferryman"].minus(ttft_med["direct"]).as_dict(),
        "total_direct_ms": total_med["direct"].as_dict(),
        "total_ferryman_ms": total_med["ferryman"].as_dict(),
        "total_added_ms": total_med["ferryman"].minus(total_med["direct"]).as_dict(),
        "events_per_stream": plan.deltas + 8,
        "rounds": plan.rounds,
        "streams_per_round": plan.streams,
    }


async def throughput(plan: Plan, targets: Targets, cores: Cores, workdir: Path, *, stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"concurrency": plan.concurrency, "duration_s": plan.duration}
    for name, url in targets.items():
        body = bodies(stream)[name]
        if plan.use_wrk:
            report = await run_wrk(url, body, plan.concurrency, plan.duration, workdir, cores.load)
            keep(workdir / f"wrk-{'stream' if stream else 'json'}-{name}.log", report)
            result = parse_wrk(report)
        else:
            result = await closed_loop(url, body, plan.concurrency, plan.duration)
        out[name] = result.as_dict()
    return out


# ---- report --------------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    """The results as one fixed-width table; for req/s rows the last column is Ferryman's share of direct."""
    meta = results["meta"]
    rows: list[tuple[str, str, str, str]] = []

    def latency(label: str, section: dict[str, Any], prefix: str = "") -> None:
        d, f, a = (section[f"{prefix}{kind}_ms"] for kind in ("direct", "ferryman", "added"))
        for p in ("p50", "p90", "p99"):
            rows.append((f"{label} {p} (ms)", f"{d[p]:.3f}", f"{f[p]:.3f}", f"{a[p]:+.3f}"))

    def load(label: str, section: dict[str, Any]) -> None:
        d, f = section["direct"], section["ferryman"]
        rows.append((f"{label} req/s", f"{d['rps']:,.0f}", f"{f['rps']:,.0f}", f"{f['rps'] / d['rps']:.1%} of direct"))
        for p in ("p50", "p99"):
            key = f"{p}_ms"
            rows.append((f"{label} {p} (ms)", f"{d[key]:.2f}", f"{f[key]:.2f}", f"{f[key] - d[key]:+.2f}"))
        if d["errors"] or f["errors"]:
            rows.append((f"{label} errors", str(d["errors"]), str(f["errors"]), ""))

    c = results["non_stream_concurrent"]["concurrency"]
    latency("non-stream c=1", results["non_stream_c1"])
    load(f"non-stream c={c}", results["non_stream_concurrent"])
    latency("stream c=1 first event", results["stream_c1"], "ttft_")
    latency("stream c=1 whole stream", results["stream_c1"], "total_")
    load(f"stream c={c}", results["stream_concurrent"])
    rss = results["ferryman_rss_mib"]
    rows.append((f"Ferryman RSS after run, {rss['processes']} process(es) (MiB)", "", f"{rss['total']:.1f}", ""))

    width = max(len(r[0]) for r in rows)
    lines = [
        f"Ferryman overhead: {meta['cpus']} cores ({meta['cpu_model']}), {meta['pinning']}",
        f"workers={meta['workers']}, store: {meta['store']}, load generator: {meta['load_generator']}, "
        f"commit {meta['commit']}",
        "",
        f"{'':<{width}}  {'direct':>10}  {'ferryman':>10}  {'added':>14}",
    ]
    lines += [f"{r[0]:<{width}}  {r[1]:>10}  {r[2]:>10}  {r[3]:>14}" for r in rows]
    other = results["interference"]
    share = other["other_cpu_s"] / other["wall_s"]
    lines.append(
        f"\nother processes used {other['other_cpu_s']:.1f} CPU-s in {other['wall_s']:.0f} s ({share:.0%} of a core)"
    )
    if share > 0.05:
        lines.append("WARNING: the machine was not quiet; these numbers are disturbed. Run again when it is idle.")
    return "\n".join(lines)


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(BENCH.parent), "describe", "--always", "--dirty"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def meta(plan: Plan, cores: Cores) -> dict[str, Any]:
    pinning = (
        f"gateway on core {cores.gateway}, upstream + load generator on core {cores.load}"
        if cores.gateway is not None
        else "no pinning (one core)"
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "pinning": pinning,
        "workers": plan.workers,
        "load_generator": "wrk" if plan.use_wrk else "aiohttp",
        "store": "sqlite (default)" if plan.store else "off",
        "upstream": {"latency_ms": plan.latency_ms, "deltas": plan.deltas, "delta_gap_ms": plan.delta_gap_ms},
    }


# ---- main ----------------------------------------------------------------------------------------


async def step(label: str, measurement: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    print(f"measuring {label} ...", file=sys.stderr, flush=True)
    return await measurement


async def measure(plan: Plan, cores: Cores, workdir: Path) -> dict[str, Any]:
    up_port, fm_port = free_port(), free_port()
    upstream_cmd = [sys.executable, str(BENCH / "upstream.py"), "--host", HOST, "--port", str(up_port)]
    upstream_cmd += ["--latency-ms", str(plan.latency_ms), "--deltas", str(plan.deltas)]
    upstream_cmd += ["--delta-gap-ms", str(plan.delta_gap_ms)]
    config = write_config(workdir, up_port, store=plan.store)
    ferryman_cmd = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--host", HOST]
    ferryman_cmd += ["--port", str(fm_port), "--workers", str(plan.workers), "--log-level", "warning"]
    targets = Targets(f"http://{HOST}:{up_port}/v1/responses", f"http://{HOST}:{fm_port}/v1/responses")

    up_log, fm_log = workdir / "upstream.log", workdir / "ferryman.log"
    with (
        process(pinned(upstream_cmd, cores.load), up_log, workdir) as upstream,
        process(pinned(ferryman_cmd, cores.gateway), fm_log, workdir) as ferryman,
    ):
        await wait_ready(f"http://{HOST}:{up_port}/health", upstream, up_log)
        await wait_ready(f"http://{HOST}:{fm_port}/health", ferryman, fm_log)
        await check_ferryman(targets.ferryman)
        audit = CpuAudit([upstream.pid, ferryman.pid])
        audit.start()
        c = plan.concurrency
        results: dict[str, Any] = {"meta": meta(plan, cores)}
        results["non_stream_c1"] = await step("non-stream, concurrency 1", non_stream_c1(plan, targets))
        results["non_stream_concurrent"] = await step(
            f"non-stream, concurrency {c}", throughput(plan, targets, cores, workdir, stream=False)
        )
        results["stream_c1"] = await step("stream, concurrency 1", stream_c1(plan, targets))
        results["stream_concurrent"] = await step(
            f"stream, concurrency {c}", throughput(plan, targets, cores, workdir, stream=True)
        )
        results["interference"] = audit.result()
        pids = process_tree(ferryman.pid)
        results["ferryman_rss_mib"] = {
            "main": round(rss_mib(ferryman.pid), 1),
            "total": round(sum(rss_mib(p) for p in pids), 1),
            "processes": len(pids),
        }
    return results


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: the subprocesses are stopped on the way out


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    signal.signal(signal.SIGINT, interrupt)  # also when started in the background, where SIGINT is ignored
    signal.signal(signal.SIGTERM, interrupt)
    cores = Cores.detect()
    if cores.load is not None:
        os.sched_setaffinity(0, {cores.load})  # this process is the sequential load generator
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferryman-bench-") as tmp:
        try:
            results = uvloop.run(measure(plan, cores, Path(tmp)))
        finally:
            for log in Path(tmp).glob("*.log"):  # kept beside the results, for a look when numbers are odd
                shutil.copyfile(log, plan.output.parent / log.name)
    print(table(results))
    plan.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {plan.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: stopped the upstream and Ferryman", file=sys.stderr)
        sys.exit(130)
