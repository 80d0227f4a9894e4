"""ByteCounts: terminal bytes by direction, as a Prometheus counter without a lock per count.

A prometheus_client Counter takes a lock on every `inc()`, and terminal bytes are
counted on every keystroke and every read of output. They are only ever counted
from the process's one event loop, so plain ints do, and a collector hands them to
Prometheus when it scrapes (reading an int needs no lock).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CounterMetricFamily
from prometheus_client.registry import CollectorRegistry


class ByteCounts:
    def __init__(
        self, name: str, documentation: str, registry: CollectorRegistry = REGISTRY
    ) -> None:
        self.name, self.documentation = name, documentation
        self.inbound = 0
        self.outbound = 0
        registry.register(self)

    def describe(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self.name, self.documentation, labels=["direction"])]

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.documentation, labels=["direction"])
        family.add_metric(["in"], self.inbound)
        family.add_metric(["out"], self.outbound)
        yield family
