"""The console line of ``ferryman serve``: one per request on stderr, as text or as JSON (``--log-format``),
from the serving process itself and from each worker of ``--workers 2``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.fakes.gateway import free_port, wait_until_serving

MASTER = "fm-master-" + uuid.uuid4().hex


def _serve(tmp_path: Path, *args: str) -> tuple[str, subprocess.Popen[bytes], Path]:
    config = tmp_path / "ferryman.yaml"
    config.write_text(f"store: sqlite:///{tmp_path}/ferryman.db\ngovernance: {{master_key: env.FM_MASTER}}\n")
    port = free_port()
    err = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {"FM_MASTER": MASTER}
    cmd = [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port), *args]
    with err.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, proc)
    return url, proc, err


def _lines_with(err: Path, marker: str, count: int) -> list[str]:
    """The stderr lines holding ``marker``, once there are ``count`` (the console writes on its own thread)."""
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in err.read_text().splitlines() if marker in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_json_lines_from_every_worker(tmp_path: Path) -> None:
    url, proc, err = _serve(tmp_path, "--log-format", "json", "--workers", "2")
    try:
        model = f"mock/echo-{uuid.uuid4().hex[:8]}"
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER, max_retries=0)
        for _ in range(4):
            assert client.responses.create(model=model, input="one two three").output_text
        refused = httpx.post(f"{url}/v1/responses", json={"model": model, "input": "x"}, timeout=30)
        assert refused.status_code == 401
        lines = _lines_with(err, model, 5)
    finally:
        proc.terminate()
        proc.wait(20)
    parsed: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert len(parsed) == 5, err.read_text()
    answered = [line for line in parsed if line["status"] == 200]
    [failed] = [line for line in parsed if line["status"] != 200]  # the workers' lines interleave in any order
    for line in answered:
        assert line["level"] == "info" and line["logger"] == "ferryman.requests"
        assert (line["method"], line["route"], line["model"], line["status"]) == ("POST", "responses", model, 200)
        assert line["provider"] == "mock" and line["model_deployment"] == model.removeprefix("mock/")
        assert line["latency_ms"] > 0 and line["input_tokens"] > 0 and line["output_tokens"] > 0
        assert line["cost_usd"] == 0 and line["key"] is None and line["response_id"].startswith("resp_")
        assert line["time"].endswith("Z")
    assert (failed["status"], failed["provider"], failed["model"]) == (401, None, model)
    assert "API key" in failed["error"]
    starts = [json.loads(line) for line in err.read_text().splitlines() if "Started server process" in line]
    assert len(starts) == 2  # uvicorn's own lines are JSON too, from both workers
    assert MASTER not in err.read_text()


def test_text_line_names_the_key(tmp_path: Path) -> None:
    url, proc, err = _serve(tmp_path)
    try:
        admin = httpx.Client(base_url=url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)
        name = f"key-{uuid.uuid4().hex[:8]}"
        key = admin.post("/admin/keys", json={"name": name}).json()["key"]
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        client.responses.create(model="mock/echo", input="hello")
        [line] = _lines_with(err, f"key={name}", 1)
    finally:
        proc.terminate()
        proc.wait(20)
    assert " INFO ferryman.requests: POST responses model=mock/echo provider=mock/echo status=200 " in line
    assert "tokens=" in line and "cost_usd=0.000000" in line and line.endswith(f"key={name}")
