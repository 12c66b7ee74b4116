"""The request log through real HTTP, on SQLite and on PostgreSQL: one entry per client request (answered,
failed after retries, fallen back, streamed, answered from the cache) with every field, the admin API's
filters and paging, ``content: false``, retention, and a full queue that drops and counts.

The gateway runs with governance, so entries name the key and team and ``/admin/logs`` asks for the
master key; a test filters by its own key, since the PostgreSQL tables are shared. ``/admin/logs``
flushes the writer before it reads, so an answered request's entry is always there.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from ferryman.state.logs import LogEntry, LogQuery
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Received, Reply, load_fixture

MASTER = "fm-master-" + uuid.uuid4().hex
ENV = {"FM_MASTER": MASTER}
PER_TOKEN = {"input_mtok": 1_000_000, "output_mtok": 1_000_000}
STREAM_ID = "resp_0dbef2d9d14a548c00696d5e6f5080819086a0a3791c4d6b0c"
DAY = 86_400


def _answer(received: Received) -> Reply:
    """text_basic (text_stream for a stream) under a fresh id, with cached and reasoning tokens."""
    rid = f"resp_{uuid.uuid4().hex}"
    if (received.json or {}).get("stream"):
        reply = Reply.fixture("openai-responses/text_stream")
        reply.sse = [
            e.replace(STREAM_ID, rid)
            .replace('"cached_tokens":0', '"cached_tokens":6')
            .replace('"reasoning_tokens":0', '"reasoning_tokens":2')
            for e in reply.sse or []
        ]
        return reply
    reply = Reply.fixture("openai-responses/text_basic")
    usage = dict(reply.json["usage"], input_tokens_details={"cached_tokens": 4})
    usage["output_tokens_details"] = {"reasoning_tokens": 3}
    reply.json = dict(reply.json, id=rid, usage=usage)
    return reply


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Logged:
    """A running gateway with governance and the request log, a key of a team, and an admin client."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server
        self.url = server.url
        self.admin = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {MASTER}"}, timeout=30)
        team = self.admin.post("/admin/teams", json={"name": "t"}).json()
        created = self.admin.post("/admin/keys", json={"name": "caller", "team_id": team["id"]}).json()
        self.team_id: str = team["id"]
        self.key_id: str = created["id"]
        self.key: str = created["key"]
        self.client = openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.key, max_retries=0)

    def entries(self, **params: Any) -> dict[str, Any]:
        resp = self.admin.get("/admin/logs", params={"key_id": self.key_id, **params})
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        return page

    def only(self, **params: Any) -> dict[str, Any]:
        data = self.entries(**params)["data"]
        assert len(data) == 1, data
        entry: dict[str, Any] = data[0]
        return entry

    def full(self, entry_id: str) -> dict[str, Any]:
        resp = self.admin.get(f"/admin/logs/{entry_id}")
        assert resp.status_code == 200, resp.text
        entry: dict[str, Any] = resp.json()
        return entry


@pytest.fixture
def start(fake: FakeUpstream, store_url: str) -> Iterator[Callable[..., Logged]]:
    fake.add("/v1/responses", _answer)
    fake.add("/backup/v1/responses", _answer)
    servers: list[GatewayServer] = []

    def start(
        clock: Clock | None = None,
        store: str = store_url,
        retries: int = 0,
        providers: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Logged:
        config = base_config(fake, store=store, governance={"master_key": "env.FM_MASTER"}, **extra)
        config["providers"]["openai"]["max_retries"] = retries
        config["providers"]["backup"] = {
            "type": "openai",
            "base_url": f"{fake.url}/backup/v1",
            "keys": [{"value": "sk-backup-secret"}],
            "max_retries": 0,
        }
        config["providers"].update(providers or {})
        config["models"].append({"name": "resilient", "target": "openai/gpt-4o", "fallbacks": ["backup/gpt-4o-mini"]})
        config["pricing"] = {"openai/gpt-4o": PER_TOKEN, "backup/gpt-4o-mini": PER_TOKEN}
        server = GatewayServer(config, ENV)
        if clock is not None:
            assert server.app.log_writer is not None
            server.app.log_writer.clock = clock
        servers.append(server.start())
        return Logged(server)

    yield start
    for server in servers:
        server.stop()


def _cost(response: Any) -> float:
    cost: float = response.model_dump()["usage"]["cost"]["total_cost"]
    assert cost > 0
    return cost


def test_entry_of_an_answered_request(start: Callable[..., Logged]) -> None:
    gw = start()
    before = time.time()
    resp = gw.client.responses.create(model="smart", input="Where is Paris?")
    after = time.time()
    entry = gw.only()
    assert set(entry) == {
        "id", "object", "created_at", "route", "response_id", "key_id", "team_id", "model_requested", "provider",
        "model_deployment", "status_code", "error", "latency_ms", "ttft_ms", "input_tokens", "output_tokens",
        "cached_tokens", "reasoning_tokens", "cost_usd", "cache_hit", "stream", "attempts", "cost_detail",
    }  # fmt: skip
    assert entry["id"].startswith("log_") and entry["object"] == "log.entry"
    assert before - 0.001 <= entry["created_at"] <= after + 0.001
    assert entry["route"] == "responses" and entry["response_id"] == resp.id
    assert (entry["key_id"], entry["team_id"]) == (gw.key_id, gw.team_id)
    assert entry["model_requested"] == "smart"
    assert (entry["provider"], entry["model_deployment"]) == ("openai", "gpt-4o")
    assert entry["status_code"] == 200 and entry["error"] is None
    assert 0 < entry["latency_ms"] <= (after - before) * 1000
    assert entry["ttft_ms"] is None and entry["stream"] is False and entry["cache_hit"] is False
    assert (entry["input_tokens"], entry["output_tokens"]) == (14, 8)
    assert (entry["cached_tokens"], entry["reasoning_tokens"]) == (4, 3)
    assert entry["cost_usd"] == _cost(resp)
    assert entry["cost_detail"] == resp.model_dump()["usage"]["cost"]  # its parts: input, output, request
    [attempt] = entry["attempts"]
    assert attempt["target"] == "openai/gpt-4o" and attempt["status"] == 200
    assert 0 < attempt["latency_ms"] <= entry["latency_ms"]
    full = gw.full(entry["id"])
    assert full["input"] == "Where is Paris?"
    assert full["output"] == load_fixture("openai-responses/text_basic")["response"]["body"]["output"]
    assert {k: v for k, v in full.items() if k not in ("input", "output")} == entry


@pytest.mark.parametrize("stream", [False, True], ids=["reply", "stream"])
def test_entry_of_a_passed_through_chat_answer(fake: FakeUpstream, start: Callable[..., Logged], stream: bool) -> None:
    """A Chat Completions reply or stream relayed unread is kept as its server sent it (a reply as the client
    got it), read into output items when its entry is read, found by its text, and shown as kept once its
    provider is gone."""
    if stream:
        reply = Reply.fixture("openai-chat/text_stream")
        text, word = "The capital of Mexico is Mexico City.", "Mexico City"
    else:
        text, word = "Grüße aus Köln, 你好 \u2603", "你好"
        reply = Reply.fixture("openai-chat/text_basic")
        choice = reply.json["choices"][0]
        reply.json = dict(reply.json, choices=[dict(choice, message=dict(choice["message"], content=text))])
    fake.add("/srv/v1/chat/completions", reply)
    server = {"srv": {"type": "openai-chat", "base_url": f"{fake.url}/srv/v1", "max_retries": 0}}
    gw = start(providers=server)
    messages: Any = [{"role": "user", "content": "Hallo"}]
    if stream:
        chunks = list(gw.client.chat.completions.create(model="srv/gpt-4o", messages=messages, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    else:
        answer = gw.client.chat.completions.create(model="srv/gpt-4o", messages=messages)
        assert answer.choices[0].message.content == text
    entry = gw.only(q=word)
    assert (entry["route"], entry["provider"], entry["stream"]) == ("chat_completions", "srv", stream)
    full = gw.full(entry["id"])
    [item] = full["output"]
    assert (item["type"], item["role"], item["status"]) == ("message", "assistant", "completed")
    assert [(c["type"], c["text"]) for c in item["content"]] == [("output_text", text)]
    assert "Hallo" in str(full["input"])
    gw.server.stop()
    again = start()  # the same store, without the server that answered
    output = again.full(entry["id"])["output"]
    if stream:
        assert output["native_stream"][-1] == "[DONE]" and text in str(output["native_stream"])
    else:
        kept = output["native_reply"]
        assert kept["object"] == "chat.completion" and kept["choices"][0]["message"]["content"] == text
        assert kept["usage"]["cost"] == answer.model_dump()["usage"]["cost"]  # what the client got


def test_entry_of_a_stream(start: Callable[..., Logged]) -> None:
    gw = start()
    with gw.client.responses.stream(model="smart", input="What is 2+2?") as stream:
        final = stream.get_final_response()
    entry = gw.only()
    assert entry["stream"] is True and entry["status_code"] == 200 and entry["response_id"] == final.id
    assert entry["ttft_ms"] is not None and 0 < entry["ttft_ms"] <= entry["latency_ms"]
    assert (entry["input_tokens"], entry["output_tokens"], entry["cached_tokens"], entry["reasoning_tokens"]) == (
        20,
        10,
        6,
        2,
    )
    assert entry["cost_usd"] == _cost(final)
    assert [(a["target"], a["status"]) for a in entry["attempts"]] == [("openai/gpt-4o", 200)]
    full = gw.full(entry["id"])
    assert full["input"] == "What is 2+2?"
    assert full["output"][0]["content"][0]["text"] == final.output_text == "2+2 = 4"


def test_entry_of_a_failure_after_retries(fake: FakeUpstream, start: Callable[..., Logged]) -> None:
    fake.add("/v1/responses", Reply(status=503, headers={"retry-after-ms": "1"}, json={"error": {"message": "down"}}))
    gw = start(retries=2)
    with pytest.raises(openai.InternalServerError):
        gw.client.responses.create(model="smart", input="anyone there?")
    entry = gw.only()
    assert entry["status_code"] == 503 and entry["error"] == "openai: down"
    assert entry["response_id"] is None and entry["cost_usd"] == 0 and entry["input_tokens"] == 0
    assert entry["cost_detail"] is None
    assert (entry["provider"], entry["model_deployment"]) == ("openai", "gpt-4o")
    assert [(a["target"], a["status"]) for a in entry["attempts"]] == [("openai/gpt-4o", 503)] * 3
    full = gw.full(entry["id"])
    assert (full["input"], full["output"]) == ("anyone there?", None)


def test_entry_of_a_fallback(fake: FakeUpstream, start: Callable[..., Logged]) -> None:
    fake.add("/v1/responses", Reply(status=503, json={"error": {"message": "primary down"}}), times=1)
    gw = start()
    resp = gw.client.responses.create(model="resilient", input="hi")
    entry = gw.only()
    assert entry["status_code"] == 200 and entry["response_id"] == resp.id and entry["model_requested"] == "resilient"
    assert (entry["provider"], entry["model_deployment"]) == ("backup", "gpt-4o-mini")
    assert [(a["target"], a["status"]) for a in entry["attempts"]] == [
        ("openai/gpt-4o", 503),
        ("backup/gpt-4o-mini", 200),
    ]
    assert entry["cost_usd"] == _cost(resp)


def test_entry_of_a_cache_hit(start: Callable[..., Logged]) -> None:
    gw = start(cache={"backend": "memory", "namespace": f"t-{uuid.uuid4().hex}"})
    first = gw.client.responses.create(model="smart", input="cache me")
    second = gw.client.responses.create(model="smart", input="cache me")
    newest, oldest = gw.entries()["data"]
    assert (oldest["response_id"], oldest["cache_hit"], len(oldest["attempts"])) == (first.id, False, 1)
    assert (newest["response_id"], newest["cache_hit"], newest["attempts"]) == (second.id, True, [])
    assert (newest["provider"], newest["model_deployment"], newest["status_code"]) == ("openai", "gpt-4o", 200)
    assert newest["cost_usd"] == 0 and (newest["input_tokens"], newest["output_tokens"]) == (14, 8)
    assert gw.full(newest["id"])["output"] == gw.full(oldest["id"])["output"]


def test_filters_and_paging(fake: FakeUpstream, start: Callable[..., Logged]) -> None:
    gw = start()
    ids = [gw.client.responses.create(model="smart", input=f"plain {i}").id for i in range(3)]
    word = uuid.uuid4().hex[:10]
    backup = gw.client.responses.create(model="backup/gpt-4o-mini", input=f"Find the WORD {word} here").id
    fake.add("/v1/responses", Reply(status=429, json={"error": {"message": "slow"}}), times=1)
    with pytest.raises(openai.RateLimitError):
        gw.client.responses.create(model="smart", input="limited")

    first = gw.entries(limit=2)
    assert first["has_more"] is True and len(first["data"]) == 2
    assert first["last_id"] == first["data"][-1]["id"]
    second = gw.entries(limit=2, after=first["last_id"])
    third = gw.entries(limit=2, after=second["last_id"])
    assert third["has_more"] is False and len(third["data"]) == 1
    every = first["data"] + second["data"] + third["data"]
    assert [e["id"] for e in every] == sorted((e["id"] for e in every), reverse=True)
    assert [e["response_id"] for e in every] == [None, backup, *reversed(ids)]  # newest first

    assert [e["response_id"] for e in gw.entries(provider="backup")["data"]] == [backup]
    assert [e["response_id"] for e in gw.entries(model="backup/gpt-4o-mini")["data"]] == [backup]
    assert [e["status_code"] for e in gw.entries(status="4xx")["data"]] == [429]
    assert [e["status_code"] for e in gw.entries(status="429")["data"]] == [429]
    assert gw.entries(status="5xx")["data"] == []
    assert len(gw.entries(status="2xx")["data"]) == 4
    assert [e["response_id"] for e in gw.entries(q=f"word {word.upper()}")["data"]] == [backup]
    assert gw.entries(q="100%_not_there")["data"] == []
    assert len(gw.entries(team_id=gw.team_id)["data"]) == 5
    assert gw.entries(team_id="team_nobody")["data"] == []
    start_at = every[2]["created_at"]  # the 3rd newest and those after it
    assert [e["id"] for e in gw.entries(**{"from": start_at})["data"]] == [e["id"] for e in every[:3]]
    assert [e["id"] for e in gw.entries(to=start_at)["data"]] == [e["id"] for e in every[3:]]

    for bad in ({"limit": "1001"}, {"limit": "0"}, {"status": "abc"}, {"from": "yesterday"}, {"sort": "asc"}):
        resp = gw.admin.get("/admin/logs", params=bad)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.json()["error"]["param"] == next(iter(bad))
    assert httpx.get(f"{gw.url}/admin/logs", headers={"authorization": f"Bearer {gw.key}"}).status_code == 401
    assert httpx.get(f"{gw.url}/admin/logs/{every[0]['id']}").status_code == 401
    missing = gw.admin.get("/admin/logs/log_00000000000000nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "log_entry_not_found"


@pytest.mark.parametrize("content", [True, False])
def test_content_false_keeps_no_prompt_text(start: Callable[..., Logged], tmp_path: Path, content: bool) -> None:
    secret = f"prompt-{uuid.uuid4().hex}"
    gw = start(store=f"sqlite:///{tmp_path}/logs.db", logs={"content": content})
    resp = gw.client.responses.create(model="smart", input=f"Tell nobody {secret}", store=False)
    entry = gw.only()
    assert entry["response_id"] == resp.id
    full = gw.full(entry["id"])
    gw.server.stop()
    kept = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("logs.db"))
    assert (secret.encode() in kept) is content
    assert (b"The capital of France is Paris." in kept) is content
    assert (full["input"] is not None, full["output"] is not None) == (content, content)


def test_retention_prunes_old_entries(start: Callable[..., Logged]) -> None:
    clock = Clock(time.time() - 40 * DAY)
    gw = start(clock=clock, logs={"retention_days": 30})
    old = [gw.client.responses.create(model="smart", input="old").id for _ in range(2)]
    assert [e["response_id"] for e in gw.entries()["data"]] == old[::-1]
    clock.now += 31 * DAY  # the old entries are now 31 days old, and an hourly prune is due
    new = gw.client.responses.create(model="smart", input="new").id
    assert [e["response_id"] for e in gw.entries()["data"]] == [new]


class _Held:
    """A log store whose writes wait until the test lets them go."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()

    async def add_logs(self, entries: list[LogEntry]) -> None:
        self.entered.set()
        await asyncio.to_thread(self.release.wait, 30)
        await self.inner.add_logs(entries)

    async def prune_logs(self, before: float) -> int:
        count: int = await self.inner.prune_logs(before)
        return count

    async def logs(self, query: LogQuery) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self.inner.logs(query)
        return rows


def test_full_queue_drops_and_counts(start: Callable[..., Logged]) -> None:
    gw = start(logs={"queue_size": 2, "batch_size": 1})
    writer = gw.server.app.log_writer
    assert writer is not None
    held = writer.store = _Held(writer.store)
    gw.client.responses.create(model="smart", input="first")
    assert held.entered.wait(10)  # the writer holds the first entry; the queue is empty
    answered = [gw.client.responses.create(model="smart", input=f"more {i}").id for i in range(5)]
    assert len(answered) == 5  # every request was answered although the log could not keep up
    assert writer.dropped == 3  # two waited in the queue
    held.release.set()
    assert len(gw.entries()["data"]) == 3
    assert writer.dropped == 3


class _Broken:
    async def add_logs(self, entries: list[LogEntry]) -> None:
        raise RuntimeError("the log store is down")

    async def prune_logs(self, before: float) -> int:
        raise RuntimeError("the log store is down")


def test_a_failing_log_store_never_fails_a_request(start: Callable[..., Logged]) -> None:
    gw = start(logs={"retention_days": 1})
    writer = gw.server.app.log_writer
    assert writer is not None
    writer.store = _Broken()
    with gw.client.responses.stream(model="smart", input="still fine?") as stream:
        assert stream.get_final_response().output_text == "2+2 = 4"
    assert gw.client.responses.create(model="smart", input="still fine?").output_text
    assert gw.entries()["data"] == []  # the admin API reads the real store: the writes were lost
    assert writer.failed == 2 and writer.dropped == 0


def test_admin_providers(fake: FakeUpstream, start: Callable[..., Logged]) -> None:
    """``GET /admin/providers``: per configured provider, its recent requests, failures and median latency from
    the log (over ``window`` seconds of the log's clock), its keys cooling down now, and the aliases using it."""

    def spare(received: Received) -> Reply:
        if (received.json or {}).get("model") == "broken":
            return Reply(status=500, json={"error": {"message": "down"}})
        if "sk-spare-first" in str(received.headers):
            return Reply(status=429, headers={"retry-after-ms": "1"}, json={"error": {"message": "quota"}})
        return _answer(received)

    fake.add("/spare/v1/responses", spare)
    spare_provider = {
        "type": "openai",
        "base_url": f"{fake.url}/spare/v1",
        # the first key is always picked first (the second weighs nothing) and its 429 cools it down
        "keys": [{"value": "sk-spare-first", "weight": 1}, {"value": "sk-spare-second", "weight": 0}],
        "max_retries": 1,
        "key_cooldown": 600,
    }
    clock = Clock(5_000_000_000 + uuid.uuid4().int % 10**8)  # a time no other test's entries have (shared tables)
    gw = start(clock=clock, providers={"spare": spare_provider})
    for _ in range(2):
        gw.client.responses.create(model="smart", input="hi")
    gw.client.responses.create(model="spare/gpt-4o", input="hi")  # 429 on the first key, then the second answers
    with pytest.raises(openai.InternalServerError):
        gw.client.responses.create(model="spare/broken", input="hi")

    def listing(**params: Any) -> dict[str, dict[str, Any]]:
        resp = gw.admin.get("/admin/providers", params=params)
        assert resp.status_code == 200, resp.text
        return {p["name"]: p for p in resp.json()["data"]}

    def median_latency(provider: str) -> float:
        latencies = sorted(e["latency_ms"] for e in gw.entries(provider=provider)["data"])
        assert len(latencies) == 2
        return round(sum(latencies) / 2, 3)

    got = listing()
    assert set(got) >= {"openai", "backup", "spare"}
    assert got["openai"] | {"p50_latency_ms": None} == {
        "name": "openai", "type": "openai", "keys": 1, "cooling_keys": [], "aliases": ["resilient", "smart"],
        "requests": 2, "errors": 0, "error_rate": 0.0, "p50_latency_ms": None,
    }  # fmt: skip
    assert got["openai"]["p50_latency_ms"] == pytest.approx(median_latency("openai"), abs=0.002)
    assert (got["spare"]["requests"], got["spare"]["errors"], got["spare"]["error_rate"]) == (2, 1, 0.5)
    assert got["spare"]["p50_latency_ms"] == pytest.approx(median_latency("spare"), abs=0.002)
    [cooling] = got["spare"]["cooling_keys"]
    assert cooling["key"] == 0 and 0 < cooling["seconds_left"] <= 600 and got["spare"]["aliases"] == []
    assert got["backup"] | {"keys": 0} == {
        "name": "backup", "type": "openai", "keys": 0, "cooling_keys": [], "aliases": ["resilient"],
        "requests": 0, "errors": 0, "error_rate": 0.0, "p50_latency_ms": None,
    }  # fmt: skip
    assert "sk-spare" not in str(got)  # keys by their place, never their value
    clock.now += 3601
    assert listing()["openai"]["requests"] == 0  # out of the default hour
    assert listing(window=3601)["openai"]["requests"] == 2
    bad = gw.admin.get("/admin/providers", params={"window": "0"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "window"
    assert httpx.get(f"{gw.url}/admin/providers", headers={"authorization": f"Bearer {gw.key}"}).status_code == 401
