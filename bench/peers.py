"""The Chat Completions peers of ``run.py --api chat``: TensorZero and Portkey, found or installed,
configured and started.

Each is optional: when it cannot be installed or started, ``why_not`` says why and the run goes on
without it (the reason is printed and kept in the results). Both are pointed at the fake upstream's
``/v1/chat/completions`` (the fast profile) and keep nothing: no database, no observability.

- **TensorZero** (Rust) ships inside the ``tensorzero`` wheel (``pip install tensorzero``, in the
  ``bench`` extra); ``tensorzero_gateway.py`` starts its HTTP gateway in a process of its own, with the
  TOML written here. Its OpenAI-compatible door is ``/openai/v1/chat/completions``, the model
  ``tensorzero::model_name::<name>``.
- **Portkey** (Node) is ``@portkey-ai/gateway`` from the npm registry, installed on first use into
  ``bench/.peers/portkey`` (git-ignored) and started with ``node build/start-server.js --port=N
  --headless``. It has no config file: each request names the provider and the upstream in headers
  (``x-portkey-provider: openai``, ``x-portkey-custom-host``), and the model is the upstream's own.
  ``portkey_preload.cjs`` is loaded into it: without it, every stream fails on Node (see that file).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from servers import BENCH, HOST, UPSTREAM_MODEL, tail

PEERS = BENCH / ".peers"
PORTKEY_PACKAGE = "@portkey-ai/gateway@1.15.2"  # pinned: the same peer from run to run
PORTKEY_DIR = PEERS / "portkey"
PORTKEY_SERVER = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
NODE = shutil.which("node")
NPM = shutil.which("npm")


# ---- TensorZero ----------------------------------------------------------------------------------


def tensorzero_missing() -> str | None:
    """Why TensorZero cannot run here, or None."""
    if importlib.util.find_spec("tensorzero") is None:
        return f"the tensorzero wheel is not installed: {sys.executable} -m pip install tensorzero"
    return None


def tensorzero_config(workdir: Path, upstream: int, models: dict[str, str]) -> Path:
    """One TensorZero model per gateway alias (``models``: alias -> upstream path prefix), each routed to
    the fake upstream as an OpenAI (Chat Completions) provider without a key; observability off."""
    lines = ["[gateway.observability]", "enabled = false", ""]
    for alias, prefix in models.items():
        lines += [
            f'[models."{alias}"]',
            'routing = ["fake"]',
            "",
            f'[models."{alias}".providers.fake]',
            'type = "openai"',
            f'api_base = "http://{HOST}:{upstream}{prefix}/v1"',
            f'model_name = "{UPSTREAM_MODEL}"',
            'api_key_location = "none"',
            "",
        ]
    path = workdir / "tensorzero.toml"
    path.write_text("\n".join(lines))
    return path


def tensorzero_command(config: Path, url_file: Path) -> list[str]:
    script = BENCH / "tensorzero_gateway.py"
    return [sys.executable, str(script), "--config", str(config), "--url-file", str(url_file)]


def tensorzero_env() -> dict[str, str]:
    return {**os.environ, "RUST_LOG": "error"}  # one log line per request would be the log's cost, not the relay's


def read_url(path: Path) -> str | None:
    return path.read_text().strip().rstrip("/") if path.exists() else None


async def wait_url_file(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> str:
    """The base URL the started gateway wrote to ``path``; fail with its log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = read_url(path)
        if url:
            return url
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail(log)}")
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{proc.args} wrote no URL after {timeout:.0f}s:\n{tail(log)}")


# ---- Portkey -------------------------------------------------------------------------------------


def portkey_install(log: Path) -> str | None:
    """Install Portkey's gateway into bench/.peers/portkey if it is not there; why it cannot be, or None."""
    if NODE is None:
        return "node is not installed (Portkey's gateway is a Node server)"
    if PORTKEY_SERVER.exists():
        return None
    if NPM is None:
        return "npm is not installed: cannot install Portkey's gateway"
    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    print(f"installing {PORTKEY_PACKAGE} into {PORTKEY_DIR} ...", file=sys.stderr, flush=True)
    cmd = [NPM, "install", "--prefix", str(PORTKEY_DIR), "--no-audit", "--no-fund", PORTKEY_PACKAGE]
    with log.open("wb") as out:
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"npm install {PORTKEY_PACKAGE} failed: {exc}"
    if done.returncode != 0 or not PORTKEY_SERVER.exists():
        return f"npm install {PORTKEY_PACKAGE} failed ({done.returncode}):\n{tail(log, 1500)}"
    return None


def portkey_command(port: int) -> list[str]:
    assert NODE is not None
    return [NODE, "-r", str(BENCH / "portkey_preload.cjs"), str(PORTKEY_SERVER), f"--port={port}", "--headless"]


def portkey_env() -> dict[str, str]:
    return {**os.environ, "NODE_ENV": "production"}


def portkey_headers(upstream: int, prefix: str = "") -> dict[str, str]:
    """What tells Portkey where to send a request: an OpenAI-compatible server at the fake upstream."""
    return {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://{HOST}:{upstream}{prefix}/v1",
        "authorization": "Bearer sk-bench",
    }
