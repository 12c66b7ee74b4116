"""The real Claude Code CLI (``claude -p``) through Ferryman's Anthropic Messages door, against a fake model
that calls Claude Code's ``Read`` tool on a file and, once the file's content has come back as a tool result,
answers with text that quotes it: on a Claude model (a fake Anthropic: the Messages passthrough) and on an
OpenAI model (``openai/gpt-4o`` as ``ANTHROPIC_MODEL``, a fake OpenAI Responses API: Claude Code's tools and
tool results translated both ways).

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

from tests.fakes.agent_model import WIRES, Wire
from tests.fakes.gateway import GatewayServer
from tests.fakes.recorder import Recorder
from tests.fakes.upstream import FakeUpstream, Received, Reply, closed_port

CLAUDE_CODE_VERSION = "2.1.332"
INSTALL_TIMEOUT = 600
RUN_TIMEOUT = 120
# provider -> the model Claude Code is told to use (``ANTHROPIC_MODEL``), and the path its calls reach upstream
MODELS = {
    "anthropic": ("claude-sonnet-4-5", "/v1/messages"),
    "openai": ("openai/gpt-4o", "/v1/responses"),
}


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


class ReadThenAnswer:
    """The model's side, in ``wire``'s format: with the Read tool offered and no tool result yet, read ``path``;
    after, quote the result. Any other request Claude Code makes (a title, a check) gets a short text."""

    def __init__(self, wire: Wire, path: Path) -> None:
        self.wire = wire
        self.path = path
        self.calls = 0

    def __call__(self, received: Received) -> Reply:
        body = received.json
        stream = self.wire.streams(received)
        output = self.wire.tool_output(body)
        if output is not None:
            said = next((line for line in output.splitlines() if "password" in line), "nothing")
            return self.wire.text(f"The file says: {said}", stream)
        if "Read" in self.wire.tool_names(body):
            self.calls += 1
            return self.wire.call("Read", {"file_path": str(self.path)}, stream)
        return self.wire.text("ok", stream)


@pytest.fixture
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    config = {
        "store": False,
        "providers": {
            "anthropic": {"base_url": upstream.url, "keys": [{"value": "sk-ant-upstream"}], "max_retries": 0},
            "openai": {"base_url": f"{upstream.url}/v1", "keys": [{"value": "sk-oai-upstream"}], "max_retries": 0},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.mark.parametrize("provider", list(MODELS))
def test_claude_code_reads_a_file_through_ferryman(
    provider: str, fake: FakeUpstream, gateway: GatewayServer, tmp_path: Path
) -> None:
    binary = claude_binary()
    name, path = MODELS[provider]
    wire = WIRES[provider]
    work = tmp_path / "work"
    work.mkdir()
    secret = f"pelican-{os.getpid()}-{tmp_path.name}"
    note = work / "note.txt"
    note.write_text(f"The password is {secret}\n", encoding="utf-8")
    model = ReadThenAnswer(wire, note)
    fake.add(path, model)
    fake.add("/v1/messages/count_tokens", Reply(json={"input_tokens": 100}))
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    recorder = Recorder(gateway.url)  # what Claude Code sends, before the gateway
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "ANTHROPIC_BASE_URL": f"{recorder.url}/anthropic",
        "ANTHROPIC_API_KEY": "sk-ferryman-client",
        "ANTHROPIC_MODEL": name,
        "ANTHROPIC_SMALL_FAST_MODEL": name,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **{name: dead_proxy for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy")},
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    (tmp_path / "home").mkdir()
    with recorder:
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
    answered = [r for r in fake.requests_to(path) if wire.tool_output(r.json) is not None]
    assert answered, "the tool's result never reached the upstream"
    assert not [r for r in fake.received if r.path != path and not r.path.endswith("/count_tokens")]
    sent = answered[-1]
    if provider == "anthropic":  # the gateway's key upstream, not the client's
        assert sent.headers["x-api-key"] == "sk-ant-upstream"
        # the passthrough: Claude Code's own body (but the model) and its anthropic-beta header reach Anthropic
        [client] = [r for r in recorder.received if r.path == "/anthropic/v1/messages" and r.body == sent.body]
        assert client.headers["anthropic-beta"] and sent.headers["anthropic-beta"] == client.headers["anthropic-beta"]
        assert sent.headers["anthropic-version"] == client.headers["anthropic-version"]
        assert sent.query == client.query
        assert [r.body for r in fake.requests_to(path)] == [
            r.body for r in recorder.received if r.path == "/anthropic/v1/messages"
        ]  # every call, byte for byte (its model is already the deployment's)
    else:
        assert sent.headers["Authorization"] == "Bearer sk-oai-upstream"
    assert secret in (wire.tool_output(sent.json) or "")  # the tool's result, as the provider's own tool result
    assert "Read" in wire.tool_names(sent.json)
    assert _called(provider, sent.json) == ["Read"]  # the model's call went back in the history before its result


def _called(provider: str, body: dict[str, Any]) -> list[str]:
    """The names of the tool calls in a request's history, in the provider's own shape."""
    if provider == "anthropic":
        return [
            b["name"]
            for m in body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        ]
    return [i["name"] for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call"]
