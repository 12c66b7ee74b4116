"""Stateless agent loops through real HTTP: the openai SDK against a served gateway, fake providers behind.

An agent sends ``store: false`` and the whole history each turn, with
``include: ["reasoning.encrypted_content"]``: the provider's thinking signature must leave in a
reasoning item's ``encrypted_content`` and reach the provider again, unchanged, with the tool call
it led to (Anthropic, Bedrock and Gemini refuse a replayed tool call whose thinking lost it). Also
what the fields agents send become upstream, and a Codex-like history of OpenAI tool items.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply

ANTHROPIC = "/v1/messages"
BEDROCK_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
BEDROCK = f"/model/{BEDROCK_MODEL}/converse"
GEMINI = "/v1beta/models/gemini-2.5-flash:generateContent"
CHAT = "/openai/v1/chat/completions"
INCLUDE = ["reasoning.encrypted_content"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ASK = {"role": "user", "content": "Weather in Paris?"}
BEDROCK_OK = Reply(
    json={
        "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 1},
    }
)


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    keys = [{"value": "sk-test-0123456789"}]
    config = {
        "store": False,
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": upstream.url, "keys": keys, "max_retries": 0},
            "bedrock": {"type": "bedrock", "base_url": upstream.url, "keys": keys, "max_retries": 0},
            "gemini": {"type": "gemini", "base_url": upstream.url, "keys": keys, "max_retries": 0},
            "groq": {"type": "openai-chat", "base_url": f"{upstream.url}/openai/v1", "keys": keys, "max_retries": 0},
        },
    }
    server = GatewayServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway: GatewayServer, fake: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)


def _sent(fake: FakeUpstream, path: str) -> Any:
    return fake.requests_to(path)[-1].json


def _history(first: Any, output: str) -> list[Any]:
    """Turn two's input: the question, turn one's output items as the SDK gives them, the tool's output."""
    items = [item.model_dump(exclude_none=True) for item in first.output]
    [call] = [i for i in items if i["type"] == "function_call"]
    return [ASK, *items, {"type": "function_call_output", "call_id": call["call_id"], "output": output}]


def test_anthropic_thinking_signature_goes_back_with_the_tool_use(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    thinking = {"type": "thinking", "thinking": "Call the tool.", "signature": "EqQBCkYIBxgCKkBsig=="}
    use = {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
    usage = {"input_tokens": 10, "output_tokens": 5}
    fake.add(
        ANTHROPIC,
        Reply(json={"type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [thinking, use],
                    "stop_reason": "tool_use", "usage": usage}),
        times=1,
    )  # fmt: skip
    fake.add(
        ANTHROPIC,
        Reply(json={"type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "Sunny."}], "stop_reason": "end_turn", "usage": usage}),
    )  # fmt: skip
    turn: dict[str, Any] = {
        "model": "anthropic/claude-sonnet-4-5",
        "tools": [WEATHER],
        "reasoning": {"effort": "low"},
        "store": False,
        "include": INCLUDE,
    }
    first = sdk.responses.create(input=[ASK], **turn)
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "anthropic:EqQBCkYIBxgCKkBsig=="
    second = sdk.responses.create(input=_history(first, "Sunny, 22C"), **turn)
    assert second.output_text == "Sunny."
    messages = _sent(fake, ANTHROPIC)["messages"]
    assert messages[1] == {"role": "assistant", "content": [thinking, use]}  # signature back, thinking first
    assert messages[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_01", "content": "Sunny, 22C"}


def test_anthropic_without_include_or_tools_sends_no_encrypted_content(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(ANTHROPIC, Reply.fixture("anthropic-messages/thinking"))
    plain = sdk.responses.create(
        model="anthropic/claude-sonnet-4-5", input="Cross the street?", reasoning={"effort": "low"}
    )
    assert plain.output[0].type == "reasoning" and plain.output[0].encrypted_content is None
    assert plain.output[0].summary  # the thinking itself still comes back
    fake.add(ANTHROPIC, Reply.fixture("anthropic-messages/thinking"))
    asked = sdk.responses.create(
        model="anthropic/claude-sonnet-4-5", input="Cross the street?", reasoning={"effort": "low"}, include=INCLUDE
    )
    assert asked.output[0].encrypted_content.startswith("anthropic:")  # type: ignore[union-attr]


def test_bedrock_reasoning_signature_goes_back_with_the_tool_use(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    reasoning = {"reasoningContent": {"reasoningText": {"text": "Call the tool.", "signature": "c2lnLWJlZHJvY2s="}}}
    use = {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}
    usage = {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15}
    fake.add(
        BEDROCK,
        Reply(json={"output": {"message": {"role": "assistant", "content": [reasoning, use]}},
                    "stopReason": "tool_use", "usage": usage}),
        times=1,
    )  # fmt: skip
    fake.add(
        BEDROCK,
        Reply(json={"output": {"message": {"role": "assistant", "content": [{"text": "Sunny."}]}},
                    "stopReason": "end_turn", "usage": usage}),
    )  # fmt: skip
    turn: dict[str, Any] = {
        "model": f"bedrock/{BEDROCK_MODEL}",
        "tools": [WEATHER],
        "reasoning": {"effort": "low"},
        "store": False,
        "include": INCLUDE,
    }
    first = sdk.responses.create(input=[ASK], **turn)
    assert first.output[0].encrypted_content == "bedrock:c2lnLWJlZHJvY2s="  # type: ignore[union-attr]
    second = sdk.responses.create(input=_history(first, "Sunny, 22C"), **turn)
    assert second.output_text == "Sunny."
    messages = _sent(fake, BEDROCK)["messages"]
    assert messages[1] == {"role": "assistant", "content": [reasoning, use]}
    assert messages[2]["content"][0]["toolResult"]["toolUseId"] == "tooluse_1"


def test_gemini_thought_signature_goes_back_on_the_function_call(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fake.add(GEMINI, Reply.fixture("gemini-generatecontent/tool_call"), times=1)
    fake.add(GEMINI, Reply.fixture("gemini-generatecontent/text_basic"))
    turn: dict[str, Any] = {"model": "gemini/gemini-2.5-flash", "tools": [WEATHER], "store": False, "include": INCLUDE}
    first = sdk.responses.create(input=[ASK], **turn)
    signature = first.output[0].encrypted_content  # type: ignore[union-attr]  # the recorded functionCall's
    assert first.output[0].type == "reasoning" and signature.startswith("gemini:")
    sdk.responses.create(input=_history(first, "Sunny, 22C"), **turn)
    contents = _sent(fake, GEMINI)["contents"]
    [part] = contents[1]["parts"]
    assert part["functionCall"]["name"] == "get_weather"
    assert part["thoughtSignature"] == signature.removeprefix("gemini:")
    assert contents[2]["parts"][0]["functionResponse"]["response"] == {"output": "Sunny, 22C"}


def test_fields_agents_send(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    fields: dict[str, Any] = {
        "tools": [WEATHER],
        "store": False,
        "include": INCLUDE,
        "parallel_tool_calls": False,
        "prompt_cache_key": "codex-session-1",
        "extra_body": {"client_metadata": {"x-codex-turn": "1"}},
        "reasoning": {"effort": "medium"},
        "instructions": "Be brief.",
    }
    fake.add(ANTHROPIC, Reply.fixture("anthropic-messages/text_basic"))
    sdk.responses.create(model="anthropic/claude-sonnet-4-5", input=[ASK], **fields)
    sent = _sent(fake, ANTHROPIC)
    assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert sent["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "client_metadata" not in sent and "include" not in sent and "prompt_cache_key" not in sent
    fake.add(GEMINI, Reply.fixture("gemini-generatecontent/text_basic"))
    sdk.responses.create(model="gemini/gemini-2.5-flash", input=[ASK], **fields)
    sent = _sent(fake, GEMINI)
    assert not {"client_metadata", "parallel_tool_calls", "prompt_cache_key", "include"} & set(sent)
    fake.add(BEDROCK, BEDROCK_OK)
    sdk.responses.create(model=f"bedrock/{BEDROCK_MODEL}", input=[ASK], **fields)
    sent = _sent(fake, BEDROCK)
    assert sent["messages"][-1]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert not {"client_metadata", "parallel_tool_calls", "prompt_cache_key"} & set(sent)
    fake.add(CHAT, Reply.fixture("groq-chat/text_basic"))
    sdk.responses.create(model="groq/llama-3.3-70b-versatile", input=[ASK], **fields)
    sent = _sent(fake, CHAT)
    assert sent["parallel_tool_calls"] is False
    assert not {"client_metadata", "reasoning_effort", "reasoning_format", "prompt_cache_key", "include"} & set(sent)


def test_a_codex_history_of_openai_tool_items_on_every_provider(sdk: openai.OpenAI, fake: FakeUpstream) -> None:
    history: list[Any] = [
        {"role": "user", "content": "What is in this folder?"},
        {"type": "tool_search_call", "call_id": "ts_1", "arguments": {"query": "shell"}, "execution": "client"},
        {"type": "tool_search_output", "call_id": "ts_1", "execution": "client", "tools": []},
        {
            "type": "local_shell_call",
            "id": "lsh_1",
            "call_id": "call_1",
            "status": "completed",
            "action": {"type": "exec", "command": ["ls"], "env": {}},
        },
        {"type": "local_shell_call_output", "id": "call_1", "output": "README.md"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "q"}},
        {"role": "assistant", "content": "A README."},
        {"role": "user", "content": "Thanks"},
    ]
    replies = {
        "anthropic/claude-sonnet-4-5": (ANTHROPIC, Reply.fixture("anthropic-messages/text_basic")),
        f"bedrock/{BEDROCK_MODEL}": (
            BEDROCK,
            Reply(
                json={
                    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 1, "outputTokens": 1},
                }
            ),
        ),  # fmt: skip
        "gemini/gemini-2.5-flash": (GEMINI, Reply.fixture("gemini-generatecontent/text_basic")),
        "groq/llama-3.3-70b-versatile": (CHAT, Reply.fixture("groq-chat/text_basic")),
    }
    for model, (path, reply) in replies.items():
        fake.add(path, reply)
        resp = sdk.responses.create(model=model, input=history, store=False, tools=[WEATHER])
        assert resp.status == "completed"
        shown = str(_sent(fake, path))
        assert "[local_shell call call_1" in shown and "README.md" in shown and "[tool_search output for ts_1]" in shown
