"""``GET /ready``: 200 when the gateway can serve, 503 with the reasons when it cannot; ``/health`` stays the
liveness probe that checks nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, closed_port
from tests.test_cache import REDIS_URL, _redis_up


@pytest.mark.parametrize("backend", ["memory", REDIS_URL])
def test_ready_when_store_and_providers_are_there(fake: FakeUpstream, backend: str) -> None:
    if backend != "memory" and not _redis_up():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    config = base_config(fake, cache={"backend": backend})
    with GatewayServer(config) as gw:
        resp = httpx.get(f"{gw.url}/ready")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready" and "reasons" not in body
    assert body["checks"] == {"started": True, "store": True, "cache": True, "providers": ["openai", "mock"]}


def test_not_ready_says_why(fake: FakeUpstream) -> None:
    config = base_config(fake, cache={"backend": f"redis://127.0.0.1:{closed_port()}/0"})
    config["providers"]["openai"]["keys"] = [{"value": "env.FERRYMAN_TEST_UNSET_KEY"}]
    config["providers"]["mock"] = {"enabled": False}
    with GatewayServer(config) as gw:
        resp = httpx.get(f"{gw.url}/ready")
        health = httpx.get(f"{gw.url}/health")
    assert health.status_code == 200  # alive, not ready
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["status"] == "not_ready"
    assert body["checks"] == {"started": True, "store": True, "cache": False, "providers": []}
    cache, providers = body["reasons"]
    assert cache.startswith("the cache does not answer: ") and "Connection" in cache
    assert providers.startswith("no provider can be called")
