"""A client that leaves before the provider's answer arrives cancels the upstream call."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.fakes.gateway import GatewayServer, wait_for
from tests.fakes.upstream import FakeUpstream, Reply


def post_and_leave(gateway: GatewayServer, fake: FakeUpstream, body: dict[str, object]) -> None:
    """Send a request on a raw socket, wait until the provider has it, then close the socket unanswered."""
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(head + payload)
        wait_for(lambda: fake.requests_to("/v1/responses"))
    # the socket is closed: the client has left without its answer


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream-before-first-byte"])
def test_client_leaving_before_the_answer_cancels_the_upstream_call(
    fake: FakeUpstream, gateway: GatewayServer, stream: bool
) -> None:
    # the provider holds its answer until released (never, here): only the gateway going away ends it
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic", held=True))
    post_and_leave(gateway, fake, {"model": "smart", "input": "hi", "stream": stream})
    assert fake.left_unanswered.wait(10), "the gateway kept waiting for the provider after its client left"


def test_gateway_serves_the_next_request_after_a_client_left(
    fake: FakeUpstream, gateway: GatewayServer, http: httpx.Client
) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic", held=True), times=1)
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    post_and_leave(gateway, fake, {"model": "smart", "input": "hi"})
    assert fake.left_unanswered.wait(10)
    r = http.post("/v1/responses", json={"model": "smart", "input": "hi"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
