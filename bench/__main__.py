"""Entry point: `python -m bench [metric ...]` (all metrics by default).

Builds the test image if missing, starts a labelled container, the real stack and
the floor, runs each metric within one overall deadline, prints the table and
writes bench/results/latest.{json,md}. Everything it started is stopped and
removed at the end, whatever happened. Exits 1 when a metric failed or a product
process logged a traceback; missed targets are reported, not fatal.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from types import ModuleType
from typing import Any

import docker

from bench import machine, procstat, report
from bench.context import Bench, remove_containers, start_container
from bench.floor import Floor
from bench.metrics import METRICS
from bench.report import MetricResult
from bench.stack import Stack
from shared.process import raise_open_file_limit
from tests.support.images import docker_url, ensure_images

BUDGET = 540.0
"""Seconds all metrics together may take; `make bench` must end within 10 minutes."""
CORES = os.cpu_count() or 1
STOLEN_WARNING = 0.05
"""A metric during which the hypervisor took more of the machine's CPU than this is flagged."""


def _chosen(argv: list[str]) -> list[ModuleType]:
    names = {m.NAME: m for m in METRICS}
    unknown = [a for a in argv if a not in names]
    if unknown:
        raise SystemExit(f"unknown metric {unknown}; choose from {' '.join(names)}")
    return [m for m in METRICS if not argv or m.NAME in argv]


def _why(exc: BaseException) -> str:
    """One line for the table: the first real error, not its task group."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


async def _run_all(bench: Bench, metrics: list[ModuleType]) -> list[MetricResult]:
    deadline = time.monotonic() + BUDGET
    own = set(bench.pids.values())
    results = []
    for metric in metrics:
        started, stolen = time.monotonic(), procstat.stolen_seconds()
        others = procstat.strangers(own)
        print(f"bench: {metric.NAME} ...", flush=True)
        try:
            result = await asyncio.wait_for(metric.run(bench), deadline - time.monotonic())
        except Exception as exc:
            traceback.print_exc()
            result = MetricResult(metric.NAME, error=_why(exc))
        elapsed = time.monotonic() - started
        result.seconds = round(elapsed, 1)
        result.stolen = round((procstat.stolen_seconds() - stolen) / (elapsed * CORES), 3)
        # A metric may replace a process of the stack (handover starts a successor).
        own |= set(bench.pids.values())
        result.others = sorted(set(others + procstat.strangers(own)))
        print(
            f"bench: {metric.NAME} took {result.seconds} s, {result.stolen:.0%} stolen", flush=True
        )
        results.append(result)
    return results


def _measure(
    client: docker.DockerClient, metrics: list[ModuleType]
) -> tuple[list[MetricResult], list[str], dict[str, Any]]:
    """Start everything, run the metrics, stop and remove everything."""
    ensure_images(client)
    remove_containers(client)
    floor = Floor(docker_url())
    facts = machine.facts(floor.api)
    stack = None
    problems: list[str] = []
    try:
        container = start_container(client)
        stack = Stack.start()
        results = asyncio.run(_run_all(Bench(stack, floor, container), metrics))
    finally:
        if stack is not None:
            problems += stack.stop()
        floor.close()
        remove_containers(client)
    return results, problems, facts


def _disturbances(result: MetricResult) -> list[str]:
    found = []
    if result.others:
        more = len(result.others) - 3
        shown = "; ".join(result.others[:3]) + (f"; and {more} more" if more > 0 else "")
        found.append(f"so did {shown}")
    if result.stolen > STOLEN_WARNING:
        found.append(
            f"the hypervisor took {result.stolen:.0%} of this machine's CPU time "
            "for other guests (steal)"
        )
    return found


def _summary(results: list[MetricResult], problems: list[str], wall: float) -> str:
    lines = ["", "Targets:"]
    for what, met in report.targets(results):
        lines.append(f"- [{'x' if met else ' '}] {what}")
    for result in results:
        for why in _disturbances(result):
            lines.append(f"\nWarning: numbers disturbed? While {result.name} ran, {why}")
    lines += ["", f"Wall time: {wall:.0f} s"]
    lines += [f"\nProblem: {p}" for p in problems]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    started = time.monotonic()
    metrics = _chosen(argv)
    raise_open_file_limit()  # the client holds a connection per session, as the stack does
    client = docker.from_env()
    try:
        results, problems, facts = _measure(client, metrics)
    finally:
        client.close()
    facts["wall_seconds"] = round(time.monotonic() - started, 1)
    text = report.markdown(results, facts) + _summary(results, problems, facts["wall_seconds"])
    print("\n" + text)
    path = report.write(results, facts, text)
    print(f"bench: results in {path.parent}/latest.json and latest.md")
    failed = any(r.error for r in results) or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
