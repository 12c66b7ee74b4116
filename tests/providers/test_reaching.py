"""How Ferryman reaches a provider, end to end with the openai SDK: a private CA (``ca_bundle``), a client
certificate (``client_cert`` / ``client_key``), and HTTP proxies (``proxy``, HTTPS_PROXY / HTTP_PROXY / NO_PROXY)."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import trustme

from tests.fakes.gateway import GatewayServer
from tests.fakes.proxy import FakeProxy
from tests.fakes.upstream import FakeUpstream, Reply

ANSWER = "The capital of France is Paris."  # what the recorded exchange served below says


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def serve_tls(ca: trustme.CA, *, require_client_cert: bool = False) -> FakeUpstream:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)  # client certificates this CA issued are accepted
    upstream = FakeUpstream(ssl_context=context).start()
    upstream.add("/v1/responses", Reply.fixture("openai-responses/text_basic"))
    return upstream


def ask(upstream: FakeUpstream, environ: dict[str, str] | None = None, **entry: Any) -> str:
    """One request through a gateway whose one provider is ``upstream``; its answer's text, or the error."""
    config = {
        "store": False,
        "providers": {"up": {"type": "openai", "base_url": f"{upstream.url}/v1", "max_retries": 0, **entry}},
        "models": [{"name": "smart", "target": "up/gpt-4o"}],
    }
    with GatewayServer(config, environ) as gateway:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="client-key", max_retries=0)
        try:
            return client.responses.create(model="smart", input="hi").output_text
        except openai.APIStatusError as exc:
            return f"{exc.status_code}: {exc.message}"


@pytest.fixture
def tls_upstream(ca: trustme.CA) -> Iterator[FakeUpstream]:
    upstream = serve_tls(ca)
    yield upstream
    upstream.stop()


def test_a_provider_behind_a_private_ca_is_reached_with_its_ca_bundle(
    ca: trustme.CA, tls_upstream: FakeUpstream, tmp_path: Path
) -> None:
    bundle = tmp_path / f"ca-{uuid.uuid4().hex}.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert "CERTIFICATE_VERIFY_FAILED" in ask(tls_upstream)  # the system's trust store does not know it
    assert ask(tls_upstream, ca_bundle=str(bundle)) == ANSWER
    assert ask(tls_upstream, verify_tls=False) == ANSWER  # said explicitly: no certificate check at all
    assert len(tls_upstream.received) == 2


def test_a_provider_that_requires_a_client_certificate_accepts_the_configured_one(
    ca: trustme.CA, tmp_path: Path
) -> None:
    upstream = serve_tls(ca, require_client_cert=True)
    bundle, cert, key = tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key"
    ca.cert_pem.write_to_path(str(bundle))
    client = ca.issue_cert("ferryman-client")
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    try:
        refused = ask(upstream, ca_bundle=str(bundle))
        assert refused.startswith("502") and not upstream.received  # no certificate, no request
        assert ask(upstream, ca_bundle=str(bundle), client_cert=str(cert), client_key=str(key)) == ANSWER
        assert len(upstream.received) == 1
    finally:
        upstream.stop()


def test_a_providers_proxy_carries_its_requests_through_a_tunnel(
    ca: trustme.CA, tls_upstream: FakeUpstream, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with FakeProxy() as proxy:
        entry = {"ca_bundle": str(bundle), "proxy": "env.CORP_PROXY"}
        assert ask(tls_upstream, {"CORP_PROXY": f"http://user:pw@127.0.0.1:{proxy.port}"}, **entry) == ANSWER
    assert proxy.tunnels == [f"localhost:{tls_upstream.port}"]
    assert proxy.authorizations == ["Basic dXNlcjpwdw=="]  # user:pw
