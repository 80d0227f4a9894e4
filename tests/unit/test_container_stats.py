"""Container stats: the figures computed from Docker's stats JSON, and the reader that
bounds how often Docker is asked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from exec_worker import container_stats
from exec_worker.container_stats import StatsReader, cpu_centi, figures, memory_used, read_at

SECOND = 1_000_000_000


def reading(
    used: int, host: int, cpus: int = 2, earlier: tuple[int, int] = (0, 0)
) -> dict[str, Any]:
    """A one-shot reading: container and host CPU nanoseconds (and Docker's precpu)."""
    return {
        "read": "2026-12-04T23:52:20.858023743Z",
        "cpu_stats": {"cpu_usage": {"total_usage": used}, "system_cpu_usage": host,
                      "online_cpus": cpus},
        "precpu_stats": {"cpu_usage": {"total_usage": earlier[0]},
                         "system_cpu_usage": earlier[1]},
        "memory_stats": {"usage": 50 << 20, "limit": 1 << 30,
                         "stats": {"inactive_file": 10 << 20}},
        "pids_stats": {"current": 3},
        "networks": {"eth0": {"rx_bytes": 100, "tx_bytes": 40},
                     "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
    }  # fmt: skip


def test_one_busy_cpu_of_two_is_one_hundred_percent() -> None:
    """A container using half the host's CPU time on two CPUs uses one CPU: 100 %."""
    before, after = reading(0, 100 * SECOND), reading(SECOND, 102 * SECOND)
    assert cpu_centi(before, after) == 10000


def test_dockers_own_earlier_reading_is_used_without_ours() -> None:
    """A reading that carries precpu figures gives CPU use by itself."""
    sample = reading(3 * SECOND, 104 * SECOND, cpus=4, earlier=(2 * SECOND, 100 * SECOND))
    assert cpu_centi(None, sample) == 10000


def test_cpu_is_unknown_without_an_earlier_reading() -> None:
    """One-shot readings have no precpu: -1 rather than a made-up 0."""
    assert cpu_centi(None, reading(SECOND, 100 * SECOND)) == -1


def test_cpu_is_unknown_when_the_clock_did_not_move_or_the_counter_went_back() -> None:
    """A restarted container's counter starts again; two readings of one instant say nothing."""
    assert cpu_centi(reading(SECOND, 100 * SECOND), reading(SECOND, 100 * SECOND)) == -1
    assert cpu_centi(reading(5 * SECOND, 100 * SECOND), reading(SECOND, 101 * SECOND)) == -1


def test_memory_leaves_out_the_inactive_page_cache() -> None:
    """As `docker stats` counts it: cgroup v2's inactive_file, v1's total_inactive_file."""
    assert memory_used({"usage": 50, "stats": {"inactive_file": 10}}) == 40
    assert memory_used({"usage": 50, "stats": {"total_inactive_file": 20}}) == 30
    assert memory_used({"usage": 50, "stats": {"inactive_file": 80}}) == 50
    assert memory_used({}) == 0


def test_figures_of_a_reading() -> None:
    """Memory, its limit, processes and network bytes summed over the networks."""
    found = figures(reading(0, 100 * SECOND), reading(SECOND, 110 * SECOND))
    assert (found.cpu_centi, found.online_cpus) == (2000, 2)
    assert (found.memory, found.memory_limit, found.pids) == (40 << 20, 1 << 30, 3)
    assert (found.net_rx, found.net_tx) == (101, 42)
    assert found.read_at == 1_796_428_340_858


def test_odd_json_gives_zeros_not_errors() -> None:
    """Missing or mistyped fields (a stopped container, another daemon) read as 0."""
    found = figures(None, {"cpu_stats": None, "memory_stats": {"usage": "x"}, "read": 5})
    assert (found.cpu_centi, found.memory, found.pids, found.read_at) == (-1, 0, 0, 0)
    assert found.online_cpus == 1


def test_read_at_takes_nanoseconds_and_the_zero_time() -> None:
    assert read_at("2026-01-01T00:00:00.5Z") == 1_767_225_600_500
    assert read_at("0001-01-01T00:00:00Z") == 0
    assert read_at("yesterday") == 0


async def test_the_reader_reads_twice_at_first_then_once(monkeypatch: Any) -> None:
    """The first reading of a container is followed by a second, so CPU use is known at
    once; later requests within FRESH are answered from memory, and ones at the same
    moment share one Docker call."""
    monkeypatch.setattr(container_stats, "FIRST_GAP", 0.0)
    now = [0.0]
    calls: list[str] = []

    async def sample(container: str) -> Mapping[str, Any]:
        calls.append(container)
        await asyncio.sleep(0)
        n = len(calls)
        return reading(n * SECOND, (100 + 2 * n) * SECOND)

    reader = StatsReader(sample, clock=lambda: now[0])
    first = await reader.read("c1")
    assert first.cpu_centi == 10000 and len(calls) == 2
    assert (await reader.read("c1")) is first and len(calls) == 2
    now[0] += 5
    together = await asyncio.gather(reader.read("c1"), reader.read("c1"))
    assert together[0] == together[1] and len(calls) == 3
