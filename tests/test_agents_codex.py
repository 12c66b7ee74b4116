"""The Codex CLI end to end through Ferryman, on every kind of provider.

The real `codex exec` (installed from the npm registry, see tests/fakes/codex.py), configured with the README's
own `config.toml` snippet, runs against a real Ferryman whose providers are fake upstreams answering in their
own wire formats (tests/fakes/agent_model.py): the model calls Codex's shell tool, Codex runs the command and
sends its output back, and the model answers. The command prints what only a shell computes
(`echo ferryman-$((6*7))` -> `ferryman-42`), so the output the provider sees proves the command really ran.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.agent_model import MODELS, gateway_config, provider_params, script
from tests.fakes.codex import run_codex
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream

README = Path(__file__).resolve().parents[1] / "README.md"
TOML = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)
CONFIG = next(block for block in TOML.findall(README.read_text(encoding="utf-8")) if "[model_providers." in block)

SHELL_TOOL = "exec_command"  # Codex's shell tool: {"cmd": "<a shell command>"}
COMMAND = "echo ferryman-$((6*7))"
COMMAND_OUTPUT = "ferryman-42"
ANSWER = "The command printed ferryman-42."

# Providers whose run fails today only for want of a feature the coding-agents issue adds; the lead enables
# them (empties this list) once it is merged.
PENDING_PROVIDERS: dict[str, str] = {}  # provider -> the missing feature that keeps its Codex run off

# Codex always offers its web_search tool; a Chat Completions provider cannot run it, so the agent asks
# Ferryman to drop it (the header of compat.drop_unsupported) instead of failing.
DROP_UNSUPPORTED = 'model_providers.ferryman.http_headers={"x-ferryman-drop-unsupported"="true"}'
OVERRIDES: dict[str, tuple[str, ...]] = {"groq": (DROP_UNSUPPORTED,)}


@pytest.fixture(scope="module")
def agents_gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(gateway_config(upstream.url)) as server:
        yield server


def test_the_readme_declares_ferryman_as_a_codex_provider() -> None:
    assert 'wire_api = "responses"' in CONFIG and 'base_url = "http://127.0.0.1:8080/v1"' in CONFIG


@pytest.mark.parametrize("provider", provider_params(PENDING_PROVIDERS))
def test_codex_calls_its_shell_and_answers(
    provider: str, fake: FakeUpstream, agents_gateway: GatewayServer, tmp_path: Path
) -> None:
    model = script(fake, provider, SHELL_TOOL, {"cmd": COMMAND}, ANSWER)
    config = CONFIG.replace("127.0.0.1:8080", f"127.0.0.1:{agents_gateway.port}")

    run = run_codex(
        tmp_path,
        config,
        "Run the command and tell me what it printed.",
        model=MODELS[provider][0],
        overrides=OVERRIDES.get(provider, ()),
    )

    assert run.returncode == 0, run.stderr[-3000:]
    assert run.last_message.strip() == ANSWER
    first, second = fake.received
    assert SHELL_TOOL in model.wire.tool_names(first.json)
    assert model.wire.tool_output(first.json) is None
    assert COMMAND_OUTPUT in (model.wire.tool_output(second.json) or "")
