"""The worker's side of file transfers: who asks, for which container, and the audit.

A PutFile names a container and an absolute path, or a session and a file name (the
file then goes into the working directory of the session's shell, for its owner
only). The container must pass this host's rules like any session. When the upload
is ready the worker answers FileOpened, and the front end streams the bytes.

Concurrency: runs on the worker's loop; transfers run in tasks the server owns.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from exec_worker.docker_exec import DockerHost
from exec_worker.files import Download, Transfers, Upload, check_path
from exec_worker.recordings import Recordings
from exec_worker.recordings_store import read_chunks
from exec_worker.sessions import ExecSession
from shared.audit import AuditLog
from shared.errors import DtermError, Forbidden, NotFound, ProtocolError
from shared.messages import (
    ContainerInfo,
    Failed,
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    GetFile,
    Message,
    PutFile,
)

log = logging.getLogger(__name__)

Resolve = Callable[[str, str], Awaitable[ContainerInfo]]
Send = Callable[[bytes, Message], None]
Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class FileRequests:
    def __init__(
        self,
        docker: DockerHost,
        max_upload: int,
        recordings: Recordings,
        resolve: Resolve,
        sessions: dict[str, ExecSession],
        send: Send,
        audit: AuditLog,
        spawn: Spawn,
        host: str,
    ) -> None:
        self.transfers = Transfers(docker, max_upload)
        self._recordings = recordings
        self._docker = docker
        self._resolve = resolve
        self._sessions = sessions
        self._send = send
        self._audit = audit
        self._spawn = spawn
        self._host = host
        self._downloads: dict[str, asyncio.Task[None]] = {}

    def handle(self, peer: bytes, message: Message) -> None:
        match message:
            case PutFile():
                self._spawn(self._guarded(peer, message.request, self._put(peer, message)))
            case FileData():
                self.transfers.add(peer, message)
            case FileEnd():
                self._spawn(self._guarded(peer, message.request, self._stored(peer, message)))
            case GetFile() | FetchRecording():
                work = self._get(peer, message) if isinstance(message, GetFile) else (
                    self._fetch(peer, message))  # fmt: skip
                task = self._spawn(self._guarded(peer, message.request, work))
                self._downloads[message.request] = task
                task.add_done_callback(lambda _: self._downloads.pop(message.request, None))
            case FileAck(request=request, offset=offset):
                self.transfers.ack(peer, request, offset)
            case FileAbort(request=request):
                self.transfers.abort(peer, request)
                download = self.transfers.downloads.get(request)
                if download is not None and download.peer == peer:
                    self._downloads[request].cancel()

    async def _guarded(self, peer: bytes, request: str, work: Awaitable[None]) -> None:
        try:
            await work
        except DtermError as exc:
            self.transfers.abort(peer, request)
            log.info("file transfer %s refused: %s", request, exc)
            self._send(peer, Failed(request, exc.code, str(exc)))

    async def _put(self, peer: bytes, request: PutFile) -> None:
        if request.session:
            container, directory, name = await self._into_session(request)
        else:
            container = await self._resolve(request.container, request.person)
            directory, name = posixpath.split(check_path(request.path))
        emit = partial(self._send, peer)
        who = (request.person, request.address)
        upload = Upload(peer, container, directory, name, request.size, emit, who)
        self.transfers.start_upload(request.request, upload)
        path = posixpath.join(directory, name)
        self._send(peer, FileOpened(request.request, path, request.size))

    def _session_of(self, person: str, session_id: str) -> ExecSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id} on host {self._host}")
        if session.person != person:
            raise Forbidden("only the session's owner may use files in its directory")
        return session

    async def _into_session(self, request: PutFile) -> tuple[ContainerInfo, str, str]:
        session = self._session_of(request.person, request.session)
        if "/" in request.path or request.path in ("", ".", ".."):
            raise ProtocolError(f"{request.path!r} is not a plain file name")
        container = await self._resolve(session.container, request.person)
        return container, await session.working_directory(), request.path

    async def _stored(self, peer: bytes, end: FileEnd) -> None:
        upload = await self.transfers.finish(peer, end)
        person, address = upload.who
        self._audit.record(
            "file-put",
            person=person,
            address=address,
            host=self._host,
            container=upload.container.name,
            path=posixpath.join(upload.directory, upload.name),
            size=upload.received,
        )

    async def _fetch(self, peer: bytes, request: FetchRecording) -> None:
        """Stream a recording of this host (the front end has checked who may)."""
        folder = self._recordings.folder
        chunks = await asyncio.to_thread(read_chunks, folder, request.name)
        size = (folder / request.name).stat().st_size
        download = Download(peer, request.request, partial(self._send, peer))
        self.transfers.downloads[request.request] = download
        try:
            await download.send(request.name, size,
                                lambda: asyncio.to_thread(next, chunks, b""))  # fmt: skip
        finally:
            self.transfers.downloads.pop(request.request, None)

    async def _get(self, peer: bytes, request: GetFile) -> None:
        if request.session:
            session = self._session_of(request.person, request.session)
            container = await self._resolve(session.container, request.person)
            here = await session.working_directory()
            path = check_path(posixpath.join(here, request.path))
        else:
            container = await self._resolve(request.container, request.person)
            path = check_path(request.path)
        download = Download(peer, request.request, partial(self._send, peer))
        self.transfers.downloads[request.request] = download
        try:
            size = await download.run(self._docker, container, path)
        finally:
            self.transfers.downloads.pop(request.request, None)
        self._audit.record(
            "file-get",
            person=request.person,
            address=request.address,
            host=self._host,
            container=container.name,
            path=path,
            size=size,
        )
