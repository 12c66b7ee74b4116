"""Ferryman overhead benchmark: what Ferryman adds over calling the upstream directly, side by side with
LiteLLM proxy and nginx on the same fake upstream.

    python bench/run.py [--duration 10] [--quick] [--workers 1] [--scaling] [--mock] [--api chat]

Starts the fake upstream (bench/upstream.py), Ferryman, LiteLLM proxy (when installed: the ``bench``
extra) and nginx (when installed) as subprocesses, sends the same requests to each, prints one table and
writes bench/results/latest.json. On a machine with two or more cores, the servers under test run on
core 0; the upstream and the load generators (this process and wrk) share core 1. Only loopback
addresses are used; everything stops by itself. ``--mock`` measures Ferryman alone, answering from its
built-in mock provider: no upstream process, no comparison. ``--api chat`` drives every gateway over
``POST /v1/chat/completions`` instead (JSON and streams) against the upstream's Chat Completions, side by
side with the Chat Completions peers of peers.py (TensorZero, Portkey) and LiteLLM proxy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from loadgen import (
    WRK,
    PacedSummary,
    Percentiles,
    StreamTrace,
    closed_loop,
    paced_streams,
    parse_wrk,
    run_wrk,
    sequential_json,
    sequential_stream,
    session,
)
from peers import (
    portkey_command,
    portkey_env,
    portkey_headers,
    portkey_install,
    tensorzero_command,
    tensorzero_config,
    tensorzero_env,
    tensorzero_missing,
    wait_url_file,
)
from servers import (
    BENCH,
    CLAUDE_MODEL,
    HOST,
    LITELLM_KEY,
    NGINX,
    ROUTES,
    UPSTREAM_MODEL,
    Cores,
    CpuAudit,
    ferryman_config,
    free_port,
    litellm_command,
    litellm_config,
    mock_config,
    nginx_config,
    pinned,
    process,
    rss_mib,
    tree_cpu_seconds,
    wait_ready,
)

PROMPT = "Explain in two sentences what an LLM gateway does."
GATEWAYS = ("ferryman", "litellm", "tensorzero", "portkey")


# ---- options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    duration: float  # seconds per throughput run
    warmup: int  # sequential requests per target before measuring
    rounds: int
    requests: int  # non-stream requests per target per round (LiteLLM: a tenth)
    streams: int  # stream requests per target per round
    concurrency: tuple[int, ...]  # connections for the throughput runs
    sustained_concurrency: int  # connections against the 20 ms upstream
    workers: int
    latency_ms: float
    deltas: int
    delta_gap_ms: float
    slow_ms: float
    paced_deltas: int
    paced_gap_ms: float
    paced_c1: int  # paced streams one after another per target
    levels: tuple[int, ...]  # concurrent paced streams, tried in order until one stalls
    memory_requests: int
    use_wrk: bool
    litellm: bool
    nginx: bool
    scaling: bool
    mock: bool  # Ferryman alone, answered by its mock provider (no upstream, no other server)
    store: bool  # Ferryman's default SQLite response store, in a temporary directory
    output: Path
    api: str = "responses"  # chat: every gateway over Chat Completions, with the Chat Completions peers
    chat_provider: str = "openai-chat"  # the type of Ferryman's provider behind its Chat Completions door
    tensorzero: bool = True
    portkey: bool = True


def parse_args(argv: list[str] | None) -> Plan:
    p = argparse.ArgumentParser(description="measure what Ferryman (and LiteLLM proxy) add over a direct call")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per throughput run (default 10)")
    p.add_argument("--quick", action="store_true", help="short runs: a smoke check, not a measurement")
    p.add_argument("--workers", type=int, default=1, help="Ferryman worker processes (default 1)")
    p.add_argument("--concurrency", default="50,200", help="connections for throughput runs (default 50,200)")
    p.add_argument("--sustained-concurrency", type=int, default=200, help="connections, 20 ms upstream (200)")
    p.add_argument("--rounds", type=int, default=5, help="rounds of sequential requests (default 5)")
    p.add_argument("--requests", type=int, default=1000, help="sequential requests per round (default 1000)")
    p.add_argument("--latency-ms", type=float, default=0.0, help="upstream delay before answering")
    p.add_argument("--deltas", type=int, default=20, help="text deltas per fast stream (default 20)")
    p.add_argument("--delta-gap-ms", type=float, default=0.0, help="upstream delay between fast stream events")
    p.add_argument("--slow-ms", type=float, default=20.0, help="upstream latency of the sustained run (20)")
    p.add_argument("--paced-deltas", type=int, default=64, help="text deltas per paced stream (default 64)")
    p.add_argument("--paced-gap-ms", type=float, default=20.0, help="upstream gap between paced deltas (20)")
    p.add_argument("--paced-streams", type=int, default=5, help="sequential paced streams per target (5)")
    p.add_argument("--levels", default="64,128,256,512,1024", help="concurrent paced streams to try")
    p.add_argument("--memory-requests", type=int, default=100_000, help="requests of the memory run (100k)")
    p.add_argument("--no-litellm", action="store_true", help="leave LiteLLM proxy out even if installed")
    p.add_argument("--no-nginx", action="store_true", help="leave nginx out even if installed")
    p.add_argument("--scaling", action="store_true", help="only: Ferryman req/s with 1..N workers, unpinned")
    p.add_argument("--no-store", action="store_true", help="run Ferryman with store: false")
    p.add_argument("--mock", action="store_true", help="only: Ferryman alone, answered by its mock provider")
    p.add_argument("--no-wrk", action="store_true", help="use the aiohttp load generator even if wrk exists")
    p.add_argument("--api", choices=("responses", "chat"), default="responses", help="the API driven (chat: peers)")
    p.add_argument(
        "--chat-provider",
        choices=("openai-chat", "openai"),
        default="openai-chat",
        help="--api chat: Ferryman's provider type behind the Chat Completions door (default openai-chat)",
    )
    p.add_argument("--no-tensorzero", action="store_true", help="--api chat: leave TensorZero out")
    p.add_argument("--no-portkey", action="store_true", help="--api chat: leave Portkey out")
    p.add_argument("--output", type=Path, default=BENCH / "results" / "latest.json")
    a = p.parse_args(argv)
    quick = a.quick
    litellm = not a.no_litellm and litellm_command() is not None
    return Plan(
        duration=2.0 if quick else a.duration,
        warmup=50 if quick else 300,
        rounds=2 if quick else a.rounds,
        requests=100 if quick else a.requests,
        streams=50 if quick else max(1, a.requests // 3),
        concurrency=tuple(int(c) for c in a.concurrency.split(",")),
        sustained_concurrency=a.sustained_concurrency,
        workers=a.workers,
        latency_ms=a.latency_ms,
        deltas=a.deltas,
        delta_gap_ms=a.delta_gap_ms,
        slow_ms=a.slow_ms,
        paced_deltas=a.paced_deltas,
        paced_gap_ms=a.paced_gap_ms,
        paced_c1=1 if quick else a.paced_streams,
        levels=(64, 512) if quick else tuple(int(n) for n in a.levels.split(",")),
        memory_requests=10_000 if quick else a.memory_requests,
        use_wrk=WRK is not None and not a.no_wrk,
        litellm=litellm,
        nginx=not a.no_nginx and NGINX is not None,
        scaling=a.scaling,
        mock=a.mock,
        store=not a.no_store,
        output=a.output,
        api=a.api,
        chat_provider=a.chat_provider,
        tensorzero=not a.no_tensorzero,
        portkey=not a.no_portkey,
    )


# ---- targets -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One way to reach the upstream: straight, or through a proxy or gateway."""

    name: str  # direct, nginx, ferryman, litellm, tensorzero, portkey
    base: str
    pid: int  # the server that answers (for CPU and memory)
    headers: dict[str, str] = field(default_factory=dict)
    chat_path: str = "/v1/chat/completions"  # where a gateway takes Chat Completions
    chat_model: str = "{route}"  # the model a gateway is asked for over Chat Completions

    @property
    def gateway(self) -> bool:
        return self.name in GATEWAYS

    def request(self, route: str, *, stream: bool) -> tuple[str, bytes]:
        """(url, body) for one of ROUTES: gateways take the model alias, the others the upstream's own path."""
        api, prefix = ROUTES[route]
        if api == "chat":
            if self.gateway:
                return f"{self.base}{self.chat_path}", chat_body(self.chat_model.format(route=route), stream)
            return f"{self.base}{prefix}/v1/chat/completions", chat_body(UPSTREAM_MODEL, stream)
        if self.gateway:
            return f"{self.base}/v1/responses", responses_body(route, stream)
        if api == "openai":
            return f"{self.base}{prefix}/v1/responses", responses_body(UPSTREAM_MODEL, stream)
        return f"{self.base}{prefix}/v1/messages", messages_body(stream)

    def all_headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **self.headers}


def responses_body(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "input": PROMPT, "max_output_tokens": 200}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def chat_body(model: str, stream: bool) -> bytes:
    """A Chat Completions request; a stream asks for the usage chunk, as a client that counts tokens does."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    body["max_completion_tokens"] = 200
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return json.dumps(body).encode()


def messages_body(stream: bool) -> bytes:
    body: dict[str, Any] = {"model": CLAUDE_MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        body["stream"] = True
    return json.dumps(body).encode()


def requests_for(target: Target, n: int) -> int:
    return max(20, n // 10) if target.name == "litellm" else n  # LiteLLM is ~20x slower per request


def rotations(targets: list[Target], rounds: int) -> Iterator[Target]:
    """Every target once per round, the order rotated each round so drift hurts none."""
    for i in range(rounds):
        k = i % len(targets)
        yield from targets[k:] + targets[:k]


# ---- measurements --------------------------------------------------------------------------------


COMPLETE = {  # (api, stream) -> what only a whole answer holds
    ("openai", False): '"output_text"',
    ("openai", True): "response.completed",
    ("anthropic", False): '"output_text"',  # a gateway answers a Responses request in Responses
    ("anthropic", True): "response.completed",
    ("chat", False): '"chat.completion"',
    ("chat", True): "data: [DONE]",
}


async def check_gateway(target: Target, route: str) -> None:
    """One request of each kind, to fail clearly (not with a table of errors) if a gateway is not relaying."""
    async with session(1) as http:
        for stream in (False, True):
            url, body = target.request(route, stream=stream)
            async with http.post(url, data=body, headers=target.all_headers()) as resp:
                text = (await resp.read()).decode()
                complete = COMPLETE[ROUTES[route][0], stream] in text
                if resp.status != 200 or not complete:
                    raise RuntimeError(f"{target.name} {route}: unexpected reply ({resp.status}): {text[:2000]}")


async def sequential(plan: Plan, targets: list[Target], route: str, *, stream: bool) -> dict[str, Any]:
    """c=1: each target on its own keep-alive connection, median of round percentiles."""
    json_rounds: dict[str, list[Percentiles]] = {t.name: [] for t in targets}
    first_rounds: dict[str, list[Percentiles]] = {t.name: [] for t in targets}
    clients = {t.name: session(1) for t in targets}
    try:
        for t in targets:
            url, body = t.request(route, stream=stream)
            n = requests_for(t, plan.warmup // (3 if stream else 1))
            if stream:
                await sequential_stream(clients[t.name], url, body, t.all_headers(), n)
            else:
                await sequential_json(clients[t.name], url, body, t.all_headers(), n)
        for t in rotations(targets, plan.rounds):
            url, body = t.request(route, stream=stream)
            if stream:
                first, whole = await sequential_stream(
                    clients[t.name], url, body, t.all_headers(), requests_for(t, plan.streams)
                )
                first_rounds[t.name].append(Percentiles.of(first))
                json_rounds[t.name].append(Percentiles.of(whole))
            else:
                latencies = await sequential_json(
                    clients[t.name], url, body, t.all_headers(), requests_for(t, plan.requests)
                )
                json_rounds[t.name].append(Percentiles.of(latencies))
    finally:
        for c in clients.values():
            await c.close()
    out: dict[str, Any] = {"rounds": plan.rounds}
    for t in targets:
        out[t.name] = {"whole_ms" if stream else "ms": Percentiles.median_of(json_rounds[t.name]).as_dict()}
        if stream:
            out[t.name]["first_event_ms"] = Percentiles.median_of(first_rounds[t.name]).as_dict()
    return out


async def load(
    plan: Plan, targets: list[Target], route: str, cores: Cores, workdir: Path, *, stream: bool, concurrency: int
) -> dict[str, Any]:
    """Closed loop at ``concurrency`` connections for ``plan.duration`` seconds, per target."""
    out: dict[str, Any] = {"concurrency": concurrency, "duration_s": plan.duration, "route": route}
    for t in targets:
        url, body = t.request(route, stream=stream)
        cpu0 = tree_cpu_seconds(t.pid)
        if plan.use_wrk:
            report = await run_wrk(url, body, t.all_headers(), concurrency, plan.duration, workdir, cores.load)
            log = workdir / f"wrk-{route}-{'stream' if stream else 'json'}-c{concurrency}-{t.name}.log"
            log.write_text(report)
            result = parse_wrk(report)
        else:
            result = await closed_loop(url, body, t.all_headers(), concurrency, plan.duration)
        result.cpu_s = tree_cpu_seconds(t.pid) - cpu0
        out[t.name] = result.as_dict()
        await asyncio.sleep(0.5)  # let connections from the last run close before the next
    return out


async def paced_c1(plan: Plan, targets: list[Target], route: str) -> dict[str, Any]:
    """Paced streams one after another: per-event transit time and how much each gap grows."""
    out: dict[str, Any] = {"deltas": plan.paced_deltas, "gap_ms": plan.paced_gap_ms}
    for t in targets:
        url, body = t.request(route, stream=True)
        traces: list[StreamTrace] = []
        for _ in range(plan.paced_c1):
            traces += await paced_streams(url, body, t.all_headers(), 1, plan.paced_deltas, 0.0, 60.0)
        out[t.name] = PacedSummary.of(traces, plan.paced_deltas, plan.paced_gap_ms).as_dict()
    return out


async def paced_ramp(plan: Plan, targets: list[Target]) -> dict[str, Any]:
    """More and more concurrent paced streams, until one stalls (a gap > 2x the upstream's) or fails."""
    spread = 0.5  # streams start evenly over half a second, not in one burst
    out: dict[str, Any] = {"levels": list(plan.levels), "start_spread_s": spread}
    for t in targets:
        url, body = t.request("paced", stream=True)
        levels: dict[str, Any] = {}
        held = 0
        for n in plan.levels:
            traces = await paced_streams(url, body, t.all_headers(), n, plan.paced_deltas, spread, 60.0)
            summary = PacedSummary.of(traces, plan.paced_deltas, plan.paced_gap_ms)
            levels[str(n)] = summary.as_dict()
            await asyncio.sleep(1.0)
            if not summary.held:
                break
            held = n
        out[t.name] = {"held": held, "levels": levels}
    return out


async def memory(plan: Plan, target: Target, cores: Cores, workdir: Path, rps: float) -> dict[str, Any]:
    """Ferryman's RSS after each fifth of ``plan.memory_requests`` JSON requests at c=50, then after idling."""
    url, body = target.request("fast", stream=False)
    segment = max(1.0, plan.memory_requests / 5 / max(rps, 1.0))
    samples, done = [], 0
    for _ in range(5):
        if plan.use_wrk:
            result = parse_wrk(await run_wrk(url, body, target.all_headers(), 50, segment, workdir, cores.load))
        else:
            result = await closed_loop(url, body, target.all_headers(), 50, segment)
        done += result.requests
        samples.append({"requests": done, "rss_mib": round(rss_mib(target.pid), 1)})
    await asyncio.sleep(2.0)
    return {"samples": samples, "after_idle_mib": round(rss_mib(target.pid), 1)}


# ---- the whole run -------------------------------------------------------------------------------


async def step(label: str, measurement: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    print(f"measuring {label} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = await measurement
    print(f"  ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return result


def upstream_command(plan: Plan, port: int) -> list[str]:
    cmd = [sys.executable, str(BENCH / "upstream.py"), "--host", HOST, "--port", str(port)]
    cmd += ["--latency-ms", str(plan.latency_ms), "--deltas", str(plan.deltas)]
    cmd += ["--delta-gap-ms", str(plan.delta_gap_ms), "--slow-ms", str(plan.slow_ms)]
    cmd += ["--paced-deltas", str(plan.paced_deltas), "--paced-gap-ms", str(plan.paced_gap_ms)]
    return cmd


def ferryman_command(plan: Plan, workdir: Path, upstream: int | None, port: int, workers: int) -> list[str]:
    """``ferryman serve`` in front of the fake upstream, or (``upstream`` None) with the mock provider alone."""
    if upstream is None:
        config = mock_config(workdir, store=plan.store)
    else:
        config = ferryman_config(workdir, upstream, store=plan.store, chat_type=plan.chat_provider)
    cmd = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--host", HOST]
    return cmd + ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]


def litellm_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", DISABLE_SCHEMA_UPDATE="True")
    env.pop("DATABASE_URL", None)
    return env


async def measure(plan: Plan, cores: Cores, workdir: Path) -> dict[str, Any]:
    ports = {name: free_port() for name in ("upstream", "ferryman", "litellm", "nginx")}
    base = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
    results: dict[str, Any] = {"meta": meta(plan, cores)}
    with ExitStack() as stack:
        up_log = workdir / "upstream.log"
        upstream = stack.enter_context(
            process(pinned(upstream_command(plan, ports["upstream"]), cores.load), up_log, workdir)
        )
        fm_log = workdir / "ferryman.log"
        fm_cmd = ferryman_command(plan, workdir, ports["upstream"], ports["ferryman"], plan.workers)
        ferryman = stack.enter_context(process(pinned(fm_cmd, cores.gateway), fm_log, workdir))
        await wait_ready(f"{base['upstream']}/health", upstream, up_log)
        await wait_ready(f"{base['ferryman']}/health", ferryman, fm_log)
        await asyncio.sleep(1.0)
        results["ferryman_rss_idle_mib"] = round(rss_mib(ferryman.pid), 1)
        targets = [Target("direct", base["upstream"], upstream.pid)]
        if plan.nginx:
            assert NGINX is not None
            conf = nginx_config(workdir, ports["upstream"], ports["nginx"])
            nginx_cmd = [NGINX, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"]
            nginx = stack.enter_context(process(pinned(nginx_cmd, cores.gateway), workdir / "nginx.log", workdir))
            await wait_ready(f"{base['nginx']}/health", nginx, workdir / "nginx.log")
            targets.append(Target("nginx", base["nginx"], nginx.pid))
        targets.append(Target("ferryman", base["ferryman"], ferryman.pid))
        if plan.litellm:
            cmd = litellm_command()
            assert cmd is not None
            cmd += ["--config", str(litellm_config(workdir, ports["upstream"])), "--host", HOST]
            cmd += ["--port", str(ports["litellm"]), "--num_workers", "1"]
            ll_log = workdir / "litellm.log"
            litellm = stack.enter_context(process(pinned(cmd, cores.gateway), ll_log, workdir, env=litellm_env()))
            await wait_ready(f"{base['litellm']}/health/liveliness", litellm, ll_log, timeout=120)
            targets.append(Target("litellm", base["litellm"], litellm.pid, {"authorization": f"Bearer {LITELLM_KEY}"}))
        else:
            print("LiteLLM proxy is not installed: pip install -e '.[bench]' to compare with it", file=sys.stderr)
        if not plan.nginx:
            print("nginx not found: no proxy_pass floor in the table (apt-get install nginx-light)", file=sys.stderr)
        gateways = [t for t in targets if t.gateway]
        for t in gateways:
            for route in ("fast", "claude"):
                await check_gateway(t, route)
        fm = next(t for t in targets if t.name == "ferryman")
        translated = [targets[0], *gateways]  # nginx forwards bytes: translating is a gateway's job

        audit = CpuAudit([t.pid for t in targets])
        audit.start()
        results["json_c1"] = await step("non-stream, concurrency 1", sequential(plan, targets, "fast", stream=False))
        results["stream_c1"] = await step("stream, concurrency 1", sequential(plan, targets, "fast", stream=True))
        for c in plan.concurrency:
            results[f"json_c{c}"] = await step(
                f"non-stream, concurrency {c}", load(plan, targets, "fast", cores, workdir, stream=False, concurrency=c)
            )
        c = plan.concurrency[0]
        results[f"stream_c{c}"] = await step(
            f"stream, concurrency {c}", load(plan, targets, "fast", cores, workdir, stream=True, concurrency=c)
        )
        results["sustained"] = await step(
            f"sustained, {plan.slow_ms:g} ms upstream, concurrency {plan.sustained_concurrency}",
            load(plan, targets, "slow", cores, workdir, stream=False, concurrency=plan.sustained_concurrency),
        )
        results["anthropic_json_c1"] = await step(
            "Anthropic, non-stream, concurrency 1", sequential(plan, translated, "claude", stream=False)
        )
        results["anthropic_stream_c1"] = await step(
            "Anthropic, stream, concurrency 1", sequential(plan, translated, "claude", stream=True)
        )
        results[f"anthropic_json_c{c}"] = await step(
            f"Anthropic, non-stream, concurrency {c}",
            load(plan, translated, "claude", cores, workdir, stream=False, concurrency=c),
        )
        results["paced_c1"] = await step(
            f"paced streams ({plan.paced_deltas} deltas {plan.paced_gap_ms:g} ms apart), one at a time",
            paced_c1(plan, targets, "paced"),
        )
        results["anthropic_paced_c1"] = await step(
            "paced Anthropic streams, one at a time", paced_c1(plan, translated, "claude-paced")
        )
        results["paced_ramp"] = await step(
            f"concurrent paced streams ({', '.join(map(str, plan.levels))})",
            paced_ramp(plan, [t for t in targets if t.name != "nginx"]),
        )
        results["interference"] = audit.result()
        results["rss_after_run_mib"] = {t.name: round(rss_mib(t.pid), 1) for t in targets}
        rps = results[f"json_c{c}"]["ferryman"]["rps"]
        results["memory"] = await step(
            f"memory over {plan.memory_requests:,} requests", memory(plan, fm, cores, workdir, rps)
        )
    return results


async def scaling(plan: Plan, workdir: Path) -> dict[str, Any]:
    """Ferryman's JSON req/s at the first concurrency with 1..cpus workers, nothing pinned."""
    out: dict[str, Any] = {"concurrency": plan.concurrency[-1], "duration_s": plan.duration, "workers": {}}
    up_port = free_port()
    no_pin = Cores(None, None)
    with process(upstream_command(plan, up_port), workdir / "upstream.log", workdir) as upstream:
        await wait_ready(f"http://{HOST}:{up_port}/health", upstream, workdir / "upstream.log")
        for workers in range(1, len(os.sched_getaffinity(0)) + 1):
            port = free_port()
            cmd = ferryman_command(plan, workdir, up_port, port, workers)
            log = workdir / f"ferryman-{workers}w.log"
            with process(cmd, log, workdir) as ferryman:
                await wait_ready(f"http://{HOST}:{port}/health", ferryman, log)
                await asyncio.sleep(1.0)
                target = Target("ferryman", f"http://{HOST}:{port}", ferryman.pid)
                result = await step(
                    f"{workers} worker(s)",
                    load(plan, [target], "fast", no_pin, workdir, stream=False, concurrency=plan.concurrency[-1]),
                )
                out["workers"][str(workers)] = result["ferryman"]
    return out


async def mock_only(plan: Plan, cores: Cores, workdir: Path) -> dict[str, Any]:
    """Ferryman answering from its mock provider: the whole request path but the upstream call, nothing else running."""
    results: dict[str, Any] = {"meta": meta(plan, cores)}
    results["meta"]["upstream"] = "none: the mock provider answers inside Ferryman"
    port = free_port()
    log = workdir / "ferryman-mock.log"
    with process(pinned(ferryman_command(plan, workdir, None, port, plan.workers), cores.gateway), log, workdir) as fm:
        await wait_ready(f"http://{HOST}:{port}/health", fm, log)
        target = Target("ferryman", f"http://{HOST}:{port}", fm.pid)
        await check_gateway(target, "fast")
        results["json_c1"] = await step("non-stream, concurrency 1", sequential(plan, [target], "fast", stream=False))
        results["stream_c1"] = await step("stream, concurrency 1", sequential(plan, [target], "fast", stream=True))
        for c in plan.concurrency:
            for kind, stream in (("json", False), ("stream", True)):
                run = load(plan, [target], "fast", cores, workdir, stream=stream, concurrency=c)
                results[f"{kind}_c{c}"] = await step(f"{kind}, concurrency {c}", run)
        results["rss_after_run_mib"] = round(rss_mib(fm.pid), 1)
    return results


class Unavailable(Exception):
    """A peer that cannot be installed, started or checked: the run goes on without it."""


async def start_peer(name: str, stack: ExitStack, plan: Plan, cores: Cores, workdir: Path, upstream: int) -> Target:
    """Start one Chat Completions peer on the gateway core and check it relays; Unavailable says why not."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    log = workdir / f"{name}.log"
    with ExitStack() as own:  # stopped at once if it fails here, else handed to ``stack``
        if name == "nginx":
            if NGINX is None:
                raise Unavailable("nginx not found (apt-get install nginx-light)")
            conf = nginx_config(workdir, upstream, port)
            cmd = [NGINX, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"]
            proc = own.enter_context(process(pinned(cmd, cores.gateway), log, workdir))
            await wait_ready(f"{base}/health", proc, log)
            target = Target(name, base, proc.pid)
        elif name == "tensorzero":
            missing = tensorzero_missing()
            if missing:
                raise Unavailable(missing)
            config = tensorzero_config(workdir, upstream, {"chat": ""})
            url_file = workdir / "tensorzero.url"
            cmd = pinned(tensorzero_command(config, url_file), cores.gateway)
            proc = own.enter_context(process(cmd, log, workdir, env=tensorzero_env()))
            url = await wait_url_file(url_file, proc, log)
            root, path = url.removesuffix("/openai/v1"), "/openai/v1/chat/completions"
            target = Target(name, root, proc.pid, chat_path=path, chat_model="tensorzero::model_name::{route}")
        elif name == "portkey":
            reason = portkey_install(workdir / "portkey-install.log")
            if reason:
                raise Unavailable(reason)
            cmd = pinned(portkey_command(port), cores.gateway)
            proc = own.enter_context(process(cmd, log, workdir, env=portkey_env()))
            await wait_ready(f"{base}/", proc, log)
            target = Target(name, base, proc.pid, portkey_headers(upstream), chat_model=UPSTREAM_MODEL)
        elif name == "litellm":
            cmd = litellm_command()
            if cmd is None:
                raise Unavailable("LiteLLM proxy is not installed: pip install -e '.[bench]'")
            cmd += ["--config", str(litellm_config(workdir, upstream)), "--host", HOST]
            cmd += ["--port", str(port), "--num_workers", "1"]
            proc = own.enter_context(process(pinned(cmd, cores.gateway), log, workdir, env=litellm_env()))
            await wait_ready(f"{base}/health/liveliness", proc, log, timeout=120)
            target = Target(name, base, proc.pid, {"authorization": f"Bearer {LITELLM_KEY}"})
        else:
            raise ValueError(name)
        if target.gateway:
            await check_gateway(target, "chat")
        stack.enter_context(own.pop_all())
    return target


def left_out(name: str) -> str:
    """Why a peer the plan leaves out is not there."""
    if name == "nginx" and NGINX is None:
        return "nginx not found (apt-get install nginx-light)"
    if name == "litellm" and litellm_command() is None:
        return "LiteLLM proxy is not installed: pip install -e '.[bench]'"
    return f"left out (--no-{name})"


async def chat_only(plan: Plan, cores: Cores, workdir: Path) -> dict[str, Any]:
    """Every gateway over ``POST /v1/chat/completions`` against the upstream's Chat Completions: Ferryman's
    Chat Completions door beside TensorZero, Portkey and LiteLLM proxy (each when it can run here)."""
    results: dict[str, Any] = {"meta": meta(plan, cores)}
    results["meta"] |= {"api": "chat", "chat_provider": plan.chat_provider}
    ports = {name: free_port() for name in ("upstream", "ferryman")}
    skipped: dict[str, str] = {}
    with ExitStack() as stack:
        up_log = workdir / "upstream.log"
        up_cmd = pinned(upstream_command(plan, ports["upstream"]), cores.load)
        upstream = stack.enter_context(process(up_cmd, up_log, workdir))
        fm_cmd = ferryman_command(plan, workdir, ports["upstream"], ports["ferryman"], plan.workers)
        fm_log = workdir / "ferryman.log"
        ferryman = stack.enter_context(process(pinned(fm_cmd, cores.gateway), fm_log, workdir))
        await wait_ready(f"http://{HOST}:{ports['upstream']}/health", upstream, up_log)
        await wait_ready(f"http://{HOST}:{ports['ferryman']}/health", ferryman, fm_log)
        fm = Target("ferryman", f"http://{HOST}:{ports['ferryman']}", ferryman.pid)
        await check_gateway(fm, "chat")
        targets = [Target("direct", f"http://{HOST}:{ports['upstream']}", upstream.pid), fm]
        if plan.store:  # the same gateway without its store, started only beside one with it
            lean = replace(plan, store=False)
            port, home = free_port(), workdir / "nostore"
            home.mkdir(exist_ok=True)
            cmd = pinned(ferryman_command(lean, home, ports["upstream"], port, plan.workers), cores.gateway)
            log = workdir / "ferryman-nostore.log"
            proc = stack.enter_context(process(cmd, log, home))
            await wait_ready(f"http://{HOST}:{port}/health", proc, log)
            targets.append(Target(NOSTORE, f"http://{HOST}:{port}", proc.pid))
            await check_gateway(targets[-1], "chat")
        wanted = {"nginx": plan.nginx, "tensorzero": plan.tensorzero, "portkey": plan.portkey}
        wanted["litellm"] = plan.litellm
        for name, on in wanted.items():
            if not on:
                skipped[name] = left_out(name)
                continue
            try:
                targets.append(await start_peer(name, stack, plan, cores, workdir, ports["upstream"]))
            except (Unavailable, RuntimeError, OSError) as exc:
                skipped[name] = str(exc)
                print(f"{name} skipped: {exc}", file=sys.stderr, flush=True)
        targets.sort(key=lambda t: COLUMNS.index(t.name))
        await asyncio.sleep(1.0)
        results["rss_idle_mib"] = {t.name: round(rss_mib(t.pid), 1) for t in targets}
        results["skipped"] = skipped

        audit = CpuAudit([t.pid for t in targets])
        audit.start()
        results["json_c1"] = await step(
            "chat, non-stream, concurrency 1", sequential(plan, targets, "chat", stream=False)
        )
        results["stream_c1"] = await step("chat, stream, concurrency 1", sequential(plan, targets, "chat", stream=True))
        for c in plan.concurrency:
            run = load(plan, targets, "chat", cores, workdir, stream=False, concurrency=c)
            results[f"json_c{c}"] = await step(f"chat, non-stream, concurrency {c}", run)
        c = plan.concurrency[0]
        run = load(plan, targets, "chat", cores, workdir, stream=True, concurrency=c)
        results[f"stream_c{c}"] = await step(f"chat, stream, concurrency {c}", run)
        results["interference"] = audit.result()
        results["rss_after_run_mib"] = {t.name: round(rss_mib(t.pid), 1) for t in targets}
    return results


# ---- report --------------------------------------------------------------------------------------

COLUMNS = ("direct", "nginx", "ferryman", "fm-nostore", "tensorzero", "portkey", "litellm")
# --api chat: Ferryman as configured (its default store: the request log on) and, beside it, with ``store: false``
# (no request log, no stored responses; metrics on), as TensorZero runs here with its observability off
NOSTORE = "fm-nostore"


@dataclass
class Row:
    label: str
    values: dict[str, float]
    kind: str  # "ms": latency, lower is better; "rate": higher is better; "plain": no ratios
    fmt: str = "{:.3f}"


def fmt(value: float | None, pattern: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return pattern.format(value)


def ratio_cells(row: Row) -> tuple[str, str, str]:
    """(ferryman added, ferryman/direct, litellm/ferryman): for latency the last compares what each adds."""
    v = row.values
    d, f, lite = v.get("direct"), v.get("ferryman"), v.get("litellm")
    if row.kind == "plain" or d is None or f is None:
        return "", "", ""
    if row.kind == "ms":
        added = f - d
        lf = "" if lite is None or added <= 0 else f"{(lite - d) / added:.0f}x"
        return f"{added:+.3f}", f"{f / d:.1f}x" if d else "", lf
    lf = "" if lite is None or not f else f"{lite / f:.4f}" if lite / f < 0.01 else f"{lite / f:.3f}"
    return "", f"{f / d:.1%}" if d else "", lf


def latency_rows(label: str, section: dict[str, Any], key: str) -> list[Row]:
    """p50, p90 and p99 of a c=1 measurement, one row each."""
    out = []
    for p in ("p50", "p90", "p99"):
        values = {n: section[n][key][p] for n in COLUMNS if n in section}
        out.append(Row(f"{label} {p} (ms)", values, "ms"))
    return out


def load_rows(label: str, section: dict[str, Any]) -> list[Row]:
    """A throughput run: req/s, its latency percentiles, the server's CPU per request, errors if any."""
    names = [n for n in COLUMNS if n in section]
    out = [Row(f"{label} req/s", {n: section[n]["rps"] for n in names}, "rate", "{:,.0f}")]
    served = [n for n in names if section[n]["requests"]]  # none completed: no latency, no CPU per request
    for p in ("p50", "p90", "p99"):
        out.append(Row(f"{label} {p} (ms)", {n: section[n][f"{p}_ms"] for n in served}, "ms", "{:.2f}"))
    cpu = {n: section[n]["cpu_us_per_request"] for n in served}
    out.append(Row(f"{label} server CPU per request (us)", cpu, "plain", "{:,.0f}"))
    errors = {n: section[n]["errors"] for n in names}
    if any(errors.values()):
        out.append(Row(f"{label} errors", errors, "plain", "{:,}"))
    return out


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []

    def latency(label: str, section: dict[str, Any], key: str) -> None:
        out.extend(latency_rows(label, section, key))

    def load(label: str, section: dict[str, Any]) -> None:
        out.extend(load_rows(label, section))

    def paced(label: str, section: dict[str, Any]) -> None:
        names = [n for n in COLUMNS if n in section]
        out.append(Row(f"{label} event transit p50 (ms)", {n: section[n]["transit_ms"]["p50"] for n in names}, "ms"))
        out.append(Row(f"{label} event transit p99 (ms)", {n: section[n]["transit_ms"]["p99"] for n in names}, "ms"))
        out.append(Row(f"{label} gap growth p99 (ms)", {n: section[n]["jitter_ms"]["p99"] for n in names}, "ms"))

    latency("json c=1", results["json_c1"], "ms")
    for c in results["meta"]["concurrency"]:
        load(f"json c={c}", results[f"json_c{c}"])
    latency("stream c=1 first event", results["stream_c1"], "first_event_ms")
    latency("stream c=1 whole stream", results["stream_c1"], "whole_ms")
    c = results["meta"]["concurrency"][0]
    load(f"stream c={c}", results[f"stream_c{c}"])
    s = results["sustained"]
    load(f"sustained {results['meta']['upstream']['slow_ms']:g} ms upstream c={s['concurrency']}", s)
    paced("paced stream c=1", results["paced_c1"])
    ramp = results["paced_ramp"]
    out.append(
        Row("paced streams held without a stall", {n: ramp[n]["held"] for n in COLUMNS if n in ramp}, "plain", "{:,}")
    )
    for level in results["meta"]["levels"]:
        key = str(level)
        have = {n: ramp[n]["levels"][key] for n in COLUMNS if n in ramp and key in ramp[n]["levels"]}
        if have:
            out.append(
                Row(f"paced c={level} gap growth p99 (ms)", {n: v["jitter_ms"]["p99"] for n, v in have.items()}, "ms")
            )
    latency("anthropic json c=1", results["anthropic_json_c1"], "ms")
    latency("anthropic stream c=1 first event", results["anthropic_stream_c1"], "first_event_ms")
    load(f"anthropic json c={c}", results[f"anthropic_json_c{c}"])
    paced("anthropic paced c=1", results["anthropic_paced_c1"])
    out.append(Row("RSS after the run (MiB)", results["rss_after_run_mib"], "plain", "{:.1f}"))
    return out


def table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    all_rows = rows(results)
    present = [n for n in COLUMNS if any(n in r.values for r in all_rows)]
    width = max(len(r.label) for r in all_rows)
    head = f"{'':<{width}}" + "".join(f"  {n:>9}" for n in present)
    head += f"  {'+ferryman':>9}  {'F/direct':>8}  {'L/F':>7}"
    lines = [*heading(meta, "Ferryman overhead"), "", head]
    for r in all_rows:
        cells = "".join(f"  {fmt(r.values.get(n), r.fmt):>9}" for n in present)
        added, fd, lf = ratio_cells(r)
        lines.append(f"{r.label:<{width}}{cells}  {added:>9}  {fd:>8}  {lf:>7}")
    lines += [
        "",
        "+ferryman: what Ferryman adds (ms). F/direct: Ferryman over direct (latency: times; req/s: share).",
        "L/F: latency rows, what LiteLLM adds over what Ferryman adds; req/s rows, LiteLLM's req/s over Ferryman's.",
    ]
    mem = results.get("memory")
    if mem:
        series = ", ".join(f"{s['requests'] // 1000}k: {s['rss_mib']:.1f}" for s in mem["samples"])
        lines.append(
            f"Ferryman RSS (MiB): idle {results['ferryman_rss_idle_mib']:.1f}; during {series}; "
            f"idle again {mem['after_idle_mib']:.1f}"
        )
    lines += interference_lines(results, "these numbers are disturbed. Run again when it is idle.")
    return "\n".join(lines)


def heading(meta: dict[str, Any], title: str, settings: str = "") -> list[str]:
    """The machine, the pinning, Ferryman's settings and the commit, above a table."""
    return [
        f"{title}: {meta['cpus']} cores ({meta['cpu_model']}), {meta['pinning']}",
        f"ferryman workers={meta['workers']}, store: {meta['store']}, {settings}load generator: "
        f"{meta['load_generator']}, commit {meta['commit']}",
    ]


def interference_lines(results: dict[str, Any], advice: str) -> list[str]:
    """How much CPU other processes took during the run, and a warning (with ``advice``) past 5% of a core."""
    other = results["interference"]
    share = other["other_cpu_s"] / other["wall_s"]
    lines = [
        f"other processes used {other['other_cpu_s']:.1f} CPU-s in {other['wall_s']:.0f} s ({share:.0%} of a core)"
    ]
    if share > 0.05:
        lines.append(f"WARNING: the machine was not quiet; {advice}")
    return lines


PEER = "tensorzero"  # the peer the Chat Completions target is set against


def chat_table(results: dict[str, Any]) -> str:
    """Every target's numbers, then what each gateway adds over direct, and Ferryman against the peer."""
    meta = results["meta"]
    c = meta["concurrency"][0]
    all_rows = latency_rows("json c=1", results["json_c1"], "ms")
    for n in meta["concurrency"]:
        all_rows += load_rows(f"json c={n}", results[f"json_c{n}"])
    all_rows += latency_rows("stream c=1 first event", results["stream_c1"], "first_event_ms")
    all_rows += latency_rows("stream c=1 whole stream", results["stream_c1"], "whole_ms")
    all_rows += load_rows(f"stream c={c}", results[f"stream_c{c}"])
    all_rows.append(Row("RSS idle, after one check (MiB)", results["rss_idle_mib"], "plain", "{:.1f}"))
    all_rows.append(Row("RSS after the run (MiB)", results["rss_after_run_mib"], "plain", "{:.1f}"))
    present = [n for n in COLUMNS if any(n in r.values for r in all_rows)]
    gateways = [n for n in present if n != "direct"]
    width = max(len(r.label) for r in all_rows)
    head = f"{'':<{width}}" + "".join(f"  {n:>10}" for n in present)
    head += "".join(f"  {'+' + n:>11}" for n in gateways) + f"  {'F/' + PEER[:1].upper():>6}"
    lines = [
        *heading(meta, "Chat Completions (POST /v1/chat/completions)", f"provider: {meta['chat_provider']}, "),
        "",
        head,
    ]
    for r in all_rows:
        cells = "".join(f"  {fmt(r.values.get(n), r.fmt):>10}" for n in present)
        d, f, t = r.values.get("direct"), r.values.get("ferryman"), r.values.get(PEER)
        added = ""
        if r.kind == "ms" and d is not None:
            added = "".join(f"  {'' if r.values.get(n) is None else f'{r.values[n] - d:+.3f}':>11}" for n in gateways)
        elif gateways:
            added = "".join(f"  {'':>11}" for _ in gateways)
        versus = ""
        if f is not None and t is not None and d is not None and r.kind != "plain":
            if r.kind == "ms" and t - d > 0:
                versus = f"{(f - d) / (t - d):.2f}"
            elif r.kind == "rate" and t:
                versus = f"{f / t:.2f}"
        lines.append(f"{r.label:<{width}}{cells}{added}  {versus:>6}")
    lines += [
        "",
        f"+name: what that gateway adds over direct (ms). F/{PEER[:1].upper()}: latency rows, what Ferryman adds over "
        f"what {PEER} adds (below 1: Ferryman adds less); req/s rows, Ferryman's req/s over {PEER}'s.",
    ]
    lines += [f"skipped {name}: {why.splitlines()[0] if why else ''}" for name, why in results["skipped"].items()]
    lines += chat_verdict(results)
    lines += interference_lines(results, "compare within this run (ratios), not across runs.")
    return "\n".join(lines)


def chat_verdict(results: dict[str, Any]) -> list[str]:
    """The Chat Completions targets: Ferryman adds no more than the peer at c=1, serves at least its req/s
    at the first concurrency, and adds under 0.5 ms to a stream's first event."""
    c = results["meta"]["concurrency"][0]
    json_c1, first = results["json_c1"], results["stream_c1"]

    def added(section: dict[str, Any], name: str, key: str) -> float:
        return float(section[name][key]["p50"] - section["direct"][key]["p50"])

    ttfb = added(first, "ferryman", "first_event_ms")
    lines = [f"target: stream first event added p50 +{ttfb:.3f} ms (< 0.5 ms: {'met' if ttfb < 0.5 else 'not met'})"]
    if PEER not in json_c1:
        return lines
    for name in ("ferryman", NOSTORE):
        if name not in json_c1:
            continue
        f, t = added(json_c1, name, "ms"), added(json_c1, PEER, "ms")
        lines.append(
            f"target ({name}): json c=1 added p50 +{f:.3f} ms vs {PEER} +{t:.3f} ms ({'met' if f <= t else 'not met'})"
        )
        fr, tr = results[f"json_c{c}"][name]["rps"], results[f"json_c{c}"][PEER]["rps"]
        lines.append(
            f"target ({name}): json c={c} {fr:,.0f} req/s vs {PEER} {tr:,.0f} ({'met' if fr >= tr else 'not met'})"
        )
    return lines


def scaling_table(results: dict[str, Any]) -> str:
    s = results["scaling"]
    lines = [f"Ferryman JSON req/s at c={s['concurrency']}, nothing pinned (upstream and wrk share the cores):"]
    one = s["workers"]["1"]["rps"]
    for workers, r in s["workers"].items():
        lines.append(
            f"  {workers} worker(s): {r['rps']:>9,.0f} req/s  ({r['rps'] / one:.2f}x)  p99 {r['p99_ms']:.2f} ms"
        )
    return "\n".join(lines)


def mock_table(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "Ferryman alone, answered by its built-in mock provider (no upstream process, nothing to compare with):",
        f"{meta['cpus']} cores ({meta['cpu_model']}), {meta['pinning']}; workers={meta['workers']}, "
        f"store: {meta['store']}, load generator: {meta['load_generator']}, commit {meta['commit']}",
        "",
    ]
    for kind, label in (("json", "ms"), ("stream", "whole_ms")):
        p = results[f"{kind}_c1"]["ferryman"][label]
        lines.append(f"  {kind} c=1 (ms): p50 {p['p50']:.3f}  p90 {p['p90']:.3f}  p99 {p['p99']:.3f}")
    for c in meta["concurrency"]:
        for kind in ("json", "stream"):
            r = results[f"{kind}_c{c}"]["ferryman"]
            lines.append(
                f"  {kind} c={c}: {r['rps']:,.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                f"errors {r['errors']}"
            )
    lines.append(f"  RSS after the run: {results['rss_after_run_mib']:.1f} MiB")
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
        f"servers under test on core {cores.gateway}, upstream + load generators on core {cores.load}"
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
        "concurrency": list(plan.concurrency),
        "levels": list(plan.levels),
        "upstream": {
            "latency_ms": plan.latency_ms,
            "deltas": plan.deltas,
            "delta_gap_ms": plan.delta_gap_ms,
            "slow_ms": plan.slow_ms,
            "paced_deltas": plan.paced_deltas,
            "paced_gap_ms": plan.paced_gap_ms,
        },
    }


# ---- main ----------------------------------------------------------------------------------------


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: the subprocesses are stopped on the way out


def raise_fd_limit() -> None:
    """Hundreds of concurrent streams need two sockets each in the gateway: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every server started here


def main(argv: list[str] | None = None) -> int:
    plan = parse_args(argv)
    signal.signal(signal.SIGINT, interrupt)  # also when started in the background, where SIGINT is ignored
    signal.signal(signal.SIGTERM, interrupt)
    raise_fd_limit()
    cores = Cores.detect()
    if cores.load is not None and not plan.scaling:
        os.sched_setaffinity(0, {cores.load})  # this process is the sequential and paced load generator
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferryman-bench-") as tmp:
        try:
            if plan.scaling:
                results = {"meta": meta(plan, Cores(None, None))}
                results["scaling"] = uvloop.run(scaling(plan, Path(tmp)))
            elif plan.mock:
                results = uvloop.run(mock_only(plan, cores, Path(tmp)))
            elif plan.api == "chat":
                results = uvloop.run(chat_only(plan, cores, Path(tmp)))
            else:
                results = uvloop.run(measure(plan, cores, Path(tmp)))
        finally:
            for log in Path(tmp).glob("*.log"):  # kept beside the results, for a look when numbers are odd
                shutil.copyfile(log, plan.output.parent / log.name)
    report = scaling_table if plan.scaling else mock_table if plan.mock else chat_table if plan.api == "chat" else table
    print(report(results))
    special = "scaling" if plan.scaling else "mock" if plan.mock else "chat" if plan.api == "chat" else None
    output = plan.output.with_name(f"{special}.json") if special and plan.output.name == "latest.json" else plan.output
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: stopped every server this run started", file=sys.stderr)
        sys.exit(130)
