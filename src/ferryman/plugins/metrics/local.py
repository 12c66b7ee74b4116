"""Counter, Gauge and Histogram for a gateway in one process: prometheus_client's calls (``labels``, ``inc``,
``dec``, ``observe``) and its exposition, on plain Python numbers.

A gateway updates its metrics from its event loop only (one thread), so an update needs no lock, and the hook
only ever passes what a metric accepts, so it needs none of prometheus_client's checks either: its
``Counter.inc`` is 360 ns and ``Histogram.observe`` 730 ns (a lock, three Python calls), these are plain
additions, compiled with the hot path (``compiled.py``: an update from the hook is a C call, not a Python
frame; a labelled family's child is a metric of its kind on no registry). At a scrape each family hands
prometheus_client its samples (its ``*MetricFamily``, as a custom collector does), and prometheus_client
writes the text: the same names, labels, buckets, ``_created`` series and order as its own metrics'. With
several workers, whose values must be in the files every worker's scrape reads, the hook keeps
prometheus_client's own metrics (``hook.Families``).
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any, Self

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import INF, floatToGoString

# prometheus_client's own switch for the ``_created`` series (read as it reads it)
CREATED = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class _Family:
    """A metric family and, like prometheus_client's, a value of its own: a label-less metric is updated
    directly, a labelled one through the child ``labels`` binds (once per label set: the hook keeps it)."""

    __slots__ = ("_children", "_documentation", "_labelnames", "_name", "created")

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str] = (), *, registry: CollectorRegistry | None
    ) -> None:
        self._name, self._documentation, self._labelnames = name, documentation, tuple(labelnames)
        self._children: dict[tuple[str, ...], Self] = {}
        self.created = time.time()
        if registry is not None:  # (a child is its family's, not a registry's)
            registry.register(self)

    def labels(self, *values: str) -> Self:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._child()
        return child

    def _child(self) -> Self:
        """A value of this family's for one label set (a metric of its kind on no registry)."""
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        children: Iterable[tuple[tuple[str, ...], _Family]] = (
            self._children.items() if self._labelnames else [((), self)]
        )
        for values, child in children:
            child._add_to(family, values, dict(zip(self._labelnames, values, strict=True)))
        return [family]

    def _family(self) -> Any:  # one of prometheus_client's *MetricFamily, with the labels' names
        raise NotImplementedError

    def _add_to(self, family: Any, values: tuple[str, ...], labels: dict[str, str]) -> None:  # its samples
        raise NotImplementedError


class _Number(_Family):
    """A counter's or a gauge's value: one number, from 0."""

    __slots__ = ("value",)

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        registry: CollectorRegistry | None,
        multiprocess_mode: str = "all",  # prometheus_client's Gauge's (how workers' values add up): one here
    ) -> None:
        self.value = 0.0
        super().__init__(name, documentation, labelnames, registry=registry)

    def _child(self) -> Self:
        return type(self)(self._name, self._documentation, registry=None)

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Counter(_Number):
    __slots__ = ()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add_to(self, family: CounterMetricFamily, values: tuple[str, ...], labels: dict[str, str]) -> None:
        family.add_metric(values, self.value, self.created if CREATED else None)


class Gauge(_Number):
    __slots__ = ()

    def dec(self, amount: float = 1) -> None:
        self.value -= amount

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add_to(self, family: GaugeMetricFamily, values: tuple[str, ...], labels: dict[str, str]) -> None:
        family.add_metric(values, self.value)


class Histogram(_Family):
    """Observations counted in the first bucket whose upper bound they do not exceed (+Inf last), as
    prometheus_client's are, and added up at a scrape into its cumulative buckets."""

    __slots__ = ("bounds", "counts", "les", "sum")

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry | None,
    ) -> None:
        self.bounds = (*buckets, INF) if buckets[-1] != INF else tuple(buckets)
        self.les = tuple(floatToGoString(bound) for bound in self.bounds)  # type: ignore[no-untyped-call]
        self.counts = [0.0] * len(self.bounds)
        self.sum = 0.0
        super().__init__(name, documentation, labelnames, registry=registry)

    def _child(self) -> Self:
        return type(self)(self._name, self._documentation, buckets=self.bounds, registry=None)

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(self.bounds, amount)] += 1
        self.sum += amount

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def _add_to(self, family: HistogramMetricFamily, values: tuple[str, ...], labels: dict[str, str]) -> None:
        buckets, total = [], 0.0
        for le, count in zip(self.les, self.counts, strict=True):
            total += count
            buckets.append((le, total))
        family.add_metric(values, buckets, self.sum)
        if CREATED:
            family.add_sample(family.name + "_created", labels, self.created)
