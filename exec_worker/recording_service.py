"""Recording sessions on this host, and serving the recordings to front ends.

Each session is recorded (asciicast v2, exec_worker/asciicast.py) unless the worker
is set not to or the policy forbids it; a session the policy requires to be
recorded does not start when its recording cannot be opened. One timer flushes
every live recorder each second; another deletes recordings past the retention
period every hour. Listing reads only file heads and tails; fetching streams a file
with the same acked window as file downloads. Recordings stay on this host: front
ends list and stream them from here, so no shared disk is needed.

Concurrency: the event loop; file reads and deletions run off it.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

from exec_worker import recording_files
from exec_worker.asciicast import FLUSH_INTERVAL, Recorder, RecordingHeader
from exec_worker.metrics import RECORDINGS_REMOVED
from shared.errors import Unavailable
from shared.messages import (
    RecordingPolicy,
)
from shared.settings import WorkerConfig
from shared.transfer_messages import (
    ListRecordings,
    RecordingEntry,
)

log = logging.getLogger(__name__)

RETENTION_CHECK = 3600.0
BUDGET_CHECK = 10.0


class Recordings:
    def __init__(self, config: WorkerConfig, live: Callable[[], Iterable[Recorder]]) -> None:
        self.folder = Path(config.recordings_dir)
        self._config = config
        self._live = live
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._flush_loop()),
                       asyncio.create_task(self._retention_loop()),
                       asyncio.create_task(self._budget_loop())]  # fmt: skip

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def open(
        self, header: RecordingHeader, mode: RecordingPolicy, record_input: bool
    ) -> Recorder | None:
        """The session's recorder, None when it goes unrecorded; Unavailable when the
        policy requires a recording this host cannot make."""
        wanted = mode is RecordingPolicy.REQUIRED or (
            mode is RecordingPolicy.DEFAULT and self._config.record
        )
        if not wanted:
            return None
        if mode is RecordingPolicy.REQUIRED and not self._config.record:
            raise Unavailable("the policy requires a recording, and this host records nothing")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            return Recorder.start(self.folder, header, record_input,
                                  self._config.recording_max_bytes)  # fmt: skip
        except OSError as exc:
            if mode is RecordingPolicy.REQUIRED:
                raise Unavailable(f"the policy requires a recording, which failed: {exc}") from None
            log.warning("session %s goes unrecorded: %s", header.session, exc)
            return None

    async def _flush_loop(self) -> None:
        """At most one file write per turn of the loop: a hundred busy sessions flushed
        in one go would hold every keystroke of the host for milliseconds each second."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            for recorder in list(self._live()):
                if recorder.flush():
                    await asyncio.sleep(0)

    async def _retention_loop(self) -> None:
        days = self._config.recording_retention_days
        while days > 0:
            removed = await asyncio.to_thread(
                recording_files.delete_older_than, self.folder, days * 86400,
                keep=self._being_written(),
            )  # fmt: skip
            if removed:
                RECORDINGS_REMOVED.labels("age").inc(len(removed))
                log.info("deleted %d recordings older than %g days", len(removed), days)
            await asyncio.sleep(RETENTION_CHECK)

    def _being_written(self) -> set[str]:
        return {path.name for recorder in self._live() for path in recorder.paths}

    async def _budget_loop(self) -> None:
        """Keep the host's recordings within `recordings_max_total_bytes`: the oldest
        finished ones go first, and each removal is counted and logged."""
        budget = self._config.recordings_max_total_bytes
        while budget > 0:
            removed = await asyncio.to_thread(
                recording_files.trim_to_budget, self.folder, budget, self._being_written()
            )
            if removed:
                RECORDINGS_REMOVED.labels("budget").inc(len(removed))
                log.warning("removed %d oldest recordings to stay within %d bytes: %s",
                            len(removed), budget, ", ".join(removed[:5]))  # fmt: skip
            await asyncio.sleep(BUDGET_CHECK)

    async def list(self, request: ListRecordings) -> list[RecordingEntry]:
        found = await asyncio.to_thread(
            recording_files.list_recordings,
            self.folder,
            person=request.person or None,
            container=request.container or None,
            since=request.since or None,
            until=request.until or None,
            session=request.session or None,
        )
        return [
            RecordingEntry(
                name=i.name, size=i.size, started=i.started, person=i.person, host=i.host,
                container=i.container, session=i.session, part=i.part,
                duration_ms=-1 if i.duration is None else int(i.duration * 1000),
            )
            for i in found
            if not request.name or i.name == request.name
        ]  # fmt: skip


def header_for(
    session: str, host: str, container_id: str, container_name: str, person: str,
    run_as: str, cmd: list[str] | None, cols: int, rows: int, tty: bool = True,
) -> RecordingHeader:  # fmt: skip
    """What a recording says it is of; the command as a person would type it."""
    command = shlex.join(cmd) if cmd else "sh (bash if present)"
    return RecordingHeader(session, host, container_id, container_name, person, run_as,
                           command, cols, rows, shell="" if cmd else "/bin/sh",
                           tty=tty)  # fmt: skip
