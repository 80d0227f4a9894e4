"""handover: the pause a session sees while its worker hands it to a successor.

200 sessions each print a line every TICK seconds (`sleep` under a tty); a new
worker process takes them over (`--take-over`, as `systemctl reload` does) while
the client notes when each line arrives. A session's pause is the longest silence
between two of its lines around the handover, less the TICK it waits anyway; the
table shows its median and maximum over the sessions, and the time the old worker
says the handover took (its freeze to the successor's bind). Stack only: the floor
has no worker to replace. Runs last, since the worker it leaves is the successor.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time

from bench.context import Bench, end_all
from bench.report import MetricResult, Row
from bench.stats import percentile
from bench.terminal import Terminal
from tests.support.processes import WORKER_READY, ManagedProcess

NAME = "handover"
SESSIONS = 200
TICK = 0.1
TICKER = ["sh", "-c", f"echo ready; while :; do echo t; sleep {TICK}; done"]
AROUND = 1.0
"""Seconds before the successor starts and after the old worker exits that count."""


async def run(bench: Bench) -> MetricResult:
    gate = asyncio.Semaphore(16)

    async def one() -> Terminal:
        async with gate:
            terminal = await bench.open("stack", TICKER)
            await terminal.wait_ready()
            return terminal

    terminals = list(await asyncio.gather(*(one() for _ in range(SESSIONS))))
    for terminal in terminals:
        terminal.arrivals = []
    await asyncio.sleep(AROUND)
    started = time.perf_counter() - AROUND
    old = bench.stack.worker
    successor = ManagedProcess("worker-successor", [*old.argv, "--take-over"], WORKER_READY,
                               wait=False)  # fmt: skip
    await asyncio.to_thread(successor.wait_ready)
    await asyncio.to_thread(old.proc.wait, 30)
    bench.stack.worker = successor
    await asyncio.sleep(AROUND)
    ended = time.perf_counter()
    pauses = [_pause(t.arrivals or [], started, ended) * 1000 for t in terminals]
    for terminal in terminals:
        terminal.send_keys(b"\x03")  # Ctrl-C ends the loop; end_all closes the rest
    await end_all(terminals)
    took = re.search(r"(\d+) sessions handed over in ([\d.]+) s", old.log())
    took_ms = float(took[2]) * 1000 if took else float("nan")
    rows = [
        Row("pause in a handover, p50 of 200 sessions", "ms", [percentile(pauses, 50)]),
        Row("pause in a handover, max of 200 sessions", "ms", [max(pauses)]),
        Row("handover of 200 sessions (old worker's log)", "ms", [took_ms]),
    ]
    return MetricResult(NAME, rows=rows, raw={"sessions": SESSIONS, "pauses_ms": pauses})


def _pause(arrivals: list[float], start: float, end: float) -> float:
    """The longest silence between lines within [start, end], less the tick."""
    within = [start, *(t for t in arrivals if start <= t <= end), end]
    return max(0.0, max(b - a for a, b in itertools.pairwise(within)) - TICK)
