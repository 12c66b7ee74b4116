"""A fast fake upstream for the overhead benchmark: OpenAI Responses, Chat Completions, Anthropic Messages.

A raw asyncio ``Protocol`` HTTP/1.1 keep-alive server on uvloop, with no framework, so that it is
never the bottleneck. Every reply is rendered once at start-up; per request only the response id
(fixed width) is swapped in.

- ``POST /v1/responses`` answers a ~1 KB Responses JSON, or, when the body says ``"stream": true``,
  the OpenAI SSE event sequence in chunked encoding.
- ``POST /v1/chat/completions`` answers the same text as a ``chat.completion``, or as OpenAI's
  ``chat.completion.chunk`` frames ending in ``data: [DONE]``, with the usage chunk before it when the
  request asks for ``stream_options.include_usage`` (as OpenAI does).
- ``POST /v1/messages`` answers the same text as an Anthropic Messages JSON or SSE stream.

Three profiles, chosen by a path prefix, so that one process (and one gateway config) serves them all:

- no prefix (``/v1/...``): ``--latency-ms`` before answering (default 0), ``--deltas`` text deltas per
  stream, ``--delta-gap-ms`` between stream events (default 0: the whole stream in one write);
- ``/slow/v1/...``: the same replies after ``--slow-ms`` (default 20), like a model that takes 20 ms;
- ``/paced/v1/...``: streams of ``--paced-deltas`` text deltas (default 64), one every ``--paced-gap-ms``
  (default 20). Each delta's text is a timestamp, ``time.perf_counter_ns()`` when it was written, as 19
  digits and a ``|``, so a client on the same machine knows how long each event took to reach it.

    python bench/upstream.py --port 9001 [--latency-ms 0] [--deltas 20] [--delta-gap-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, cast

import uvloop

MODEL = "gpt-4o-2024-08-06"
CLAUDE = "claude-sonnet-4-5-20250929"
TEXT = (
    "Ferryman carries each request across to the provider and brings the answer back unchanged, "
    "adding only its cost and a few fields. This reply is a fixed text of realistic length so that "
    "the benchmark measures the gateway and not the model."
)
ID_PLACEHOLDER = "resp_" + "X" * 48  # same width as the real ids, so lengths never change
MSG_ID = "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c7b3fdd9"
STAMP = b"@" * 19  # replaced by perf_counter_ns() when the chunk is written
STAMP_TEXT = STAMP.decode() + "|"
MAX_HEAD = 64 * 1024


# ---- OpenAI Responses payloads (rendered once) ---------------------------------------------------


def response_object(status: str, *, done: bool, text: str = TEXT) -> dict[str, Any]:
    """A Responses API ``response`` object, in progress (no output, no usage) or completed."""
    return {
        "id": ID_PLACEHOLDER,
        "object": "response",
        "created_at": 1741476542,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": MODEL,
        "output": [message_item("completed", text)] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage() if done else None,
        "user": None,
        "metadata": {},
    }


def message_item(status: str, text: str | None = TEXT) -> dict[str, Any]:
    content = [] if text is None else [output_text(text)]
    return {"type": "message", "id": MSG_ID, "status": status, "role": "assistant", "content": content}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def usage() -> dict[str, Any]:
    return {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 48,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 84,
    }


def split_text(text: str, parts: int) -> list[str]:
    """``text`` in ``parts`` contiguous pieces (some may be empty when parts > len(text))."""
    step = len(text) / parts
    return [text[round(i * step) : round((i + 1) * step)] for i in range(parts)]


def openai_events(deltas: list[str], final: str) -> list[dict[str, Any]]:
    """The OpenAI event sequence for one text message, without sequence numbers."""
    part = {"item_id": MSG_ID, "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object("in_progress", done=False)},
        {"type": "response.in_progress", "response": response_object("in_progress", done=False)},
        {"type": "response.output_item.added", "output_index": 0, "item": message_item("in_progress", None)},
        {"type": "response.content_part.added", **part, "part": output_text("")},
    ]
    events += [{"type": "response.output_text.delta", **part, "delta": d, "logprobs": []} for d in deltas]
    events += [
        {"type": "response.output_text.done", **part, "text": final, "logprobs": []},
        {"type": "response.content_part.done", **part, "part": output_text(final)},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item("completed", final)},
        {"type": "response.completed", "response": response_object("completed", done=True, text=final)},
    ]
    return events


# ---- OpenAI Chat Completions payloads --------------------------------------------------------------

CHAT_ID = "chatcmpl-" + ID_PLACEHOLDER  # the placeholder is swapped like the others
CHAT_HEAD = {"id": CHAT_ID, "created": 1741476542, "model": MODEL, "service_tier": "default"}
CHAT_FINGERPRINT = {"system_fingerprint": "fp_ff25b2783a"}


def chat_usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 36,
        "completion_tokens": 48,
        "total_tokens": 84,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    return {**CHAT_HEAD, "object": "chat.completion", "choices": [choice], "usage": chat_usage(), **CHAT_FINGERPRINT}


def chat_chunks(deltas: list[str], *, include_usage: bool) -> list[dict[str, Any]]:
    """OpenAI's ``chat.completion.chunk`` sequence: the role, the text deltas, the finish, then the usage
    chunk (``choices: []``) when asked for; every chunk carries ``usage: null`` before it, as OpenAI's do."""

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        out = {**CHAT_HEAD, "object": "chat.completion.chunk", **CHAT_FINGERPRINT, "choices": [choice]}
        return {**out, "usage": None} if include_usage else out

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks += [chunk({"content": d}, None) for d in deltas]
    chunks.append(chunk({}, "stop"))
    if include_usage:
        last = {**CHAT_HEAD, "object": "chat.completion.chunk", **CHAT_FINGERPRINT, "choices": []}
        chunks.append({**last, "usage": chat_usage()})
    return chunks


def chat_chunked(chunks: list[dict[str, Any]]) -> tuple[bytes, ...]:
    """Each chunk as one HTTP chunk (``data: ..\n\n``, no ``event:`` line), then ``data: [DONE]``."""
    frames = [b"data: %s\n\n" % compact(c) for c in chunks] + [b"data: [DONE]\n\n"]
    return (*(b"%x\r\n%s\r\n" % (len(f), f) for f in frames), b"0\r\n\r\n")


# ---- Anthropic Messages payloads -----------------------------------------------------------------

ANTHROPIC_USAGE = {"input_tokens": 36, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def anthropic_message(text: str) -> dict[str, Any]:
    return {
        "id": ID_PLACEHOLDER,
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {**ANTHROPIC_USAGE, "output_tokens": 48, "service_tier": "standard"},
    }


def anthropic_events(deltas: list[str]) -> list[dict[str, Any]]:
    start = {**anthropic_message(""), "content": [], "stop_reason": None}
    start["usage"] = {**ANTHROPIC_USAGE, "output_tokens": 1, "service_tier": "standard"}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}} for d in deltas]
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 48},
        },
        {"type": "message_stop"},
    ]
    return events


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def chunked(events: list[dict[str, Any]], *, numbered: bool) -> tuple[bytes, ...]:
    """Each event as one HTTP chunk (``size\\r\\nevent: ..\\ndata: ..\\n\\n\\r\\n``), then the last chunk."""
    chunks = []
    for seq, event in enumerate(events):
        payload = compact({**event, "sequence_number": seq} if numbered else event)
        data = b"event: %s\ndata: %s\n\n" % (event["type"].encode(), payload)
        chunks.append(b"%x\r\n%s\r\n" % (len(data), data))
    chunks.append(b"0\r\n\r\n")
    return tuple(chunks)


JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\n\r\n" + (
    b'{"error":"not found"}'
)
HEALTHY = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{"status":"ok"}'
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def json_reply(obj: dict[str, Any]) -> bytes:
    body = compact(obj)
    return (JSON_HEAD % len(body)) + body


@dataclass(frozen=True)
class Api:
    """One API's replies in one profile: the JSON answer and the stream's chunks, with ID_PLACEHOLDER."""

    json_reply: bytes
    sse_chunks: tuple[bytes, ...]


@dataclass(frozen=True)
class Profile:
    latency: float  # seconds before the first byte
    delta_gap: float  # seconds between stream events
    stamped: bool  # stream deltas carry the time they were written
    openai: Api
    anthropic: Api
    chat: Api  # its stream without the usage chunk
    chat_usage: Api  # its stream with it (``stream_options.include_usage``)

    @classmethod
    def build(cls, latency_ms: float, deltas: int, delta_gap_ms: float, *, stamped: bool = False) -> Profile:
        pieces = [STAMP_TEXT] * deltas if stamped else split_text(TEXT, deltas)
        final = "(timestamps)" if stamped else TEXT  # never a stamp outside the deltas: clients count them
        return cls(
            latency=latency_ms / 1000,
            delta_gap=delta_gap_ms / 1000,
            stamped=stamped,
            openai=Api(
                json_reply(response_object("completed", done=True)),
                chunked(openai_events(pieces, final), numbered=True),
            ),
            anthropic=Api(json_reply(anthropic_message(TEXT)), chunked(anthropic_events(pieces), numbered=False)),
            chat=Api(json_reply(chat_completion(TEXT)), chat_chunked(chat_chunks(pieces, include_usage=False))),
            chat_usage=Api(json_reply(chat_completion(TEXT)), chat_chunked(chat_chunks(pieces, include_usage=True))),
        )


# ---- server --------------------------------------------------------------------------------------

_ids = itertools.count(1)
_ID_PREFIX = b"resp_%08x" % os.getpid()
_PLACEHOLDER = ID_PLACEHOLDER.encode()
ROUTES = {b"/v1/responses": "openai", b"/responses": "openai", b"/v1/messages": "anthropic"}
ROUTES |= {b"/v1/chat/completions": "chat", b"/chat/completions": "chat"}
STREAM = re.compile(rb'"stream"\s*:\s*true')
INCLUDE_USAGE = re.compile(rb'"include_usage"\s*:\s*true')


def next_id() -> bytes:
    return _ID_PREFIX + b"%040x" % next(_ids)


def wants_stream(body: bytes) -> bool:
    return STREAM.search(body) is not None


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


class UpstreamProtocol(asyncio.Protocol):
    """One connection: requests are answered one at a time, in order (keep-alive, pipelining-safe)."""

    def __init__(self, profiles: dict[bytes, Profile]) -> None:
        self.profiles = profiles
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self.next_request()

    def next_request(self) -> None:
        """Take one complete request off the buffer and start answering it, if there is one."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self.fail()
            return
        head = bytes(self.buffer[:end])
        try:
            length = content_length(head) or 0
        except ValueError:
            self.fail()
            return
        if len(self.buffer) < end + 4 + length:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.close_after = b"connection: close" in head.lower()
        self.busy = True
        method, path = head.split(b" ", 2)[:2]
        prefix, api = b"", ROUTES.get(path)
        if api is None and path.count(b"/") > 1:
            prefix, _, rest = path[1:].partition(b"/")
            api = ROUTES.get(b"/" + rest)
        profile = self.profiles.get(prefix)
        if method == b"GET" and path == b"/health":
            self.write(HEALTHY)
            self.done()
        elif method != b"POST" or api is None or profile is None:
            self.write(NOT_FOUND)
            self.done()
        elif profile.latency:
            self.loop.call_later(profile.latency, self.answer, profile, api, body)
        else:
            self.answer(profile, api, body)

    def answer(self, profile: Profile, api: str, body: bytes) -> None:
        if self.transport is None:
            return
        if api == "chat" and INCLUDE_USAGE.search(body):
            api = "chat_usage"
        replies: Api = getattr(profile, api)
        if wants_stream(body):
            self.write(SSE_HEAD)
            self.stream(profile, replies.sse_chunks, next_id(), 0, time.monotonic())
        else:
            self.write(replies.json_reply.replace(_PLACEHOLDER, next_id()))
            self.done()

    def stream(self, profile: Profile, chunks: tuple[bytes, ...], resp_id: bytes, index: int, start: float) -> None:
        """Write the SSE chunks from ``index`` on: all at once, or one per ``delta_gap`` (on a fixed schedule)."""
        if self.transport is None:
            return
        if not profile.delta_gap:
            self.transport.writelines([c.replace(_PLACEHOLDER, resp_id) for c in chunks])
            self.done()
            return
        chunk = chunks[index].replace(_PLACEHOLDER, resp_id)
        if profile.stamped:
            chunk = chunk.replace(STAMP, b"%019d" % time.perf_counter_ns())
        self.write(chunk)
        if index + 1 < len(chunks):
            # absolute deadlines: a late tick does not push every later event back
            self.loop.call_at(
                start + (index + 1) * profile.delta_gap, self.stream, profile, chunks, resp_id, index + 1, start
            )
        else:
            self.done()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def done(self) -> None:
        self.busy = False
        if self.close_after and self.transport is not None:
            self.transport.close()
        elif self.buffer:
            self.next_request()

    def fail(self) -> None:
        assert self.transport is not None
        self.transport.write(BAD_REQUEST)
        self.transport.close()


async def serve(host: str, port: int, profiles: dict[bytes, Profile]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(profiles), host, port, backlog=4096)
    print(f"upstream listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="fake OpenAI Responses, Chat Completions and Anthropic Messages upstream"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering (default 0)")
    parser.add_argument("--deltas", type=int, default=20, help="text deltas per stream (default 20)")
    parser.add_argument("--delta-gap-ms", type=float, default=0.0, help="delay between stream events (default 0)")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="/slow: delay before answering (default 20)")
    parser.add_argument("--paced-deltas", type=int, default=64, help="/paced: text deltas per stream (default 64)")
    parser.add_argument("--paced-gap-ms", type=float, default=20.0, help="/paced: delay between events (default 20)")
    args = parser.parse_args(argv)
    if args.deltas < 1 or args.paced_deltas < 1:
        parser.error("--deltas and --paced-deltas must be at least 1")
    if args.paced_gap_ms <= 0:
        parser.error("--paced-gap-ms must be positive")
    profiles = {
        b"": Profile.build(args.latency_ms, args.deltas, args.delta_gap_ms),
        b"slow": Profile.build(args.slow_ms, args.deltas, 0.0),
        b"paced": Profile.build(0.0, args.paced_deltas, args.paced_gap_ms, stamped=True),
    }
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, profiles))


if __name__ == "__main__":
    main()
