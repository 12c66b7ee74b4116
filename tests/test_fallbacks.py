"""Request-level fallbacks and retries of retryable failures (the full router work is its own issue)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply


@pytest.fixture
def two_providers(fake: FakeUpstream) -> Iterator[GatewayServer]:
    config = base_config(fake)
    config["providers"]["backup"] = {
        "type": "openai",
        "base_url": f"{fake.url}/backup/v1",
        "keys": [{"value": "sk-backup"}],
        "max_retries": 0,
    }
    config["models"].append({"name": "resilient", "target": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o-mini"]})
    with GatewayServer(config) as gw:
        yield gw


@pytest.mark.parametrize("failure", [Reply(status=503), Reply(status=429), Reply(drop_before_response=True)])
def test_retryable_failure_moves_to_request_fallback(
    fake: FakeUpstream, two_providers: GatewayServer, failure: Reply
) -> None:
    fake.add("/v1/responses", failure)
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/text_basic"))
    resp = httpx.post(
        f"{two_providers.url}/v1/responses",
        json={"model": "openai/gpt-4o", "input": "hi", "fallbacks": ["backup/gpt-4o-mini"]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["extra_fields"]["provider"] == "backup"
    assert body["extra_fields"]["model_deployment"] == "gpt-4o-mini"
    assert body["extra_fields"]["model_requested"] == "openai/gpt-4o"
    assert fake.requests_to("/backup/v1/responses")[0].json["model"] == "gpt-4o-mini"
    assert fake.requests_to("/backup/v1/responses")[0].headers["Authorization"] == "Bearer sk-backup"
    assert resp.headers["x-ferryman-attempts"].endswith(",backup/gpt-4o-mini:200")


def test_caller_error_does_not_fall_back(fake: FakeUpstream, two_providers: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/error_400_model_not_found"))
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/text_basic"))
    resp = httpx.post(f"{two_providers.url}/v1/responses", json={"model": "resilient", "input": "hi"})
    assert resp.status_code == 400
    assert fake.requests_to("/backup/v1/responses") == []


def test_stream_falls_back_before_first_byte(fake: FakeUpstream, two_providers: GatewayServer) -> None:
    fake.add("/v1/responses", Reply(status=500, json={"error": {"message": "boom"}}))
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/text_stream"))
    client = openai.OpenAI(base_url=f"{two_providers.url}/v1", api_key="k", max_retries=0)
    with client.responses.stream(model="resilient", input="What is 2+2?") as stream:
        final = stream.get_final_response()
    assert final.output_text == "2+2 = 4"
    assert final.extra_fields["provider"] == "backup"  # type: ignore[attr-defined]


def test_all_targets_fail_returns_last_error(fake: FakeUpstream, two_providers: GatewayServer) -> None:
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "primary down"}}))
    fake.add("/backup/v1/responses", Reply(status=502, json={"error": {"message": "backup down"}}))
    resp = httpx.post(f"{two_providers.url}/v1/responses", json={"model": "resilient", "input": "hi"})
    assert resp.status_code == 502
    assert resp.json()["error"]["message"] == "backup: backup down"
    assert resp.headers["x-ferryman-attempts"] == "openai/gpt-4o:503,backup/gpt-4o-mini:502"


def test_retries_same_target_honouring_retry_after(fake: FakeUpstream) -> None:
    config = base_config(fake)
    config["providers"]["openai"]["max_retries"] = 2
    fake.add(
        "/v1/responses",
        Reply(status=429, headers={"retry-after-ms": "50"}, json={"error": {"message": "slow down"}}),
        times=2,
    )
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    with GatewayServer(config) as gw:
        resp = httpx.post(f"{gw.url}/v1/responses", json={"model": "smart", "input": "hi"})
    assert resp.status_code == 200
    assert len(fake.requests_to("/v1/responses")) == 3
    assert resp.headers["x-ferryman-attempts"] == "openai/gpt-4o:429,openai/gpt-4o:429,openai/gpt-4o:200"
