"""A model in an agent loop, answering in each provider's own wire format: it calls a tool first, and once the
tool's result has come back (in the provider's own shape of a tool result), it answers in text.

    model = ScriptedModel(WIRES["anthropic"], "exec_command", {"cmd": "echo hi"}, "Done.")
    for path in model.wire.paths("claude-haiku-4-5"):
        fake.add(path, model)
    ... run the agent through Ferryman ...
    model.wire.tool_output(fake.received[-1].json)   # the tool's output, as the agent sent it back

Each reply has the shape the provider's API documents (and ``tests/fixtures/providers/`` records): Responses
events, Anthropic Messages events, Gemini ``generateContent`` chunks, Chat Completions chunks; streamed when the
request asks for a stream, whole otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pytest

from tests.fakes.upstream import Received, Reply

CALL_ID = "call_ferryman_agent_1"


def _sse(events: list[dict[str, Any]], named: bool) -> list[str]:
    blocks = [f"data: {json.dumps(e)}" for e in events]
    return [f"event: {e['type']}\n{b}" for e, b in zip(events, blocks, strict=True)] if named else blocks


def _halves(text: str) -> list[str]:
    """``text`` as two deltas, as a stream splits it."""
    return [text[: len(text) // 2], text[len(text) // 2 :]]


def _texts(content: Any) -> Iterator[str]:
    """The text of a tool result's content: a string, a list of text parts, or a JSON value."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            yield part.get("text", "") if isinstance(part, dict) else str(part)
    elif content is not None:
        yield json.dumps(content)


class Wire(Protocol):
    def paths(self, model: str) -> list[str]: ...

    def tool_names(self, body: Any) -> list[str]:
        """The names of the function tools the request offers."""
        ...

    def tool_output(self, body: Any) -> str | None:
        """What the request carries back as the tool's result (None: no tool result yet)."""
        ...

    def call(self, name: str, arguments: dict[str, Any], stream: bool) -> Reply: ...

    def text(self, text: str, stream: bool) -> Reply: ...

    def streams(self, received: Received) -> bool: ...


class OpenAIResponses:
    """``POST /v1/responses`` (passthrough in Ferryman)."""

    def paths(self, model: str) -> list[str]:
        return ["/v1/responses"]

    def streams(self, received: Received) -> bool:
        return bool(received.json.get("stream"))

    def tool_names(self, body: Any) -> list[str]:
        return [t["name"] for t in body.get("tools") or () if t.get("type") == "function"]

    def tool_output(self, body: Any) -> str | None:
        items = body["input"] if isinstance(body["input"], list) else []
        outputs = [i.get("output") for i in items if i.get("type") == "function_call_output"]
        return "".join(_texts(outputs[-1])) if outputs else None

    def call(self, name: str, arguments: dict[str, Any], stream: bool) -> Reply:
        args = json.dumps(arguments)
        item = {"type": "function_call", "id": "fc_1", "call_id": CALL_ID, "name": name, "arguments": args}
        return self._reply([{**item, "status": "completed"}], stream, _halves(args))

    def text(self, text: str, stream: bool) -> Reply:
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [part]}
        return self._reply([item], stream, [text])

    def _response(self, output: list[dict[str, Any]], status: str) -> dict[str, Any]:
        usage = {
            "input_tokens": 40,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 8,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 48,
        }
        return {
            "id": "resp_agent_1",
            "object": "response",
            "created_at": 1743082657,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": "gpt-4o-2024-08-06",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage if status == "completed" else None,
        }

    def _reply(self, output: list[dict[str, Any]], stream: bool, deltas: list[str]) -> Reply:
        if not stream:
            return Reply(json=self._response(output, "completed"))
        item = output[0]
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": self._response([], "in_progress")},
            {"type": "response.in_progress", "response": self._response([], "in_progress")},
        ]
        if item["type"] == "function_call":
            events.append({"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}})
            for delta in deltas:
                events.append(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": "fc_1",
                        "output_index": 0,
                        "delta": delta,
                    }
                )
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": "fc_1",
                    "output_index": 0,
                    "arguments": item["arguments"],
                }
            )
        else:
            at = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": []}
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {**item, "status": "in_progress", "content": []},
                }
            )
            events.append({"type": "response.content_part.added", **at, "part": empty})
            for delta in deltas:
                events.append({"type": "response.output_text.delta", **at, "delta": delta, "logprobs": []})
            text = item["content"][0]["text"]
            events.append({"type": "response.output_text.done", **at, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **at, "part": item["content"][0]})
        events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        events.append({"type": "response.completed", "response": self._response(output, "completed")})
        for n, event in enumerate(events):
            event["sequence_number"] = n
        return Reply(sse=_sse(events, named=True), headers={"content-type": "text/event-stream; charset=utf-8"})


class AnthropicMessages:
    """``POST /v1/messages``."""

    def paths(self, model: str) -> list[str]:
        return ["/v1/messages"]

    def streams(self, received: Received) -> bool:
        return bool(received.json.get("stream"))

    def tool_names(self, body: Any) -> list[str]:
        return [t["name"] for t in body.get("tools") or () if "input_schema" in t]

    def tool_output(self, body: Any) -> str | None:
        results = [
            block.get("content")
            for message in body["messages"]
            if isinstance(message["content"], list)
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
        return "".join(_texts(results[-1])) if results else None

    def call(self, name: str, arguments: dict[str, Any], stream: bool) -> Reply:
        block = {"type": "tool_use", "id": "toolu_agent_1", "name": name, "input": arguments}
        args = json.dumps(arguments)
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in _halves(args)]
        return self._reply(block, {**block, "input": {}}, deltas, "tool_use", stream)

    def text(self, text: str, stream: bool) -> Reply:
        block = {"type": "text", "text": text}
        return self._reply(
            block, {"type": "text", "text": ""}, [{"type": "text_delta", "text": text}], "end_turn", stream
        )

    def _reply(
        self, block: dict[str, Any], start: dict[str, Any], deltas: list[dict[str, Any]], stop: str, stream: bool
    ) -> Reply:
        message = {
            "id": "msg_agent_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5-20251001",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 40,
                "output_tokens": 8,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
        if not stream:
            return Reply(json=message)
        events = [
            {
                "type": "message_start",
                "message": {
                    **message,
                    "content": [],
                    "stop_reason": None,
                    "usage": {**message["usage"], "output_tokens": 1},
                },
            },
            {"type": "content_block_start", "index": 0, "content_block": start},
            {"type": "ping"},
            *({"type": "content_block_delta", "index": 0, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 8},
            },
            {"type": "message_stop"},
        ]
        return Reply(sse=_sse(events, named=True), headers={"content-type": "text/event-stream; charset=utf-8"})


class GeminiGenerateContent:
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``."""

    def paths(self, model: str) -> list[str]:
        return [f"/v1beta/models/{model}:generateContent", f"/v1beta/models/{model}:streamGenerateContent"]

    def streams(self, received: Received) -> bool:
        return received.path.endswith(":streamGenerateContent")

    def tool_names(self, body: Any) -> list[str]:
        return [f["name"] for tool in body.get("tools") or () for f in tool.get("functionDeclarations") or ()]

    def tool_output(self, body: Any) -> str | None:
        results = [  # Gemini documents ``{"output": ...}`` (or ``{"error": ...}``) as a function's response
            part["functionResponse"].get("response", {}).get("output")
            for content in body["contents"]
            for part in content.get("parts") or ()
            if "functionResponse" in part
        ]
        return "".join(_texts(results[-1])) if results else None

    def call(self, name: str, arguments: dict[str, Any], stream: bool) -> Reply:
        return self._reply([{"functionCall": {"name": name, "args": arguments}}], stream)

    def text(self, text: str, stream: bool) -> Reply:
        return self._reply([{"text": text}], stream)

    def _reply(self, parts: list[dict[str, Any]], stream: bool) -> Reply:
        chunk = {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 8, "totalTokenCount": 48},
            "modelVersion": "gemini-2.0-flash",
            "responseId": "agent-1",
        }
        if not stream:
            return Reply(json=chunk)
        return Reply(sse=_sse([chunk], named=False), headers={"content-type": "text/event-stream"})


class ChatCompletions:
    """``POST {base_url}/chat/completions`` (Groq's base URL ends in ``/openai/v1``)."""

    def __init__(self, prefix: str = "/openai/v1") -> None:
        self.prefix = prefix

    def paths(self, model: str) -> list[str]:
        return [f"{self.prefix}/chat/completions"]

    def streams(self, received: Received) -> bool:
        return bool(received.json.get("stream"))

    def tool_names(self, body: Any) -> list[str]:
        return [t["function"]["name"] for t in body.get("tools") or () if t.get("type") == "function"]

    def tool_output(self, body: Any) -> str | None:
        results = [m.get("content") for m in body["messages"] if m.get("role") == "tool"]
        return "".join(_texts(results[-1])) if results else None

    def call(self, name: str, arguments: dict[str, Any], stream: bool) -> Reply:
        function = {"name": name, "arguments": json.dumps(arguments)}
        call = {"id": CALL_ID, "type": "function", "function": function}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        return self._reply(message, {"tool_calls": [{"index": 0, **call}]}, "tool_calls", stream)

    def text(self, text: str, stream: bool) -> Reply:
        return self._reply({"role": "assistant", "content": text}, {"content": text}, "stop", stream)

    def _reply(self, message: dict[str, Any], delta: dict[str, Any], finish: str, stream: bool) -> Reply:
        head = {"id": "chatcmpl-agent-1", "created": 1771434740, "model": "llama-3.3-70b-versatile"}
        usage = {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48}
        if not stream:
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return Reply(json={**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        chunk = {**head, "object": "chat.completion.chunk"}
        chunks = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
            {**chunk, "choices": [], "usage": usage},
        ]
        return Reply(sse=[*_sse(chunks, named=False), "data: [DONE]"], headers={"content-type": "text/event-stream"})


WIRES: dict[str, Wire] = {
    "openai": OpenAIResponses(),
    "anthropic": AnthropicMessages(),
    "gemini": GeminiGenerateContent(),
    "groq": ChatCompletions(),
}


@dataclass
class ScriptedModel:
    """Calls ``tool`` with ``arguments`` until a tool result comes back, then says ``answer``."""

    wire: Wire
    tool: str
    arguments: dict[str, Any]
    answer: str

    def __call__(self, received: Received) -> Reply:
        stream = self.wire.streams(received)
        if self.wire.tool_output(received.json) is None:
            return self.wire.call(self.tool, self.arguments, stream)
        return self.wire.text(self.answer, stream)


# provider -> the model an agent names through Ferryman, and the model's name at the provider
MODELS: dict[str, tuple[str, str]] = {
    "openai": ("openai/gpt-4o", "gpt-4o"),
    "anthropic": ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
    "gemini": ("gemini/gemini-2.0-flash", "gemini-2.0-flash"),
    "groq": ("groq/llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
}


def gateway_config(upstream_url: str) -> dict[str, Any]:
    """A Ferryman config with every provider of ``MODELS`` at the fake upstream (no store: agents send the
    whole history each turn)."""
    key = [{"value": "sk-test-provider-secret"}]
    return {
        "store": False,
        "providers": {
            "openai": {"base_url": f"{upstream_url}/v1", "keys": key, "max_retries": 0},
            "anthropic": {"base_url": upstream_url, "keys": key, "max_retries": 0},
            "gemini": {"base_url": upstream_url, "keys": key, "max_retries": 0},
            "groq": {"base_url": f"{upstream_url}/openai/v1", "keys": key, "max_retries": 0},
        },
    }


def script(
    fake: Any, provider: str, tool: str, arguments: dict[str, Any], answer: str, wire: Wire | None = None
) -> ScriptedModel:
    """Serve a ScriptedModel at every path of ``provider``'s model on ``fake`` (a FakeUpstream), in ``wire``
    (default: the API Ferryman translates to for that provider)."""
    model = ScriptedModel(wire or WIRES[provider], tool, arguments, answer)
    for path in model.wire.paths(MODELS[provider][1]):
        fake.add(path, model)
    return model


def provider_params(pending: dict[str, str]) -> list[Any]:
    """Every provider of ``MODELS`` as a test parameter; one in ``pending`` is skipped, its value the reason."""
    return [pytest.param(p, marks=pytest.mark.skipif(p in pending, reason=pending.get(p, ""))) for p in MODELS]
