"""Ending what a session started: the exec's processes, signalled from the host.

Docker has no API to kill an exec (moby#9098), and closing its connection leaves
the process running. Every exec carries a marker variable of its own, so its first
process is found in /proc without asking Docker (exec inspect's host PID is the
fallback); the worker runs in the host's PID namespace and signals that process and
all it started: its descendants, every process of its session (a tty exec leads its
own session) and every process carrying its marker, which catches children that
were re-parented when their parent died, daemons that left the session, and
programs that ignore stdin EOF (`sleep`, `top`). SIGHUP first, SIGKILL for what
is left after a grace period (the caller waits, so no thread sleeps). A process is
matched by PID *and* start time, and must share the exec's PID namespace, so a
recycled PID is never signalled.

Reading /proc is blocking file I/O: callers run these functions off the loop.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """A process that cannot be confused with a later one reusing its PID."""

    pid: int
    start_time: int
    pid_namespace: str


@dataclass(frozen=True, slots=True)
class _Stat:
    state: str
    ppid: int
    session: int
    start_time: int


def _stat(pid: int) -> _Stat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold spaces
    return _Stat(fields[0], int(fields[1]), int(fields[3]), int(fields[19]))


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(PROC / str(pid) / "ns" / "pid")
    except OSError:
        return None


def process_ref(pid: int) -> ProcessRef | None:
    """The process as it is now, or None if this worker cannot see it."""
    stat, namespace = _stat(pid), _namespace(pid)
    if stat is None or namespace is None:
        return None
    return ProcessRef(pid, stat.start_time, namespace)


def _alive(ref: ProcessRef) -> bool:
    """Still running and still the same process (a zombie has ended already)."""
    stat = _stat(ref.pid)
    return stat is not None and stat.start_time == ref.start_time and stat.state not in "ZX"


MARKER = "DTERM_EXEC"
"""The variable each exec gets, with a random value of its own: its processes and all
they start carry it, so they are found from /proc without asking Docker, including
daemons that left the exec's session and process tree (process_index.py)."""


ENVIRON_CAP = 64 * 1024
"""Bytes of a process's environment read to find a marker: a process of a container
with more is not read further (a container's processes cannot make every scan slow)."""
TOO_LARGE = "?"
"""marker_of's answer for an environment larger than ENVIRON_CAP."""


def marker_of(pid: int) -> str | None:
    """The exec marker in a process's environment: "" for none or unreadable,
    TOO_LARGE when the environment is too large to read, None when it has none yet (a
    process in the middle of exec shows an empty one for a moment)."""
    prefix = f"{MARKER}=".encode()
    try:
        with open(PROC / str(pid) / "environ", "rb") as file:
            environ = file.read(ENVIRON_CAP + 1)
    except OSError:
        return ""
    if not environ:
        return None
    for entry in environ[:ENVIRON_CAP].split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode("ascii", "replace")
    return TOO_LARGE if len(environ) > ENVIRON_CAP else ""


def own_namespace() -> str:
    """The worker's own PID namespace (the host's): no process in it is ever signalled
    unless it carries the session's marker."""
    return _namespace(os.getpid()) or ""


def program_of(pid: int) -> str:
    """The program a process runs now ("" for a kernel thread or one gone)."""
    try:
        return os.readlink(PROC / str(pid) / "exe")
    except OSError:
        return ""


def start_time(pid: int) -> int | None:
    stat = _stat(pid)
    return stat.start_time if stat else None


def session_processes(root: ProcessRef | None, carrying: list[ProcessRef]) -> list[ProcessRef]:
    """The root, its descendants, the members of its session and the processes that
    carry its marker (`carrying`, oldest first; with no root known, the oldest of
    them stands for it), in its PID namespace. In the worker's own namespace (a
    container sharing the host's PIDs, or a PID that is no longer the exec's) only
    the processes that carry the marker count: nothing else there is ever ours."""
    if root is None:
        if not carrying:
            return []
        root = carrying[0]
    if root.pid_namespace == own_namespace():
        return list(carrying)
    stats: dict[int, _Stat] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    found = {pid for pid, s in stats.items() if s.session == root.pid}
    found |= {ref.pid for ref in carrying}
    if _alive(root):
        found.add(root.pid)
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        for pid, s in stats.items():
            if s.ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    refs = [
        ProcessRef(pid, stats[pid].start_time, _namespace(pid) or "")
        for pid in found
        if pid in stats
    ]
    return [r for r in refs if r.pid_namespace == root.pid_namespace]


def signal_all(refs: list[ProcessRef], signum: int) -> list[ProcessRef]:
    """Signal the processes that are still the ones we mean; return those."""
    hit = []
    for ref in refs:
        if _alive(ref):
            try:
                os.kill(ref.pid, signum)
                hit.append(ref)
            except ProcessLookupError:
                pass
    return hit


def hang_up(root: ProcessRef | None, carrying: list[ProcessRef]) -> list[ProcessRef]:
    """SIGHUP (and SIGCONT, so a stopped one sees it) every process of the session."""
    targets = session_processes(root, carrying)
    signal_all(targets, signal.SIGHUP)
    signal_all(targets, signal.SIGCONT)
    return targets


def any_alive(refs: list[ProcessRef]) -> bool:
    return any(_alive(ref) for ref in refs)


def kill_rest(root: ProcessRef | None, refs: list[ProcessRef], carrying: list[ProcessRef]) -> int:
    """SIGKILL what is left, looking again for processes forked since the hangup."""
    survivors = {*(ref for ref in refs if _alive(ref)), *session_processes(root, carrying)}
    return len(signal_all(list(survivors), signal.SIGKILL))
