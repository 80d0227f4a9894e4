"""Recording sessions on this host, and serving the recordings to front ends.

Each session is recorded (asciicast v2, exec_worker/asciicast.py) unless the worker
is set not to or the policy forbids it; a session the policy requires to be
recorded does not start when its recording cannot be opened. One timer flushes
every live recorder each second; another deletes recordings past the retention
period every hour. Listing reads only file heads and tails; fetching streams a file
with the same acked window as file downloads. Front ends list and stream recordings
from here, so no shared disk is needed.

With a bucket (`storage_bucket`), finished recordings are also uploaded
(recording_uploads.py), listings show what this host holds and what its folder of
the bucket holds, each recording once (bucket_plan.merge), and a recording no longer
here is streamed from the bucket (stored_recordings.py). The age and the budget
then remove only recordings whose upload is confirmed, unless the budget cannot be
kept otherwise.

Concurrency: the event loop; file reads and deletions run off it.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from exec_worker import recording_files
from exec_worker.asciicast import FLUSH_INTERVAL, Recorder, RecordingHeader
from exec_worker.bucket_plan import merge
from exec_worker.metrics import RECORDINGS_REMOVED
from exec_worker.recording_files import RecordingFilter, RecordingInfo
from exec_worker.recording_store import RecordingStore
from exec_worker.recording_uploads import Uploads
from exec_worker.stored_recordings import RecordingSource, StoredRecordings
from shared.errors import NotFound, ProtocolError, Unavailable
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
        self._opened: set[Recorder] = set()
        self.uploads: Uploads | None = None
        self.stored: StoredRecordings | None = None
        if config.storage_bucket:
            store = RecordingStore(config)
            self.uploads = Uploads(self.folder, store, config, self._writing)
            self.stored = StoredRecordings(store, self.folder, config.host_id)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._flush_loop()),
                       asyncio.create_task(self._retention_loop()),
                       asyncio.create_task(self._budget_loop())]  # fmt: skip
        if self.uploads is not None and self._config.record:
            self._tasks.append(asyncio.create_task(self.uploads.run()))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for part in (self.uploads, self.stored):
            if part is not None:
                part.close()

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
            recorder = Recorder.start(self.folder, header, record_input,
                                      self._config.recording_max_bytes)  # fmt: skip
        except OSError as exc:
            if mode is RecordingPolicy.REQUIRED:
                raise Unavailable(f"the policy requires a recording, which failed: {exc}") from None
            log.warning("session %s goes unrecorded: %s", header.session, exc)
            return None
        if self.uploads is not None:
            recorder.on_done = self.uploads.finished
            self._opened.add(recorder)
        return recorder

    def adopt(self, state: dict[str, Any]) -> Recorder:
        """Go on with a recording the worker that ran before was writing."""
        try:
            recorder = Recorder.resume(self.folder, state)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"a recording's state is unreadable: {exc!r}") from None
        if self.uploads is not None:
            recorder.on_done = self.uploads.finished
            self._opened.add(recorder)
        return recorder

    def _writing(self) -> set[str]:
        """The files recorders of this run are still writing (their last parts): every
        other recording in the folder is finished."""
        self._opened = {recorder for recorder in self._opened if not recorder.closed}
        return {recorder.path.name for recorder in self._opened}

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
                keep=self._being_written(), only=self._confirmed(),
            )  # fmt: skip
            if removed:
                RECORDINGS_REMOVED.labels("age").inc(len(removed))
                log.info("deleted %d recordings older than %g days", len(removed), days)
            await asyncio.sleep(RETENTION_CHECK)

    def _confirmed(self) -> frozenset[str] | None:
        """With a bucket, the local recordings whose upload is confirmed; None without."""
        if self.uploads is None:
            return None
        return frozenset(self.uploads.confirmed)

    def _being_written(self) -> set[str]:
        return {path.name for recorder in self._live() for path in recorder.paths}

    async def _budget_loop(self) -> None:
        """Keep the host's recordings within `recordings_max_total_bytes`: the oldest
        finished ones go first, and each removal is counted and logged."""
        budget = self._config.recordings_max_total_bytes
        while budget > 0:
            confirmed = self._confirmed()
            removed = await asyncio.to_thread(
                recording_files.trim_to_budget, self.folder, budget, self._being_written(),
                first=confirmed,
            )  # fmt: skip
            lost = [name for name in removed if confirmed is not None and name not in confirmed]
            if lost:
                log.warning("the disk budget left no choice but to remove %d recordings not "
                            "yet uploaded: %s", len(lost), ", ".join(lost[:5]))  # fmt: skip
            if removed:
                RECORDINGS_REMOVED.labels("budget").inc(len(removed))
                log.warning("removed %d oldest recordings to stay within %d bytes: %s",
                            len(removed), budget, ", ".join(removed[:5]))  # fmt: skip
            await asyncio.sleep(BUDGET_CHECK)

    async def list(self, request: ListRecordings) -> list[RecordingEntry]:
        """What this host holds and, with a bucket, what its folder there holds: each
        recording once."""
        wanted = RecordingFilter(
            person=request.person or None,
            container=request.container or None,
            since=request.since or None,
            until=request.until or None,
            session=request.session or None,
            name=request.name or None,
        )
        local = await asyncio.to_thread(recording_files.select, self.folder, wanted)
        stored: list[RecordingInfo] = []
        if self.stored is not None and not (wanted.name and local):
            stored = await self.stored.select(wanted)
        return [_entry(listed.info) for listed in merge(local, stored)]

    async def source(self, name: str) -> RecordingSource:
        """The bytes of one recording: the file on this host, else the bucket's copy.
        The caller has checked who may read it."""
        try:
            chunks = await asyncio.to_thread(recording_files.read_chunks, self.folder, name)
            size = (self.folder / name).lstat().st_size
        except (NotFound, FileNotFoundError):
            if self.stored is None:
                raise NotFound(f"no recording named {name}") from None
            return await self.stored.open(name)
        return RecordingSource(size, lambda: asyncio.to_thread(next, chunks, b""), chunks.close)


def _entry(i: RecordingInfo) -> RecordingEntry:
    return RecordingEntry(
        name=i.name, size=i.size, started=i.started, person=i.person, host=i.host,
        container=i.container, session=i.session, part=i.part,
        duration_ms=-1 if i.duration is None else int(i.duration * 1000),
    )  # fmt: skip


def header_for(
    session: str, host: str, container_id: str, container_name: str, person: str,
    run_as: str, cmd: list[str] | None, cols: int, rows: int, tty: bool = True,
) -> RecordingHeader:  # fmt: skip
    """What a recording says it is of; the command as a person would type it."""
    command = shlex.join(cmd) if cmd else "sh (bash if present)"
    return RecordingHeader(session, host, container_id, container_name, person, run_as,
                           command, cols, rows, shell="" if cmd else "/bin/sh",
                           tty=tty)  # fmt: skip
