"""The Codex CLI (``@openai/codex`` from the npm registry, its native binary inside the package), installed once
per machine into a cache outside the repository, and run non-interactively (``codex exec``) for a test.

The install is keyed by the pinned version: ``~/.cache/ferryman-tests/codex-<version>/`` (or under
``FERRYMAN_TEST_CACHE``). Only npm is needed; without it the tests that need Codex are skipped, saying so.

A run is sealed off from everything but the machine itself: a fresh ``HOME`` and ``CODEX_HOME`` (the config
is the test's alone), analytics, feedback and the update check turned off, and every HTTP(S) proxy variable
pointing at a closed local port with ``NO_PROXY`` for 127.0.0.1, so anything Codex would fetch from the
internet fails at once on this machine instead of leaving it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.upstream import closed_port

CODEX_VERSION = "0.171.0"
INSTALL_TIMEOUT = 600  # seconds: a one-time download of ~70 MB from the npm registry
RUN_TIMEOUT = 60  # seconds for one `codex exec` (a run against a fake upstream takes one or two)


def cache_dir() -> Path:
    root = os.environ.get("FERRYMAN_TEST_CACHE") or Path.home() / ".cache" / "ferryman-tests"
    return Path(root) / f"codex-{CODEX_VERSION}"


def codex_binary() -> Path:
    """The pinned Codex CLI, installed from the npm registry on first use (skips the test without npm)."""
    target = cache_dir()
    binary = target / "node_modules" / ".bin" / "codex"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(f"npm is not installed: the Codex CLI (@openai/codex@{CODEX_VERSION}) comes from the npm registry")
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [npm, "install", "--prefix", str(partial), "--no-audit", "--no-fund", f"@openai/codex@{CODEX_VERSION}"],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
    )
    try:
        partial.rename(target)  # whole or not at all: an interrupted install is never taken for a finished one
    except OSError:  # another test run finished first
        shutil.rmtree(partial, ignore_errors=True)
    return binary


@dataclass
class CodexRun:
    returncode: int
    stdout: str
    stderr: str
    last_message: str  # what `--output-last-message` wrote: the agent's final answer


def run_codex(home: Path, config_toml: str, prompt: str, *, model: str, overrides: tuple[str, ...] = ()) -> CodexRun:
    """``codex exec PROMPT`` with ``config_toml`` as its whole user config, in a fresh directory under ``home``;
    ``overrides`` are more ``-c key=value`` settings. Commands it runs are not sandboxed (the sandbox needs user
    namespaces a CI container may not have): give it harmless prompts only."""
    codex_home, work = home / "codex-home", home / "work"
    codex_home.mkdir(parents=True)
    work.mkdir()
    (codex_home / "config.toml").write_text(config_toml, encoding="utf-8")
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "FERRYMAN_API_KEY": "sk-ferryman-client",  # the env_key of the config's provider
        **{name: dead_proxy for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    last = home / "last-message.txt"
    quiet = ("analytics.enabled=false", "feedback.enabled=false", "check_for_update_on_startup=false")
    args = [str(codex_binary()), "exec", "--skip-git-repo-check", "--ephemeral", "--color", "never"]
    args += ["--dangerously-bypass-approvals-and-sandbox", "-C", str(work), "-m", model, "-o", str(last)]
    for setting in (*quiet, *overrides):
        args += ["-c", setting]
    done = subprocess.run(
        [*args, prompt], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    message = last.read_text(encoding="utf-8") if last.exists() else ""
    return CodexRun(done.returncode, done.stdout, done.stderr, message)
