"""Container stats: the figures people see, computed from Docker's stats JSON.

`figures` is pure: CPU use is the container's CPU time over the host's between two
readings, times the CPUs online (so one busy CPU is 100 %, as `docker stats` shows
it); memory is the usage less the inactive page cache, as `docker stats` counts it
(cgroup v2: `inactive_file`, v1: `total_inactive_file`). Docker's one-shot reading
has no earlier reading in it, so StatsReader keeps the last reading of each
container and computes CPU use against it; the first reading of a container is
followed by a second one half a second later.

StatsReader also bounds the work: readings of one container less than FRESH old are
answered from memory, and readers asking at the same moment share one Docker call,
so many pages polling one container cost at most one call a second.

Concurrency: StatsReader runs on the worker's loop; Docker calls go through
DockerHost's bounded thread pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FRESH = 1.0
"""Seconds a reading answers further requests for the same container."""
STALE = 60.0
"""Seconds after which a held reading is too old to compute CPU use against."""
FIRST_GAP = 0.5
"""Seconds between the two readings of a container read for the first time."""
HELD = 1024
"""Containers whose last reading is held, at most (the oldest are forgotten)."""


@dataclass(frozen=True, slots=True)
class Figures:
    """What the page shows; `cpu_centi` in hundredths of a percent (-1: unknown)."""

    cpu_centi: int
    online_cpus: int
    memory: int
    memory_limit: int
    pids: int
    net_rx: int
    net_tx: int
    read_at: int
    """Unix milliseconds of the reading (0: Docker did not say)."""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _cpu_times(sample: Mapping[str, Any], key: str) -> tuple[int, int]:
    """(container CPU ns, host CPU ns) of a reading's `cpu_stats` or `precpu_stats`."""
    cpu = sample.get(key) or {}
    return _int((cpu.get("cpu_usage") or {}).get("total_usage")), _int(cpu.get("system_cpu_usage"))


def online_cpus(sample: Mapping[str, Any]) -> int:
    cpu = sample.get("cpu_stats") or {}
    percpu = (cpu.get("cpu_usage") or {}).get("percpu_usage") or []
    return _int(cpu.get("online_cpus")) or len(percpu) or 1


def has_earlier(sample: Mapping[str, Any]) -> bool:
    """Whether Docker put an earlier reading in this one (a streamed or two-step read)."""
    return _cpu_times(sample, "precpu_stats")[1] > 0


def cpu_centi(previous: Mapping[str, Any] | None, sample: Mapping[str, Any]) -> int:
    """CPU use between the earlier reading (`previous`, else Docker's precpu) and this one."""
    used, host = _cpu_times(sample, "cpu_stats")
    if previous is not None:
        used_before, host_before = _cpu_times(previous, "cpu_stats")
    else:
        used_before, host_before = _cpu_times(sample, "precpu_stats")
    host_delta, used_delta = host - host_before, used - used_before
    if host_before <= 0 or host_delta <= 0 or used_delta < 0:
        return -1
    return round(used_delta / host_delta * online_cpus(sample) * 10000)


def memory_used(memory: Mapping[str, Any]) -> int:
    usage = _int(memory.get("usage"))
    stats = memory.get("stats") or {}
    cache = _int(stats.get("inactive_file", stats.get("total_inactive_file", 0)))
    return usage - cache if cache < usage else usage


def read_at(stamp: Any) -> int:
    """Docker's RFC 3339 time with nanoseconds as Unix milliseconds; 0 if unreadable."""
    if not isinstance(stamp, str) or stamp.startswith("0001-"):
        return 0
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    try:
        seconds = datetime.fromisoformat(whole[:19]).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0
    digits = "".join(c for c in fraction if "0" <= c <= "9")[:3].ljust(3, "0")
    return int(seconds) * 1000 + int(digits)


def figures(previous: Mapping[str, Any] | None, sample: Mapping[str, Any]) -> Figures:
    """The figures of a reading, CPU use against `previous` when given."""
    memory = sample.get("memory_stats") or {}
    networks = (sample.get("networks") or {}).values()
    return Figures(
        cpu_centi=cpu_centi(previous, sample),
        online_cpus=online_cpus(sample),
        memory=memory_used(memory),
        memory_limit=_int(memory.get("limit")),
        pids=_int((sample.get("pids_stats") or {}).get("current")),
        net_rx=sum(_int(n.get("rx_bytes")) for n in networks),
        net_tx=sum(_int(n.get("tx_bytes")) for n in networks),
        read_at=read_at(sample.get("read")),
    )


@dataclass(frozen=True, slots=True)
class _Held:
    sample: Mapping[str, Any]
    at: float
    figures: Figures


Sample = Callable[[str], Awaitable[Mapping[str, Any]]]


class StatsReader:
    """Readings of this host's containers, at most one Docker call per container a second."""

    def __init__(self, sample: Sample, clock: Callable[[], float] = time.monotonic) -> None:
        self._sample = sample
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._reading: dict[str, asyncio.Future[Figures]] = {}

    async def read(self, container: str) -> Figures:
        held = self._held.get(container)
        if held is not None and self._clock() - held.at < FRESH:
            return held.figures
        pending = self._reading.get(container)
        if pending is not None:
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(self._read(container, held))
        self._reading[container] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._reading.pop(container, None)

    async def _read(self, container: str, held: _Held | None) -> Figures:
        try:
            sample = await self._sample(container)
            previous = held.sample if held and self._clock() - held.at < STALE else None
            if previous is None and not has_earlier(sample):
                await asyncio.sleep(FIRST_GAP)
                previous, sample = sample, await self._sample(container)
            result = figures(previous, sample)
            self._held.pop(container, None)
            self._held[container] = _Held(sample, self._clock(), result)
            while len(self._held) > HELD:
                del self._held[next(iter(self._held))]
            return result
        finally:
            self._reading.pop(container, None)
