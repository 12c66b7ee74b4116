"""GET /metrics in the Prometheus text format: what it counts equals what the test sent; with ``--workers 2``
every worker's counts; ``require_key``; ``metrics: false``; and the ``x-ferryman-overhead-ms`` header."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from ferryman.config import ConfigError, config_from_dict
from ferryman.gateway.exchange import to_ms
from ferryman.plugins.metrics.hook import Families
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, free_port, wait_until_serving
from tests.fakes.upstream import FakeUpstream, Reply

MASTER = "fm-master-" + uuid.uuid4().hex
PRICES = {"input_mtok": 2.5, "output_mtok": 10.0}
AUTH = {"authorization": "Bearer sk-client"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    resp = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, provider: str, model: str, status: str) -> float:
    return value(samples, "ferryman_requests_total", route="responses", provider=provider, model=model, status=status)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _stream(url: str, body: dict[str, Any]) -> tuple[httpx.Headers, dict[str, Any]]:
    """A stream read to its end: its headers and its final event."""
    final: dict[str, Any] = {}
    with httpx.stream("POST", f"{url}/v1/responses", json={**body, "stream": True}, headers=AUTH) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: ") and '"response.completed"' in line:
                final = json.loads(line[6:])
        return resp.headers, final


@pytest.fixture
def gw(fake: FakeUpstream) -> Iterator[GatewayServer]:
    config = base_config(fake, cache={"namespace": f"m-{uuid.uuid4().hex}"})
    config["providers"]["openai"]["max_retries"] = 1
    config["providers"]["backup"] = {
        "type": "openai",
        "base_url": f"{fake.url}/backup/v1",
        "keys": [{"value": "sk-backup"}],
        "max_retries": 0,
    }
    config["pricing"] = {"openai/gpt-4o": PRICES, "backup/gpt-4o-mini": PRICES}
    with GatewayServer(config) as server:
        yield server


def test_metrics_count_requests_attempts_tokens_cost_and_cache_hits(fake: FakeUpstream, gw: GatewayServer) -> None:
    retry_after = {"retry-after-ms": "1"}
    down = Reply(status=503, headers=retry_after, json={"error": {"message": "down"}})
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"), times=1)  # then from the cache
    fake.add("/v1/responses", down, times=1)  # a retry that works
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"), times=1)
    fake.add("/v1/responses", down, times=2)  # a retry that fails too, then the fallback
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/text_basic"))
    fake.add("/v1/responses", Reply.fixture("openai-responses/error_400_model_not_found"), times=1)
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream"), times=1)

    def post(body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{gw.url}/v1/responses", json=body, headers=AUTH)

    replies = [
        post({"model": "openai/gpt-4o", "input": "one"}),
        post({"model": "openai/gpt-4o", "input": "one"}),  # the cache's
        post({"model": "openai/gpt-4o", "input": "two"}),
        post({"model": "openai/gpt-4o", "input": "three", "fallbacks": ["backup/gpt-4o-mini"]}),
        post({"model": "openai/made-up-model", "input": "four"}),
    ]
    headers, final = _stream(gw.url, {"model": "openai/gpt-4o", "input": "five"})
    assert [r.status_code for r in replies] == [200, 200, 200, 200, 400], [r.text for r in replies]
    assert replies[1].json()["extra_fields"]["cache_debug"]["hit_type"] == "direct"
    assert replies[2].headers["x-ferryman-attempts"] == "openai/gpt-4o:503,openai/gpt-4o:200"
    assert replies[3].headers["x-ferryman-attempts"].endswith("backup/gpt-4o-mini:200")

    m = scrape(gw.url)
    # every attempt the client was told of (retries and fallbacks included), by provider and status
    told = Counter(
        (label.split("/")[0], status)
        for h in [*(r.headers for r in replies), headers]
        for label, status in (a.rsplit(":", 1) for a in h["x-ferryman-attempts"].split(",") if a)
    )
    counted = {
        (dict(labels)["provider"], dict(labels)["status"]): v
        for (name, labels), v in m.items()
        if name == "ferryman_upstream_requests_total"
    }
    assert counted == told and told[("openai", "503")] == 3
    # requests by what the client got; an unknown model makes no series of its own
    assert value(m, "ferryman_requests_total", route="responses", provider="openai", model="gpt-4o", status="200") == 4
    assert (
        value(m, "ferryman_requests_total", route="responses", provider="backup", model="gpt-4o-mini", status="200")
        == 1
    )
    assert value(m, "ferryman_requests_total", route="responses", provider="openai", model="", status="400") == 1
    assert total(m, "ferryman_requests_total") == 6
    assert not any("made-up" in v for _, labels in m for _, v in labels)
    assert (
        value(m, "ferryman_request_duration_seconds_count", route="responses", provider="openai", model="gpt-4o") == 4
    )
    assert value(m, "ferryman_time_to_first_token_seconds_count", provider="openai", model="gpt-4o") == 1
    assert value(m, "ferryman_overhead_seconds_count") == 6
    assert value(m, "ferryman_cache_hits_total", type="direct") == 1
    assert value(m, "ferryman_in_flight_requests") == 0
    assert value(m, "ferryman_rate_limited_total") == value(m, "ferryman_budget_exceeded_total") == 0
    assert value(m, "ferryman_log_entries_dropped_total") == 0
    # tokens and cost: the sums of what providers answered (the cache's answer used none)
    answered = [(r.json(), r.json()["extra_fields"]) for r in (replies[0], replies[2], replies[3])]
    answered.append((final["response"], final["extra_fields"]))
    tokens: Counter[tuple[str, str, str]] = Counter()
    cost: Counter[tuple[str, str]] = Counter()
    for body, extra in answered:
        usage, where = body["usage"], (extra["provider"], extra["model_deployment"])
        tokens[(*where, "input")] += usage["input_tokens"]
        tokens[(*where, "output")] += usage["output_tokens"]
        tokens[(*where, "cached")] += usage["input_tokens_details"]["cached_tokens"]
        tokens[(*where, "reasoning")] += usage["output_tokens_details"]["reasoning_tokens"]
        cost[where] += usage["cost"]["total_cost"]
    for (provider, model, kind), n in tokens.items():
        assert value(m, "ferryman_tokens_total", provider=provider, model=model, type=kind) == n
    assert tokens[("openai", "gpt-4o", "input")] > 0
    for (provider, model), usd in cost.items():
        assert value(m, "ferryman_cost_usd_total", provider=provider, model=model) == pytest.approx(usd)
    assert cost[("backup", "gpt-4o-mini")] > 0


def _exposition(shared: bool) -> str:
    """The text of the same updates on prometheus_client's metrics (``shared``) or on ``local``'s, its
    ``_created`` times (when each series was made) left out."""
    registry = CollectorRegistry()
    f = Families(registry, shared=shared)
    f.in_flight.inc()
    f.in_flight.inc()
    f.in_flight.dec()
    for provider, status in (("a", "200"), ("b", "200"), ("a", "429"), ("a", "200")):  # series interleaved
        f.requests.labels("chat", provider, "m", status).inc()
    for seconds in (0.0, 1e-9, 0.05, 0.07, 3.0, 500.0):  # on a bound, between, beyond the last
        f.duration.labels("chat", "a", "m").observe(seconds)
        f.overhead.observe(seconds / 1000)
    f.ttft.labels("a", "m")  # bound, never observed
    f.tokens.labels("a", "m", "input").inc(14)
    f.cost.labels("a", "m").inc(0.1)
    f.cost.labels("a", "m").inc(0.2)
    f.upstream.labels("a", "503").inc()
    f.cache_hits.labels("direct").inc()
    f.rate_limited.inc()
    f.log_dropped.inc(3)
    return re.sub(r"(?m)^(\w+_created(\{[^}]*\})?) \S+$", r"\1 T", generate_latest(registry).decode())


def test_one_process_metrics_expose_what_prometheus_clients_own_do() -> None:
    # one worker counts on plain numbers (local.py), several on prometheus_client's metrics: a scrape reads the same
    local = _exposition(shared=False)
    assert local == _exposition(shared=True)
    assert 'ferryman_request_duration_seconds_bucket{le="0.05",model="m",provider="a",route="chat"} 3.0' in local
    assert local.count(" T\n") == 13  # every counter's and histogram's series has its _created


@given(st.floats(min_value=0, max_value=100_000, allow_nan=False))
def test_durations_are_milliseconds_to_the_microsecond(seconds: float) -> None:
    """``latency``, ``overhead_ms`` and the log's times: the duration's milliseconds, printed with three decimals at
    most, within half a microsecond (what ``round(ms, 3)`` gives, short of a tie)."""
    ms = to_ms(seconds)
    assert abs(ms - seconds * 1000) <= 0.0005 + 1e-9 * seconds * 1000
    assert len(repr(ms).partition(".")[2]) <= 3 or "e" in repr(ms)
    assert ms == round(seconds * 1000, 3) or abs(seconds * 1_000_000 % 1 - 0.5) < 1e-6


def test_overhead_header_leaves_out_the_wait_for_the_provider(fake: FakeUpstream, gw: GatewayServer) -> None:
    wait = 0.2
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic", delay=wait), times=1)
    resp = httpx.post(f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o", "input": "slow"}, headers=AUTH)
    assert resp.status_code == 200
    overhead_ms = float(resp.headers["x-ferryman-overhead-ms"])
    # the gateway's own time is within the client's wait, less the provider's
    assert 0 <= overhead_ms < resp.elapsed.total_seconds() * 1000 - wait * 1000
    assert resp.json()["extra_fields"]["overhead_ms"] <= resp.json()["extra_fields"]["latency"]

    # a stream's headers go out before its end: its final event has it
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", first_event_delay=wait), times=1)
    headers, final = _stream(gw.url, {"model": "openai/gpt-4o", "input": "slow stream"})
    assert "x-ferryman-overhead-ms" not in headers
    extra = final["extra_fields"]
    assert 0 <= extra["overhead_ms"] < extra["latency"] - wait * 1000


def _governed(fake: FakeUpstream, **metrics: Any) -> dict[str, Any]:
    return base_config(fake, governance={"master_key": "env.FM_MASTER"}, metrics=metrics)


def test_require_key_and_a_governance_refusal(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    with GatewayServer(_governed(fake, require_key=True), {"FM_MASTER": MASTER}) as gw:
        master = {"authorization": f"Bearer {MASTER}"}
        created = httpx.post(f"{gw.url}/admin/keys", json={"name": "k", "limits": {"rpm": 1}}, headers=master)
        key = {"authorization": f"Bearer {created.json()['key']}"}
        codes = [
            httpx.post(f"{gw.url}/v1/responses", json={"model": "smart", "input": "hi"}, headers=key).status_code
            for _ in range(2)
        ]
        assert codes == [200, 429]
        for auth in ({}, key):
            refused = httpx.get(f"{gw.url}/metrics", headers=auth)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        m = scrape(gw.url, master)
    assert value(m, "ferryman_rate_limited_total") == 1
    assert requests(m, "", "", "429") == 1
    assert requests(m, "openai", "gpt-4o", "200") == 1


def test_metrics_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="needs a governance section"):
        config_from_dict({"metrics": {"require_key": True}}, {})
    with pytest.raises(ConfigError, match="nope"):
        config_from_dict({"metrics": {"nope": 1}}, {})
    assert config_from_dict({}, {}).metrics is not None
    assert config_from_dict({"metrics": False}, {}).metrics is None


CHECK_IMPORTS = """
import sys
import httpx
from tests.fakes.gateway import GatewayServer

with GatewayServer({"store": False, "metrics": %s}) as gw:
    answered = httpx.post(gw.url + "/v1/responses", json={"model": "mock/echo", "input": "hi"})
    assert answered.status_code == 200, answered.text
    print(httpx.get(gw.url + "/metrics").status_code, "prometheus_client" in sys.modules)
"""


@pytest.mark.parametrize(("metrics", "expected"), [(False, "404 False"), (True, "200 True")])
def test_metrics_false_serves_no_route_and_imports_nothing(metrics: bool, expected: str) -> None:
    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS % metrics], capture_output=True, text=True, env=env, cwd=root, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == expected


def _served_by_worker(directory: Path) -> dict[str, float]:
    """Requests each worker counted, from the files the workers write (named by their process id)."""
    served: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        served[path.stem] = sum(v for key, v, *_ in values if json.loads(key)[1] == "ferryman_requests_total")
    return served


def test_two_workers_are_counted_together(fake: FakeUpstream, tmp_path: Path) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    config = tmp_path / "ferryman.yaml"
    config.write_text(json.dumps(base_config(fake)))
    shared = tmp_path / "metrics"
    shared.mkdir()
    (shared / "counter_1.db").write_bytes(b"stale")  # a previous run's file: emptied at start
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        sent = 0
        # new connections until both workers have answered some (which one accepts is the kernel's choice)
        while len([n for n in _served_by_worker(shared).values() if n > 0]) < 2:
            assert sent < 500, "one worker answered every request"
            with httpx.Client(timeout=30) as client:  # a worker still starting answers late on a busy machine
                assert client.post(f"{url}/v1/responses", json={"model": "smart", "input": "hi"}).status_code == 200
            sent += 1
        m = scrape(url)
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert (
        value(m, "ferryman_requests_total", route="responses", provider="openai", model="gpt-4o", status="200") == sent
    )
    assert value(m, "ferryman_upstream_requests_total", provider="openai", status="200") == sent
    assert value(m, "ferryman_tokens_total", provider="openai", model="gpt-4o", type="input") == sent * 14
    assert value(m, "ferryman_in_flight_requests") == 0
