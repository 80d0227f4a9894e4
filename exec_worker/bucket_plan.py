"""What to do about recordings and the bucket, decided without I/O.

Which finished recordings need uploading and which are due now, when a failed
upload is tried again, the ETag an upload must end with, which object keys are
recordings of this host, and how local and stored listings merge. The modules that
do the work (recording_uploads.py, stored_recordings.py, recording_store.py) ask
here and act.

Pure: no I/O, no clock, no randomness of its own (jitter comes in as an argument).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from exec_worker.recording_files import RecordingInfo, check_name
from shared.errors import ProtocolError

MAX_OBJECT_BYTES = 1 << 40
"""Objects of the bucket claiming more than this are not believed to be recordings."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A finished recording on this host, and what its marker says was uploaded."""

    name: str
    size: int
    uploaded_size: int | None  # None: no marker, never confirmed uploaded


@dataclass(frozen=True, slots=True)
class Retry:
    """A recording whose upload failed `attempts` times; not tried before `next_at`."""

    attempts: int
    next_at: float


def needs_upload(file: LocalFile, writing: Collection[str]) -> bool:
    """Finished (no longer written) and not confirmed uploaded at its present size."""
    return file.name not in writing and file.uploaded_size != file.size


def due(
    files: Iterable[LocalFile],
    writing: Collection[str],
    in_flight: Collection[str],
    retries: Mapping[str, Retry],
    now: float,
    slots: int,
) -> list[str]:
    """The recordings to start uploading now, oldest first (names sort by start
    time), at most `slots` of them: those that need it, are not under way, and whose
    retry time, if they failed before, has come."""
    ready = sorted(
        f.name
        for f in files
        if needs_upload(f, writing)
        and f.name not in in_flight
        and (f.name not in retries or retries[f.name].next_at <= now)
    )
    return ready[: max(0, slots)]


def backoff(attempts: int, initial: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the `attempts`-th failure in a row: `initial` doubled per
    failure up to `cap`, then scaled by 0.5 to 1.0 with `jitter` in [0, 1), so that
    many hosts that lost the store together do not come back in step."""
    ceiling = min(cap, initial * 2.0 ** min(max(attempts, 1) - 1, 64))
    return ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


def after_failure(
    before: Retry | None, now: float, initial: float, cap: float, jitter: float
) -> Retry:
    attempts = (before.attempts if before else 0) + 1
    return Retry(attempts, now + backoff(attempts, initial, cap, jitter))


def next_wake(retries: Mapping[str, Retry], now: float, rescan: float) -> float:
    """Seconds until the earliest retry, or until the next rescan if that is sooner."""
    soonest = min((r.next_at for r in retries.values()), default=now + rescan)
    return max(0.0, min(soonest - now, rescan))


def multipart_etag(part_digests: list[bytes]) -> str:
    """The ETag S3 gives an object uploaded from parts with these MD5 digests: the MD5
    of a single-request upload, else the MD5 of the digests joined, "-", their count."""
    if len(part_digests) == 1:
        return part_digests[0].hex()
    joined = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest()
    return f"{joined}-{len(part_digests)}"


def host_prefix(prefix: str, host_id: str) -> str:
    """Where this host's recordings live in the bucket: `<prefix><host>/`, the host id
    quoted so that no host's folder is inside another's."""
    return f"{prefix}{quote(host_id, safe='')}/"


def name_of_key(key: str, folder: str) -> str | None:
    """The recording name of an object key under `folder`, None for anything else
    (another folder, a deeper key, a name a recording could not have)."""
    if not key.startswith(folder):
        return None
    try:
        return check_name(key[len(folder) :])
    except ProtocolError:
        return None


def believable_size(size: object) -> bool:
    return type(size) is int and 0 <= size <= MAX_OBJECT_BYTES


@dataclass(frozen=True, slots=True)
class Listed:
    """One recording in a listing, and where it is kept."""

    info: RecordingInfo
    local: bool
    stored: bool


def merge(local: Iterable[RecordingInfo], stored: Iterable[RecordingInfo]) -> list[Listed]:
    """Every recording once, sorted by name: a name both here and in the bucket is
    described as it is here (the same file, perhaps still growing)."""
    here = {info.name: info for info in local}
    kept: dict[str, RecordingInfo] = {}
    for info in stored:
        kept.setdefault(info.name, info)
    return [
        Listed(here.get(name) or kept[name], name in here, name in kept)
        for name in sorted(here.keys() | kept.keys())
    ]
