"""SessionProcesses: the host processes of one session's exec, from before it starts
until they are ended.

The exec gets a marker variable of its own (host_processes.MARKER) and is recorded on
disk (leftovers.py) before it starts, so nothing it starts can be lost by a worker
crash. Its first process is found from /proc by the marker (Docker's exec inspect
is the fallback), and ended from /proc: SIGHUP, then SIGKILL after the grace period,
with no Docker call. A process a loaded daemon starts only after the session was
ended is ended as soon as it shows.

Concurrency: the worker's event loop; /proc and disk I/O run off it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets

from exec_worker import exec_exit, host_processes
from exec_worker.docker_exec import DockerHost
from exec_worker.leftovers import ProcessRecord, ProcessRecords
from exec_worker.process_index import ProcessIndex
from shared.errors import NotFound

FIND_WAIT = 2.0
"""Seconds ending waits for the first process to be found before it goes by the marker."""


class SessionProcesses:
    def __init__(
        self,
        session: str,
        docker: DockerHost,
        index: ProcessIndex,
        records: ProcessRecords,
        log: logging.LoggerAdapter,  # type: ignore[type-arg]
    ) -> None:
        self.marker = secrets.token_hex(12)
        self.exec_id = ""
        self.process: host_processes.ProcessRef | None = None
        self._session, self._docker, self._index, self._records = session, docker, index, records
        self._log = log
        self._finder: asyncio.Task[None] | None = None
        self._late: asyncio.Task[None] | None = None

    @property
    def environment(self) -> dict[str, str]:
        """What the exec is created with, so its processes can be told apart."""
        return {host_processes.MARKER: self.marker}

    async def created(self, exec_id: str) -> None:
        """Recorded before it starts: a crash from now on leaves nothing unknown."""
        self.exec_id = exec_id
        await asyncio.to_thread(self._records.keep, self._record())

    async def not_started(self) -> None:
        await asyncio.to_thread(self._records.drop, self._session)

    def find(self) -> None:
        """Look for the first process in the background, once the exec has started."""
        self._finder = asyncio.create_task(self._find(), name=f"find-process {self._session}")

    async def _find(self) -> None:
        self.process = await exec_exit.find_process(self._docker, self._index, self.exec_id,
                                                self.marker, self._log)  # fmt: skip
        if self.process is not None:
            await asyncio.to_thread(self._records.keep, self._record())

    def _record(self) -> ProcessRecord:
        return ProcessRecord(self._session, self.exec_id, self.marker, self.process)

    async def end(self, grace: float) -> None:
        """End every process of the exec; the record goes once none can show any more."""
        finder = self._finder
        if finder is not None:
            await asyncio.wait({finder}, timeout=FIND_WAIT)  # the marker does without it
        await exec_exit.end_processes(self.process, self._index, self.marker, grace, self._log)
        if finder is not None and not finder.done():
            self._late = asyncio.create_task(self._end_when_found(finder, grace))
        else:
            await asyncio.to_thread(self._records.drop, self._session)

    async def _end_when_found(self, finder: asyncio.Task[None], grace: float) -> None:
        """A process a loaded daemon started after the session was ended: end it too."""
        await asyncio.wait({finder})
        if self.process is not None:
            await exec_exit.end_processes(self.process, self._index, self.marker, grace, self._log)
        await asyncio.to_thread(self._records.drop, self._session)

    async def working_directory(self) -> str:
        """Where the first process (the shell) is now, inside the container."""
        if self._finder is not None:
            await asyncio.wait({self._finder})  # a shell started a moment ago
        if self.process is None:
            raise NotFound("the shell's directory is unknown: this worker cannot see its process")
        try:
            return await asyncio.to_thread(os.readlink, f"/proc/{self.process.pid}/cwd")
        except OSError:
            raise NotFound("the session's shell has ended") from None
