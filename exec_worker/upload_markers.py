"""Markers of uploaded recordings: `<recordings_dir>/.uploaded/<name>.json`.

A marker is written once an upload is confirmed (the object's size and ETag checked),
and only then may the local copy go. It says which object holds the recording (key,
size, ETag) and what the recording is (its listing fields), so the worker lists a
recording it no longer holds without reading the object back. Markers of recordings
that are gone from this host are kept for that reason.

Owns the `.uploaded` folder (mode 0700, markers 0600); a marker is written to a
temporary file and renamed, so a crash leaves the old marker or the new one, never
half of one. Markers are read without following links and no larger than 16 KiB,
and checked like anything else read from disk.

Concurrency: blocking file I/O; call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from exec_worker.asciicast import SUFFIX
from exec_worker.recording_files import RecordingInfo, check_name, open_plain
from shared.errors import ProtocolError

log = logging.getLogger(__name__)

FOLDER = ".uploaded"
_EXT = ".json"
_LIMIT = 16 * 1024


@dataclass(frozen=True, slots=True)
class Marker:
    """One confirmed upload."""

    name: str
    key: str
    size: int
    etag: str
    uploaded: float  # Unix seconds
    info: RecordingInfo


def write(folder: Path, marker: Marker) -> None:
    markers = folder / FOLDER
    markers.mkdir(mode=0o700, exist_ok=True)
    path = markers / (check_name(marker.name) + _EXT)
    temporary = markers / f".{marker.name}.tmp"
    body = json.dumps(asdict(marker), ensure_ascii=False).encode()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)  # fmt: skip
    try:
        os.write(fd, body)
        os.fsync(fd)  # a marker that outlives a crash must describe a complete upload
    finally:
        os.close(fd)
    os.replace(temporary, path)


def read(folder: Path, name: str) -> Marker | None:
    """The marker of recording `name`; None when there is none or it does not parse."""
    try:
        with open_plain(folder / FOLDER / (check_name(name) + _EXT)) as file:
            body = file.read(_LIMIT + 1)
        if len(body) > _LIMIT:
            raise ValueError(f"larger than {_LIMIT} bytes")
        return _marker(name, json.loads(body))
    except (OSError, ValueError, TypeError, RecursionError, ProtocolError) as exc:
        if not isinstance(exc, FileNotFoundError):
            log.warning("marker of %s left out: %s", name, exc)
        return None


def _marker(name: str, data: object) -> Marker | None:
    if not isinstance(data, dict) or data.get("name") != name:
        return None
    info = RecordingInfo(**data["info"])
    marker = Marker(**(data | {"info": info}))
    fields = (marker.key, marker.etag, info.name, info.person, info.host, info.session)
    if not all(isinstance(text, str) for text in fields) or info.name != name:
        return None
    if type(marker.size) is not int or type(info.size) is not int:
        return None
    return marker


def sizes(folder: Path) -> dict[str, int]:
    """Name and uploaded size of every marker whose recording is still on this host
    (what decides which local recordings still need an upload)."""
    found: dict[str, int] = {}
    with contextlib.suppress(FileNotFoundError), os.scandir(folder / FOLDER) as entries:
        for entry in entries:
            name = entry.name.removesuffix(_EXT)
            if not entry.name.endswith(SUFFIX + _EXT) or not (folder / name).exists():
                continue
            marker = read(folder, name)
            if marker is not None:
                found[name] = marker.size
    return found
