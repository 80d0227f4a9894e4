"""stall: one session's keystroke echo while ten others open, print and end.

A product that does blocking work on its event loop when a session starts or
ends (a Docker call, a wait for an exit code) freezes every other session for
that long. Here a probe session types a key every 5 ms and times its echo while
ten sessions, one after another, open, print 200 kB and exit. A stall is an echo
slower than STALL_MS, long enough for a person to notice a frozen terminal. As for
every target, the median over rounds is judged: a lone spike that the floor shows
as well is this machine's, not the product's.
"""

from __future__ import annotations

import asyncio
import time

from bench.context import Arm, Bench, interleave
from bench.report import MetricResult, Row
from bench.stats import distribution, median
from bench.terminal import Typist

NAME = "stall"
ROUNDS = 5
OTHERS = 10
PAUSE = 0.005
STALL_MS = 100
MAX_SECONDS = 60
CMD = ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' z"]


async def run(bench: Bench) -> MetricResult:
    async def measure(arm: Arm) -> dict[str, float]:
        typist = Typist(await bench.open_cat(arm))
        churn = asyncio.create_task(_churn(bench, arm))
        samples = []
        deadline = time.monotonic() + MAX_SECONDS
        try:
            while not churn.done() and time.monotonic() < deadline:
                samples.append(await typist.key() * 1e3)
                await asyncio.sleep(PAUSE)
            churn_seconds = await churn
        finally:
            churn.cancel()
            await typist.terminal.end()
        return {**distribution(samples), "churn_seconds": churn_seconds}

    rounds = await interleave(ROUNDS, measure)
    worst = {arm: [r["max"] for r in rs] for arm, rs in rounds.items()}
    p50 = {arm: [r["p50"] for r in rs] for arm, rs in rounds.items()}
    return MetricResult(
        NAME,
        rows=[
            Row("stall: probe rtt p50", "ms", p50["stack"], p50["floor"], "diff"),
            Row(
                "stall: probe rtt max",
                "ms",
                worst["stack"],
                worst["floor"],
                "diff",
                f"no stall: max < {STALL_MS} ms",
                median(worst["stack"]) < STALL_MS,
            ),
        ],
        raw=rounds,
    )


async def _churn(bench: Bench, arm: Arm) -> float:
    """Ten sessions, one after another: open, print, exit, close."""
    started = time.monotonic()
    for _ in range(OTHERS):
        terminal = await bench.open(arm, CMD)
        await terminal.wait_exit(30)
        await terminal.close()
    return time.monotonic() - started
