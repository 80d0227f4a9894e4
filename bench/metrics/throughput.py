"""throughput: MB/s of one session's output reaching the client, and peak memory.

`head -c 50000000 /dev/zero | tr '\\0' a` under a tty; the rate counts from the
first output byte to the last, so opening is not part of it. The stack's client
acknowledges as it consumes (protocol v1 flow control), so the window is what
paces the worker; the floor reads as fast as Docker writes. The peak RSS of the
front end and the worker is reset before each stack round and read after it; the
table shows it, and how far it rose above the RSS at the start of the round.
"""

from __future__ import annotations

from bench import procstat
from bench.context import Arm, Bench, interleave
from bench.report import MetricResult, Row
from bench.stats import median

NAME = "throughput"
ROUNDS = 7
SIZE = 50_000_000
MIN_RATIO = 0.9
CMD = ["sh", "-c", f"head -c {SIZE} /dev/zero | tr '\\0' a"]


async def run(bench: Bench) -> MetricResult:
    ours = {n: p for n, p in bench.pids.items() if n in ("front end", "worker")}

    async def measure(arm: Arm) -> dict[str, float]:
        before = procstat.usages(ours)
        for pid in ours.values():
            procstat.reset_peak_rss(pid)
        terminal = await bench.open(arm, CMD)
        last = await terminal.wait_bytes(SIZE, 120)
        await terminal.wait_exit(30)
        await terminal.close()
        after = procstat.usages(ours)
        result = {"mb_per_s": SIZE / 1e6 / (last - terminal.first_at)}
        result["bytes"] = terminal.received_at_exit
        for name in ours:
            result[f"{name} peak rss mib"] = after[name].peak_rss_kib / 1024
            result[f"{name} rss before mib"] = before[name].rss_kib / 1024
        return result

    rounds = await interleave(ROUNDS, measure)
    rate = {arm: [r["mb_per_s"] for r in rs] for arm, rs in rounds.items()}
    rows = [
        Row(
            "throughput",
            "MB/s",
            rate["stack"],
            rate["floor"],
            "ratio",
            f">= {MIN_RATIO:.0%} of floor",
            median(rate["stack"]) >= MIN_RATIO * median(rate["floor"]),
        )
    ]
    for name in ours:
        peaks = [r[f"{name} peak rss mib"] for r in rounds["stack"]]
        rises = [r[f"{name} peak rss mib"] - r[f"{name} rss before mib"] for r in rounds["stack"]]
        rows.append(Row(f"throughput peak RSS, {name}", "MiB", peaks))
        rows.append(Row(f"throughput RSS rise, {name}", "MiB", rises))
    return MetricResult(NAME, rows=rows, raw=rounds)
