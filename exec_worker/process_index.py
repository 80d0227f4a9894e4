"""ProcessIndex: which host processes carry which exec's marker, for every session at once.

Every exec gets a marker variable of its own (host_processes.MARKER), so its processes are
found in /proc without Docker. Reading /proc is the cost: a scan reads every
process's stat, and the environment of each process it has not seen before. So one
scanner serves all sessions: whoever asks gets the answer of a scan that began after
they asked, and all who asked meanwhile share it; environments are read once per
process (by PID, start time and program), not once per question. A hundred sessions starting
or ending together cost one scan per turn, not a hundred.

Concurrency: asked from the worker's loop; each scan runs in a thread, one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from exec_worker import host_processes
from exec_worker.host_processes import ProcessRef


class ProcessIndex:
    def __init__(self) -> None:
        self._marks: dict[int, tuple[tuple[int, str], str]] = {}
        """pid -> ((start time, program), its marker or ""): a process that execs another
        program keeps its PID and start time, and gets a new environment."""
        self._asked: dict[str, list[asyncio.Future[list[ProcessRef]]]] = {}
        self._scanner: asyncio.Task[None] | None = None

    async def marked(self, marker: str) -> list[ProcessRef]:
        """The processes carrying `marker`, oldest first, as a scan begun after this call
        found them."""
        answer: asyncio.Future[list[ProcessRef]] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(marker, []).append(answer)
        if self._scanner is None:
            self._scanner = asyncio.create_task(self._scan_while_asked())
        return await answer

    async def _scan_while_asked(self) -> None:
        try:
            while self._asked:
                asked, self._asked = self._asked, {}
                found = await asyncio.to_thread(self._scan)
                for marker, answers in asked.items():
                    for answer in answers:
                        if not answer.done():
                            answer.set_result(found.get(marker, []))
        finally:
            self._scanner = None

    def _scan(self) -> dict[str, list[ProcessRef]]:
        """Blocking: one pass over /proc."""
        found: dict[str, list[ProcessRef]] = {}
        alive: set[int] = set()
        for pid, start_time in _processes():
            alive.add(pid)
            identity = (start_time, host_processes.program_of(pid))
            known = self._marks.get(pid)
            if identity[1] and (known is None or known[0] != identity):
                marker = host_processes.marker_of(pid)
                if marker is None:
                    continue  # in the middle of exec: read it at the next scan
                known = self._marks[pid] = (identity, marker)
            if known and known[1] and known[1] != host_processes.TOO_LARGE:
                ref = host_processes.process_ref(pid)
                if ref is not None and ref.start_time == start_time:
                    found.setdefault(known[1], []).append(ref)
        for gone in set(self._marks) - alive:
            del self._marks[gone]
        for refs in found.values():
            refs.sort(key=lambda ref: (ref.start_time, ref.pid))
        return found


def _processes() -> Iterator[tuple[int, int]]:
    for entry in host_processes.PROC.iterdir():
        if entry.name.isdigit():
            start_time = host_processes.start_time(int(entry.name))
            if start_time is not None:
                yield int(entry.name), start_time
