"""Namespace and custom tools on every translating provider, and ``compat.drop_unsupported``.

Three layers: the name mapping itself (``providers/tools.py``: names at and over the 64-character
limit, odd characters, collisions, the way back); each adapter's native request (the tools offered,
their descriptions, ``tool_choice``, a history of namespaced and custom calls replayed); and the whole
path through a real gateway with the openai SDK in front of a fake upstream answering in each
provider's wire format, whole and streamed: the client gets ``function_call`` items with their
``namespace`` and ``custom_tool_call`` items with their ``input``, every item and event one the openai
SDK's types accept. Last, the drop rule: config, model alias, request header, ``extra_fields.dropped``
and ``x-ferryman-dropped``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import openai
import pytest
from openai.types.responses import (
    Response,
    ResponseCustomToolCall,
    ResponseFunctionToolCall,
    ResponseStreamEvent,
)
from pydantic import TypeAdapter

from ferryman.config import config_from_dict
from ferryman.providers.anthropic import AnthropicProvider
from ferryman.providers.base import Call
from ferryman.providers.bedrock import BedrockProvider
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.gemini import GeminiProvider
from ferryman.providers.openai_chat import ChatCompletionsProvider
from ferryman.providers.tools import MAX_NAME, ToolName, ToolNames, custom_input
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.responses import validate_request
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply
from tests.providers.test_bedrock import _event

EVENTS = TypeAdapter(ResponseStreamEvent)
VALID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
LONG = "look_up_the_customer_record_by_its_internal_identifier_and_return_it"  # 68 characters
SHELL = {
    "type": "function",
    "name": "shell",
    "description": "Run a command.",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
}
PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /.+/'},
}
CRM = {
    "type": "namespace",
    "name": "crm",
    "description": "The customer database.",
    "tools": [
        {
            "type": "function",
            "name": "find_customer",
            "description": "Find one customer.",
            "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
        },
        {"type": "function", "name": LONG, "parameters": {"type": "object", "properties": {}}},
        {"type": "custom", "name": "note", "description": "Write a note."},
    ],
}
TOOLS = [SHELL, PATCH, CRM]
FIND = "crm__find_customer"
PATCH_INPUT = "*** Begin Patch\n+hello\n*** End Patch"

SETTINGS = {
    "anthropic": ("anthropic", "claude-sonnet-4-5", {}),
    "bedrock": ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", {"region": "us-east-1"}),
    "gemini": ("gemini", "gemini-2.5-flash", {}),
    "groq": ("groq", "llama-3.3-70b-versatile", {}),
}
CONFIG = config_from_dict({"providers": {n: {"keys": [{"value": "k"}], **x} for n, (_, _, x) in SETTINGS.items()}}, {})
ADAPTERS = {
    "anthropic": AnthropicProvider(CONFIG.providers["anthropic"]),
    "bedrock": BedrockProvider(CONFIG.providers["bedrock"]),
    "gemini": GeminiProvider(CONFIG.providers["gemini"]),
    "groq": ChatCompletionsProvider(CONFIG.providers["groq"]),
}
PROVIDERS = list(SETTINGS)


def _call(provider: str, body: dict[str, Any], *, drop: bool = False) -> Call:
    _, model, _ = SETTINGS[provider]
    raw, req = validate_request(msgspec.json.encode({"model": f"{provider}/{model}", "input": "hi", **body}))
    return Call(req, raw, model, None, drop_unsupported=drop)


def _native(provider: str, body: dict[str, Any], *, drop: bool = False) -> dict[str, Any]:
    return ADAPTERS[provider].native_request(_call(provider, body, drop=drop), stream=False)


def _offered(provider: str, native: dict[str, Any]) -> dict[str, tuple[str | None, dict[str, Any] | None]]:
    """The functions a native request offers: name -> (description, parameters)."""
    if provider == "anthropic":
        return {t["name"]: (t.get("description"), t.get("input_schema")) for t in native.get("tools", [])}
    if provider == "bedrock":
        specs = [t["toolSpec"] for t in native.get("toolConfig", {}).get("tools", []) if "toolSpec" in t]
        return {s["name"]: (s.get("description"), s["inputSchema"]["json"]) for s in specs}
    if provider == "gemini":
        decls = [d for t in native.get("tools", []) for d in t.get("functionDeclarations", [])]
        return {d["name"]: (d.get("description"), d.get("parameters")) for d in decls}
    fns = [t["function"] for t in native.get("tools", [])]
    return {f["name"]: (f.get("description"), f.get("parameters")) for f in fns}


def _choice(provider: str, native: dict[str, Any]) -> str:
    """The function name a native request's tool choice forces."""
    if provider == "anthropic":
        assert native["tool_choice"]["type"] == "tool"
        return str(native["tool_choice"]["name"])
    if provider == "bedrock":
        return str(native["toolConfig"]["toolChoice"]["tool"]["name"])
    if provider == "gemini":
        config = native["toolConfig"]["functionCallingConfig"]
        assert config["mode"] == "ANY"
        [name] = config["allowedFunctionNames"]
        return str(name)
    return str(native["tool_choice"]["function"]["name"])


def _history(provider: str, native: dict[str, Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    """A native request's tool calls (name, arguments as an object) and results (call id, text), in order."""
    calls: list[tuple[str, Any]] = []
    results: list[tuple[str, str]] = []
    if provider in ("anthropic", "bedrock"):
        for message in native["messages"]:
            for block in message["content"]:
                if block.get("type") == "tool_use":
                    calls.append((block["name"], block["input"]))
                elif block.get("type") == "tool_result":
                    content = block["content"]
                    text = content if isinstance(content, str) else "".join(b["text"] for b in content)
                    results.append((block["tool_use_id"], text))
                elif "toolUse" in block:
                    calls.append((block["toolUse"]["name"], block["toolUse"]["input"]))
                elif "toolResult" in block:
                    result = block["toolResult"]
                    results.append((result["toolUseId"], result["content"][0]["text"]))
    elif provider == "gemini":
        for content in native["contents"]:
            for part in content["parts"]:
                if "functionCall" in part:
                    calls.append((part["functionCall"]["name"], part["functionCall"]["args"]))
                elif "functionResponse" in part:
                    response = part["functionResponse"]
                    results.append((response["id"], response["response"]["output"]))
                    assert response["name"] == calls[-1][0]  # Gemini names the function a response answers
    else:
        for message in native["messages"]:
            for call in message.get("tool_calls") or []:
                calls.append((call["function"]["name"], msgspec.json.decode(call["function"]["arguments"])))
            if message["role"] == "tool":
                results.append((message["tool_call_id"], message["content"]))
    return calls, results


# ---- the names ----------------------------------------------------------------------------------


def test_names_kept_joined_cleaned_and_cut_to_the_limit() -> None:
    at_limit = ToolName("b" * 61, "ns")  # ns__ + 61 = 65: one over
    just = ToolName("b" * 60, "ns")  # 64: at the limit, kept whole
    names = ToolNames(
        [
            ToolName("shell"),
            ToolName("get thing!", "my.server"),
            ToolName("1st"),
            ToolName("x" * 64),
            ToolName("y" * 65),
            just,
            at_limit,
            ToolName("apply_patch", custom=True),
        ]
    )
    assert names.native("shell") == "shell"
    assert names.native("apply_patch") == "apply_patch"
    assert names.native("get thing!", "my.server") == "my_server__get_thing_"
    assert names.native("1st") == "_1st"  # Gemini wants a letter or an underscore first
    assert names.native("x" * 64) == "x" * 64
    assert names.native("b" * 60, "ns") == "ns__" + "b" * 60
    for long in (names.native("y" * 65), names.native("b" * 61, "ns")):
        assert len(long) == MAX_NAME and re.fullmatch(r".+_[0-9a-f]{8}", long)
    assert names.native("y" * 65).startswith("y" * 55)
    wanted = [("shell", None), ("get thing!", "my.server"), ("1st", None), ("y" * 65, None), ("b" * 61, "ns")]
    for name, space in wanted:
        native = names.native(name, space)
        assert VALID.fullmatch(native)
        assert names.original(native) == ToolName(name, space)
    assert names.original("apply_patch") == ToolName("apply_patch", None, custom=True)
    assert names.original("never_offered") is None


def test_names_never_collide_and_plain_names_win() -> None:
    tools = [
        {"type": "namespace", "name": "crm", "tools": [{"type": "function", "name": "find"}]},
        {"type": "function", "name": "crm__find"},  # a plain function already named like the member
        {"type": "namespace", "name": "a.b", "tools": [{"type": "function", "name": "c"}]},
        {"type": "namespace", "name": "a_b", "tools": [{"type": "custom", "name": "c"}]},
    ]
    names = ToolNames.of(tools)
    assert names.native("crm__find") == "crm__find"
    member = names.native("find", "crm")
    assert member != "crm__find" and member.startswith("crm__find_") and VALID.fullmatch(member)
    first, second = names.native("c", "a.b"), names.native("c", "a_b")
    assert first == "a_b__c" and second != first and second.startswith("a_b__c_")
    assert names.original(second) == ToolName("c", "a_b", custom=True)
    again = ToolNames.of(tools)  # the reply side makes the same mapping from the same tools
    assert [again.native(n, s) for n, s in [("crm__find", None), ("find", "crm"), ("c", "a.b"), ("c", "a_b")]] == [
        "crm__find",
        member,
        first,
        second,
    ]


def test_names_of_history_items_no_longer_offered() -> None:
    names = ToolNames.of([SHELL])
    gone = names.native("find_customer", "old.crm")
    assert gone == "old_crm__find_customer"
    assert names.original(gone) == ToolName("find_customer", "old.crm")


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ('{"input": "a\\nb"}', "a\nb"),
        ('{"patch": "x"}', "x"),  # one string argument under another name
        ("not json", "not json"),
        ('{"a": 1, "b": 2}', '{"a": 1, "b": 2}'),
        ("", ""),
    ],
)
def test_custom_input_from_arguments(arguments: str, text: str) -> None:
    assert custom_input(arguments) == text


# ---- the request each provider gets -------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tools_offered_as_functions(provider: str) -> None:
    offered = _offered(provider, _native(provider, {"tools": TOOLS}))
    long = ToolNames.of(TOOLS).native(LONG, "crm")
    assert list(offered) == ["shell", "apply_patch", FIND, long, "crm__note"]
    assert len(long) == MAX_NAME and all(VALID.fullmatch(name) for name in offered)
    assert offered["shell"][0] == "Run a command."
    description, parameters = offered[FIND]
    assert description == "The customer database.\n\nFind one customer."  # the namespace's description first
    assert parameters is not None and "id" in parameters["properties"]
    description, parameters = offered["apply_patch"]
    assert description is not None and description.startswith("Apply a patch.")
    assert 'start: "*** Begin Patch" /.+/' in description and "lark" in description  # the grammar, in words
    assert parameters is not None and list(parameters["properties"]) == ["input"]
    assert offered["crm__note"][0] is not None and offered["crm__note"][0].startswith("The customer database.")


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("choice", "name"),
    [
        ({"type": "function", "name": "find_customer", "namespace": "crm"}, FIND),
        ({"type": "function", "name": "find_customer"}, FIND),  # the one member of that name
        ({"type": "function", "name": FIND}, FIND),  # the offered name itself
        ({"type": "custom", "name": "apply_patch"}, "apply_patch"),
        ({"type": "function", "name": "shell"}, "shell"),
    ],
)
def test_tool_choice_names_the_offered_function(provider: str, choice: dict[str, Any], name: str) -> None:
    assert _choice(provider, _native(provider, {"tools": TOOLS, "tool_choice": choice})) == name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_choice_of_an_unknown_tool_is_a_400(provider: str) -> None:
    choice = {"type": "function", "name": "find_customer", "namespace": "billing"}
    with pytest.raises(InvalidRequestError) as info:
        _native(provider, {"tools": TOOLS, "tool_choice": choice})
    assert (info.value.status, info.value.param, info.value.code) == (400, "tool_choice.name", "invalid_value")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_allowed_tools_narrow_to_namespace_and_custom(provider: str) -> None:
    listed = [{"type": "namespace", "name": "crm"}, {"type": "custom", "name": "apply_patch"}]
    native = _native(
        provider, {"tools": TOOLS, "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": listed}}
    )
    if provider == "groq" or provider == "gemini":
        assert set(_offered(provider, native)) == {
            "apply_patch",
            FIND,
            ToolNames.of(TOOLS).native(LONG, "crm"),
            "crm__note",
        }
    else:
        assert "shell" not in _offered(provider, native) and FIND in _offered(provider, native)


HISTORY = [
    {"role": "user", "content": "find customer 7 and patch"},
    {"type": "function_call", "call_id": "c1", "name": "find_customer", "namespace": "crm", "arguments": '{"id": 7}'},
    {"type": "function_call_output", "call_id": "c1", "output": "Ada"},
    {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": PATCH_INPUT},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done!"},
    {"type": "custom_tool_call", "call_id": "c3", "name": "note", "namespace": "crm", "input": "met Ada"},
    {"type": "custom_tool_call_output", "call_id": "c3", "output": [{"type": "input_text", "text": "noted"}]},
]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_history_replays_under_the_offered_names(provider: str) -> None:
    calls, results = _history(provider, _native(provider, {"tools": TOOLS, "input": HISTORY}))
    assert calls == [(FIND, {"id": 7}), ("apply_patch", {"input": PATCH_INPUT}), ("crm__note", {"input": "met Ada"})]
    assert [(call_id, text) for call_id, text in results] == [("c1", "Ada"), ("c2", "Done!"), ("c3", "noted")]


# ---- the reply each provider makes, back through the builder ------------------------------------

CALLS = [("call_1", FIND, {"id": 7}), ("call_2", "apply_patch", {"input": PATCH_INPUT})]


def _whole(provider: str) -> dict[str, Any]:
    if provider == "anthropic":
        blocks = [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in CALLS]
        usage = {"input_tokens": 10, "output_tokens": 5}
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": blocks,
            "stop_reason": "tool_use",
            "usage": usage,
        }
    if provider == "bedrock":
        content = [{"toolUse": {"toolUseId": i, "name": n, "input": a}} for i, n, a in CALLS]
        return {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
        }
    if provider == "gemini":
        parts = [{"functionCall": {"id": i, "name": n, "args": a}} for i, n, a in CALLS]
        return {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
            "modelVersion": "gemini-2.5-flash",
        }
    calls = [
        {"id": i, "type": "function", "function": {"name": n, "arguments": msgspec.json.encode(a).decode()}}
        for i, n, a in CALLS
    ]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _sse(event: str | None, data: Any) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {msgspec.json.encode(data).decode()}"


def _halves(args: dict[str, Any]) -> tuple[str, str]:
    text = msgspec.json.encode(args).decode()
    return text[: len(text) // 2], text[len(text) // 2 :]


def _streamed(provider: str) -> Reply:
    """The same two calls as a stream, each call's arguments in two pieces."""
    if provider == "anthropic":
        start = {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }
        blocks = [_sse("message_start", {"type": "message_start", "message": start})]
        for index, (call_id, name, args) in enumerate(CALLS):
            block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            blocks.append(
                _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
            )
            for piece in _halves(args):
                delta = {"type": "input_json_delta", "partial_json": piece}
                blocks.append(
                    _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
            blocks.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        end = {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 5}}
        blocks += [_sse("message_delta", end), _sse("message_stop", {"type": "message_stop"})]
        return Reply(sse=blocks)
    if provider == "bedrock":
        frames = [_event("messageStart", {"role": "assistant"})]
        for index, (call_id, name, args) in enumerate(CALLS):
            frames.append(
                _event(
                    "contentBlockStart",
                    {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call_id, "name": name}}},
                )
            )
            for piece in _halves(args):
                frames.append(
                    _event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": piece}}})
                )
            frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        frames.append(_event("messageStop", {"stopReason": "tool_use"}))
        frames.append(
            _event(
                "metadata",
                {"usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}, "metrics": {"latencyMs": 1}},
            )
        )
        return Reply(eventstream=b"".join(frames))
    if provider == "gemini":
        chunks = []
        for i, (call_id, name, args) in enumerate(CALLS):
            chunk: dict[str, Any] = {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"functionCall": {"id": call_id, "name": name, "args": args}}],
                        }
                    }
                ]
            }
            if i == len(CALLS) - 1:
                chunk["candidates"][0]["finishReason"] = "STOP"
                chunk["usageMetadata"] = {"promptTokenCount": 10, "candidatesTokenCount": 5}
            chunks.append(_sse(None, chunk))
        return Reply(sse=chunks)
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "llama-3.3-70b-versatile"}
    chunks = [_sse(None, {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]})]
    for index, (call_id, name, args) in enumerate(CALLS):
        opened = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(_sse(None, {**head, "choices": [{"index": 0, "delta": {"tool_calls": [opened]}}]}))
        for piece in _halves(args):
            more = {"index": index, "function": {"arguments": piece}}
            chunks.append(_sse(None, {**head, "choices": [{"index": 0, "delta": {"tool_calls": [more]}}]}))
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    chunks.append(
        _sse(
            None,
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "x_groq": {"usage": usage}},
        )
    )
    chunks.append("data: [DONE]")
    return Reply(sse=chunks)


def _path(provider: str, *, stream: bool) -> str:
    _, model, _ = SETTINGS[provider]
    if provider == "anthropic":
        return "/v1/messages"
    if provider == "bedrock":
        return f"/model/{model}/{'converse-stream' if stream else 'converse'}"
    if provider == "gemini":
        return f"/v1beta/models/{model}:{'streamGenerateContent' if stream else 'generateContent'}"
    return "/openai/v1/chat/completions"


def _check_output(output: list[Any]) -> None:
    """The two calls as the client gets them: a namespaced function call and a custom tool call."""
    function, custom = output
    assert isinstance(function, ResponseFunctionToolCall)
    assert (function.call_id, function.name, function.namespace) == ("call_1", "find_customer", "crm")
    assert msgspec.json.decode(function.arguments) == {"id": 7} and function.status == "completed"
    assert isinstance(custom, ResponseCustomToolCall)
    assert (custom.call_id, custom.name, custom.input, custom.namespace) == ("call_2", "apply_patch", PATCH_INPUT, None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_whole_reply_read_back(provider: str) -> None:
    call = _call(provider, {"tools": TOOLS})
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    ADAPTERS[provider].parse_reply(_whole(provider), builder)
    body = builder.response()
    assert "namespace" not in body["output"][1]  # a custom tool outside a namespace: no namespace field at all
    _check_output(Response.model_validate(body).output)


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    def entry(kind: str, base: str = "", **extra: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "base_url": f"{upstream.url}{base}",
            "keys": [{"value": "k-0123456789"}],
            "max_retries": 0,
            **extra,
        }

    config = {
        "store": f"sqlite:///{tmp_path_factory.mktemp('tools-store')}/store.db",
        "providers": {
            "anthropic": entry("anthropic"),
            "bedrock": entry("bedrock", region="us-east-1"),
            "gemini": entry("gemini"),
            "groq": entry("openai-chat", "/openai/v1"),
        },
        "compat": {"drop_unsupported": True},
        "models": [
            {"name": "strict", "target": "groq/llama-3.3-70b-versatile", "compat": {"drop_unsupported": False}},
            {"name": "plain", "target": "groq/llama-3.3-70b-versatile"},
        ],
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


def _model(provider: str) -> str:
    _, model, _ = SETTINGS[provider]
    return f"{provider}/{model}"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_e2e_whole_reply(provider: str, sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(_path(provider, stream=False), Reply(json=_whole(provider)))
    resp = sdk.responses.create(model=_model(provider), input="find customer 7", tools=TOOLS)  # type: ignore[arg-type]
    _check_output(resp.output)
    [received] = fake.requests_to(_path(provider, stream=False))
    assert FIND in _offered(provider, received.json)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_e2e_stream(provider: str, sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(_path(provider, stream=True), _streamed(provider))
    with sdk.responses.create(model=_model(provider), input="find customer 7", tools=TOOLS, stream=True) as stream:  # type: ignore[call-overload]
        events = [EVENTS.validate_python(e.model_dump()) for e in stream]
    kinds = [e.type for e in events]
    assert kinds[-1] == "response.completed"
    added = [e.item for e in events if e.type == "response.output_item.added"]
    assert [(a.type, a.name, getattr(a, "namespace", None)) for a in added] == [
        ("function_call", "find_customer", "crm"),
        ("custom_tool_call", "apply_patch", None),
    ]
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert msgspec.json.decode(args) == {"id": 7}
    [done] = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done.name == "find_customer"
    assert "".join(e.delta for e in events if e.type == "response.custom_tool_call_input.delta") == PATCH_INPUT
    [custom_done] = [e for e in events if e.type == "response.custom_tool_call_input.done"]
    assert custom_done.input == PATCH_INPUT
    assert [e.sequence_number for e in events] == list(range(len(events)))
    _check_output(events[-1].response.output)  # type: ignore[union-attr]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_e2e_multi_turn_replay(provider: str, sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    """A stateless agent turn: the whole history (a namespaced call and its output, custom calls and
    their outputs) goes back to the provider under the offered names, and the answer comes back."""
    fake.add(_path(provider, stream=False), Reply(json=_whole(provider)))
    resp = sdk.responses.create(model=_model(provider), input=HISTORY, tools=TOOLS, store=False)  # type: ignore[arg-type]
    _check_output(resp.output)
    [received] = fake.requests_to(_path(provider, stream=False))
    calls, results = _history(provider, received.json)
    assert [name for name, _ in calls] == [FIND, "apply_patch", "crm__note"]
    assert [text for _, text in results] == ["Ada", "Done!", "noted"]


# ---- compat.drop_unsupported --------------------------------------------------------------------

SEARCHING = [SHELL, {"type": "web_search"}]


def _post(gateway: GatewayServer, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/responses", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unsupported_tool_is_refused_by_default(provider: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _native(provider, {"tools": [SHELL, {"type": "image_generation"}]})
    assert (info.value.param, info.value.code) == ("tools[1].type", "unsupported_parameter")
    assert config_from_dict({}, {}).compat.drop_unsupported is False


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unsupported_tool_is_dropped_when_asked(provider: str) -> None:
    call = _call(provider, {"tools": [SHELL, {"type": "image_generation"}, CRM]}, drop=True)
    native = ADAPTERS[provider].native_request(call, stream=False)
    assert "shell" in _offered(provider, native) and FIND in _offered(provider, native)
    assert call.dropped == ["tools[1] (image_generation)"]


def test_e2e_alias_keeps_the_400(gateway: GatewayServer, fake: FakeUpstream) -> None:
    resp = _post(gateway, {"model": "strict", "input": "hi", "tools": SEARCHING})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "tools[1].type"
    assert "x-ferryman-dropped" not in resp.headers
    assert fake.requests_to(_path("groq", stream=False)) == []


@pytest.mark.parametrize(
    ("model", "headers"),
    [
        ("groq/llama-3.3-70b-versatile", {}),  # the config's top-level compat
        ("plain", {}),  # an alias without its own compat: the top-level one
        ("strict", {"x-ferryman-drop-unsupported": "true"}),  # the request's header wins over its alias
    ],
)
def test_e2e_dropped(gateway: GatewayServer, fake: FakeUpstream, model: str, headers: dict[str, str]) -> None:
    fake.add(_path("groq", stream=False), Reply(json=_whole("groq")))
    resp = _post(gateway, {"model": model, "input": "hi", "tools": SEARCHING}, **headers)
    assert resp.status_code == 200
    assert resp.headers["x-ferryman-dropped"] == "tools[1] (web_search)"
    assert resp.json()["extra_fields"]["dropped"] == ["tools[1] (web_search)"]
    [received] = fake.requests_to(_path("groq", stream=False))
    assert list(_offered("groq", received.json)) == ["shell"] and "web_search_options" not in received.json


def test_e2e_header_false_keeps_the_400(gateway: GatewayServer) -> None:
    resp = _post(
        gateway,
        {"model": "groq/llama-3.3-70b-versatile", "input": "hi", "tools": SEARCHING},
        **{"x-ferryman-drop-unsupported": "false"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "unsupported_parameter"


def test_e2e_dropped_in_a_stream(gateway: GatewayServer, fake: FakeUpstream) -> None:
    fake.add(_path("anthropic", stream=True), _streamed("anthropic"))
    body = {
        "model": _model("anthropic"),
        "input": "hi",
        "stream": True,
        "tools": [*TOOLS, {"type": "code_interpreter", "container": {"type": "auto"}}],
    }
    with httpx.stream("POST", f"{gateway.url}/v1/responses", json=body, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["x-ferryman-dropped"] == "tools[3] (code_interpreter)"
        data = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    final = msgspec.json.decode(data[-1])
    assert final["type"] == "response.completed"
    assert final["response"]["extra_fields"]["dropped"] == ["tools[3] (code_interpreter)"]
    _check_output(Response.model_validate(final["response"]).output)


def test_e2e_nothing_dropped_no_header(gateway: GatewayServer, fake: FakeUpstream) -> None:
    fake.add(_path("groq", stream=False), Reply(json=_whole("groq")))
    resp = _post(gateway, {"model": "plain", "input": "hi", "tools": TOOLS})
    assert resp.status_code == 200 and "x-ferryman-dropped" not in resp.headers
    assert "dropped" not in resp.json()["extra_fields"]


@pytest.mark.parametrize(
    ("tool", "param", "code"),
    [
        ({"type": "custom"}, "tools[0].name", "missing_required_parameter"),
        ({"type": "namespace", "description": "d", "tools": []}, "tools[0].name", "missing_required_parameter"),
        ({"type": "namespace", "name": "crm"}, "tools[0].tools", "missing_required_parameter"),
        ({"type": "namespace", "name": "crm", "tools": {}}, "tools[0].tools", "invalid_value"),
        ({"type": "namespace", "name": "crm", "tools": ["find"]}, "tools[0].tools[0]", "invalid_value"),
        (
            {"type": "namespace", "name": "crm", "tools": [{"type": "function"}]},
            "tools[0].tools[0].name",
            "missing_required_parameter",
        ),
        ({"type": "namespace", "name": 7, "tools": []}, "tools[0].name", "invalid_value"),
    ],
)
def test_malformed_tools_are_refused_at_the_door(tool: dict[str, Any], param: str, code: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_request(msgspec.json.encode({"model": "groq/m", "input": "hi", "tools": [tool]}))
    assert (info.value.status, info.value.param, info.value.code) == (400, param, code)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_namespace_member_of_another_kind_is_refused_or_dropped(provider: str) -> None:
    space = {"type": "namespace", "name": "crm", "description": "d", "tools": [{"type": "web_search"}, CRM["tools"][0]]}
    with pytest.raises(InvalidRequestError) as info:
        _native(provider, {"tools": [space]})
    assert info.value.param == "tools[0].tools[0].type"
    call = _call(provider, {"tools": [space]}, drop=True)
    assert list(_offered(provider, ADAPTERS[provider].native_request(call, stream=False))) == [FIND]
    assert call.dropped == ["tools[0].tools[0] (web_search)"]
