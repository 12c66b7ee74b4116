"""What the mock says to a request, decided from the request alone (the same request, the same answer).

- After a tool result (a ``function_call_output`` or ``custom_tool_call_output`` after the last user
  message): text reporting it.
- With function tools: a call of the first one (or the one ``tool_choice`` names), its arguments made
  from the tool's JSON schema; ``tool_choice: "none"`` answers in text. Custom and namespaced tools are
  offered to it as to any translating provider (``providers/tools.py``), so a custom tool's call is a
  ``custom_tool_call`` and a namespaced function's call carries its ``namespace``.
- Otherwise text quoting the last user message (``You said: "..."``); the model ``echo`` repeats it
  (or the tool result) as it is.
- ``text.format`` ``json_schema``: JSON made from the schema instead of that text; ``json_object``:
  ``{"text": <that text>}``.
- ``reasoning`` in the request: a short reasoning summary first.

Usage is estimated from the text (``tokens.py``): the input from the instructions and every input
item, the output from what is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from ferryman.providers.base import Call
from ferryman.providers.mock import tokens
from ferryman.providers.mock.values import example_value
from ferryman.providers.tools import Function, Toolset
from ferryman.schemas.errors import InvalidRequestError, ProviderError
from ferryman.schemas.input import (
    CustomToolCallOutput,
    FunctionCallOutput,
    InputCustomToolCall,
    InputFunctionCall,
    InputItem,
    InputMessage,
)
from ferryman.schemas.items import function_output_text, input_items, text_of
from ferryman.schemas.responses import ResponsesRequest


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON


@dataclass(frozen=True, slots=True)
class Answer:
    input_tokens: int
    reasoning: str = ""
    text: str = ""
    tool_call: ToolCall | None = None

    @property
    def reasoning_tokens(self) -> int:
        return tokens.estimate(self.reasoning)

    @property
    def output_tokens(self) -> int:
        said = self.tool_call.name + self.tool_call.arguments if self.tool_call else self.text
        return self.reasoning_tokens + tokens.estimate(said)


@dataclass(frozen=True, slots=True)
class _Turn:
    """What the conversation so far holds: the last user message, and a tool result that came after it."""

    said: str
    tool: str | None  # the name of the function whose result is the latest input
    result: str | None


def compose(provider: str, call: Call) -> Answer:
    req = call.request
    items = input_items(req.input)
    turn = _read(items)
    used = tokens.estimate((req.instructions or "") + "".join(_item_text(i) for i in items))
    think = req.reasoning is not None
    tool = None if turn.result is not None else _chosen_tool(provider, req, call.raw)
    if tool is not None:
        arguments = msgspec.json.encode(example_value(tool.parameters or {})).decode()
        reasoning = f'The user said "{turn.said}"; I will call {tool.name}.' if think else ""
        return Answer(used, reasoning, tool_call=ToolCall(tool.name, arguments))
    if turn.result is not None:
        text = turn.result if call.deployment == "echo" else f"{turn.tool} returned: {turn.result}"
        reasoning = f"{turn.tool} returned a result; I will report it." if think else ""
    else:
        text = turn.said if call.deployment == "echo" else f'You said: "{turn.said}"'
        reasoning = f'The user said "{turn.said}"; I will quote it back.' if think else ""
    return Answer(used, reasoning, _formatted(req, text))


def _read(items: list[InputItem]) -> _Turn:
    said, names, result, tool = "", {}, None, None
    for item in items:
        if isinstance(item, InputMessage) and item.role == "user":
            said, result, tool = text_of(item.content), None, None
        elif isinstance(item, InputFunctionCall | InputCustomToolCall):
            names[item.call_id] = item.name
        elif isinstance(item, FunctionCallOutput | CustomToolCallOutput):
            result = function_output_text(item.output)
            tool = names.get(item.call_id, "the tool")
    return _Turn(said, tool, result)


def _item_text(item: InputItem) -> str:
    if isinstance(item, InputMessage):
        return text_of(item.content)
    if isinstance(item, InputFunctionCall):
        return item.name + item.arguments
    if isinstance(item, InputCustomToolCall):
        return item.name + item.input
    if isinstance(item, FunctionCallOutput | CustomToolCallOutput):
        return function_output_text(item.output)
    return ""


def _chosen_tool(provider: str, req: ResponsesRequest, raw: dict[str, Any]) -> Function | None:
    """The function (as offered, see ``providers/tools.py``) the mock calls; hosted tools are not called."""
    toolset = Toolset(req.tools, raw.get("tools"), provider, [])
    functions = [entry for entry in toolset.entries if isinstance(entry, Function)]
    choice = req.tool_choice
    if not functions or choice == "none":
        return None
    if not isinstance(choice, dict):
        return functions[0]
    if choice.get("type") == "allowed_tools":
        allowed = toolset.allowed(choice.get("tools") or [])
        return next((t for t in functions if t.name in allowed), None)
    if choice.get("type") not in ("function", "custom") or not isinstance(choice.get("name"), str):
        return functions[0]
    try:
        name = toolset.chosen(choice)
    except InvalidRequestError:
        raise ProviderError(
            provider, 400, f"tool_choice names tool {choice['name']!r}, which is not in tools", param="tool_choice"
        ) from None
    return next(t for t in functions if t.name == name)


def _formatted(req: ResponsesRequest, text: str) -> str:
    fmt = req.text.format if req.text is not None else None
    if fmt is None or fmt.type == "text":
        return text
    if fmt.type == "json_object":
        return msgspec.json.encode({"text": text}).decode()
    schema = fmt.schema if fmt.schema is not None else fmt.json_schema.schema if fmt.json_schema else None
    return msgspec.json.encode(example_value(schema or {})).decode()
