"""Fault injection against the router and dispatcher: keys, retries, timeouts, limits, spread."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from typing import Any

import httpx
import openai

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, wait_for
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

OK = "openai-responses/text_basic"


def _post(gw: GatewayServer, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/responses", json={"input": "hi", **body}, timeout=30, **kw)


def _with_backup(fake: FakeUpstream, **openai_opts: Any) -> dict[str, Any]:
    config = base_config(fake)
    config["providers"]["openai"].update(openai_opts)
    config["providers"]["backup"] = {
        "type": "openai",
        "base_url": f"{fake.url}/backup/v1",
        "keys": [{"value": "sk-backup"}],
        "max_retries": 0,
    }
    return config


def test_5xx_burst_is_retried_on_the_same_target(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(status=500, json={"error": {"message": "oops"}}), times=1)
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "busy"}}), times=1)
    fake.add("/v1/responses", Reply.fixture(OK))
    with GatewayServer(_with_backup(fake, max_retries=2)) as gw:
        resp = _post(gw, {"model": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o"]})
    assert resp.status_code == 200
    assert resp.headers["x-ferryman-attempts"] == "openai/gpt-4o:500,openai/gpt-4o:503,openai/gpt-4o:200"
    assert fake.requests_to("/backup/v1/responses") == []
    assert [a["status"] for a in resp.json()["extra_fields"]["attempts"]] == [500, 503, 200]


def test_retry_after_seconds_is_honoured(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(status=429, headers={"retry-after": "0.4"}, json={"error": {"message": "slow"}}), 1)
    fake.add("/v1/responses", Reply.fixture(OK))
    with GatewayServer(_with_backup(fake, max_retries=1)) as gw:
        started = time.monotonic()
        resp = _post(gw, {"model": "openai/gpt-4o"})
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed >= 0.4  # waited as told, instead of hammering the provider


def test_hang_past_timeout_falls_back(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(hang=True))
    fake.add("/backup/v1/responses", Reply.fixture(OK))
    with GatewayServer(_with_backup(fake, timeout=0.3)) as gw:
        resp = _post(gw, {"model": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o"]})
    assert resp.status_code == 200
    assert resp.json()["extra_fields"]["provider"] == "backup"
    assert resp.headers["x-ferryman-attempts"] == "openai/gpt-4o:504,backup/gpt-4o:200"


def test_first_byte_timeout(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture(OK, delay=1.0))
    with GatewayServer(_with_backup(fake, first_byte_timeout=0.2)) as gw:
        resp = _post(gw, {"model": "openai/gpt-4o"})
    assert resp.status_code == 504
    assert resp.json()["error"]["code"] == "upstream_timeout"


def test_idle_stream_timeout_is_an_error_event(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", event_delay=1.0))
    with GatewayServer(_with_backup(fake, idle_timeout=0.3)) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        events = list(client.responses.create(model="openai/gpt-4o", input="hi", stream=True))
    assert events[0].type == "response.created"
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-2].code == "upstream_timeout"  # type: ignore[union-attr]


def test_connection_reset_before_stream_falls_back(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(drop_before_response=True))
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/text_stream"))
    with GatewayServer(_with_backup(fake)) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        with client.responses.stream(model="openai/gpt-4o", input="hi", extra_body={"fallbacks": ["backup/x"]}) as s:
            final = s.get_final_response()
    assert final.output_text == "2+2 = 4"
    assert final.extra_fields["provider"] == "backup"  # type: ignore[attr-defined]


def test_fallback_on_config_makes_a_client_error_fall_back(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/error_400_model_not_found"))
    fake.add("/backup/v1/responses", Reply.fixture(OK))
    config = _with_backup(fake)
    config["fallback_on"] = ["model_not_found"]
    with GatewayServer(config) as gw:
        resp = _post(gw, {"model": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o"]})
    assert resp.status_code == 200
    assert resp.json()["extra_fields"]["provider"] == "backup"


def test_every_key_failing_tries_each_once(fake: FakeUpstream) -> None:
    keys = [{"value": f"sk-bad-{i}"} for i in range(3)]
    fake.add(
        "/v1/responses", Reply(status=401, json={"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
    )
    with GatewayServer(_with_backup(fake, keys=keys)) as gw:
        resp = _post(gw, {"model": "openai/gpt-4o"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    seen = [r.headers["Authorization"] for r in fake.requests_to("/v1/responses")]
    assert sorted(seen) == [f"Bearer sk-bad-{i}" for i in range(3)]
    assert "sk-bad" not in resp.text


def test_key_cooldown_and_recovery(fake: FakeUpstream) -> None:
    keys = [{"value": "sk-main", "weight": 1}, {"value": "sk-spare", "weight": 0}]  # weight 0: chosen only when alone
    fake.add("/v1/responses", Reply(status=429, json={"error": {"message": "quota"}}), times=1)
    fake.add("/v1/responses", Reply.fixture(OK))
    with GatewayServer(_with_backup(fake, keys=keys, key_cooldown=30)) as gw:
        first = _post(gw, {"model": "openai/gpt-4o"})
        during = [_post(gw, {"model": "openai/gpt-4o"}) for _ in range(5)]
        pool = gw.app.dispatcher.keys["openai"]
        clock = pool.clock
        pool.clock = lambda: clock() + 31  # the cool-down is over, without the test waiting it out
        after = [_post(gw, {"model": "openai/gpt-4o"}) for _ in range(5)]
    assert first.status_code == 200 and all(r.status_code == 200 for r in during + after)
    auth = [r.headers["Authorization"] for r in fake.requests_to("/v1/responses")]
    assert auth[:2] == ["Bearer sk-main", "Bearer sk-spare"]  # switched key at once, no backoff
    assert auth[2:7] == ["Bearer sk-spare"] * 5  # the cooled key is left alone
    assert auth[7:] == ["Bearer sk-main"] * 5  # and used again once it recovered


def test_weighted_spread_across_targets(fake: FakeUpstream) -> None:
    config = _with_backup(fake)
    config["models"].append(
        {
            "name": "spread",
            "targets": [{"target": "openai/gpt-4o", "weight": 70}, {"target": "backup/gpt-4o", "weight": 30}],
        }
    )
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add("/backup/v1/responses", Reply.fixture(OK))
    n = 300
    with GatewayServer(config) as gw, httpx.Client(base_url=gw.url) as http:
        served = Counter(
            http.post("/v1/responses", json={"model": "spread", "input": "hi"}).json()["extra_fields"]["provider"]
            for _ in range(n)
        )
    # binomial(300, 0.7): mean 210, sd ~7.9; +-4 sd
    assert 178 <= served["openai"] <= 242, served
    assert served["openai"] + served["backup"] == n


def test_spread_target_failing_moves_to_the_other(fake: FakeUpstream) -> None:
    config = _with_backup(fake)
    config["models"].append(
        {
            "name": "spread",
            "targets": [{"target": "openai/gpt-4o", "weight": 1}, {"target": "backup/gpt-4o", "weight": 0}],
        }
    )
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "down"}}))
    fake.add("/backup/v1/responses", Reply.fixture(OK))
    with GatewayServer(config) as gw:
        resp = _post(gw, {"model": "spread"})
    assert resp.json()["extra_fields"]["provider"] == "backup"


def test_concurrency_limit_queues_then_refuses(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture(OK, held=True), times=1)  # holds the only slot until released
    fake.add("/v1/responses", Reply.fixture(OK))
    config = _with_backup(fake, max_concurrency=1, max_queue=1)
    with GatewayServer(config) as gw, concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_post, gw, {"model": "openai/gpt-4o"})]
        wait_for(lambda: len(fake.received) >= 1)
        futures += [pool.submit(_post, gw, {"model": "openai/gpt-4o"}) for _ in range(2)]
        # one of the two takes the queue's only place; the other is refused at once
        done, _ = concurrent.futures.wait(futures[1:], return_when=concurrent.futures.FIRST_COMPLETED)
        assert next(iter(done)).result().status_code == 429
        fake.release()
        results = [f.result() for f in futures]
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 429]
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"]["code"] == "gateway_queue_full"
    assert refused.headers["retry-after"] == "1"
    assert len(fake.requests_to("/v1/responses")) == 2  # the refused one never reached the provider


def test_queue_full_moves_to_a_fallback_with_room(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture(OK, held=True))
    fake.add("/backup/v1/responses", Reply.fixture(OK))
    config = _with_backup(fake, max_concurrency=1, max_queue=0)
    with GatewayServer(config) as gw, concurrent.futures.ThreadPoolExecutor(2) as pool:
        body = {"model": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o"]}
        slow = pool.submit(_post, gw, body)
        wait_for(lambda: len(fake.received) >= 1)  # it holds openai's only slot
        quick = _post(gw, body)
        fake.release()
        assert slow.result().json()["extra_fields"]["provider"] == "openai"
    assert quick.json()["extra_fields"]["provider"] == "backup"


def _continuation_blocks() -> list[str]:
    """The recorded stream as a provider continuing after "2+" would send it: the rest of the text."""
    from tests.fakes.upstream import load_fixture

    blocks = load_fixture("openai-responses/text_stream")["response"]["sse"]
    deltas = [b for b in blocks if b.startswith("event: response.output_text.delta")]
    return [b.replace("2+2 = 4", "2 = 4") for b in blocks if b not in deltas[:2]]


def test_stream_resume_continues_on_the_next_target(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", drop_after_events=6))
    fake.add("/backup/v1/responses", Reply(sse=_continuation_blocks()))
    config = _with_backup(fake)
    config["stream_resume"] = True
    with GatewayServer(config) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        events = list(
            client.responses.create(
                model="openai/gpt-4o", input="What is 2+2?", stream=True, extra_body={"fallbacks": ["backup/gpt-4o"]}
            )
        )
    types = [e.type for e in events]
    assert "error" not in types and types[-1] == "response.completed"
    assert types.count("response.created") == 1 and types.count("response.output_item.added") == 1
    seqs = [e.sequence_number for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert deltas == "2+2 = 4"
    final = events[-1].response  # type: ignore[union-attr]
    assert final.output_text == "2+2 = 4"
    assert final.id == events[0].response.id  # type: ignore[union-attr]
    message_ids = {getattr(e, "item_id", None) for e in events} - {None}
    assert message_ids == {final.output[0].id}
    resumed = final.extra_fields["resumed"]  # type: ignore[attr-defined]
    assert resumed[0]["from"] == "openai/gpt-4o" and resumed[0]["to"] == "backup/gpt-4o"
    assert final.extra_fields["provider"] == "backup"  # type: ignore[attr-defined]
    continued = fake.requests_to("/backup/v1/responses")[0].json
    assert continued["input"][-1] == {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "2+"}],
    }
    assert continued["input"][0]["content"][0]["text"] == "What is 2+2?"


def test_stream_resume_off_by_default(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", drop_after_events=6))
    fake.add("/backup/v1/responses", Reply(sse=_continuation_blocks()))
    with GatewayServer(_with_backup(fake)) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        events = list(
            client.responses.create(
                model="openai/gpt-4o", input="hi", stream=True, extra_body={"fallbacks": ["backup/gpt-4o"]}
            )
        )
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert fake.requests_to("/backup/v1/responses") == []


def test_stream_resume_never_splits_a_tool_call(fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/tool_call_stream", drop_after_events=4))
    fake.add("/backup/v1/responses", Reply.fixture("openai-responses/tool_call_stream"))
    config = _with_backup(fake)
    config["stream_resume"] = True
    with GatewayServer(config) as gw:
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)
        events = list(
            client.responses.create(
                model="openai/gpt-4o", input="hi", stream=True, extra_body={"fallbacks": ["backup/gpt-4o"]}
            )
        )
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert fake.requests_to("/backup/v1/responses") == []


def _once_the_slot_is_free(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """POST until the gateway has let a closed stream's slot go (it learns of the disconnect on its own time)."""
    deadline = time.monotonic() + 10
    while True:
        resp = http.post("/v1/responses", json=body)
        if resp.status_code != 429 or time.monotonic() > deadline:
            return resp
        time.sleep(0.01)


def test_queue_full_is_the_gateways_refusal_and_cools_no_provider_key(fake: FakeUpstream) -> None:
    """A 429 of the gateway's own queue says nothing about the provider key that was picked for it."""
    keys = [{"value": "sk-main", "weight": 1}, {"value": "sk-spare", "weight": 0}]
    blocks = load_fixture("openai-responses/text_stream")["response"]["sse"]
    fake.add("/v1/responses", Reply(sse=blocks, event_delay=60), times=1)  # holds the only slot
    fake.add("/v1/responses", Reply.fixture(OK))
    config = _with_backup(fake, keys=keys, max_concurrency=1, max_queue=0, key_cooldown=600)
    with GatewayServer(config) as gw, httpx.Client(base_url=gw.url, timeout=30) as http:
        with http.stream("POST", "/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True}) as s:
            lines = s.iter_lines()  # kept: a dropped iterator would close the connection
            assert next(lines) == "event: response.created"  # the stream is open and holds the slot
            refused = http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": "hi"})
        after = _once_the_slot_is_free(http, {"model": "openai/gpt-4o", "input": "hi"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "gateway_queue_full"
    assert "provider" not in refused.json()["error"]  # the gateway's refusal, not a provider's
    assert refused.headers["x-ferryman-attempts"] == "openai/gpt-4o:429"  # no other key tried: none was at fault
    assert after.status_code == 200
    auth = [r.headers["Authorization"] for r in fake.requests_to("/v1/responses")]
    assert auth == ["Bearer sk-main", "Bearer sk-main"]  # sk-main was not cooled down by the gateway's 429
