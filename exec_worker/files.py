"""File transfers into and out of containers, through Docker's archive API.

Uploads arrive as FileData frames and are spooled (in memory up to SPOOL_MEMORY,
then in a temporary file), so a large upload costs disk, not RAM; at FileEnd the
file is wrapped in a one-member tar and unpacked by put_archive, off the loop.
Downloads read get_archive's tar stream on the Docker threads, one chunk per call,
and send the file's bytes as FileData; the front end acks what it has passed on,
and a download never has more than WINDOW bytes unacknowledged, so a slow browser
slows the transfer instead of filling memory.

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
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from exec_worker.docker_exec import DockerHost
from shared.errors import DtermError, NotFound, ProtocolError, TooLarge
from shared.messages import ContainerInfo, FileData, FileEnd, FileOpened, FileStored, Message

log = logging.getLogger(__name__)

SPOOL_MEMORY = 1 << 20
CHUNK = 64 * 1024
WINDOW = 1 << 20

Emit = Callable[[Message], None]


def check_path(path: str) -> str:
    """An absolute, normalised path naming something below /."""
    if not path.startswith("/") or "\x00" in path:
        raise ProtocolError(f"{path!r} is not an absolute path")
    normal = posixpath.normpath(path)
    if normal == "/":
        raise ProtocolError("name a file, not /")
    return normal


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


@dataclass
class Upload:
    peer: bytes
    container: ContainerInfo
    directory: str
    name: str
    size: int
    emit: Emit
    who: tuple[str, str] = ("", "")
    """(person, address), for the audit log."""
    received: int = 0
    spool: IO[bytes] = field(default_factory=lambda: tempfile.SpooledTemporaryFile(SPOOL_MEMORY))  # noqa: SIM115 (lives as long as the transfer)

    def add(self, data: FileData) -> None:
        if data.offset != self.received:
            raise ProtocolError(f"upload data at {data.offset}, expected {self.received}")
        if self.received + len(data.data) > self.size:
            raise TooLarge(f"more than the announced {self.size} bytes")
        self.spool.write(data.data)
        self.received += len(data.data)

    def _tar(self) -> IO[bytes]:
        tar_file = tempfile.SpooledTemporaryFile(SPOOL_MEMORY)  # noqa: SIM115 (lives as long as the transfer)
        info = tarfile.TarInfo(self.name)
        info.size, info.mode = self.received, 0o644
        self.spool.seek(0)
        with tarfile.open(fileobj=tar_file, mode="w") as tar:
            tar.addfile(info, self.spool)
        tar_file.seek(0)
        return tar_file

    async def finish(self, request: str, end: FileEnd, docker: DockerHost) -> None:
        if end.size != self.received:
            raise ProtocolError(f"upload ended at {end.size} bytes, {self.received} arrived")
        tar = await docker.read_blocking(self._tar)
        try:
            await docker.put_archive(self.container.id, self.directory, tar)
        except NotFound:
            raise NotFound(f"no folder {self.directory} in {self.container.name}") from None
        finally:
            tar.close()
            self.spool.close()
        path = posixpath.join(self.directory, self.name)
        self.emit(FileStored(request, self.container.name, path, self.received))


@dataclass
class Download:
    peer: bytes
    request: str
    emit: Emit
    acked: int = 0
    more: asyncio.Event = field(default_factory=asyncio.Event)

    def ack(self, offset: int) -> None:
        self.acked = max(self.acked, offset)
        self.more.set()

    async def run(self, docker: DockerHost, container: ContainerInfo, path: str) -> int:
        """Send one file of a container; returns its size."""
        stream, stat = await docker.get_archive(container.id, path)
        if stat.is_dir:
            raise ProtocolError(f"{path} is a directory; download files one by one")
        if stat.link_target:
            raise ProtocolError(f"{path} is a link to {stat.link_target}; download that")
        member = await docker.read_blocking(lambda: _first_member(stream))
        return await self.send(stat.name, stat.size, lambda: docker.read_blocking(
            lambda: member.read(CHUNK)))  # fmt: skip

    async def send(self, name: str, size: int, read: Callable[[], Awaitable[bytes]]) -> int:
        """FileOpened, the bytes `read` gives (never more than WINDOW unacked), FileEnd."""
        self.emit(FileOpened(self.request, name, size))
        offset = 0
        while True:
            while offset - self.acked >= WINDOW:
                self.more.clear()
                await self.more.wait()
            chunk = await read()
            if not chunk:
                break
            self.emit(FileData(self.request, offset, chunk))
            offset += len(chunk)
        self.emit(FileEnd(self.request, offset))
        return offset


def _first_member(stream: Iterator[bytes]) -> IO[bytes]:
    tar = tarfile.open(fileobj=io.BufferedReader(_IterReader(stream)), mode="r|")  # noqa: SIM115 (lives as long as the transfer)
    member = tar.next()
    if member is None or not member.isfile():
        raise NotFound("the path is not a regular file")
    extracted = tar.extractfile(member)
    if extracted is None:
        raise NotFound("the path is not a regular file")
    return extracted


class Transfers:
    """The uploads and downloads of one worker, keyed by request id."""

    def __init__(self, docker: DockerHost, max_upload: int) -> None:
        self._docker = docker
        self._max_upload = max_upload
        self.uploads: dict[str, Upload] = {}
        self.downloads: dict[str, Download] = {}

    def start_upload(self, request: str, upload: Upload) -> None:
        if upload.size > self._max_upload:
            raise TooLarge(f"{upload.size} bytes is over this host's limit of {self._max_upload}")
        if request in self.uploads:
            raise ProtocolError(f"upload {request} already started")
        self.uploads[request] = upload

    def add(self, peer: bytes, data: FileData) -> None:
        upload = self.uploads.get(data.request)
        if upload is None or upload.peer != peer:
            raise NotFound(f"no upload {data.request}")
        try:
            upload.add(data)
        except DtermError:
            self.abort(peer, data.request)
            raise

    async def finish(self, peer: bytes, end: FileEnd) -> Upload:
        upload = self.uploads.get(end.request)
        if upload is None or upload.peer != peer:
            raise NotFound(f"no upload {end.request}")
        del self.uploads[end.request]
        await upload.finish(end.request, end, self._docker)
        return upload

    def ack(self, peer: bytes, request: str, offset: int) -> None:
        download = self.downloads.get(request)
        if download is not None and download.peer == peer:
            download.ack(offset)

    def abort(self, peer: bytes, request: str) -> None:
        """Forget a transfer; a running download's task is cancelled by its owner."""
        upload = self.uploads.get(request)
        if upload is not None and upload.peer == peer:
            del self.uploads[request]
            upload.spool.close()
