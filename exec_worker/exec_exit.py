"""How an exec ends, as far as Docker and the host's /proc can tell.

Docker answers exec start before it starts the process, and records an exit a
moment after the stream ends; a container that died takes a moment more to show
as stopped. These helpers ask again, briefly, instead of guessing. Ending an
exec's processes is SIGHUP, a grace period, then SIGKILL (host_processes.py).

Concurrency: coroutines on the worker's loop; Docker and /proc calls run off it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass

from exec_worker import host_processes
from exec_worker.commands import start_failure
from exec_worker.docker_exec import DockerBusy, DockerHost, ExecState
from exec_worker.lifecycle import Ending
from exec_worker.process_index import ProcessIndex
from shared.errors import DtermError
from shared.messages import ExitReason

EXIT_TIMEOUT = 5.0
"""Seconds to learn an exit code from Docker before reporting it as unknown."""
ASK_AGAIN = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
"""Delays between questions to Docker: 1.6 s at most in all."""


FIND_FOR = 30.0
"""Seconds to keep asking a busy Docker daemon for an exec's process."""


async def find_process(
    docker: DockerHost,
    index: ProcessIndex,
    exec_id: str,
    marker: str,
    log: logging.LoggerAdapter,  # type: ignore[type-arg]
) -> host_processes.ProcessRef | None:
    """The exec's host process, to end it and its children later: from /proc by its
    marker, without Docker, once it runs (a loaded daemon may start it seconds after
    it answered the start). Docker is asked now and then whether the exec has ended
    without a process to find, or which PID it has where the marker cannot be read."""
    deadline = time.monotonic() + FIND_FOR
    for delay in itertools.chain(ASK_AGAIN, itertools.repeat(0.5)):
        await asyncio.sleep(delay)
        found = await index.marked(marker)
        if found:
            return found[0]
        if time.monotonic() > deadline:
            break
        if delay < ASK_AGAIN[-1] / 2:
            continue  # the first looks are at /proc only
        try:
            state = await docker.inspect_exec(exec_id)
        except DockerBusy:
            continue
        except DtermError as exc:  # also: the worker is stopping and its pool is shut
            log.warning("cannot inspect its exec: %s", exc)
            return None
        if not state.running and state.exit_code is not None:
            return None  # it ended before it was seen: nothing to end, and its PID is free
        if state.pid and (found_at := await asyncio.to_thread(_process_at, state.pid, marker, log)):
            return found_at
    log.warning("its process did not show within %g s", FIND_FOR)
    return None


def _process_at(
    pid: int,
    marker: str,
    log: logging.LoggerAdapter,  # type: ignore[type-arg]
) -> host_processes.ProcessRef | None:
    """The process at the PID Docker names, if it is surely the exec's: not a process
    of the host's own namespace, and carrying the marker (unless its environment is
    too large to read). Blocking: /proc."""
    process = host_processes.process_ref(pid)
    if process is None:
        _cannot_see(pid, log)
        return None
    carries = host_processes.marker_of(pid)
    if carries is None:
        return None  # in the middle of exec: look again
    if process.pid_namespace == host_processes.own_namespace() or carries not in (
        marker,
        host_processes.TOO_LARGE,
    ):
        log.warning("process %d is not the exec's: not ended through its PID", pid)
        return None
    return process


_warned: list[bool] = []


def _cannot_see(pid: int, log: logging.LoggerAdapter) -> None:  # type: ignore[type-arg]
    """Say once per worker that it cannot see its sessions' processes: that is how it is
    set up (not in the host's PID namespace), not news at every session."""
    if _warned:
        log.debug("cannot see process %d", pid)
        return
    _warned.append(True)
    log.warning("cannot see process %d; sessions' processes will outlive them "
                "(run the worker in the host's PID namespace)", pid)  # fmt: skip


async def end_processes(
    root: host_processes.ProcessRef | None,
    index: ProcessIndex,
    marker: str,
    grace: float,
    log: logging.LoggerAdapter,  # type: ignore[type-arg]
) -> None:
    """SIGHUP, a grace period, then SIGKILL for what is left: no Docker call."""
    targets = await asyncio.to_thread(host_processes.hang_up, root, await index.marked(marker))
    deadline = time.monotonic() + grace
    # /proc has no event for the end of a process that is not our child: poll.
    while time.monotonic() < deadline and await asyncio.to_thread(  # noqa: ASYNC110
        host_processes.any_alive, targets
    ):
        await asyncio.sleep(0.05)
    carrying = await index.marked(marker)
    killed = await asyncio.to_thread(host_processes.kill_rest, root, targets, carrying)
    log.info("ended %d processes (%d needed SIGKILL)", len(targets), killed)


async def settled_state(docker: DockerHost, exec_id: str, closing: bool) -> ExecState:
    """Exec inspect until Docker has recorded the exit (it usually has at once)."""
    state = await docker.inspect_exec(exec_id)
    for delay in ASK_AGAIN:
        if not state.running or closing:
            break
        await asyncio.sleep(delay)
        state = await docker.inspect_exec(exec_id)
    return state


async def container_stopped(docker: DockerHost, container: str, exit_code: int | None) -> bool:
    """Whether the container is down. A process killed by a signal may have died with
    its container, whose state Docker records a moment later: ask again."""
    delays = ASK_AGAIN if exit_code is None or exit_code > 128 else (0.0,)
    for delay in delays:
        await asyncio.sleep(delay)
        if not await docker.container_running(container):
            return True
    return False


@dataclass(frozen=True, slots=True)
class HowItEnded:
    code: int | None
    reason: ExitReason
    message: str
    failure: DtermError | None = None
    """A start that failed (no shell, no such command): told to everyone attached."""


async def how_it_ended(
    docker: DockerHost,
    exec_id: str,
    ending: Ending | None,
    cmd: list[str] | None,
    said: bytes,
    container: str,
    running: bool | None,
    host: str,
) -> HowItEnded:
    """The exit code and reason, within EXIT_TIMEOUT seconds per question to Docker.

    `ending` is why we ended it, if we did; `said` is the start of its output (to tell
    a failed start); `running` is what the event-fed container cache says, if it
    knows. A daemon that does not answer makes the reason `host-lost`."""
    try:
        state = await asyncio.wait_for(settled_state(docker, exec_id, ending is not None),
                                       EXIT_TIMEOUT)  # fmt: skip
    except (DtermError, TimeoutError) as exc:
        if ending is not None:
            return HowItEnded(None, ending.reason, ending.message)
        lost = f"the Docker daemon of host {host} does not answer ({exc!r})"
        return HowItEnded(None, ExitReason.HOST_LOST, lost)
    if ending is not None:
        return HowItEnded(None if state.running else state.exit_code, ending.reason,
                          ending.message)  # fmt: skip
    failure = start_failure(cmd, state.started, state.exit_code, said)
    if failure is not None:
        return HowItEnded(state.exit_code, ExitReason.EXITED, str(failure), failure)
    stopped = running is False
    if not stopped:
        with contextlib.suppress(DtermError, TimeoutError):
            stopped = await asyncio.wait_for(
                container_stopped(docker, container, state.exit_code), EXIT_TIMEOUT
            )
    return HowItEnded(state.exit_code, ExitReason.CONTAINER_STOPPED if stopped
                      else ExitReason.EXITED, "")  # fmt: skip
