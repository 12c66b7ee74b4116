"""Stored responses and conversations, on SQLite and on PostgreSQL (the same tests for both)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from ferryman.sse import SSEDecoder
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, free_port
from tests.fakes.upstream import FakeUpstream, Reply, load_fixture

OK = "openai-responses/text_basic"


def _config(fake: FakeUpstream, store: str) -> dict[str, Any]:
    config = base_config(fake, store=store)
    config["providers"]["other"] = {
        "type": "openai",
        "base_url": f"{fake.url}/other/v1",
        "keys": [{"value": "sk-other"}],
        "max_retries": 0,
    }
    return config


@pytest.fixture
def gw(fake: FakeUpstream, store_url: str) -> Iterator[GatewayServer]:
    with GatewayServer(_config(fake, store_url)) as server:
        yield server


def _client(gw: GatewayServer, key: str = "client-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


def _unique_reply(fixture: str = OK, **overrides: Any) -> Reply:
    """The recorded reply with a fresh id, so tests sharing one PostgreSQL never collide."""
    reply = Reply.fixture(fixture, **overrides)
    reply.json = dict(reply.json, id=f"resp_{uuid.uuid4().hex}")
    return reply


def test_a_stored_response_is_read_back_as_its_client_got_it(fake: FakeUpstream, gw: GatewayServer) -> None:
    """What is stored is the reply's own JSON (written as it went out, not encoded again): read back, every
    field is the same, Ferryman's additions (usage.cost, extra_fields) included."""
    fake.add("/v1/responses", _unique_reply())
    headers = {"authorization": "Bearer client-a"}
    created = httpx.post(f"{gw.url}/v1/responses", json={"model": "openai/gpt-4o", "input": "hi"}, headers=headers)
    assert created.status_code == 200
    sent = created.json()
    got = httpx.get(f"{gw.url}/v1/responses/{sent['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json() == sent and "cost" in sent["usage"] and sent["extra_fields"]["provider"] == "openai"


def test_store_retrieve_delete(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    created = client.responses.create(model="openai/gpt-4o", input="What is the capital of France?")
    got = client.responses.retrieve(created.id)
    assert got.id == created.id
    assert got.output_text == "The capital of France is Paris."
    assert got.usage is not None and got.usage.cost == created.usage.cost  # type: ignore[union-attr]
    for prefix in ("/openai/v1", "/litellm/v1"):
        assert (
            httpx.get(f"{gw.url}{prefix}/responses/{created.id}", headers={"authorization": "Bearer client-a"}).json()[
                "id"
            ]
            == created.id
        )
    deleted = client.responses.delete(created.id)
    assert deleted is None or getattr(deleted, "deleted", True)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(created.id)
    assert info.value.body["code"] == "not_found"  # type: ignore[index]


def test_store_false_keeps_nothing(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    created = client.responses.create(model="openai/gpt-4o", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_unknown_id_is_openai_404(gw: GatewayServer) -> None:
    resp = httpx.get(f"{gw.url}/v1/responses/resp_nope")
    assert resp.status_code == 404
    assert set(resp.json()["error"]) >= {"message", "type", "param", "code"}
    assert httpx.delete(f"{gw.url}/v1/responses/resp_nope").status_code == 404


def test_another_owner_cannot_read_or_delete(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply())
    created = _client(gw, "client-a").responses.create(model="openai/gpt-4o", input="hi")
    intruder = _client(gw, "client-b")
    with pytest.raises(openai.NotFoundError):
        intruder.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        intruder.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        intruder.responses.create(model="openai/gpt-4o", input="more", previous_response_id=created.id)
    assert _client(gw, "client-a").responses.retrieve(created.id).id == created.id


def test_conversation_moves_to_another_provider(fake: FakeUpstream, gw: GatewayServer) -> None:
    """Turn 1 on one provider, turn 2 on another: the history is replayed in full."""
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    first = client.responses.create(
        model="openai/gpt-4o", instructions="Be brief.", input="What is the capital of France?"
    )
    fake.add("/other/v1/responses", _unique_reply())
    second = client.responses.create(model="other/gpt-4o", input="And of Italy?", previous_response_id=first.id)
    sent = fake.requests_to("/other/v1/responses")[-1].json
    assert "previous_response_id" not in sent
    assert "instructions" not in sent  # instructions are not carried over, as OpenAI documents
    items = sent["input"]
    assert items[0]["role"] == "user" and items[0]["content"][0]["text"] == "What is the capital of France?"
    assert items[1]["type"] == "message" and items[1]["role"] == "assistant"
    assert items[1]["content"][0]["text"] == "The capital of France is Paris."
    assert items[2]["content"][0]["text"] == "And of Italy?"
    # turn 3 back on the first provider: its own chain does not hold turn 2, so it is replayed too
    fake.add("/v1/responses", _unique_reply())
    client.responses.create(model="openai/gpt-4o", input="And Spain?", previous_response_id=second.id)
    third = fake.requests_to("/v1/responses")[-1].json
    assert [i["content"][0]["text"] for i in third["input"] if i.get("role") == "user"] == [
        "What is the capital of France?",
        "And of Italy?",
        "And Spain?",
    ]


def test_same_openai_provider_uses_its_own_chain(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    first = client.responses.create(model="openai/gpt-4o", input="hi")
    fake.add("/v1/responses", _unique_reply("openai-responses/previous_response_id"))
    client.responses.create(model="openai/gpt-4o", input="again", previous_response_id=first.id)
    sent = fake.requests_to("/v1/responses")[-1].json
    assert sent["previous_response_id"] == first.id
    assert sent["input"] == "again"


def test_a_never_seen_id_is_404_unless_forwarding_is_configured(fake: FakeUpstream, store_url: str) -> None:
    """A response OpenAI stored before Ferryman was in the path: only OpenAI knows it. It goes there,
    with the gateway's key, only when ``forward_unknown_response_ids`` says so."""
    recorded = load_fixture("openai-responses/previous_response_id")["request"]["body"]
    never_seen = recorded["previous_response_id"]
    config = _config(fake, store_url)
    with GatewayServer(config) as gw, pytest.raises(openai.NotFoundError) as info:
        _client(gw).responses.create(model="openai/gpt-4.1", input=recorded["input"], previous_response_id=never_seen)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert fake.requests_to("/v1/responses") == []
    fake.add("/v1/responses", _unique_reply("openai-responses/previous_response_id"))
    with GatewayServer({**config, "forward_unknown_response_ids": True}) as gw:
        _client(gw).responses.create(model="openai/gpt-4.1", input=recorded["input"], previous_response_id=never_seen)
    assert fake.requests_to("/v1/responses")[-1].json["previous_response_id"] == never_seen


def test_a_deleted_id_is_404_for_everyone_and_never_forwarded(fake: FakeUpstream, store_url: str) -> None:
    """A deletes its OpenAI-served response: neither B nor A may chain to it, not even with forwarding
    on and not after a restart (the store keeps a tombstone), and the provider hears nothing of it."""
    config = {**_config(fake, store_url), "forward_unknown_response_ids": True}
    fake.add("/v1/responses", _unique_reply())
    with GatewayServer(config) as gw:
        created = _client(gw, "client-a").responses.create(model="openai/gpt-4o", input="hi")
        _client(gw, "client-a").responses.delete(created.id)
    calls = len(fake.requests_to("/v1/responses"))
    with GatewayServer(config) as gw:
        for key in ("client-b", "client-a"):
            client = _client(gw, key)
            with pytest.raises(openai.NotFoundError):
                client.responses.create(model="openai/gpt-4o", input="more", previous_response_id=created.id)
            with pytest.raises(openai.NotFoundError):
                client.responses.retrieve(created.id)
    assert len(fake.requests_to("/v1/responses")) == calls


def test_someone_elses_id_is_never_forwarded(fake: FakeUpstream, store_url: str) -> None:
    config = {**_config(fake, store_url), "forward_unknown_response_ids": True}
    fake.add("/v1/responses", _unique_reply())
    with GatewayServer(config) as gw:
        created = _client(gw, "client-a").responses.create(model="openai/gpt-4o", input="hi")
        with pytest.raises(openai.NotFoundError):
            _client(gw, "client-b").responses.create(
                model="openai/gpt-4o", input="more", previous_response_id=created.id
            )
    assert len(fake.requests_to("/v1/responses")) == 1


def test_someone_elses_id_takes_the_same_path_as_an_unknown_one(fake: FakeUpstream, gw: GatewayServer) -> None:
    """Ids cannot be probed by timing: a record of another owner is a miss like no record at all, and
    both wait the store's re-read grace once (and look again) before the 404."""
    fake.add("/v1/responses", _unique_reply())
    created = _client(gw, "client-a").responses.create(model="openai/gpt-4o", input="hi")
    waits: list[float] = []

    async def recorded_sleep(seconds: float) -> None:
        waits.append(seconds)

    assert gw.app.store is not None
    gw.app.store.sleep = recorded_sleep
    intruder = _client(gw, "client-b").responses
    probes: list[Callable[[str], object]] = [
        intruder.retrieve,
        intruder.input_items.list,
        intruder.delete,
        lambda rid: intruder.create(model="openai/gpt-4o", input="x", previous_response_id=rid),
    ]
    for response_id in (created.id, f"resp_{uuid.uuid4().hex}"):
        for probe in probes:
            waits.clear()
            with pytest.raises(openai.NotFoundError):
                probe(response_id)
            assert waits == [gw.app.store.grace], response_id
    assert len(fake.requests_to("/v1/responses")) == 1


def test_restart_keeps_stored_responses(fake: FakeUpstream, store_url: str) -> None:
    fake.add("/v1/responses", _unique_reply())
    config = _config(fake, store_url)
    with GatewayServer(config) as first:
        created = _client(first).responses.create(model="openai/gpt-4o", input="hi")
    with GatewayServer(config) as second:
        assert _client(second).responses.retrieve(created.id).output_text == created.output_text


def test_input_items_pagination(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    inputs = [{"role": "user", "content": f"message {i}"} for i in range(5)]
    created = client.responses.create(model="openai/gpt-4o", input=inputs)  # type: ignore[arg-type]

    def texts(page: Any) -> list[str]:
        return [item.content[0].text for item in page.data]

    default = client.responses.input_items.list(created.id)
    assert texts(default) == [f"message {i}" for i in reversed(range(5))]  # newest first, as OpenAI
    first = client.responses.input_items.list(created.id, order="asc", limit=2)
    assert texts(first) == ["message 0", "message 1"] and first.has_more
    second = client.responses.input_items.list(created.id, order="asc", limit=2, after=first.data[-1].id)
    assert texts(second) == ["message 2", "message 3"] and second.has_more
    last = client.responses.input_items.list(created.id, order="asc", limit=2, after=second.data[-1].id)
    assert texts(last) == ["message 4"] and not last.has_more
    assert len({item.id for item in default.data}) == 5
    auto = [item.content[0].text for item in client.responses.input_items.list(created.id, limit=1)]
    assert auto == [f"message {i}" for i in reversed(range(5))]  # the SDK's auto-pagination walks every page
    for query in ("limit=0", "limit=101", "order=sideways", "after=msg_unknown"):
        resp = httpx.get(
            f"{gw.url}/v1/responses/{created.id}/input_items?{query}", headers={"authorization": "Bearer client-a"}
        )
        assert resp.status_code == 400, query


def test_streamed_response_is_stored_and_replayed(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream"))
    client = _client(gw)
    with client.responses.stream(model="openai/gpt-4o", input="What is 2+2?") as stream:
        final = stream.get_final_response()
    stored = client.responses.retrieve(final.id)
    assert stored.output_text == "2+2 = 4"
    replay = list(client.responses.retrieve(final.id, stream=True))
    assert replay[0].type == "response.created" and replay[-1].type == "response.completed"
    assert "".join(e.delta for e in replay if e.type == "response.output_text.delta") == "2+2 = 4"  # type: ignore[union-attr]
    assert [e.sequence_number for e in replay] == list(range(len(replay)))
    client.responses.delete(final.id)


REPLAYED = (OK, "openai-responses/tool_call", "openai-responses/reasoning_summary", "openai-responses/web_search")
STREAM_EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def test_stored_responses_replay_as_the_events_that_built_them(fake: FakeUpstream, gw: GatewayServer) -> None:
    """Text, a function call, reasoning with its summary parts, hosted web search: each replayed stream
    is one the SDK accepts event by event, a function call's arguments.done names it, and the SDK
    reassembles exactly the stored output."""
    client = _client(gw)
    for fixture in REPLAYED:
        reply = _unique_reply(fixture)
        # recorded before OpenAI reported cache writes, a field this SDK requires
        reply.json["usage"]["input_tokens_details"].setdefault("cache_write_tokens", 0)
        fake.add("/v1/responses", reply, times=1)
        created = client.responses.create(model="openai/gpt-4o", input="hi")
        stored = client.responses.retrieve(created.id)
        resp = httpx.get(
            f"{gw.url}/v1/responses/{created.id}?stream=true", headers={"authorization": "Bearer client-a"}
        )
        raw = [json.loads(ev.data) for ev in SSEDecoder().feed(resp.content)]
        for event in raw:
            STREAM_EVENTS.validate_python(event)  # raises if the SDK would not accept the event
        assert [e["sequence_number"] for e in raw] == list(range(len(raw)))
        calls = [i for i in stored.output if i.type == "function_call"]
        done = [e for e in raw if e["type"] == "response.function_call_arguments.done"]
        assert [(e["name"], e["arguments"]) for e in done] == [(c.name, c.arguments) for c in calls]
        with client.responses.stream(response_id=created.id) as stream:
            final = stream.get_final_response()
        assert final.id == stored.id and final.status == stored.status and final.usage == stored.usage
        reassembled = [_unparsed(i.model_dump()) for i in final.output]
        assert reassembled == [i.model_dump() for i in stored.output], fixture
        items_done = [e["item"] for e in raw if e["type"] == "response.output_item.done"]
        assert items_done == [i.model_dump(exclude_unset=True) for i in stored.output], fixture
        client.responses.delete(created.id)


def _unparsed(item: dict[str, Any]) -> dict[str, Any]:
    """An item the SDK's stream helper reassembled, without the ``parsed`` fields it adds."""
    item.pop("parsed_arguments", None)
    for part in item.get("content") or []:
        part.pop("parsed", None)
    return item


def _poll_until_done(client: openai.OpenAI, response_id: str) -> Any:
    """Poll a background response as a client does, until it has left ``queued`` / ``in_progress``."""
    deadline = time.monotonic() + 10
    while (polled := client.responses.retrieve(response_id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, "the background response never finished"
        time.sleep(0.05)
    return polled


def test_background_completes_and_can_be_polled(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply(held=True))  # the provider answers once the test lets it
    client = _client(gw)
    queued = client.responses.create(model="openai/gpt-4o", input="hi", background=True)
    assert queued.status == "queued" and queued.background
    assert client.responses.retrieve(queued.id).status == "queued"  # the provider is still at work
    fake.release()
    polled = _poll_until_done(client, queued.id)
    assert polled.status == "completed"
    assert polled.output_text == "The capital of France is Paris."
    assert polled.id == queued.id
    assert "background" not in fake.requests_to("/v1/responses")[-1].json


def test_conversation_continues_after_a_background_response(fake: FakeUpstream, gw: GatewayServer) -> None:
    """The provider stored a background response under its own id, never Ferryman's: the next turn replays it."""
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw)
    queued = client.responses.create(model="openai/gpt-4o", input="What is the capital of France?", background=True)
    assert _poll_until_done(client, queued.id).status == "completed"
    fake.add("/v1/responses", _unique_reply())
    client.responses.create(model="openai/gpt-4o", input="And of Italy?", previous_response_id=queued.id)
    sent = fake.requests_to("/v1/responses")[-1].json
    assert "previous_response_id" not in sent  # OpenAI has never heard of Ferryman's id: it would answer 404
    assert _user_texts(sent) == ["What is the capital of France?", "And of Italy?"]
    assert sent["input"][1]["role"] == "assistant"
    assert sent["input"][1]["content"][0]["text"] == "The capital of France is Paris."


def test_a_second_put_of_an_id_replaces_every_field(store_url: str) -> None:
    """Writing a record again (a background response when it ends) keeps nothing of the first write."""
    from ferryman.state import open_store
    from ferryman.state.base import StoredResponse

    rid = f"resp_{uuid.uuid4().hex}"
    first = StoredResponse(
        rid, "owner-a", 1, "resp_before", "openai", "openai", True, "queued", {"a": 1}, [{"id": "m1"}], {"r": 1}
    )
    second = StoredResponse(
        rid, "owner-b", 2, "resp_other", "other", "azure", False, "completed", {"b": 2}, [{"id": "m2"}], {"r": 2}
    )

    async def scenario() -> StoredResponse | None:
        store = open_store(store_url)
        await store.start()
        try:
            await store.put(first)
            await store.put(second)
            got = await store.get(rid)
            await store.delete(rid)
            return got
        finally:
            await store.close()

    assert asyncio.run(scenario()) == second


def test_background_cancel(fake: FakeUpstream, gw: GatewayServer) -> None:
    fake.add("/v1/responses", _unique_reply(held=True))  # the provider answers only if the test lets it
    client = _client(gw)
    queued = client.responses.create(model="openai/gpt-4o", input="hi", background=True)
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.status == "cancelled"
    assert fake.left_unanswered.wait(5), "the gateway kept waiting for the provider after the cancel"
    assert client.responses.retrieve(queued.id).status == "cancelled"
    fake.add("/v1/responses", _unique_reply())
    done = client.responses.create(model="openai/gpt-4o", input="hi")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(done.id)  # only background responses can be cancelled


def test_a_background_response_cut_off_by_a_shutdown_is_failed_not_left_queued(
    fake: FakeUpstream, store_url: str
) -> None:
    """The gateway stops while the provider is still at a background response: the record says so (failed,
    ``server_error``) to whoever polls it next, here through a gateway started again on the same store."""
    fake.add("/v1/responses", _unique_reply(held=True))  # the provider never answers before the shutdown
    config = _config(fake, store_url)
    with GatewayServer(config) as first:
        queued = _client(first).responses.create(model="openai/gpt-4o", input="hi", background=True)
        deadline = time.monotonic() + 10
        while not fake.requests_to("/v1/responses"):  # the background task is at the provider
            assert time.monotonic() < deadline, "the background task never called the provider"
            time.sleep(0.01)
    assert fake.left_unanswered.wait(5), "the shutdown did not stop the background task"
    with GatewayServer(config) as second:
        polled = _client(second).responses.retrieve(queued.id)
    assert polled.status == "failed", polled
    assert polled.error is not None and polled.error.code == "server_error"
    assert "create it again" in polled.error.message
    assert polled.output == []


def test_a_background_response_answered_as_the_gateway_stops_is_kept(store_url: str) -> None:
    """The provider has answered and the record is being written when the shutdown begins: the shutdown waits
    for it (stored ``completed``), it does not cut it off and leave it ``queued``."""
    from ferryman.gateway.background import BackgroundRunner
    from ferryman.state import open_store
    from ferryman.state.base import StoredResponse

    class HeldReads:  # the store, its reads held until ``release``; ``entered``: one is waiting
        def __init__(self, inner: Any) -> None:
            self.inner, self.entered, self.release = inner, asyncio.Event(), asyncio.Event()

        async def get(self, response_id: str) -> StoredResponse | None:
            self.entered.set()
            await self.release.wait()
            found: StoredResponse | None = await self.inner.get(response_id)
            return found

        async def put(self, record: StoredResponse) -> None:
            await self.inner.put(record)

    async def scenario() -> StoredResponse | None:
        store: Any = open_store(store_url)
        await store.start()
        held = HeldReads(store)
        runner = BackgroundRunner(held)  # type: ignore[arg-type]  # only get and put are used
        skeleton = runner.skeleton({"model": "openai/gpt-4o"})
        record = StoredResponse(skeleton["id"], None, 1, None, "openai", "openai", False, "queued", {}, [], skeleton)
        await store.put(record)

        async def work() -> dict[str, Any]:
            return {**skeleton, "status": "completed", "output": [{"type": "message", "id": "msg_1"}]}

        runner.launch(record, work)
        try:
            await asyncio.wait_for(held.entered.wait(), 10)
            stopping = asyncio.create_task(runner.stop())
            held.release.set()
            done, _ = await asyncio.wait({stopping}, timeout=10)  # a bound on failure: it returns at once
            assert stopping in done, "stop did not return"
            return await store.get(record.id)
        finally:
            await store.delete(record.id)
            await store.close()

    kept = asyncio.run(scenario())
    assert kept is not None and kept.status == "completed", kept
    assert kept.response["output"] == [{"type": "message", "id": "msg_1"}]


def test_several_processes_lose_nothing(fake: FakeUpstream, store_url: str, tmp_path: Path) -> None:
    """Two worker processes writing to one store at once: every response is kept. (``before_reply``: a reply
    means its record is committed, so reading it back through the other worker is no race with the commit.)"""
    fake.add("/v1/responses", Reply.fixture(OK))
    config = tmp_path / "ferryman.yaml"
    config.write_text(
        f"store: {{url: '{store_url}', sync: before_reply}}\n"
        f"providers:\n  openai: {{base_url: '{fake.url}/v1', keys: [{{value: sk-x}}], max_retries: 0}}\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)

        async def burst() -> list[str]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:

                async def one(i: int) -> str:
                    # the fake answers with one recorded id: give each request its own id
                    resp = await http.post("/v1/responses", json={"model": "openai/gpt-4o", "input": f"q{i}"})
                    return resp.json()["id"]

                return await asyncio.gather(*(one(i) for i in range(40)))

        fake.add("/v1/responses", Reply.fixture(OK))
        ids: list[str] = []
        for _i in range(40):
            reply = _unique_reply()
            fake.add("/v1/responses", reply, times=1)
            ids.append(reply.json["id"])
        got = asyncio.run(burst())
        assert sorted(got) == sorted(ids)
        with httpx.Client(base_url=url) as http:
            missing = [i for i in ids if http.get(f"/v1/responses/{i}").status_code != 200]
        assert missing == []
    finally:
        proc.terminate()
        proc.wait(20)


CRASHING_WRITER = """
import asyncio, sys
from ferryman.state.base import StoredResponse
from ferryman.state.sqlite import SQLiteStore

async def main():
    store = SQLiteStore(sys.argv[1])
    await store.start()
    i = 0
    while True:
        big = {"output": [{"type": "message", "content": [{"type": "output_text", "text": "x" * 200_000}]}]}
        await store.put(StoredResponse(f"resp_{i}", None, 0, None, "openai", "openai", True, "completed", {}, [], big))
        print(i, flush=True)
        i += 1

asyncio.run(main())
"""


def test_crash_mid_write_leaves_no_half_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for _ in range(20):
        proc.stdout.readline()
    proc.kill()  # SIGKILL, mid-way through some write
    proc.wait(10)

    from ferryman.state.sqlite import SQLiteStore

    async def check() -> int:
        store = SQLiteStore(url)
        await store.start()
        ids = await store.ids()
        for rid in ids:
            record = await store.get(rid)
            assert record is not None
            assert len(record.response["output"][0]["content"][0]["text"]) == 200_000
        await store.close()
        return len(ids)

    assert asyncio.run(check()) >= 20


def test_no_secrets_in_stored_records(fake: FakeUpstream, gw: GatewayServer, store_url: str) -> None:
    fake.add("/v1/responses", _unique_reply())
    client = _client(gw, "client-secret-key")
    created = client.responses.create(model="openai/gpt-4o", input="hi")
    # the reply is sent before its record commits; reading it back through the gateway waits for that commit
    assert client.responses.retrieve(created.id).id == created.id
    from ferryman.state import open_store

    async def raw_row() -> str:
        store = open_store(store_url)
        await store.start()
        record = await store.get(created.id)
        await store.close()
        assert record is not None
        return repr(record)

    row = asyncio.run(raw_row())
    assert "sk-test-openai-secret" not in row
    assert "client-secret-key" not in row


def _overflow() -> Reply:
    return Reply(
        status=400,
        json={
            "error": {
                "message": "This model's maximum context length is 128000 tokens. However, your messages resulted "
                "in 130000 tokens.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "context_length_exceeded",
            }
        },
    )


def _user_texts(body: dict[str, Any]) -> list[str]:
    return [i["content"][0]["text"] for i in body["input"] if i.get("role") == "user"]


def test_truncation_auto_drops_oldest_turns_on_overflow(fake: FakeUpstream, gw: GatewayServer) -> None:
    client = _client(gw)
    previous = None
    for question in ("one", "two", "three"):
        fake.add("/other/v1/responses", _unique_reply(), times=1)
        previous = client.responses.create(model="other/gpt-4o", input=question, previous_response_id=previous).id
    fake.add("/other/v1/responses", _overflow(), times=2)
    fake.add("/other/v1/responses", _unique_reply(), times=1)
    client.responses.create(model="other/gpt-4o", input="four", previous_response_id=previous, truncation="auto")
    sent = [r.json for r in fake.requests_to("/other/v1/responses")[-3:]]
    # first the provider's own chain (it served every turn), then Ferryman replays, dropping turns
    assert sent[0]["previous_response_id"] == previous and sent[0]["input"] == "four"
    assert [_user_texts(b) for b in sent[1:]] == [["two", "three", "four"], ["three", "four"]]
    assert "instructions" not in sent[-1]
    # without truncation the provider's error is the answer
    fake.add("/other/v1/responses", _overflow(), times=1)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="other/gpt-4o", input="five", previous_response_id=previous)
    assert info.value.code == "context_length_exceeded"


def test_truncation_auto_fits_the_context_window_before_sending(fake: FakeUpstream, gw: GatewayServer) -> None:
    client = _client(gw)
    for _ in range(2):
        fake.add("/other/v1/responses", _unique_reply(), times=1)
    huge = client.responses.create(model="other/gpt-4o", input="x" * 400_000)  # > gpt-4o's 128k tokens
    small = client.responses.create(model="other/gpt-4o", input="small", previous_response_id=huge.id)
    for _ in range(2):
        fake.add("/other/v1/responses", _unique_reply(), times=1)
    client.responses.create(model="other/gpt-4o", input="next", previous_response_id=small.id, truncation="auto")
    assert _user_texts(fake.requests_to("/other/v1/responses")[-1].json) == ["small", "next"]
    client.responses.create(model="other/gpt-4o", input="next", previous_response_id=small.id)
    untouched = fake.requests_to("/other/v1/responses")[-1].json
    assert untouched["previous_response_id"] == small.id  # disabled: the provider's own chain, all of it


def test_conversation_continues_on_a_chat_only_azure_deployment(fake: FakeUpstream, store_url: str) -> None:
    config = _config(fake, store_url)
    config["providers"]["azure"] = {
        "base_url": fake.url,
        "keys": [{"value": "az-key"}],
        "deployments": {"gpt-35": "chat:my-gpt35"},
        "max_retries": 0,
    }
    fake.add("/v1/responses", _unique_reply())
    fake.add("/openai/v1/chat/completions", Reply.fixture("openai-chat/text_basic"))
    with GatewayServer(config) as gw:
        client = _client(gw)
        first = client.responses.create(model="openai/gpt-4o", input="What is the capital of France?")
        client.responses.create(model="azure/gpt-35", input="And Italy?", previous_response_id=first.id)
    sent = fake.requests_to("/openai/v1/chat/completions")[-1].json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert "previous_response_id" not in sent


def test_sqlite_group_commit_keeps_every_write_and_isolates_a_failing_one(tmp_path: Path) -> None:
    """Writes that queue up together are committed together; one that fails fails only its own caller."""
    from ferryman.state.base import StoredResponse
    from ferryman.state.sqlite import SQLiteStore

    def record(i: int) -> StoredResponse:
        return StoredResponse(f"resp_{i}", None, i, None, "openai", "openai", False, "completed", {}, [], {"n": i})

    def broken(db: Any) -> None:
        db.execute("INSERT INTO no_such_table VALUES (1)")

    async def scenario() -> tuple[list[Any], list[str]]:
        store = SQLiteStore(f"sqlite:///{tmp_path}/group.db")
        await store.start()
        try:
            gate = threading.Event()
            held = store._submit(lambda db: gate.wait(10), write=False)  # the thread is busy: the rest queue up
            first = [asyncio.ensure_future(store.put(record(i))) for i in range(100)]
            await asyncio.sleep(0)
            bad = store._submit(broken, write=True)
            second = [asyncio.ensure_future(store.put(record(i))) for i in range(100, 200)]
            await asyncio.sleep(0)
            gate.set()
            outcomes = await asyncio.gather(held, *first, bad, *second, return_exceptions=True)
            return outcomes[1:], await store.ids()
        finally:
            await store.close()

    outcomes, ids = asyncio.run(scenario())
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1 and "no_such_table" in str(failures[0])
    assert sorted(ids) == sorted(f"resp_{i}" for i in range(200))


def test_pending_writes_are_waited_for_by_reads_and_deletes_in_this_and_another_process(tmp_path: Path) -> None:
    """A reply is sent before its record commits: no reader here or in another worker may miss it."""
    from ferryman.state.base import StoredResponse
    from ferryman.state.pending import PendingWrites
    from ferryman.state.sqlite import SQLiteStore

    url = f"sqlite:///{tmp_path}/pending.db"

    class HeldWrites(SQLiteStore):
        """Each write waits for ``release(id)``: a write still in flight when the next request comes in."""

        def __init__(self, url: str) -> None:
            super().__init__(url)
            self.gates: dict[str, asyncio.Event] = {}

        def put_nowait(self, record: StoredResponse) -> asyncio.Future[Any]:
            self.gates[record.id] = asyncio.Event()
            return asyncio.ensure_future(self._put_when_released(record))

        async def _put_when_released(self, record: StoredResponse) -> None:
            await self.gates[record.id].wait()
            await SQLiteStore.put_nowait(self, record)

        def release(self, response_id: str) -> None:
            self.gates[response_id].set()

    class LooksBeforeTheCommit(SQLiteStore):
        """Another worker's store: its first look comes before the write commits, its next look after."""

        def __init__(self, url: str) -> None:
            super().__init__(url)
            self.commit_after_looking: Callable[[], Awaitable[None]] | None = None

        async def chain(self, response_id: str) -> list[StoredResponse]:
            found = await super().chain(response_id)
            if self.commit_after_looking is not None:
                commit, self.commit_after_looking = self.commit_after_looking, None
                await commit()
            return found

    def record(rid: str) -> StoredResponse:
        return StoredResponse(rid, None, 0, None, "openai", "openai", False, "completed", {}, [], {"id": rid})

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        held, looker = HeldWrites(url), LooksBeforeTheCommit(url)
        here, other = PendingWrites(held, grace=0), PendingWrites(looker)  # here: no grace re-read to hide a miss
        await here.start()
        await other.start()
        try:
            here.put_soon(record("resp_a"))
            reading = asyncio.ensure_future(here.get("resp_a"))
            loop.call_soon(held.release, "resp_a")  # runs after the read has begun (callbacks run in order)
            got = await reading  # same process: waits for the write
            assert got is not None and got.response == {"id": "resp_a"}

            write_b = here.put_soon(record("resp_b"))

            async def commit_b() -> None:
                held.release("resp_b")
                await write_b

            looker.commit_after_looking = commit_b
            assert [r.id for r in await other.chain("resp_b")] == ["resp_b"]  # another worker: the grace re-read

            here.put_soon(record("resp_c"))
            deleting = asyncio.ensure_future(here.delete("resp_c"))
            loop.call_soon(held.release, "resp_c")
            assert await deleting is True  # the delete runs after the write, not before it
            assert await other.get("resp_c") is None

            start = time.monotonic()
            assert await other.get("resp_missing") is None
            assert time.monotonic() - start < 1.0  # only the grace: nothing pending to wait for
        finally:
            await here.close()
            await other.close()

    asyncio.run(scenario())


def test_a_failing_store_is_logged_and_the_reply_still_arrives(
    fake: FakeUpstream, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import sqlite3

    fake.add("/v1/responses", _unique_reply())
    with GatewayServer(_config(fake, f"sqlite:///{tmp_path}/broken.db")) as gw:
        with sqlite3.connect(tmp_path / "broken.db") as db:
            db.execute("DROP TABLE ferryman_responses")  # every write from now on fails
        with caplog.at_level(logging.ERROR, logger="ferryman"):
            created = _client(gw).responses.create(model="openai/gpt-4o", input="hi")
            assert created.status == "completed" and created.output_text
            deadline = time.monotonic() + 5
            while not any("could not store response" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the failed write was not logged"
                time.sleep(0.02)
    failed = next(r for r in caplog.records if "could not store response" in r.getMessage())
    assert created.id in failed.getMessage() and "no such table" in str(failed.exc_info[1])


# ---- store.sync: when the commit happens --------------------------------------------------------


class _HeldStore:
    """A store whose writes commit only when the test releases them."""

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def put(self, record: Any) -> None:
        self.started.set()
        await self.release.wait()
        self.records[record.id] = record


@pytest.mark.parametrize("sync", ["before_reply", "after_reply"])
def test_the_store_hook_holds_the_reply_for_the_commit_only_before_reply(fake: FakeUpstream, sync: str) -> None:
    """``before_reply``: the hook (run before the reply or a stream's terminal event goes out) returns
    only once the record is committed. ``after_reply``: it returns at once, with the record's write to start
    and await once the reply is out."""
    import msgspec

    from ferryman.config import config_from_dict
    from ferryman.gateway.exchange import Exchange
    from ferryman.gateway.router import Target
    from ferryman.gateway.storing import StoreHook
    from ferryman.schemas.responses import ResponsesRequest
    from ferryman.state.pending import PendingWrites

    async def scenario() -> None:
        config = config_from_dict(base_config(fake, store={"url": "sqlite:///unused.db", "sync": sync}), {})
        held = _HeldStore()
        hook = StoreHook(config, PendingWrites(held))  # type: ignore[arg-type]
        raw = {"model": "openai/gpt-4o", "input": "hi"}
        ex = Exchange(msgspec.convert(raw, ResponsesRequest), raw, [], credential=None, stream=False)
        ex.targets = [Target("openai", "gpt-4o")]
        await hook.before(ex)
        ex.target = ex.targets[0]
        after = asyncio.ensure_future(hook.after(ex, {"id": "resp_held", "status": "completed", "output": []}))
        if sync == "before_reply":
            await held.started.wait()
            await asyncio.sleep(0)
            assert not after.done()  # the reply waits: the write cannot commit until released
            held.release.set()
            assert await after is None
            assert "resp_held" in held.records
        else:
            pending = await after  # at once: the record is made and written once the reply is out
            assert pending is not None and held.records == {} and not held.started.is_set()
            writing = asyncio.ensure_future(pending)  # what the door awaits after the reply
            await held.started.wait()
            assert not writing.done()
            held.release.set()
            await writing
            assert "resp_held" in held.records

    asyncio.run(scenario())


def _read_directly(store_url: str, response_id: str) -> Any:
    """The record as the database holds it, read through a store of its own (not the gateway's)."""
    from ferryman.state import open_store

    async def read() -> Any:
        store = open_store(store_url)
        await store.start()
        try:
            return await store.get(response_id)
        finally:
            await store.close()

    return asyncio.run(read())


def test_before_reply_a_response_is_in_the_database_when_the_client_has_it(fake: FakeUpstream, store_url: str) -> None:
    config = _config(fake, store_url)
    config["store"] = {"url": store_url, "sync": "before_reply"}
    with GatewayServer(config) as gw:
        client = _client(gw)
        fake.add("/v1/responses", _unique_reply())
        created = client.responses.create(model="openai/gpt-4o", input="hi")
        assert _read_directly(store_url, created.id) is not None
        fake.add("/v1/responses", Reply.fixture("openai-responses/text_stream"))
        with client.responses.stream(model="openai/gpt-4o", input="What is 2+2?") as stream:
            for event in stream:
                if event.type == "response.completed":  # read the moment the terminal event is here
                    stored = _read_directly(store_url, event.response.id)
                    break
        assert stored is not None and stored.status == "completed"
        client.responses.delete(stored.id)


def test_store_config_forms(fake: FakeUpstream) -> None:
    from ferryman.config import ConfigError, config_from_dict

    short = config_from_dict(base_config(fake, store="sqlite:///./x.db"), {})
    assert (short.store, short.store_sync, short.forward_unknown_response_ids) == (
        "sqlite:///./x.db",
        "after_reply",
        False,
    )
    long = config_from_dict(base_config(fake, store={"url": "postgresql://db/x", "sync": "before_reply"}), {})
    assert (long.store, long.store_sync) == ("postgresql://db/x", "before_reply")
    assert config_from_dict(base_config(fake, store={"sync": "before_reply"}), {}).store == "sqlite:///./ferryman.db"
    assert config_from_dict(base_config(fake, store=False), {}).store is None
    for bad in ({"url": "sqlite:///x.db", "sync": "never"}, {"url": "mysql://x"}, {"path": "x.db"}):
        with pytest.raises(ConfigError):
            config_from_dict(base_config(fake, store=bad), {})


def test_a_store_of_schema_version_1_is_migrated_and_keeps_tombstones(tmp_path: Path) -> None:
    """A SQLite file written before tombstones existed (schema 1, ``user_version`` 0) opens, keeps its
    records, and from then on remembers deleted ids, holding nothing of their content."""
    import sqlite3

    from ferryman.state import open_store
    from ferryman.state.base import SCHEMA_VERSION, StoredResponse
    from ferryman.state.sql import DELETED, MIGRATIONS, TABLE, to_row, upsert

    path = tmp_path / "old.db"
    record = StoredResponse("resp_old", "owner-a", 1, None, "openai", "openai", True, "completed", {}, [], {"r": 1})
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute(upsert(lambda n: "?"), to_row(record))

    async def scenario() -> tuple[bool, bool, bool, bool]:
        store = open_store(f"sqlite:///{path}")
        await store.start()
        try:
            kept = await store.get("resp_old") == record
            deleted = await store.delete("resp_old")
            return kept, deleted, await store.seen("resp_old"), await store.seen("resp_never")
        finally:
            await store.close()

    assert asyncio.run(scenario()) == (True, True, True, False)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 0
        assert db.execute(f"SELECT id, owner FROM {DELETED}").fetchall() == [("resp_old", "owner-a")]


def test_spend_is_summed_per_key_team_and_hour(store_url: str) -> None:
    """What budgets are reloaded from: the hourly sums kept with each batch of spend rows equal the rows' own
    sums, per key, team and hour, across batches; the master key's rows (no key, no team) come back as such."""
    from ferryman.state import open_store
    from ferryman.state.records import SpendRow

    key, team = f"key_{uuid.uuid4().hex}", f"team_{uuid.uuid4().hex}"
    hour = 300_000 + uuid.uuid4().int % 100_000  # an hour of 2004-2015 of this test's own (the PostgreSQL is shared)

    def row(at: int, key_id: str | None, team_id: str | None, cost: float) -> SpendRow:
        return SpendRow(f"resp_{uuid.uuid4().hex}", at, key_id, team_id, "smart", "openai", cost, 10, 5)

    first = [row(hour * 3600 + 1, key, team, 0.25), row(hour * 3600 + 7, key, team, 0.5)]
    second = [row(hour * 3600 + 3599, key, team, 1.0), row(hour * 3600 + 3600, key, team, 2.0)]
    master = [row(hour * 3600 + 5, None, None, 4.0)]

    async def scenario() -> list[tuple[object, ...]]:
        store = open_store(store_url)
        await store.start()
        try:
            await store.add_spend(first)  # type: ignore[attr-defined]
            await store.add_spend([*second, *master])  # type: ignore[attr-defined]
            buckets = await store.spend_buckets(hour * 3600)  # type: ignore[attr-defined]
        finally:
            await store.close()
        return [b for b in buckets if b[0] == key or (b[0] is None and b[2] == hour)]

    assert sorted(asyncio.run(scenario()), key=lambda b: (str(b[0]), b[2])) == [
        (None, None, hour, 4.0, 1, 10, 5),
        (key, team, hour, 1.75, 3, 30, 15),
        (key, team, hour + 1, 2.0, 1, 10, 5),
    ]


def test_a_batch_of_spend_rows_is_written_whole_and_a_repeated_id_once(store_url: str) -> None:
    """A batch larger than one insert takes (SQLite writes many rows to a statement) keeps every row, in order
    of the columns; an id already written, or twice in the batch, is kept once (a response is charged once)."""
    from ferryman.state import open_store
    from ferryman.state.records import SpendRow

    key = f"key_{uuid.uuid4().hex}"
    at = (300_000 + uuid.uuid4().int % 100_000) * 3600  # an hour of this test's own (the PostgreSQL is shared)
    rows = [
        SpendRow(f"resp_{uuid.uuid4().hex}", at + i, key, None, "smart", "openai", 0.5, i, 2 * i) for i in range(150)
    ]

    async def scenario() -> list[tuple[object, ...]]:
        store = open_store(store_url)
        await store.start()
        try:
            await store.add_spend(rows[:10])  # type: ignore[attr-defined]
            await store.add_spend([*rows[5:], rows[100]])  # type: ignore[attr-defined]
            groups = await store.spend_by("key", at, at + 3600)  # type: ignore[attr-defined]
        finally:
            await store.close()
        return [tuple(g) for g in groups if g[0] == key]

    assert asyncio.run(scenario()) == [(key, 75.0, 150, sum(range(150)), 2 * sum(range(150)))]
