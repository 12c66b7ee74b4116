"""The console line of ``ferryman serve``: one per request on stderr, as text or as JSON (``--log-format``),
from the serving process itself and from each worker of ``--workers 2``."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from ferryman.plugins.logs import console
from ferryman.plugins.logs.console import FORMATS, REQUESTS
from ferryman.state.logs import LogEntry
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


def _entry(**changes: Any) -> LogEntry:
    fields: dict[str, Any] = {
        "id": "log_1",
        "created_at": 1_700_000_000.0,
        "route": "chat_completions",
        "response_id": "chatcmpl-1",
        "key_id": None,
        "team_id": None,
        "model_requested": "fast",
        "provider": "openai",
        "model_deployment": "gpt-4o-mini",
        "status_code": 200,
        "error": None,
        "latency_ms": 12.345,
        "ttft_ms": None,
        "input_tokens": 10,
        "output_tokens": 20,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": 0.000123,
        "cache_hit": False,
        "stream": True,
        "attempts": [],
    }
    return LogEntry(**(fields | changes))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("entry", "key"),
    [(_entry(), "team-a"), (_entry(provider=None, model_deployment=None, status_code=429, error="slow down"), None)],
)
def test_a_queued_request_line_is_its_record_formatted(fmt: str, entry: LogEntry, key: str | None) -> None:
    """The writer thread makes a request's line from its entry as the logging path's record would be formatted."""
    stream = io.StringIO()
    writer = console._Console(stream, fmt)
    created = 1_700_000_123.4567
    record = logging.LogRecord(REQUESTS, logging.INFO, __file__, 1, console.LINE, console._arguments(entry, key), None)
    record.created, record.msecs = created, int((created - int(created)) * 1000)
    record.request = console._fields(entry, key)
    assert writer._line(created, entry, key) == writer.formatting.format(record)
    assert writer._write([(created, entry, key), record, None]) is False  # None: the end, after the others
    assert stream.getvalue() == 2 * (writer.formatting.format(record) + "\n")


def test_request_lines_go_through_logging_when_it_is_configured(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alone on the root logger, the console queues the entry; with another handler (here pytest's capture)
    the request's line is a record, with its fields."""
    writer = console._Console(io.StringIO(), "text")
    monkeypatch.setattr(console, "_console", writer)
    monkeypatch.setattr(logging.getLogger(), "handlers", [writer.handler])
    console.request_line(entry := _entry(), "team-a")
    assert writer.records.get(block=False)[1:] == (entry, "team-a")  # type: ignore[index]
    monkeypatch.setattr(logging.getLogger(), "handlers", [writer.handler, caplog.handler])
    with caplog.at_level(logging.INFO, logger=REQUESTS):
        console.request_line(entry, "team-a")
    [record] = [r for r in caplog.records if r.name == REQUESTS]
    assert record.getMessage().startswith("POST chat_completions model=fast provider=openai/gpt-4o-mini status=200 ")
    assert record.getMessage().endswith(" key=team-a") and record.request["stream"] is True
    assert isinstance(writer.records.get(block=False), logging.LogRecord)  # through the console's handler too
