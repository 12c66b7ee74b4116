"""The README's examples run as written on the README's own setup: `ferryman serve` with no config and no
provider key. Each curl and Python block that talks to the gateway is taken from the README and run
against a real `ferryman serve` (on a free port instead of 8080); every other block that names the gateway's
address is run too (the Codex config) or exempt, with the reason, in ``EXEMPT``."""

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
# blocks with a test of their own below
AGENTS_SDK = next(b for b in _blocks("python") if "from agents import" in b)
LANGCHAIN = next(b for b in _blocks("python") if "from langchain_openai import" in b)
PYTHONS = [b for b in _blocks("python") if b not in (AGENTS_SDK, LANGCHAIN)]
CODEX_CONFIG = next(b for b in _blocks("toml") if "[model_providers." in b)
CLAUDE_CODE = next(b for b in _blocks("bash") if "ANTHROPIC_BASE_URL" in b)
SERVE = next(b for b in _blocks("bash") if "ferryman serve" in b)
# blocks naming the gateway's address that are not run here, and why
EXEMPT = {
    SERVE: "it installs and starts the gateway: the served fixture runs `ferryman serve` as it does",
    CLAUDE_CODE: "Claude Code does not finish a run on the mock; tests/test_claude_code.py runs it "
    "with these variables against fake models, and test_the_claude_code_variables_are_the_tested_ones checks them",
}


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


def test_every_block_naming_the_gateway_is_run_or_exempt() -> None:
    run = {*CURLS, *PYTHONS, AGENTS_SDK, LANGCHAIN, CODEX_CONFIG}
    every = [
        b for lang in {kind for kind, _ in BLOCK.findall(README.read_text(encoding="utf-8"))} for b in _blocks(lang)
    ]
    assert [b for b in every if b not in run and b not in EXEMPT] == []


def test_the_claude_code_variables_are_the_tested_ones() -> None:
    """The README's Claude Code block sets what tests/test_claude_code.py gives the real CLI, and runs `claude -p`."""
    from tests import test_claude_code

    source = Path(test_claude_code.__file__).read_text(encoding="utf-8")
    exported = re.findall(r"\b(ANTHROPIC_[A-Z_]+)=", CLAUDE_CODE)
    assert sorted(set(exported)) == [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_MODEL",
        "ANTHROPIC_SMALL_FAST_MODEL",
    ]
    assert all(f'"{name}"' in source for name in exported)
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1:8080/anthropic" in CLAUDE_CODE  # the door's base URL
    model = re.search(r"ANTHROPIC_MODEL=(\S+)", CLAUDE_CODE)
    assert model is not None and f'"{model.group(1)}"' in source  # a model the test runs Claude Code on
    assert re.search(r"^claude -p ", CLAUDE_CODE, re.M)


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


def _run_python(block: str, served: str, tmp_path: Path) -> list[str]:
    """The lines a README Python block prints, run against ``served`` (it must exit 0)."""
    script = tmp_path / "example.py"
    script.write_text(block.replace(DEFAULT, served), encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("block", PYTHONS, ids=[f"python{i}" for i in range(len(PYTHONS))])
def test_python_example(served: str, block: str, tmp_path: Path) -> None:
    assert "".join(_run_python(block, served, tmp_path)).strip()


def test_the_langchain_example_calls_its_tool_and_streams_in_both_modes(served: str, tmp_path: Path) -> None:
    lines = _run_python(LANGCHAIN, served, tmp_path)
    assert len(lines) == 4  # per mode: the answer after the tool's result, then the streamed text
    for answer, streamed in (lines[0:2], lines[2:4]):
        assert answer.startswith("get_weather returned: sunny in ")  # the mock's answer after the tool's result
        assert streamed == 'You said: "Count: one two three"'


def test_the_agents_sdk_example_calls_its_tool_and_answers(served: str, tmp_path: Path) -> None:
    lines = _run_python(AGENTS_SDK, served, tmp_path)
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
