"""`ferryman serve` as a user starts it: a real process, a real port, the openai SDK."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai

from tests.fakes.gateway import free_port, wait_until_serving
from tests.fakes.upstream import FakeUpstream, Reply


def test_serve_from_environment_with_two_workers(fake: FakeUpstream, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"OPENAI_API_KEY": "sk-env-key", "OPENAI_BASE_URL": f"{fake.url}/v1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        fake.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0)
        for _ in range(4):
            assert client.responses.create(model="gpt-4o", input="hi").output_text == "The capital of France is Paris."
        assert {r.headers["Authorization"] for r in fake.received} == {"Bearer sk-env-key"}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert b"sk-env-key" not in err


def test_serve_refuses_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - {name: x, target: nowhere/y}\n")
    result = subprocess.run(
        [sys.executable, "-m", "ferryman", "serve", "--config", str(bad), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "provider 'nowhere', which is not configured" in result.stderr


def test_serve_with_no_config_and_no_keys_answers_mock_models(tmp_path: Path) -> None:
    import ferryman

    port = free_port()
    src = str(Path(ferryman.__file__).resolve().parents[1])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "PYTHONPATH": src}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,  # the default store, ./ferryman.db, lands here
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0)
        assert client.responses.create(model="mock/echo", input="hello").output_text == "hello"
        with client.responses.stream(model="mock/echo", input="one two three") as stream:
            assert stream.get_final_response().output_text == "one two three"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    hints = [line for line in err.decode().splitlines() if "mock/..." in line]
    assert len(hints) == 1, err.decode()
    assert "only mock/... models are available" in hints[0]
    assert "OPENAI_API_KEY" in hints[0] and "--config" in hints[0]


def _serve(config: Path, env: dict[str, str]) -> tuple[int, subprocess.Popen[bytes]]:
    """``ferryman serve --config CONFIG`` on a free port, its output kept."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return port, proc


@contextlib.contextmanager
def _serving(config: Path) -> Iterator[tuple[str, list[str]]]:
    """``ferryman serve --config CONFIG`` without provider keys in its environment, until SIGTERM at the end
    of the block; its URL, and then its stderr (in the list)."""
    port, proc = _serve(config, {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")})
    url, stderr = f"http://127.0.0.1:{port}", []
    try:
        wait_until_serving(url, proc)
        yield url, stderr
    finally:
        proc.terminate()
        stderr.append(proc.communicate(timeout=20)[1].decode())


def test_serve_warns_at_start_up_of_a_key_whose_variable_is_unset(tmp_path: Path) -> None:
    config = tmp_path / "ferryman.yaml"
    config.write_text(
        "providers:\n  openai: {keys: [{value: env.FERRYMAN_TEST_UNSET_KEY}]}\n"
        f"store: sqlite:///{tmp_path}/ferryman.db\n"
    )
    port, proc = _serve(config, {k: v for k, v in os.environ.items() if k != "FERRYMAN_TEST_UNSET_KEY"})
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    warnings = [line for line in err.decode().splitlines() if "FERRYMAN_TEST_UNSET_KEY" in line]
    assert len(warnings) == 1, err.decode()
    assert "WARNING" in warnings[0] and "provider 'openai'" in warnings[0] and "is not set" in warnings[0]


def test_serve_start_up_lines_mask_the_store_password(fake: FakeUpstream, tmp_path: Path) -> None:
    password, key = "store-password-serve-01", "sk-serve-echo-0123456789"
    config = tmp_path / "ferryman.yaml"
    config.write_text(
        f"store: postgresql://postgres:{password}@127.0.0.1:5432/test\n"
        f"providers:\n  openai: {{base_url: '{fake.url}/v1', keys: [{{value: {key}}}], max_retries: 0}}\n"
    )
    with _serving(config) as (url, stderr):
        fake.add("/v1/responses", Reply(status=401, json={"error": {"message": f"Incorrect API key: {key}"}}))
        assert httpx.post(f"{url}/v1/responses", json={"model": "openai/gpt-4o", "input": "hi"}).status_code == 401
    text = stderr[0]
    assert "store postgresql://postgres:****@127.0.0.1:5432/test" in text, text
    assert password not in text and key not in text


def test_a_gateway_stopped_by_sigterm_writes_its_last_lines(tmp_path: Path) -> None:
    """uvicorn ends a graceful shutdown by raising SIGTERM again with its default action, so nothing runs at
    exit: the console's queue must be empty by then. The request's line and uvicorn's closing lines are there."""
    config = tmp_path / "ferryman.yaml"
    config.write_text(f"store: sqlite:///{tmp_path}/ferryman.db\n")
    with _serving(config) as (url, stderr):
        assert httpx.post(f"{url}/v1/responses", json={"model": "mock/echo", "input": "hi"}).status_code == 200
    text = stderr[0]
    assert "POST responses model=mock/echo" in text, text
    assert "Application shutdown complete." in text and "Finished server process" in text, text
