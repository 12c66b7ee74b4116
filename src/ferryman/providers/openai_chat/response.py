"""Chat Completions reply or stream -> the shared ResponseBuilder.

One reader serves both: a whole reply is one big delta. Per choice 0 (Responses has one output):

- reasoning: the ``reasoning_content`` field (DeepSeek, vLLM, xAI), ``reasoning`` (Groq, OpenRouter,
  Ollama), Mistral ``thinking`` chunks, Cohere ``thinking`` blocks and ``tool_plan``, and a
  ``<think>...</think>`` block opening the content (Qwen, DeepSeek-R1 served raw) all become one raw
  reasoning item (``reasoning_text``); its ``encrypted_content`` is ``openai-chat:{json}`` naming
  the provider entry, plus what that provider needs to get it back (Mistral's thinking chunks,
  OpenRouter's ``reasoning_details``);
- text -> a message (``annotations`` url_citations kept; ``refusal`` -> a refusal part);
- ``tool_calls`` -> function_call items (streamed: ``index`` + id/name first, argument fragments
  after, or a whole call in one chunk);
- ``finish_reason`` -> the Responses status; ``usage`` (or Groq's ``x_groq.usage``) -> usage with
  cached tokens (``prompt_tokens_details.cached_tokens``, Mistral ``num_cached_tokens``, DeepSeek
  ``prompt_cache_hit_tokens``), cache writes and reasoning tokens;
- Perplexity's ``search_results`` / ``citations`` (and ``images``, ``related_questions``) -> top-level
  response fields; ``logprobs`` -> the output_text part's ``logprobs``.

A stream ends at ``data: [DONE]`` (or at the end of the body after a finish_reason); an ``error``
object in a chunk, or finish_reason ``error``, raises a ProviderError the relay turns into an
``error`` event and ``response.failed``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ferryman.ids import new_id
from ferryman.providers.base import SSEEvent
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.malformed import expect, malformed
from ferryman.schemas.errors import ProviderError
from ferryman.schemas.items import tag_opaque
from ferryman.schemas.output import Message, OutputText, Refusal
from ferryman.schemas.usage import usage_object

from .quirks import Quirks
from .request import TAG

FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "model_length": "length",  # Mistral: the context window was full
    "max_tokens": "length",
    "eos": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    # Cohere's native v2 reply
    "complete": "stop",
    "tool_call": "tool_calls",
}
EOF = "ferryman-eof"  # the event stream_events appends at the end of the upstream body
SEED_FIELDS = ("search_results", "citations", "images", "related_questions")
START, END = "<think>", "</think>"


class ThinkSplitter:
    """Splits content that may open with ``<think>...</think>`` into (is_reasoning, text) pieces.

    Only a block at the very start counts (after blank space): that is where reasoning models put
    it, and a ``<think>`` later in an answer is the answer's own text. Tags split across stream
    chunks are held back until they can be told apart from text.
    """

    def __init__(self) -> None:
        self.state = "start"  # start -> think -> text, or start -> text
        self.buf = ""
        self.after_think = False  # drop the blank line models put after </think>
        self.thinking = False  # some thought arrived (leading newlines are dropped until then)

    def feed(self, text: str) -> list[tuple[bool, str]]:
        self.buf += text
        out: list[tuple[bool, str]] = []
        if self.state == "start":
            head = self.buf.lstrip()
            if head.startswith(START):
                self.state, self.buf = "think", head[len(START) :]
            elif START.startswith(head):
                return out  # only blank space or part of the tag so far
            else:
                self.state = "text"
        if self.state == "think":
            if not self.thinking:  # the newline after <think> is not thought either
                self.buf = self.buf.lstrip("\n")
                self.thinking = bool(self.buf)
            end = self.buf.find(END)
            if end < 0:
                cut = len(self.buf) - _partial(self.buf, END)
                while cut and self.buf[cut - 1] == "\n":  # the newline before </think> is not thought
                    cut -= 1
                emit, self.buf = self.buf[:cut], self.buf[cut:]
                if emit:
                    out.append((True, emit))
                return out
            thought, self.buf = self.buf[:end].rstrip("\n"), self.buf[end + len(END) :]
            if thought:
                out.append((True, thought))
            self.state, self.after_think = "text", True
        if self.after_think:
            self.buf = self.buf.lstrip("\n")
            if not self.buf:
                return out
            self.after_think = False
        if self.buf:
            out.append((False, self.buf))
            self.buf = ""
        return out

    def flush(self) -> list[tuple[bool, str]]:
        rest, self.buf = self.buf, ""
        if not rest or (self.after_think and not rest.strip("\n")):
            return []
        return [(self.state == "think", rest)]


def _partial(buf: str, tag: str) -> int:
    """Length of the longest end of ``buf`` that could be the start of ``tag``."""
    for k in range(min(len(tag) - 1, len(buf)), 0, -1):
        if buf.endswith(tag[:k]):
            return k
    return 0


class ChatReader:
    """Reads one reply or one stream into a builder (one reader per stream)."""

    def __init__(self, builder: ResponseBuilder, provider: str, quirks: Quirks) -> None:
        self.b = builder
        self.chunks = 0  # stream chunks read
        self.provider = provider
        self.q = quirks
        self.think = ThinkSplitter() if quirks.think_tags else None
        self.reasoning_open = False
        self.thinking: list[str] = []  # Mistral thinking text of the open reasoning item
        self.details: list[dict[str, Any]] = []  # OpenRouter reasoning_details of the open item
        self.tools: dict[str, bool] = {}
        self.last_tool: str | None = None
        self.refusal: list[str] = []
        self.logprobs: list[dict[str, Any]] = []
        self.finish_reason: Any = None  # as the server sent it (a string, or anything: read with care)
        self.usage: dict[str, Any] | None = None
        self.model_seen = False

    # ---- a whole reply --------------------------------------------------------------------------

    def reply(self, body: Any) -> None:
        expect(self.provider, body, dict, "the reply")
        if body.get("error"):
            raise stream_error(self.provider, body["error"])
        self._top(body)
        if "choices" not in body and isinstance(body.get("message"), dict):  # Cohere's native v2 reply
            choice: dict[str, Any] = {"message": body["message"], "finish_reason": body.get("finish_reason")}
        else:
            choices = expect(self.provider, body.get("choices"), list, "'choices'")
            if not choices:
                raise malformed(self.provider, "'choices' is empty")
            choice = expect(self.provider, choices[0], dict, "'choices[0]'")
        if choice.get("error"):
            raise stream_error(self.provider, choice["error"])
        message = expect(self.provider, choice.get("message") or {}, dict, "'choices[0].message'")
        content = message.get("content")
        if self.b.silent and self._plain(message, content) and not choice.get("logprobs"):
            self._plain_reply(content, choice.get("finish_reason"))
            return
        self._delta(message, whole=True)
        self._logprobs(choice.get("logprobs"))
        self.finish_reason = choice.get("finish_reason")
        self._check_finish()
        self.end()

    def _plain(self, message: dict[str, Any], content: Any) -> bool:
        """Whether a reply's message is only text (or nothing): no reasoning, tool calls, refusal or annotations,
        and no ``<think>`` block this provider's content may open with."""
        if content is not None and not isinstance(content, str):
            return False
        if self.think is not None and content and content.lstrip().startswith(START):
            return False
        get = message.get
        return not (
            get("tool_calls")
            or get("annotations")
            or get("reasoning_content")
            or get("reasoning")
            or get("reasoning_details")
            or get("tool_plan")
            or isinstance(get("refusal"), str)
        )

    def _plain_reply(self, content: str | None, reason: Any) -> None:
        """A plain reply read for a silent builder: what ``_delta`` and ``end`` make of it, made at once."""
        self.finish_reason = reason
        self._check_finish()
        if content:
            self.b.whole_text(content)
        if self.usage is not None:
            self._set_usage(self.usage)
        self.b.finish(FINISH.get(reason.lower(), "stop") if isinstance(reason, str) else "stop")

    # ---- a stream -------------------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> None:
        """One SSE event: a chunk, ``[DONE]``, an ``error`` event, or the end of the body (``EOF``)."""
        if event.event == EOF:
            if self.finished:  # no [DONE], but the answer was complete
                self.end()
            return
        data = event.data.strip()
        if data == b"[DONE]":
            if not self.chunks:
                raise malformed(self.provider, "the stream ended ([DONE]) before any chunk")
            self.end()
            return
        if not data:
            return  # an empty event: keep-alive
        try:
            chunk = msgspec.json.decode(data)
        except msgspec.DecodeError:
            raise malformed(self.provider, "a stream chunk is not JSON") from None
        expect(self.provider, chunk, dict, "a stream chunk")
        if event.event == "error":
            raise stream_error(self.provider, chunk.get("error", chunk))
        self.chunks += 1
        self.chunk(chunk)

    def chunk(self, data: dict[str, Any]) -> None:
        if data.get("error"):
            raise stream_error(self.provider, data["error"])
        self._top(data)
        for choice in expect(self.provider, data.get("choices") or [], list, "a stream chunk's 'choices'"):
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0:
                continue  # Responses has one output; n > 1 is never asked for
            if choice.get("error"):
                raise stream_error(self.provider, choice["error"])
            self._delta(choice.get("delta") or {}, whole=False)
            self._logprobs(choice.get("logprobs"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                self._check_finish()

    def end(self) -> None:
        """Close everything, set usage and the status (``[DONE]``, or the end of a whole reply)."""
        if self.think is not None:
            for is_reasoning, piece in self.think.flush():
                self._reason(piece) if is_reasoning else self._text(piece)
        if self.refusal:
            self._seal()
            part = Refusal(refusal="".join(self.refusal))
            self.b.add_item(Message(id=new_id("msg"), status="completed", content=[part]))
        self._seal()
        if self.usage is not None:
            self._set_usage(self.usage)
        self.b.close_all()
        self._attach_logprobs()  # onto the closed message, before the final response is taken
        reason = self.finish_reason
        self.b.finish(FINISH.get(reason.lower(), "stop") if isinstance(reason, str) else "stop")

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    # ---- shared ---------------------------------------------------------------------------------

    def _top(self, data: dict[str, Any]) -> None:
        """Fields beside the choices: the model that answered, usage, search results."""
        model = data.get("model")
        if not self.model_seen and isinstance(model, str) and model:
            self.b.model = model
            self.model_seen = True
        usage = data.get("usage")
        groq = data.get("x_groq")
        if not isinstance(usage, dict) and isinstance(groq, dict):
            usage = groq.get("usage")
        if isinstance(usage, dict) and usage:
            self.usage = usage
        for key in SEED_FIELDS:
            if data.get(key):
                self.b.extra[key] = data[key]

    def _delta(self, delta: dict[str, Any], *, whole: bool) -> None:
        for key in ("reasoning_content", "reasoning"):
            if isinstance(delta.get(key), str) and delta[key]:
                self._reason(delta[key])
        details = delta.get("reasoning_details")
        if isinstance(details, list) and details:
            self._details(
                details, text_known=any(isinstance(delta.get(k), str) for k in ("reasoning", "reasoning_content"))
            )
        if isinstance(delta.get("tool_plan"), str) and delta["tool_plan"]:
            self._reason(delta["tool_plan"])  # Cohere: the model's plan before its tool calls
        content = delta.get("content")
        if isinstance(content, str):
            self._content(content)
        elif isinstance(content, list):
            self._chunks(content, whole=whole)
        if whole and self.think is not None:
            for is_reasoning, piece in self.think.flush():
                self._reason(piece) if is_reasoning else self._text(piece)
        for i, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                self._tool(call, i if whole else None)
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])
        for annotation in delta.get("annotations") or []:
            self._annotate(annotation)

    def _content(self, text: str) -> None:
        if self.think is None:
            self._text(text)
            return
        for is_reasoning, piece in self.think.feed(text):
            self._reason(piece) if is_reasoning else self._text(piece)

    def _chunks(self, chunks: list[Any], *, whole: bool) -> None:
        """Content as typed chunks: Mistral ``text`` / ``thinking``, Cohere ``text`` / ``thinking``."""
        for chunk in chunks:
            if not isinstance(chunk, dict):
                continue
            kind = chunk.get("type")
            if kind == "text" and isinstance(chunk.get("text"), str):
                self._content(chunk["text"])
            elif kind == "thinking":
                thinking = chunk.get("thinking")
                if isinstance(thinking, str):  # Cohere
                    self._reason(thinking)
                elif isinstance(thinking, list):  # Mistral: a list of text chunks
                    texts = [t.get("text", "") for t in thinking if isinstance(t, dict)]
                    self._reason("\n\n".join(texts) if whole else "".join(texts), mistral=texts, whole=whole)

    def _reason(self, text: str, *, mistral: list[str] | None = None, whole: bool = False) -> None:
        if not text and mistral is None:
            return
        self.b.reasoning(text, summary=False)
        self.reasoning_open = True
        if mistral is not None:
            if whole or not self.thinking:
                self.thinking.extend(mistral)
            else:  # a stream's deltas make one chunk
                self.thinking[-1] += "".join(mistral)

    def _details(self, details: list[Any], *, text_known: bool) -> None:
        """OpenRouter's reasoning_details: opaque state to send back, merged across stream deltas."""
        for d in details:
            if not isinstance(d, dict):
                continue
            if not text_known:
                text = d.get("text") or d.get("summary")
                if isinstance(text, str) and text:
                    self._reason(text)
            last = self.details[-1] if self.details else None
            if last is not None and last.get("type") == d.get("type") and last.get("index") == d.get("index"):
                for key in ("text", "summary", "data"):
                    if isinstance(d.get(key), str):
                        last[key] = (last.get(key) or "") + d[key]
                for key, value in d.items():
                    if key not in ("text", "summary", "data") and value is not None:
                        last[key] = value
            else:
                self.details.append(dict(d))
            if not self.reasoning_open:
                self.b.reasoning("", summary=False)
                self.reasoning_open = True

    def _seal(self) -> None:
        """Put our state on the open reasoning item before anything else closes it."""
        if not self.reasoning_open:
            return
        state: dict[str, Any] = {"provider": self.provider}
        if self.thinking:
            state["thinking"] = [{"type": "text", "text": t} for t in self.thinking]
        if self.details:
            state["reasoning_details"] = self.details
        self.b.reasoning_signature(tag_opaque(TAG, msgspec.json.encode(state).decode()))
        self.reasoning_open = False
        self.thinking, self.details = [], []

    def _text(self, text: str) -> None:
        if not text:
            return
        self._seal()
        self.b.text(text)

    def _tool(self, call: dict[str, Any], position: int | None) -> None:
        fn = call.get("function") or {}
        index = call.get("index")
        if isinstance(index, int):
            key = f"call{index}"
        elif position is not None:
            key = f"call{position}"
        else:  # no index: a new id is a new call, no id continues the last one
            key = call.get("id") or self.last_tool or "call0"
        args = fn.get("arguments")
        if isinstance(args, dict):  # a few servers send the arguments as an object
            args = msgspec.json.encode(args).decode()
        args = args if isinstance(args, str) else ""
        if key not in self.tools:
            self._seal()
            self.tools[key] = True
            self.b.tool_call(key, call.get("id") or new_id("call"), fn.get("name") or "", args)
        else:
            self.b.tool_args(key, args)
        self.last_tool = key

    def _annotate(self, annotation: Any) -> None:
        if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
            return
        cite = annotation.get("url_citation") or annotation
        self.b.annotate(
            {
                "type": "url_citation",
                "start_index": cite.get("start_index", 0),
                "end_index": cite.get("end_index", 0),
                "url": cite.get("url", ""),
                "title": cite.get("title") or "",
            }
        )

    def _logprobs(self, logprobs: Any) -> None:
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            self.logprobs.extend(lp for lp in logprobs["content"] if isinstance(lp, dict))

    def _attach_logprobs(self) -> None:
        """The logprobs onto the final output_text part (the builder's deltas carry none)."""
        if not self.logprobs:
            return
        for item in reversed(self.b.output):
            if isinstance(item, Message) and item.content and isinstance(item.content[0], OutputText):
                item.content[0].logprobs = [_logprob(lp) for lp in self.logprobs]
                return

    def _check_finish(self) -> None:
        reason = self.finish_reason.lower() if isinstance(self.finish_reason, str) else None
        if reason == "error":
            raise ProviderError(
                self.provider, 502, "the provider ended its answer with an error", code="upstream_error"
            )
        if reason == "insufficient_system_resource":  # DeepSeek: interrupted for lack of capacity
            raise ProviderError(self.provider, 503, "the provider ran out of capacity mid-answer", code=reason)

    def _set_usage(self, u: dict[str, Any]) -> None:
        self.b.usage = canonical_usage(u, self.q)


def canonical_usage(u: dict[str, Any], quirks: Quirks) -> dict[str, Any]:
    """A Chat Completions ``usage`` (or a compatible server's) as the canonical response's."""
    nested = u.get("tokens")
    tokens: dict[str, Any] = nested if isinstance(nested, dict) else u  # Cohere native: usage.tokens
    prompt = _int(tokens.get("prompt_tokens", tokens.get("input_tokens")))
    completion = _int(tokens.get("completion_tokens", tokens.get("output_tokens")))
    pd = u.get("prompt_tokens_details") or {}
    cd = u.get("completion_tokens_details") or {}
    cached = _int(
        pd.get("cached_tokens")
        or u.get("num_cached_tokens")
        or u.get("prompt_cache_hit_tokens")
        or u.get("cached_tokens")
    )
    written = _int(pd.get("cache_write_tokens") or pd.get("cache_creation_tokens"))
    reasoning = _int(cd.get("reasoning_tokens") or u.get("reasoning_tokens"))
    if not quirks.reasoning_in_completion:
        completion += reasoning
    return usage_object(
        prompt, completion, cached_tokens=cached, cache_write_tokens=written, reasoning_tokens=reasoning
    )


def stream_error(provider: str, error: Any) -> ProviderError:
    """An error object inside a 200 body or a stream chunk, as the ProviderError it stands for."""
    if not isinstance(error, dict):
        return ProviderError(provider, 502, str(error), body={"error": error})
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = msgspec.json.encode(message).decode() if message else "the provider reported an error"
    etype = error.get("type") if isinstance(error.get("type"), str) else None
    raw_code = error.get("code")
    status = raw_code if isinstance(raw_code, int) and 400 <= raw_code < 600 else None
    if status is None:
        status = 429 if etype and "rate" in etype else 503 if etype and "overload" in etype else 502
    message = with_details(message, error)
    code = raw_code if isinstance(raw_code, str) else None
    return ProviderError(provider, status, message, type=etype, code=code, body={"error": error})


def with_details(message: str, error: dict[str, Any]) -> str:
    """What some providers put beside the message: Groq's failed_generation, OpenRouter's upstream text."""
    metadata = error.get("metadata")
    if isinstance(metadata, dict):
        raw = metadata.get("raw")
        if raw:
            raw_text = raw if isinstance(raw, str) else msgspec.json.encode(raw).decode()
            who = metadata.get("provider_name")
            message = f"{message} ({who}): {raw_text}" if who else f"{message}: {raw_text}"
    failed = error.get("failed_generation")
    if isinstance(failed, str) and failed:
        message = f"{message} (failed_generation: {failed})"
    return message


def _logprob(lp: dict[str, Any]) -> dict[str, Any]:
    def one(entry: dict[str, Any]) -> dict[str, Any]:
        token = entry.get("token") or ""
        raw = entry.get("bytes")
        return {
            "token": token,
            "bytes": raw if isinstance(raw, list) else list(token.encode()),
            "logprob": float(entry.get("logprob") or 0.0),
        }

    out = one(lp)
    out["top_logprobs"] = [one(t) for t in lp.get("top_logprobs") or [] if isinstance(t, dict)]
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) else int(value) if isinstance(value, float) else 0
