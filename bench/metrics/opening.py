"""open: from asking for a session to the first byte of its output.

Stack: WebSocket connect (TCP, upgrade, sign-in), `open`, the worker's exec
create and start, until the first output byte reaches the client. Floor: exec
create and start on the Docker socket until the first output byte. The command is
`sh -c 'echo ready; cat'`; each session is ended with Ctrl-D, untimed. One
untimed open per arm first, so neither pays for first-use costs.
"""

from __future__ import annotations

import time

from bench.context import Arm, Bench, interleave
from bench.report import MetricResult, Row
from bench.stats import distribution, median

NAME = "open"
OPENS = 30
SLACK_MS = 10
CMD = ["sh", "-c", "echo ready; cat"]


async def run(bench: Bench) -> MetricResult:
    async def measure(arm: Arm) -> float:
        started = time.perf_counter()
        terminal = await bench.open(arm, CMD)
        first = await terminal.wait_bytes(1)
        await terminal.end()
        return (first - started) * 1e3

    await interleave(1, measure)
    times = await interleave(OPENS, measure)
    return MetricResult(
        NAME,
        rows=[
            Row(
                "open to first byte",
                "ms",
                times["stack"],
                times["floor"],
                "diff",
                f"<= floor + {SLACK_MS} ms",
                median(times["stack"]) <= median(times["floor"]) + SLACK_MS,
            )
        ],
        raw={arm: {"ms": values, **distribution(values)} for arm, values in times.items()},
    )
