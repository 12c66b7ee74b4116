"""Cache benchmark: what a cache hit costs, and what the local embedding model costs per request.

    python bench/cache.py [--requests 500]

Starts the fake upstream and Ferryman with ``cache: {backend: memory, semantic: {embeddings: local}}``
(pinned like bench/run.py: gateway on core 0, the rest on core 1), then times sequential requests
(c=1, one keep-alive connection): direct to the upstream, cache misses (unique prompts: the call
upstream plus embedding and storing), exact hits, and semantic hits (a paraphrase). It also times the
local embedding model in process. Prints a table; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from servers import HOST, free_port, pinned, process, wait_ready

BENCH = Path(__file__).resolve().parent


def _body(model: str, text: str) -> dict[str, object]:
    return {"model": model, "input": text}


async def _timed(http: aiohttp.ClientSession, url: str, bodies: list[dict[str, object]]) -> list[float]:
    out = []
    for body in bodies:
        start = time.perf_counter()
        async with http.post(url, json=body) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        out.append((time.perf_counter() - start) * 1000)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(n: int, workdir: Path) -> dict[str, list[float]]:
    up_port, gw_port = free_port(), free_port()
    config = workdir / "ferryman.yaml"
    config.write_text(
        "store: false\n"
        "providers:\n"
        f"  openai: {{base_url: 'http://{HOST}:{up_port}/v1', keys: [{{value: sk-bench}}], max_retries: 0}}\n"
        "cache: {backend: memory, semantic: {threshold: 0.8, embeddings: local}}\n"
    )
    upstream = pinned([sys.executable, str(BENCH / "upstream.py"), "--port", str(up_port)], 1)
    gateway = pinned(
        [
            sys.executable,
            "-m",
            "ferryman",
            "serve",
            "--config",
            str(config),
            "--port",
            str(gw_port),
            "--log-level",
            "warning",
        ],
        0,
    )
    with (
        process(upstream, workdir / "upstream.log", workdir),
        process(gateway, workdir / "ferryman.log", workdir) as gw,
    ):
        await wait_ready(f"http://{HOST}:{gw_port}/health", gw, workdir / "ferryman.log")
        direct = f"http://{HOST}:{up_port}/v1/responses"
        through = f"http://{HOST}:{gw_port}/v1/responses"
        async with aiohttp.ClientSession() as http:
            await _timed(http, through, [_body("openai/gpt-4o", "What is the capital of France?")])
            results = {
                "direct (no gateway)": await _timed(http, direct, [_body("gpt-4o", f"q {i}") for i in range(n)]),
                "miss (upstream + embed + store)": await _timed(
                    http,
                    through,
                    [_body("openai/gpt-4o", f"Unique question number {i} about topic {i * 7}") for i in range(n)],
                ),
                "exact hit": await _timed(
                    http, through, [_body("openai/gpt-4o", "What is the capital of France?")] * n
                ),
                "semantic hit": await _timed(
                    http, through, [_body("openai/gpt-4o", "Which city is the capital of France?")] * n
                ),
            }
    return results


async def embedding_cost(n: int) -> float:
    """Microseconds per prompt for the local embedding model, as the cache calls it."""
    from ferryman.plugins.cache.embeddings import LocalEmbedder

    embedder = LocalEmbedder()
    await embedder.start()
    prompts = [f"Explain in two sentences what request number {i} is about." for i in range(n)]
    start = time.perf_counter()
    for text in prompts:
        await embedder.embed(text)
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferryman-cache-bench-") as tmp:
        results = asyncio.run(measure(args.requests, Path(tmp)))
    print(f"{'c=1, ' + str(args.requests) + ' requests each':40s} {'p50 ms':>8s} {'p99 ms':>8s} {'mean ms':>8s}")
    for name, values in results.items():
        print(f"{name:40s} {_p(values, 0.5):8.3f} {_p(values, 0.99):8.3f} {statistics.fmean(values):8.3f}")
    micros = asyncio.run(embedding_cost(2000))
    print(f"local embedding (WordLlama, in process): {micros:.1f} µs per prompt on one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
