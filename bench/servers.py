"""The processes of the overhead benchmark: how each server is configured, started, watched and stopped.

Every server runs in its own session and is stopped (SIGTERM, then SIGKILL) however the run ends.
Only loopback addresses are used.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
MODEL = "fast"  # the alias every gateway maps to the upstream's fast profile
UPSTREAM_MODEL = "gpt-4o"
CLAUDE_MODEL = "claude-sonnet-4-5"
LITELLM_KEY = "sk-bench-litellm-master-key-0123456789"  # LiteLLM proxy refuses to start without one
# gateway model name -> (API, upstream path prefix)
ROUTES = {"fast": ("openai", ""), "slow": ("openai", "/slow"), "paced": ("openai", "/paced")}
ROUTES |= {"claude": ("anthropic", ""), "claude-paced": ("anthropic", "/paced")}
ROUTES |= {"chat": ("chat", "")}  # Chat Completions to a Chat Completions server (run.py --api chat)


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


# ---- configs -------------------------------------------------------------------------------------


def ferryman_config(workdir: Path, upstream: int, *, store: bool, chat_type: str = "openai-chat") -> Path:
    """Ferryman in front of the fake upstream; the ``chat`` alias goes to a provider of ``chat_type``
    (``openai-chat``: Chat Completions upstream; ``openai``: the Responses API upstream)."""
    base = f"http://{HOST}:{upstream}"
    lines = ["providers:"]
    lines.append(
        f'  chat: {{type: {chat_type}, base_url: "{base}/v1", keys: [{{value: sk-bench}}], max_retries: 0, '
        "max_connections: 4096}"
    )
    for prefix in ("", "/slow", "/paced"):
        name = "openai" + prefix.replace("/", "-")
        kind = "" if not prefix else "type: openai, "
        lines.append(
            f'  {name}: {{{kind}base_url: "{base}{prefix}/v1", keys: [{{value: sk-bench}}], max_retries: 0, '
            "max_connections: 4096}"
        )
        name = "anthropic" + prefix.replace("/", "-")
        kind = "" if not prefix else "type: anthropic, "
        lines.append(
            f'  {name}: {{{kind}base_url: "{base}{prefix}", keys: [{{value: sk-bench}}], max_retries: 0, '
            "max_connections: 4096}"
        )
    lines.append("models:")
    for model, (api, prefix) in ROUTES.items():
        provider = api + prefix.replace("/", "-")
        target = CLAUDE_MODEL if api == "anthropic" else UPSTREAM_MODEL
        lines.append(f"  - {{name: {model}, target: {provider}/{target}}}")
    if not store:
        lines.append("store: false")
    path = workdir / "ferryman.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def mock_config(workdir: Path, *, store: bool) -> Path:
    """Ferryman with its built-in mock provider only: the ``fast`` alias answered inside the gateway, no upstream."""
    lines = ["providers:", "  mock: {max_retries: 0}", "models:", f"  - {{name: fast, target: mock/{UPSTREAM_MODEL}}}"]
    if not store:
        lines.append("store: false")
    path = workdir / "ferryman-mock.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def litellm_config(workdir: Path, upstream: int) -> Path:
    base = f"http://{HOST}:{upstream}"
    lines = ["model_list:"]
    for model, (api, prefix) in ROUTES.items():
        target = f"anthropic/{CLAUDE_MODEL}" if api == "anthropic" else f"openai/{UPSTREAM_MODEL}"
        api_base = f"{base}{prefix}" if api == "anthropic" else f"{base}{prefix}/v1"
        lines += [
            f"  - model_name: {model}",
            "    litellm_params:",
            f"      model: {target}",
            f"      api_base: {api_base}",
            "      api_key: sk-bench",
        ]
    lines += [
        "litellm_settings:",
        "  telemetry: false",
        "  drop_params: true",
        "general_settings:",
        f"  master_key: {LITELLM_KEY}",
    ]
    path = workdir / "litellm.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def nginx_config(workdir: Path, upstream: int, port: int) -> Path:
    """nginx as a plain reverse proxy (keep-alive to the upstream, no buffering): what any proxy costs."""
    path = workdir / "nginx.conf"
    path.write_text(
        f"""worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/nginx-body;
    proxy_temp_path {workdir}/nginx-proxy;
    upstream fake {{ server {HOST}:{upstream}; keepalive 256; }}
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""
    )
    return path


def litellm_command() -> list[str] | None:
    """How to start LiteLLM proxy: the ``litellm`` script beside this Python (the bench extra), or on PATH."""
    beside = Path(sys.executable).parent / "litellm"
    found = str(beside) if beside.exists() else shutil.which("litellm")
    return [found] if found else None


NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


# ---- processes -----------------------------------------------------------------------------------


@contextmanager
def process(
    cmd: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess in its own session, stopped (SIGTERM, then SIGKILL) however the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True, env=env)
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


async def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> None:
    """Poll ``url`` until it answers 200; fail with the process's log if it exits or never gets there."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail(log)}")
            try:
                async with http.get(url, headers=headers) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s:\n{tail(log)}")


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the workers of a server started with several)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        for child in children:
            pids += process_tree(int(child))
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in MiB."""
    total = 0
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of one process, including its children that have been waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = stat[stat.rindex(")") + 2 :].split()[11:15]
    return (int(utime) + int(stime) + int(cutime) + int(cstime)) / HZ


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live descendants."""
    return sum(cpu_seconds(p) for p in process_tree(pid))


def busy_seconds() -> float:
    """CPU time spent on the whole machine since boot: user, nice, system, irq, softirq (not idle, iowait, steal)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[0:3]) + sum(fields[5:7])) / HZ


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
        t = os.times()
        mine = t.user + t.system + t.children_user + t.children_system
        return mine + sum(tree_cpu_seconds(p) for p in self.servers)

    def result(self) -> dict[str, float]:
        other = (busy_seconds() - self.start_busy) - (self.own() - self.start_own)
        wall = time.monotonic() - self.start_wall
        return {"other_cpu_s": round(max(other, 0.0), 2), "wall_s": round(wall, 1)}
