"""A/B of Ferryman configurations on the same fake upstream: what a setting or a feature costs.

    python bench/variants.py store-sync [--rounds 3] [--requests 1000] [--duration 5] [--concurrency 50]
    python bench/variants.py features   [...]
    python bench/variants.py each-feature [...]
    python bench/variants.py checkouts --src a=/path/to/old/src --src b=src [--door chat] [--config bare|default]
                                       [--stream]

``store-sync``: ``store.sync: after_reply`` against ``before_reply`` (the reply waits for the SQLite
commit). ``features``: ``bare`` (no governance, request log and metrics off) against ``full``
(governance with a virtual key that has a budget and rpm/tpm limits, the request log and Prometheus
metrics on), both with the default SQLite store. ``checkouts``: the same config run from two source trees
(``--src a=DIR --src b=DIR``, each Ferryman started with that ``PYTHONPATH``): a before/after of a change.
``--config default`` runs ``checkouts`` with the default config instead of ``bare`` (its default): the request
log with content and Prometheus metrics on, and the console at ``info``, one line per request (written to the
run's log file), as ``ferryman serve`` runs out of the box; the other comparisons keep their console at
``warning``. ``--door chat`` sends Chat Completions requests (``POST /v1/chat/completions``, the upstream's own Chat
Completions for direct) instead of Responses requests. ``--stream`` sends streams instead of JSON requests
(``"stream": true``; on the chat door also ``"stream_options": {"include_usage": true}``, as a client that
counts tokens asks): the c=1 figures are then the time to the first complete SSE event minus direct's, and
wrk's req/s and CPU µs/req are per stream (each read to its end).

Starts the fake upstream (core 1) and one Ferryman per variant (both on core 0, measured in turn), then
alternates the variants round by round: JSON requests one at a time on a keep-alive connection (their
p50 and p99 minus direct's: what Ferryman adds), and wrk at ``--concurrency`` connections (req/s, p99).
Each figure is the median over the rounds. About a minute with the defaults; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadgen import WRK, closed_loop, parse_wrk, percentile, run_wrk, sequential_json, sequential_stream, session
from servers import BENCH, HOST, MODEL, UPSTREAM_MODEL, Cores, ferryman_config, free_port, pinned, process, wait_ready

MASTER = "sk-bench-master-key-0123456789"
# variant -> what it adds to bench/run.py's config
COMPARISONS: dict[str, dict[str, str]] = {
    "store-sync": {
        "after_reply": "store: {{url: 'sqlite:///{workdir}/ferryman.db', sync: after_reply}}\n",
        "before_reply": "store: {{url: 'sqlite:///{workdir}/ferryman.db', sync: before_reply}}\n",
    },
    "features": {
        "bare": "store: 'sqlite:///{workdir}/ferryman.db'\nlogs: false\nmetrics: false\n",
        "full": f"store: 'sqlite:///{{workdir}}/ferryman.db'\ngovernance: {{{{master_key: {MASTER}}}}}\n",
    },
    "each-feature": {  # what each of the ``full`` features costs on its own
        "bare": "store: 'sqlite:///{workdir}/ferryman.db'\nlogs: false\nmetrics: false\n",
        "metrics": "store: 'sqlite:///{workdir}/ferryman.db'\nlogs: false\n",
        "log": "store: 'sqlite:///{workdir}/ferryman.db'\nmetrics: false\n",
        "governance": f"store: 'sqlite:///{{workdir}}/ferryman.db'\nlogs: false\nmetrics: false\n"
        f"governance: {{{{master_key: {MASTER}}}}}\n",
    },
    "checkouts": {  # the same config from two source trees (--src); --config says which (CONFIGS)
        "a": "{config}",
        "b": "{config}",
    },
}
# --config: checkouts' config and its console level
CONFIGS = {
    "bare": ("store: 'sqlite:///{workdir}/ferryman.db'\nlogs: false\nmetrics: false\n", "warning"),
    "default": ("store: 'sqlite:///{workdir}/ferryman.db'\n", "info"),
}
# door -> (path, the body for a model)
DOORS = {
    "responses": ("/v1/responses", lambda model: {"model": model, "input": "Say hello.", "max_output_tokens": 200}),
    "chat": (
        "/v1/chat/completions",
        lambda model: {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 200},
    ),
}
PATH, BODY, DIRECT_BODY = "/v1/responses", b"", b""
STREAM = False  # --stream: c=1 is then the time to the first event
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench-client"}


def _door(name: str, stream: bool) -> None:
    global PATH, BODY, DIRECT_BODY, STREAM
    path, make = DOORS[name]

    def body(model: str) -> bytes:
        out = make(model)
        if stream:
            out["stream"] = True
            if name == "chat":
                out["stream_options"] = {"include_usage": True}
        return json.dumps(out).encode()

    PATH, BODY, DIRECT_BODY, STREAM = path, body(MODEL), body(UPSTREAM_MODEL), stream


def _config(workdir: Path, upstream: int, extra: str) -> Path:
    """bench/run.py's Ferryman config (without its store line) plus the variant's lines."""
    workdir.mkdir()
    path = ferryman_config(workdir, upstream, store=False)
    base = path.read_text().replace("store: false\n", "")
    path.write_text(base + extra.format(workdir=workdir))
    return path


async def _headers(url: str, governed: bool) -> dict[str, str]:
    """The client's headers: with governance, a virtual key made for the run (a budget and limits it never
    reaches, so every check and charge runs)."""
    if not governed:
        return HEADERS
    body = {"name": "bench", "budget": {"max_usd": 1_000_000}, "limits": {"rpm": 10_000_000, "tpm": 10_000_000_000}}
    async with (
        session(1) as client,
        client.post(f"{url}/admin/keys", json=body, headers={"authorization": f"Bearer {MASTER}"}) as resp,
    ):
        assert resp.status == 201, await resp.text()
        key = (await resp.json())["key"]
    return {**HEADERS, "authorization": f"Bearer {key}"}


async def _c1(url: str, body: bytes, n: int, headers: dict[str, str] = HEADERS) -> tuple[float, float]:
    async with session(1) as client:
        if STREAM:
            latencies, _ = await sequential_stream(client, url, body, headers, n)
        else:
            latencies = await sequential_json(client, url, body, headers, n)
    return percentile(latencies, 50), percentile(latencies, 99)


def _cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, every thread) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _load(
    url: str, args: argparse.Namespace, workdir: Path, cores: Cores, headers: dict[str, str], pid: int
) -> tuple[float, float, float]:
    """req/s and p99 at ``--concurrency``, and the gateway's CPU time per request (microseconds): the figure
    that holds on a machine busy with other work, where req/s and latencies do not."""
    cpu0 = _cpu_seconds(pid)
    if WRK is not None:
        report = await run_wrk(url, BODY, headers, args.concurrency, args.duration, workdir, cores.load)
        result = parse_wrk(report)
    else:
        result = await closed_loop(url, BODY, headers, args.concurrency, args.duration)
    cpu = _cpu_seconds(pid) - cpu0
    return result.rps, result.p99_ms, cpu / max(1.0, result.rps * args.duration) * 1e6


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config_lines, level = CONFIGS[args.config] if args.comparison == "checkouts" else ("", "warning")
    variants = {mode: extra.replace("{config}", config_lines) for mode, extra in COMPARISONS[args.comparison].items()}
    modes = tuple(variants)
    cores = Cores.detect()
    up_port = free_port()
    ports = {mode: free_port() for mode in modes}
    upstream = pinned([sys.executable, str(BENCH / "upstream.py"), "--host", HOST, "--port", str(up_port)], cores.load)
    direct = f"http://{HOST}:{up_port}{PATH}"
    sources: dict[str, str] = args.sources
    samples: dict[str, dict[str, list[float]]] = {
        m: {"p50": [], "p99": [], "rps": [], "load_p99": [], "cpu_us": []} for m in modes
    }
    direct_p50: list[float] = []
    direct_p99: list[float] = []
    with contextlib.ExitStack() as running:
        running.enter_context(process(upstream, workdir / "upstream.log", workdir))
        procs = []
        for mode in modes:
            config = _config(workdir / mode, up_port, variants[mode])
            cmd = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--host", HOST]
            cmd += ["--port", str(ports[mode]), "--log-level", level]
            log = workdir / f"ferryman-{mode}.log"
            env = {**os.environ, "PYTHONPATH": sources[mode]} if mode in sources else None
            procs.append(running.enter_context(process(pinned(cmd, cores.gateway), log, workdir, env=env)))
        headers: dict[str, dict[str, str]] = {}
        for mode, proc in zip(modes, procs, strict=True):
            await wait_ready(f"http://{HOST}:{ports[mode]}/health", proc, workdir / f"ferryman-{mode}.log")
            headers[mode] = await _headers(f"http://{HOST}:{ports[mode]}", "governance" in variants[mode])
            await _c1(f"http://{HOST}:{ports[mode]}{PATH}", BODY, 300, headers[mode])  # warm-up
        await _c1(direct, DIRECT_BODY, 300)
        for r in range(args.rounds):
            p50, p99 = await _c1(direct, DIRECT_BODY, args.requests)
            direct_p50.append(p50)
            direct_p99.append(p99)
            for mode in modes if r % 2 == 0 else reversed(modes):
                url = f"http://{HOST}:{ports[mode]}{PATH}"
                p50, p99 = await _c1(url, BODY, args.requests, headers[mode])
                pid = procs[modes.index(mode)].pid
                rps, load_p99, cpu_us = await _load(url, args, workdir, cores, headers[mode], pid)
                measured = (("p50", p50), ("p99", p99), ("rps", rps), ("load_p99", load_p99), ("cpu_us", cpu_us))
                for key, value in measured:
                    samples[mode][key].append(value)
                await asyncio.sleep(0.5)  # let the last run's connections close
    median = statistics.median
    out: dict[str, Any] = {"direct": {"p50": median(direct_p50), "p99": median(direct_p99)}}
    for mode in modes:
        s = samples[mode]
        out[mode] = {
            "added_p50_ms": median(s["p50"]) - median(direct_p50),
            "added_p99_ms": median(s["p99"]) - median(direct_p99),
            "rps": median(s["rps"]),
            "load_p99_ms": median(s["load_p99"]),
            "cpu_us": median(s["cpu_us"]),
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="A/B of Ferryman configurations")
    parser.add_argument("comparison", choices=sorted(COMPARISONS), help="which variants to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="sequential JSON requests per round and mode")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each wrk run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--door", choices=sorted(DOORS), default="responses", help="the API the requests speak")
    parser.add_argument(
        "--config", choices=sorted(CONFIGS), default="bare", help="checkouts: bare (logs, metrics off) or default"
    )
    parser.add_argument("--src", action="append", default=[], help="MODE=DIR: run that mode from DIR's sources")
    parser.add_argument("--stream", action="store_true", help="streams: c=1 is the first event's time")
    args = parser.parse_args()
    _door(args.door, args.stream)
    args.sources = {mode: os.path.abspath(src) for mode, src in (entry.split("=", 1) for entry in args.src)}
    with tempfile.TemporaryDirectory(prefix="ferryman-variants-bench-") as tmp:
        results = asyncio.run(measure(args, Path(tmp)))
    c = args.concurrency
    what = "streams (first event)" if args.stream else "JSON requests"
    print(f"median of {args.rounds} rounds; c=1: {args.requests} {what}; c={c}: {args.duration:g} s of wrk")
    per = "stream" if args.stream else "req"
    print(
        f"{args.comparison:14s} {'c=1 +p50 ms':>12s} {'c=1 +p99 ms':>12s} {f'c={c} {per}/s':>12s}"
        f" {f'c={c} p99 ms':>12s} {f'CPU µs/{per}':>11s}"
    )
    for mode in COMPARISONS[args.comparison]:
        r = results[mode]
        c1 = f"{r['added_p50_ms']:+12.3f} {r['added_p99_ms']:+12.3f}"
        print(f"{mode:14s} {c1} {r['rps']:12,.0f} {r['load_p99_ms']:12.2f} {r['cpu_us']:11.0f}")
    print(f"direct c=1 p50 {results['direct']['p50']:.3f} ms, p99 {results['direct']['p99']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
