"""Messages of file transfers and recordings, declared once (the spec is
docs/protocol.md); part of the worker protocol's `Message` (shared/messages.py).

A frozen dataclass per message type, with its wire tag; those of five fields or more
are built by keyword only. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class PutFile:
    """Start an upload into `container` at `path`, or into the working directory of
    `session`'s shell under the name `path`. FileData frames and FileEnd follow.
    `user`: the in-container user it acts as (None: the session's, else the
    container's default user)."""

    TAG: ClassVar[str] = "put-file"
    request: str
    person: str
    address: str
    container: str
    session: str
    path: str
    size: int
    user: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GetFile:
    """Download one regular file: `path` in `container`, or `path` relative to the working
    directory of `session`'s shell. Answered by FileOpened, FileData frames, FileEnd.
    `user` as for PutFile."""

    TAG: ClassVar[str] = "get-file"
    request: str
    person: str
    address: str
    container: str
    session: str
    path: str
    user: str | None


@dataclass(frozen=True, slots=True)
class FileOpened:
    """Ready for an upload's bytes, or a download follows; `size` -1: not known ahead."""

    TAG: ClassVar[str] = "file-opened"
    request: str
    name: str
    size: int


@dataclass(frozen=True, slots=True)
class FileData:
    """Bytes of a file transfer, in order, as a raw second frame."""

    TAG: ClassVar[str] = "file-data"
    request: str
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FileAck:
    """The receiver has taken a transfer's bytes up to `offset`; the sender may send more
    (the front end acks downloads, the worker acks uploads)."""

    TAG: ClassVar[str] = "file-ack"
    request: str
    offset: int


@dataclass(frozen=True, slots=True)
class FileEnd:
    """All bytes of the transfer were sent (`size` of them)."""

    TAG: ClassVar[str] = "file-end"
    request: str
    size: int


@dataclass(frozen=True, slots=True)
class FileStored:
    """An upload is in place."""

    TAG: ClassVar[str] = "file-stored"
    request: str
    container: str
    path: str
    size: int


@dataclass(frozen=True, slots=True)
class FileAbort:
    """Either side gives up a transfer (the other forgets it)."""

    TAG: ClassVar[str] = "file-abort"
    request: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingEntry:
    """One recording file as listed; `duration_ms` is -1 when not known cheaply."""

    name: str
    size: int
    started: int
    person: str
    host: str
    container: str
    session: str
    part: int
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ListRecordings:
    """Recordings on this host; empty strings and zeros mean "any"."""

    TAG: ClassVar[str] = "recordings"
    request: str
    person: str
    container: str
    since: int
    until: int
    name: str
    session: str


@dataclass(frozen=True, slots=True)
class RecordingsListed:
    TAG: ClassVar[str] = "recordings-listed"
    request: str
    recordings: list[RecordingEntry]


@dataclass(frozen=True, slots=True)
class FetchRecording:
    """Stream one recording file, like GetFile: FileOpened, FileData frames, FileEnd."""

    TAG: ClassVar[str] = "fetch-recording"
    request: str
    name: str
