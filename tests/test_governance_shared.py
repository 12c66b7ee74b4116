"""Governance with shared counters (``governance.counters: redis://...``): several gateways enforce one rate
limit and one budget together; a Redis that stops answering costs no request, and one warning.

Each test has its own Redis key prefix (``governance.namespace``). The real Redis at 127.0.0.1:6379 is used
where the counters must really be shared; a fake one (``tests/fakes/redis_server.py``) where Redis must
fail on cue.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import ferryman
from tests.fakes.gateway import GatewayServer, free_port, wait_for, wait_until_serving
from tests.fakes.redis_server import FakeRedis
from tests.fakes.upstream import FakeUpstream
from tests.test_cache import REDIS_URL, _redis_up
from tests.test_governance import ENV, MASTER, T0, Clock, Gov, _config, _unique, started

BODY = {"model": "smart", "input": "hi"}


@pytest.fixture
def redis_url() -> str:
    if not _redis_up():
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def start_shared(fake: FakeUpstream, store_url: str) -> Iterator[Callable[..., Gov]]:
    """Gateways with governance on one store and one counters URL (``counters``), in this process."""
    fake.add("/v1/responses", _unique)
    namespace = f"test-{uuid.uuid4().hex}"
    servers: list[GatewayServer] = []

    def start(counters: str, clock: Clock, **governance: Any) -> Gov:
        config = _config(fake, store_url)
        config["governance"].update(counters=counters, namespace=namespace, refresh=0.1, **governance)
        gov = started(config, clock)
        servers.append(gov.server)
        return gov

    yield start
    for server in servers:
        server.stop()


def _post(url: str, key: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/responses", json=BODY, headers={"authorization": f"Bearer {key}"}, timeout=30)


def _known_by(url: str, key: str, within: float = 10) -> None:
    """Until the gateway at ``url`` knows ``key`` (its registry reloads the store every ``refresh`` seconds)."""
    wait_for(lambda: httpx.get(f"{url}/v1/key", headers={"authorization": f"Bearer {key}"}).status_code == 200, within)


def test_two_gateways_share_one_rate_limit_and_one_budget(
    fake: FakeUpstream, redis_url: str, start_shared: Callable[..., Gov]
) -> None:
    clock = Clock()
    a, b = start_shared(redis_url, clock), start_shared(redis_url, clock)
    value = a.key(limits={"rpm": 3})["key"]
    _known_by(b.url, value)
    statuses = [_post(gw.url, value).status_code for gw in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]  # one limit of 3, not 3 per gateway
    fourth = _post(a.url, value)
    assert fourth.status_code == 429 and fourth.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake.received) == 3
    # a budget: the spend of one gateway is what the other checks against, not a copy of its own
    created = a.key(budget={"max_usd": 30})
    _known_by(b.url, created["key"])
    assert _post(a.url, created["key"]).status_code == 200  # $22
    assert _post(a.url, created["key"]).status_code == 200  # $44: crosses, and completes
    spent = f"{a.server.config.governance.namespace}:gov:s:key:{created['id']}:{int(T0 // 3600)}"  # type: ignore[union-attr]
    shared = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while float(shared.get(spent) or 0) < 44:  # charged after the reply has gone out
        assert time.monotonic() < deadline
        time.sleep(0.02)
    refused = _post(b.url, created["key"])
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
    assert len(fake.received) == 5


def test_revocation_on_one_gateway_is_honoured_by_the_other(
    fake: FakeUpstream, redis_url: str, start_shared: Callable[..., Gov]
) -> None:
    clock = Clock()
    a, b = start_shared(redis_url, clock), start_shared(redis_url, clock)
    created = a.key()
    _known_by(b.url, created["key"])
    assert _post(b.url, created["key"]).status_code == 200
    assert a.admin.delete(f"/admin/keys/{created['id']}").status_code == 200
    deadline = time.monotonic() + 10
    while _post(b.url, created["key"]).status_code != 401:
        assert time.monotonic() < deadline, "the other gateway kept taking a revoked key"
        time.sleep(0.05)


def test_redis_that_stops_answering_costs_no_request_and_one_warning(
    fake: FakeUpstream, start_shared: Callable[..., Gov], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ferryman.governance")
    with FakeRedis(hang=()) as server:
        gov = start_shared(server.url, Clock(), redis_timeout=0.1, redis_cooldown=3600)
        value = gov.key(limits={"rpm": 2})["key"]
        first = _post(gov.url, value)
        assert first.status_code == 200 and first.headers["x-ratelimit-remaining-requests"] == "1"
        assert "INCRBY" in server.names()  # counted in Redis while it answered
        server.hang = {"*"}  # from now on Redis reads every command and answers none
        assert _post(gov.url, value).status_code == 200
        third = _post(gov.url, value)  # the limit still holds, counted in this process
        assert third.status_code == 429 and third.json()["error"]["code"] == "rate_limit_exceeded"
        assert len(fake.received) == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "ferryman.governance"]
    assert len(warnings) == 1 and "Redis counters unavailable" in warnings[0], warnings


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_two_serve_processes_on_postgres_and_redis_enforce_one_limit(
    fake: FakeUpstream, store_url: str, redis_url: str, tmp_path: Path
) -> None:
    """Two ``ferryman serve`` processes (real clocks): a key created through one is known by the other, and
    rpm 3 holds for both together."""
    fake.add("/v1/responses", _unique)
    config = tmp_path / "ferryman.yaml"
    config.write_text(
        f"store: '{store_url}'\n"
        f"providers:\n  openai: {{base_url: '{fake.url}/v1', keys: [{{value: sk-x}}], max_retries: 0}}\n"
        "models: [{name: smart, target: openai/gpt-4o}]\n"
        f"governance: {{master_key: env.FM_MASTER, counters: '{redis_url}', namespace: test-{uuid.uuid4().hex}, "
        "refresh: 0.1}\n"
    )
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port)],
            # this checkout's code, whatever the working directory (the venv's own install may be another's)
            env={**os.environ, **ENV, "PYTHONPATH": str(Path(ferryman.__file__).resolve().parents[1])},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=tmp_path,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            wait_until_serving(url, proc)
        admin = {"authorization": f"Bearer {MASTER}"}
        for _ in range(3):  # a try that straddles a minute of the clock proves nothing: take a fresh key
            value = httpx.post(f"{urls[0]}/admin/keys", json={"name": "k", "limits": {"rpm": 3}}, headers=admin)
            key = value.json()["key"]
            _known_by(urls[1], key)
            minute = int(time.time() // 60)
            seen = len(fake.received)
            statuses = [_post(url, key).status_code for url in (*urls, *urls)]
            if int(time.time() // 60) == minute:
                break
        assert statuses == [200, 200, 200, 429]
        assert len(fake.received) - seen == 3
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
