"""Anthropic Messages request (``POST /anthropic/v1/messages``) -> the canonical (Responses) request.

The door goes the other way from the Anthropic provider adapter (``providers/anthropic/request.py``),
with the same correspondences, so a Messages request served by Anthropic reaches it as it was sent:

=======================================  ==========================================================
Anthropic Messages                       Responses
=======================================  ==========================================================
model                                    ``model`` (routed as every model name: ``claude-*`` to the
                                         ``anthropic`` provider, ``openai/gpt-4o``, aliases)
system (string)                          ``instructions``
system (text blocks)                     a ``system`` message, one ``input_text`` per block (each
                                         with its ``cache_control``)
messages user / assistant                ``message`` items (``input_text`` / ``output_text``), cut
                                         around the tool and thinking blocks, which become items
  text                                   ``input_text`` / ``output_text`` (``cache_control`` kept)
  image base64 / url                     ``input_image`` with a ``data:`` / http(s) URL
  document base64 / url / text           ``input_file`` ``file_data`` (a data: URL) / ``file_url``;
                                         ``title`` -> ``filename``
  tool_use                               ``function_call`` (call_id = the tool_use id)
  tool_result (string or blocks)         ``function_call_output``; ``is_error: true`` -> ``status:
                                         "incomplete"`` (the Anthropic adapter sends it back as
                                         ``is_error``)
  thinking {thinking, signature}         ``reasoning`` {summary text, ``encrypted_content``: the
                                         signature tagged ``anthropic:``, or as it is when it is
                                         another provider's state this door handed out}
  redacted_thinking {data}               ``reasoning`` {``encrypted_content``
                                         ``anthropic-redacted:<data>``}
  server_tool_use, web_search_tool_result  left out (a search replays only with its encrypted
                                         results, which a Responses item cannot carry)
tools (custom: name, input_schema)       ``function`` tools (``cache_control`` kept)
tools web_search_*                       ``web_search`` (allowed_domains, user_location;
                                         ``max_uses`` -> ``max_tool_calls``)
tools of another type (bash, ...)        passed on by type: the target's adapter refuses it with a
                                         400, or leaves it out under ``compat.drop_unsupported``
tool_choice auto / any / none / tool     ``auto`` / ``required`` / ``none`` / ``{type: function}``
  disable_parallel_tool_use              ``parallel_tool_calls: false``
thinking enabled {budget_tokens}         ``reasoning.max_tokens`` (the budget)
thinking adaptive                        ``reasoning.effort`` (``output_config.effort``, else medium)
output_config.format json_schema         ``text.format`` json_schema
max_tokens (required)                    ``max_output_tokens``
stop_sequences / top_k                   ``stop`` / ``top_k`` (gateway extensions the translating
                                         adapters map; an OpenAI Responses target refuses them)
temperature / top_p / stream             the same
metadata.user_id                         ``user``
=======================================  ==========================================================

Refused (400 ``invalid_request_error``): a missing ``max_tokens``, ``messages`` or ``model``, roles
other than user and assistant. Refused only when the request goes to a target that does not speak Messages
(``deferred``: an Anthropic target gets the body as it was sent, ``providers/native.py``): blocks, sources,
``tool_choice`` and ``thinking`` types Ferryman does not know, ``mcp_servers``, ``container``; the canonical
request is built without them. Hints with nothing to do here (``service_tier``, ``context_management``)
are ignored.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import msgspec

from ferryman.providers.anthropic.request import REDACTED_TAG, TAG
from ferryman.providers.builder import ENCRYPTED_REASONING
from ferryman.providers.native import refuse
from ferryman.schemas.errors import InvalidRequestError
from ferryman.schemas.items import WEB_SEARCH_TOOLS, opaque_for, tag_opaque

_encode = msgspec.json.encode
# another provider's reasoning state this door handed out as a signature: it already names its provider
_TAGGED = re.compile(r"^[a-z][a-z0-9-]*:")
REFUSED = ("mcp_servers", "container")
_ANTHROPIC_WEB_SEARCH = re.compile(r"^web_search_\d+$")


def responses_request(
    body: dict[str, Any], *, count_only: bool = False, deferred: list[InvalidRequestError] | None = None
) -> dict[str, Any]:
    """The Responses request dict for a Messages request (``count_only``: a count_tokens body, which
    takes no ``max_tokens``); bad input raises InvalidRequestError naming the field, and what only Anthropic
    itself takes is added to ``deferred`` instead, when given (left out of the canonical request)."""
    return _Translation(body, deferred).build(count_only)


def signature_state(signature: str) -> str:
    """A thinking block's signature as the reasoning item's ``encrypted_content``."""
    return signature if _TAGGED.match(signature) else tag_opaque(TAG, signature)


def state_signature(state: str) -> str:
    """A reasoning item's ``encrypted_content`` as a thinking block's signature (the inverse)."""
    own = opaque_for(TAG, state)
    return own if own is not None else state


def _invalid(param: str, detail: str) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: {detail}", param=param, code="invalid_value")


def _obj(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(param, "Input should be an object")
    return value


def _str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise _invalid(param, "Input should be a string")
    return value


class _Translation:
    def __init__(self, body: dict[str, Any], deferred: list[InvalidRequestError] | None) -> None:
        self.body = body
        self.input: list[dict[str, Any]] = []
        self.deferred = deferred

    def _refuse(self, exc: InvalidRequestError) -> None:
        refuse(exc, self.deferred)

    def build(self, count_only: bool) -> dict[str, Any]:
        body = self.body
        for name in REFUSED:
            if name in body:
                self._refuse(
                    InvalidRequestError(
                        f"{name}: not supported by Ferryman's Anthropic door (only an Anthropic target takes it).",
                        param=name,
                        code="unsupported_parameter",
                    )
                )
        if "model" not in body:
            raise InvalidRequestError("model: Field required", param="model", code="missing_required_parameter")
        out: dict[str, Any] = {"model": body["model"]}
        if not count_only:
            if body.get("max_tokens") is None:
                raise InvalidRequestError(
                    "max_tokens: Field required", param="max_tokens", code="missing_required_parameter"
                )
            out["max_output_tokens"] = body["max_tokens"]
            out["stream"] = body.get("stream", False)
        self._system(body.get("system"))
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise InvalidRequestError("messages: Field required", param="messages", code="missing_required_parameter")
        for i, message in enumerate(messages):
            self._message(_obj(message, f"messages.{i}"), f"messages.{i}")
        out["input"] = self.input
        out["store"] = False  # a Messages client sends its whole conversation each turn: nothing to chain to
        for name in ("temperature", "top_p", "top_k"):
            if body.get(name) is not None:
                out[name] = body[name]
        if body.get("stop_sequences"):
            out["stop"] = body["stop_sequences"]
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
            out["user"] = metadata["user_id"]
        self._tools(body, out)
        self._thinking(body, out)
        return out

    # ---- the conversation -----------------------------------------------------------------------

    def _system(self, system: Any) -> None:
        if system is None or system == "":
            return
        if isinstance(system, str):
            self.input.append(
                {"type": "message", "role": "system", "content": [{"type": "input_text", "text": system}]}
            )
            return
        if not isinstance(system, list):
            raise _invalid("system", "Input should be a string or a list of text blocks")
        parts = []
        for j, block in enumerate(system):
            block = _obj(block, f"system.{j}")
            if block.get("type") != "text":
                raise _invalid(f"system.{j}.type", "the system prompt takes text blocks only")
            parts.append(self._text(block, "input_text", f"system.{j}"))
        if parts:
            self.input.append({"type": "message", "role": "system", "content": parts})

    def _message(self, message: dict[str, Any], where: str) -> None:
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _invalid(f"{where}.role", "Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            raise _invalid(f"{where}.content", "Input should be a string or a list of content blocks")
        text_type = "output_text" if role == "assistant" else "input_text"
        parts: list[dict[str, Any]] = []

        def flush() -> None:
            if parts:
                self.input.append({"type": "message", "role": role, "content": list(parts)})
                parts.clear()

        for j, block in enumerate(content):
            at = f"{where}.content.{j}"
            block = _obj(block, at)
            kind = block.get("type")
            if kind == "text":
                parts.append(self._text(block, text_type, at))
            elif kind in ("image", "document") and role == "user":
                media = self._media(block, at)
                if media is not None:
                    parts.append(media)
            elif kind == "tool_use" and role == "assistant":
                flush()
                self.input.append(self._tool_use(block, at))
            elif kind == "tool_result" and role == "user":
                flush()
                self.input.append(self._tool_result(block, at))
            elif kind == "thinking" and role == "assistant":
                flush()
                summary = [{"type": "summary_text", "text": _str(block.get("thinking", ""), f"{at}.thinking")}]
                state = signature_state(_str(block.get("signature", ""), f"{at}.signature"))
                self.input.append({"type": "reasoning", "summary": summary, "encrypted_content": state})
            elif kind == "redacted_thinking" and role == "assistant":
                flush()
                state = tag_opaque(REDACTED_TAG, _str(block.get("data", ""), f"{at}.data"))
                self.input.append({"type": "reasoning", "summary": [], "encrypted_content": state})
            elif kind in ("server_tool_use", "web_search_tool_result") and role == "assistant":
                continue
            else:
                self._refuse(_invalid(f"{at}.type", f"a {role} message takes no {kind!r} block"))
        flush()

    @staticmethod
    def _cached(part: dict[str, Any], block: dict[str, Any], where: str) -> dict[str, Any]:
        cache = block.get("cache_control")
        if cache is not None:
            part["cache_control"] = _obj(cache, f"{where}.cache_control")
        return part

    def _text(self, block: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
        return self._cached({"type": kind, "text": _str(block.get("text"), f"{where}.text")}, block, where)

    def _media(self, block: dict[str, Any], where: str) -> dict[str, Any] | None:
        """An image (``input_image``) or a document (``input_file``): base64 as a data: URL, a URL as it is."""
        source = _obj(block.get("source"), f"{where}.source")
        stype = source.get("type")
        image = block["type"] == "image"
        kind, data_field, url_field = (
            ("input_image", "image_url", "image_url") if image else ("input_file", "file_data", "file_url")
        )
        part: dict[str, Any]
        if stype == "base64":
            media = _str(source.get("media_type"), f"{where}.source.media_type")
            data = _str(source.get("data"), f"{where}.source.data")
            part = {"type": kind, data_field: f"data:{media};base64,{data}"}
        elif stype == "url":
            part = {"type": kind, url_field: _str(source.get("url"), f"{where}.source.url")}
        elif stype == "text" and not image:
            text = _str(source.get("data"), f"{where}.source.data")
            part = {"type": kind, data_field: f"data:text/plain;base64,{base64.b64encode(text.encode()).decode()}"}
        else:
            allowed = "'base64' or 'url'" if image else "'base64', 'url' or 'text'"
            self._refuse(_invalid(f"{where}.source.type", f"a {block['type']} source is {allowed}"))
            return None
        if not image and isinstance(block.get("title"), str):
            part["filename"] = block["title"]
        return self._cached(part, block, where)

    def _tool_use(self, block: dict[str, Any], where: str) -> dict[str, Any]:
        call_id = _str(block.get("id"), f"{where}.id")
        name = _str(block.get("name"), f"{where}.name")
        args = _encode(_obj(block.get("input", {}), f"{where}.input")).decode()
        item = {"type": "function_call", "call_id": call_id, "name": name, "arguments": args}
        return self._cached(item, block, where)

    def _tool_result(self, block: dict[str, Any], where: str) -> dict[str, Any]:
        call_id = _str(block.get("tool_use_id"), f"{where}.tool_use_id")
        content = block.get("content", "")
        output: str | list[dict[str, Any]]
        if isinstance(content, str):
            output = content
        elif isinstance(content, list):
            output = []
            for k, inner in enumerate(content):
                at = f"{where}.content.{k}"
                inner = _obj(inner, at)
                if inner.get("type") == "text":
                    output.append(self._text(inner, "input_text", at))
                elif inner.get("type") in ("image", "document"):
                    media = self._media(inner, at)
                    if media is not None:
                        output.append(media)
                else:
                    self._refuse(_invalid(f"{at}.type", "a tool result holds text, image and document blocks"))
        else:
            raise _invalid(f"{where}.content", "Input should be a string or a list of content blocks")
        item: dict[str, Any] = {"type": "function_call_output", "call_id": call_id, "output": output}
        if block.get("is_error") is True:
            item["status"] = "incomplete"
        return self._cached(item, block, where)

    # ---- tools, thinking --------------------------------------------------------------------------

    def _tools(self, body: dict[str, Any], out: dict[str, Any]) -> None:
        tools = body.get("tools")
        if tools is not None:
            if not isinstance(tools, list):
                raise _invalid("tools", "Input should be a list")
            out["tools"] = [self._tool(_obj(tool, f"tools.{i}"), f"tools.{i}", out) for i, tool in enumerate(tools)]
        choice = body.get("tool_choice")
        if choice is None:
            return
        choice = _obj(choice, "tool_choice")
        kind = choice.get("type")
        if kind == "tool":
            name = _str(choice.get("name"), "tool_choice.name")
            search = any(t.get("type") == "web_search" and t.get("name") == name for t in out.get("tools", ()))
            out["tool_choice"] = {"type": "web_search"} if search else {"type": "function", "name": name}
        elif kind in ("auto", "any", "none"):
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        else:
            self._refuse(_invalid("tool_choice.type", "Input should be 'auto', 'any', 'tool' or 'none'"))
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False

    def _tool(self, tool: dict[str, Any], where: str, out: dict[str, Any]) -> dict[str, Any]:
        kind = tool.get("type")
        converted: dict[str, Any]
        if kind in (None, "custom"):
            converted = {"type": "function", "name": _str(tool.get("name"), f"{where}.name")}
            if tool.get("description") is not None:
                converted["description"] = tool["description"]
            converted["parameters"] = _obj(tool.get("input_schema"), f"{where}.input_schema")
            if tool.get("strict") is not None:
                converted["strict"] = tool["strict"]
        elif isinstance(kind, str) and _ANTHROPIC_WEB_SEARCH.match(kind):
            converted = {"type": "web_search", "name": tool.get("name", "web_search")}
            if tool.get("allowed_domains"):
                converted["filters"] = {"allowed_domains": tool["allowed_domains"]}
            location = tool.get("user_location")
            if isinstance(location, dict):
                kept = {k: v for k, v in location.items() if k != "type"}
                converted["user_location"] = {"type": "approximate", **kept}
            if tool.get("max_uses") is not None:
                out["max_tool_calls"] = tool["max_uses"]
        else:
            if not isinstance(kind, str) or kind in WEB_SEARCH_TOOLS or kind in ("function", "namespace"):
                raise _invalid(f"{where}.type", f"unknown tool type {kind!r}")
            converted = {k: v for k, v in tool.items() if k != "cache_control"}  # a hosted tool, for the adapter
        if tool.get("cache_control") is not None:
            converted["cache_control"] = _obj(tool["cache_control"], f"{where}.cache_control")
        return converted

    def _thinking(self, body: dict[str, Any], out: dict[str, Any]) -> None:
        config = body.get("output_config")
        config = config if isinstance(config, dict) else {}
        thinking = body.get("thinking")
        if thinking is not None:
            thinking = _obj(thinking, "thinking")
            kind = thinking.get("type")
            if kind == "enabled":
                budget = thinking.get("budget_tokens")
                if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
                    raise _invalid("thinking.enabled.budget_tokens", "Input should be an integer of at least 1024")
                out["reasoning"] = {"max_tokens": budget, "summary": "auto"}
                out["include"] = [ENCRYPTED_REASONING]  # signatures come back, to be sent again
            elif kind == "adaptive":
                effort = config.get("effort") if isinstance(config.get("effort"), str) else "medium"
                out["reasoning"] = {"effort": effort, "summary": "auto"}
                out["include"] = [ENCRYPTED_REASONING]
            elif kind != "disabled":
                self._refuse(_invalid("thinking.type", "Input should be 'enabled', 'adaptive' or 'disabled'"))
        fmt = config.get("format") or body.get("output_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            schema = _obj(fmt.get("schema"), "output_config.format.schema")
            out["text"] = {"format": {"type": "json_schema", "name": "output", "schema": schema, "strict": True}}
