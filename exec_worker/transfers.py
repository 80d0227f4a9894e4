"""File transfers into and out of containers: the uploads and downloads in flight.

Two ways in and out, chosen by transfer_requests.py from the user a transfer acts as:
as root, through Docker's archive API (here: SpooledUpload, Download.run), which
also works in containers without a shell; as any other user, through an exec that
runs as that user (user_transfers.py), so the file's permissions decide as in a shell.

Archive uploads arrive as FileData frames and are spooled (in memory up to
SPOOL_MEMORY, then in a temporary file), so a large upload costs disk, not RAM; at
FileEnd the file is wrapped in a one-member tar and unpacked by put_archive, off the
loop. Every upload acks what it has taken (FileAck), and the front end keeps at most
a window of it unacknowledged. Downloads are sent as FileData; the front end acks
what it has passed on, and a download never has more than WINDOW bytes
unacknowledged, so a slow browser slows the transfer instead of filling memory.

Nothing is held without a deadline: an upload that receives nothing for
`idle_timeout` seconds is given up and its spool freed, and a person has at most
`max_per_person` uploads at once on this host.

Concurrency: the event loop drives every transfer; blocking reads and Docker calls
run on the Docker thread pool, one call at a time per transfer.
"""

from __future__ import annotations

import asyncio
import io
import logging
import posixpath
import tarfile
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from exec_worker.docker_exec import DockerHost
from exec_worker.metrics import UPLOAD_SPOOL_BYTES, UPLOADS
from shared.errors import (
    DtermError,
    LimitReached,
    NotFound,
    ProtocolError,
    TimedOut,
    TooLarge,
    Unavailable,
)
from shared.messages import (
    ContainerInfo,
    Message,
)
from shared.transfer_messages import (
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
)

log = logging.getLogger(__name__)

SPOOL_MEMORY = 1 << 20
CHUNK = 64 * 1024
WINDOW = 1 << 20

Emit = Callable[[Message], None]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


def check_path(path: str) -> str:
    """An absolute, normalised path naming something below /."""
    if not path.startswith("/") or "\x00" in path:
        raise ProtocolError(f"{path!r} is not an absolute path")
    normal = posixpath.normpath(path)
    if normal == "/":
        raise ProtocolError("name a file, not /")
    return normal


def is_root(user: str) -> bool:
    """Whether a Docker user spec (`name`, `uid`, `name:group`, ...) means root; the
    empty spec is Docker's default, root."""
    return user.split(":", 1)[0] in ("", "root", "0")


@dataclass(frozen=True, slots=True)
class Who:
    """Who asked for a transfer, and as which in-container user it acts (audit log)."""

    person: str
    address: str
    user: str


class _IterReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (Docker's archive stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


@dataclass(eq=False)
class Upload(ABC):
    """One upload in flight: FileData in order, up to the announced size."""

    peer: bytes
    request: str
    who: Who
    docker: DockerHost
    container: ContainerInfo
    directory: str
    name: str
    size: int
    emit: Emit
    received: int = 0
    last_data: float = field(default_factory=time.monotonic)
    """When bytes last came (or, for a program reading them, last moved on)."""
    on_broken: Callable[[Upload], None] | None = None
    """Told when the upload fails by itself, between FileData frames."""

    @property
    def path(self) -> str:
        return posixpath.join(self.directory, self.name)

    def add(self, data: FileData) -> None:
        if data.offset != self.received:
            raise ProtocolError(f"upload data at {data.offset}, expected {self.received}")
        if self.received + len(data.data) > self.size:
            raise TooLarge(f"more than the announced {self.size} bytes")
        self.last_data = time.monotonic()
        self._take(data.data)
        self.received += len(data.data)
        self._ack()

    def _ack(self) -> None:
        self.emit(FileAck(self.request, self.received))

    @abstractmethod
    async def open(self) -> None:
        """Get ready for the bytes (before FileOpened is sent), or raise why not."""

    @abstractmethod
    def _take(self, data: bytes) -> None: ...

    @abstractmethod
    async def store(self, end: FileEnd) -> None:
        """Put the file in place, or raise why it could not be."""

    @abstractmethod
    def abort(self) -> None:
        """Free what the upload holds; the file is not stored."""

    async def why_broken(self) -> DtermError:
        return DtermError("the upload failed")


@dataclass(eq=False)
class SpooledUpload(Upload):
    """An upload as root: spooled, then unpacked by Docker's archive API."""

    spool: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_MEMORY))  # noqa: SIM115 (lives as long as the transfer)

    async def open(self) -> None:
        """Nothing to prepare: the spool is made with the upload."""

    def _take(self, data: bytes) -> None:
        try:
            self.spool.write(data)
        except OSError as exc:  # the spool's disk is full
            raise Unavailable(f"this host cannot hold the upload: {exc}") from None
        UPLOAD_SPOOL_BYTES.inc(len(data))

    def _tar(self) -> IO[bytes]:
        tar_file = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)  # noqa: SIM115 (lives as long as the transfer)
        info = tarfile.TarInfo(self.name)
        info.size, info.mode = self.received, 0o644
        self.spool.seek(0)
        with tarfile.open(fileobj=tar_file, mode="w") as tar:
            tar.addfile(info, self.spool)
        tar_file.seek(0)
        return tar_file

    async def store(self, end: FileEnd) -> None:
        try:
            tar = await self.docker.read_blocking(self._tar)
            try:
                await self.docker.put_archive(self.container.id, self.directory, tar)
            finally:
                tar.close()
        except NotFound:
            raise NotFound(f"no folder {self.directory} in {self.container.name}") from None
        finally:
            self.abort()

    def abort(self) -> None:
        if not self.spool.closed:
            self.spool.close()
            UPLOAD_SPOOL_BYTES.dec(self.received)


@dataclass
class Download:
    peer: bytes
    request: str
    emit: Emit
    acked: int = 0
    sent: int = 0
    given_up: str = ""
    """Why the front end gave the download up, if it did."""
    more: asyncio.Event = field(default_factory=asyncio.Event)
    stall: float | None = None
    """Seconds a full window may wait for an ack before the download is cut (None:
    for ever; logs streams set it, so a reader that stops reading is let go)."""

    def ack(self, offset: int) -> None:
        self.acked = max(self.acked, offset)
        self.more.set()

    async def run(self, docker: DockerHost, container: ContainerInfo, path: str) -> int:
        """Send one file of a container through the archive API; returns its size."""
        stream, stat = await docker.get_archive(container.id, path)
        if stat.is_dir:
            raise ProtocolError(f"{path} is a directory; download files one by one")
        if stat.link_target:
            raise ProtocolError(f"{path} is a link to {stat.link_target}; download that")
        member = await docker.read_blocking(lambda: _first_member(stream))
        return await self.send(stat.name, stat.size, lambda: docker.read_blocking(
            lambda: member.read(CHUNK)))  # fmt: skip

    async def send(self, name: str, size: int, read: Callable[[], Awaitable[bytes]]) -> int:
        """FileOpened, the bytes `read` gives (never more than WINDOW unacked), FileEnd.
        `size` is -1 when it is not known ahead."""
        self.emit(FileOpened(self.request, name, size))
        await self.pass_on(read)
        self.emit(FileEnd(self.request, self.sent))
        return self.sent

    async def pass_on(self, read: Callable[[], Awaitable[bytes]], first: bytes = b"") -> None:
        """Send `first`, then what `read` gives until it gives b"", within the window."""
        chunk = first
        while True:
            while self.sent - self.acked >= WINDOW:
                self.more.clear()
                await self._wait_for_ack()
            if not chunk:
                chunk = await read()
                if not chunk:
                    return
            self.emit(FileData(self.request, self.sent, chunk))
            self.sent += len(chunk)
            chunk = b""

    async def _wait_for_ack(self) -> None:
        if self.stall is None:
            await self.more.wait()
            return
        try:
            await asyncio.wait_for(self.more.wait(), self.stall)
        except TimeoutError:
            raise TimedOut(
                f"the reader took nothing for {self.stall:g} s with {WINDOW} bytes waiting"
            ) from None


def _first_member(stream: Iterator[bytes]) -> IO[bytes]:
    tar = tarfile.open(fileobj=io.BufferedReader(_IterReader(stream)), mode="r|")  # noqa: SIM115 (lives as long as the transfer)
    member = tar.next()
    if member is None or not member.isfile():
        raise NotFound("the path is not a regular file")
    extracted = tar.extractfile(member)
    if extracted is None:
        raise NotFound("the path is not a regular file")
    return extracted


GivenUp = Callable[[Upload, DtermError, bool], None]
"""(upload, why, tell the front end): an upload ended without being stored."""


class Transfers:
    """The uploads and downloads of one worker, keyed by request id."""

    def __init__(
        self,
        max_upload: int,
        max_per_person: int,
        idle_timeout: float,
        given_up: GivenUp,
        spawn: Spawn,
    ) -> None:
        self._max_upload = max_upload
        self._max_per_person = max_per_person
        self._idle_timeout = idle_timeout
        self._given_up = given_up
        self._spawn = spawn
        self.uploads: dict[str, Upload] = {}
        self.downloads: dict[str, Download] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def start_upload(self, upload: Upload) -> None:
        """Count the upload in (before it opens), or refuse it."""
        if upload.size > self._max_upload:
            raise TooLarge(f"{upload.size} bytes is over this host's limit of {self._max_upload}")
        if upload.request in self.uploads:
            raise ProtocolError(f"upload {upload.request} already started")
        person = upload.who.person
        mine = sum(1 for u in self.uploads.values() if u.who.person == person)
        if mine >= self._max_per_person:
            raise LimitReached(f"{person} has {mine} uploads running on this host, the limit")
        self.uploads[upload.request] = upload
        upload.on_broken = self._broken
        UPLOADS.inc()
        self._arm(upload.request, self._idle_timeout)

    def holds(self, upload: Upload) -> bool:
        return self.uploads.get(upload.request) is upload

    def add(self, peer: bytes, data: FileData) -> None:
        upload = self._upload(peer, data.request)
        try:
            upload.add(data)
        except DtermError as exc:
            self.give_up(upload, exc)

    def take(self, peer: bytes, request: str) -> Upload:
        """The upload whose bytes have all come: it leaves the count, to be stored."""
        upload = self._upload(peer, request)
        self._forget(upload)
        return upload

    def _upload(self, peer: bytes, request: str) -> Upload:
        upload = self.uploads.get(request)
        if upload is None or upload.peer != peer:
            raise NotFound(f"no upload {request}")
        return upload

    def _forget(self, upload: Upload) -> None:
        if self.uploads.pop(upload.request, None) is not None:
            UPLOADS.dec()
        timer = self._timers.pop(upload.request, None)
        if timer is not None:
            timer.cancel()

    def give_up(self, upload: Upload, why: DtermError, tell: bool = True) -> None:
        """End an upload without storing it; `tell`: the front end does not know yet."""
        if upload.request not in self.uploads:
            return
        self._forget(upload)
        upload.abort()
        self._given_up(upload, why, tell)

    def _arm(self, request: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[request] = loop.call_later(delay, self._check_idle, request)

    def _check_idle(self, request: str) -> None:
        upload = self.uploads.get(request)
        if upload is None:
            return
        quiet = time.monotonic() - upload.last_data
        if quiet < self._idle_timeout:
            self._arm(request, self._idle_timeout - quiet)
            return
        log.info("upload %s: no progress for %.0f s; given up", request, quiet)
        self.give_up(upload, TimedOut(f"the upload made no progress for {self._idle_timeout:g} s"))

    def _broken(self, upload: Upload) -> None:
        if upload.request in self.uploads:
            self._spawn(self._report_broken(upload))

    async def _report_broken(self, upload: Upload) -> None:
        self.give_up(upload, await upload.why_broken())

    def ack(self, peer: bytes, request: str, offset: int) -> None:
        download = self.downloads.get(request)
        if download is not None and download.peer == peer:
            download.ack(offset)

    def abort(self, peer: bytes, request: str, reason: str) -> None:
        """The front end gave up an upload (a running download's task is cancelled by
        its owner)."""
        upload = self.uploads.get(request)
        if upload is not None and upload.peer == peer:
            self.give_up(upload, DtermError(reason), tell=False)

    def peer_gone(self, peer: bytes) -> list[str]:
        """Give up the uploads of a front end that is gone; its downloads' ids."""
        for upload in [u for u in self.uploads.values() if u.peer == peer]:
            self.give_up(upload, DtermError("the front end went away"), tell=False)
        return [request for request, d in self.downloads.items() if d.peer == peer]
