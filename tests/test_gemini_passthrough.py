"""The Gemini door's fast path: to a ``gemini`` target the client's body goes as it was sent (it names no model: the
URL does), and the Gemini API's reply and chunks come back as Google sent them, unknown fields and all.

The oracles are the client's own bytes (captured from the official ``google-genai`` SDK on their way out), the
fake Gemini's own bytes and frames, and the Responses door's price for the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gateway import GatewayServer
from tests.fakes.passthrough import Capture, client_frames, frames, tokens
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

KEY = "gemini-upstream-key-not-real"
GEMINI = "/v1beta/models/{}:generateContent"
GEMINI_STREAM = "/v1beta/models/{}:streamGenerateContent"


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    keyed = {"base_url": upstream.url, "keys": [{"value": KEY}], "max_retries": 0}
    config = {
        "store": False,
        "metrics": {},
        "providers": {"gemini": keyed, "openai": {**keyed, "base_url": f"{upstream.url}/v1"}},
        "models": [
            {"name": "flash", "target": "gemini/gemini-2.0-flash"},
            {"name": "flash-then-gpt", "target": "gemini/gemini-2.0-flash", "fallbacks": ["openai/gpt-4o"]},
            {"name": "gpt-then-flash", "target": "openai/gpt-4o", "fallbacks": ["gemini/gemini-2.0-flash"]},
        ],
    }
    with GatewayServer(config) as server:
        yield server


@pytest.fixture
def client(gw: GatewayServer, fake: FakeUpstream, capture: Capture) -> Iterator[genai.Client]:
    http = httpx.Client(event_hooks={"request": [capture]}, timeout=30)
    options = types.HttpOptions(
        base_url=f"{gw.url}/genai",
        api_version="v1beta",
        retry_options=types.HttpRetryOptions(attempts=1),
        httpx_client=http,
    )
    yield genai.Client(api_key="client-key", http_options=options)
    http.close()


def _tokens(gw: GatewayServer, kind: str) -> float:
    return tokens(gw.url, "gemini", "gemini-2.0-flash", kind)


UNTRANSLATABLE = types.GenerateContentConfig(
    stop_sequences=["STOP"],  # no canonical form: only a Gemini target takes them
    presence_penalty=0.5,
    tools=[types.Tool(url_context=types.UrlContext())],
    thinking_config=types.ThinkingConfig(include_thoughts=True, thinking_budget=1024),
)


# ---- the request, byte for byte ------------------------------------------------------------------------


def test_gemini_gets_the_clients_bytes_and_never_its_key(
    client: genai.Client, fake: FakeUpstream, capture: Capture
) -> None:
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply.fixture("gemini-generatecontent/text_basic"))
    client.models.generate_content(model="flash", contents="Größte Stadt? \u2603", config=UNTRANSLATABLE)
    sent = capture.requests[-1]
    [received] = fake.requests_to(GEMINI.format("gemini-2.0-flash"))
    assert received.body == sent.content  # not one byte changed: the model is in the URL
    assert received.headers["x-goog-api-key"] == KEY and received.query == {}
    assert "client-key" not in json.dumps(received.headers)


def test_what_the_door_cannot_translate_is_refused_by_a_translating_target(
    client: genai.Client, fake: FakeUpstream
) -> None:
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="openai/gpt-4o", contents="x", config=UNTRANSLATABLE)
    assert info.value.code == 400 and "stopSequences" in (info.value.message or "")
    assert fake.received == []


# ---- the reply, as Google sent it --------------------------------------------------------------------


def test_the_reply_is_googles_bytes(gw: GatewayServer, client: genai.Client, fake: FakeUpstream) -> None:
    body = load_fixture("gemini-generatecontent/web_search")["response"]["body"]
    candidate = {
        **body["candidates"][0],
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
        "x_new_field": {"kept": True},  # a field Ferryman has never heard of
    }
    body = {**body, "candidates": [candidate], "modelVersion": "gemini-2.0-flash-001", "responseId": "r-1"}
    raw = json.dumps(body, indent=1).encode()  # Google's own spacing
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply(body=raw, headers={"content-type": "application/json"}))
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply(body=raw, headers={"content-type": "application/json"}), times=1)
    oai = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="client-key", max_retries=0)
    oracle = oai.responses.create(model="flash", input="x").usage  # the same answer's tokens, translated
    assert oracle is not None
    before = _tokens(gw, "input"), _tokens(gw, "output")
    resp = httpx.post(
        f"{gw.url}/genai/v1beta/models/flash:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]}
    )
    assert resp.status_code == 200 and resp.content == raw
    assert resp.headers["x-ferryman-attempts"] == "gemini/gemini-2.0-flash:200"
    after = _tokens(gw, "input"), _tokens(gw, "output")
    assert (after[0] - before[0], after[1] - before[1]) == (oracle.input_tokens, oracle.output_tokens)
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply(body=raw, headers={"content-type": "application/json"}))
    answer = client.models.generate_content(model="flash", contents="x")
    assert answer.candidates and answer.candidates[0].grounding_metadata
    assert answer.candidates[0].grounding_metadata.grounding_chunks


# ---- the stream, frame by frame -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["text_stream", "thinking_stream", "tool_call_stream"])
def test_stream_chunks_are_relayed_unchanged(gw: GatewayServer, fake: FakeUpstream, fixture: str) -> None:
    recorded = load_fixture(f"gemini-generatecontent/{fixture}")
    sse = recorded["response"]["sse"]
    fake.add(GEMINI_STREAM.format("gemini-2.0-flash"), Reply(sse=sse, headers={"content-type": "text/event-stream"}))
    url = f"{gw.url}/genai/v1beta/models/flash:streamGenerateContent"
    with httpx.stream("POST", url, params={"alt": "sse"}, json=recorded["request"]["body"], timeout=30) as resp:
        raw = resp.read()
    assert client_frames(raw) == frames(sse)
    [received] = fake.requests_to(GEMINI_STREAM.format("gemini-2.0-flash"))
    assert received.query == {"alt": "sse"} and received.json == recorded["request"]["body"]


def test_the_sdk_reads_a_passed_through_stream(client: genai.Client, fake: FakeUpstream) -> None:
    name = "gemini-generatecontent/thinking_stream"
    fake.add(GEMINI_STREAM.format("gemini-2.0-flash"), Reply.fixture(name))
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    chunks = list(client.models.generate_content_stream(model="flash", contents="Hi", config=config))
    sent = [json.loads(b.split("data: ", 1)[1]) for b in load_fixture(name)["response"]["sse"]]
    parts = [p for c in chunks if c.candidates and c.candidates[0].content for p in c.candidates[0].content.parts or []]
    want = [p for c in sent for p in c["candidates"][0]["content"].get("parts", [])]
    assert [(p.text, bool(p.thought)) for p in parts] == [(p.get("text"), bool(p.get("thought"))) for p in want]
    signed = [p.thought_signature for p in parts if p.thought_signature]
    assert len(signed) == len([p for p in want if "thoughtSignature" in p]) > 0  # Google's own, as it sent them


# ---- fallbacks between the two paths ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_gemini_failing_falls_back_to_a_translated_target(
    client: genai.Client, fake: FakeUpstream, stream: bool
) -> None:
    down = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    path = GEMINI_STREAM if stream else GEMINI
    fake.add(path.format("gemini-2.0-flash"), Reply(status=503, json=down))
    fixture = "openai-responses/text_stream" if stream else "openai-responses/text_basic"
    fake.add("/v1/responses", Reply.fixture(fixture))
    if stream:
        text = "".join(
            c.text or "" for c in client.models.generate_content_stream(model="flash-then-gpt", contents="x")
        )
        done = next(b for b in load_fixture(fixture)["response"]["sse"] if "response.completed" in b)
        answer = json.loads(done.split("data: ", 1)[1])["response"]
    else:
        text = client.models.generate_content(model="flash-then-gpt", contents="x").text or ""
        answer = load_fixture(fixture)["response"]["body"]
    assert text == "".join(c["text"] for i in answer["output"] if i["type"] == "message" for c in i["content"])
    assert len(fake.requests_to(path.format("gemini-2.0-flash"))) == 1


def test_a_translated_target_failing_falls_back_to_gemini_passed_through(gw: GatewayServer, fake: FakeUpstream) -> None:
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "down", "type": "server_error"}}))
    raw = json.dumps(load_fixture("gemini-generatecontent/text_basic")["response"]["body"]).encode()
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply(body=raw, headers={"content-type": "application/json"}))
    resp = httpx.post(
        f"{gw.url}/genai/v1beta/models/gpt-then-flash:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]}
    )
    assert resp.status_code == 200 and resp.content == raw
    assert resp.headers["x-ferryman-attempts"] == "openai/gpt-4o:503,gemini/gemini-2.0-flash:200"
