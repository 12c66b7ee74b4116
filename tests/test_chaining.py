"""``previous_response_id`` is echoed by every provider, as OpenAI echoes it: in the reply, the stored
record and every response snapshot of a stream, whoever served the turn (here the translated mock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.gateway import GatewayServer


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    store = tmp_path_factory.mktemp("chain") / "ferryman.db"
    with GatewayServer({"store": f"sqlite:///{store}"}) as server:
        yield server


@pytest.fixture
def sdk(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="client-key", max_retries=0)


def test_a_translated_turn_echoes_previous_response_id(sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(model="mock/echo", input="The capital of France?")
    assert first.previous_response_id is None
    second = sdk.responses.create(model="mock/echo", input="And Italy?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert sdk.responses.retrieve(second.id).previous_response_id == first.id


def test_a_translated_stream_echoes_previous_response_id_in_every_snapshot(sdk: openai.OpenAI) -> None:
    first = sdk.responses.create(model="mock/echo", input="The capital of France?")
    with sdk.responses.stream(model="mock/echo", input="And Italy?", previous_response_id=first.id) as stream:
        snapshots = [ev.response for ev in stream if hasattr(ev, "response")]
        final = stream.get_final_response()
    assert [s.previous_response_id for s in snapshots] == [first.id] * len(snapshots)
    assert len(snapshots) >= 3  # created, in_progress, completed
    assert final.previous_response_id == first.id
    assert sdk.responses.retrieve(final.id).previous_response_id == first.id


def test_the_history_still_reaches_the_provider(sdk: openai.OpenAI, tmp_path: Path) -> None:
    first = sdk.responses.create(model="mock/echo", input="first words")
    second = sdk.responses.create(
        model="mock/echo",
        input="second words",
        previous_response_id=first.id,
        extra_headers={"x-ferryman-send-back-raw": "true"},
    )
    sent = second.model_extra["extra_fields"]["raw_request"]  # type: ignore[index]
    assert "previous_response_id" not in sent  # resolved by the gateway, not sent on
    texts = [
        part["text"] for item in sent["input"] for part in item["content"] if isinstance(item.get("content"), list)
    ]
    assert texts[0] == "first words" and texts[-1] == "second words"
