"""The gateway's own refusals, in each door's own error shape: a 401 from governance (no key, a wrong key), a 429
from a key's rate limit (with ``retry-after`` and the ``x-ratelimit-*`` headers), a 413 for a body over
``max_request_bytes``, and a route's 405 / 404, come back as Anthropic's ``{"type": "error", "error": {...}}``
on ``/anthropic/...``, Google's ``{"error": {"code", "message", "status"}}`` on ``/genai/...`` and OpenAI's
``{"error": {"message", "type", "code"}}`` on the Responses, Chat Completions and embeddings doors.

Each is checked on the wire (httpx: the body and the headers as sent) and, for the 401 and 429, through the
door's official SDK, whose own error classes must recognise it. The mock provider answers, so a refusal is the
only thing that can fail; governance runs on a fixed clock, so a key's minute never rolls over mid-test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.fakes.gateway import GatewayServer

MASTER = "fm-master-door-errors-key"
LIMIT = 4096  # max_request_bytes: the 413's threshold
T0 = 1_800_000_000.0  # governance's clock: the start of a minute


@dataclass(frozen=True)
class DoorCase:
    path: str
    body: dict[str, Any]
    shape: str  # "openai", "anthropic" or "google"


DOORS = {
    "responses": DoorCase("/v1/responses", {"model": "mock/echo", "input": "hi"}, "openai"),
    "chat": DoorCase(
        "/v1/chat/completions", {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]}, "openai"
    ),
    "embeddings": DoorCase("/v1/embeddings", {"model": "mock/embeddings", "input": "hi"}, "openai"),
    "anthropic": DoorCase(
        "/anthropic/v1/messages",
        {"model": "mock/echo", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
        "anthropic",
    ),
    "gemini": DoorCase(
        "/genai/v1beta/models/mock/echo:generateContent", {"contents": [{"parts": [{"text": "hi"}]}]}, "google"
    ),
}
COUNT_TOKENS = DoorCase(
    "/anthropic/v1/messages/count_tokens",
    {"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]},
    "anthropic",
)

# what each shape names a status (Anthropic's error types; Google's canonical codes)
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 405: "invalid_request_error"}
ANTHROPIC_TYPES |= {404: "not_found_error"}
ANTHROPIC_TYPES |= {413: "request_too_large", 429: "rate_limit_error"}
GOOGLE_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "UNIMPLEMENTED"}
GOOGLE_STATUSES |= {413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED"}


def assert_shape(shape: str, response: httpx.Response, status: int, code: str) -> None:
    """``response`` is the refusal ``status`` in ``shape``; ``code`` is Ferryman's own name for it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if shape == "anthropic":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
        assert body["error"]["type"] == ANTHROPIC_TYPES[status] and body["error"]["message"]
    elif shape == "google":
        error = body["error"]
        assert (error["code"], error["status"]) == (status, GOOGLE_STATUSES[status]) and error["message"], body
        assert [d["reason"] for d in error["details"] if d["@type"].endswith("ErrorInfo")] == [code]
    else:
        assert body["error"]["code"] == code and body["error"]["message"] and body["error"]["type"], body


@pytest.fixture(scope="module")
def gov(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('door-errors')}/store.db",
        "governance": {"master_key": "env.FM_MASTER"},
        "max_request_bytes": LIMIT,
    }
    server = GatewayServer(config, {"FM_MASTER": MASTER})
    assert server.app.governance is not None
    server.app.governance.clock = lambda: T0
    with server:
        yield server


def _new_key(gov: GatewayServer, **body: Any) -> str:
    made = httpx.post(
        f"{gov.url}/admin/keys", json={"name": "door", **body}, headers={"authorization": f"Bearer {MASTER}"}
    )
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


def _auth(door: DoorCase, key: str) -> dict[str, str]:
    """The key as the door's SDK sends it."""
    if door.shape == "anthropic":
        return {"x-api-key": key}
    if door.shape == "google":
        return {"x-goog-api-key": key}
    return {"authorization": f"Bearer {key}"}


CASES = [*DOORS.values(), COUNT_TOKENS]
IDS = [*DOORS, "count_tokens"]


@pytest.mark.parametrize("door", CASES, ids=IDS)
def test_no_key_and_a_wrong_key_are_a_401_in_the_doors_shape(gov: GatewayServer, door: DoorCase) -> None:
    for headers in ({}, _auth(door, "sk-fm-not-a-key")):
        refused = httpx.post(f"{gov.url}{door.path}", json=door.body, headers=headers)
        assert_shape(door.shape, refused, 401, "invalid_api_key")
        assert "sk-fm-not-a-key" not in refused.text
    answered = httpx.post(f"{gov.url}{door.path}", json=door.body, headers=_auth(door, MASTER))
    assert answered.status_code == 200, answered.text  # the same request with a key goes through


@pytest.mark.parametrize("door", CASES, ids=IDS)
def test_a_body_over_max_request_bytes_is_a_413_in_the_doors_shape(gov: GatewayServer, door: DoorCase) -> None:
    big = dict(door.body, padding="x" * LIMIT)  # an unknown field: only its size can refuse it
    refused = httpx.post(f"{gov.url}{door.path}", json=big, headers=_auth(door, MASTER))
    assert_shape(door.shape, refused, 413, "request_too_large")
    assert str(LIMIT) in refused.text


RATE_HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")


@pytest.mark.parametrize("door", DOORS.values(), ids=list(DOORS))
def test_a_rate_limited_key_is_a_429_in_the_doors_shape_with_its_headers(gov: GatewayServer, door: DoorCase) -> None:
    key = _new_key(gov, limits={"rpm": 1})
    first = httpx.post(f"{gov.url}{door.path}", json=door.body, headers=_auth(door, key))
    assert first.status_code == 200, first.text
    assert [first.headers[h] for h in RATE_HEADERS[:2]] == ["1", "0"]  # on an answer too, in every door

    refused = httpx.post(f"{gov.url}{door.path}", json=door.body, headers=_auth(door, key))

    assert_shape(door.shape, refused, 429, "rate_limit_exceeded")
    reset = int(refused.headers["retry-after"])
    assert 0 < reset <= 60
    assert [refused.headers[h] for h in RATE_HEADERS] == ["1", "0", f"{reset}s"]


# ---- the doors' official SDKs read these refusals as their own errors -----------------------------------


def _anthropic(gov: GatewayServer, key: str) -> Callable[[], Any]:
    client = anthropic.Anthropic(base_url=f"{gov.url}/anthropic", api_key=key, max_retries=0)
    body = DOORS["anthropic"].body
    return lambda: client.messages.create(**body)


def _gemini(gov: GatewayServer, key: str) -> Callable[[], Any]:
    options = types.HttpOptions(base_url=f"{gov.url}/genai", retry_options=types.HttpRetryOptions(attempts=1))
    client = genai.Client(api_key=key, http_options=options)
    return lambda: client.models.generate_content(model="mock/echo", contents="hi")


def _chat(gov: GatewayServer, key: str) -> Callable[[], Any]:
    client = openai.OpenAI(base_url=f"{gov.url}/v1", api_key=key, max_retries=0)
    return lambda: client.chat.completions.create(**DOORS["chat"].body)


def _embeddings(gov: GatewayServer, key: str) -> Callable[[], Any]:
    client = openai.OpenAI(base_url=f"{gov.url}/v1", api_key=key, max_retries=0)
    return lambda: client.embeddings.create(**DOORS["embeddings"].body)


SDKS = {"anthropic": _anthropic, "gemini": _gemini, "chat": _chat, "embeddings": _embeddings}


def _sdk_error(call: Callable[[], Any]) -> tuple[str, Any]:
    """The SDK's name for what it raised, and the raised error."""
    try:
        call()
    except anthropic.APIStatusError as exc:
        return type(exc).__name__, exc
    except openai.APIStatusError as exc:
        return type(exc).__name__, exc
    except genai_errors.APIError as exc:
        return exc.status, exc
    raise AssertionError("the call was not refused")


@pytest.mark.parametrize("name", list(SDKS))
def test_the_doors_sdk_reads_the_refusals_as_its_own_errors(gov: GatewayServer, name: str) -> None:
    make = SDKS[name]
    unauthorised, _ = _sdk_error(make(gov, "sk-fm-not-a-key"))
    key = _new_key(gov, limits={"rpm": 1})
    make(gov, key)()
    limited, exc = _sdk_error(make(gov, key))

    if name == "gemini":
        assert (unauthorised, limited) == ("UNAUTHENTICATED", "RESOURCE_EXHAUSTED")
        assert exc.code == 429
    else:
        assert (unauthorised, limited) == ("AuthenticationError", "RateLimitError")
        assert exc.status_code == 429
    assert int(exc.response.headers["retry-after"]) > 0
    assert exc.response.headers["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize(
    ("method", "path", "status", "shape"),
    [
        ("GET", "/anthropic/v1/messages", 405, "anthropic"),
        ("POST", "/anthropic/v1/nothing", 404, "anthropic"),
        ("GET", "/genai/v1beta/models/mock/echo:generateContent", 405, "google"),
        ("POST", "/genai/v1beta/nothing", 404, "google"),
        ("GET", "/v1/chat/completions", 405, "openai"),
    ],
)
def test_a_wrong_route_or_method_is_answered_in_the_doors_shape(
    gov: GatewayServer, method: str, path: str, status: int, shape: str
) -> None:
    refused = httpx.request(method, f"{gov.url}{path}", headers={"authorization": f"Bearer {MASTER}"})
    assert_shape(shape, refused, status, "method_not_allowed" if status == 405 else "route_not_found")
    if status == 405:
        assert refused.headers["allow"] == "POST"


@pytest.mark.parametrize("door", DOORS.values(), ids=DOORS)
def test_every_door_reads_the_gateways_own_headers(gov: GatewayServer, door: DoorCase) -> None:
    """``x-ferryman-timeout`` (like the other ``x-ferryman-*`` request headers) is read by every door alike: a
    bad value is a 400 in the door's shape before anything is called, a good one is taken."""
    headers = _auth(door, MASTER)
    refused = httpx.post(f"{gov.url}{door.path}", json=door.body, headers={**headers, "x-ferryman-timeout": "soon"})
    assert_shape(door.shape, refused, 400, "invalid_header")
    taken = httpx.post(f"{gov.url}{door.path}", json=door.body, headers={**headers, "x-ferryman-timeout": "30"})
    assert taken.status_code == 200, taken.text
