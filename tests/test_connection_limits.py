"""Slow, idle and too many connections, and too many request bytes at once (the ``server:`` section)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferryman.config import ConfigError, config_from_dict
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, free_port, wait_for, wait_until_serving
from tests.fakes.upstream import FakeUpstream, Reply

BOUND = 10.0  # seconds a test waits for the server to close a connection it must close


@pytest.fixture
def strict(upstream: FakeUpstream) -> Iterator[GatewayServer]:
    """A gateway with half-second header and body timeouts; idle connections are left alone for a minute."""
    server = {"header_timeout": 0.5, "body_timeout": 0.5, "idle_timeout": 60}
    with GatewayServer(base_config(upstream, server=server)) as gw:
        yield gw


def connect(gw: GatewayServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=BOUND)


def drip_until_closed(sock: socket.socket, first: bytes, byte: bytes) -> bytes:
    """Send ``first``, then one ``byte`` every tenth of a second until the server closes; what it said."""
    sock.sendall(first)
    sock.settimeout(0.1)  # the drip's pace: a read that finds nothing sends the next byte
    received = b""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            try:
                sock.sendall(byte)
            except OSError:  # closed under us
                return received
            continue
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"the server kept a dripping connection open for {BOUND} s (it said {received!r})")


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for {BOUND} s (it said {received!r})") from None
        if not data:
            return received
        received += data


def test_dripping_headers_time_out_with_408(strict: GatewayServer) -> None:
    with connect(strict) as sock:
        said = drip_until_closed(sock, b"POST /v1/responses HTTP/1.1\r\nhost: x\r\nx-drip: ", b"a")
    assert said.startswith(b"HTTP/1.1 408 ")
    error = json.loads(said.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "request_timeout"
    assert "header_timeout" in error["message"]


def test_dripping_body_times_out_with_408(strict: GatewayServer) -> None:
    head = b"POST /v1/responses HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
    with connect(strict) as sock:
        said = drip_until_closed(sock, head + b'{"model": "smart", "input": "', b"a")
    assert said.startswith(b"HTTP/1.1 408 ")
    error = json.loads(said.split(b"\r\n\r\n", 1)[1])["error"]
    assert error["code"] == "request_timeout"
    assert "body_timeout" in error["message"]


def test_silent_and_idle_keepalive_connections_are_closed(upstream: FakeUpstream) -> None:
    with GatewayServer(base_config(upstream, server={"idle_timeout": 0.5})) as gw:
        with connect(gw) as silent:
            assert read_until_closed(silent) == b""  # never said a word
        with connect(gw) as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            said = read_until_closed(idle)  # its answer, then the close once it stays silent
        assert said.startswith(b"HTTP/1.1 200 ")
        assert said.endswith(b'{"status":"ok"}')


def test_connections_past_max_connections_get_503(upstream: FakeUpstream) -> None:
    with GatewayServer(base_config(upstream, server={"max_connections": 2, "idle_timeout": 60})) as gw:
        # kept alive as long as the server's idle timeout: a client that dropped its idle connection after
        # httpx's default 5 s (a machine busy with other work) would open a third one, past the cap
        limits = httpx.Limits(keepalive_expiry=60)
        served = [httpx.Client(base_url=gw.url, timeout=BOUND, limits=limits) for _ in range(2)]
        try:
            for client in served:  # two keep-alive connections, open
                assert client.get("/health").status_code == 200
            with httpx.Client(base_url=gw.url, timeout=BOUND) as third:
                r = third.get("/health")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert r.headers["connection"] == "close"
            assert r.json()["error"]["code"] == "too_many_connections"
            with httpx.Client(base_url=gw.url, timeout=BOUND) as third:  # in the shape of the API the path is of
                anthropic = third.post("/anthropic/v1/messages", json={})
                google = third.post("/genai/v1beta/models/smart:generateContent", json={})
            assert (anthropic.status_code, anthropic.json()["error"]["type"]) == (503, "overloaded_error")
            assert (google.status_code, google.json()["error"]["status"]) == (503, "UNAVAILABLE")
            assert anthropic.headers["retry-after"] == google.headers["retry-after"] == "1"
            assert served[0].get("/health").status_code == 200  # the connections within the cap go on
        finally:
            for client in served:
                client.close()


def test_request_bytes_in_flight_past_the_budget_get_503(fake: FakeUpstream) -> None:
    mib = 1024 * 1024
    config = base_config(fake, max_request_bytes=mib, server={"max_request_bytes_in_flight": mib + mib // 2})
    big = {"model": "smart", "input": "x" * (900 * 1024)}
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic", held=True), times=1)
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    with GatewayServer(config) as gw, httpx.Client(base_url=gw.url, timeout=BOUND) as http:
        first: dict[str, Any] = {}
        sender = threading.Thread(target=lambda: first.update(r=http.post("/v1/responses", json=big)))
        sender.start()
        try:
            wait_for(lambda: fake.requests_to("/v1/responses"))  # the first body is held while its answer is awaited
            with httpx.Client(base_url=gw.url, timeout=BOUND) as other:
                refused = other.post("/v1/responses", json=big)
                assert refused.status_code == 503, refused.text
                assert refused.headers["retry-after"] == "1"
                assert refused.json()["error"]["code"] == "gateway_busy"
                assert other.post("/v1/responses", json={"model": "smart", "input": "hi"}).status_code == 200
        finally:
            fake.release()
            sender.join(BOUND)
        assert first["r"].status_code == 200
        assert http.post("/v1/responses", json=big).status_code == 200  # its bytes were given back


def test_in_flight_budget_below_the_largest_body_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="max_request_bytes_in_flight"):
        config_from_dict({"max_request_bytes": 4096, "server": {"max_request_bytes_in_flight": 2048}}, {})


def test_ferryman_serve_applies_the_server_section(tmp_path: Path) -> None:
    config = tmp_path / "ferryman.yaml"
    config.write_text("store: false\nserver: {header_timeout: 0.5, idle_timeout: 60}\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc)
        with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
            said = drip_until_closed(sock, b"GET /health HTTP/1.1\r\nx-drip: ", b"a")
        assert said.startswith(b"HTTP/1.1 408 ")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
