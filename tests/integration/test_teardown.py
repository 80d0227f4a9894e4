"""Ending a session ends what it started in the container, whichever way it ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.containers import Containers
from tests.support.http import wait_hosts_up
from tests.support.processes import ManagedProcess, start_frontend, start_worker
from tests.support.terminal_client import PROMPT, Stack, TerminalClient
from tests.support.waiting import eventually

IGNORES_HANGUP = ["sh", "-c", "trap '' HUP; echo ready; sleep 1000"]


@pytest.fixture(scope="module")
def strict_worker(docker_client: Any) -> Iterator[ManagedProcess]:
    worker = start_worker(
        "strict",
        "--grace",
        "1",
        "--idle-timeout",
        "20",  # above the time 50 sessions take to open on a loaded machine
        "--idle-warning",
        "2",
        "--kill-grace",
        "1",
    )
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def box(containers: Containers) -> Any:
    """A container with an init that reaps orphans, as most real images should have."""
    return containers.run(init=True)


def sleepers(box: Any) -> int:
    return sum(p[-1] == "sleep 1000" for p in box.top()["Processes"])


async def start_sleeping(
    stack: Stack, box: Any, count: int, hangup_proof: bool
) -> list[TerminalClient]:
    """`count` sessions each running `sleep 1000`, half of them deaf to SIGHUP."""

    async def one(i: int) -> TerminalClient:
        terminal = await TerminalClient.connect(stack)
        if hangup_proof and i % 2:
            await terminal.open(box.name, host="strict", cmd=IGNORES_HANGUP)
            await terminal.expect("ready")
        else:
            await terminal.open(box.name, host="strict")
            await terminal.expect(PROMPT)
            terminal.send_keys("sleep 1000\r")
            await terminal.expect("sleep 1000\r\n")
        return terminal

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def wait_no_sleepers(box: Any, timeout: float) -> float:
    started = time.monotonic()
    await eventually(lambda: not sleepers(box), timeout, "no sleepers left", every=0.2)
    return time.monotonic() - started


async def test_fifty_sessions_ended_every_way_leave_nothing_behind(
    strict_worker: ManagedProcess, box: Any
) -> None:
    """50 sessions running `sleep 1000` (some ignoring SIGHUP) end by close message,
    closed tab past the grace period, idle timeout and a vanished front end: afterwards
    the container runs none of their processes."""
    endpoint = strict_worker.match["endpoint"]
    frontend = start_frontend([endpoint])
    doomed = start_frontend([endpoint])
    stack, doomed_stack = Stack(frontend.match["url"]), Stack(doomed.match["url"])
    for each in (stack, doomed_stack):
        (await asyncio.to_thread(wait_hosts_up, each, {"strict"}))
    try:
        # All at once: every session must be running before the first one's idle
        # timeout ends it.
        closing, tabs, idle, orphans = await asyncio.gather(
            start_sleeping(stack, box, 13, hangup_proof=True),
            start_sleeping(stack, box, 13, hangup_proof=True),
            start_sleeping(stack, box, 12, hangup_proof=False),
            start_sleeping(doomed_stack, box, 12, hangup_proof=True),
        )
        # the typed commands start a moment after their echo
        await eventually(lambda: sleepers(box) >= 50, 10, "50 sleepers", every=0.1)
        assert sleepers(box) == 50

        for terminal in closing:
            # A keystroke first: on a loaded machine opening 50 sessions can take
            # longer than the idle timeout, which must not end these before the close.
            terminal.send_keys(" ")
            terminal.send_control({"type": "close"})
        for terminal in tabs:
            await terminal.close()
        doomed.kill()

        for terminal in closing:
            assert (await terminal.wait_exit())["reason"] == "closed"
        for terminal in idle:
            warning = await terminal.next_control("idle-warning", timeout=30)
            exit_message = await terminal.wait_exit(timeout=10)
            assert exit_message["reason"] == "idle"
            assert terminal.controls.index(warning) < terminal.controls.index(exit_message)
            assert 0 < warning["seconds"] <= 2
        took = await wait_no_sleepers(box, timeout=30)
        print(f"all 50 sessions' processes gone {took:.1f} s after the last exits")
        for terminal in orphans:  # their front end is gone, so is their connection
            assert terminal.closed
        for terminal in [*closing, *idle]:
            await terminal.close()
    finally:
        frontend.stop()
        doomed.kill()
