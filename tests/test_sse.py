"""The SSE decoder against the event-stream rules, fed in awkward chunk sizes."""

from __future__ import annotations

import pytest

from ferryman.gateway.streaming import with_chunk_index
from ferryman.sse import EventTooLarge, SSEDecoder
from tests.fakes.upstream import load_fixture


def _decode(chunks: list[bytes]) -> list[tuple[str | None, bytes]]:
    d = SSEDecoder()
    out = [e for c in chunks for e in d.feed(c)] + d.flush()
    return [(e.event, e.data) for e in out]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_recorded_stream_in_any_chunking(size: int, newline: str) -> None:
    blocks = load_fixture("openai-responses/tool_call_stream")["response"]["sse"]
    raw = ("\n\n".join(blocks) + "\n\n").replace("\n", newline).encode()
    events = _decode([raw[i : i + size] for i in range(0, len(raw), size)])
    assert [e for e, _ in events] == [b.split("\n")[0].removeprefix("event: ") for b in blocks]
    assert [d.decode() for _, d in events] == [b.split("data: ", 1)[1] for b in blocks]


def test_rules() -> None:
    raw = b": comment\n\nevent: a\ndata: one\ndata: two\nid: 7\n\ndata:no-space\n\nevent: empty\n\ndata: tail"
    assert _decode([raw]) == [("a", b"one\ntwo"), (None, b"no-space"), (None, b"tail")]


def test_chunk_index_splice() -> None:
    assert with_chunk_index(b'{"type":"x"}', 3) == b'{"type":"x","extra_fields":{"chunk_index":3}}'
    assert with_chunk_index(b"{ }", 0) == b'{"extra_fields":{"chunk_index":0}}'
    assert with_chunk_index(b"[DONE]", 1) == b"[DONE]"


@pytest.mark.parametrize("size", [1, 5, 4096])
def test_an_event_past_max_event_is_refused_an_event_up_to_it_passes(size: int) -> None:
    event = b"data: " + b"x" * 990 + b"\r\n\r\n"  # 1000 bytes with its blank line
    chunks = [event[i : i + size] for i in range(0, len(event), size)]
    d = SSEDecoder(max_event=1000)
    assert [e.data for c in chunks for e in d.feed(c)] == [b"x" * 990]
    endless = SSEDecoder(max_event=1000)  # a line that never ends
    with pytest.raises(EventTooLarge, match="larger than 1000 bytes"):
        for _ in range(2000):
            endless.feed(b"data: " if _ == 0 else b"y" * size)
    many_lines = SSEDecoder(max_event=1000)  # an event of many lines that never ends
    with pytest.raises(EventTooLarge):
        for _ in range(2000):
            many_lines.feed(b"data: y\n")
