"""The metrics hook: a handful of counter increments per request, on children bound once per label set.

What it counts (every family on the gateway's own registry; ``route.py`` serves them):

- ``ferryman_requests_total{route,provider,model,status}``: ``status`` is what the client got (200 from
  ``after``, even for a stream whose final event says ``failed``; the error's status from ``failed``);
- ``ferryman_request_duration_seconds{route,provider,model}``, ``ferryman_overhead_seconds`` (the
  gateway's own time, ``Exchange.overhead_seconds``), ``ferryman_time_to_first_token_seconds{provider,model}``
  (a relayed stream's first delta, or its end when it has none);
- ``ferryman_tokens_total{provider,model,type}`` and ``ferryman_cost_usd_total{provider,model}`` from the
  answer's usage (a cache hit used no provider: none);
- ``ferryman_upstream_requests_total{provider,status}``: every attempt, retries and fallbacks included;
- ``ferryman_in_flight_requests``, ``ferryman_cache_hits_total{type}``, ``ferryman_rate_limited_total`` and
  ``ferryman_budget_exceeded_total`` (governance's refusals), ``ferryman_log_entries_dropped_total``.

Labels stay bounded: ``provider`` and ``model`` are the target that served the request (a configured
provider and the deployment it answered for), never the model name a client typed; a request no provider
answered has its last attempt's provider (or none) and an empty model. No key ids, no user text.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry

from ferryman.gateway.exchange import Exchange
from ferryman.gateway.hooks import EVERY_OPERATION, Hook, Pending
from ferryman.gateway.usage import token_counts
from ferryman.plugins.metrics import MULTIPROC_ENV, local
from ferryman.schemas.errors import FerrymanError

NAME = "metrics"
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
CACHE_HIT_TYPES = ("direct", "semantic")  # the cache's own words (its cache_debug.hit_type)


def _no_drops() -> int:
    return 0


class Families:
    """Every metric family, on one registry (the gateway's own: two gateways in a process never share):
    prometheus_client's own with several workers (``shared``: they write every update to the files a scrape
    sums), else ``local``'s, the same on plain numbers (a process's own, updated from its event loop)."""

    def __init__(self, registry: CollectorRegistry, *, shared: bool) -> None:
        r = registry
        kinds: Any = prometheus_client if shared else local
        Counter, Gauge, Histogram = kinds.Counter, kinds.Gauge, kinds.Histogram  # the chosen kind's classes
        self.requests = Counter(
            "ferryman_requests", "Client requests, by the status the client got.",
            ["route", "provider", "model", "status"], registry=r,
        )  # fmt: skip
        self.duration = Histogram(
            "ferryman_request_duration_seconds", "Client requests, from arrival to the final answer.",
            ["route", "provider", "model"], buckets=DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "ferryman_time_to_first_token_seconds", "Relayed streams, from arrival to the first delta.",
            ["provider", "model"], buckets=TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.overhead = Histogram(
            "ferryman_overhead_seconds", "The time the gateway itself spent on a request (not waiting for providers).",
            buckets=OVERHEAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "ferryman_tokens", "Tokens of provider answers, by type.", ["provider", "model", "type"], registry=r
        )
        self.cost = Counter("ferryman_cost_usd", "Cost of provider answers in USD.", ["provider", "model"], registry=r)
        self.upstream = Counter(
            "ferryman_upstream_requests", "Calls to providers (retries and fallbacks included), by status.",
            ["provider", "status"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge(
            "ferryman_in_flight_requests", "Client requests being answered.", registry=r, multiprocess_mode="livesum"
        )
        self.cache_hits = Counter("ferryman_cache_hits", "Answers from the cache, by type.", ["type"], registry=r)
        self.rate_limited = Counter("ferryman_rate_limited", "Requests refused by a rate limit.", registry=r)
        self.budget_exceeded = Counter("ferryman_budget_exceeded", "Requests refused by a spent budget.", registry=r)
        self.log_dropped = Counter(
            "ferryman_log_entries_dropped", "Request log entries dropped (the log's queue was full).", registry=r
        )


class Series:
    """One (route, provider, model)'s children, bound once: a request increments them without a label lookup.
    ``route`` is the door (``Exchange.operation``: ``responses``, ``embeddings``)."""

    __slots__ = (
        "cached", "cost", "duration", "families", "input", "model", "output", "provider", "reasoning",
        "requests", "route", "ttft",
    )  # fmt: skip

    def __init__(self, families: Families, route: str, provider: str, model: str) -> None:
        self.families, self.route, self.provider, self.model = families, route, provider, model
        self.duration = families.duration.labels(route, provider, model)
        self.ttft = families.ttft.labels(provider, model)
        tokens = families.tokens
        self.input = tokens.labels(provider, model, "input")
        self.output = tokens.labels(provider, model, "output")
        self.cached = tokens.labels(provider, model, "cached")
        self.reasoning = tokens.labels(provider, model, "reasoning")
        self.cost = families.cost.labels(provider, model)
        self.requests: dict[int, Any] = {}

    def request(self, status: int) -> Any:
        child = self.requests.get(status)
        if child is None:
            labels = (self.route, self.provider, self.model, str(status))
            child = self.requests[status] = self.families.requests.labels(*labels)
        return child


class MetricsHook(Hook):
    name = NAME
    observes = True  # counts what was answered, once the client has it
    needs_targets = False  # first of the ``before`` parts: every request is in flight, refused ones too
    operations = EVERY_OPERATION

    def __init__(self, dropped: Callable[[], int] = _no_drops) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.families = families = Families(self.registry, shared=self.multiprocess)
        self._series: dict[tuple[str, str, str], Series] = {}
        self._upstream: dict[tuple[str, int], Any] = {}
        self._cache_hits = {kind: families.cache_hits.labels(kind) for kind in CACHE_HIT_TYPES}
        self._dropped = dropped  # the request log's count of dropped entries (0 without a log)
        self._dropped_seen = 0

    def series(self, route: str, provider: str, model: str) -> Series:
        found = self._series.get((route, provider, model))
        if found is None:
            found = self._series[(route, provider, model)] = Series(self.families, route, provider, model)
        return found

    async def before(self, ex: Exchange) -> None:
        self.families.in_flight.inc()
        ex.state[NAME] = False  # in flight, no token yet

    def on_event(self, ex: Exchange, event_type: str | None) -> None:
        if ex.state.get(NAME) is not False or event_type is None:
            return
        if event_type.endswith(".delta") or event_type in TERMINAL:
            ex.state[NAME] = True
            target = ex.target
            if target is not None:
                self.series(ex.route, target.provider, target.deployment).ttft.observe(time.perf_counter() - ex.t0)

    def reads_output(self, ex: Exchange) -> bool:
        return False  # the usage: what it counts

    async def after(self, ex: Exchange, response: dict[str, Any]) -> Pending:
        series = self._end(ex, 200)
        if series is None:
            return None
        if ex.answer is not None:  # from the cache: no provider was asked
            debug = ex.cache_debug
            hit = self._cache_hits.get(debug.get("hit_type", "")) if debug is not None else None
            if hit is not None:
                hit.inc()
            return None
        usage = response.get("usage")
        if isinstance(usage, dict):
            input_tokens, output_tokens = token_counts(usage)
            if input_tokens > 0:
                series.input.inc(input_tokens)
            if output_tokens > 0:
                series.output.inc(output_tokens)
            details = usage.get("input_tokens_details")
            if isinstance(details, dict):
                _add(series.cached, details.get("cached_tokens"))
            details = usage.get("output_tokens_details")
            if isinstance(details, dict):
                _add(series.reasoning, details.get("reasoning_tokens"))
            cost = usage.get("cost")
            if isinstance(cost, dict):
                _add(series.cost, cost.get("total_cost"))
        return None

    async def failed(self, ex: Exchange, error: FerrymanError) -> None:
        if self._end(ex, error.status) is None or error.domain != "policy":
            return
        if error.code == "rate_limit_exceeded":
            self.families.rate_limited.inc()
        elif error.code == "budget_exceeded":
            self.families.budget_exceeded.inc()

    def _end(self, ex: Exchange, status: int) -> Series | None:
        """What every request counts once at its end (None if it already has, or never began here)."""
        if ex.state.pop(NAME, None) is None:
            return None
        families = self.families
        families.in_flight.dec()
        target = ex.target
        attempts = ex.attempts.log
        if target is not None:
            series = self.series(ex.route, target.provider, target.deployment)
        else:  # no provider answered: its provider, but not the model a client may have made up
            series = self.series(ex.route, attempts[-1].target.provider if attempts else "", "")
        series.request(status).inc()
        series.duration.observe(time.perf_counter() - ex.t0)
        families.overhead.observe(ex.overhead_seconds())
        for attempt in attempts:
            key = (attempt.target.provider, attempt.status)
            child = self._upstream.get(key)
            if child is None:
                child = self._upstream[key] = families.upstream.labels(key[0], str(key[1]))
            child.inc()
        dropped = self._dropped()
        if dropped > self._dropped_seen:  # a counter of this process's: every worker adds its own
            families.log_dropped.inc(dropped - self._dropped_seen)
            self._dropped_seen = dropped
        return series

    def stop(self) -> None:
        """At a worker's exit: its live gauge (in flight) leaves the sum of the others'."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


NUMBER = (int, float)  # made once: ``int | float`` in the call would make a union on every call


def _add(child: Any, value: Any) -> None:
    if isinstance(value, NUMBER) and value > 0:
        child.inc(value)
