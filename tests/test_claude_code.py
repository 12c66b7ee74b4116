"""The real Claude Code CLI (``claude -p``) through Ferryman's Anthropic Messages door, against a fake Anthropic
that calls Claude Code's ``Read`` tool on a file and, once the file's content has come back as a tool result,
answers with text that quotes it.

Claude Code is ``@anthropic-ai/claude-code`` from the npm registry, installed once per machine into
``~/.cache/ferryman-tests/claude-code-<version>/`` (or under ``FERRYMAN_TEST_CACHE``); without npm and node the
test is skipped, saying so. A run is sealed off: a fresh ``HOME``, non-essential traffic off, and every proxy
variable pointing at a closed port (``NO_PROXY`` for 127.0.0.1), so nothing it would fetch leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.agent_model import WIRES
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Received, Reply, closed_port

CLAUDE_CODE_VERSION = "2.1.332"
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 120
MODEL = "claude-sonnet-4-5"
ANTHROPIC = WIRES["anthropic"]


def claude_binary() -> Path:
    root = os.environ.get("FERRYMAN_TEST_CACHE") or Path.home() / ".cache" / "ferryman-tests"
    target = Path(root) / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = target / "node_modules" / ".bin" / "claude"
    if binary.exists():
        return binary
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip(
            f"npm and node are needed: Claude Code (@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}) is an npm package"
        )
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(partial),
            "--no-audit",
            "--no-fund",
            f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}",
        ],
        check=True,
        capture_output=True,
        timeout=INSTALL_TIMEOUT,
    )
    try:
        partial.rename(target)  # whole or not at all
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    return binary


def _tool_results(body: dict[str, Any]) -> list[Any]:
    return [
        block
        for message in body.get("messages") or ()
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


class ReadThenAnswer:
    """Claude's side: with the Read tool offered and no tool result yet, read ``path``; after, quote the result.
    Any other request Claude Code makes (a title, a check) gets a short text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.calls = 0

    def __call__(self, received: Received) -> Reply:
        body = received.json
        stream = ANTHROPIC.streams(received)
        offered = {t.get("name") for t in body.get("tools") or ()}
        results = _tool_results(body)
        if results:
            output = ANTHROPIC.tool_output(body) or ""
            said = next((line for line in output.splitlines() if "password" in line), "nothing")
            return ANTHROPIC.text(f"The file says: {said}", stream)
        if "Read" in offered:
            self.calls += 1
            return ANTHROPIC.call("Read", {"file_path": str(self.path)}, stream)
        return ANTHROPIC.text("ok", stream)


@pytest.fixture
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    config = {
        "store": False,
        "providers": {
            "anthropic": {"base_url": upstream.url, "keys": [{"value": "sk-ant-upstream"}], "max_retries": 0}
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


def test_claude_code_reads_a_file_through_ferryman(fake: FakeUpstream, gateway: GatewayServer, tmp_path: Path) -> None:
    binary = claude_binary()
    work = tmp_path / "work"
    work.mkdir()
    secret = f"pelican-{os.getpid()}-{tmp_path.name}"
    note = work / "note.txt"
    note.write_text(f"The password is {secret}\n", encoding="utf-8")
    model = ReadThenAnswer(note)
    fake.add("/v1/messages", model)
    fake.add("/v1/messages/count_tokens", Reply(json={"input_tokens": 100}))
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "ANTHROPIC_BASE_URL": f"{gateway.url}/anthropic",
        "ANTHROPIC_API_KEY": "sk-ferryman-client",
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **{name: dead_proxy for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    (tmp_path / "home").mkdir()
    done = subprocess.run(
        [str(binary), "-p", "What does note.txt say?", "--allowedTools", "Read", "--output-format", "json"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert secret in result["result"]  # the answer quotes what the tool read, which only the file holds
    assert model.calls >= 1
    messages = [r for r in fake.requests_to("/v1/messages") if _tool_results(r.json)]
    assert messages, "the tool's result never reached the upstream"
    sent = messages[-1]
    assert sent.headers["x-api-key"] == "sk-ant-upstream"  # the gateway's key upstream, not the client's
    result_block = _tool_results(sent.json)[-1]
    assert secret in json.dumps(result_block["content"])
    assert any(
        b.get("type") == "tool_use" and b.get("name") == "Read"
        for m in sent.json["messages"]
        for b in m["content"]
        if isinstance(m["content"], list)
    )
