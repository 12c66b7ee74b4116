"""MCP stdio benchmark: what one tool call on a stdio server of the config costs, one at a time and many at once.

    python bench/mcp_stdio.py [--calls 20] [--concurrency 10]

Drives Ferryman's ``McpClient`` (what the tool loop and ``/mcp`` call through) against the tests' stdio
calculator (``python -m tests.fakes.mcp_servers``, run from the repository's root): ``--calls`` sequential
calls of ``add``, then ``--calls`` calls ``--concurrency`` at a time, and prints each one's median, p95 and
max latency in ms. The first call (which may start the server) is timed apart. Runs on any revision of
``src`` (``PYTHONPATH=src``): the numbers before and after a change come from the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from ferryman.config import config_from_dict  # noqa: E402
from ferryman.mcp.client import McpClient  # noqa: E402
from ferryman.mcp.servers import configured  # noqa: E402


async def _timed(client: McpClient, ref: object, a: int) -> float:
    start = time.perf_counter()
    outcome = await client.call_tool(ref, "add", {"a": a, "b": 1})  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) * 1000
    if outcome.output != str(a + 1):
        raise SystemExit(f"a call failed: {outcome.error}")
    return elapsed


def _line(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{label:<28} median {statistics.median(ordered):8.1f}  p95 {p95:8.1f}  max {ordered[-1]:8.1f} ms"


async def main(calls: int, concurrency: int) -> None:
    command = [sys.executable, "-m", "tests.fakes.mcp_servers"]
    settings = config_from_dict(
        {"mcp": {"servers": {"files": {"command": command}}, "connect_timeout": 120, "call_timeout": 120}}, {}
    ).mcp
    assert settings is not None
    client = McpClient(settings)
    ref = configured(settings.servers["files"])
    try:
        first = await _timed(client, ref, 0)
        sequential = [await _timed(client, ref, i) for i in range(calls)]
        gate = asyncio.Semaphore(concurrency)

        async def bounded(i: int) -> float:
            async with gate:
                return await _timed(client, ref, i)

        started = time.perf_counter()
        concurrent = await asyncio.gather(*(bounded(i) for i in range(calls)))
        wall = (time.perf_counter() - started) * 1000
    finally:
        close = getattr(client, "close", None)  # revisions without kept sessions have nothing to close
        if close is not None:
            await close()
    print(f"{'first call':<28} {first:8.1f} ms")
    print(_line(f"{calls} calls, one at a time", sequential))
    print(_line(f"{calls} calls, {concurrency} at a time", concurrent) + f"  (all in {wall:.0f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency))
