"""Every Responses route answers under each prefix, with and without ``/v1`` (clients whose base URL has no
``/v1`` call ``/responses`` itself)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.fakes.gateway import GatewayServer

PREFIXES = ["/v1", "/openai/v1", "/litellm/v1", "", "/openai", "/litellm"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    store = tmp_path_factory.mktemp("prefixes") / "ferryman.db"
    with GatewayServer({"store": f"sqlite:///{store}"}) as server:
        yield server


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_sdk_works_with_a_base_url_under_each_prefix(gw: GatewayServer, prefix: str) -> None:
    sdk = openai.OpenAI(base_url=f"{gw.url}{prefix}", api_key="k", max_retries=0)
    created = sdk.responses.create(model="mock/echo", input="ahoy")
    assert created.output_text == "ahoy"
    assert sdk.responses.retrieve(created.id).id == created.id
    items = sdk.responses.input_items.list(created.id)
    assert [item.type for item in items.data] == ["message"]
    with sdk.responses.stream(model="mock/echo", input="ahoy again") as stream:
        assert stream.get_final_response().output_text == "ahoy again"
    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)


def test_an_unknown_path_is_still_a_404_in_the_error_shape(gw: GatewayServer) -> None:
    resp = httpx.post(f"{gw.url}/v2/responses", json={"model": "mock/echo", "input": "x"})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "route_not_found"
