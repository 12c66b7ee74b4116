"""A passed-through Chat Completions stream skimmed by its ``Tee``: the chunks after the first token kept unread
until the end, the final response's head read from the usage and finish chunks, the whole response read
``later``, and everything that cannot wait (an error, a malformed chunk, an odd finish) read when it comes.

The oracle is the same stream read chunk by chunk (a ``Tee`` without a skim), as every stream was before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from ferryman.config import ProviderConfig
from ferryman.doors.chat.passthrough import ChatFrames
from ferryman.gateway.passthrough import PassthroughRelay
from ferryman.providers.base import Call, EventStream
from ferryman.providers.builder import ResponseBuilder
from ferryman.providers.native import Tee
from ferryman.providers.openai_chat import ChatCompletionsProvider
from ferryman.providers.openai_chat.response import EOF
from ferryman.providers.openai_chat.skim import ChatSkim
from ferryman.schemas.errors import FerrymanError, ProviderError
from ferryman.schemas.responses import validate_request
from ferryman.sse import SSEDecoder, SSEEvent
from tests.fakes.upstream import load_fixture

PROVIDER = ChatCompletionsProvider(
    ProviderConfig(name="chat", type="openai-chat", base_url="https://x.test/v1", keys=[])
)


def _events(sse: list[str]) -> list[SSEEvent]:
    return SSEDecoder().feed("".join(block + "\n\n" for block in sse).encode())


def _tee(*, skim: bool) -> Tee:
    raw, req = validate_request(msgspec.json.encode({"model": "chat/gpt-4o", "input": "x", "stream": True}))
    call = Call(req, raw, "gpt-4o", None)
    builder = ResponseBuilder(call.request, call.raw, call.deployment)
    reader = PROVIDER.translator(builder)

    def end() -> None:
        reader.feed(SSEEvent(EOF, b""))

    return Tee("chat", builder, reader.feed, end, ChatSkim(PROVIDER.quirks) if skim else None)


def _run(tee: Tee, events: list[SSEEvent]) -> list[list[str]]:
    """Each event's types, as the relay feeds them (the first one read ahead), up to the final response."""
    tee.ahead(events[0])
    out = []
    for ev in events:
        out.append(tee.feed(ev))
        if tee.final is not None:
            break
    return out


def _text(response: dict[str, Any]) -> str:
    return "".join(part["text"] for item in response["output"] for part in item.get("content") or [])


STREAMS = ["openai-chat/text_stream", "openai-chat/tool_call_stream", "groq-chat/tool_call_stream"]


@pytest.mark.parametrize("name", STREAMS)
def test_a_skimmed_stream_ends_in_the_response_read_chunk_by_chunk(name: str) -> None:
    events = _events(load_fixture(name)["response"]["sse"])
    read, skimmed = _tee(skim=False), _tee(skim=True)
    _run(read, events)
    types = _run(skimmed, events)
    whole = read.final
    assert whole is not None and read.later is None
    head = skimmed.final
    assert head is not None and skimmed.later is not None
    assert head == {"model": whole["model"], "usage": whole["usage"], "status": whole["status"]}
    assert types[-1] == [f"response.{whole['status']}"]
    later = skimmed.later()
    assert later["output"] == [
        {**item, "id": later_item["id"]} for item, later_item in zip(whole["output"], later["output"], strict=True)
    ]
    assert (later["usage"], later["status"], _text(later)) == (whole["usage"], whole["status"], _text(whole))


def test_the_chunks_after_the_first_token_wait_until_the_end() -> None:
    events = _events(load_fixture("openai-chat/text_stream")["response"]["sse"])
    types = _run(_tee(skim=True), events)
    first = next(i for i, t in enumerate(types) if any(x.endswith(".delta") for x in t))
    assert first < len(types) - 3
    assert all(t == [] for t in types[first + 1 : -1])  # kept unread: not one canonical event made


def test_a_stream_without_usage_is_read_whole_at_its_end() -> None:
    sse = [b for b in load_fixture("openai-chat/text_stream")["response"]["sse"] if '"usage":{' not in b]
    events = _events(sse)
    tee = _tee(skim=True)
    _run(tee, events)
    assert tee.final is not None and tee.later is None and _text(tee.final)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return "data: " + msgspec.json.encode({"id": "c", "model": "gpt-4o-x", "choices": [choice]}).decode()


USAGE = 'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}'


def test_a_finish_the_reader_fails_on_is_read_at_the_end() -> None:
    sse = [_chunk({"role": "assistant", "content": "a"}), _chunk({"content": "b"}), _chunk({}, "error"), USAGE]
    tee = _tee(skim=True)
    with pytest.raises(ProviderError):
        _run(tee, _events([*sse, "data: [DONE]"]))


def test_a_length_finish_is_an_incomplete_head() -> None:
    sse = [_chunk({"role": "assistant", "content": "a"}), _chunk({"content": "b"}), _chunk({}, "length"), USAGE]
    tee = _tee(skim=True)
    _run(tee, _events([*sse, "data: [DONE]"]))
    assert tee.final is not None and tee.final["status"] == "incomplete" and tee.final["model"] == "gpt-4o-x"
    assert tee.final["usage"]["output_tokens"] == 2
    assert _text(tee.later() if tee.later is not None else {}) == "ab"


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ('data: {"error":{"message":"overloaded","type":"server_error"}}', ProviderError),
        ('data: {"id":"c","choices":[', FerrymanError),  # not JSON
        ('data: {"id":"c","choices":[],"model":"\xff"}', None),  # not UTF-8 (made below)
    ],
    ids=["error-chunk", "not-json", "not-utf8"],
)
def test_what_cannot_wait_is_read_when_it_comes(bad: str, error: type[Exception] | None) -> None:
    head = _events([_chunk({"role": "assistant", "content": "a"}), _chunk({"content": "b"}), _chunk({"content": "c"})])
    broken = SSEEvent(None, bad.encode("latin-1")[len("data: ") :])
    tee = _tee(skim=True)
    _run(tee, head)
    with pytest.raises(error or FerrymanError) as info:
        tee.feed(broken)
    if error is not ProviderError:
        assert isinstance(info.value, FerrymanError) and info.value.code == "upstream_bad_response"


def test_an_upstream_body_that_ends_without_done_still_finishes() -> None:
    sse = [_chunk({"role": "assistant", "content": "a"}), _chunk({"content": "b"}), _chunk({}, "stop"), USAGE]
    tee = _tee(skim=True)
    _run(tee, _events(sse))
    assert tee.final is None
    tee.end()
    assert tee.final is not None and _text(tee.final) == "ab" and tee.final["usage"]["output_tokens"] == 2


def test_a_misshapen_chunk_is_the_later_readers_to_find() -> None:
    """A JSON object its reader cannot read goes out as sent, as a passed-through reply's body does; reading
    it later fails, and the hooks keep the head (``Pipeline.after_reply``)."""
    sse = [_chunk({"role": "assistant", "content": "a"}), _chunk({"content": "b"}), 'data: {"id":"c","choices":5}']
    tee = _tee(skim=True)
    types = _run(tee, _events([*sse, _chunk({}, "stop"), USAGE, "data: [DONE]"]))
    assert types[2] == [] and tee.final is not None and tee.later is not None
    with pytest.raises(FerrymanError) as info:
        tee.later()
    assert info.value.code == "upstream_bad_response"


def _same_answer(sse: list[str]) -> None:
    """The skimmed stream's whole response (its kept chunks folded) is the one read chunk by chunk."""
    events = _events([*sse, "data: [DONE]"])
    read, skimmed = _tee(skim=False), _tee(skim=True)
    _run(read, events)
    types = _run(skimmed, events)
    assert [] in types  # chunks were kept
    assert read.final is not None and skimmed.later is not None
    whole, later = read.final, skimmed.later()
    ids = {"id": None, "created_at": None, "completed_at": None}
    assert [{**i, "id": None} for i in later["output"]] == [{**i, "id": None} for i in whole["output"]]
    assert {**later, **ids, "output": None} == {**whole, **ids, "output": None}


LOGPROBS = {"content": [{"token": "b", "logprob": -0.5, "bytes": [98], "top_logprobs": []}]}


@pytest.mark.parametrize(
    "middle",
    [
        [_chunk({"content": "a"}), _chunk({"content": "b"}), _chunk({"content": "c"})],
        [_chunk({"content": c}) for c in ("<thi", "nk>wh", "y", " not</th", "ink>so", " it", " is")],
        [_chunk({"content": c}) for c in "ab"]
        + [_chunk({"content": "c", "annotations": []}), _chunk({"content": "d"})],
        [
            _chunk({"content": "a"}),
            _chunk({"content": "b"}),
            "data: "
            + msgspec.json.encode(
                {"id": "c", "choices": [{"index": 0, "delta": {"content": "c"}, "logprobs": LOGPROBS}]}
            ).decode(),
            _chunk({"content": "d"}),
        ],
        [_chunk({"content": c}) for c in "ab"]
        + [_chunk({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f"}}]})],
    ],
    ids=["plain", "think-tags-split", "annotations", "logprobs", "tool-call"],
)
def test_folded_chunks_make_the_same_answer(middle: list[str]) -> None:
    first = _chunk({"role": "assistant", "content": ""})
    _same_answer([first, *middle, _chunk({}, "stop"), USAGE])


# ---- the relay of a skimmed stream ----------------------------------------------------------------


def test_the_first_token_goes_out_before_the_rest_of_its_batch_is_read() -> None:
    """An upstream that wrote the whole answer at once (one batch): the client's first write holds the chunks up to
    the first token and nothing more; the rest of the batch, priced, goes with the stream's end (two writes in
    all, the same bytes the client would get chunk by chunk)."""
    events = _events(load_fixture("openai-chat/text_stream")["response"]["sse"])
    tee = _tee(skim=True)
    tee.ahead(events[0])
    writes: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        writes.append(message)

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def one_batch() -> AsyncIterator[list[SSEEvent]]:
        yield events

    async def nothing() -> AsyncIterator[SSEEvent]:
        return
        yield  # (an async generator)

    stream = EventStream(events=nothing(), sent={}, batches=one_batch(), tee=tee)
    relay = PassthroughRelay(
        send, receive, stream, frames=ChatFrames(True), keepalive=60, provider="chat", finalize=lambda r, i: {}
    )
    asyncio.run(relay.run([]))
    bodies = [m for m in writes if m["type"] == "http.response.body"]
    assert [m["more_body"] for m in bodies] == [True, False]
    first = SSEDecoder().feed(bodies[0]["body"])
    assert [ev.data for ev in first] == [ev.data for ev in events[:2]]  # the role chunk, then the first token
    assert b'"content":"The"' in first[-1].data
    rest = SSEDecoder().feed(bodies[1]["body"])
    assert [ev.data for ev in rest][-1] == b"[DONE]"
    assert [ev.data for ev in rest[:-2]] == [ev.data for ev in events[2:-2]]  # unchanged, up to the usage chunk
