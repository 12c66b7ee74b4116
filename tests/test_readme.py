"""The README's examples run as written on the README's own setup: `ferryman serve` with no config and no
provider key. Each curl and Python block that talks to the gateway is taken from the README and run
against a real `ferryman serve` (on a free port instead of 8080)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.codex import run_codex
from tests.fakes.gateway import free_port, wait_until_serving

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
DEFAULT = "127.0.0.1:8080"


def _blocks(lang: str) -> list[str]:
    return [
        body for kind, body in BLOCK.findall(README.read_text(encoding="utf-8")) if kind == lang and DEFAULT in body
    ]


CURLS = [b for b in _blocks("bash") if b.lstrip().startswith("curl")]
AGENTS_SDK = next(b for b in _blocks("python") if "from agents import" in b)  # has a test of its own below
PYTHONS = [b for b in _blocks("python") if b is not AGENTS_SDK]
CODEX_CONFIG = next(b for b in _blocks("toml") if "[model_providers." in b)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ferryman serve` as the README's first command starts it: no config file, no provider key."""
    home = tmp_path_factory.mktemp("readme")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BEARER_TOKEN_BEDROCK"))}
    env.pop("FERRYMAN_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


def test_the_readme_has_examples_to_run() -> None:
    assert len(CURLS) >= 2 and len(PYTHONS) >= 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("block", CURLS, ids=[f"curl{i}" for i in range(len(CURLS))])
def test_curl_example(served: str, block: str) -> None:
    result = subprocess.run(["bash", "-c", block.replace(DEFAULT, served)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout[result.stdout.index("{") :])  # after the headers of `curl -i`
    if "/v1/embeddings" in block:  # one vector per input, of the dimensions asked for
        asked = json.loads(block[block.index("{") : block.rindex("}") + 1])
        assert [len(d["embedding"]) for d in body["data"]] == [asked["dimensions"]] * len(asked["input"]), body
    elif "/v1/models/" in block:
        assert body["object"] == "model" and block.rstrip().endswith(body["id"]), body
    else:
        assert body["status"] == "completed", body
        assert body["output"][0]["content"][0]["text"]


@pytest.mark.parametrize("block", PYTHONS, ids=[f"python{i}" for i in range(len(PYTHONS))])
def test_python_example(served: str, block: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.replace(DEFAULT, served), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_the_agents_sdk_example_calls_its_tool_and_answers(served: str, tmp_path: Path) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENTS_SDK.replace(DEFAULT, served), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("get_weather returned: sunny in ")  # the mock's answer after the tool's result
    assert lines[1:4] == ["tool_called", "tool_output", "message_output_created"]
    assert lines[4].startswith("get_weather returned: sunny in ")


def test_the_codex_config_runs_codex_on_the_mock(served: str, tmp_path: Path) -> None:
    """The README's `config.toml` as written (but the port): `codex exec` gets the mock's call of its shell tool,
    runs it (the mock's made-up command, which the shell does not find) and reports the result."""
    model = re.search(r'^model = "(.+)"$', CODEX_CONFIG, re.M)
    assert model is not None

    run = run_codex(tmp_path, CODEX_CONFIG.replace(DEFAULT, served), "Say hello", model=model.group(1))

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.last_message.startswith("exec_command returned:")
    assert "command not found" in run.last_message  # the shell's own words: the command ran
