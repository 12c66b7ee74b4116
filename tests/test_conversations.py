"""The Conversations API, kept by Ferryman, through the official openai SDK, on SQLite and PostgreSQL.

A conversation's items are prepended to a response's input and the turn's items appended to it, whatever
the provider: here a fake Anthropic Messages upstream and a fake Chat Completions one, each answering with
what it was sent (the last user message and how many user messages it saw), so what the provider got is
what the test checks, streamed and not. A conversation is its creator's alone: anyone else gets a 404.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.agent_model import WIRES, Wire
from tests.fakes.gateway import GatewayServer, wait_for
from tests.fakes.upstream import FakeUpstream, Received, Reply

ANTHROPIC, CHAT = WIRES["anthropic"], WIRES["groq"]
MODELS = {"anthropic": ("anthropic/claude-haiku-4-5", ANTHROPIC), "chat": ("groq/llama-3.3-70b-versatile", CHAT)}


def _config(fake: FakeUpstream, store: str | bool) -> dict[str, Any]:
    keys = [{"value": "sk-test-provider-secret"}]
    return {
        "store": store,
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": fake.url, "keys": keys, "max_retries": 0},
            "groq": {"type": "openai-chat", "base_url": f"{fake.url}/openai/v1", "keys": keys, "max_retries": 0},
        },
    }


def _client(gw: GatewayServer, key: str = "client-a") -> openai.OpenAI:
    """The SDK on the gateway, with ``key`` as its credential (whose hash owns what it creates)."""
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


@pytest.fixture
def gw(fake: FakeUpstream, store_url: str) -> Iterator[GatewayServer]:
    with GatewayServer(_config(fake, store_url)) as server:
        yield server


def _texts(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or () if isinstance(part, dict))


def _user_texts(body: Any) -> list[str]:
    """The user texts a provider was sent, a part each (Anthropic merges consecutive user turns into one
    message of several text blocks; Chat Completions keeps a message each)."""
    said: list[str] = []
    for message in body["messages"]:
        if message["role"] == "user":
            content = message["content"]
            said.extend([content] if isinstance(content, str) else [p["text"] for p in content if "text" in p])
    return said


def _echo(wire: Wire) -> Any:
    """A provider that answers with what it heard: the last user message and the count of user messages."""

    def answer(received: Received) -> Reply:
        said = _user_texts(received.json)
        return wire.text(f"heard {len(said)}: {said[-1]}", wire.streams(received))

    return answer


def _serve(fake: FakeUpstream, wire: Wire) -> None:
    for path in wire.paths("any"):
        fake.add(path, _echo(wire))


def _ask(client: openai.OpenAI, model: str, text: str, conversation: Any, stream: bool) -> Any:
    if not stream:
        return client.responses.create(model=model, input=text, conversation=conversation)
    with client.responses.stream(model=model, input=text, conversation=conversation) as events:
        return events.get_final_response()


def test_conversation_objects_and_items(gw: GatewayServer) -> None:
    client = _client(gw)
    conv = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "first"}, {"role": "assistant", "content": "noted"}],
        metadata={"topic": "demo"},
    )
    assert conv.id.startswith("conv_") and conv.object == "conversation" and conv.metadata == {"topic": "demo"}
    got = client.conversations.retrieve(conv.id)
    assert (got.id, got.created_at, got.metadata) == (conv.id, conv.created_at, {"topic": "demo"})
    assert client.conversations.update(conv.id, metadata={"topic": "changed"}).metadata == {"topic": "changed"}
    assert client.conversations.retrieve(conv.id).metadata == {"topic": "changed"}

    added = client.conversations.items.create(conv.id, items=[{"role": "user", "content": "second"}])
    assert [_texts(i.model_dump()["content"]) for i in added.data] == ["second"]
    assert added.first_id == added.last_id == added.data[0].id

    listed = client.conversations.items.list(conv.id, order="asc")
    assert [(i.role, i.content[0].text) for i in listed.data] == [  # type: ignore[union-attr]
        ("user", "first"),
        ("assistant", "noted"),
        ("user", "second"),
    ]
    assert all(i.type == "message" and i.status == "completed" for i in listed.data)  # type: ignore[union-attr]
    newest = client.conversations.items.list(conv.id, limit=2)  # desc by default
    assert [i.id for i in newest.data] == [i.id for i in reversed(listed.data)][:2]
    assert newest.has_more and newest.last_id == listed.data[1].id
    rest = client.conversations.items.list(conv.id, limit=2, after=newest.last_id)
    assert [i.id for i in rest.data] == [listed.data[0].id] and not rest.has_more
    every = [i.id for i in client.conversations.items.list(conv.id, order="asc", limit=1)]  # the SDK pages on
    assert every == [i.id for i in listed.data]

    one = client.conversations.items.retrieve(listed.data[1].id, conversation_id=conv.id)
    assert one.id == listed.data[1].id and one.content[0].text == "noted"  # type: ignore[union-attr]
    after_delete = client.conversations.items.delete(listed.data[1].id, conversation_id=conv.id)
    assert after_delete.id == conv.id and after_delete.object == "conversation"
    assert [i.id for i in client.conversations.items.list(conv.id, order="asc")] == [
        listed.data[0].id,
        listed.data[2].id,
    ]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(listed.data[1].id, conversation_id=conv.id)

    for prefix in ("/openai/v1", "/litellm", ""):  # every route prefix
        got_raw = httpx.get(f"{gw.url}{prefix}/conversations/{conv.id}", headers={"authorization": "Bearer client-a"})
        assert got_raw.json()["id"] == conv.id

    deleted = client.conversations.delete(conv.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (conv.id, "conversation.deleted", True)
    for gone in (
        lambda: client.conversations.retrieve(conv.id),
        lambda: client.conversations.items.list(conv.id),
        lambda: client.conversations.items.create(conv.id, items=[{"role": "user", "content": "again"}]),
        lambda: client.conversations.delete(conv.id),
    ):
        with pytest.raises(openai.NotFoundError):
            gone()


@pytest.mark.parametrize("provider", ["anthropic", "chat"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_responses_read_and_extend_the_conversation(
    fake: FakeUpstream, gw: GatewayServer, provider: str, stream: bool
) -> None:
    model, wire = MODELS[provider]
    _serve(fake, wire)
    client = _client(gw)
    conv = client.conversations.create(items=[{"role": "user", "content": "my name is Ada"}])

    first = _ask(client, model, "what is my name?", conv.id, stream)
    assert first.conversation is not None and first.conversation.id == conv.id
    sent = fake.received[-1].json
    assert "conversation" not in sent  # no provider hears of it: the items went instead
    assert _user_texts(sent) == ["my name is Ada", "what is my name?"]
    assert first.output_text == "heard 2: what is my name?"

    second = _ask(client, model, "and again?", {"id": conv.id}, stream)  # the object form too
    assert second.conversation is not None and second.conversation.id == conv.id
    sent = fake.received[-1].json
    assert _user_texts(sent) == ["my name is Ada", "what is my name?", "and again?"]
    assistant = [_texts(m["content"]) for m in sent["messages"] if m["role"] == "assistant"]
    assert assistant == [first.output_text]

    items = client.conversations.items.list(conv.id, order="asc").data
    texts = [(i.role, i.content[0].text) for i in items]  # type: ignore[union-attr]
    assert texts == [
        ("user", "my name is Ada"),
        ("user", "what is my name?"),
        ("assistant", first.output_text),
        ("user", "and again?"),
        ("assistant", second.output_text),
    ]
    assert items[2].id == first.output[0].id and items[4].id == second.output[0].id  # the answers' own items
    assert client.responses.retrieve(second.id).conversation.id == conv.id  # type: ignore[union-attr]


def test_a_conversation_is_its_creators_alone(fake: FakeUpstream, gw: GatewayServer) -> None:
    _serve(fake, ANTHROPIC)
    owner, intruder = _client(gw, "client-a"), _client(gw, "client-b")
    conv = owner.conversations.create(items=[{"role": "user", "content": "secret"}])
    for attempt in (
        lambda: intruder.conversations.retrieve(conv.id),
        lambda: intruder.conversations.update(conv.id, metadata={"x": "y"}),
        lambda: intruder.conversations.items.list(conv.id),
        lambda: intruder.conversations.items.create(conv.id, items=[{"role": "user", "content": "mine now"}]),
        lambda: intruder.conversations.delete(conv.id),
        lambda: intruder.responses.create(model=MODELS["anthropic"][0], input="tell me", conversation=conv.id),
    ):
        with pytest.raises(openai.NotFoundError) as info:
            attempt()
        assert "secret" not in str(info.value.body)
    assert fake.received == []  # the refused response reached no provider
    assert [i.content[0].text for i in owner.conversations.items.list(conv.id).data] == ["secret"]  # type: ignore[union-attr]
    assert owner.conversations.retrieve(conv.id).metadata == {}


def test_errors(fake: FakeUpstream, gw: GatewayServer) -> None:
    client = _client(gw)
    model = MODELS["anthropic"][0]
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model=model, input="hi", conversation="conv_unknown")
    assert info.value.body["param"] == "conversation" and info.value.body["code"] == "not_found"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve("conv_unknown")

    conv = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model=model, input="hi", conversation=conv.id, previous_response_id="resp_1")
    assert bad.value.body["code"] == "mutually_exclusive_parameters"  # type: ignore[index]
    assert fake.received == []

    too_many = [{"role": "user", "content": str(n)} for n in range(21)]
    with pytest.raises(openai.BadRequestError) as bad:
        client.conversations.items.create(conv.id, items=too_many)
    assert bad.value.body["param"] == "items"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        client.conversations.create(items=[{"type": "message", "role": "user"}])
    assert bad.value.body["param"] == "items[0].content"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        client.conversations.create(metadata={"k": "v" * 513})
    assert bad.value.body["param"] == "metadata"  # type: ignore[index]
    assert client.conversations.items.list(conv.id).data == []  # nothing refused was kept


def test_a_deleted_conversation_stays_deleted(fake: FakeUpstream, gw: GatewayServer) -> None:
    """An answer still running when its conversation is deleted adds nothing: the conversation stays gone."""
    model, wire = MODELS["anthropic"]
    fake.add(wire.paths("any")[0], Reply(held=True, json=wire.text("late", stream=False).json))
    client = _client(gw)
    conv = client.conversations.create(items=[{"role": "user", "content": "hello"}])
    answered: list[Any] = []
    turn = threading.Thread(
        target=lambda: answered.append(client.responses.create(model=model, input="go on", conversation=conv.id))
    )
    turn.start()
    wait_for(lambda: fake.received)
    client.conversations.delete(conv.id)
    fake.release()
    turn.join(30)
    assert answered and answered[0].output_text == "late"  # the client still has its answer
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.list(conv.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=model, input="more", conversation=conv.id)


def test_without_a_store_the_routes_say_so(fake: FakeUpstream) -> None:
    with GatewayServer(_config(fake, False)) as gw:
        client = _client(gw)
        with pytest.raises(openai.NotFoundError) as info:
            client.conversations.create()
        assert info.value.body["code"] == "store_not_configured"  # type: ignore[index]
        assert "store" in info.value.body["message"]  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            client.conversations.items.list("conv_x")
        with pytest.raises(openai.BadRequestError) as bad:
            client.responses.create(model=MODELS["anthropic"][0], input="hi", conversation="conv_x")
        assert bad.value.body["code"] == "store_not_configured"  # type: ignore[index]
    assert fake.received == []


def test_with_governance_a_virtual_key_owns_its_conversations(tmp_path: Any) -> None:
    """With governance a key is needed (else 401); a virtual key's conversations are its own, and the
    built-in mock provider answers in them too."""
    master = "fm-master-key-0123456789"
    config = {"store": f"sqlite:///{tmp_path}/f.db", "governance": {"master_key": "env.FM_MASTER"}}
    with GatewayServer(config, {"FM_MASTER": master}) as gw:
        made = httpx.post(f"{gw.url}/admin/keys", json={"name": "alice"}, headers={"authorization": f"Bearer {master}"})
        alice = _client(gw, made.json()["key"])
        with pytest.raises(openai.AuthenticationError):
            _client(gw, "not-a-key").conversations.create()
        conv = alice.conversations.create(items=[{"role": "user", "content": "remember 42"}])
        reply = alice.responses.create(model="mock/echo", input="what number?", conversation=conv.id)
        assert reply.output_text == "what number?" and reply.conversation.id == conv.id  # type: ignore[union-attr]
        assert len(alice.conversations.items.list(conv.id).data) == 3
        with pytest.raises(openai.NotFoundError):
            _client(gw, master).conversations.retrieve(conv.id)
