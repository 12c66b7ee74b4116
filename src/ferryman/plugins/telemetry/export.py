"""The OpenTelemetry SDK set up for one gateway: a tracer and a meter of its own (never the process's
global providers, so two gateways in a process do not share them), exporting over OTLP/HTTP (protobuf).

Spans go through a ``BatchSpanProcessor`` and metrics through a ``PeriodicExportingMetricReader``: both
export from their own thread, so a request only appends a finished span to a bounded in-memory queue.
``shutdown`` flushes what is left and stops both, off the event loop (the exporters' calls block).
"""

from __future__ import annotations

import asyncio

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from ferryman.config import Telemetry

SCOPE = "ferryman"


class Exporters:
    """The gateway's tracer and meter, and the batched OTLP exporters behind them."""

    def __init__(self, config: Telemetry) -> None:
        resource = Resource.create({"service.name": config.service_name})
        headers = {name: secret.reveal() or "" for name, secret in config.headers.items()}
        base = config.otlp_endpoint
        self.spans = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers))
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(self.spans)
        self.tracer: Tracer = self.tracer_provider.get_tracer(SCOPE)
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics", headers=headers))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        self.meter: Meter = self.meter_provider.get_meter(SCOPE)

    async def shutdown(self) -> None:
        """What is queued is exported, then the exporters stop: each in a thread of its own (their HTTP calls
        block, and a collector that is down holds each for up to its export timeout, side by side)."""
        await asyncio.gather(
            asyncio.to_thread(self.tracer_provider.shutdown), asyncio.to_thread(self.meter_provider.shutdown)
        )
