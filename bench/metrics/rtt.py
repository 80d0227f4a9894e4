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
MAX_P50_RATIO = 1.98
MAX_P99_RATIO = 1.91
"""At most the ratios to the floor that ttyd, one C hop, measured on this kind of machine."""
MAX_OURS_US = 60
"""The stretch goal: our code's own cost over the floor and the bare shape."""
SHAPES = {"shape": "shape", "codec": "codec shape"}
"""The bare shape's arm and the one that also packs and unpacks our messages."""
INVOLVED = {
    "stack": ("front end", "worker", "dockerd", "client"),
    "floor": ("dockerd", "client"),
    **{arm: (f"{label}'s relay", f"{label}'s echo") for arm, label in SHAPES.items()},
}
"""The processes whose CPU each arm's keystrokes cost."""
PerKey = dict[str, dict[str, list[float]]]
"""arm -> process -> one figure per round."""


async def run(bench: Bench) -> MetricResult:
    typists = {"stack": Typist(await bench.open_cat("stack"))}
    typists["floor"] = Typist(await bench.open_cat("floor"))
    shapes: dict[str, Hops] = {}
    terminals: dict[str, HopsTerminal] = {}
    try:
        pids = dict(bench.pids)
        for arm, label in SHAPES.items():
            hops = shapes[arm] = Hops(codec=arm == "codec")
            pids |= {f"{label}'s relay": hops.relay.pid, f"{label}'s echo": hops.echo.pid}
            terminals[arm] = HopsTerminal(hops.url)
            await terminals[arm].connect()
        samples, cpu, switches = await _rounds(typists, terminals, pids)
    finally:
        for typist in typists.values():
            await typist.terminal.end()
        for terminal in terminals.values():
            await terminal.close()
        for hops in shapes.values():
            hops.stop()
    return _result(samples, cpu, switches)


async def _rounds(
    typists: dict[str, Typist], terminals: dict[str, HopsTerminal], pids: dict[str, int]
) -> tuple[dict[str, list[list[float]]], PerKey, PerKey]:
    """Every arm's rounds, interleaved, with the CPU and sleeps of its processes per key."""
    cpu: PerKey = {arm: {} for arm in INVOLVED}
    switches: PerKey = {arm: {} for arm in INVOLVED}

    async def measure(arm: str) -> list[float]:
        key = terminals[arm].key if arm in terminals else typists[arm].key
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

    return await interleave(ROUNDS, measure, tuple(INVOLVED)), cpu, switches


def _result(
    samples: dict[str, list[list[float]]],
    cpu: PerKey,
    switches: PerKey,
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
                "ratio",
                f"<= {MAX_P50_RATIO}x floor",
                median(p50["stack"]) <= median(p50["floor"]) * MAX_P50_RATIO,
            ),
            Row(
                "rtt p99",
                "us",
                p99["stack"],
                p99["floor"],
                "ratio",
                f"<= {MAX_P99_RATIO}x floor",
                median(p99["stack"]) <= median(p99["floor"]) * MAX_P99_RATIO,
            ),
            Row("rtt p50, the shape alone", "us", p50["shape"]),
            Row(
                "rtt p50, our code: stack - floor - shape",
                "us",
                _ours(p50),
                target=f"<= {MAX_OURS_US} us (stretch)",
                met=median(_ours(p50)) <= MAX_OURS_US,
            ),
            Row("rtt p99, the shape alone", "us", p99["shape"]),
            Row("rtt p50, the shape with our codec", "us", p50["codec"]),
            Row("rtt p50, our codec: codec shape - shape", "us", _codec(p50)),
            *_per_key_rows("CPU", "us", cpu),
            *_per_key_rows("sleeps", "waits", switches),
        ],
        raw={
            **{arm: [distribution(r) for r in rounds] for arm, rounds in samples.items()},
            "cpu_us_per_key": cpu,
            "voluntary_switches_per_key": switches,
        },
    )


def _per_key_rows(what: str, unit: str, per_key: PerKey) -> list[Row]:
    """A process of both arms is compared with itself; the shape's processes sit in
    the stack column, as the shape's other rows do. Sleeps are voluntary context
    switches of all the process's threads: each one is a wake-up later."""
    rows = []
    for name, values in per_key["stack"].items():
        floor = per_key["floor"].get(name, [])
        label = f"rtt {what} per key, {name}"
        rows.append(Row(label, unit, values, floor, "diff" if floor else ""))
    for arm in ("shape", "codec"):
        rows += [Row(f"rtt {what} per key, {name}", unit, v) for name, v in per_key[arm].items()]
    return rows


def _ours(p: dict[str, list[float]]) -> list[float]:
    """Round by round, what is left of the stack's round trip once Docker's part (the
    floor) and the two hops' part (the shape) are taken away."""
    return [st - fl - sh for st, fl, sh in zip(p["stack"], p["floor"], p["shape"], strict=True)]


def _codec(p: dict[str, list[float]]) -> list[float]:
    """Round by round, what packing and unpacking our messages adds to the bare shape."""
    return [co - sh for co, sh in zip(p["codec"], p["shape"], strict=True)]
