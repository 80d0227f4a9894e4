"""tail: 2 MB printed by a process that exits at once all arrive before the exit.

A fast writer that exits leaves its last bytes in the kernel and in every buffer
on the way while its exit is already known; a product that reports the exit as
soon as Docker knows it loses the tail. Stack: every byte must arrive before the
`exit` message. Floor: before Docker closes the connection. Ten runs per arm; the
time from asking for the session to its end is reported too.
"""

from __future__ import annotations

import time

from bench.context import Arm, Bench, interleave
from bench.report import MetricResult, Row

NAME = "tail"
RUNS = 10
SIZE = 2_000_000
CMD = ["sh", "-c", f"head -c {SIZE} /dev/zero | tr '\\0' x"]


async def run(bench: Bench) -> MetricResult:
    async def measure(arm: Arm) -> dict[str, float]:
        started = time.perf_counter()
        terminal = await bench.open(arm, CMD, keep=True)
        exit_message = await terminal.wait_exit(30)
        ended = time.perf_counter()
        await terminal.close()
        intact = terminal.output.count(b"x") == len(terminal.output)
        return {
            "lost_bytes": SIZE - terminal.received_at_exit,
            "wrong_bytes": 0 if intact else len(terminal.output) - terminal.output.count(b"x"),
            "ms": (ended - started) * 1e3,
            "code": exit_message.get("code"),
        }

    runs = await interleave(RUNS, measure)
    lost = {arm: [r["lost_bytes"] + r["wrong_bytes"] for r in rs] for arm, rs in runs.items()}
    times = {arm: [r["ms"] for r in rs] for arm, rs in runs.items()}
    return MetricResult(
        NAME,
        rows=[
            Row(
                "tail bytes lost or wrong",
                "bytes",
                lost["stack"],
                lost["floor"],
                target="0 in every run",
                met=not any(lost["stack"]),
            ),
            Row("tail 2 MB open to exit", "ms", times["stack"], times["floor"], "ratio"),
        ],
        raw=runs,
    )
