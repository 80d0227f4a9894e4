"""rtt: one key typed into `cat` under a tty until its echo reaches the client.

The echo comes from the tty's line discipline in the container, so this is the
full path of a keystroke and back: WebSocket, front end, ZeroMQ, worker, Docker
and back for the stack; Docker alone for the floor. Keys are typed back to back,
1000 per round, five rounds per arm, one session per arm for all rounds.

A third arm times the shape alone (bench/hops.py: the WebSocket hop and the ZeroMQ
hop with nothing in them, no Docker) in the same rounds: the stack's overhead over
the floor, less the shape's round trip, is what our own code costs.
"""

from __future__ import annotations

from bench.context import Bench, interleave
from bench.hops import Hops, HopsTerminal
from bench.report import MetricResult, Row
from bench.stats import distribution, median, percentile
from bench.terminal import Typist

NAME = "rtt"
KEYS = 1000
ROUNDS = 5
P50_SLACK_US = 120
P99_SLACK_US = 400


async def run(bench: Bench) -> MetricResult:
    typists = {"stack": Typist(await bench.open_cat("stack"))}
    typists["floor"] = Typist(await bench.open_cat("floor"))
    hops = Hops()
    shape = HopsTerminal(hops.url)
    await shape.connect()

    async def measure(arm: str) -> list[float]:
        key = shape.key if arm == "shape" else typists[arm].key
        return [await key() * 1e6 for _ in range(KEYS)]

    try:
        samples = await interleave(ROUNDS, measure, ("stack", "floor", "shape"))
    finally:
        for typist in typists.values():
            await typist.terminal.end()
        await shape.close()
        hops.stop()
    return _result(samples)


def _result(samples: dict[str, list[list[float]]]) -> MetricResult:
    p50 = {arm: [percentile(r, 50) for r in rounds] for arm, rounds in samples.items()}
    p99 = {arm: [percentile(r, 99) for r in rounds] for arm, rounds in samples.items()}
    return MetricResult(
        NAME,
        rows=[
            Row(
                "rtt p50",
                "us",
                p50["stack"],
                p50["floor"],
                "diff",
                f"<= floor + {P50_SLACK_US} us",
                median(p50["stack"]) <= median(p50["floor"]) + P50_SLACK_US,
            ),
            Row(
                "rtt p99",
                "us",
                p99["stack"],
                p99["floor"],
                "diff",
                f"<= floor + {P99_SLACK_US} us",
                median(p99["stack"]) <= median(p99["floor"]) + P99_SLACK_US,
            ),
            Row("rtt p50, the shape alone", "us", p50["shape"]),
            Row("rtt p50, our code: stack - floor - shape", "us", _ours(p50)),
            Row("rtt p99, the shape alone", "us", p99["shape"]),
        ],
        raw={arm: [distribution(r) for r in rounds] for arm, rounds in samples.items()},
    )


def _ours(p: dict[str, list[float]]) -> list[float]:
    """Round by round, what is left of the stack's round trip once Docker's part (the
    floor) and the two hops' part (the shape) are taken away."""
    return [st - fl - sh for st, fl, sh in zip(p["stack"], p["floor"], p["shape"], strict=True)]
