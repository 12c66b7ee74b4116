"""Instructions per request: Ferryman under valgrind's callgrind, the measure when the VM's speed drifts.

A VM's speed moves by more than most changes of the hot path, run to run and within a run; callgrind
counts the instructions Ferryman executes (every thread; not the kernel's part), which move by well
under 1% between runs of the same commit. This starts the fake upstream and ``ferryman serve`` under
``valgrind --tool=callgrind`` with collection off, sends ``--warmup`` requests one at a time, turns
collection on (``callgrind_control -i on``), sends ``--requests`` more, lets what they left behind finish
(``--settle`` seconds: the request log's last batch), turns collection off, dumps, and prints
the instructions per request, in all and by thread (the event loop's; the store's, which writes the
request log and the stored responses; the console's).

    python bench/instructions.py --api chat --config default      # ~1 minute
    python bench/instructions.py --api responses --config full --src ../other-checkout/src
    python bench/instructions.py --keep /tmp/grind && callgrind_annotate --inclusive=yes /tmp/grind/callgrind.out.1-01

``--config``: ``default`` (the default SQLite store: request log with content, metrics), ``bare`` (the
store, no log, no metrics), ``full`` (default plus governance with a virtual key that has a budget and
limits it never reaches), ``nostore`` (``store: false``). One request at a time: at higher concurrency how
many requests the event loop handles per turn depends on the machine's speed, and the counts with it.
Time-driven background work (the log's 100 ms batches, governance's reload every 5 s) is spread over
fewer requests under valgrind than in a real run; compare counts of one ``--config`` with each other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from loadgen import sequential_json, sequential_stream, session
from servers import BENCH, HOST, ferryman_config, free_port, process, wait_ready

MASTER = "sk-bench-master-key-0123456789"
EXTRA = {
    "default": "",
    "bare": "logs: false\nmetrics: false\n",
    "full": f"governance: {{master_key: {MASTER}}}\n",
}
BODIES = {
    "chat": ("/v1/chat/completions", "chat", lambda m: {"model": m, "messages": [{"role": "user", "content": "Hi."}]}),
    "responses": ("/v1/responses", "fast", lambda m: {"model": m, "input": "Hi."}),
}


def _config(workdir: Path, upstream: int, name: str) -> Path:
    path = ferryman_config(workdir, upstream, store=name != "nostore")  # (nostore: it says ``store: false``)
    if name != "nostore":
        path.write_text(path.read_text() + f"store: 'sqlite:///{workdir}/ferryman.db'\n" + EXTRA[name])
    return path


async def _key(url: str) -> str:
    """A virtual key with a budget and limits it never reaches, so every check and charge runs."""
    body = {"name": "bench", "budget": {"max_usd": 1_000_000}, "limits": {"rpm": 10_000_000, "tpm": 10**10}}
    async with (
        session(1) as client,
        client.post(f"{url}/admin/keys", json=body, headers={"authorization": f"Bearer {MASTER}"}) as resp,
    ):
        if resp.status != 201:
            raise RuntimeError(f"could not make a virtual key: {resp.status} {await resp.text()}")
        return str((await resp.json())["key"])


async def _requests(url: str, body: bytes, headers: dict[str, str], n: int, stream: bool) -> None:
    async with session(1) as client:
        if stream:
            await sequential_stream(client, url, body, headers, n)
        else:
            await sequential_json(client, url, body, headers, n)


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


def _totals(out: Path) -> dict[str, int]:
    """Instructions by thread, from the dump's files (``out.1-01``: the first dump, the first thread)."""
    counts: dict[str, int] = {}
    for part in sorted(out.parent.glob(f"{out.name}.1*")):
        for line in part.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                counts[part.name.rsplit("-", 1)[-1] if "-" in part.name else "all"] = int(line.split()[1])
    return counts


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    path, model, make = BODIES[args.api]
    body = make(model)
    if args.stream:
        body["stream"] = True
        if args.api == "chat":
            body["stream_options"] = {"include_usage": True}
    data = json.dumps(body).encode()
    upstream, port = free_port(), free_port()
    config = _config(workdir, upstream, args.config)
    out = workdir / "callgrind.out"
    env = {**os.environ, "PYTHONPATH": args.src}
    grind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes", "--dump-instr=no"]
    serve = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    with (
        process([sys.executable, str(BENCH / "upstream.py"), "--port", str(upstream)], workdir / "up.log", workdir),
        process(
            [*grind, f"--callgrind-out-file={out}", *serve, "--log-level", "warning"],
            workdir / "ferryman.log",
            workdir,
            env,
        ) as proc,
    ):
        base = f"http://{HOST}:{port}"
        await wait_ready(f"{base}/health", proc, workdir / "ferryman.log", timeout=300)
        key = await _key(base) if args.config == "full" else "sk-bench-client"
        headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        await _requests(base + path, data, headers, args.warmup, args.stream)
        _control(proc.pid, "-i", "on")
        await _requests(base + path, data, headers, args.requests, args.stream)
        await asyncio.sleep(args.settle)  # the work the requests left behind (the log's last batch) is theirs
        _control(proc.pid, "-i", "off")
        _control(proc.pid, "-d")
    counts = _totals(out)
    return {
        "api": args.api,
        "config": args.config,
        "stream": args.stream,
        "requests": args.requests,
        "per_request": {thread: round(n / args.requests) for thread, n in counts.items() if n},
        "total": round(sum(counts.values()) / args.requests),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", choices=sorted(BODIES), default="chat")
    parser.add_argument("--config", choices=[*EXTRA, "nostore"], default="default")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds counted after the last request")
    parser.add_argument("--keep", help="a folder to copy callgrind's dump to (callgrind_annotate reads it)")
    parser.add_argument("--src", default=str(BENCH.parent / "src"), help="the Ferryman source tree to measure")
    args = parser.parse_args()
    args.src = str(Path(args.src).resolve())
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"needs {' and '.join(missing)}: apt-get install valgrind", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ferryman-instructions-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
        if args.keep:  # the dump, for callgrind_annotate
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for part in Path(tmp).glob("callgrind.out*"):
                shutil.copy(part, args.keep)
    threads = ", ".join(f"thread {t}: {n:,}" for t, n in result["per_request"].items())
    kind = "streams" if args.stream else "requests"
    print(f"{args.api} {args.config}: {result['total']:,} instructions per request ({threads}; {args.requests} {kind})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
