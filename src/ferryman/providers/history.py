"""History items of OpenAI's own tools, replayed to a provider that has no such items.

Agents send ``store: false`` and the whole history every turn, so a request to Anthropic, Bedrock,
Gemini or a Chat Completions server may hold items only OpenAI produces: the calls of hosted or
client-run tools and their outputs. ``plain_items`` turns each into what every translating adapter
already takes (function calls and outputs, messages) or leaves it out, by one rule per kind; a
well-formed item is never a 400.

A call and its output (``local_shell_call`` / ``local_shell_call_output``, ``shell_call`` /
``shell_call_output``, ``apply_patch_call`` / ``apply_patch_call_output``, ``computer_call`` /
``computer_call_output``, ``tool_search_call`` / ``tool_search_output``):

- when the request offers a function tool of the call's name (``local_shell``, ``shell``,
  ``apply_patch``, ``computer``, ``tool_search``), a ``function_call`` (the action as its arguments)
  and its ``function_call_output``, so the model sees its own tool use as it made it;
- otherwise text in the transcript, labelled: an assistant message ``[local_shell call call_1:
  {"command": [...]}]`` and a user message ``[local_shell output for call_1]`` with the output
  (a computer call's screenshot as an image part). A provider refuses a tool result for a tool it
  was not offered, and a label keeps the model from mistaking a replay for the user's words.

Self-contained hosted calls (the output rides in the call) become the same pair, one of each:
``mcp_call`` (by its own tool name), ``code_interpreter_call`` (code, then its logs),
``file_search_call`` (queries, then the results' text), ``program`` / ``program_output``;
an ``image_generation_call`` is an assistant note ``[image generated: revised prompt]`` (Gemini
takes the image itself instead).

Left out, as they carry nothing a model of another provider can use: ``web_search_call`` (the
search results are not in the item; the answer that used them stays in the history),
``mcp_list_tools`` (the tools offered are in ``tools``), ``mcp_approval_request`` /
``mcp_approval_response`` (control flow between client and OpenAI's server), ``compaction`` and
``compaction_trigger`` (OpenAI-encrypted), ``configuration_update``. Items of other types go on as
sent, for the adapter to take or refuse by name (``item_reference``, custom tools' items).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from ferryman.schemas.input import (
    AssistantText,
    FunctionCallOutput,
    InputFunctionCall,
    InputImage,
    InputItem,
    InputMessage,
    InputPart,
    InputText,
)
from ferryman.schemas.responses import Tool

_encode = msgspec.json.encode

# kinds left out (see the module docstring)
DROPPED = frozenset(
    {
        "web_search_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "compaction",
        "compaction_trigger",
        "configuration_update",
    }
)
# a call kind -> the tool name its function form takes
CALLS = {
    "local_shell_call": "local_shell",
    "shell_call": "shell",
    "apply_patch_call": "apply_patch",
    "computer_call": "computer",
    "tool_search_call": "tool_search",
    "program": "program",
}
OUTPUTS = frozenset(
    {
        "local_shell_call_output",
        "shell_call_output",
        "apply_patch_call_output",
        "computer_call_output",
        "tool_search_output",
        "program_output",
    }
)


def offered_functions(tools: Iterable[Tool] | None) -> frozenset[str]:
    """The names of the function tools a request offers."""
    return frozenset(t.name for t in tools or () if t.type == "function" and t.name)


Placed = tuple[str, InputItem]  # an item and the place in ``input`` it came from ("input[3]")


def plain_items(items: list[InputItem], offered: frozenset[str], keep: frozenset[str] = frozenset()) -> list[Placed]:
    """``items`` with OpenAI's tool items in forms every adapter takes (see the module docstring),
    each with the place of the item it came from (for errors); kinds in ``keep`` (that the adapter
    takes natively) go on as sent."""
    calls: dict[str, str] = {}  # call_id -> name, of the calls replayed as function calls
    out: list[Placed] = []
    for n, item in enumerate(items):
        where = f"input[{n}]"
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(item, dict) or kind in keep or not isinstance(kind, str):
            out.append((where, item))
        elif kind in DROPPED:
            continue
        elif kind in CALLS:
            out.extend((where, i) for i in _call(item, CALLS[kind], offered, calls))
        elif kind in OUTPUTS:
            out.extend((where, i) for i in _output(item, kind, calls))
        elif kind in _HOSTED:
            out.extend((where, i) for i in _HOSTED[kind](item))
        else:
            out.append((where, item))
    return out


# ---- calls and their outputs ------------------------------------------------------------------


def _call_id(item: dict[str, Any]) -> str:
    """The call id an item names (a ``local_shell_call_output`` names its call by ``id``)."""
    value = item.get("call_id") or item.get("id")
    return value if isinstance(value, str) else ""


def _call(item: dict[str, Any], name: str, offered: frozenset[str], calls: dict[str, str]) -> list[InputItem]:
    args = _arguments(item)
    call_id = _call_id(item)
    if name in offered and call_id:
        calls[call_id] = name
        return [InputFunctionCall(call_id=call_id, name=name, arguments=_encode(args).decode())]
    head = f"{name} call {call_id}" if call_id else f"{name} call"
    return [_assistant(f"[{head}: {_encode(args).decode()}]")]


def _arguments(item: dict[str, Any]) -> Any:
    """What a call was asked to do, as the JSON its function form takes."""
    kind = item.get("type")
    if kind == "tool_search_call":
        return item.get("arguments") if item.get("arguments") is not None else {}
    if kind == "apply_patch_call":
        return {"operation": item.get("operation")}
    if kind == "computer_call":
        return {"actions": item["actions"]} if item.get("actions") else item.get("action") or {}
    if kind == "program":
        return {"code": item.get("code") or ""}
    return item.get("action") or {}


def _output(item: dict[str, Any], kind: str, calls: dict[str, str]) -> list[InputItem]:
    call_id = _call_id(item)
    parts = _output_parts(item, kind)
    name = calls.get(call_id)
    if name is not None:
        return [FunctionCallOutput(call_id=call_id, output=parts)]
    label = kind.removesuffix("_output").removesuffix("_call")
    head = f"[{label} output for {call_id}]" if call_id else f"[{label} output]"
    return [InputMessage(role="user", content=[InputText(text=head), *parts])]


def _output_parts(item: dict[str, Any], kind: str) -> list[InputPart]:
    if kind == "computer_call_output":
        shot = item.get("output") or {}
        url = shot.get("image_url") if isinstance(shot, dict) else None
        if isinstance(url, str):
            return [InputImage(image_url=url)]
        return [InputText(text=_json(shot))]
    if kind == "shell_call_output":
        return [InputText(text=_shell_text(item.get("output")))]
    if kind == "tool_search_output":
        return [InputText(text=_tools_text(item.get("tools")))]
    if kind == "apply_patch_call_output":
        text = item.get("output")
        status = item.get("status") or "completed"
        return [InputText(text=f"{status}: {text}" if isinstance(text, str) and text else str(status))]
    if kind == "program_output":
        return [InputText(text=_str(item.get("result")))]
    return [InputText(text=_str(item.get("output")))]


def _shell_text(output: Any) -> str:
    """A ``shell_call_output``'s chunks: stdout, stderr and how each command ended."""
    lines: list[str] = []
    for chunk in output if isinstance(output, list) else []:
        if not isinstance(chunk, dict):
            continue
        for stream in ("stdout", "stderr"):
            if chunk.get(stream):
                lines.append(f"{stream}:\n{chunk[stream]}")
        outcome = chunk.get("outcome")
        if isinstance(outcome, dict):
            ended = outcome.get("type")
            lines.append(f"exit code {outcome.get('exit_code')}" if ended == "exit" else f"outcome: {ended}")
    return "\n".join(lines)


def _tools_text(tools: Any) -> str:
    """The tools a tool search loaded: name and description, one a line."""
    lines = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            name = tool.get("name") or tool.get("type")
            about = tool.get("description")
            lines.append(f"{name}: {about}" if about else str(name))
    return "loaded tools:\n" + "\n".join(lines) if lines else "no tools found"


# ---- self-contained hosted calls --------------------------------------------------------------


def _mcp_call(item: dict[str, Any]) -> list[InputItem]:
    name = f"{item.get('server_label') or 'mcp'}.{item.get('name') or ''}"
    result = item.get("output") if item.get("output") is not None else item.get("error")
    return _pair(f"mcp call {name}: {_str(item.get('arguments'))}", f"mcp {name} output", _json(result))


def _code_interpreter(item: dict[str, Any]) -> list[InputItem]:
    logs = [o.get("logs") for o in item.get("outputs") or [] if isinstance(o, dict) and o.get("type") == "logs"]
    return _pair(
        f"code_interpreter ran:\n{_str(item.get('code'))}", "code_interpreter output", "\n".join(map(_str, logs))
    )


def _file_search(item: dict[str, Any]) -> list[InputItem]:
    queries = ", ".join(map(_str, item.get("queries") or []))
    results = [r for r in item.get("results") or [] if isinstance(r, dict)]
    found = "\n\n".join(f"{r.get('filename') or r.get('file_id') or ''}:\n{_str(r.get('text'))}" for r in results)
    return _pair(f"file_search: {queries}", "file_search results", found)


def _image_generation(item: dict[str, Any]) -> list[InputItem]:
    prompt = item.get("revised_prompt")
    return [_assistant(f"[image generated: {prompt}]" if isinstance(prompt, str) and prompt else "[image generated]")]


_HOSTED: dict[str, Callable[[dict[str, Any]], list[InputItem]]] = {
    "mcp_call": _mcp_call,
    "code_interpreter_call": _code_interpreter,
    "file_search_call": _file_search,
    "image_generation_call": _image_generation,
}


def _pair(call: str, label: str, result: str) -> list[InputItem]:
    """A hosted call as an assistant note and, when it returned anything, a labelled user message."""
    said: list[InputItem] = [_assistant(f"[{call}]")]
    if result:
        said.append(InputMessage(role="user", content=[InputText(text=f"[{label}]\n{result}")]))
    return said


def _assistant(text: str) -> InputMessage:
    return InputMessage(role="assistant", content=[AssistantText(text=text)])


def _json(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else _encode(value).decode()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)
