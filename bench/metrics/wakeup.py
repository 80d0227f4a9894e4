"""wakeup: the machine's price for a hop, the unit the shape's round trip is made of.

One byte there and back between two bare processes, over TCP (as the WebSocket hop
goes) and over ZeroMQ DEALER/ROUTER (as the worker hop goes), 2000 times a round,
five rounds, with the two processes on two CPUs and with both on one CPU. No
stack, no floor: the rows explain the rtt metric's "shape alone" (a TCP hop plus a
ZeroMQ hop), and the gap between the CPU layouts is what waking an idle CPU costs.
"""

from __future__ import annotations

import asyncio
import os

from bench.context import Bench, interleave
from bench.report import MetricResult, Row
from bench.stats import distribution, percentile
from bench.wakeups import PING_PONGS, Echo, PingPong

NAME = "wakeup"
TRIPS = 2000
ROUNDS = 5
LAYOUTS = {"two CPUs": 1, "one CPU": 0}
"""Where the echo runs, as an index into this process's CPUs; the client runs on the first."""


async def run(bench: Bench) -> MetricResult:
    cpus = sorted(os.sched_getaffinity(0))
    layouts = {name: cpus[i] for name, i in LAYOUTS.items() if i < len(cpus)}
    echoes: list[Echo] = []
    clients: dict[str, PingPong] = {}
    try:
        for kind, title in (("tcp", "TCP"), ("zmq", "ZeroMQ")):
            for layout, cpu in layouts.items():
                echoes.append(Echo(kind, cpu))
                clients[f"bare {title} hop, {layout}"] = PING_PONGS[kind](echoes[-1], cpus[0])

        async def measure(arm: str) -> list[float]:
            return await asyncio.to_thread(clients[arm].round, TRIPS)

        samples = await interleave(ROUNDS, measure, tuple(clients))
    finally:
        for client in clients.values():
            client.close()
        for echo in echoes:
            echo.stop()
    return MetricResult(
        NAME,
        rows=[
            Row(f"{arm} round trip p50", "us", [percentile(r, 50) for r in rounds])
            for arm, rounds in samples.items()
        ],
        raw={arm: [distribution(r) for r in rounds] for arm, rounds in samples.items()},
    )
