"""The GenAI client metrics of the OpenTelemetry conventions, exported over OTLP with the traces:
``gen_ai.client.token.usage`` (tokens per answer, by ``gen_ai.token.type``: ``input`` or ``output``) and
``gen_ai.client.operation.duration`` (seconds per request, with ``error.type`` when it failed), with the
conventions' bucket boundaries."""

from __future__ import annotations

from opentelemetry.metrics import Meter
from opentelemetry.util.types import AttributeValue

Attributes = dict[str, AttributeValue]

TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


class GenAIMetrics:
    def __init__(self, meter: Meter) -> None:
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def record(
        self, attributes: Attributes, seconds: float, input_tokens: int | None, output_tokens: int | None
    ) -> None:
        self.duration.record(seconds, attributes)
        if input_tokens is not None:
            self.tokens.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        if output_tokens is not None:
            self.tokens.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
