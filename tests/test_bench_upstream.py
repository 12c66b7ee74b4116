"""The benchmark's fake upstream (bench/upstream.py) speaks Chat Completions as OpenAI does: the official
SDK reads its ``chat.completion`` and its ``chat.completion.chunk`` stream (with the usage chunk only
when asked for), and Ferryman's Chat Completions door relays it through an ``openai-chat`` provider, as
``bench/run.py --api chat`` configures it. The benchmark's numbers mean nothing if its upstream is not
the format the gateways are built for."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.gateway import GatewayServer, free_port, wait_until_serving

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench_upstream() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_upstream", BENCH / "upstream.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


UPSTREAM = _bench_upstream()
DELTAS = 7


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, str(BENCH / "upstream.py"), "--port", str(port), "--deltas", str(DELTAS)]
    cmd += ["--paced-deltas", "3", "--paced-gap-ms", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)


def test_chat_completion_json_reads_with_the_sdk(upstream: str) -> None:
    answer = _client(f"{upstream}/v1").chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content == UPSTREAM.TEXT
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens == 84
    assert answer.id.startswith("chatcmpl-") and "X" not in answer.id  # each reply gets its own id


def test_chat_stream_has_the_usage_chunk_only_when_asked(upstream: str) -> None:
    client = _client(f"{upstream}/v1")
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]
    for include_usage in (True, False):
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o",
                messages=messages,
                stream=True,
                stream_options={"include_usage": include_usage},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == UPSTREAM.TEXT
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == DELTAS
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        usage = [c.usage for c in chunks if c.usage is not None]
        assert len(usage) == (1 if include_usage else 0)
        assert len({c.id for c in chunks}) == 1


def test_paced_chat_stream_stamps_each_delta(upstream: str) -> None:
    chunks = list(
        _client(f"{upstream}/paced/v1").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    stamps = [int(t.removesuffix("|")) for t in texts]
    assert len(stamps) == 3 and stamps == sorted(stamps) and stamps[0] > 0


def test_ferryman_chat_door_relays_it(upstream: str) -> None:
    config = {
        "providers": {"chat": {"type": "openai-chat", "base_url": f"{upstream}/v1", "keys": [{"value": "sk-b"}]}},
        "models": [{"name": "chat", "target": "chat/gpt-4o"}],
        "store": False,
    }
    with GatewayServer(config) as gateway:
        client = _client(f"{gateway.url}/v1")
        answer = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hello"}])
        assert answer.choices[0].message.content == UPSTREAM.TEXT
        chunks = list(
            client.chat.completions.create(
                model="chat",
                messages=[{"role": "user", "content": "hello"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == UPSTREAM.TEXT
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 48
