"""Stream relay: keep-alives, client disconnects, failures after the first byte, provider error events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from ferryman.sse import KEEPALIVE
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

TEXT_STREAM = load_fixture("openai-responses/text_stream")["response"]["sse"]


def _data(block: str) -> dict:
    return json.loads(block.split("data: ", 1)[1])


def _failed_event(reason: str) -> str:
    """A response.failed as OpenAI sends it, built on the recorded response.created snapshot."""
    response = dict(
        _data(TEXT_STREAM[0])["response"], status="failed", error={"code": "server_error", "message": reason}
    )
    return "event: response.failed\ndata: " + json.dumps(
        {"type": "response.failed", "response": response, "sequence_number": 3}
    )


def test_keepalive_comments_while_upstream_is_silent(fake: FakeUpstream, gateway: GatewayServer) -> None:
    # the session gateway sends keep-alives after 0.2 s of silence; the upstream holds its second event
    # until the client has seen two of them (a gateway that sends none makes the read time out); the first
    # event is awaited before the status line, so that a silent or broken upstream still gets an error status
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", hold_before_events=(1,)))
    with httpx.stream(
        "POST", f"{gateway.url}/v1/responses", json={"model": "smart", "input": "hi", "stream": True}
    ) as r:
        lines = r.iter_lines()
        seen: list[str] = []
        while seen.count(": keep-alive") < 2:
            seen.append(next(lines))
        fake.release()
        seen += lines
    events = [i for i, line in enumerate(seen) if line.startswith("event: ")]
    assert seen[events[0]] == "event: response.created"
    assert set(seen[events[0] + 2 : events[1]]) == {": keep-alive", ""}
    assert [line for line in seen if line][-1].endswith("}")
    assert "event: response.completed" in seen


class _ReleaseOnKeepalive(httpx.BaseTransport):
    """The SDK's transport, watching the bytes it reads: each keep-alive that arrives releases the upstream."""

    def __init__(self, fake: FakeUpstream) -> None:
        self.fake = fake
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        return httpx.Response(
            response.status_code, headers=response.headers, stream=_Watched(response.stream, self.fake)
        )

    def close(self) -> None:
        self.inner.close()


class _Watched(httpx.SyncByteStream):
    def __init__(self, inner: Any, fake: FakeUpstream) -> None:
        self.inner = inner
        self.fake = fake
        self.seen = b""
        self.released = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.seen += chunk
            while self.released < self.seen.count(KEEPALIVE):
                self.released += 1
                self.fake.release()
            yield chunk

    def close(self) -> None:
        self.inner.close()


def test_keepalive_does_not_disturb_the_sdk(fake: FakeUpstream, gateway: GatewayServer) -> None:
    # held after the first event and mid-stream: each hold ends only once a keep-alive reached the SDK
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", hold_before_events=(1, 6)))
    with httpx.Client(transport=_ReleaseOnKeepalive(fake)) as http:
        client = openai.OpenAI(
            base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0, timeout=10, http_client=http
        )
        with client.responses.stream(model="smart", input="What is 2+2?") as stream:
            final = stream.get_final_response()
    assert final.output_text == "2+2 = 4"


def test_events_are_relayed_as_they_arrive(fake: FakeUpstream, gateway: GatewayServer) -> None:
    # the upstream sends each event only once the client has the one before it: a gateway that buffers
    # never lets the client see it, and the read times out
    fake.add(
        "/v1/responses",
        Reply.fixture("openai-responses/text_stream", hold_before_events=tuple(range(1, len(TEXT_STREAM)))),
    )
    seen = []
    with httpx.stream("POST", f"{gateway.url}/v1/responses", json={"model": "smart", "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
                if len(seen) < len(TEXT_STREAM):
                    fake.release()
    assert seen == [_data(b)["type"] for b in TEXT_STREAM]


def test_client_disconnect_cancels_upstream(fake: FakeUpstream, gateway: GatewayServer) -> None:
    # the upstream holds the rest of its stream: only the gateway closing the connection ends it
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", hold_before_events=(3,)))
    with httpx.stream("POST", f"{gateway.url}/v1/responses", json={"model": "smart", "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("event: response.output_item.added"):
                break  # leave mid-stream
    assert fake.stream_closed.wait(5), "the upstream stream was not closed after the client left"


def test_drop_mid_stream_becomes_error_and_failed_events(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream", drop_after_events=6))
    events = list(client.responses.create(model="smart", input="hi", stream=True))
    types = [e.type for e in events]
    recorded = [b.split("\n", 1)[0].removeprefix("event: ") for b in TEXT_STREAM[:6]]
    assert types[:6] == recorded
    assert types[6:] == ["error", "response.failed"]
    error = events[6]
    assert error.code == "upstream_connection_error"  # type: ignore[union-attr]  # cut mid-body, not a clean end
    assert "openai" in error.message  # type: ignore[union-attr]
    failed = events[7]
    assert failed.response.status == "failed"  # type: ignore[union-attr]
    assert failed.response.id == _data(TEXT_STREAM[0])["response"]["id"]  # type: ignore[union-attr]
    assert failed.response.error is not None  # type: ignore[union-attr]
    assert [e.extra_fields["chunk_index"] for e in events] == list(range(8))  # type: ignore[attr-defined]


def test_provider_error_events_reach_the_client_intact(fake: FakeUpstream, client: openai.OpenAI) -> None:
    error_block = "event: error\ndata: " + json.dumps(
        {
            "type": "error",
            "code": "server_error",
            "message": "The model had a problem",
            "param": None,
            "sequence_number": 2,
        }
    )
    blocks = [*TEXT_STREAM[:2], error_block, _failed_event("The model had a problem")]
    fake.add("/v1/responses", Reply(sse=blocks))
    events = list(client.responses.create(model="smart", input="hi", stream=True))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "error", "response.failed"]
    assert events[2].message == "The model had a problem"  # type: ignore[union-attr]
    assert events[2].code == "server_error"  # type: ignore[union-attr]
    assert events[3].response.error.message == "The model had a problem"  # type: ignore[union-attr]
    assert events[3].extra_fields["provider"] == "openai"  # type: ignore[attr-defined]


def test_stream_that_ends_early_is_explained(fake: FakeUpstream, client: openai.OpenAI) -> None:
    fake.add("/v1/responses", Reply(sse=TEXT_STREAM[:5]))  # clean end of body, but no response.completed
    events = list(client.responses.create(model="smart", input="hi", stream=True))
    assert events[-2].type == "error"
    assert events[-2].code == "upstream_stream_incomplete"  # type: ignore[union-attr]
    assert events[-1].type == "response.failed"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_stream_error_status_before_first_byte_is_json(fake: FakeUpstream, client: openai.OpenAI, status: int) -> None:
    fake.add("/v1/responses", Reply(status=status, json={"error": {"message": "busy", "type": "x", "code": None}}))
    with pytest.raises(openai.APIStatusError) as info:
        list(client.responses.create(model="smart", input="hi", stream=True))
    assert info.value.status_code == status
    assert info.value.body["message"] == "openai: busy"  # type: ignore[index]  # the provider's, named


def _unusual(block: str, i: int) -> str:
    """The recorded event with no "event:" line and its data's first bytes other than '{"type":"'."""
    data = _data(block)
    if i % 2 == 0:  # "type" first, after whitespace
        return "data: { " + json.dumps(data)[1:]
    moved = {"sequence_number": data.pop("sequence_number"), **data}  # "type" second
    return "data: " + json.dumps(moved, separators=(",", ":"))


def test_events_whose_type_is_not_the_first_key_are_recognised(fake: FakeUpstream, client: openai.OpenAI) -> None:
    blocks = [_unusual(b, i) for i, b in enumerate(TEXT_STREAM)]
    assert blocks[-1].startswith('data: {"sequence_number":13,"type":"response.completed"')
    fake.add("/v1/responses", Reply(sse=blocks))
    events = list(client.responses.create(model="smart", input="hi", stream=True))
    types = [e.type for e in events]
    assert types == [_data(b)["type"] for b in TEXT_STREAM]  # one terminal event, no error after it
    final = events[-1].response  # type: ignore[union-attr]
    assert final.usage is not None and final.usage.cost is not None  # type: ignore[attr-defined]
    stored = client.responses.retrieve(final.id)
    assert stored.output_text == "2+2 = 4"


def test_gateway_error_events_continue_a_long_streams_sequence(fake: FakeUpstream, client: openai.OpenAI) -> None:
    head, delta = TEXT_STREAM[:4], TEXT_STREAM[4]
    numbered = [
        "event: response.output_text.delta\ndata: " + json.dumps(dict(_data(delta), sequence_number=n))
        for n in range(len(head), len(head) + 1500)
    ]
    fake.add("/v1/responses", Reply(sse=[*head, *numbered], drop_after_events=len(head) + len(numbered)))
    events = list(client.responses.create(model="smart", input="hi", stream=True))
    assert [e.type for e in events[-3:]] == ["response.output_text.delta", "error", "response.failed"]
    last = events[-3].sequence_number
    assert last == len(head) + 1499
    assert [e.sequence_number for e in events[-2:]] == [last + 1, last + 2]
