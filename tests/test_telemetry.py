"""OpenTelemetry: the spans and GenAI metrics of requests through a real gateway, received by an in-test
OTLP/HTTP receiver (the fake upstream, answering POST /v1/traces and /v1/metrics, decoded with the OTLP
protobuf messages); the client's trace continued and ours sent to the provider; nothing of OpenTelemetry
imported without a ``telemetry`` section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ferryman.config import ConfigError, config_from_dict, secret_values
from tests.conftest import base_config
from tests.fakes.gateway import GatewayServer
from tests.fakes.upstream import FakeUpstream, Reply

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
OTLP_OK = Reply(status=200, body=b"", headers={"content-type": "application/x-protobuf"})
EXPORT_KEY = "otlp-ingest-key-0123456789"


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attrs(span: Span) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in span.attributes}


def received_spans(fake: FakeUpstream) -> list[Span]:
    spans: list[Span] = []
    for received in fake.requests_to("/v1/traces"):
        assert received.headers["Content-Type"] == "application/x-protobuf"
        assert received.headers["x-otlp-key"] == EXPORT_KEY
        export = ExportTraceServiceRequest.FromString(received.body)
        for resource in export.resource_spans:
            assert {kv.key: _value(kv.value) for kv in resource.resource.attributes}["service.name"] == "ferryman-test"
            spans += [span for scope in resource.scope_spans for span in scope.spans]
    return spans


def received_metrics(fake: FakeUpstream) -> dict[str, list[Any]]:
    """Every histogram data point received, by metric name."""
    points: dict[str, list[Any]] = {}
    for received in fake.requests_to("/v1/metrics"):
        export = ExportMetricsServiceRequest.FromString(received.body)
        for resource in export.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points.setdefault(metric.name, []).extend(metric.histogram.data_points)
    return points


def sent_contexts(fake: FakeUpstream) -> list[tuple[str, str, bool]]:
    """The W3C trace context each provider call was sent: (trace id, parent span id, sampled)."""
    contexts = []
    for received in fake.requests_to("/v1/responses"):
        version, trace_id, parent, flags = received.headers["traceparent"].split("-")
        assert version == "00"
        contexts.append((trace_id, parent, bool(int(flags, 16) & 1)))
    return contexts


def telemetry_config(fake: FakeUpstream, **extra: Any) -> dict[str, Any]:
    config = base_config(fake, **extra)
    config["telemetry"] = {
        "otlp_endpoint": fake.url,
        "service_name": "ferryman-test",
        "headers": {"x-otlp-key": "env.OTLP_KEY"},
    }
    return config


def run(
    fake: FakeUpstream,
    config: dict[str, Any],
    *requests: tuple[dict[str, Any], dict[str, str]],
    environ: dict[str, str] | None = None,
) -> list[httpx.Response]:
    """The requests through a gateway that is then shut down: its shutdown exports every span and metric."""
    fake.add("/v1/traces", OTLP_OK)
    fake.add("/v1/metrics", OTLP_OK)
    with GatewayServer(config, {"OTLP_KEY": EXPORT_KEY, **(environ or {})}) as gw:
        replies = [httpx.post(f"{gw.url}/v1/responses", json=body, headers=headers) for body, headers in requests]
    return replies


# OTEL_SEMCONV_STABILITY_OPT_IN as the OpenTelemetry spec defines it (a comma-separated list of opt-ins)
LATEST = {"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup, gen_ai_latest_experimental"}


def released_and_latest(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The GenAI attributes of an answered request's span, under each version of the conventions."""
    usage = answer["usage"]
    same = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": request["model"],
        "gen_ai.request.temperature": request["temperature"],
        "gen_ai.request.top_p": request["top_p"],
        "gen_ai.request.max_tokens": request["max_output_tokens"],
        "gen_ai.response.model": answer["model"],
        "gen_ai.response.id": answer["id"],
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.response.finish_reasons": ["stop"],
    }
    return {
        "released": {  # v1.36: gen_ai.system (and the name that replaced it), OpenAI's fields under gen_ai.openai.*
            **same,
            "gen_ai.system": "openai",
            "gen_ai.provider.name": "openai",
            "gen_ai.openai.request.response_format": request["text"]["format"]["type"],
            "gen_ai.openai.request.service_tier": request["service_tier"],
            "gen_ai.openai.response.service_tier": answer["service_tier"],
        },
        "latest": {  # gen_ai.provider.name, gen_ai.output.type, openai.*, the usage details
            **same,
            "gen_ai.provider.name": "openai",
            "gen_ai.output.type": "json",
            "openai.request.service_tier": request["service_tier"],
            "openai.response.service_tier": answer["service_tier"],
            "gen_ai.usage.cache_read.input_tokens": usage["input_tokens_details"]["cached_tokens"],
            "gen_ai.usage.reasoning.output_tokens": usage["output_tokens_details"]["reasoning_tokens"],
        },
    }


@pytest.mark.parametrize("conventions", ["released", "latest"])
def test_request_span_follows_genai_conventions_with_a_child_per_attempt(fake: FakeUpstream, conventions: str) -> None:
    down = Reply(status=503, headers={"retry-after-ms": "1"}, json={"error": {"message": "down"}})
    fake.add("/v1/responses", down, times=1)
    fake.add("/v1/responses", Reply.fixture("openai-responses/structured_output_json_schema"), times=1)
    config = telemetry_config(fake)
    config["providers"]["openai"]["max_retries"] = 1
    body = {
        "model": "smart",
        "input": "Where is the largest city?",
        "temperature": 0.5,
        "top_p": 0.9,
        "max_output_tokens": 100,
        "service_tier": "priority",
        "text": {"format": {"type": "json_schema", "name": "City", "schema": {"type": "object"}}},
    }
    environ = LATEST if conventions == "latest" else {}
    (reply,) = run(fake, config, (body, {"traceparent": TRACEPARENT}), environ=environ)
    assert reply.status_code == 200, reply.text
    answer = reply.json()

    spans = received_spans(fake)
    (request,) = [s for s in spans if s.parent_span_id == bytes.fromhex(CLIENT_SPAN)]
    assert request.name == "chat smart"
    assert request.kind == Span.SPAN_KIND_CLIENT
    assert request.trace_id.hex() == TRACE_ID
    assert request.status.code != Status.STATUS_CODE_ERROR
    a = attrs(request)
    assert {k: v for k, v in a.items() if not k.startswith("ferryman.")} == released_and_latest(body, answer)[
        conventions
    ]
    assert a["ferryman.provider"] == "openai" and a["ferryman.model_deployment"] == "gpt-4o"

    # a child per attempt: the retry's 503, then the 200, in order and inside the request's span
    children = sorted((s for s in spans if s.parent_span_id == request.span_id), key=lambda s: s.start_time_unix_nano)
    assert [attrs(c)["http.response.status_code"] for c in children] == [503, 200]
    assert len(spans) == 3
    for child in children:
        c = attrs(child)
        assert child.name == "chat gpt-4o" and child.kind == Span.SPAN_KIND_CLIENT
        assert child.trace_id.hex() == TRACE_ID
        assert c["gen_ai.provider.name"] == "openai" and c["gen_ai.request.model"] == "gpt-4o"
        assert c.get("gen_ai.system") == ("openai" if conventions == "released" else None)
        assert c["server.address"] == "127.0.0.1" and c["server.port"] == fake.port
        assert request.start_time_unix_nano <= child.start_time_unix_nano < child.end_time_unix_nano
        assert child.end_time_unix_nano <= request.end_time_unix_nano
    assert children[0].end_time_unix_nano <= children[1].start_time_unix_nano
    assert children[0].status.code == Status.STATUS_CODE_ERROR and attrs(children[0])["error.type"] == "503"
    assert children[1].status.code != Status.STATUS_CODE_ERROR

    # the provider was sent our trace context: the client's trace, the request's span as parent
    assert sent_contexts(fake) == [(TRACE_ID, request.span_id.hex(), True)] * 2

    # the GenAI metrics: the answer's tokens by type, one duration
    metrics = received_metrics(fake)
    tokens = {
        {kv.key: _value(kv.value) for kv in p.attributes}["gen_ai.token.type"]: p.sum
        for p in metrics["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": answer["usage"]["input_tokens"], "output": answer["usage"]["output_tokens"]}
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert duration.count == 1
    assert {kv.key: _value(kv.value) for kv in duration.attributes} == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        **({"gen_ai.system": "openai"} if conventions == "released" else {}),
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": answer["model"],
    }


def test_a_failed_request_has_an_error_span_and_a_new_trace_without_traceparent(fake: FakeUpstream) -> None:
    down = Reply(status=503, headers={"retry-after-ms": "1"}, json={"error": {"message": "down"}})
    fake.add("/v1/responses", down)
    config = telemetry_config(fake)
    config["providers"]["openai"]["max_retries"] = 1
    (reply,) = run(fake, config, ({"model": "openai/gpt-4o", "input": "hi"}, {}))
    assert reply.status_code == 503, reply.text

    spans = received_spans(fake)
    (request,) = [s for s in spans if not s.parent_span_id]
    assert request.name == "chat openai/gpt-4o"
    assert request.trace_id.hex() != TRACE_ID
    assert request.status.code == Status.STATUS_CODE_ERROR
    a = attrs(request)
    assert a["error.type"] == reply.json()["error"]["code"] or a["error.type"] == reply.json()["error"]["type"]
    assert "gen_ai.response.id" not in a and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.system"] == "openai"  # the default conventions: v1.36's name too
    children = [s for s in spans if s.parent_span_id == request.span_id]
    assert [attrs(c)["http.response.status_code"] for c in children] == [503, 503]
    assert sent_contexts(fake) == [(request.trace_id.hex(), request.span_id.hex(), True)] * 2


@pytest.mark.parametrize(("environ", "released"), [({}, True), (LATEST, False)])
def test_mock_provider_and_a_stream(fake: FakeUpstream, environ: dict[str, str], released: bool) -> None:
    fake.add("/v1/traces", OTLP_OK)
    fake.add("/v1/metrics", OTLP_OK)
    with GatewayServer(telemetry_config(fake), {"OTLP_KEY": EXPORT_KEY, **environ}) as gw:
        body = {"model": "mock/echo-1", "input": "hello there", "stream": True}
        with httpx.stream("POST", f"{gw.url}/v1/responses", json=body) as resp:
            assert resp.status_code == 200
            final = [json.loads(line[6:]) for line in resp.iter_lines() if '"response.completed"' in line]
    (request,) = [s for s in received_spans(fake) if not s.parent_span_id]
    a = attrs(request)
    answer = final[0]["response"]
    assert a["gen_ai.provider.name"] == "ferryman.mock"
    assert a.get("gen_ai.system") == ("ferryman.mock" if released else None)  # v1.36's name only by default
    assert a["gen_ai.response.id"] == answer["id"]
    assert a["gen_ai.usage.output_tokens"] == answer["usage"]["output_tokens"] > 0


def test_telemetry_config_is_checked_and_its_headers_are_secrets() -> None:
    data = {"telemetry": {"otlp_endpoint": "http://collector:4318/", "headers": {"x-api-key": "env.OTLP_KEY"}}}
    config = config_from_dict(data, {"OTLP_KEY": EXPORT_KEY})
    assert config.telemetry is not None and config.telemetry.otlp_endpoint == "http://collector:4318"
    assert config.telemetry.service_name == "ferryman"
    assert EXPORT_KEY in secret_values(config)
    assert EXPORT_KEY not in repr(config)
    with pytest.raises(ConfigError, match="telemetry.headers.x-api-key: env.OTLP_KEY is not set"):
        config_from_dict(data, {})
    with pytest.raises(ConfigError, match="telemetry.otlp_endpoint"):
        config_from_dict({"telemetry": {"otlp_endpoint": "collector:4318"}}, {})
    with pytest.raises(ConfigError, match="unknown key 'endpoint'"):
        config_from_dict({"telemetry": {"endpoint": "http://collector:4318"}}, {})


_PROBE = """
import sys, httpx
from tests.fakes.gateway import GatewayServer
config = {"store": False, "providers": {}, "models": []}
if sys.argv[1] == "on":
    config["telemetry"] = {"otlp_endpoint": sys.argv[2]}
with GatewayServer(config) as gw:
    assert httpx.post(f"{gw.url}/v1/responses", json={"model": "mock/x", "input": "hi"}).status_code == 200
print(sorted({m.split(".")[0] for m in sys.modules if m.startswith("opentelemetry")}))
"""


@pytest.mark.parametrize(("section", "loaded"), [("off", "[]"), ("on", "['opentelemetry']")])
def test_opentelemetry_is_imported_only_with_a_telemetry_section(fake: FakeUpstream, section: str, loaded: str) -> None:
    fake.add("/v1/traces", OTLP_OK)
    fake.add("/v1/metrics", OTLP_OK)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, section, fake.url],
        cwd=root,
        env={"PYTHONPATH": f"{root / 'src'}:{root}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == loaded
