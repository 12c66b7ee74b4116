"""A request's tools as a translating provider is offered them, and the names its tool calls come back by.

Anthropic, Bedrock, Gemini and Chat Completions servers take function tools (and a few hosted tools
of their own), each named with at most 64 characters of ``[a-zA-Z0-9_-]``; Gemini also wants the first
one to be a letter or an underscore. The Responses API has more kinds, so every translating adapter
offers them the same way:

- a ``function`` tool: a function of the same name;
- a ``custom`` tool (free-form text input, optionally with a grammar): a function with one string
  parameter, ``input``; the grammar (or format) is written into its description. A call of it comes
  back as a ``custom_tool_call`` item whose ``input`` is that string;
- a ``namespace`` tool (function and custom tools grouped under a shared name): each member a function
  named ``<namespace>__<name>``, the namespace's description before the member's. A call comes back as a
  ``function_call`` (or ``custom_tool_call``) item with the member's own ``name`` and the ``namespace``;
- any other (hosted) tool: the adapter's to map, or to refuse or drop (``Toolset.unsupported``).

Names (``ToolNames``): a function or custom tool outside a namespace whose name is already one every
provider takes keeps it. Every other name is made one: characters outside the set become ``_``, a name
that would start with a digit or ``-`` gets a leading ``_``, and a name still too long, or taken, is
cut and ends in ``_`` and 8 hex digits of a SHA-256 of ``namespace`` and ``name``. The mapping depends
on the request's ``tools`` alone, in order, so the request side and the reply side (the builder) make
the same one, and a history item (``function_call`` with its ``namespace``, ``custom_tool_call``) is
sent back under the name the model was offered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.input import CustomToolCallOutput, FunctionCallOutput, InputCustomToolCall, InputFunctionCall
from ferryman.schemas.items import unsupported
from ferryman.schemas.responses import Tool

MAX_NAME = 64
SEPARATOR = "__"  # between a namespace and a member's name
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]")
CUSTOM_INPUT = "input"  # the one parameter a custom tool is offered with
CUSTOM_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's input, as free-form text."}},
    "required": [CUSTOM_INPUT],
    "additionalProperties": False,
}

_decode = msgspec.json.decode
_encode = msgspec.json.encode


@dataclass(frozen=True, slots=True)
class ToolName:
    """What a name the provider was offered stands for."""

    name: str
    namespace: str | None = None
    custom: bool = False


class ToolNames:
    """The names a request's function, custom and namespaced tools are offered under, both ways."""

    __slots__ = ("_back", "_native")

    def __init__(self, wanted: Iterable[ToolName] = ()) -> None:
        self._native: dict[tuple[str | None, str], str] = {}
        self._back: dict[str, ToolName] = {}
        later = []
        for tool in wanted:  # names valid as sent are kept first, so a plain function keeps its own
            if tool.namespace is None and VALID_NAME.fullmatch(tool.name) and tool.name not in self._back:
                self._add(tool, tool.name)
            else:
                later.append(tool)
        for tool in later:
            if (tool.namespace, tool.name) not in self._native:
                self._add(tool, self._derive(tool))

    @classmethod
    def of(cls, tools: Any) -> ToolNames:
        """The names for a request's raw ``tools`` (what is not a list of tools names nothing)."""
        return cls(_wanted(tools if isinstance(tools, list) else []))

    def _add(self, tool: ToolName, native: str) -> None:
        self._native[(tool.namespace, tool.name)] = native
        self._back[native] = tool

    def _derive(self, tool: ToolName) -> str:
        full = tool.name if tool.namespace is None else f"{tool.namespace}{SEPARATOR}{tool.name}"
        name = _OUTSIDE.sub("_", full) or "_"
        if not VALID_NAME.match(name):
            name = "_" + name
        if len(name) <= MAX_NAME and name not in self._back:
            return name
        digest = hashlib.sha256(f"{tool.namespace or ''}\x00{tool.name}".encode()).hexdigest()[:8]
        n = 0
        while True:
            suffix = f"_{digest}" + (str(n) if n else "")
            candidate = name[: MAX_NAME - len(suffix)] + suffix
            if candidate not in self._back:
                return candidate
            n += 1

    def native(self, name: str, namespace: str | None = None) -> str:
        """The name ``name`` (in ``namespace``) is offered under; one not in the tools (a history item of
        a tool no longer offered) gets a name by the same rule, remembered for the way back."""
        native = self._native.get((namespace, name))
        if native is None:
            tool = ToolName(name, namespace)
            native = name if namespace is None and VALID_NAME.fullmatch(name) else self._derive(tool)
            self._add(tool, native)
        return native

    def original(self, native: str) -> ToolName | None:
        """What a name in the provider's tool call stands for (None: a name the request never offered)."""
        return self._back.get(native)

    def in_namespace(self, namespace: str) -> list[str]:
        """The offered names of a namespace's members."""
        return [native for (space, _), native in self._native.items() if space == namespace]

    def find(self, name: str, namespace: str | None = None) -> str | None:
        """The offered name of a tool the client names (``tool_choice``): by name and namespace; without a
        namespace, a tool outside any, else the one namespaced member of that name, else an offered name."""
        found = self._native.get((namespace, name))
        if found is not None or namespace is not None:
            return found
        members = [native for (_, member), native in self._native.items() if member == name]
        if len(members) == 1:
            return members[0]
        return name if name in self._back else None


def _wanted(tools: list[Any]) -> Iterable[ToolName]:
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type")
        if kind in ("function", "custom") and isinstance(tool.get("name"), str):
            yield ToolName(tool["name"], None, kind == "custom")
        elif kind == "namespace" and isinstance(tool.get("name"), str) and isinstance(tool.get("tools"), list):
            for member in tool["tools"]:
                kind = member.get("type") if isinstance(member, dict) else None
                if kind in ("function", "custom") and isinstance(member.get("name"), str):
                    yield ToolName(member["name"], tool["name"], member["type"] == "custom")


# ---- the request side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Function:
    """One function the provider is offered."""

    name: str  # as offered
    description: str | None
    parameters: dict[str, Any] | None  # None: the tool gave none (a function with no parameters)
    strict: bool | None
    index: int  # the ``tools[index]`` it comes from
    last: bool  # the last function made from ``tools[index]`` (where that tool's cache_control goes)


@dataclass(frozen=True, slots=True)
class Hosted:
    """A tool of another kind (web search, ...): the adapter's to map, or to refuse or drop."""

    index: int
    kind: str
    tool: dict[str, Any]


class Toolset:
    """A request's tools in the order given: functions to offer, and hosted tools for the adapter.

    ``dropped`` is None to refuse a tool the provider cannot run (a 400), or the list ``unsupported``
    adds ``tools[i] (kind)`` to when it drops one instead (``compat.drop_unsupported``).
    """

    def __init__(self, tools: list[Tool] | None, raw_tools: Any, provider: str, dropped: list[str] | None) -> None:
        self.provider = provider
        self.dropped = dropped
        raw = raw_tools if isinstance(raw_tools, list) else []
        self.names = ToolNames.of(raw)
        self.entries: list[Function | Hosted] = []
        typed = tools or []
        for i, tool in enumerate(raw):
            kind = tool.get("type") if isinstance(tool, dict) else None
            if kind == "function" or kind == "custom":
                strict = typed[i].strict if i < len(typed) else None
                self.entries.append(self._function(tool, None, None, i, last=True, strict=strict))
            elif kind == "namespace":
                self._namespace(tool, i)
            else:
                self.entries.append(Hosted(i, str(kind), tool if isinstance(tool, dict) else {}))

    def _namespace(self, tool: dict[str, Any], i: int) -> None:
        members = [m for m in tool.get("tools") or [] if isinstance(m, dict)]
        space, about = str(tool.get("name") or ""), tool.get("description")
        for j, member in enumerate(members):
            if member.get("type") not in ("function", "custom"):
                kind = str(member.get("type"))
                where = f"tools[{i}].tools[{j}]"
                self.unsupported(where, kind, f"{where}.type", f"namespace members of type {kind!r}")
                continue
            strict = member.get("strict") if isinstance(member.get("strict"), bool) else None
            self.entries.append(self._function(member, space, about, i, last=j == len(members) - 1, strict=strict))

    def _function(
        self, tool: dict[str, Any], space: str | None, about: Any, i: int, *, last: bool, strict: bool | None
    ) -> Function:
        name = str(tool.get("name") or "")
        own = tool.get("description") if isinstance(tool.get("description"), str) else None
        parts = [text for text in (about if isinstance(about, str) else None, own) if text]
        if tool.get("type") == "custom":
            parts.append(custom_format(tool.get("format")))
            parameters: dict[str, Any] | None = CUSTOM_PARAMETERS
            strict = None
        else:
            given = tool.get("parameters")
            parameters = given if isinstance(given, dict) else None
        description = "\n\n".join(parts) if parts else own  # an empty description stays as sent
        return Function(self.names.native(name, space), description, parameters, strict, i, last)

    def unsupported(self, where: str, kind: str, param: str, detail: str) -> None:
        """A tool the provider cannot run: a 400 naming ``param``, or, when dropping, ``where (kind)`` noted
        and the tool left out."""
        if self.dropped is None:
            raise unsupported(param, self.provider, detail)
        self.dropped.append(f"{where} ({kind})")

    def drop(self, hosted: Hosted, detail: str | None = None) -> None:
        """``unsupported`` for a hosted tool (``tools[i].type``)."""
        where = f"tools[{hosted.index}]"
        self.unsupported(where, hosted.kind, f"{where}.type", detail or f"tools of type {hosted.kind!r}")

    def chosen(self, choice: dict[str, Any], offered: Collection[str] | None = None) -> str:
        """The offered name of the function or custom tool ``tool_choice`` names (among ``offered``, by
        default every function of the set), or a 400."""
        name, space = choice.get("name"), choice.get("namespace")
        found = self.names.find(name, space if isinstance(space, str) else None) if isinstance(name, str) else None
        if offered is None:
            offered = {f.name for f in self.entries if isinstance(f, Function)}
        if found is None or found not in offered:
            kind = "custom" if choice.get("type") == "custom" else "function"
            raise InvalidRequestError(
                f"Invalid value for 'tool_choice.name': no {kind} tool named {name!r} in 'tools'.",
                param="tool_choice.name",
                code="invalid_value",
            )
        return found

    def allowed(self, listed: list[Any]) -> set[str]:
        """The offered names of the function, custom and namespace tools an ``allowed_tools`` choice lists."""
        names: set[str] = set()
        for tool in listed:
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                continue
            if tool.get("type") == "namespace":
                names.update(self.names.in_namespace(tool["name"]))
            elif tool.get("type") in ("function", "custom"):
                space = tool.get("namespace")
                found = self.names.find(tool["name"], space if isinstance(space, str) else None)
                if found is not None:
                    names.add(found)
        return names


def custom_format(fmt: Any) -> str:
    """What a custom tool's ``format`` asks of its input, said in words (its description's last part)."""
    base = f"Call this tool with its whole input, as free-form text, in the '{CUSTOM_INPUT}' string."
    if not isinstance(fmt, dict) or fmt.get("type") != "grammar":
        return base
    syntax = fmt.get("syntax") or "lark"
    return f"{base} The input must match this {syntax} grammar:\n```\n{fmt.get('definition') or ''}\n```"


def custom_input(arguments: str) -> str:
    """A custom tool call's input from the function call arguments it came as (``{"input": "..."}``);
    arguments that are not that object are the input as they are."""
    try:
        args = _decode(arguments) if arguments.strip() else {}
    except msgspec.DecodeError:
        return arguments
    if isinstance(args, dict):
        value = args.get(CUSTOM_INPUT)
        if isinstance(value, str):
            return value
        strings = [v for v in args.values() if isinstance(v, str)]
        if len(args) == 1 and strings:
            return strings[0]
    return arguments if not isinstance(args, str) else args


# ---- history ------------------------------------------------------------------------------------


def offered_call(item: InputFunctionCall | InputCustomToolCall, names: ToolNames) -> InputFunctionCall:
    """A function or custom tool call of the history as the function call the provider made: under its
    offered name, a custom tool's input as the ``input`` argument."""
    if isinstance(item, InputCustomToolCall):
        arguments = _encode({CUSTOM_INPUT: item.input}).decode()
        return InputFunctionCall(
            call_id=item.call_id, name=names.native(item.name, item.namespace), arguments=arguments, id=item.id
        )
    native = names.native(item.name, item.namespace)
    if native == item.name and item.namespace is None:
        return item
    return msgspec.structs.replace(item, name=native, namespace=None)


def offered_output(item: CustomToolCallOutput) -> FunctionCallOutput:
    """A custom tool call's output as the function call output the provider takes."""
    return FunctionCallOutput(call_id=item.call_id, output=item.output, id=item.id)
