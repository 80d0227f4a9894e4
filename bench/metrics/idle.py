"""idle sessions: what 1,000 open, idle sessions cost each process.

Each session is an idle `cat` under a tty, opened through the one front end and
the one worker. /proc is read before the sessions are opened, when half of them
are open and when all of them have printed `ready`. RSS and file descriptors
added, divided by the number of sessions, are the cost of one session. Threads
are judged on the second half alone: bounded pools (Docker calls, the loop's
default executor) grow while the first sessions open and then stop, while a
thread per session would add one thread per session in either half.

The floor has no process of its own: what it pays per session is dockerd's
share, read in the same run and shown beside ours. So this metric runs on the
stack only, once: 1,000 execs keep dockerd busy for half a minute, and a second
thousand would measure dockerd again. Sessions are then ended with Ctrl-D.
"""

from __future__ import annotations

from bench import procstat
from bench.context import Bench, end_all
from bench.report import MetricResult, Row

NAME = "idle"
SESSIONS = 1000
MAX_RSS_KIB = 64
MAX_FDS = 2
MAX_THREADS = 0.01 * SESSIONS / 2
"""Threads the second half may add: 1 % of its sessions, where a thread per
session would add all 500."""
OURS = ("front end", "worker")


async def run(bench: Bench) -> MetricResult:
    pids = bench.pids
    before = procstat.usages(pids)
    terminals = await bench.open_many("stack", SESSIONS // 2)
    half = procstat.usages(pids)
    terminals += await bench.open_many("stack", SESSIONS - SESSIONS // 2)
    after = procstat.usages(pids)
    await end_all(terminals)
    costs = {name: _cost(before[name], half[name], after[name]) for name in pids}
    rows = [row for name, cost in costs.items() for row in _rows(name, cost)]
    return MetricResult(NAME, rows=rows, raw={"sessions": SESSIONS, "per_process": costs})


def _cost(before: procstat.Usage, half: procstat.Usage, after: procstat.Usage) -> dict[str, float]:
    return {
        "rss_kib": (after.rss_kib - before.rss_kib) / SESSIONS,
        "fds": (after.fds - before.fds) / SESSIONS,
        "threads": after.threads - half.threads,
        "threads_first_half": half.threads - before.threads,
        "rss_kib_before": before.rss_kib,
        "rss_kib_after": after.rss_kib,
    }


def _rows(name: str, cost: dict[str, float]) -> list[Row]:
    """Front end and worker are held to the targets; dockerd is the floor's cost."""
    if name not in (*OURS, "dockerd"):
        return []
    rows = []
    for key, unit, limit, target in (
        ("rss_kib", "KiB/session", MAX_RSS_KIB, f"<= {MAX_RSS_KIB}"),
        ("fds", "fds/session", MAX_FDS, f"<= {MAX_FDS}"),
        ("threads", "added, 2nd half", MAX_THREADS, "no thread/session"),
    ):
        label = f"{SESSIONS} idle: {key.split('_')[0]}, {name}"
        if name == "dockerd" and key == "rss_kib":
            continue  # Go's collector returns memory at will: the difference means nothing
        if name in OURS:
            rows.append(Row(label, unit, [cost[key]], target=target, met=cost[key] <= limit))
        else:
            rows.append(Row(label, unit, [], [cost[key]]))
    return rows
