"""Traces as a pipeline hook: a span per request with the OpenTelemetry GenAI conventions, a child span per
upstream attempt, and the GenAI client metrics.

``before`` starts the request's span (kind CLIENT, named ``chat {model}``, at the request's arrival) as a
child of the client's W3C ``traceparent`` when it sent one, and puts the span's own ``traceparent`` in
``ex.compat.headers``, so every provider call continues the trace. ``after`` (an answer: a provider's, a
cache hit) and ``failed`` (``error.type`` and an error status) add what the answer says (response model
and id, tokens, finish reason), one child span per ``ex.attempts`` entry at its own times (``perf_counter``
turned into epoch nanoseconds with one offset per request), and end the span. Ending a span only queues
it: ``export.py``'s batch processor exports from its own thread. Which names the attributes go by (the
released GenAI conventions, or the latest on ``OTEL_SEMCONV_STABILITY_OPT_IN``) is ``genai.Conventions``'.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import Hook, Pending
from ferryman.plugins.telemetry.genai import OPERATION, Conventions, finish_reasons, provider_name, server_of
from ferryman.plugins.telemetry.metrics import Attributes, GenAIMetrics
from ferryman.providers.base import Provider
from ferryman.schemas.errors import FerrymanError

NAME = "traces"
PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = ((b"traceparent", "traceparent"), (b"tracestate", "tracestate"))
# the usage details the latest conventions name: (the Responses usage's part, its field, the attribute)
_DETAILS = (
    ("input_tokens_details", "cached_tokens", "gen_ai.usage.cache_read.input_tokens"),
    ("output_tokens_details", "reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"),
)


class Where:
    """What the conventions call a configured provider, and where it is (bound once per provider)."""

    __slots__ = ("address", "names", "port")

    def __init__(self, provider: Provider, conventions: Conventions) -> None:
        self.names = conventions.provider_attributes(provider_name(provider.config))
        self.address, self.port = server_of(provider)


class TracesHook(Hook):
    name = NAME
    observes = True  # the span ends once the client has its reply
    needs_targets = False  # first of the ``before`` parts: a refused request has its span too

    def __init__(
        self,
        tracer: Tracer,
        providers: Mapping[str, Provider],
        metrics: GenAIMetrics | None = None,
        conventions: Conventions | None = None,
    ) -> None:
        self.tracer = tracer
        self.metrics = metrics
        self.conv = conventions if conventions is not None else Conventions(latest=False)
        self.where = {name: Where(provider, self.conv) for name, provider in providers.items()}

    async def before(self, ex: Exchange) -> None:
        carrier = {name: value for key, name in _TRACE_HEADERS if (value := ex.header(key)) is not None}
        parent = PROPAGATOR.extract(carrier) if carrier else None
        offset = time.time_ns() - time.perf_counter_ns()  # perf_counter() -> epoch ns, for this request
        req = ex.responses
        attributes: Attributes = {"gen_ai.operation.name": OPERATION, "gen_ai.request.model": req.model}
        if req.temperature is not None:
            attributes["gen_ai.request.temperature"] = req.temperature
        if req.top_p is not None:
            attributes["gen_ai.request.top_p"] = req.top_p
        if req.max_output_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = req.max_output_tokens
        if req.text is not None and req.text.format is not None:
            attributes[self.conv.output_type] = self.conv.output_value(req.text.format.type)
        if req.service_tier is not None:
            attributes[self.conv.request_tier] = req.service_tier
        span = self.tracer.start_span(
            f"{OPERATION} {req.model}",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=offset + int(ex.t0 * 1e9),
        )
        ex.state[NAME] = (span, offset)
        PROPAGATOR.inject(ex.compat.headers, context=trace.set_span_in_context(span))

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        started = ex.state.pop(NAME, None)
        if started is None:
            return None
        span, offset = started
        attributes: Attributes = {}
        model, response_id = response.get("model"), response.get("id")
        if isinstance(model, str):
            attributes["gen_ai.response.model"] = model
        if isinstance(response_id, str):
            attributes["gen_ai.response.id"] = response_id
        tier = response.get("service_tier")
        if isinstance(tier, str):
            attributes[self.conv.response_tier] = tier
        usage = response.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        input_tokens, output_tokens = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        if input_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = input_tokens
        if output_tokens is not None:
            attributes["gen_ai.usage.output_tokens"] = output_tokens
        if self.conv.latest:
            for part, name, attribute in _DETAILS:
                details = usage.get(part)
                count = _count(details.get(name)) if isinstance(details, dict) else None
                if count is not None:
                    attributes[attribute] = count
        attributes["gen_ai.response.finish_reasons"] = finish_reasons(response)
        if ex.answer is not None:  # from the cache: no provider was asked, no tokens were used
            attributes["ferryman.cache_hit"] = True
            input_tokens = output_tokens = None
        span.set_attributes(attributes)
        self._end(ex, span, offset, None, input_tokens, output_tokens, model if isinstance(model, str) else None)
        return None

    async def failed(self, ex: Exchange, error: FerrymanError) -> None:
        started = ex.state.pop(NAME, None)
        if started is None:
            return
        span, offset = started
        span.set_status(Status(StatusCode.ERROR, error.message))
        self._end(ex, span, offset, error.code or error.type, None, None, None)

    def _end(
        self,
        ex: Exchange,
        span: Span,
        offset: int,
        error_type: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        response_model: str | None,
    ) -> None:
        """The served target's attributes, a child span per attempt, the span's end and the metrics."""
        target = ex.target
        attempts = ex.attempts.log
        served = target.provider if target is not None else (attempts[-1].target.provider if attempts else None)
        where = self.where.get(served) if served is not None else None
        common: Attributes = {"gen_ai.operation.name": OPERATION}
        if where is not None:
            common.update(where.names)
        if error_type is not None:
            common["error.type"] = error_type
        span.set_attributes(common)
        if served is not None:
            span.set_attribute("ferryman.provider", served)
        if target is not None:
            span.set_attribute("ferryman.model_deployment", target.deployment)
        context = trace.set_span_in_context(span)
        for attempt in attempts:
            at = self.where.get(attempt.target.provider)
            attributes: Attributes = {
                "gen_ai.operation.name": OPERATION,
                "gen_ai.request.model": attempt.target.deployment,
                "ferryman.provider": attempt.target.provider,
                "http.response.status_code": attempt.status,
            }
            if at is not None:
                attributes.update(at.names)
                if at.address is not None:
                    attributes["server.address"] = at.address
                if at.port is not None:
                    attributes["server.port"] = at.port
            if attempt.status != 200:
                attributes["error.type"] = str(attempt.status)
            child = self.tracer.start_span(
                f"{OPERATION} {attempt.target.deployment}",
                context=context,
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=offset + int(attempt.started * 1e9),
            )
            if attempt.status != 200:
                child.set_status(Status(StatusCode.ERROR))
            child.end(end_time=offset + int((attempt.started + attempt.seconds) * 1e9))
        now = time.perf_counter()
        span.end(end_time=offset + int(now * 1e9))
        if self.metrics is not None:
            if target is not None:  # the deployment, never a model name a client made up
                common["gen_ai.request.model"] = target.deployment
            if response_model is not None:
                common["gen_ai.response.model"] = response_model
            self.metrics.record(common, now - ex.t0, input_tokens, output_tokens)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
