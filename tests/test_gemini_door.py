"""The Gemini API door (``/genai/v1beta/models/{model}:generateContent``) with the official ``google-genai`` SDK
as client, through a real gateway, against fake upstreams speaking each provider's wire format (recorded
exchanges): what the client gets, and what each upstream received."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from pydantic import BaseModel

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

KEY = "test-upstream-key-not-real"
GEMINI = "/v1beta/models/{}:generateContent"
GEMINI_STREAM = "/v1beta/models/{}:streamGenerateContent"
BEDROCK = "/model/{}/converse"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    def entry(kind: str, base: str = "") -> dict[str, Any]:
        return {"type": kind, "base_url": upstream.url + base, "keys": [{"value": KEY}], "max_retries": 0}

    config = {
        "store": False,
        "providers": {
            "gemini": entry("gemini"),
            "openai": entry("openai", "/v1"),
            "anthropic": entry("anthropic"),
            "bedrock": {**entry("bedrock"), "region": "us-east-1"},
            "chat": entry("openai-chat", "/chat/v1"),
        },
        "models": [{"name": "flash", "target": "gemini/gemini-2.0-flash"}],
    }
    with GatewayServer(config) as server:
        yield server


def sdk(url: str, key: str = "client-key") -> genai.Client:
    options = types.HttpOptions(
        base_url=f"{url}/genai", api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture
def client(gw: GatewayServer) -> genai.Client:
    return sdk(gw.url)


NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)


def _field(obj: dict[str, Any], name: str) -> Any:
    """A field of a body as google-genai sent it: by its lowerCamelCase name or its snake_case one."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return obj[name] if name in obj else obj[snake]


def recorded(name: str) -> dict[str, Any]:
    return load_fixture(name)


def sse_payloads(name: str) -> list[dict[str, Any]]:
    """The JSON of each ``data:`` line of a recorded stream."""
    blocks = recorded(name)["response"]["sse"]
    return [json.loads(line[5:]) for b in blocks for line in b.splitlines() if line.startswith("data:") and "{" in line]


def gemini_texts(chunks: list[dict[str, Any]], *, thought: bool = False) -> list[str]:
    return [
        p["text"]
        for c in chunks
        for p in c["candidates"][0].get("content", {}).get("parts", [])
        if "text" in p and bool(p.get("thought")) is thought and p["text"]
    ]


# ---- Gemini upstream: what the client sent reaches Gemini as it was ------------------------------


def test_text_on_gemini_by_alias(fake: FakeUpstream, client: genai.Client) -> None:
    fx = recorded("gemini-generatecontent/text_basic")
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply.fixture("gemini-generatecontent/text_basic"))
    sent = fx["request"]["body"]
    response = client.models.generate_content(
        model="flash",
        contents=sent["contents"][0]["parts"][0]["text"],
        config=types.GenerateContentConfig(system_instruction=sent["systemInstruction"]["parts"][0]["text"]),
    )
    body = fx["response"]["body"]
    assert response.text == body["candidates"][0]["content"]["parts"][0]["text"]
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count == body["usageMetadata"]["promptTokenCount"]
    assert usage.total_token_count == body["usageMetadata"]["totalTokenCount"]
    [received] = fake.received
    assert received.headers["x-goog-api-key"] == KEY  # the provider's key, never the client's
    assert received.json["contents"] == sent["contents"]
    assert received.json["systemInstruction"]["parts"] == sent["systemInstruction"]["parts"]


def test_stream_as_sse(fake: FakeUpstream, client: genai.Client) -> None:
    name = "gemini-generatecontent/text_stream"
    fake.add(GEMINI_STREAM.format("gemini-2.0-flash-exp"), Reply.fixture(name))
    chunks = list(client.models.generate_content_stream(model="gemini/gemini-2.0-flash-exp", contents="Hi"))
    assert [c.text for c in chunks if c.text] == gemini_texts(sse_payloads(name))
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == sse_payloads(name)[-1]["usageMetadata"]["candidatesTokenCount"]
    assert fake.received[-1].query == {"alt": "sse"}


def test_stream_as_a_json_array_with_an_encoded_slash(fake: FakeUpstream, gw: GatewayServer) -> None:
    name = "gemini-generatecontent/text_stream"
    fake.add(GEMINI_STREAM.format("gemini-2.0-flash-exp"), Reply.fixture(name))
    body = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    resp = httpx.post(f"{gw.url}/genai/v1beta/models/gemini%2Fgemini-2.0-flash-exp:streamGenerateContent", json=body)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    chunks = resp.json()  # one JSON array, Google's form without alt=sse
    assert isinstance(chunks, list) and gemini_texts(chunks) == gemini_texts(sse_payloads(name))
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and "usageMetadata" in chunks[-1]


def test_thoughts_stream_as_thought_parts(fake: FakeUpstream, client: genai.Client) -> None:
    name = "gemini-generatecontent/thinking_stream"
    fake.add(GEMINI_STREAM.format("gemini-2.5-pro"), Reply.fixture(name))
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    chunks = list(client.models.generate_content_stream(model="gemini/gemini-2.5-pro", contents="Hi", config=config))
    parts = [p for c in chunks if c.candidates and c.candidates[0].content for p in c.candidates[0].content.parts or []]
    assert [p.text for p in parts if p.thought] == gemini_texts(sse_payloads(name), thought=True)
    assert [p.text for p in parts if not p.thought and p.text] == gemini_texts(sse_payloads(name))
    thinking = _field(_field(fake.received[-1].json, "generationConfig"), "thinkingConfig")
    assert _field(thinking, "includeThoughts") is True  # (as the SDK sent it: a Gemini target gets its body)


def test_function_calling_multi_turn_keeps_the_thought_signature(fake: FakeUpstream, client: genai.Client) -> None:
    first, second = (
        recorded("gemini-generatecontent/tool_call"),
        recorded("gemini-generatecontent/tool_result_multi_turn"),
    )
    path = GEMINI.format("gemini-2.5-flash")
    fake.add(path, Reply.fixture("gemini-generatecontent/tool_call"), times=1)
    fake.add(path, Reply.fixture("gemini-generatecontent/tool_result_multi_turn"), times=1)
    declaration = first["request"]["body"]["tools"][0]["functionDeclarations"][0]
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name=declaration["name"],
                description=declaration["description"],
                parameters_json_schema=declaration["parameters_json_schema"],
            )
        ]
    )
    config = types.GenerateContentConfig(tools=[tool], automatic_function_calling=NO_AFC)
    question = first["request"]["body"]["contents"][0]["parts"][0]["text"]
    one = client.models.generate_content(model="gemini/gemini-2.5-flash", contents=question, config=config)
    recorded_part = first["response"]["body"]["candidates"][0]["content"]["parts"][0]
    [call] = one.function_calls or []
    assert call.name == recorded_part["functionCall"]["name"] and call.args == recorded_part["functionCall"]["args"]
    assert one.candidates and one.candidates[0].content and one.candidates[0].content.parts
    signature = one.candidates[0].content.parts[0].thought_signature
    assert signature == base64.b64decode(recorded_part["thoughtSignature"])
    sent = fake.received[-1].json
    [sent_declaration] = _field(sent["tools"][0], "functionDeclarations")
    assert sent_declaration["name"] == declaration["name"]  # as the SDK sent it
    assert _field(sent_declaration, "parametersJsonSchema") == declaration["parameters_json_schema"]

    answer = second["request"]["body"]["contents"][2]["parts"][0]["functionResponse"]["response"]
    contents = [
        types.Content(role="user", parts=[types.Part(text=question)]),
        one.candidates[0].content,
        types.Content(
            role="user",
            parts=[types.Part(function_response=types.FunctionResponse(id=call.id, name=call.name, response=answer))],
        ),
    ]
    two = client.models.generate_content(model="gemini/gemini-2.5-flash", contents=contents, config=config)
    assert two.text == second["response"]["body"]["candidates"][0]["content"]["parts"][0]["text"]
    model_turn, tool_turn = fake.received[-1].json["contents"][1:]
    assert model_turn["role"] == "model"
    assert base64.urlsafe_b64decode(_field(model_turn["parts"][0], "thoughtSignature")) == signature
    called = {"name": call.name, "args": call.args, "id": call.id}  # (Gemini's own reply gave it no id)
    assert _field(model_turn["parts"][0], "functionCall") == {k: v for k, v in called.items() if v is not None}
    response = _field(tool_turn["parts"][0], "functionResponse")
    assert response.get("id") == call.id and response["name"] == call.name
    assert response["response"] == answer


def test_inline_image_reaches_gemini(fake: FakeUpstream, client: genai.Client) -> None:
    fake.add(GEMINI.format("gemini-2.0-flash"), Reply.fixture("gemini-generatecontent/image_input"))
    image = types.Part.from_bytes(data=PNG, mime_type="image/png")
    response = client.models.generate_content(model="flash", contents=[image, "What is this?"])
    assert response.text
    parts = fake.received[-1].json["contents"][0]["parts"]
    assert _field(_field(parts[0], "inlineData"), "mimeType") == "image/png"
    assert base64.b64decode(_field(parts[0], "inlineData")["data"]) == PNG and parts[1] == {"text": "What is this?"}


# ---- other providers -------------------------------------------------------------------------------


class CityLocation(BaseModel):
    city: str
    country: str


def test_json_schema_output_on_openai(fake: FakeUpstream, client: genai.Client) -> None:
    name = "openai-responses/structured_output_json_schema"
    fake.add("/v1/responses", Reply.fixture(name))
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=CityLocation)
    response = client.models.generate_content(model="openai/gpt-4o", contents="Largest city in Mexico?", config=config)
    recorded_text = next(i for i in recorded(name)["response"]["body"]["output"] if i["type"] == "message")
    expected = CityLocation.model_validate_json(recorded_text["content"][0]["text"])
    assert response.parsed == expected
    fmt = fake.received[-1].json["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "CityLocation"
    assert {k: v["type"] for k, v in fmt["schema"]["properties"].items()} == {"city": "string", "country": "string"}
    assert fmt["schema"]["required"] == ["city", "country"]


def test_openai_text_and_stream(fake: FakeUpstream, client: genai.Client) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"), times=1)
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream"), times=1)
    body = recorded("openai-responses/text_basic")["response"]["body"]
    response = client.models.generate_content(model="openai/gpt-4o", contents="Capital of France?")
    assert response.text == body["output"][0]["content"][0]["text"]
    assert response.usage_metadata and response.usage_metadata.prompt_token_count == body["usage"]["input_tokens"]
    assert response.model_version == body["model"]
    assert fake.received[-1].json["input"][0]["content"] == [{"type": "input_text", "text": "Capital of France?"}]
    deltas = [
        json.loads(b.split("data: ", 1)[1])["delta"]
        for b in recorded("openai-responses/text_stream")["response"]["sse"]
        if "response.output_text.delta" in b
    ]
    chunks = list(client.models.generate_content_stream(model="openai/gpt-5.2", contents="Hi"))
    assert [c.text for c in chunks if c.text] == deltas
    assert fake.received[-1].json["stream"] is True


def test_anthropic_tool_call_and_its_result(fake: FakeUpstream, client: genai.Client) -> None:
    first, second = recorded("anthropic-messages/tool_call"), recorded("anthropic-messages/tool_result_multi_turn")
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/tool_call"), times=1)
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/tool_result_multi_turn"), times=1)
    spec = first["request"]["body"]["tools"][0]
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name=spec["name"],
                description=spec["description"],
                parameters=types.Schema(
                    type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}, required=["city"]
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(tools=[tool], automatic_function_calling=NO_AFC)
    question = first["request"]["body"]["messages"][0]["content"][0]["text"]
    one = client.models.generate_content(model="anthropic/claude-sonnet-4-5", contents=question, config=config)
    use = first["response"]["body"]["content"][0]
    [call] = one.function_calls or []
    assert (call.id, call.name, call.args) == (use["id"], use["name"], use["input"])
    sent_tool = fake.received[-1].json["tools"][0]
    assert sent_tool["name"] == spec["name"]
    assert sent_tool["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert sent_tool["input_schema"]["required"] == ["city"]

    result = second["request"]["body"]["messages"][2]["content"][0]["content"]
    assert one.candidates and one.candidates[0].content
    contents = [
        types.Content(role="user", parts=[types.Part(text=question)]),
        one.candidates[0].content,
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(id=call.id, name=call.name, response={"output": result})
                )
            ],
        ),
    ]
    two = client.models.generate_content(model="anthropic/claude-sonnet-4-5", contents=contents, config=config)
    assert two.text == second["response"]["body"]["content"][0]["text"]
    messages = fake.received[-1].json["messages"]
    assert messages[1]["content"][0]["type"] == "tool_use" and messages[1]["content"][0]["id"] == use["id"]
    tool_result = messages[2]["content"][0]
    assert tool_result["tool_use_id"] == use["id"] and result in json.dumps(tool_result["content"])


def test_anthropic_stream_and_image(fake: FakeUpstream, client: genai.Client) -> None:
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/text_stream"), times=1)
    fake.add("/v1/messages", Reply.fixture("anthropic-messages/image_input"), times=1)
    deltas = [
        json.loads(b.split("data: ", 1)[1])["delta"]["text"]
        for b in recorded("anthropic-messages/text_stream")["response"]["sse"]
        if "text_delta" in b
    ]
    chunks = list(client.models.generate_content_stream(model="anthropic/claude-sonnet-4-5", contents="Hi"))
    assert [c.text for c in chunks if c.text] == deltas
    image = types.Part.from_bytes(data=PNG, mime_type="image/png")
    response = client.models.generate_content(model="anthropic/claude-haiku-4-5", contents=[image, "What is it?"])
    assert response.text == recorded("anthropic-messages/image_input")["response"]["body"]["content"][0]["text"]
    block = fake.received[-1].json["messages"][0]["content"][0]
    assert block["type"] == "image" and block["source"]["media_type"] == "image/png"
    assert base64.b64decode(block["source"]["data"]) == PNG


def test_bedrock_text(fake: FakeUpstream, client: genai.Client) -> None:
    model = "us.amazon.nova-micro-v1:0"
    fx = recorded("bedrock-converse/text_basic")
    fake.add(BEDROCK.format(model), Reply.fixture("bedrock-converse/text_basic"))
    config = types.GenerateContentConfig(system_instruction=fx["request"]["body"]["system"][0]["text"])
    response = client.models.generate_content(model=f"bedrock/{model}", contents="Hello!", config=config)
    assert response.text == fx["response"]["body"]["output"]["message"]["content"][0]["text"]
    assert (
        response.usage_metadata
        and response.usage_metadata.total_token_count == fx["response"]["body"]["usage"]["totalTokens"]
    )
    sent = fake.received[-1].json
    assert sent["messages"] == fx["request"]["body"]["messages"] and sent["system"] == fx["request"]["body"]["system"]


def test_bedrock_stream(fake: FakeUpstream, gw: GatewayServer) -> None:
    model = "us.amazon.nova-micro-v1:0"
    fake.add(f"/model/{model}/converse-stream", Reply.fixture("bedrock-converse/text_stream"))
    client = sdk(gw.url)
    chunks = list(client.models.generate_content_stream(model=f"bedrock/{model}", contents="Hi"))
    text = "".join(c.text or "" for c in chunks)
    assert text and chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert fake.received[-1].path.endswith("/converse-stream")


def test_chat_completions_text_and_stream(fake: FakeUpstream, client: genai.Client) -> None:
    fake.add("/chat/v1/chat/completions", Reply.fixture("openai-chat/text_basic"), times=1)
    fake.add("/chat/v1/chat/completions", Reply.fixture("openai-chat/text_stream"), times=1)
    fx = recorded("openai-chat/text_basic")
    system, user = (m["content"] for m in fx["request"]["body"]["messages"])
    config = types.GenerateContentConfig(system_instruction=system, max_output_tokens=50, temperature=0.5)
    response = client.models.generate_content(model="chat/gpt-4o", contents=user, config=config)
    assert response.text == fx["response"]["body"]["choices"][0]["message"]["content"]
    sent = fake.received[-1].json
    assert sent["messages"] == fx["request"]["body"]["messages"]
    assert sent["temperature"] == 0.5 and 50 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))
    deltas = [
        d["choices"][0]["delta"].get("content")
        for b in recorded("openai-chat/text_stream")["response"]["sse"]
        if "[DONE]" not in b and (d := json.loads(b.split("data: ", 1)[1]))["choices"]
    ]
    chunks = list(client.models.generate_content_stream(model="chat/gpt-4o", contents=user))
    assert [c.text for c in chunks if c.text] == [d for d in deltas if d]


# ---- errors: Google's shape and status -------------------------------------------------------------


def test_bad_input_is_a_400_in_googles_shape_before_any_call(fake: FakeUpstream, client: genai.Client) -> None:
    config = types.GenerateContentConfig(stop_sequences=["STOP"])
    with pytest.raises(errors.ClientError) as info:  # (a Gemini target takes it: the body goes as it was sent)
        client.models.generate_content(model="openai/gpt-4o", contents="Hi", config=config)
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert "stopSequences" in (info.value.message or "")
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(
            model="flash", contents=[types.Content(role="robot", parts=[types.Part(text="x")])]
        )
    assert info.value.code == 400 and "contents[0].role" in (info.value.message or "")
    assert fake.received == []


def test_raw_errors(fake: FakeUpstream, gw: GatewayServer) -> None:
    url = f"{gw.url}/genai/v1beta/models"
    not_json = httpx.post(f"{url}/flash:generateContent", content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error"]["status"] == "INVALID_ARGUMENT"
    unknown = httpx.post(f"{url}/nobody%2Fx:generateContent", json={"contents": []})
    error = unknown.json()["error"]
    assert unknown.status_code == 404 and error["code"] == 404 and error["status"] == "NOT_FOUND"
    assert error["details"][0]["reason"] == "provider_not_found"
    count = httpx.post(f"{url}/flash:countTokens", json={"contents": []})
    assert count.status_code == 501 and count.json()["error"]["status"] == "UNIMPLEMENTED"
    search = httpx.post(
        f"{url}/chat%2Fgpt-4o:generateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"urlContext": {}}]},
    )
    assert (
        search.status_code == 400 and search.json()["error"]["details"][0]["metadata"]["param"] == "tools[0].urlContext"
    )
    assert fake.received == []


def test_upstream_failures(fake: FakeUpstream, client: genai.Client) -> None:
    fake.add(GEMINI.format("gemini-3.6-flahs"), Reply.fixture("gemini-generatecontent/error_404_model_not_found"))
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="gemini/gemini-3.6-flahs", contents="Hi")
    upstream_error = recorded("gemini-generatecontent/error_404_model_not_found")["response"]["body"]["error"]
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    assert upstream_error["message"] in (info.value.message or "")
    fake.add("/v1/responses", Reply(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}}))
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model="openai/gpt-4o", contents="Hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    fake.add(
        "/v1/messages", Reply(status=503, json={"type": "error", "error": {"type": "overloaded", "message": "busy"}})
    )
    with pytest.raises(errors.ServerError) as server:
        client.models.generate_content(model="anthropic/claude-sonnet-4-5", contents="Hi")
    assert server.value.code == 503 and server.value.status == "UNAVAILABLE"


def test_a_stream_broken_midway_ends_with_an_error_chunk(fake: FakeUpstream, gw: GatewayServer) -> None:
    name = "gemini-generatecontent/text_stream"
    fake.add(GEMINI_STREAM.format("gemini-2.0-flash-exp"), Reply.fixture(name, drop_after_events=1))
    body = {"contents": [{"parts": [{"text": "Hi"}]}]}
    url = f"{gw.url}/genai/v1beta/models/gemini%2Fgemini-2.0-flash-exp:streamGenerateContent"
    resp = httpx.post(url, params={"alt": "sse"}, json=body)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    frames = [json.loads(line[6:]) for line in resp.text.splitlines() if line.startswith("data: ")]
    assert gemini_texts(frames[:-1]) == gemini_texts(sse_payloads(name)[:1])
    assert frames[-1]["error"]["code"] >= 500 and frames[-1]["error"]["status"]


def test_the_route_is_gemini_in_the_metrics(fake: FakeUpstream, gw: GatewayServer, client: genai.Client) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    client.models.generate_content(model="openai/gpt-4o", contents="Hi")
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert any(
        line.startswith("ferryman_requests_total{") and 'route="gemini"' in line and 'provider="openai"' in line
        for line in metrics.splitlines()
    )


# ---- credentials: x-goog-api-key and ?key= are the caller's key ------------------------------------


def test_governance_takes_googles_key_header_and_query(tmp_path: Any) -> None:
    config = {
        "store": f"sqlite:///{tmp_path}/store.db",
        "governance": {"master_key": "env.FM_MASTER"},
    }
    with GatewayServer(config, {"FM_MASTER": "master-secret-key"}) as gw:
        master, wrong = sdk(gw.url, key="master-secret-key"), sdk(gw.url, key="wrong-key")
        assert master.models.generate_content(model="mock/echo", contents="Hello").text == "Hello"
        with pytest.raises(errors.ClientError) as info:
            wrong.models.generate_content(model="mock/echo", contents="Hello")
        assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
        body = {"contents": [{"parts": [{"text": "Hi"}]}]}
        url = f"{gw.url}/genai/v1/models/mock%2Fecho:generateContent"
        assert httpx.post(url, params={"key": "master-secret-key"}, json=body).status_code == 200
        refused = httpx.post(url, json=body)
        assert refused.status_code == 401 and "wrong" not in refused.text
