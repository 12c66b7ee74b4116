"""The pipeline's hook contract, driven through real HTTP: a hook added to a running gateway refuses,
answers, watches stream events and sees the final response, in the order the contract promises."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Hook, Pending
from ferryman.schemas.errors import FerrymanError
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, wait_for
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

OK = "openai-responses/text_basic"
STREAM = "openai-responses/text_stream"


class Watcher(Hook):
    """Records what the pipeline shows it; refuses or answers when the request's metadata asks."""

    name = "watcher"

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def before(self, ex: Exchange) -> None:
        self.seen.append(("before", ex.request.model))
        wish = (ex.request.metadata or {}).get("hook")
        ex.compat.headers["x-trace-test"] = "from-the-hook"  # what a hook adds reaches the provider
        if wish == "refuse":
            raise FerrymanError("refused by policy", status=403, type="permission_error", code="policy_refused")
        if wish == "answer":
            ex.answer = {
                "id": "resp_from_hook",
                "object": "response",
                "created_at": 1,
                "status": "completed",
                "model": "hook",
                "output": [
                    {
                        "id": "msg_hook",
                        "type": "message",
                        "role": "assistant",
                        "status": "completed",
                        "content": [{"type": "output_text", "text": "from the hook", "annotations": []}],
                    }
                ],
                "usage": None,
            }

    def on_event(self, ex: Exchange, event_type: str | None) -> None:
        self.seen.append(("event", event_type))

    async def failed(self, ex: Exchange, error: FerrymanError) -> None:
        self.seen.append(("failed", (error.code, [(a.label, a.status) for a in ex.attempts.log])))

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        usage = response.get("usage") or {}
        self.seen.append(("after", (response["status"], "cost" in usage, "extra_fields" in response)))
        return None


@pytest.fixture
def watched(fake: FakeUpstream) -> Iterator[tuple[GatewayServer, Watcher]]:
    watcher = Watcher()
    with GatewayServer(base_config(fake)) as gw:
        gw.app.pipeline.add(watcher)
        yield gw, watcher


def _sdk(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0)


def test_before_and_after_see_a_reply_after_the_cost_hook(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, watcher = watched
    fake.add("/v1/responses", Reply.fixture(OK))
    _sdk(gw).responses.create(model="openai/gpt-4o", input="hi")
    assert watcher.seen == [("before", "openai/gpt-4o"), ("after", ("completed", True, True))]


def test_a_hook_refuses_before_any_upstream_call(fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]) -> None:
    gw, _ = watched
    with pytest.raises(openai.PermissionDeniedError) as refused:
        _sdk(gw).responses.create(model="openai/gpt-4o", input="hi", metadata={"hook": "refuse"})
    assert refused.value.body["code"] == "policy_refused"  # type: ignore[index]
    assert fake.received == []


@pytest.mark.parametrize("stream", [False, True])
def test_a_hook_answers_and_no_provider_is_called(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher], stream: bool
) -> None:
    gw, watcher = watched
    sdk = _sdk(gw)
    if stream:
        with sdk.responses.stream(model="openai/gpt-4o", input="hi", metadata={"hook": "answer"}) as s:
            answer = s.get_final_response()
    else:
        answer = sdk.responses.create(model="openai/gpt-4o", input="hi", metadata={"hook": "answer"})
    assert answer.output_text == "from the hook"
    assert fake.received == []
    assert watcher.seen[-1] == ("after", ("completed", False, True))  # no cost for what no provider did


def test_on_event_sees_every_relayed_event_in_order(fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]) -> None:
    gw, watcher = watched
    fake.add("/v1/responses", Reply.fixture(STREAM))
    with _sdk(gw).responses.stream(model="openai/gpt-4o", input="hi") as s:
        relayed = [event.type for event in s]
    events = [value for part, value in watcher.seen if part == "event"]
    assert events == relayed
    parts = [part for part, _ in watcher.seen]
    assert parts[0] == "before" and parts[-1] == "after"  # after sees the terminal event's response
    assert parts.index("after") > len(events)


def test_a_hooks_header_reaches_the_provider_and_attempts_are_timed(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, _ = watched
    fake.add("/v1/responses", Reply.fixture(OK))
    _sdk(gw).responses.create(model="openai/gpt-4o", input="hi")
    assert fake.received[-1].headers["x-trace-test"] == "from-the-hook"
    pipeline_attempts = []

    class Timer(Hook):
        async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
            pipeline_attempts.extend(ex.attempts.log)
            return None

    gw.app.pipeline.add(Timer())
    _sdk(gw).responses.create(model="openai/gpt-4o", input="hi")
    (attempt,) = pipeline_attempts
    assert attempt.status == 200 and attempt.seconds > 0 and attempt.label == "openai/gpt-4o"


def test_failed_runs_once_for_a_refusal_and_for_failed_targets(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, watcher = watched
    with pytest.raises(openai.PermissionDeniedError):
        _sdk(gw).responses.create(model="openai/gpt-4o", input="hi", metadata={"hook": "refuse"})
    assert watcher.seen[-1] == ("failed", ("policy_refused", []))
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "down"}}))
    with pytest.raises(openai.InternalServerError):
        _sdk(gw).responses.create(model="openai/gpt-4o", input="hi")
    assert watcher.seen[-1][0] == "failed"
    code, attempts = watcher.seen[-1][1]
    assert attempts == [("openai/gpt-4o", 503)]
    assert [part for part, _ in watcher.seen].count("after") == 0


def test_failed_runs_for_a_stream_broken_after_its_first_event(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, watcher = watched
    fake.add("/v1/responses", Reply.fixture(STREAM, drop_after_events=3))
    with httpx.stream(
        "POST", f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True}
    ) as r:
        body = r.read().decode()
    assert "response.failed" in body
    failed = [value for part, value in watcher.seen if part == "failed"]
    assert len(failed) == 1 and failed[0][0] == "upstream_connection_error"
    assert "after" not in [part for part, _ in watcher.seen]


def test_failed_runs_for_a_providers_error_event(fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]) -> None:
    gw, watcher = watched
    blocks = load_fixture(STREAM)["response"]["sse"][:2] + [
        'event: error\ndata: {"type":"error","code":"server_error","message":"overloaded","sequence_number":2}'
    ]
    fake.add("/v1/responses", Reply(sse=blocks))
    with httpx.stream(
        "POST", f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True}
    ) as r:
        body = r.read().decode()
    assert "overloaded" in body
    failed = [value for part, value in watcher.seen if part == "failed"]
    assert [code for code, _ in failed] == ["server_error"]


def test_failed_runs_when_the_client_leaves_mid_stream(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, watcher = watched
    fake.add("/v1/responses", Reply.fixture(STREAM, hold_before_events=(3,)))
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST", f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o", "input": "hi", "stream": True}
        ) as r,
    ):
        lines = r.iter_lines()
        assert next(lines) == "event: response.created"
    # the client has gone; the gateway notices (on its own time: polled), closes the upstream, records it
    deadline = time.monotonic() + 10
    while not any(part == "failed" for part, _ in watcher.seen):
        assert time.monotonic() < deadline, watcher.seen
        time.sleep(0.01)
    failed = [value for part, value in watcher.seen if part == "failed"]
    assert [code for code, _ in failed] == ["client_closed"]
    fake.release()


def test_failed_runs_for_a_background_run_that_fails(
    fake: FakeUpstream, watched: tuple[GatewayServer, Watcher]
) -> None:
    gw, watcher = watched
    fake.add("/v1/responses", Reply(status=400, json={"error": {"message": "bad", "code": "bad_thing"}}))
    queued = _sdk(gw).responses.create(model="openai/gpt-4o", input="hi", background=True)
    deadline = time.monotonic() + 10
    while _sdk(gw).responses.retrieve(queued.id).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    failed = [value for part, value in watcher.seen if part == "failed"]
    assert len(failed) == 1 and failed[0][1] == [("openai/gpt-4o", 400)]


class Recorder(Hook):
    """An observer: its ``after`` waits at a gate until the test opens it (unless ``open``), then records;
    it fails when told to."""

    name = "recorder"
    observes = True

    def __init__(self, *, fail: bool = False, open: bool = False) -> None:
        self.started = threading.Event()
        self.recorded: list[str] = []
        self.fail = fail
        self.open = open
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gate: asyncio.Event | None = None

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        self.loop, self.gate = asyncio.get_running_loop(), asyncio.Event()
        self.started.set()
        if not self.open:
            await self.gate.wait()  # the gateway's loop goes on serving meanwhile
        if self.fail:
            raise RuntimeError("the recorder broke")
        self.recorded.append(response["id"])
        return None

    def let_go(self) -> None:
        assert self.loop is not None and self.gate is not None
        self.loop.call_soon_threadsafe(self.gate.set)


@pytest.mark.parametrize("stream", [False, True])
def test_an_observer_runs_once_the_client_has_its_reply(fake: FakeUpstream, stream: bool) -> None:
    recorder = Recorder()
    fake.add("/v1/responses", Reply.fixture(STREAM if stream else OK))
    with GatewayServer(base_config(fake)) as gw:
        gw.app.pipeline.add(recorder)
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="k", max_retries=0, timeout=10)
        if stream:
            events = list(client.responses.create(model="openai/gpt-4o", input="hi", stream=True))
            response_id = events[-1].response.id  # type: ignore[union-attr]
        else:
            response_id = client.responses.create(model="openai/gpt-4o", input="hi").id
        wait_for(recorder.started.is_set)
        assert recorder.recorded == []  # the whole reply came while the observer still waited
        recorder.let_go()
        wait_for(lambda: recorder.recorded)
    assert recorder.recorded == [response_id]


def test_an_observer_that_fails_after_the_reply_is_logged(fake: FakeUpstream, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(fail=True, open=True)
    fake.add("/v1/responses", Reply.fixture(OK))
    fake.add("/v1/responses", Reply.fixture(OK))
    with GatewayServer(base_config(fake)) as gw:
        gw.app.pipeline.add(recorder)
        client = _sdk(gw)
        assert client.responses.create(model="openai/gpt-4o", input="hi").status == "completed"
        wait_for(lambda: "hook recorder failed on a reply already sent" in caplog.text)
        assert client.responses.create(model="openai/gpt-4o", input="again").status == "completed"
