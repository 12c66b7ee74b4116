"""A hostile or broken upstream costs the gateway neither memory nor a false answer, and never hangs it.

Every case goes through real HTTP: a client, the gateway (``max_upstream_bytes: 8 MiB``), the hostile
fake of ``tests/fakes/hostile.py``. A reply past the cap is a 502 ``upstream_too_large`` naming the
cap and its setting; a stream broken before its first event gets an error status, after it an
``error`` and a ``response.failed``; a stream ends at its terminal event however long the upstream
lingers; after each case the gateway answers the next request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.gateway import GatewayServer, free_port, wait_until_serving
from tests.fakes.hostile import MODES, HostileUpstream

CAP = 8 << 20
ANTHROPIC_MODES = ("endless-stream", "linger")


def hostile_config(hostile: HostileUpstream) -> dict[str, Any]:
    common = {"keys": [{"value": "sk-hostile"}], "max_retries": 0, "max_upstream_bytes": CAP, "timeout": 60}
    providers: dict[str, Any] = {}
    for mode in MODES:
        providers[f"h-{mode}"] = {"type": "openai", "base_url": f"{hostile.url}/{mode}/v1", **common}
        if mode == "silent":
            providers[f"h-{mode}"]["idle_timeout"] = 1
    for mode in ANTHROPIC_MODES:
        providers[f"a-{mode}"] = {"type": "anthropic", "base_url": f"{hostile.url}/{mode}", **common}
    return {"store": False, "providers": providers}


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    server = HostileUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(hostile: HostileUpstream) -> Iterator[GatewayServer]:
    with GatewayServer(hostile_config(hostile)) as server:
        yield server


@pytest.fixture
def http(gateway: GatewayServer, hostile: HostileUpstream) -> Iterator[httpx.Client]:
    while not hostile.hangups.empty():  # what earlier tests left
        hostile.hangups.get_nowait()
    with httpx.Client(base_url=gateway.url, timeout=20) as client:
        yield client
    # the gateway still serves the next request
    r = client_ok(gateway.url)
    assert r.status_code == 200 and r.json()["status"] == "completed"


def client_ok(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/responses", json={"model": "mock/echo", "input": "still here?"}, timeout=20)


def events(r: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a streamed answer, as (event name, decoded data)."""
    out, name = [], ""
    for line in r.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            out.append((name, json.loads(line.removeprefix("data: "))))
    return out


def stream(http: httpx.Client, model: str) -> httpx.Response:
    r = http.post("/v1/responses", json={"model": model, "input": "hi", "stream": True})
    return r


def assert_too_large(error: dict[str, Any]) -> None:
    assert error["code"] == "upstream_too_large"
    assert str(CAP) in error["message"] and "max_upstream_bytes" in error["message"]


@pytest.mark.parametrize("mode", ["endless-body", "gzip-bomb"])
def test_a_reply_past_the_cap_is_a_502_naming_it(http: httpx.Client, hostile: HostileUpstream, mode: str) -> None:
    r = http.post("/v1/responses", json={"model": f"h-{mode}/gpt-4o", "input": "hi"})
    assert r.status_code == 502, r.text
    assert_too_large(r.json()["error"])
    if mode == "endless-body":  # reading stopped at the cap: the connection was cut, not read to its end
        assert hostile.hangups.get(timeout=10) == mode


@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        ("huge-line", 502, "upstream_too_large"),
        ("bad-json-first", 502, "upstream_bad_response"),
        ("silent", 504, "upstream_timeout"),
        ("garbage", 502, "upstream_connection_error"),
    ],
)
def test_a_stream_broken_before_its_first_event_gets_an_error_status(
    http: httpx.Client, mode: str, status: int, code: str
) -> None:
    r = stream(http, f"h-{mode}/gpt-4o")
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    if code == "upstream_too_large":
        assert_too_large(error)


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("h-huge-line-late/gpt-4o", "upstream_too_large"),
        ("h-bad-json/gpt-4o", "upstream_bad_response"),
        ("h-bad-utf8/gpt-4o", "upstream_bad_response"),
        ("a-endless-stream/claude-sonnet-4-5", "upstream_too_large"),
    ],
)
def test_a_stream_broken_after_its_first_event_ends_failed(http: httpx.Client, model: str, code: str) -> None:
    r = stream(http, model)
    assert r.status_code == 200
    got = events(r)
    assert got[0][0] == "response.created"
    (name, error), (last, failed) = got[-2:]
    assert (name, error["code"]) == ("error", code)
    assert last == "response.failed" and failed["response"]["error"]["code"] == code
    if code == "upstream_too_large":
        assert_too_large(error)
    # nothing malformed reached the client: every event it got is one the relay could read
    assert all(data.get("type") == name for name, data in got)


@pytest.mark.parametrize("model", ["h-linger/gpt-4o", "a-linger/claude-sonnet-4-5"])
def test_a_stream_ends_at_its_terminal_event_however_long_the_upstream_lingers(
    http: httpx.Client, hostile: HostileUpstream, model: str
) -> None:
    # the upstream holds the connection open after its last event; the provider's timeout is 60 s and the
    # client's 20 s: only a gateway that ends the stream at response.completed lets this read finish
    r = stream(http, model)
    got = events(r)
    assert [name for name, _ in got][-1] == "response.completed"
    assert "error" not in [name for name, _ in got]
    assert got[-1][1]["response"]["output"][0]["content"][0]["text"]
    assert hostile.hangups.get(timeout=10) == model.split("/")[0].split("-", 1)[1]  # upstream closed


# ---- memory: the gateway as its own process ---------------------------------------------------------------


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_memory_returns_after_each_hostile_case(hostile: HostileUpstream, tmp_path: Path) -> None:
    config = tmp_path / "ferryman.yaml"
    config.write_text(json.dumps(hostile_config(hostile)))  # JSON is YAML
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    serve = ["serve", "--config", str(config), "--port", str(port), "--log-level", "error"]
    proc = subprocess.Popen([sys.executable, "-m", "ferryman", *serve], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        assert client_ok(url).status_code == 200
        start = _rss(proc.pid)
        cases: list[tuple[str, bool]] = [
            ("h-endless-body/gpt-4o", False),
            ("h-gzip-bomb/gpt-4o", False),
            ("h-huge-line/gpt-4o", True),
            ("h-huge-line-late/gpt-4o", True),
            ("a-endless-stream/claude-sonnet-4-5", True),
            ("h-endless-stream/gpt-4o", True),
        ]
        with httpx.Client(base_url=url, timeout=20) as http:
            for model, streamed in cases:
                body = {"model": model, "input": "hi", "stream": streamed}
                with http.stream("POST", "/v1/responses", json=body) as r:
                    read = 0
                    for chunk in r.iter_bytes():
                        read += len(chunk)
                        if read > 4 * CAP:  # an endless passthrough stream: the client has seen enough
                            break
                assert client_ok(url).status_code == 200
                grown = _rss(proc.pid) - start
                assert grown < 50 << 20, f"{model}: RSS grew by {grown >> 20} MiB"
        while not hostile.hangups.empty():
            hostile.hangups.get_nowait()
    finally:
        proc.terminate()
        proc.wait(10)
