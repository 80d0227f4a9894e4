"""What /proc says about a process: CPU seconds, memory, threads, file descriptors.

Plain reads of /proc/<pid>/stat, /status and /fd, so any process on this machine
can be watched the same way (front end, worker, dockerd, the bench client itself)
without a library. Synchronous and cheap: call them between timed steps.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    """One reading of a process; memory in KiB."""

    cpu_seconds: float
    rss_kib: int
    peak_rss_kib: int
    threads: int
    fds: int


def cpu_seconds(pid: int) -> float:
    """User plus system time; the command name may hold spaces, so split after it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run_ns(pid: int) -> int:
    """Time all threads of a process have run, in nanoseconds (schedstat): exact, where
    /proc/<pid>/stat counts in ticks of 10 ms, too coarse for a second of keystrokes."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


def voluntary_switches(pid: int) -> int:
    """Times all threads of a process gave up the CPU to wait (for a socket, a lock, a
    timer): each is a sleep and, later, a wake-up."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
    return total


def _status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def usage(pid: int) -> Usage:
    status = _status(pid)
    return Usage(
        cpu_seconds=cpu_seconds(pid),
        rss_kib=int(status["VmRSS"].split()[0]),
        peak_rss_kib=int(status["VmHWM"].split()[0]),
        threads=int(status["Threads"]),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
    )


def reset_peak_rss(pid: int) -> None:
    """Make VmHWM start again from the current RSS (root only; else it stays a lifetime peak)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def usages(pids: dict[str, int]) -> dict[str, Usage]:
    return {name: usage(pid) for name, pid in pids.items()}


def cpu_spent(before: dict[str, Usage], after: dict[str, Usage]) -> dict[str, float]:
    return {name: after[name].cpu_seconds - before[name].cpu_seconds for name in before}


def dockerd_pid() -> int | None:
    """The main daemon's pid from its pidfile, or None when it is not readable."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


NOISY = ("exec_worker", "frontend_server", "pytest", "chromium")


def stolen_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this one had work, all CPUs.

    A virtual machine's neighbours can take a large share of its cores for minutes;
    numbers measured then say more about them than about the code.
    """
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / TICKS if len(fields) > 8 else 0.0


def strangers(own: set[int]) -> list[str]:
    """Other dterm, test or browser processes on this machine, by pid and program.

    Another run of the stack or of the tests takes CPU from both arms unevenly;
    the report says so rather than letting such numbers pass for this code's.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in argv if a)
        if any(word in line for word in NOISY):
            found.append(f"process {entry.name}: {_program(argv)}")
    return found


def _program(argv: list[bytes]) -> str:
    """The program's name (a module's, for `python -m`), without the folders it runs
    from: enough to recognise it, and a report holds no paths of the machine."""
    words = [a.decode(errors="replace") for a in argv if a]
    if len(words) > 2 and words[1] == "-m":
        return words[2]
    return Path(words[0]).name if words else "?"
