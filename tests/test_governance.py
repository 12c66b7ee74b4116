"""Governance through real HTTP: virtual keys, teams, allow-lists, budgets, rate limits and spend, on SQLite
and on PostgreSQL, with the openai SDK against a fake upstream that records what reached it.

Prices are set to $1 a token (``pricing``), so a reply's cost is its token count: text_basic costs $22
(14 in, 8 out), text_stream $30 (20 in, 10 out). The gateway's clock is the test's (``Clock``): budget
periods and rate-limit minutes roll over without sleeping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from ferryman.config import ConfigError, config_from_dict, secret_values
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer, wait_for
from tests.fakes.upstream import FakeUpstream, Received, Reply

MASTER = "fm-master-" + uuid.uuid4().hex
ENV = {"FM_MASTER": MASTER}
T0 = 1_800_000_000.0  # the test clock's start: a whole hour, a whole minute
PER_TOKEN = {"input_mtok": 1_000_000, "output_mtok": 1_000_000}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _config(fake: FakeUpstream, store: str, **extra: Any) -> dict[str, Any]:
    config = base_config(fake, store=store, governance={"master_key": "env.FM_MASTER"}, **extra)
    config["providers"]["other"] = {
        "type": "openai",
        "base_url": f"{fake.url}/other/v1",
        "keys": [{"value": "sk-other-secret"}],
        "max_retries": 0,
    }
    config["pricing"] = {"openai/gpt-4o": PER_TOKEN, "other/gpt-4o": PER_TOKEN}
    return config


def _unique(received: Received) -> Reply:
    """text_basic (or text_stream for a stream) under a fresh response id: spend rows are keyed by it."""
    rid = f"resp_{uuid.uuid4().hex}"
    if (received.json or {}).get("stream"):
        reply = Reply.fixture("openai-responses/text_stream")
        old = "resp_0dbef2d9d14a548c00696d5e6f5080819086a0a3791c4d6b0c"
        reply.sse = [event.replace(old, rid) for event in reply.sse or []]
        return reply
    reply = Reply.fixture("openai-responses/text_basic")
    reply.json = dict(reply.json, id=rid)
    return reply


class Gov:
    """A running gateway with governance, its clock, and an admin client."""

    def __init__(self, server: GatewayServer, clock: Clock) -> None:
        self.server = server
        self.clock = clock
        self.url = server.url
        self.admin = httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {MASTER}"})

    def key(self, **body: Any) -> dict[str, Any]:
        resp = self.admin.post("/admin/keys", json={"name": "k", **body})
        assert resp.status_code == 201, resp.text
        created: dict[str, Any] = resp.json()
        return created

    def team(self, **body: Any) -> dict[str, Any]:
        resp = self.admin.post("/admin/teams", json={"name": "t", **body})
        assert resp.status_code == 201, resp.text
        created: dict[str, Any] = resp.json()
        return created

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)


def started(config: dict[str, Any], clock: Clock) -> Gov:
    """A gateway with governance on ``config``, running, its governance on ``clock`` (the caller stops it)."""
    server = GatewayServer(config, ENV)
    assert server.app.governance is not None
    server.app.governance.clock = clock
    return Gov(server.start(), clock)


@pytest.fixture
def start(fake: FakeUpstream, store_url: str) -> Iterator[Callable[..., Gov]]:
    fake.add("/v1/responses", _unique)
    fake.add("/other/v1/responses", _unique)
    servers: list[GatewayServer] = []

    def start(clock: Clock | None = None, **extra: Any) -> Gov:
        gov = started(_config(fake, store_url, **extra), clock or Clock())
        servers.append(gov.server)
        return gov

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def gov(start: Callable[..., Gov]) -> Gov:
    return start()


def _error(resp: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    assert set(body) >= {"message", "type", "param", "code"}
    return body


def test_no_or_unknown_key_is_401_and_reaches_no_provider(fake: FakeUpstream, gov: Gov) -> None:
    body = {"model": "smart", "input": "hi"}
    no_key = httpx.post(f"{gov.url}/v1/responses", json=body)
    assert no_key.status_code == 401 and _error(no_key)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError) as info:
        gov.client("sk-fm-unknown").responses.create(model="smart", input="hi")
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    stored = httpx.get(f"{gov.url}/v1/responses/resp_x", headers={"authorization": "Bearer nope"})
    assert stored.status_code == 401
    assert fake.received == []


def test_a_caller_without_a_key_learns_nothing_of_the_models(fake: FakeUpstream, gov: Gov) -> None:
    """Authentication comes before routing: no key is a 401 whatever the model, never a 404 naming what exists."""
    for model in ("nowhere/unknown", "gpt-made-up", "smart"):
        resp = httpx.post(f"{gov.url}/v1/responses", json={"model": model, "input": "hi"})
        assert resp.status_code == 401 and _error(resp)["code"] == "invalid_api_key", resp.text
        assert "smart" not in resp.text and "openai" not in resp.text
    assert fake.received == []


def test_key_is_shown_once_and_works_by_every_header(fake: FakeUpstream, gov: Gov) -> None:
    created = gov.key(name="ci")
    value = created["key"]
    assert value.startswith("sk-fm-") and created["id"].startswith("key_")
    listed = gov.admin.get("/admin/keys").json()["data"]
    assert any(k["id"] == created["id"] for k in listed)
    assert (
        value not in gov.admin.get("/admin/keys").text
        and value not in gov.admin.get(f"/admin/keys/{created['id']}").text
    )
    assert gov.client(value).responses.create(model="smart", input="hi").output_text
    for name in ("x-api-key", "api-key"):
        resp = httpx.post(f"{gov.url}/v1/responses", json={"model": "smart", "input": "hi"}, headers={name: value})
        assert resp.status_code == 200, resp.text
    assert len(fake.received) == 3


def test_master_key_calls_model_routes_and_only_it_calls_admin(fake: FakeUpstream, gov: Gov) -> None:
    assert gov.client(MASTER).responses.create(model="smart", input="hi").output_text
    value = gov.key()["key"]
    refused = httpx.get(f"{gov.url}/admin/keys", headers={"authorization": f"Bearer {value}"})
    assert refused.status_code == 401 and _error(refused)["code"] == "invalid_api_key"
    assert httpx.post(f"{gov.url}/admin/teams", json={"name": "x"}).status_code == 401


def test_allow_list_with_aliases_and_wildcards(fake: FakeUpstream, gov: Gov) -> None:
    alias_only = gov.client(gov.key(models=["smart"])["key"])
    assert alias_only.responses.create(model="smart", input="hi").output_text
    with pytest.raises(openai.PermissionDeniedError) as info:
        alias_only.responses.create(model="openai/gpt-4o", input="hi")
    assert info.value.status_code == 403 and info.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    wildcard = gov.client(gov.key(models=["openai/*"])["key"])
    assert wildcard.responses.create(model="openai/gpt-4o", input="hi").output_text
    for model, extra in (("other/gpt-4o", {}), ("smart", {}), ("openai/gpt-4o", {"fallbacks": ["other/gpt-4o"]})):
        with pytest.raises(openai.PermissionDeniedError):
            wildcard.responses.create(model=model, input="hi", extra_body=extra)
    assert [r.path for r in fake.received] == ["/v1/responses", "/v1/responses"]


def test_rate_limit_429_with_headers_then_next_minute(fake: FakeUpstream, gov: Gov) -> None:
    value = gov.key(limits={"rpm": 2})["key"]
    body = {"model": "smart", "input": "hi"}
    headers = {"authorization": f"Bearer {value}"}
    for _ in range(2):
        assert httpx.post(f"{gov.url}/v1/responses", json=body, headers=headers).status_code == 200
    gov.clock.now += 15
    refused = httpx.post(f"{gov.url}/v1/responses", json=body, headers=headers)
    assert refused.status_code == 429 and _error(refused)["code"] == "rate_limit_exceeded"
    assert refused.headers["retry-after"] == "45"
    assert refused.headers["x-ratelimit-limit-requests"] == "2"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == "45s"
    assert len(fake.received) == 2
    gov.clock.now += 45
    assert httpx.post(f"{gov.url}/v1/responses", json=body, headers=headers).status_code == 200


def test_ratelimit_headers_on_every_reply(fake: FakeUpstream, gov: Gov) -> None:
    value = gov.key(limits={"rpm": 5, "tpm": 100})["key"]
    first = _post_as(gov.url, value)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "5"
    assert first.headers["x-ratelimit-remaining-requests"] == "4"
    assert first.headers["x-ratelimit-reset-requests"] == "60s"
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert first.headers["x-ratelimit-remaining-tokens"] == "100"
    gov.clock.now += 20
    with gov.client(value).responses.with_streaming_response.create(model="smart", input="hi", stream=True) as resp:
        assert resp.headers["x-ratelimit-remaining-requests"] == "3"
        assert resp.headers["x-ratelimit-remaining-tokens"] == "78"  # the first answer's 22 tokens
        assert resp.headers["x-ratelimit-reset-tokens"] == "40s"
        resp.read()
    unlimited = _post_as(gov.url, gov.key()["key"])
    assert unlimited.status_code == 200 and "x-ratelimit-limit-requests" not in unlimited.headers


def test_a_changed_key_or_team_governs_from_its_next_request(fake: FakeUpstream, gov: Gov) -> None:
    """What governs a key is worked out once, and again as soon as its record or its team's changes."""
    created = gov.key(limits={"rpm": 5})
    value = created["key"]
    assert _post_as(gov.url, value).headers["x-ratelimit-limit-requests"] == "5"
    gov.admin.patch(f"/admin/keys/{created['id']}", json={"limits": {"rpm": 7}})
    assert _post_as(gov.url, value).headers["x-ratelimit-limit-requests"] == "7"
    team = gov.team(limits={"tpm": 1000})
    gov.admin.patch(f"/admin/keys/{created['id']}", json={"limits": None, "team_id": team["id"]})
    moved = _post_as(gov.url, value)
    assert moved.headers["x-ratelimit-limit-tokens"] == "1000" and "x-ratelimit-limit-requests" not in moved.headers
    gov.admin.patch(f"/admin/teams/{team['id']}", json={"limits": {"tpm": 2000}})
    assert _post_as(gov.url, value).headers["x-ratelimit-limit-tokens"] == "2000"
    gov.admin.patch(f"/admin/teams/{team['id']}", json={"budget": {"max_usd": 1}})  # 22 tokens at $1 each spent
    refused = _post_as(gov.url, value)
    assert refused.status_code == 402 and "team 't'" in _error(refused)["message"]
    gov.admin.delete(f"/admin/keys/{created['id']}")
    assert _post_as(gov.url, value).status_code == 401
    assert len(fake.received) == 4


def _post_as(url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/responses", json={"model": "smart", "input": "hi"}, headers={"authorization": f"Bearer {key}"}
    )


def test_token_limit(fake: FakeUpstream, gov: Gov) -> None:
    client = gov.client(gov.key(limits={"tpm": 30})["key"])
    client.responses.create(model="smart", input="hi")  # 22 tokens
    client.responses.create(model="smart", input="hi")  # 44: over, known once answered
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model="smart", input="hi")
    assert info.value.response.headers["x-ratelimit-limit-tokens"] == "30"
    assert info.value.response.headers["x-ratelimit-remaining-tokens"] == "0"
    assert len(fake.received) == 2


def test_budget_crossing_request_completes_next_is_402_until_the_period_rolls(fake: FakeUpstream, gov: Gov) -> None:
    daily = gov.client(gov.key(budget={"max_usd": 30, "period": "1d"})["key"])
    lifetime = gov.client(gov.key(budget={"max_usd": 30})["key"])
    for client in (daily, lifetime):
        client.responses.create(model="smart", input="hi")  # $22
        client.responses.create(model="smart", input="hi")  # $44: crosses, and completes
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model="smart", input="hi")
        assert info.value.status_code == 402 and info.value.body["code"] == "budget_exceeded"  # type: ignore[index]
    assert len(fake.received) == 4
    gov.clock.now += 23 * 3600  # both charges are still within the last 24 hours
    with pytest.raises(openai.APIStatusError):
        daily.responses.create(model="smart", input="hi")
    gov.clock.now += 3600
    assert daily.responses.create(model="smart", input="hi").output_text
    with pytest.raises(openai.APIStatusError):
        lifetime.responses.create(model="smart", input="hi")


def test_team_budget_holds_for_the_sum_of_its_keys(fake: FakeUpstream, gov: Gov) -> None:
    team = gov.team(budget={"max_usd": 40})
    first = gov.client(gov.key(team_id=team["id"])["key"])
    second = gov.client(gov.key(team_id=team["id"])["key"])
    outsider = gov.client(gov.key()["key"])
    first.responses.create(model="smart", input="hi")
    second.responses.create(model="smart", input="hi")  # the team's $44 crosses $40
    for client in (first, second):
        with pytest.raises(openai.APIStatusError) as info:
            client.responses.create(model="smart", input="hi")
        assert info.value.status_code == 402
    assert outsider.responses.create(model="smart", input="hi").output_text
    got = gov.admin.get(f"/admin/teams/{team['id']}").json()
    assert got["spend_usd"] == 44 and got["remaining_usd"] == 0 and got["requests"] == 2
    assert len(fake.received) == 3


def test_team_rate_limit_on_top_of_keys(fake: FakeUpstream, gov: Gov) -> None:
    team = gov.team(limits={"rpm": 1})
    first = gov.client(gov.key(team_id=team["id"], limits={"rpm": 5})["key"])
    second = gov.client(gov.key(team_id=team["id"])["key"])
    first.responses.create(model="smart", input="hi")
    with pytest.raises(openai.RateLimitError):
        second.responses.create(model="smart", input="hi")
    assert len(fake.received) == 1


def test_spend_is_the_sum_of_usage_cost(fake: FakeUpstream, start: Callable[..., Gov]) -> None:
    gov = start(cache={"backend": "memory", "namespace": uuid.uuid4().hex})
    created = gov.key(budget={"max_usd": 1000})
    client = gov.client(created["key"])
    costs = [client.responses.create(model="smart", input="once").usage.cost for _ in range(2)]  # type: ignore[union-attr]
    with client.responses.stream(model="smart", input="streamed") as stream:
        final = stream.get_final_response()
    costs.append(final.usage.cost)  # type: ignore[union-attr]
    total = sum(c["total_cost"] for c in costs)  # type: ignore[index]
    assert costs[1]["total_cost"] == 0 and total == 22 + 30  # type: ignore[index]  # the second was a cache hit
    assert len(fake.received) == 2
    got = gov.admin.get(f"/admin/keys/{created['id']}").json()
    assert (got["spend_usd"], got["requests"], got["remaining_usd"]) == (total, 3, 1000 - total)
    [listed] = [k for k in gov.admin.get("/admin/keys").json()["data"] if k["id"] == created["id"]]
    assert (listed["spend_usd"], listed["requests"], listed["remaining_usd"]) == (total, 3, 1000 - total)
    assert (got["input_tokens"], got["output_tokens"]) == (14 * 2 + 20, 8 * 2 + 10)  # a hit's tokens count, free
    own = httpx.get(f"{gov.url}/v1/key", headers={"authorization": f"Bearer {created['key']}"}).json()
    assert own["id"] == created["id"] and own["spend_usd"] == total and own["remaining_usd"] == 1000 - total
    assert "key_hash" not in own and created["key"] not in str(own)
    # the store has it too (written after each reply; the server stops only once those writes are done)
    gov.server.stop()
    again = start(gov.clock)
    rows = again.admin.get("/admin/spend", params={"group_by": "key"}).json()["data"]
    mine = [r for r in rows if r["key"] == created["id"]]
    assert mine == [{"key": created["id"], "spend_usd": total, "requests": 3, "input_tokens": 48, "output_tokens": 26}]
    assert again.admin.get(f"/admin/keys/{created['id']}").json()["spend_usd"] == total  # the ledger reloaded


def test_spend_over_time(fake: FakeUpstream, gov: Gov) -> None:
    """``bucket=hour|day``: a row per bucket (``t``, its start) and group, oldest first, within from/to."""
    mine, theirs = gov.key(), gov.key()
    client, other = gov.client(mine["key"]), gov.client(theirs["key"])
    day = int(T0) // 86_400 * 86_400
    when = [T0, T0 + 3600 + 5, T0 + 86_400 + 7]  # hour 0, hour 1 of the same day, the next day
    for now in when:
        gov.clock.now = now
        client.responses.create(model="smart", input="hi")  # $22 each (14 in, 8 out)
    other.responses.create(model="other/gpt-4o", input="hi")

    def series(**params: Any) -> list[dict[str, Any]]:
        query = {"group_by": "key", "from": int(T0), "to": int(T0) + 2 * 86_400, **params}
        resp = gov.admin.get("/admin/spend", params=query)
        assert resp.status_code == 200, resp.text
        return [r for r in resp.json()["data"] if r["key"] in (mine["id"], theirs["id"])]

    wait_for(lambda: sum(r["requests"] for r in series()) == 4)  # spend rows are written after each reply
    one = {"key": mine["id"], "spend_usd": 22, "requests": 1, "input_tokens": 14, "output_tokens": 8}
    hours = [int(now) // 3600 * 3600 for now in when]
    assert [r for r in series(bucket="hour") if r["key"] == mine["id"]] == [{"t": t, **one} for t in hours]
    days = series(bucket="day")
    assert [r for r in days if r["key"] == mine["id"]] == [
        {"t": day, "key": mine["id"], "spend_usd": 44, "requests": 2, "input_tokens": 28, "output_tokens": 16},
        {"t": day + 86_400, **one},
    ]
    assert [(r["t"], r["key"]) for r in days if r["key"] == theirs["id"]] == [(day + 86_400, theirs["id"])]
    by_model = gov.admin.get("/admin/spend", params={"group_by": "model", "bucket": "day", "from": day + 86_400})
    assert {r["model"] for r in by_model.json()["data"]} >= {"smart", "other/gpt-4o"}
    assert series(bucket="hour", to=int(T0) + 3600) == [{"t": hours[0], **one}]  # ``to`` is exclusive
    bad = gov.admin.get("/admin/spend", params={"bucket": "week"})
    assert bad.status_code == 400 and _error(bad)["param"] == "bucket"


def test_revocation(fake: FakeUpstream, gov: Gov) -> None:
    created = gov.key()
    client = gov.client(created["key"])
    client.responses.create(model="smart", input="hi")
    deleted = gov.admin.delete(f"/admin/keys/{created['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model="smart", input="hi")
    assert gov.admin.get(f"/admin/keys/{created['id']}").json()["revoked"] is True
    assert len(fake.received) == 1


def test_expired_key(fake: FakeUpstream, gov: Gov) -> None:
    client = gov.client(gov.key(expires_at=int(T0) + 60)["key"])
    client.responses.create(model="smart", input="hi")
    gov.clock.now += 60
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model="smart", input="hi")
    assert len(fake.received) == 1


def test_patch_and_teams_crud(fake: FakeUpstream, gov: Gov) -> None:
    created = gov.key(models=["smart"])
    client = gov.client(created["key"])
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model="openai/gpt-4o", input="hi")
    patched = gov.admin.patch(f"/admin/keys/{created['id']}", json={"models": None, "name": "renamed"})
    assert patched.status_code == 200 and patched.json()["name"] == "renamed" and patched.json()["models"] is None
    assert client.responses.create(model="openai/gpt-4o", input="hi").output_text
    team = gov.team(name="ml")
    assert gov.admin.patch(f"/admin/teams/{team['id']}", json={"limits": {"rpm": 9}}).json()["limits"]["rpm"] == 9
    assert gov.admin.patch(f"/admin/keys/{created['id']}", json={"team_id": team["id"]}).json()["team_id"] == team["id"]
    busy = gov.admin.delete(f"/admin/teams/{team['id']}")
    assert busy.status_code == 400 and _error(busy)["code"] == "team_not_empty"
    gov.admin.delete(f"/admin/keys/{created['id']}")
    assert gov.admin.delete(f"/admin/teams/{team['id']}").status_code == 200
    assert gov.admin.get(f"/admin/teams/{team['id']}").status_code == 404
    bad = gov.admin.post("/admin/keys", json={"name": "x", "team_id": "team_nope"})
    assert bad.status_code == 400 and _error(bad)["param"] == "team_id"
    assert (
        gov.admin.post("/admin/keys", json={"name": "x", "budget": {"max_usd": 1, "period": "2d"}}).status_code == 400
    )
    assert gov.admin.post("/admin/keys", json={}).status_code == 400


def test_stored_responses_belong_to_the_key_that_created_them(fake: FakeUpstream, gov: Gov) -> None:
    owner, other = gov.client(gov.key()["key"]), gov.client(gov.key()["key"])
    created = owner.responses.create(model="smart", input="hi")
    assert owner.responses.retrieve(created.id).id == created.id
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)


def test_config() -> None:
    config = config_from_dict({"governance": {"master_key": "env.FM_MASTER"}}, ENV)
    assert config.governance is not None and MASTER in secret_values(config)
    assert MASTER not in repr(config)
    for governance, words in (
        ({"master_key": "env.UNSET_MASTER"}, "not set"),
        ({"master_key": "short"}, "16 characters"),
        ({"master_key": MASTER, "counters": "http://127.0.0.1:6379/0"}, "not 'memory' or a redis:// URL"),
        ({"master_key": MASTER, "nope": 1}, "nope"),
    ):
        with pytest.raises(ConfigError, match=words):
            config_from_dict({"governance": governance}, ENV)
    with pytest.raises(ConfigError, match="needs a store"):
        config_from_dict({"store": False, "governance": {"master_key": MASTER}}, ENV)


def test_without_governance_nothing_changes(fake: FakeUpstream, gateway: GatewayServer) -> None:
    assert gateway.app.governance is None
    assert all(hook.name != "governance" for hook in gateway.app.pipeline.hooks)
    assert httpx.get(f"{gateway.url}/admin/keys").status_code == 404


def test_readme_session_runs(tmp_path: Path) -> None:
    """The README's governance curl session, run as written against a gateway with governance."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    session = next(b for b in re.findall(r"^```bash\n(.*?)^```", readme, re.S | re.M) if "/admin/keys" in b)
    config = {"store": f"sqlite:///{tmp_path}/f.db", "governance": {"master_key": "env.FERRYMAN_MASTER_KEY"}}
    with GatewayServer(config, {"FERRYMAN_MASTER_KEY": MASTER}) as server:
        script = session.replace("http://localhost:8080", server.url)
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "FERRYMAN_MASTER_KEY": MASTER},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    printed, text = [], done.stdout.strip()
    while text:  # the JSON replies, and the status code printed between them
        value, end = json.JSONDecoder().raw_decode(text)
        printed.append(value)
        text = text[end:].strip()
    answer, refused, own, spend = printed
    assert answer["status"] == "completed" and refused == 403
    assert own["name"] == "alice" and own["remaining_usd"] == 5 and own["requests"] == 1
    assert spend["data"][0]["requests"] == 1


def test_keys_cli_against_the_store(fake: FakeUpstream, store_url: str, tmp_path: Path) -> None:
    """``ferryman keys create|list|revoke`` on the config's store: the key printed once works on a gateway
    on that store, the list never shows it, and a revoked key is refused."""
    fake.add("/v1/responses", _unique)
    config = tmp_path / "ferryman.yaml"
    config.write_text(f"store: '{store_url}'\ngovernance: {{master_key: env.FM_MASTER}}\n")
    src = str(Path(__file__).resolve().parents[1] / "src")

    def keys(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ferryman", "keys", *argv, "--config", str(config)],
            env={**os.environ, **ENV, "PYTHONPATH": src},
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = keys("create", "--name", "cli", "--models", "smart", "--rpm", "7")
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert record["key"].startswith("sk-fm-") and record["models"] == ["smart"] and record["limits"]["rpm"] == 7
    listed = keys("list")
    assert record["id"] in listed.stdout and record["key"] not in listed.stdout and "key_hash" not in listed.stdout
    with GatewayServer(_config(fake, store_url), ENV) as server:
        gov = Gov(server, Clock())
        assert gov.client(record["key"]).responses.create(model="smart", input="hi").output_text
    revoked = keys("revoke", record["id"])
    assert revoked.returncode == 0 and record["id"] in revoked.stdout
    with GatewayServer(_config(fake, store_url), ENV) as server, pytest.raises(openai.AuthenticationError):
        Gov(server, Clock()).client(record["key"]).responses.create(model="smart", input="hi")
    missing = keys("revoke", "key_nope")
    assert missing.returncode == 1 and "key_nope" in missing.stderr
