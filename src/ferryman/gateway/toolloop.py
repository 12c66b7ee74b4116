"""The MCP tool loop: a pipeline step around dispatch that runs a request's ``mcp`` tools on any provider.

OpenAI runs the ``mcp`` tools of a Responses request itself; no other provider does. For a request with
``mcp`` tools (``tools: [{"type": "mcp", ...}]``), unless every target is OpenAI-native and every server
public (``mcp.openai_native: public``, the default; ``never``: Ferryman always runs them), Ferryman:

1. lists each server's tools (``mcp/client.py``, cached briefly) and offers the allowed ones to the model
   as function tools (``mcp/items.py``), beside the client's own tools;
2. calls the model (a stream, whatever the client asked: its events are relayed as they come, with their
   ``output_index`` and ``sequence_number`` renumbered for the one response the client sees);
3. runs each call the model made of a server's tool, as an ``mcp_call`` item and its events
   (``response.mcp_call_arguments.*``, ``response.mcp_call.*``), feeds the result back as a function call and
   output, and calls the model again, until it answers without calling one; bounded by ``max_tool_calls``
   (the request's, else ``mcp.max_tool_calls``): past it the model is asked to answer (``tool_choice: none``).

The loop stops, and the response goes to the client, as soon as a turn calls one of the client's own tools
(they stay the client's to run) or a server tool that needs approval (``require_approval``: an
``mcp_approval_request`` item). A later request with ``previous_response_id`` and an ``mcp_approval_response``
input item runs the call (or tells the model it was declined) and goes on.

The response the client gets is one: its id and ``created_at`` are Ferryman's, its output every turn's items
(``mcp_list_tools`` first, for a server the conversation has not listed yet), its usage the sum of every
model call's (priced by the cost hook as one answer), and ``extra_fields.mcp`` says how many model calls
(``turns``) and tool calls it took. It is stored as a response no provider holds (its history is replayed,
MCP items as function calls and outputs). A non-stream request gets the same loop, its events folded into
the final response. Nothing here runs, and nothing of MCP is imported, for a request without ``mcp`` tools.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from ferryman.config import Config
from ferryman.gateway.conversation import speaks_responses
from ferryman.gateway.exchange import Exchange
from ferryman.ids import new_id
from ferryman.mcp.client import CallOutcome, McpClient, McpServerError
from ferryman.mcp.items import (
    DECLINED,
    Offered,
    approval_item,
    call_item,
    call_pair,
    function_name,
    list_tools_item,
    plain_history,
)
from ferryman.mcp.servers import DEFAULTS, ServerRef, resolve
from ferryman.providers.base import EventStream, SSEEvent
from ferryman.schemas.errors import InvalidRequestError, UpstreamConnectionError
from ferryman.schemas.items import input_list
from ferryman.schemas.responses import ResponsesRequest

Dispatch = Callable[..., Awaitable[Any]]  # Pipeline._dispatch(ex, req, raw, stream=True, rewrite=...)

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_OPENING = frozenset({"response.created", "response.in_progress", "response.queued"})
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_CLIENT_CALLS = frozenset({"function_call", "custom_tool_call"})


class ToolLoop:
    """One per gateway (made on the first request with an ``mcp`` tool): the MCP client and its cache (the
    gateway's own, with its kept sessions, when the config has servers: one session per server for both)."""

    def __init__(self, config: Config, client: McpClient | None = None) -> None:
        self.config = config
        self.settings = config.mcp or DEFAULTS
        self.client = client or McpClient(self.settings)

    def run(self, ex: Exchange, dispatch: Dispatch) -> McpRun | None:
        """The loop for this request, or None when its targets' provider runs the ``mcp`` tools itself."""
        refs = resolve(ex.raw.get("tools") or [], self.config.mcp)
        if self.settings.openai_native == "public" and all(ref.public for ref in refs):
            providers = self.config.providers
            if all(speaks_responses(providers[t.provider], t.deployment) for t in ex.targets):
                return None
        return McpRun(self, ex, refs, dispatch)


class McpRun:
    """One request's loop: its servers' tools, the turns' input, the items and events of its one response."""

    def __init__(self, loop: ToolLoop, ex: Exchange, refs: list[ServerRef], dispatch: Dispatch) -> None:
        self.loop = loop
        self.ex = ex
        self.refs = refs
        self.dispatch = dispatch
        self.offered: dict[str, Offered] = {}  # function name -> server tool
        self.names: dict[tuple[str, str], str] = {}  # (server_label, tool) -> function name
        req = ex.responses
        self.limit = min(req.max_tool_calls or loop.settings.max_tool_calls, loop.settings.max_tool_calls)
        self.calls = 0
        self.turns = 0
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.output: list[dict[str, Any]] = []  # the response's items, in order
        self.first: list[dict[str, Any]] = []  # events of the items made before the first turn
        self.input: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.sequence = 0
        self.current: EventStream | None = None

    # ---- before the first model call ------------------------------------------------------------

    async def prepare(self) -> None:
        """Lists the servers' tools and settles the approvals the request answers: every failure so far is the
        request's (an error reply), before anything is sent."""
        seen = self._history_items()
        listed = {str(i.get("server_label")) for i in seen if i.get("type") == "mcp_list_tools"}
        for ref in self.refs:
            tools = await self.loop.client.list_tools(ref)
            for tool in tools:
                if not ref.allows(tool.name, tool.annotations):
                    continue
                name = function_name(ref.label, tool.name)
                self.offered[name] = Offered(ref, tool)
                self.names[(ref.label, tool.name)] = name
            if ref.label not in listed:
                self._whole_item(list_tools_item(new_id("mcpl"), ref, tools), self.first)
        own = {str(t.get("name")) for t in self.ex.raw.get("tools") or () if isinstance(t, dict)}
        clashes = own & set(self.offered)
        if clashes:
            raise InvalidRequestError(
                f"the function tool {sorted(clashes)[0]!r} has the name Ferryman gives an MCP server's tool: rename it",
                param="tools",
                code="invalid_mcp_tool",
            )
        self.input = await self._own_input(seen)

    def _history_items(self) -> list[dict[str, Any]]:
        conversation = self.ex.conversation
        past = [item for turn in conversation.turns for item, _ in turn] if conversation is not None else []
        return past + input_list(self.ex.raw.get("input"))

    async def _own_input(self, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The request's input as the model gets it: approvals answered (the call run or declined), MCP items
        of a client-kept history as function calls."""
        requests = {str(i.get("id")): i for i in seen if i.get("type") == "mcp_approval_request"}
        items: list[dict[str, Any]] = []
        for n, item in enumerate(input_list(self.ex.raw.get("input"))):
            if item.get("type") != "mcp_approval_response":
                items.append(item)
                continue
            asked = requests.get(str(item.get("approval_request_id")))
            if asked is None:
                raise InvalidRequestError(
                    f"no mcp_approval_request with id {item.get('approval_request_id')!r} in this conversation",
                    param=f"input[{n}].approval_request_id",
                    code="invalid_value",
                )
            label, tool, arguments = str(asked.get("server_label")), str(asked.get("name")), str(asked.get("arguments"))
            name = self.names.get((label, tool))
            if name is None:
                raise InvalidRequestError(
                    f"the approved call is of {label}.{tool}, which this request's tools do not offer",
                    param=f"input[{n}]",
                    code="invalid_value",
                )
            call_id = str(asked.get("id"))
            if item.get("approve") is True:
                outcome = await self._call(name, arguments)
                self._whole_item(call_item(new_id("mcp"), label, tool, arguments, outcome, call_id), self.first)
                items += call_pair(call_id, name, arguments, outcome.text)
            else:
                items += call_pair(call_id, name, arguments, DECLINED)
        return plain_history(items, self.names) or items

    # ---- the turns ------------------------------------------------------------------------------

    def _request(self) -> tuple[ResponsesRequest, dict[str, Any]]:
        raw = self.ex.raw
        own = [t for t in raw.get("tools") or () if not (isinstance(t, dict) and t.get("type") == "mcp")]
        turn = {k: v for k, v in raw.items() if k not in ("max_tool_calls", "background")}
        turn["tools"] = own + [o.function(name) for name, o in self.offered.items()]
        turn["input"] = self.input
        turn["stream"] = True
        choice = raw.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "mcp":
            forced = self.names.get((str(choice.get("server_label")), str(choice.get("name"))))
            choice = {"type": "function", "name": forced} if forced else "required"
        if self.turns > 0 and (choice == "required" or isinstance(choice, dict)):
            choice = "auto"  # forced once: the next turns may answer
        if self.calls >= self.limit:
            choice = "none"
        if choice is not None:
            turn["tool_choice"] = choice
        return msgspec.convert(turn, ResponsesRequest), turn

    def _rewrite(self, req: ResponsesRequest, raw: dict[str, Any]) -> tuple[ResponsesRequest, dict[str, Any]]:
        """A replayed history's MCP items as function calls and outputs (for every target)."""
        plain = plain_history(input_list(raw.get("input")), self.names)
        if plain is None:
            return req, raw
        raw = {**raw, "input": plain}
        return msgspec.convert(raw, ResponsesRequest), raw

    async def _turn(self) -> EventStream:
        req, raw = self._request()
        stream: EventStream = await self.dispatch(self.ex, req, raw, stream=True, rewrite=self._rewrite)
        self.ex.sent = stream.sent
        self.turns += 1
        self.current = stream
        return stream

    async def open(self) -> EventStream:
        """The stream a relay sends on: the first model call is open (a failure so far is an error reply)."""
        await self.prepare()
        first = await self._turn()
        stream = EventStream(self._sse(first), first.sent, built=True)
        stream.on_close(self._close_current)
        return stream

    async def create(self) -> dict[str, Any]:
        """The whole answer of a non-stream request: the same loop, its events folded."""
        await self.prepare()
        first = await self._turn()
        try:
            async for event in self._events(first):
                if event["type"] in _TERMINAL:
                    response: dict[str, Any] = event["response"]
                    return response
        finally:
            self._close_current()
        raise UpstreamConnectionError("the tool loop ended without a response")  # pragma: no cover - _events ends so

    def _close_current(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            for closer in current.closers:
                closer()

    async def _sse(self, first: EventStream) -> AsyncIterator[SSEEvent]:
        async for event in self._events(first):
            yield SSEEvent(event["type"], _encode(event))

    async def _events(self, first: EventStream) -> AsyncIterator[dict[str, Any]]:
        yield self._event({"type": "response.created", "response": self._snapshot("in_progress")})
        yield self._event({"type": "response.in_progress", "response": self._snapshot("in_progress")})
        for event in self.first:
            yield self._event(event)
        stream: EventStream | None = first
        final: dict[str, Any] = {}
        while stream is not None:
            final = {}
            async for event in self._turn_events(stream, final):
                yield event
            self._close_current()
            self._add_usage(final.get("usage"))
            more: list[dict[str, Any]] = []
            async for event in self._after_turn(final, more):
                yield event
            if not more:
                break
            self.input = self.input + more
            stream = await self._turn()
        response = {**final, **self._snapshot(final.get("status") or "completed")}
        response["usage"] = self.usage
        if final.get("incomplete_details") is not None:
            response["incomplete_details"] = final["incomplete_details"]
        self.ex.mcp = {"turns": self.turns, "calls": self.calls}
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        yield self._event({"type": kind, "response": response})

    async def _turn_events(self, stream: EventStream, final: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """One model call's events, renumbered; its calls of server tools held back (run after it)."""
        held: set[int] = set()
        index: dict[int, int] = {}
        async for ev in stream.events:
            event = _decode(ev.data)
            kind = ev.event or event.get("type")
            if kind in _OPENING:
                continue
            if kind in _TERMINAL:
                response = event.get("response") or {}
                if kind == "response.failed":
                    error = response.get("error") or {}
                    raise UpstreamConnectionError(
                        f"the model failed mid-loop: {error.get('message') or 'no reason given'}",
                        code=error.get("code") or "upstream_error",
                    )
                final.update(response)
                return
            if kind == "error":
                raise UpstreamConnectionError(
                    f"the model failed mid-loop: {event.get('message') or 'no reason given'}",
                    code=event.get("code") or "upstream_error",
                )
            at = event.get("output_index")
            if isinstance(at, int):
                if kind == "response.output_item.added":
                    item = event.get("item") or {}
                    if item.get("type") == "function_call" and item.get("name") in self.offered:
                        held.add(at)
                    else:
                        index[at] = len(self.output) + len(index)
                if at in held:
                    continue
                event["output_index"] = index.get(at, at)
            yield self._event(event)
        raise UpstreamConnectionError(
            "the model's stream ended before its response was complete", code="upstream_stream_incomplete"
        )

    async def _after_turn(self, final: dict[str, Any], more: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        """The turn's items into the response; its server-tool calls run (or sent for approval). ``more`` gets
        the next turn's input when the loop goes on."""
        output = [i for i in final.get("output") or () if isinstance(i, dict)]
        ours = [i for i in output if i.get("type") == "function_call" and i.get("name") in self.offered]
        self.output += [i for i in output if i not in ours]
        if not ours or final.get("status") == "incomplete":
            return
        if self.calls >= self.limit:
            return  # asked to answer, it called again: the answer is what it said
        stop = any(i.get("type") in _CLIENT_CALLS and i not in ours for i in output)
        pairs: list[dict[str, Any]] = []
        for fc in ours:
            offered = self.offered[str(fc.get("name"))]
            label, tool = offered.ref.label, offered.tool.name
            arguments = _arguments(fc)
            if offered.ref.needs_approval(tool, offered.tool.annotations):
                for event in self._whole_item(approval_item(new_id("mcpr"), label, tool, arguments), []):
                    yield self._event(event)
                stop = True
                continue
            item_id = new_id("mcp")
            at = len(self.output)
            self.output.append(call_item(item_id, label, tool, arguments, None))
            started = call_item(item_id, label, tool, "", None)
            head = {"item_id": item_id, "output_index": at}
            yield self._event({"type": "response.output_item.added", "output_index": at, "item": started})
            yield self._event({"type": "response.mcp_call_arguments.delta", **head, "delta": arguments})
            yield self._event({"type": "response.mcp_call_arguments.done", **head, "arguments": arguments})
            yield self._event({"type": "response.mcp_call.in_progress", **head})
            outcome = await self._call(str(fc.get("name")), arguments)
            self.calls += 1
            done = call_item(item_id, label, tool, arguments, outcome)
            self.output[at] = done
            kind = "response.mcp_call.completed" if outcome.error is None else "response.mcp_call.failed"
            yield self._event({"type": kind, **head})
            yield self._event({"type": "response.output_item.done", "output_index": at, "item": done})
            pairs += call_pair(str(fc.get("call_id") or item_id), str(fc.get("name")), arguments, outcome.text)
        if stop:
            return
        fed = [i for i in output if i not in ours]
        more += [*fed, *pairs]

    async def _call(self, name: str, arguments: str) -> CallOutcome:
        offered = self.offered[name]
        try:
            parsed = _decode(arguments or "{}")
        except msgspec.DecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            return CallOutcome(
                None, {"type": "mcp_protocol_error", "code": -32602, "message": "arguments are not a JSON object"}
            )
        try:
            return await self.loop.client.call_tool(offered.ref, offered.tool.name, parsed)
        except McpServerError as exc:  # pragma: no cover - call_tool reports failures as outcomes
            return CallOutcome(None, {"type": "mcp_protocol_error", "code": -32603, "message": exc.message})

    # ---- the response's shape -------------------------------------------------------------------

    def _whole_item(self, item: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An item made whole at once (a tool list, an approval request, a call run before the first turn):
        appended to the output, its events appended to ``events``."""
        at = len(self.output)
        self.output.append(item)
        head = {"item_id": item["id"], "output_index": at}
        events.append({"type": "response.output_item.added", "output_index": at, "item": _opening(item)})
        if item["type"] == "mcp_list_tools":
            events.append({"type": "response.mcp_list_tools.in_progress", **head})
            events.append({"type": "response.mcp_list_tools.completed", **head})
        elif item["type"] == "mcp_call":
            events.append({"type": "response.mcp_call_arguments.delta", **head, "delta": item["arguments"]})
            events.append({"type": "response.mcp_call_arguments.done", **head, "arguments": item["arguments"]})
            events.append({"type": "response.mcp_call.in_progress", **head})
            failed = item["status"] == "failed"
            events.append({"type": "response.mcp_call.failed" if failed else "response.mcp_call.completed", **head})
        events.append({"type": "response.output_item.done", "output_index": at, "item": item})
        return events

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        event["sequence_number"] = self.sequence
        self.sequence += 1
        return event

    def _snapshot(self, status: str) -> dict[str, Any]:
        raw = self.ex.raw
        snapshot: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": raw.get("model"),
            "output": list(self.output) if status != "in_progress" else [],
            "tools": raw.get("tools") or [],
            "tool_choice": raw.get("tool_choice") or "auto",
            "parallel_tool_calls": raw.get("parallel_tool_calls", True),
            "error": None,
            "incomplete_details": None,
        }
        for echoed in ("instructions", "previous_response_id", "metadata", "max_tool_calls", "store"):
            if echoed in raw:
                snapshot[echoed] = raw[echoed]
        return snapshot

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.usage = _summed(self.usage, usage) if self.usage is not None else usage


def _arguments(item: dict[str, Any]) -> str:
    arguments = item.get("arguments")
    return arguments if isinstance(arguments, str) else "{}"


def _opening(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``output_item.added`` shows it, before its content."""
    if item["type"] == "mcp_list_tools":
        return {**item, "tools": []}
    if item["type"] == "mcp_call":
        return {k: v for k, v in item.items() if k not in ("output", "error")} | {
            "arguments": "",
            "status": "in_progress",
        }
    return item


def _summed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two usage objects added up, field by field (nested details too)."""
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key)
        if isinstance(value, bool) or value is None:
            out.setdefault(key, value)
        elif isinstance(value, int | float) and isinstance(mine, int | float) and not isinstance(mine, bool):
            out[key] = mine + value
        elif isinstance(value, dict) and isinstance(mine, dict):
            out[key] = _summed(mine, value)
        elif mine is None:
            out[key] = value
    return out
