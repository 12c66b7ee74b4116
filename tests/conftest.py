from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


_STORE_DIR = tempfile.mkdtemp(prefix="ferryman-test-store-")


def base_config(upstream: FakeUpstream, **extra: Any) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{_STORE_DIR}/{uuid.uuid4().hex}.db",
        "providers": {
            "openai": {
                "base_url": f"{upstream.url}/v1",
                "keys": [{"value": "sk-test-openai-secret"}],
                "max_retries": 0,
            },
        },
        "models": [{"name": "smart", "target": "openai/gpt-4o"}],
        **extra,
    }


@pytest.fixture(scope="session")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    """One gateway for the session, configured against the shared fake upstream."""
    server = GatewayServer(base_config(upstream, stream_keepalive=0.2)).start()
    yield server
    server.stop()


@pytest.fixture
def client(gateway: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


@pytest.fixture
def http(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        yield c
