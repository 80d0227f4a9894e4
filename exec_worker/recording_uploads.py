"""Uploading finished recordings to the bucket, and never losing one on the way.

A recording is finished once its recorder has closed it (the session ended, or it
went on in a new part) or, at start, when no recorder of this run writes it: so the
recordings a killed worker left are uploaded by the next run. Each round scans the
folder, asks bucket_plan.py which finished recordings need an upload and which are
due, and starts those, `storage_uploads` at a time. A confirmed upload (size and
ETag checked by recording_store.py) gets its marker (upload_markers.py), and only
then, when `storage_keep_local` is off, is the local copy deleted, if it is still
the file that went up. A failed upload is logged, counted in
`dterm_recordings_upload_failures_total` and tried again after a backoff that
doubles up to `storage_retry_max`; `dterm_recordings_upload_pending` counts what is
not yet confirmed. A round runs when a recorder finishes a file, when a retry is
due, and every RESCAN seconds.

Owns the upload threads (a pool of `storage_uploads`) and the in-memory record of
what is confirmed and what failed. Must not write recordings, nor delete one whose
upload is not confirmed.

Concurrency: the event loop; scans, uploads and marker writes run in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from exec_worker import bucket_plan, metrics, upload_markers
from exec_worker.bucket_plan import LocalFile, Retry
from exec_worker.recording_files import read_info, recording_sizes
from exec_worker.recording_store import RecordingStore, StoredObject
from shared.errors import DtermError
from shared.settings import WorkerConfig

log = logging.getLogger(__name__)

RESCAN = 60.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shipped:
    stored: StoredObject
    deleted: bool  # the local copy was removed


def ship(store: RecordingStore, folder: Path, name: str, keep_local: bool,
         deadline: float) -> Shipped | None:  # fmt: skip
    """Upload one finished recording, confirm it, mark it, and remove the local copy if
    asked; None for a file that is not one of our recordings. Blocks."""
    path = folder / name
    info = read_info(path)
    if info is None:
        return None
    stored = store.upload(path, deadline)
    info = dataclasses.replace(info, size=stored.size)
    upload_markers.write(folder, upload_markers.Marker(
        name, store.key(name), stored.size, stored.etag, time.time(), info))  # fmt: skip
    return Shipped(stored, not keep_local and _remove_if_unchanged(path, stored.size))


def _remove_if_unchanged(path: Path, size: int) -> bool:
    """Remove the local copy only if it is still the regular file of `size` bytes that
    was uploaded."""
    try:
        found = path.lstat()
        if not stat.S_ISREG(found.st_mode) or found.st_size != size:
            log.warning("%s changed since its upload; the local copy stays", path.name)
            return False
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class Uploads:
    """The upload loop of one worker."""

    def __init__(self, folder: Path, store: RecordingStore, config: WorkerConfig,
                 writing: Callable[[], set[str]]) -> None:  # fmt: skip
        self._folder = folder
        self._store = store
        self._config = config
        self._writing = writing
        self._wake = asyncio.Event()
        self._threads = ThreadPoolExecutor(config.storage_uploads, "recording-upload")
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._retries: dict[str, Retry] = {}
        self.confirmed: dict[str, int] = {}
        """Local recordings whose upload is confirmed, with the size that went up."""
        self._foreign: dict[str, int] = {}  # files that are not our recordings, by size

    def finished(self, _path: Path) -> None:
        """A recorder has closed a file: look for work now (Recorder's callback)."""
        self._wake.set()

    async def run(self) -> None:
        self.confirmed = await asyncio.to_thread(upload_markers.sizes, self._folder)
        await self._abort_unfinished()
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                await self._round()
            except Exception:
                log.exception("upload round failed")
            wait = bucket_plan.next_wake(self._retries, loop.time(), RESCAN)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def close(self) -> None:
        for task in self._in_flight.values():
            task.cancel()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _abort_unfinished(self) -> None:
        try:
            aborted = await self._in_thread(self._store.abort_unfinished)
        except DtermError as exc:
            log.warning("cannot look for unfinished uploads of an earlier run: %s", exc)
            return
        if aborted:
            log.info("aborted %d unfinished uploads an earlier run left", aborted)

    async def _round(self) -> None:
        sizes = await asyncio.to_thread(recording_sizes, self._folder)
        for gone in self.confirmed.keys() - sizes.keys():
            del self.confirmed[gone]
        for gone in self._retries.keys() - sizes.keys():
            del self._retries[gone]  # removed while it waited for its retry
        files = [LocalFile(name, size, self.confirmed.get(name))
                 for name, size in sizes.items() if self._foreign.get(name) != size]  # fmt: skip
        writing = self._writing()
        metrics.UPLOADS_PENDING.set(sum(bucket_plan.needs_upload(f, writing) for f in files))
        slots = self._config.storage_uploads - len(self._in_flight)
        now = asyncio.get_running_loop().time()
        for name in bucket_plan.due(files, writing, self._in_flight, self._retries, now, slots):
            self._in_flight[name] = asyncio.create_task(self._upload(name, sizes[name]))

    async def _upload(self, name: str, size: int) -> None:
        deadline = time.monotonic() + self._config.storage_upload_timeout
        keep = self._config.storage_keep_local
        try:
            shipped = await self._in_thread(
                partial(ship, self._store, self._folder, name, keep, deadline)
            )
        except FileNotFoundError:
            self._retries.pop(name, None)  # removed meanwhile (retention, budget): nothing to do
        except (DtermError, OSError) as exc:
            self._failed(name, str(exc))
        except Exception as exc:
            log.exception("upload of %s failed", name)
            self._failed(name, repr(exc))
        else:
            self._retries.pop(name, None)
            if shipped is None:
                self._foreign[name] = size
            else:
                self._done(name, shipped)
        finally:
            self._in_flight.pop(name, None)
            self._wake.set()

    def _done(self, name: str, shipped: Shipped) -> None:
        metrics.UPLOADED.inc()
        if shipped.deleted:
            self.confirmed.pop(name, None)
        else:
            self.confirmed[name] = shipped.stored.size
        stored = shipped.stored
        log.info("recording %s uploaded (%d bytes, ETag %s)%s", name, stored.size, stored.etag,
                 ", local copy removed" if shipped.deleted else "")  # fmt: skip

    def _failed(self, name: str, why: str) -> None:
        metrics.UPLOAD_FAILURES.inc()
        now = asyncio.get_running_loop().time()
        config = self._config
        retry = bucket_plan.after_failure(self._retries.get(name), now,
                                          config.storage_retry_initial, config.storage_retry_max,
                                          random.random())  # fmt: skip
        self._retries[name] = retry
        log.warning("upload of recording %s failed (%d in a row), next try in %.1f s: %s",
                    name, retry.attempts, retry.next_at - now, why)  # fmt: skip

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)
