"""Secrets never leave: an upstream that echoes the key it was sent, in an error, a stream's error event or a
raw reply, reaches the client with ``****`` where the key was; log records are scrubbed too; and
``ferryman config check`` / ``ferryman serve`` print no password inside a URL."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from ferryman.app import create_app
from ferryman.config import config_from_dict, describe
from ferryman.providers.bedrock import BedrockProvider
from ferryman.providers.bedrock.config import BedrockConfig
from ferryman.providers.gemini.auth import TokenSource
from ferryman.scrub import MASK, Scrubber, mask_url_passwords, scrub
from ferryman.secret import Secret
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture
from tests.providers.test_gemini import SERVICE_ACCOUNT, FakeRefresh

OPENAI_KEY = "sk-proj-echo-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-echo-anthropic-0123456789"
GEMINI_KEY = "AIzaSyEcho-gemini-0123456789abcdef"
BEDROCK_KEY = "ABSKechoBedrockApiKey0123456789"
AKID = "AKIAECHOEXAMPLE01234"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYECHOKEY"
AWS_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+echo=="
PROXY_PASSWORD = "proxy-password-0123"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY, BEDROCK_KEY, AWS_SECRET, AWS_TOKEN)

GEMINI_PATH = "/v1beta/models/gemini-2.0-flash:generateContent"
GEMINI_STREAM_PATH = "/v1beta/models/gemini-2.0-flash:streamGenerateContent"


def _config(upstream: FakeUpstream, store: str) -> dict[str, Any]:
    url = upstream.url
    return {
        "store": store,
        "providers": {
            "openai": {"base_url": f"{url}/v1", "keys": [{"value": OPENAI_KEY}], "max_retries": 0},
            "anthropic": {"type": "anthropic", "base_url": url, "keys": [{"value": ANTHROPIC_KEY}], "max_retries": 0},
            "gemini": {"type": "gemini", "base_url": url, "keys": [{"value": GEMINI_KEY}], "max_retries": 0},
            "bedrock": {"type": "bedrock", "base_url": url, "keys": [{"value": BEDROCK_KEY}], "max_retries": 0},
            "bedrock-sigv4": {
                "type": "bedrock",
                "base_url": url,
                "keys": [],
                "region": "us-east-1",
                "aws_access_key_id": AKID,
                "aws_secret_access_key": AWS_SECRET,
                "aws_session_token": AWS_TOKEN,
                "max_retries": 0,
            },
        },
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    store = f"sqlite:///{tmp_path_factory.mktemp('secrets-store')}/store.db"
    server = GatewayServer(_config(upstream, store)).start()
    yield server
    server.stop()


@pytest.fixture
def http(gw: GatewayServer, fake: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30) as c:
        yield c


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
        assert quote(secret, safe="") not in text
    assert MASK in text


def _headers(fake: FakeUpstream) -> dict[str, str]:
    return {k.lower(): v for k, v in fake.received[-1].headers.items()}


# ---- errors: every provider, JSON and plain text, before and as a stream ----------------------------

ECHOES: list[tuple[str, str, str, Reply, str]] = [
    # (model, upstream path, header the key went in, the echoing reply, the key)
    (
        "openai/gpt-4o",
        "/v1/responses",
        "authorization",
        Reply(
            status=401,
            json={
                "error": {
                    "message": f"Incorrect API key provided: Bearer {OPENAI_KEY}.",
                    "type": "invalid_request_error",
                    "param": f"authorization: Bearer {OPENAI_KEY}",
                    "code": "invalid_api_key",
                }
            },
        ),
        OPENAI_KEY,
    ),
    (
        "openai/gpt-4o",
        "/v1/responses",
        "authorization",
        Reply(
            status=500,
            body=f"upstream crashed; request headers: {{'authorization': 'Bearer {OPENAI_KEY}'}}".encode(),
            headers={"content-type": "text/plain"},
        ),
        OPENAI_KEY,
    ),
    (
        "anthropic/claude-sonnet-4-5",
        "/v1/messages",
        "x-api-key",
        Reply(
            status=401,
            json={
                "type": "error",
                "error": {"type": "authentication_error", "message": f"invalid x-api-key: {ANTHROPIC_KEY}"},
            },
        ),
        ANTHROPIC_KEY,
    ),
    (
        "anthropic/claude-sonnet-4-5",
        "/v1/messages",
        "x-api-key",
        Reply(
            status=400, body=f"bad request from key {ANTHROPIC_KEY}".encode(), headers={"content-type": "text/plain"}
        ),
        ANTHROPIC_KEY,
    ),
    (
        "gemini/gemini-2.0-flash",
        GEMINI_PATH,
        "x-goog-api-key",
        Reply(
            status=400,
            json=[
                {
                    "error": {
                        "code": 400,
                        "message": f"API key not valid: {GEMINI_KEY} (https://host/v1beta/models?key={GEMINI_KEY})",
                        "status": "INVALID_ARGUMENT",
                    }
                }
            ],
        ),
        GEMINI_KEY,
    ),
    (
        "bedrock/anthropic.claude-3-haiku",
        "/model/anthropic.claude-3-haiku/converse",
        "authorization",
        Reply(status=403, json={"message": f"Invalid bearer token: Bearer {BEDROCK_KEY}"}),
        BEDROCK_KEY,
    ),
    (
        "bedrock-sigv4/anthropic.claude-3-haiku",
        "/model/anthropic.claude-3-haiku/converse",
        "x-amz-security-token",
        Reply(
            status=403,
            json={
                "message": f"The security token included in the request is invalid: {AWS_TOKEN} "
                f"(as a query: {quote(AWS_TOKEN, safe='')}); secret {AWS_SECRET}"
            },
            headers={"x-amzn-errortype": "UnrecognizedClientException:"},
        ),
        AWS_TOKEN,
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("model", "path", "header", "reply", "key"), ECHOES)
def test_an_echoed_key_reaches_the_client_masked(
    http: httpx.Client,
    fake: FakeUpstream,
    model: str,
    path: str,
    header: str,
    reply: Reply,
    key: str,
    stream: bool,
) -> None:
    fake.add(path, reply)
    fake.add(path.replace(":generateContent", ":streamGenerateContent").replace("/converse", "/converse-stream"), reply)
    resp = http.post("/v1/responses", json={"model": model, "input": "hi", "stream": stream})
    assert key in _headers(fake)[header]  # what the upstream echoed is what it was sent
    assert resp.status_code == reply.status, resp.text
    _clean(resp.text)
    assert resp.json()["error"]["message"]


def test_a_stored_background_failure_holds_no_key(http: httpx.Client, fake: FakeUpstream) -> None:
    fake.add("/v1/responses", ECHOES[0][3])
    queued = http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "background": True}).json()
    deadline = time.monotonic() + 10
    while (stored := http.get(f"/v1/responses/{queued['id']}").json())["status"] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, stored
        time.sleep(0.02)
    assert stored["status"] == "failed"
    _clean(json.dumps(stored))


# ---- errors in a stream, after the first byte ---------------------------------------------------------


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines.get("event", ""), json.loads(lines["data"])))
    return out


def test_a_translated_stream_error_event_is_masked(http: httpx.Client, fake: FakeUpstream) -> None:
    sse = load_fixture("anthropic-messages/text_stream")["response"]["sse"]
    error = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": f"Overloaded (x-api-key: {ANTHROPIC_KEY})"},
    }
    fake.add("/v1/messages", Reply(sse=[*sse[:2], f"event: error\ndata: {json.dumps(error)}"]))
    resp = http.post("/v1/responses", json={"model": "anthropic/claude-sonnet-4-5", "input": "hi", "stream": True})
    assert resp.status_code == 200
    kinds = [kind for kind, _ in _events(resp.text)]
    assert "error" in kinds and kinds[-1] == "response.failed"
    _clean(resp.text)


def test_a_passthrough_stream_error_event_is_masked(http: httpx.Client, fake: FakeUpstream) -> None:
    sse = load_fixture("openai-responses/text_stream")["response"]["sse"]
    error = {"type": "error", "code": "server_error", "message": f"boom: Bearer {OPENAI_KEY}", "sequence_number": 1}
    fake.add("/v1/responses", Reply(sse=[sse[0], f"event: error\ndata: {json.dumps(error)}"]))
    resp = http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True})
    assert resp.status_code == 200
    assert "error" in [kind for kind, _ in _events(resp.text)]
    _clean(resp.text)


def test_a_passthrough_response_failed_is_masked(http: httpx.Client, fake: FakeUpstream) -> None:
    sse = load_fixture("openai-responses/text_stream")["response"]["sse"]
    created = json.loads(sse[0].split("data: ", 1)[1])
    response = {**created["response"], "status": "failed", "error": {"code": "server_error", "message": OPENAI_KEY}}
    failed = {"type": "response.failed", "response": response, "sequence_number": 1}
    fake.add("/v1/responses", Reply(sse=[sse[0], f"event: response.failed\ndata: {json.dumps(failed)}"]))
    resp = http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True})
    assert [kind for kind, _ in _events(resp.text)][-1] == "response.failed"
    _clean(resp.text)


# ---- raw_response / raw_request -----------------------------------------------------------------------


def test_send_back_raw_masks_an_echoing_reply(http: httpx.Client, fake: FakeUpstream) -> None:
    reply = Reply.fixture("anthropic-messages/text_basic")
    reply.json = {**reply.json, "echo": {"x-api-key": ANTHROPIC_KEY}}
    fake.add("/v1/messages", reply)
    resp = http.post(
        "/v1/responses",
        json={"model": "anthropic/claude-sonnet-4-5", "input": f"my colleague's key is {GEMINI_KEY}"},
        headers={"x-ferryman-send-back-raw": "true"},
    )
    assert resp.status_code == 200, resp.text
    extra = resp.json()["extra_fields"]
    assert extra["raw_response"]["echo"] == {"x-api-key": MASK}
    assert extra["raw_response"]["content"] == reply.json["content"]  # nothing else changed
    _clean(json.dumps(extra["raw_request"]))


# ---- logs ---------------------------------------------------------------------------------------------


def test_log_records_are_scrubbed(gw: GatewayServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("ferryman.dispatch").warning("upstream said: %s", f"Bearer {OPENAI_KEY}")
    logging.getLogger("uvicorn.error").error(f"headers echoed: x-api-key={ANTHROPIC_KEY}")
    try:
        raise RuntimeError(f"the provider rejected {AWS_SECRET}")
    except RuntimeError:
        logging.getLogger("some.library").exception("call failed")
    text = caplog.text
    assert len(caplog.records) == 3
    _clean(text)
    assert f"Bearer {MASK}" in text and "RuntimeError: the provider rejected ****" in text


# ---- the scrubber itself ------------------------------------------------------------------------------


def test_short_values_are_left_alone_and_the_longest_match_wins() -> None:
    scrubber = Scrubber()
    scrubber.add(["short", "abcdefgh", "abcdefgh-longer", None, ""])
    assert scrubber.text("short abcdefgh abcdefgh-longer") == "short **** ****"
    assert scrubber.bytes(b"x abcdefgh-longer y") == b"x **** y"
    for n in ("one", "two", "three"):
        scrubber.rotate("token", [f"token-number-{n}"])
    assert scrubber.text("token-number-one token-number-two token-number-three") == "token-number-one **** ****"
    assert scrubber.text("abcdefgh") == "****"  # a rotating slot leaves the others alone


def test_a_remembered_name_is_scrubbed_again_once_the_secrets_change() -> None:
    scrubber = Scrubber()
    assert scrubber.name("model-token-number-one") == "model-token-number-one"
    scrubber.rotate("token", ["token-number-one"])
    assert scrubber.name("model-token-number-one") == "model-****"
    scrubber.rotate("token", ["token-number-two"])
    scrubber.rotate("token", ["token-number-three"])  # one is neither the current nor the previous token
    assert scrubber.name("model-token-number-one") == "model-token-number-one"
    assert scrubber.name("http://user:pw@host") == "http://user:****@host"


def test_every_configured_secret_is_registered(fake: FakeUpstream, tmp_path: Path) -> None:
    config = _config(fake, "postgresql://postgres:store-password-01@127.0.0.1:5432/test")
    config["providers"]["openai"]["proxy"] = f"http://user:{PROXY_PASSWORD}@127.0.0.1:3128"
    config["providers"]["openai"]["headers"] = {"authorization": "Bearer header-secret-0123", "x-team": "team-one"}
    config["cache"] = {"backend": "redis://:redis-password-01@127.0.0.1:6379/0"}
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    (tmp_path / "sa.json").write_text(json.dumps({"type": "service_account", "private_key": pem}))
    config["providers"]["vertex"] = {"type": "vertex", "project": "p", "credentials": str(tmp_path / "sa.json")}
    create_app(config_from_dict(config, {}, source="test"))
    basic = base64.b64encode(f"user:{PROXY_PASSWORD}".encode()).decode()
    hidden = ["store-password-01", "redis-password-01", PROXY_PASSWORD, basic, "header-secret-0123", pem, *SECRETS]
    text = scrub(" | ".join([*hidden, json.dumps(pem)[1:-1]]))  # as a JSON body would echo it
    assert text == " | ".join([MASK] * (len(hidden) + 1)), text
    assert scrub("x-team: team-one") == "x-team: team-one"  # a header that names no credential is no secret


# ---- tokens obtained at run time ---------------------------------------------------------------------


def test_a_vertex_access_token_is_scrubbed_once_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeRefresh().install(monkeypatch)
    source = TokenSource("vertex-echo", Secret(json.dumps(SERVICE_ACCOUNT), "literal"))
    token = asyncio.run(source.token())
    assert token.startswith("fake-token-")
    assert scrub(f"invalid credentials: Bearer {token}") == f"invalid credentials: Bearer {MASK}"


def test_aws_credentials_from_the_chain_are_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDCHAINECHO")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-chain-0123")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-from-the-chain-0123")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    provider = BedrockProvider(BedrockConfig(name="bedrock-chain", type="bedrock", base_url=None, keys=[]))

    async def run() -> None:
        await provider.start()
        await provider.stop()

    asyncio.run(run())
    text = "x-amz-security-token: session-token-from-the-chain-0123 (secret-from-the-chain-0123)"
    assert scrub(text) == f"x-amz-security-token: {MASK} ({MASK})"


# ---- config check prints no password inside a URL (serve: tests/test_cli.py) -----------------------


def test_mask_url_passwords() -> None:
    assert mask_url_passwords("postgresql://user:pass@host/db") == "postgresql://user:****@host/db"
    assert (
        mask_url_passwords("redis://:pw@h:6379/0 and https://a:b@c/d")
        == "redis://:****@h:6379/0 and https://a:****@c/d"
    )
    assert mask_url_passwords("https://host/path?x=a:b@c") == "https://host/path?x=a:b@c"
    assert mask_url_passwords("postgresql://user@host/db") == "postgresql://user@host/db"


def test_config_check_masks_passwords_in_urls(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "store: postgresql://user:pass@db.internal/ferryman\n"
        "providers:\n"
        "  corp:\n"
        "    type: openai\n"
        "    base_url: https://svc:hunter2@llm.internal/v1\n"
        "    keys: [{value: sk-corp-0123456789}]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ferryman", "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "store: postgresql://user:****@db.internal/ferryman" in out
    assert "base_url=https://svc:****@llm.internal/v1" in out
    assert "pass@" not in out and "hunter2" not in out and "sk-corp-0123456789" not in out
    config = config_from_dict({"store": "postgres://u:p@h/d"}, {})
    assert "postgres://u:****@h/d" in describe(config)
