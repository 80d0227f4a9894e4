"""rtt: one key typed into `cat` under a tty until its echo reaches the client.

The echo comes from the tty's line discipline in the container, so this is the
full path of a keystroke and back: WebSocket, front end, ZeroMQ, worker, Docker
and back for the stack; Docker alone for the floor. Keys are typed back to back,
1000 per round, five rounds per arm, one session per arm for all rounds.

A third arm times the shape alone (bench/hops.py: the WebSocket hop and the ZeroMQ
hop with nothing in them, no Docker) in the same rounds: the stack's overhead over
the floor, less the shape's round trip, is what our own code costs.

Each round also reads how long every process involved ran (all its threads), per
key: what a keystroke costs each of them in CPU, the stack's processes beside the
shape's relay and echo, and the daemon and the client in both arms.
"""

from __future__ import annotations

from bench import procstat
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
INVOLVED = {
    "stack": ("front end", "worker", "dockerd", "client"),
    "floor": ("dockerd", "client"),
    "shape": ("shape's relay", "shape's echo"),
}
"""The processes whose CPU each arm's keystrokes cost."""


async def run(bench: Bench) -> MetricResult:
    typists = {"stack": Typist(await bench.open_cat("stack"))}
    typists["floor"] = Typist(await bench.open_cat("floor"))
    hops = Hops()
    shape = HopsTerminal(hops.url)
    await shape.connect()

    pids = bench.pids | {"shape's relay": hops.relay.pid, "shape's echo": hops.echo.pid}
    cpu: dict[str, dict[str, list[float]]] = {arm: {} for arm in INVOLVED}
    switches: dict[str, dict[str, list[float]]] = {arm: {} for arm in INVOLVED}

    async def measure(arm: str) -> list[float]:
        key = shape.key if arm == "shape" else typists[arm].key
        watched = {name: pids[name] for name in INVOLVED[arm] if name in pids}
        before = {name: procstat.run_ns(pid) for name, pid in watched.items()}
        slept = {name: procstat.voluntary_switches(pid) for name, pid in watched.items()}
        samples = [await key() * 1e6 for _ in range(KEYS)]
        for name, pid in watched.items():
            per_key = (procstat.run_ns(pid) - before[name]) / 1e3 / KEYS
            cpu[arm].setdefault(name, []).append(per_key)
            waits = (procstat.voluntary_switches(pid) - slept[name]) / KEYS
            switches[arm].setdefault(name, []).append(waits)
        return samples

    try:
        samples = await interleave(ROUNDS, measure, ("stack", "floor", "shape"))
    finally:
        for typist in typists.values():
            await typist.terminal.end()
        await shape.close()
        hops.stop()
    return _result(samples, cpu, switches)


def _result(
    samples: dict[str, list[list[float]]],
    cpu: dict[str, dict[str, list[float]]],
    switches: dict[str, dict[str, list[float]]],
) -> MetricResult:
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
            *_per_key_rows("CPU", "us", cpu),
            *_per_key_rows("sleeps", "waits", switches),
        ],
        raw={
            **{arm: [distribution(r) for r in rounds] for arm, rounds in samples.items()},
            "cpu_us_per_key": cpu,
            "voluntary_switches_per_key": switches,
        },
    )


def _per_key_rows(what: str, unit: str, per_key: dict[str, dict[str, list[float]]]) -> list[Row]:
    """A process of both arms is compared with itself; the shape's processes sit in
    the stack column, as the shape's other rows do. Sleeps are voluntary context
    switches of all the process's threads: each one is a wake-up later."""
    rows = []
    for name, values in per_key["stack"].items():
        floor = per_key["floor"].get(name, [])
        label = f"rtt {what} per key, {name}"
        rows.append(Row(label, unit, values, floor, "diff" if floor else ""))
    rows += [Row(f"rtt {what} per key, {name}", unit, v) for name, v in per_key["shape"].items()]
    return rows


def _ours(p: dict[str, list[float]]) -> list[float]:
    """Round by round, what is left of the stack's round trip once Docker's part (the
    floor) and the two hops' part (the shape) are taken away."""
    return [st - fl - sh for st, fl, sh in zip(p["stack"], p["floor"], p["shape"], strict=True)]
