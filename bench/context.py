"""What every metric gets: the two arms (stack and floor), the container, the pids.

A metric is written once and run on both arms through `Bench.open`; `interleave`
runs its rounds stack, floor, stack, floor, ... so that whatever else this
machine does at the time weighs on both alike. The client's garbage collector is
off inside a round, so its own pauses do not count against either arm.

Concurrency: one event loop; `open_many` bounds how many opens are in flight.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import docker

from bench.floor import Floor
from bench.procstat import dockerd_pid
from bench.stack import Stack, StackTerminal
from bench.terminal import Terminal
from tests.support.images import BUSYBOX_IMAGE

T = TypeVar("T")
Arm = Literal["stack", "floor"]
ARMS: tuple[Arm, ...] = ("stack", "floor")
LABEL = "dterm-bench"
CAT = ["sh", "-c", "echo ready; exec cat"]
"""The keystroke target: `ready` says it runs, then the tty echoes every key."""


@dataclass
class Bench:
    stack: Stack
    floor: Floor
    container: str

    @property
    def pids(self) -> dict[str, int]:
        """The processes worth watching: both of ours, the daemon, and this client."""
        pids = {"front end": self.stack.frontend.pid, "worker": self.stack.worker.pid}
        daemon = dockerd_pid()
        if daemon is not None:
            pids["dockerd"] = daemon
        pids["client"] = os.getpid()
        return pids

    async def open(self, arm: Arm, cmd: list[str], keep: bool = False) -> Terminal:
        if arm == "stack":
            return await StackTerminal.open(self.stack, self.container, cmd, keep)
        return await self.floor.open(self.container, cmd, keep)

    async def open_cat(self, arm: Arm) -> Terminal:
        terminal = await self.open(arm, CAT)
        await terminal.wait_ready()
        return terminal

    async def open_many(self, arm: Arm, count: int, limit: int = 16) -> list[Terminal]:
        """`count` idle cats, at most `limit` opening at a time."""
        gate = asyncio.Semaphore(limit)

        async def one() -> Terminal:
            async with gate:
                return await self.open_cat(arm)

        async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
            tasks = [group.create_task(one()) for _ in range(count)]
        return [task.result() for task in tasks]


async def end_all(terminals: list[Terminal], limit: int = 32) -> None:
    """End every session, even when some fail to end; then raise the first failure."""
    gate = asyncio.Semaphore(limit)

    async def one(terminal: Terminal) -> None:
        async with gate:
            await terminal.end()

    outcomes = await asyncio.gather(*(one(t) for t in terminals), return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise failures[0]


async def interleave(
    rounds: int, measure: Callable[[Any], Awaitable[T]], arms: Sequence[str] = ARMS
) -> dict[Any, list[T]]:
    """Run `measure` round by round on each arm in turn; returns each arm's results."""
    results: dict[Any, list[T]] = {arm: [] for arm in arms}
    for _ in range(rounds):
        for arm in arms:
            gc.collect()
            gc.disable()
            try:
                results[arm].append(await measure(arm))
            finally:
                gc.enable()
    return results


def start_container(client: docker.DockerClient) -> str:
    """A labelled busybox container that idles; returns its name."""
    name = f"{LABEL}-{os.getpid()}"
    client.containers.run(
        BUSYBOX_IMAGE,
        ["sleep", "1000000"],
        detach=True,
        name=name,
        network_mode="none",
        labels={LABEL: "1"},
    )
    return name


def remove_containers(client: docker.DockerClient) -> None:
    """Remove every container this suite started, this run's or a crashed run's."""
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        container.remove(force=True)
