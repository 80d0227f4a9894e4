"""rtt under load: 100 sessions each typing a key every 100 ms for 10 s.

That is 1,000 keystrokes a second through one front end and one worker. Each
session types on its own schedule, with a random phase so keys do not come in
bursts, and times every echo; a key whose echo is late is followed by the next
one at once. The same 100 sessions per arm serve all rounds. CPU seconds of
every process are read from /proc around each round, and RSS after it.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass

from bench import procstat
from bench.context import ARMS, Arm, Bench, end_all, interleave
from bench.report import MetricResult, Row
from bench.stats import distribution, median
from bench.terminal import Typist

NAME = "load"
SESSIONS = 100
INTERVAL = 0.1
SECONDS = 10.0
ROUNDS = 3
MAX_P99_RATIO = 5.0
"""p99 under this load at most this many times the floor's under the same load."""
OURS = ("front end", "worker")


@dataclass
class LoadRound:
    rtt_us: dict[str, float]
    cpu_seconds: dict[str, float]
    rss_mib: dict[str, float]


async def run(bench: Bench) -> MetricResult:
    typists = {arm: [Typist(t) for t in await bench.open_many(arm, SESSIONS)] for arm in ARMS}
    pids = bench.pids

    async def measure(arm: Arm) -> LoadRound:
        before = procstat.usages(pids)
        samples = await _round(typists[arm])
        after = procstat.usages(pids)
        return LoadRound(
            distribution(samples),
            procstat.cpu_spent(before, after),
            {name: usage.rss_kib / 1024 for name, usage in after.items()},
        )

    try:
        rounds = await interleave(ROUNDS, measure)
    finally:
        for arm_typists in typists.values():
            await end_all([t.terminal for t in arm_typists])
    raw = {arm: [asdict(r) for r in rs] for arm, rs in rounds.items()}
    return MetricResult(NAME, rows=_rows(rounds), raw=raw)


async def _round(typists: list[Typist]) -> list[float]:
    loop = asyncio.get_running_loop()
    end = loop.time() + SECONDS
    samples: list[float] = []

    async def type_keys(typist: Typist) -> None:
        due = loop.time() + random.uniform(0, INTERVAL)
        while due < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            samples.append(await typist.key() * 1e6)
            due += INTERVAL

    async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
        for typist in typists:
            group.create_task(type_keys(typist))
    return samples


def _rows(rounds: dict[Arm, list[LoadRound]]) -> list[Row]:
    stack, floor = rounds["stack"], rounds["floor"]
    rows = []
    for key in ("p50", "p99", "max"):
        row = Row(
            f"load rtt {key}", "us", [r.rtt_us[key] for r in stack], [r.rtt_us[key] for r in floor]
        )
        row.compare = "ratio" if key == "p99" else "diff"
        if key == "p99":
            row.target = f"<= {MAX_P99_RATIO:g}x floor"
            row.met = median(row.stack) <= median(row.floor) * MAX_P99_RATIO
        rows.append(row)
    for name in stack[0].cpu_seconds:
        floor_cpu = [] if name in OURS else [r.cpu_seconds[name] for r in floor]
        rows.append(
            Row(f"load CPU, {name}", "s/round", [r.cpu_seconds[name] for r in stack], floor_cpu)
        )
    for name in OURS:
        rows.append(Row(f"load RSS, {name}", "MiB", [r.rss_mib[name] for r in stack]))
    return rows
