"""Bad input never costs an answer: every bad body is a 400 naming its field, found before any upstream
call, whatever the target; client text never steers a provider's URL or breaks a response header;
a request header may only shorten the configured timeout.

The gateway runs against the fake upstream with one provider of each kind; each test checks both what
the client got and what (if anything) reached the upstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferryman.config import config_from_dict
from ferryman.gateway.dispatch import Attempt, Attempts
from ferryman.gateway.router import Target
from ferryman.providers.base import Call
from ferryman.providers.openai import OpenAIResponsesProvider
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import _check_item, check_input
from ferryman.schemas.responses import MAX_JSON_DEPTH, ResponsesRequest
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply

KEY = "k-not-real"


def providers(url: str) -> dict[str, Any]:
    keyed = {"keys": [{"value": KEY}], "max_retries": 0}
    return {
        "openai": {"base_url": f"{url}/v1", **keyed},
        "anthropic": {"type": "anthropic", "base_url": url, **keyed},
        "gemini": {"type": "gemini", "base_url": url, **keyed},
        "vertex": {"type": "vertex", "base_url": url, **keyed},
        "bedrock": {"type": "bedrock", "base_url": url, **keyed},
        "chat": {"type": "openai-chat", "base_url": f"{url}/v1", **keyed},
        "azure": {
            "type": "azure",
            "base_url": url,
            "deployments": {"up": "chat:.."},
            "api_version": "2024-10-21",
            **keyed,
        },
        "slow": {"type": "openai", "base_url": f"{url}/slow/v1", **keyed, "timeout": 0.2},
        "mock": {"type": "mock"},
    }


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    server = GatewayServer({**base_config(upstream), "providers": providers(upstream.url)}).start()
    yield server
    server.stop()


def refused(http: httpx.Client, fake: FakeUpstream, body: Any, param: str | None) -> dict[str, Any]:
    """POST ``body``: a 400 in the OpenAI error shape naming ``param``, and nothing sent upstream."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = http.post("/v1/responses", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert fake.received == []
    return error


# ---- item 5: bad bodies --------------------------------------------------------------------------


def test_json_nested_too_deep_is_a_400(http: httpx.Client, fake: FakeUpstream) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 1000, 100_000):
        nested = b"[" * depth + b"]" * depth
        error = refused(http, fake, b'{"model": "mock/x", "input": "hi", "metadata": ' + nested + b"}", None)
        assert error["code"] == "invalid_json" and str(MAX_JSON_DEPTH) in error["message"]
    ok = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)  # within the bound: a plain type error
    refused(http, fake, b'{"model": "mock/x", "input": "hi", "metadata": ' + ok + b"}", "metadata")


@pytest.mark.parametrize("model", ["openai/gpt-4o", "anthropic/claude-x", "gemini/gemini-x", "chat/x", "mock/x"])
@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"role": {}, "content": "hi"}, "input[0].role"),
        ({"role": ["user"], "content": "hi"}, "input[0].role"),
        ({"role": "user", "content": [{"type": "input_text", "text": 5}]}, "input[0].content[0].text"),
        ({"role": "assistant", "content": [{"type": "output_text", "text": ["a"]}]}, "input[0].content[0].text"),
        ({"role": "assistant", "content": [{"type": "refusal", "refusal": {}}]}, "input[0].content[0].refusal"),
        ({"role": "user", "content": [{"text": "no type"}]}, "input[0].content[0]"),
        ({"role": "user", "content": 5}, "input[0].content"),
        ({"type": 5}, "input[0].type"),
        ({"role": "user", "content": "hi", "id": 7}, "input[0].id"),
        ({"type": "function_call", "call_id": "c", "arguments": "{}"}, "input[0].name"),
        ({"type": "function_call_output", "call_id": {}}, "input[0].call_id"),
        ({"type": "function_call_output", "call_id": "c", "output": [{"type": 1}]}, "input[0].output[0]"),
        ({"type": "item_reference"}, "input[0].id"),
        ({"type": "reasoning", "summary": [{"text": 1}]}, "input[0].summary[0]"),
    ],
)
def test_a_bad_input_item_is_a_400_for_every_target(
    http: httpx.Client, fake: FakeUpstream, model: str, item: dict[str, Any], param: str
) -> None:
    """The same 400 for every target, the OpenAI passthrough with store on included (there the bad item
    used to reach the store after the paid upstream call)."""
    refused(http, fake, {"model": model, "input": [item], "store": True}, param)


@pytest.mark.parametrize("model", ["anthropic/claude-x", "chat/x", "gemini/gemini-x", "bedrock/b", "openai/gpt-4o"])
def test_a_function_tool_without_a_name_is_a_400(http: httpx.Client, fake: FakeUpstream, model: str) -> None:
    tools = [{"type": "function", "name": "ok", "parameters": {}}, {"type": "function", "parameters": {}}]
    error = refused(http, fake, {"model": model, "input": "hi", "tools": tools}, "tools[1].name")
    assert error["code"] == "missing_required_parameter"


def test_odd_but_accepted_input_is_stored_and_answered(http: httpx.Client, fake: FakeUpstream) -> None:
    """What passes the door is stored without fail: the answer the upstream was paid for comes back."""
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    odd = [
        {"role": "user", "content": [{"type": "input_text", "text": None}, {"type": "input_audio", "x": [1]}]},
        {"type": "some_future_item", "payload": {"deep": [1, 2]}},
        {"role": "assistant", "content": "earlier"},
    ]
    r = http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": odd, "store": True})
    assert r.status_code == 200, r.text
    items = http.get(f"/v1/responses/{r.json()['id']}/input_items", params={"order": "asc"})
    assert items.status_code == 200
    assert [i.get("role", i.get("type")) for i in items.json()["data"]] == ["user", "some_future_item", "assistant"]


# ---- item 6: model names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["openai/gpt-4o\n", "mock/x\r\nx-evil: 1", "mock/\x00", "mock/\u2028", "m" * 257, ""])
def test_a_model_name_with_a_control_character_is_a_400(http: httpx.Client, fake: FakeUpstream, name: str) -> None:
    refused(http, fake, {"model": name, "input": "hi"}, "model")
    refused(http, fake, {"model": "mock/x", "input": "hi", "fallbacks": ["mock/y", name]}, "fallbacks[1]")


def test_a_printable_model_name_comes_back_in_the_attempts_header(http: httpx.Client, fake: FakeUpstream) -> None:
    r = http.post("/v1/responses", json={"model": "mock/ünïcode name,x", "input": "hi"})
    assert r.status_code == 200, r.text
    assert r.headers["x-ferryman-attempts"] == "mock/%C3%BCn%C3%AFcode%20name%2Cx:200"


def test_the_attempts_header_is_always_a_header_safe_token() -> None:
    attempts = Attempts(
        [Attempt(Target("alias", "a\r\nx: y"), 500, 0.0, 0.1), Attempt(Target("mock", "é,b"), 200, 0.1, 0.1)]
    )
    header = attempts.header()
    assert header == "alias/a%0D%0Ax:%20y:500,mock/%C3%A9%2Cb:200"
    assert header.isascii() and header.isprintable()


# ---- item 7: client values in provider URLs ------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "raw_path"),
    [
        ("gemini/../../v1/files", "/v1beta/models/..%2F..%2Fv1%2Ffiles:generateContent"),
        ("gemini/a?key=x#y", "/v1beta/models/a%3Fkey=x%23y:generateContent"),
        ("gemini/a b%2F", "/v1beta/models/a%20b%252F:generateContent"),
        ("vertex/../../v1/files", "/v1/publishers/google/models/..%2F..%2Fv1%2Ffiles:generateContent"),
        ("vertex/claude-x@20250514", "/v1/publishers/google/models/claude-x@20250514:generateContent"),
        ("bedrock/../converse?x", "/model/..%2Fconverse%3Fx/converse"),
    ],
)
def test_a_model_name_is_one_path_segment_of_the_provider_url(
    http: httpx.Client, fake: FakeUpstream, model: str, raw_path: str
) -> None:
    r = http.post("/v1/responses", json={"model": model, "input": "hi"})
    assert r.status_code == 404  # nothing scripted: the fake's own 404, relayed
    [received] = fake.received
    assert received.raw_path == raw_path
    assert received.query == {}


@pytest.mark.parametrize("model", ["bedrock/..", "bedrock/.", "azure/up"])
def test_a_dot_segment_never_reaches_the_provider(http: httpx.Client, fake: FakeUpstream, model: str) -> None:
    refused(http, fake, {"model": model, "input": "hi"}, "model")


def test_vertex_resource_paths_are_quoted_segment_by_segment(upstream: FakeUpstream) -> None:
    from ferryman.providers.gemini import VertexProvider
    from ferryman.schemas.errors import InvalidRequestError

    config = config_from_dict({"providers": {"vertex": {"type": "vertex", "base_url": "http://h", "project": "p"}}}, {})
    vertex = VertexProvider(config.providers["vertex"])  # type: ignore[arg-type]

    def url(model: str) -> str:
        return vertex.url(Call(ResponsesRequest(model=model), {}, model, None), stream=False)

    assert (
        url("publishers/x/models/y?z")
        == "http://h/v1/projects/p/locations/us-central1/publishers/x/models/y%3Fz:generateContent"
    )
    with pytest.raises(InvalidRequestError):
        url("publishers/../../../v1/files")


# ---- item 8: x-ferryman-timeout ------------------------------------------------------------------


def test_the_timeout_header_only_shortens_the_configured_timeout() -> None:
    config = config_from_dict({"providers": {"openai": {"base_url": "http://h/v1", "timeout": 5}}}, {})
    provider = OpenAIResponsesProvider(config.providers["openai"])
    call = Call(ResponsesRequest(model="m"), {}, "m", None)
    for asked, total in ((None, 5), (1e9, 5), (5, 5), (2, 2)):
        call.timeout = asked
        assert provider.timeout(call, stream=False).total == total


def test_a_long_timeout_header_does_not_lift_the_provider_timeout(http: httpx.Client, fake: FakeUpstream) -> None:
    fake.add("/slow/v1/responses", Reply(hang=True))
    r = http.post("/v1/responses", json={"model": "slow/gpt-4o", "input": "hi"}, headers={"x-ferryman-timeout": "1e9"})
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"


# ---- the input check's fast path ------------------------------------------------------------------

_ODD = st.one_of(
    st.none(), st.integers(), st.booleans(), st.lists(st.text(max_size=2), max_size=1), st.just({"k": None})
)
_GONE = object()  # a field taken out
# what a field of a plain text message (or of one of its parts) may be changed to: other values of its kind, odd ones
_ITEM_FIELDS = {
    "type": st.one_of(st.sampled_from(["message", None, "function_call", "reasoning", _GONE]), _ODD),
    "role": st.one_of(st.sampled_from(["user", "assistant", "system", "developer", "tool", _GONE]), _ODD),
    "id": st.one_of(st.sampled_from(["msg_1", _GONE]), _ODD),
    "content": st.one_of(st.sampled_from(["hi", [], _GONE]), _ODD),
}
_PART_FIELDS = {
    "type": st.one_of(st.sampled_from(["input_text", "output_text", "text", "refusal", "input_image", _GONE]), _ODD),
    "text": st.one_of(st.sampled_from(["", _GONE]), _ODD),
    "cache_control": st.one_of(st.sampled_from([{"type": "ephemeral"}, {}, _GONE]), _ODD),
}


def _changed(base: dict[str, Any], fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with up to two of its fields changed (or taken out)."""
    change = st.lists(st.sampled_from(sorted(fields)).flatmap(lambda k: st.tuples(st.just(k), fields[k])), max_size=2)
    return change.map(lambda pairs: {k: v for k, v in {**base, **dict(pairs)}.items() if v is not _GONE})


_parts = _changed({"type": "input_text", "text": "hi"}, _PART_FIELDS)
_items = st.one_of(
    _changed({"type": "message", "role": "user", "content": "hi"}, _ITEM_FIELDS),
    st.tuples(
        _changed({"type": "message", "role": "assistant"}, _ITEM_FIELDS), st.lists(st.one_of(_parts, _ODD), max_size=3)
    ).map(lambda pair: {**pair[0], "content": pair[1]}),
)


def _outcome(check: Any, item: Any) -> str | None:
    try:
        check(item)
    except InvalidRequestError as exc:
        return exc.param or exc.message
    return None


@settings(max_examples=1000, deadline=None, database=None, derandomize=True)
@given(st.one_of(_items, _ODD))
def test_the_input_checks_fast_path_refuses_what_the_full_check_refuses(item: Any) -> None:
    """A plain text message is passed without naming its place; anything else gets the full check: the outcome
    (accepted, or the 400 and the place it names) is the full check's either way."""
    assert _outcome(lambda i: check_input([i]), item) == _outcome(lambda i: _check_item(i, "input[0]"), item)
