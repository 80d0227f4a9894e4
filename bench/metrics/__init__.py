"""One module per metric; each exposes `async def run(bench) -> MetricResult`.

They run in the order of METRICS. The idle sessions come first: their baseline is
then the fresh processes, and no memory that another metric's peak left behind
can be reused by the sessions and hide their cost. The handover comes last: the
worker it leaves running is its successor.
"""

from __future__ import annotations

from bench.metrics import handover, idle, load, opening, rtt, stall, tail, throughput, wakeup

METRICS = (idle, rtt, wakeup, opening, tail, throughput, load, stall, handover)
