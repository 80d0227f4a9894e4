"""This host's recordings in the bucket, as listings and streams.

A listing asks the bucket for the objects of this host's folder (at most
MAX_LISTED), then needs each one's header fields to filter it like a local file
(whose recording it is, of which container, when): from memory when the same object
(name, ETag, size) was seen before, else from its upload marker when the ETag and
size match, else from the object's first 64 KiB, read with a Range request (at most
MAX_HEAD_READS of those per listing, the newest; the rest are left for the next). A
header that names another host, or that is not one of ours, leaves the object out.

A bucket that fails or is slower than LIST_DEADLINE leaves the stored recordings out
of that listing (logged, counted), and for PAUSE seconds after that listings do not
ask it, so a bucket that does not answer slows nothing down for long. Plays stream
the object in 64 KiB chunks, exactly as many bytes as it announced.

Owns the read threads (READ_THREADS) and the memory of headers already read (at
most CACHE objects). Concurrency: the event loop; the bucket is read in threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from exec_worker import metrics, upload_markers
from exec_worker.recording_files import RecordingFilter, RecordingInfo, check_name, header_fields
from exec_worker.recording_store import RecordingStore, StoredObject
from shared.errors import DtermError, NotFound, ProtocolError

log = logging.getLogger(__name__)

MAX_LISTED = 10_000
MAX_HEAD_READS = 200
HEAD_BYTES = 64 * 1024
CACHE = 20_000
LIST_DEADLINE = 10.0
PAUSE = 30.0
READ_THREADS = 4
T = TypeVar("T")
Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class RecordingSource:
    """The bytes of one recording, to be read chunk by chunk (b"" at the end)."""

    size: int
    read: Callable[[], Awaitable[bytes]]
    close: Callable[[], object]


class StoredRecordings:
    def __init__(self, store: RecordingStore, folder: Path, host_id: str) -> None:
        self._store = store
        self._folder = folder
        self._host = host_id
        self._threads = ThreadPoolExecutor(READ_THREADS, "recording-read")
        self._known: OrderedDict[Key, RecordingInfo | None] = OrderedDict()
        self._quiet_until = 0.0

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def select(self, wanted: RecordingFilter) -> list[RecordingInfo]:
        """The stored recordings `wanted` matches; none when the bucket fails."""
        if time.monotonic() < self._quiet_until:
            return []
        try:
            return await asyncio.wait_for(self._list(wanted), LIST_DEADLINE)
        except (DtermError, TimeoutError) as exc:
            metrics.STORAGE_READ_FAILURES.inc()
            self._quiet_until = time.monotonic() + PAUSE
            log.warning("recordings in the bucket left out of listings for %.0f s: %s",
                        PAUSE, exc or "no answer in time")  # fmt: skip
            return []

    async def _list(self, wanted: RecordingFilter) -> list[RecordingInfo]:
        if wanted.name is not None:
            objects = await self._lookup(wanted.name)
        else:
            objects, more = await self._in_thread(partial(self._store.list_objects, MAX_LISTED))
            if more:
                log.warning("the bucket holds more than %d recordings of this host; "
                            "listings show the first %d", MAX_LISTED, MAX_LISTED)  # fmt: skip
        missing = [o for o in objects if _key(o) not in self._known][-MAX_HEAD_READS:]  # newest
        if missing:
            for key, info in (await self._in_thread(partial(self._describe, missing))).items():
                self._remember(key, info)
        found = (self._known.get(_key(o)) for o in objects)
        return [i for i in found if i is not None and i.host == self._host and wanted.matches(i)]

    async def _lookup(self, name: str) -> list[StoredObject]:
        try:
            check_name(name)
        except ProtocolError:
            return []
        found = await self._in_thread(partial(self._store.head, name))
        return [found] if found is not None else []

    def _describe(self, objects: list[StoredObject]) -> dict[Key, RecordingInfo | None]:
        """Header fields of objects not seen before (blocks: markers, then the bucket)."""
        described: dict[Key, RecordingInfo | None] = {}
        for stored in objects:
            marker = upload_markers.read(self._folder, stored.name)
            if marker is not None and (marker.etag, marker.size) == (stored.etag, stored.size):
                described[_key(stored)] = marker.info
                continue
            try:
                head = self._store.read_head(stored.name, HEAD_BYTES)
            except NotFound:
                continue  # deleted since the listing
            fields = header_fields(stored.name, stored.size, head)
            described[_key(stored)] = (
                None if fields is None else RecordingInfo(**fields, duration=None)
            )
        return described

    def _remember(self, key: Key, info: RecordingInfo | None) -> None:
        if info is not None:
            info = dataclasses.replace(info, name=key[0], size=key[2])
        self._known[key] = info
        while len(self._known) > CACHE:
            self._known.popitem(last=False)

    async def open(self, name: str) -> RecordingSource:
        """A stream of recording `name` of the bucket; NotFound when the bucket has no
        such recording of this host."""
        found = await self._lookup(name)
        if not found:
            raise NotFound(f"no recording named {name}")
        stored = found[0]
        chunks = await self._in_thread(partial(self._store.open, name, stored.size))
        loop = asyncio.get_running_loop()
        return RecordingSource(
            stored.size,
            lambda: loop.run_in_executor(self._threads, next, chunks, b""),
            lambda: self._threads.submit(_close, chunks),
        )

    async def _in_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)


def _close(chunks: Generator[bytes, None, None]) -> None:
    """Close a stream (and its connection) that a play gave up part way."""
    with contextlib.suppress(ValueError):  # still being read: it closes when it ends
        chunks.close()


def _key(stored: StoredObject) -> Key:
    return (stored.name, stored.etag, stored.size)
