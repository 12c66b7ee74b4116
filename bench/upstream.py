"""A fast fake OpenAI Responses upstream for the overhead benchmark.

A raw asyncio ``Protocol`` HTTP/1.1 keep-alive server on uvloop, with no framework, so that it is
never the bottleneck. ``POST /v1/responses`` answers a ~1 KB Responses JSON, or, when the body says
``"stream": true``, the OpenAI SSE event sequence in chunked encoding. Everything is rendered once at
start-up; per request only the response id (fixed width) is swapped in.

    python bench/upstream.py --port 9001 [--latency-ms 0] [--deltas 20] [--delta-gap-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
from dataclasses import dataclass
from typing import Any, cast

import uvloop

MODEL = "gpt-4o-2024-08-06"
TEXT = (
    "Ferryman carries each request across to the provider and brings the answer back unchanged, "
    "adding only its cost and a few fields. This reply is a fixed text of realistic length so that "
    "the benchmark measures the gateway and not the model."
)
ID_PLACEHOLDER = "resp_" + "X" * 48  # same width as the real ids, so lengths never change
MSG_ID = "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c7b3fdd9"
MAX_HEAD = 64 * 1024


# ---- payloads (rendered once) --------------------------------------------------------------------


def response_object(status: str, *, done: bool) -> dict[str, Any]:
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
        "output": [message_item("completed")] if done else [],
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


def stream_events(deltas: int) -> list[dict[str, Any]]:
    """The OpenAI event sequence for one text message, without sequence numbers."""
    part = {"item_id": MSG_ID, "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_object("in_progress", done=False)},
        {"type": "response.in_progress", "response": response_object("in_progress", done=False)},
        {"type": "response.output_item.added", "output_index": 0, "item": message_item("in_progress", None)},
        {"type": "response.content_part.added", **part, "part": output_text("")},
    ]
    events += [
        {"type": "response.output_text.delta", **part, "delta": d, "logprobs": []} for d in split_text(TEXT, deltas)
    ]
    events += [
        {"type": "response.output_text.done", **part, "text": TEXT, "logprobs": []},
        {"type": "response.content_part.done", **part, "part": output_text(TEXT)},
        {"type": "response.output_item.done", "output_index": 0, "item": message_item("completed")},
        {"type": "response.completed", "response": response_object("completed", done=True)},
    ]
    return events


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def sse_chunks(deltas: int) -> list[bytes]:
    """Each event as one HTTP chunk (``size\\r\\nevent: ..\\ndata: ..\\n\\n\\r\\n``), then the last chunk."""
    chunks = []
    for seq, event in enumerate(stream_events(deltas)):
        data = b"event: %s\ndata: %s\n\n" % (event["type"].encode(), compact({**event, "sequence_number": seq}))
        chunks.append(b"%x\r\n%s\r\n" % (len(data), data))
    chunks.append(b"0\r\n\r\n")
    return chunks


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


@dataclass(frozen=True)
class Settings:
    latency: float  # seconds before the first byte
    delta_gap: float  # seconds between stream events
    json_reply: bytes  # head + body, with ID_PLACEHOLDER
    sse_chunks: tuple[bytes, ...]  # with ID_PLACEHOLDER

    @classmethod
    def build(cls, latency_ms: float, deltas: int, delta_gap_ms: float) -> Settings:
        body = compact(response_object("completed", done=True))
        return cls(
            latency=latency_ms / 1000,
            delta_gap=delta_gap_ms / 1000,
            json_reply=(JSON_HEAD % len(body)) + body,
            sse_chunks=tuple(sse_chunks(deltas)),
        )


# ---- server --------------------------------------------------------------------------------------

_ids = itertools.count(1)
_ID_PREFIX = b"resp_%08x" % os.getpid()


def next_id() -> bytes:
    return _ID_PREFIX + b"%040x" % next(_ids)


def wants_stream(body: bytes) -> bool:
    return b'"stream":true' in body or b'"stream": true' in body


def content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


class UpstreamProtocol(asyncio.Protocol):
    """One connection: requests are answered one at a time, in order (keep-alive, pipelining-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
        if self.settings.latency:
            self.loop.call_later(self.settings.latency, self.answer, head, body)
        else:
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        if self.transport is None:
            return
        method, path = head.split(b" ", 2)[:2]
        if method == b"GET" and path == b"/health":
            self.write(HEALTHY)
            self.done()
        elif method != b"POST" or path not in (b"/v1/responses", b"/responses"):
            self.write(NOT_FOUND)
            self.done()
        elif wants_stream(body):
            self.stream(next_id(), 0)
        else:
            self.write(self.settings.json_reply.replace(ID_PLACEHOLDER.encode(), next_id()))
            self.done()

    def stream(self, resp_id: bytes, index: int) -> None:
        """Write the SSE chunks from ``index`` on: all at once, or one per ``delta_gap``."""
        if self.transport is None:
            return
        chunks = self.settings.sse_chunks
        if index == 0:
            self.write(SSE_HEAD)
        placeholder = ID_PLACEHOLDER.encode()
        if not self.settings.delta_gap:
            self.transport.writelines([c.replace(placeholder, resp_id) for c in chunks])
            self.done()
            return
        self.write(chunks[index].replace(placeholder, resp_id))
        if index + 1 < len(chunks):
            self.loop.call_later(self.settings.delta_gap, self.stream, resp_id, index + 1)
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


async def serve(host: str, port: int, settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: UpstreamProtocol(settings), host, port, backlog=4096)
    print(f"upstream listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fake OpenAI Responses upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before answering (default 0)")
    parser.add_argument("--deltas", type=int, default=20, help="output_text.delta events per stream (default 20)")
    parser.add_argument("--delta-gap-ms", type=float, default=0.0, help="delay between stream events (default 0)")
    args = parser.parse_args(argv)
    if args.deltas < 1:
        parser.error("--deltas must be at least 1")
    settings = Settings.build(args.latency_ms, args.deltas, args.delta_gap_ms)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, settings))


if __name__ == "__main__":
    main()
