"""Every failure is an OpenAI-style JSON error with the right status; never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, closed_port, load_fixture


def _error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err)
    assert isinstance(err["message"], str) and err["message"]
    assert "Traceback" not in resp.text
    return err


def test_invalid_json(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", content=b'{"model": "smart", "input": '), 400)
    assert err["type"] == "invalid_request_error"
    assert err["code"] == "invalid_json"


def test_body_not_an_object(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json=["model", "smart"]), 400)
    assert err["code"] == "invalid_json"


def test_missing_model(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"input": "hi"}), 400)
    assert err["param"] == "model"
    assert err["code"] == "missing_required_parameter"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "smart", "temperature": "hot"}, "temperature"),
        ({"model": "smart", "temperature": 3}, "temperature"),
        ({"model": "smart", "temperature": -1}, "temperature"),  # what error_400 sent OpenAI
        ({"model": "smart", "max_output_tokens": "many"}, "max_output_tokens"),
        ({"model": "smart", "stream": "yes"}, "stream"),
        ({"model": "smart", "tools": [{"name": "f"}]}, "tools[0].type"),
        ({"model": "smart", "reasoning": {"max_tokens": -1}}, "reasoning.max_tokens"),
        ({"model": "smart", "fallbacks": "openai/gpt-4o"}, "fallbacks"),
        ({"model": 5}, "model"),
        ({"model": "smart", "truncation": "sometimes"}, "truncation"),
    ],
)
def test_ill_typed_field_names_param(http: httpx.Client, fake: FakeUpstream, body: dict, param: str) -> None:
    err = _error(http.post("/v1/responses", json=body), 400)
    assert err["param"] == param
    assert param.split("[")[0].split(".")[0] in err["message"]
    assert fake.received == []  # nothing reached a provider


def test_unknown_provider_lists_known_names(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"model": "nosuch/model-x", "input": "hi"}), 404)
    assert err["code"] == "provider_not_found"
    assert "openai" in err["message"] and "smart" in err["message"]


def test_unknown_model_name(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"model": "my-favourite-model", "input": "hi"}), 404)
    assert err["code"] == "model_not_found"
    assert err["param"] == "model"
    assert "smart" in err["message"]


def test_ambiguous_bare_name(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"model": "llama-3.3-70b-versatile", "input": "hi"}), 400)
    assert err["code"] == "ambiguous_model"
    assert "groq" in err["message"]


def test_provider_not_configured_has_hint(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"model": "claude-3-5-haiku-latest", "input": "hi"}), 400)
    assert err["code"] == "provider_not_configured"
    assert "ANTHROPIC_API_KEY" in err["message"]
    err = _error(http.post("/v1/responses", json={"model": "anthropic/claude-3-5-haiku-latest"}), 400)
    assert "anthropic" in err["message"]


def test_unknown_fallback_names_the_field(http: httpx.Client) -> None:
    err = _error(http.post("/v1/responses", json={"model": "smart", "fallbacks": ["nosuch/x"]}), 404)
    assert err["param"] == "fallbacks"


def test_provider_without_key(fake: FakeUpstream) -> None:
    config = base_config(fake)
    config["providers"]["openai"]["keys"] = [{"value": "env.FERRYMAN_TEST_UNSET_KEY"}]
    with GatewayServer(config) as gw:
        err = _error(httpx.post(f"{gw.url}/v1/responses", json={"model": "smart", "input": "hi"}), 401)
    assert err["code"] == "missing_api_key"
    assert "openai" in err["message"]
    assert fake.received == []


def test_key_limited_to_other_models(fake: FakeUpstream) -> None:
    config = base_config(fake)
    config["providers"]["openai"]["keys"] = [{"value": "sk-only-mini", "models": ["gpt-4o-mini"]}]
    with GatewayServer(config) as gw:
        err = _error(httpx.post(f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o"}), 401)
    assert err["code"] == "no_key_for_model"
    assert "sk-only-mini" not in err["message"]


@pytest.mark.parametrize("name", ["error_400_model_not_found"])
def test_upstream_error_keeps_status_and_message(fake: FakeUpstream, http: httpx.Client, name: str) -> None:
    exchange = load_fixture(f"openai-responses/{name}")
    fake.add("/v1/responses", Reply.fixture(f"openai-responses/{name}"))
    body = dict(exchange["request"]["body"], model=f"openai/{exchange['request']['body']['model']}")
    resp = http.post("/v1/responses", json=body)
    err = _error(resp, exchange["response"]["status"])
    upstream_err = exchange["response"]["body"]["error"]
    assert err["message"] == f"openai: {upstream_err['message']}"
    assert err["param"] == upstream_err["param"]
    assert err["code"] == upstream_err["code"]
    assert err["type"] == upstream_err["type"]
    assert err["provider"] == "openai"
    assert resp.headers["x-ferryman-attempts"] == f"openai/{exchange['request']['body']['model']}:400"


def test_upstream_error_through_sdk(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/error_400_model_not_found"))
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="openai/gpt-5.2-proo", input="hello")
    assert "does not exist" in info.value.message
    assert info.value.code == "model_not_found"


def test_upstream_streaming_request_error_is_json(fake: FakeUpstream, client: openai.OpenAI) -> None:
    """error_400 was recorded with stream=true: the error comes back before any event, as JSON."""
    fake.add("/v1/responses", Reply.fixture("openai-responses/error_400"))
    with pytest.raises(openai.BadRequestError) as info:
        list(client.responses.create(model="openai/gpt-4o", input="hi", temperature=0, stream=True))
    assert info.value.status_code == 400
    assert "temperature" in info.value.message


def test_upstream_non_json_error(fake: FakeUpstream, http: httpx.Client) -> None:
    fake.add(
        "/v1/responses", Reply(status=502, body=b"<html>bad gateway</html>", headers={"content-type": "text/html"})
    )
    err = _error(http.post("/v1/responses", json={"model": "smart", "input": "hi"}), 502)
    assert "bad gateway" in err["message"]
    assert err["provider"] == "openai"


@pytest.fixture
def slow_gateway(fake: FakeUpstream) -> Iterator[GatewayServer]:
    config = base_config(fake)
    config["providers"]["openai"]["timeout"] = 0.3
    with GatewayServer(config) as gw:
        yield gw


def test_upstream_timeout_is_504(fake: FakeUpstream, slow_gateway: GatewayServer) -> None:
    fake.add("/v1/responses", Reply(hang=True))
    err = _error(httpx.post(f"{slow_gateway.url}/v1/responses", json={"model": "smart", "input": "hi"}), 504)
    assert err["code"] == "upstream_timeout"
    assert "openai" in err["message"]


def test_request_timeout_header(fake: FakeUpstream, http: httpx.Client) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic", delay=1.0))
    resp = http.post("/v1/responses", json={"model": "smart", "input": "hi"}, headers={"x-ferryman-timeout": "0.2"})
    assert _error(resp, 504)["code"] == "upstream_timeout"
    bad = http.post("/v1/responses", json={"model": "smart"}, headers={"x-ferryman-timeout": "soon"})
    assert _error(bad, 400)["param"] == "x-ferryman-timeout"


def test_connection_refused_is_502(fake: FakeUpstream) -> None:
    config = base_config(fake)
    config["providers"]["openai"]["base_url"] = f"http://127.0.0.1:{closed_port()}/v1"
    with GatewayServer(config) as gw:
        err = _error(httpx.post(f"{gw.url}/v1/responses", json={"model": "smart", "input": "hi"}), 502)
    assert err["code"] == "upstream_connection_error"
    assert "sk-test-openai-secret" not in err["message"]


def test_connection_dropped_before_answer_is_502(fake: FakeUpstream, http: httpx.Client) -> None:
    fake.add("/v1/responses", Reply(drop_before_response=True))
    err = _error(http.post("/v1/responses", json={"model": "smart", "input": "hi"}), 502)
    assert err["code"] == "upstream_connection_error"


def test_unknown_route_and_wrong_method(http: httpx.Client) -> None:
    assert _error(http.get("/v1/nothing-here"), 404)["code"] == "route_not_found"
    resp = http.get("/v1/responses")
    assert _error(resp, 405)["code"] == "method_not_allowed"
    assert resp.headers["allow"] == "POST"


def test_body_too_large(fake: FakeUpstream) -> None:
    with GatewayServer(base_config(fake, max_request_bytes=4096)) as gw:
        resp = httpx.post(f"{gw.url}/v1/responses", json={"model": "smart", "input": "x" * 10_000})
        err = _error(resp, 413)
    assert err["code"] == "request_too_large"


def test_health(http: httpx.Client) -> None:
    resp = http.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
