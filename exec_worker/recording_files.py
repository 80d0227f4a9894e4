"""The recordings folder of one worker: list, read and expire asciicast files.

Listing reads each file's header line and at most its last TAIL bytes (for the
duration), never the whole file, so a folder of large recordings lists quickly.
Names given from outside are checked before any file is touched: a plain
`*.cast` name in the folder, no path separators, no "..", no leading dot, and
symbolic links are never followed.

Owns nothing but the folder's `*.cast` files, which Recorder (asciicast.py) writes;
must not write recordings, nor read anything outside the folder. Files that are not
our recordings (no "dterm" header) are left out of listings, not deleted.

Concurrency: plain blocking file I/O and no shared state; call it from a worker
thread (`asyncio.to_thread`) for large folders. A file may be appended to, or removed
by retention, while it is read: a listing then shows its state at that moment.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from exec_worker.asciicast import SUFFIX
from shared.errors import NotFound, ProtocolError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
TAIL = 4096
_HEADER_LIMIT = 64 * 1024
_TEXT_LIMIT = 1024  # longest person, host, container or session a listing carries
# The start of an event line: every raw newline in a recording ends a line, since
# JSON escapes newlines inside strings and UTF-8 never has 0x0A inside a character.
_EVENT_START = re.compile(rb"\n\[\s*(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*,")


@dataclass(frozen=True)
class RecordingInfo:
    """One recording file, as its header describes it."""

    name: str
    size: int
    started: int  # when this file (part) began, Unix seconds
    person: str
    host: str
    container: str  # the container's name
    container_id: str
    session: str
    part: int
    duration: float | None  # seconds to its last event; None when not cheaply known


def check_name(name: str) -> str:
    """`name` if it is a plain recording name; ProtocolError otherwise."""
    if (
        not name.endswith(SUFFIX)
        or name.startswith(".")
        or ".." in name
        or any(c in name for c in "/\\\x00")
    ):
        raise ProtocolError(f"{name!r} is not the name of a recording")
    return name


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    """Which recordings a listing wants; None matches anything.

    `container` matches a name or a full id; `since` and `until` bound each file's
    own start: since <= started < until; `session` gives the parts of one session."""

    person: str | None = None
    host: str | None = None
    container: str | None = None
    since: float | None = None
    until: float | None = None
    session: str | None = None
    name: str | None = None

    def matches(self, info: RecordingInfo) -> bool:
        return (
            (self.person is None or info.person == self.person)
            and (self.host is None or info.host == self.host)
            and (self.container is None or self.container in (info.container, info.container_id))
            and (self.since is None or info.started >= self.since)
            and (self.until is None or info.started < self.until)
            and (self.session is None or info.session == self.session)
            and (self.name is None or info.name == self.name)
        )


def list_recordings(
    folder: Path,
    person: str | None = None,
    host: str | None = None,
    container: str | None = None,
    since: float | None = None,
    until: float | None = None,
    session: str | None = None,
) -> list[RecordingInfo]:
    """The recordings that match every filter given (RecordingFilter), sorted by name
    (start time)."""
    return select(folder, RecordingFilter(person, host, container, since, until, session))


def select(folder: Path, wanted: RecordingFilter) -> list[RecordingInfo]:
    """The recordings of the folder that `wanted` matches, sorted by name."""
    found = []
    for path in _recording_files(folder):
        if wanted.name is not None and path.name != wanted.name:
            continue
        info = read_info(path)
        if info is not None and wanted.matches(info):
            found.append(info)
    return sorted(found, key=lambda info: info.name)


def _recording_files(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if _plain(entry.name) and entry.is_file(follow_symlinks=False):
                    yield folder / entry.name
    except FileNotFoundError:
        return


def recording_sizes(folder: Path) -> dict[str, int]:
    """Name and size of every recording file in the folder (headers unread)."""
    sizes = {}
    for path in _recording_files(folder):
        with contextlib.suppress(FileNotFoundError):
            sizes[path.name] = path.lstat().st_size
    return sizes


def _plain(name: str) -> bool:
    try:
        check_name(name)
    except ProtocolError:
        return False
    return True


def read_info(path: Path) -> RecordingInfo | None:
    """What the header line and the tail say; None for files that are not ours."""
    try:
        with open_plain(path) as file:
            line = file.readline(_HEADER_LIMIT)
            size = os.fstat(file.fileno()).st_size
            fields = header_fields(path.name, size, line)
            if fields is None:
                return None
            duration = 0.0 if size == len(line) else _last_time(file, size)
            return RecordingInfo(**(fields | {"duration": duration}))
    except (OSError, ValueError) as exc:
        log.debug("%s left out: %s", path.name, exc)
        return None


def header_fields(name: str, size: int, head: bytes) -> dict[str, Any] | None:
    """RecordingInfo's fields but the duration, from the first bytes of a recording
    (its whole header line, at most 64 KiB); None when they are not one of ours.
    `head` may come from anywhere, a bucket included: nothing in it is trusted."""
    end = head.find(b"\n", 0, _HEADER_LIMIT)
    if end < 0:
        return None
    try:
        header = json.loads(head[: end + 1])
    except (ValueError, RecursionError):  # deep nesting is the bytes' choice, not ours
        return None
    if not isinstance(header, dict) or header.get("version") != 2:
        return None
    return _info(name, size, header)


def _info(name: str, size: int, header: dict[str, Any]) -> dict[str, Any] | None:
    ours, started = header.get("dterm"), header.get("timestamp")
    if not isinstance(ours, dict) or type(started) is not int or not 0 <= started < 1 << 40:
        return None
    container = ours.get("container")
    if not isinstance(container, dict):
        return None
    texts = {
        "person": ours.get("person"),
        "host": ours.get("host"),
        "container": container.get("name"),
        "container_id": container.get("id"),
        "session": ours.get("session"),
    }
    part = ours.get("part", 1)
    if not all(isinstance(text, str) and len(text) <= _TEXT_LIMIT for text in texts.values()):
        return None
    if type(part) is not int or not 0 < part < 1 << 31:
        return None
    return {"name": name, "size": size, "started": started, "part": part, **texts}


def _last_time(file: IO[bytes], size: int) -> float | None:
    """The time of the last event that starts within the file's last TAIL bytes."""
    file.seek(max(0, size - TAIL))
    starts = _EVENT_START.findall(file.read(TAIL))
    return float(starts[-1]) if starts else None


def read_chunks(folder: Path, name: str, chunk_size: int = CHUNK) -> Generator[bytes, None, None]:
    """The bytes of one recording, chunk by chunk.

    The name is checked now: ProtocolError for a name that is not a plain recording
    name, NotFound when no such file is in the folder. The file is opened at the
    first chunk and closed when the iterator is exhausted or closed."""
    path = folder / check_name(name)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise NotFound(f"no recording named {name}") from None
    if not stat.S_ISREG(mode):
        raise NotFound(f"no recording named {name}")
    return _chunks(path, chunk_size)


def _chunks(path: Path, chunk_size: int) -> Generator[bytes, None, None]:
    try:
        file = open_plain(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"no recording named {path.name}") from None
    with file:
        while chunk := file.read(chunk_size):
            yield chunk


def open_plain(path: Path) -> IO[bytes]:
    """Open for reading without following a symbolic link; regular files only."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileNotFoundError(f"{path.name} is a symbolic link") from None
        raise
    file = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        file.close()
        raise FileNotFoundError(f"{path.name} is not a regular file")
    return file


def delete_older_than(
    folder: Path,
    max_age_seconds: float,
    now: Callable[[], float] = time.time,
    keep: Collection[str] = (),
    only: Collection[str] | None = None,
) -> list[str]:
    """Retention: remove recordings last written more than `max_age_seconds` ago.

    `keep` names files still being written (`Recorder.path.name` of live sessions),
    which a long-silent session may leave untouched for a while; given `only` (those
    uploaded), no other file is removed. Returns the names removed; a file that cannot
    be removed is logged and kept."""
    limit = now() - max_age_seconds
    removed = []
    for path in _recording_files(folder):
        if path.name in keep or (only is not None and path.name not in only):
            continue
        try:
            if path.lstat().st_mtime < limit:
                path.unlink()
                removed.append(path.name)
        except FileNotFoundError:
            continue  # removed meanwhile
        except OSError as exc:
            log.warning("cannot remove old recording %s: %s", path.name, exc)
    return sorted(removed)


def trim_to_budget(
    folder: Path, budget: int, keep: Collection[str] = (), first: Collection[str] | None = None
) -> list[str]:
    """Remove the oldest finished recordings (by last write) until all of them take at
    most `budget` bytes; files in `keep` are still being written and stay. Given
    `first` (those uploaded), the others go only once none of those is left. Returns
    the names removed."""
    files = []
    for path in _recording_files(folder):
        try:
            stat = path.lstat()
        except FileNotFoundError:
            continue
        files.append((stat.st_mtime, path, stat.st_size))
    total = sum(size for _, _, size in files)
    removed = []

    def order(entry: tuple[float, Path, int]) -> tuple[bool, float]:
        return (first is not None and entry[1].name not in first, entry[0])

    for _, path, size in sorted(files, key=order):
        if total <= budget:
            break
        if path.name in keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove recording %s: %s", path.name, exc)
            continue
        total -= size
        removed.append(path.name)
    return removed
