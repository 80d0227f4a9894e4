"""The marker index finds processes by the variable each exec carries, from /proc, with
one scan shared by everyone who asks at once."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import subprocess
from pathlib import Path

from exec_worker import host_processes
from exec_worker.process_index import ProcessIndex
from tests.support.waiting import wait_until


def spawn(marker: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A `sleep` carrying the marker, once its exec is complete (a process shows an empty
    environment for a moment after its parent learns the exec succeeded)."""
    proc = subprocess.Popen(
        ["sleep", "30"], env=env or {**os.environ, host_processes.MARKER: marker}
    )
    wait_until(lambda: Path(f"/proc/{proc.pid}/environ").read_bytes(), 5, "the exec complete", 0.01)
    return proc


async def test_marked_processes_are_found_oldest_first() -> None:
    marker = secrets.token_hex(8)
    first, second = spawn(marker), spawn(marker)
    try:
        found = await ProcessIndex().marked(marker)
        assert [ref.pid for ref in found] == [first.pid, second.pid]
        assert await ProcessIndex().marked(secrets.token_hex(8)) == []
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


async def test_a_process_that_ended_is_not_found_again() -> None:
    marker = secrets.token_hex(8)
    index = ProcessIndex()
    proc = spawn(marker)
    assert [ref.pid for ref in await index.marked(marker)] == [proc.pid]
    proc.kill()
    proc.wait()
    assert await index.marked(marker) == []


async def test_questions_asked_together_share_one_scan() -> None:
    index = ProcessIndex()
    scans = 0
    scan = index._scan

    def counted() -> dict[str, list[host_processes.ProcessRef]]:
        nonlocal scans
        scans += 1
        return scan()

    index._scan = counted  # type: ignore[method-assign]
    markers = [secrets.token_hex(8) for _ in range(50)]
    answers = await asyncio.gather(*(index.marked(m) for m in markers))
    assert answers == [[]] * 50
    assert scans <= 2  # the first question's scan, and one for all asked meanwhile


async def test_a_process_that_execs_is_read_again() -> None:
    """A process seen before it execs the marked program (as `runc init` is) keeps its
    PID and start time; its new environment is read once it runs the new program."""
    marker = secrets.token_hex(8)
    index = ProcessIndex()
    script = f"read x; exec env {host_processes.MARKER}={marker} sleep 30"
    proc = subprocess.Popen(["sh", "-c", script], stdin=subprocess.PIPE)  # noqa: ASYNC220
    try:
        assert await index.marked(marker) == []
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        for _ in range(50):
            found = await index.marked(marker)
            if found:
                break
            await asyncio.sleep(0.05)
        assert [ref.pid for ref in found] == [proc.pid]
    finally:
        proc.kill()
        proc.wait()


def test_a_process_of_the_host_is_never_taken_for_an_exec() -> None:
    """A PID Docker names is used only for a process that carries the exec's marker and is
    not one of the host's own: a host process that took over an ended exec's PID is not."""
    from exec_worker import exec_exit
    from shared.process import SessionLog

    log = SessionLog(logging.getLogger("test"), "s@h")
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert exec_exit._process_at(proc.pid, secrets.token_hex(8), log) is None
        host = host_processes.process_ref(proc.pid)
        assert host is not None
        assert host_processes.session_processes(host, []) == []
    finally:
        proc.kill()
        proc.wait()


def test_an_environment_too_large_is_not_read_to_its_end() -> None:
    """A process with a huge environment is read no further than the cap: its marker is
    found only within it."""
    marker = secrets.token_hex(8)
    filler = {f"FILLER{i}": "x" * 30_000 for i in range(4)}  # past the cap, in pieces
    early = spawn(marker, {host_processes.MARKER: marker, **filler})
    late = spawn(marker, {**filler, host_processes.MARKER: marker})
    try:
        assert host_processes.marker_of(early.pid) == marker
        assert host_processes.marker_of(late.pid) == host_processes.TOO_LARGE
    finally:
        for proc in (early, late):
            proc.kill()
            proc.wait()
