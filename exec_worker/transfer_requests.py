"""The worker's side of file transfers: who asks, where, as which user, and the audit.

A PutFile or GetFile names a container and an absolute path, or a session and a
file name (the file then goes into, or comes from, the working directory of the
session's shell, for its owner only). The container must pass this host's rules
like any session. A transfer acts as the user a shell would run as: the session's
user, else the user the request names, else the container's default user
(Config.User). As root it goes through Docker's archive API; as anyone else
through an exec as that user (user_transfers.py), so it can do no more than a shell.

Every transfer is audited once it ends: stored or sent (ok true), or refused,
given up or cut short (ok false, with the reason and the bytes moved so far).

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
from exec_worker.recording_files import check_name
from exec_worker.recording_service import Recordings
from exec_worker.sessions import ExecSession
from exec_worker.transfers import (
    Download,
    SpooledUpload,
    Transfers,
    Upload,
    Who,
    check_path,
    is_root,
)
from exec_worker.user_transfers import PipedUpload, download_as
from shared.audit import AuditLog
from shared.errors import DtermError, Forbidden, NotFound, ProtocolError
from shared.messages import (
    ContainerInfo,
    Failed,
    Message,
)
from shared.settings import WorkerConfig
from shared.transfer_messages import (
    FetchRecording,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    GetFile,
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
        config: WorkerConfig,
        recordings: Recordings,
        resolve: Resolve,
        sessions: dict[str, ExecSession],
        send: Send,
        audit: AuditLog,
        spawn: Spawn,
    ) -> None:
        self.transfers = Transfers(
            config.max_upload_bytes, config.max_uploads_per_person, config.upload_idle_timeout,
            self._given_up, spawn,
        )  # fmt: skip
        self._recordings = recordings
        self._docker = docker
        self._resolve = resolve
        self._sessions = sessions
        self._send = send
        self._audit = audit
        self._spawn = spawn
        self._host = config.host_id
        self._downloads: dict[str, asyncio.Task[None]] = {}

    def handle(self, peer: bytes, message: Message) -> None:
        match message:
            case PutFile():
                self._spawn(self._put(peer, message))
            case FileData():
                self.transfers.add(peer, message)
            case FileEnd():
                self._spawn(self._stored(peer, message))
            case GetFile() | FetchRecording():
                work = self._get(peer, message) if isinstance(message, GetFile) else (
                    self._guarded(peer, message.request, self._fetch(peer, message)))  # fmt: skip
                task = self._spawn(work)
                self._downloads[message.request] = task
                task.add_done_callback(lambda _: self._downloads.pop(message.request, None))
            case FileAck(request=request, offset=offset):
                self.transfers.ack(peer, request, offset)
            case FileAbort(request=request, reason=reason):
                self.transfers.abort(peer, request, reason)
                download = self.transfers.downloads.get(request)
                if download is not None and download.peer == peer:
                    download.given_up = reason
                    self._cancel_download(request)

    def peer_gone(self, peer: bytes) -> None:
        """A front end is gone: its transfers end (and are audited as cut short)."""
        for request in self.transfers.peer_gone(peer):
            self.transfers.downloads[request].given_up = "the front end went away"
            self._cancel_download(request)

    def _cancel_download(self, request: str) -> None:
        task = self._downloads.get(request)
        if task is not None:
            task.cancel()

    async def _guarded(self, peer: bytes, request: str, work: Awaitable[None]) -> None:
        try:
            await work
        except DtermError as exc:
            log.info("file transfer %s refused: %s", request, exc)
            self._send(peer, Failed(request, exc.code, str(exc)))

    # --- uploads ---------------------------------------------------------------------

    async def _put(self, peer: bytes, request: PutFile) -> None:
        who = Who(request.person, request.address, request.user or "")
        try:
            container, directory, name, user = await self._put_target(request)
        except DtermError as exc:
            self._refused(peer, "file-put", request.request, who, request.container,
                          request.path, exc)  # fmt: skip
            return
        kind = SpooledUpload if is_root(user) else PipedUpload
        who = Who(who.person, who.address, user)
        upload = kind(peer, request.request, who, self._docker, container, directory, name,
                      request.size, partial(self._send, peer))  # fmt: skip
        try:
            self.transfers.start_upload(upload)
        except DtermError as exc:
            upload.abort()
            self._given_up(upload, exc, True)
            return
        try:
            await upload.open()
        except DtermError as exc:
            self.transfers.give_up(upload, exc)
            return
        if not self.transfers.holds(upload):  # given up while it opened
            upload.abort()
            return
        self._send(peer, FileOpened(request.request, upload.path, request.size))

    async def _put_target(self, request: PutFile) -> tuple[ContainerInfo, str, str, str]:
        """(container, folder, file name, user) of an upload."""
        if not request.session:
            container = await self._resolve(request.container, request.person)
            directory, name = posixpath.split(check_path(request.path))
            return container, directory, name, await self._user(container, request.user)
        session = self._session_of(request.person, request.session)
        if "/" in request.path or request.path in ("", ".", ".."):
            raise ProtocolError(f"{request.path!r} is not a plain file name")
        container = await self._resolve(session.container, request.person)
        user = await self._user(container, session.run_as)
        return container, await session.working_directory(), request.path, user

    async def _user(self, container: ContainerInfo, named: str | None) -> str:
        """The user a transfer acts as: the one named, else the container's default
        (Docker's default, an empty user, is root)."""
        return named or await self._docker.default_user(container.id) or "root"

    def _session_of(self, person: str, session_id: str) -> ExecSession:
        session = self._sessions.get(session_id)
        if session is None:
            raise NotFound(f"no session {session_id} on host {self._host}")
        if session.person != person:
            raise Forbidden("only the session's owner may use files in its directory")
        return session

    async def _stored(self, peer: bytes, end: FileEnd) -> None:
        try:
            upload = self.transfers.take(peer, end.request)
        except DtermError as exc:
            self._send(peer, Failed(end.request, exc.code, str(exc)))
            return
        try:
            if end.size != upload.received:
                raise ProtocolError(f"upload ended at {end.size} bytes, {upload.received} arrived")
            await upload.store(end)
        except DtermError as exc:
            upload.abort()
            self._given_up(upload, exc, True)
            return
        except BaseException:
            upload.abort()
            raise
        self._send(peer, FileStored(end.request, upload.container.name, upload.path,
                                    upload.received))  # fmt: skip
        self._audit_transfer("file-put", upload.who, upload.container.name, upload.path,
                             ok=True, size=upload.received)  # fmt: skip

    def _given_up(self, upload: Upload, why: DtermError, tell: bool) -> None:
        log.info("upload %s to %s not stored: %s", upload.request, upload.path, why)
        if tell:
            self._send(upload.peer, Failed(upload.request, why.code, str(why)))
        self._audit_transfer("file-put", upload.who, upload.container.name, upload.path,
                             ok=False, size=upload.received, reason=str(why))  # fmt: skip

    # --- downloads -------------------------------------------------------------------

    async def _get(self, peer: bytes, request: GetFile) -> None:
        download = Download(peer, request.request, partial(self._send, peer))
        self.transfers.downloads[request.request] = download
        who = Who(request.person, request.address, request.user or "")
        container_name, path = request.container, request.path
        try:
            container, path, user = await self._get_target(request)
            container_name, who = container.name, Who(who.person, who.address, user)
            if is_root(user):
                await download.run(self._docker, container, path)
            else:
                await download_as(self._docker, container, path, user, download)
        except (DtermError, asyncio.CancelledError) as exc:
            reason = download.given_up or str(exc) or "cancelled"
            self._audit_transfer("file-get", who, container_name, path, ok=False,
                                 size=download.sent, acked=download.acked,
                                 reason=reason)  # fmt: skip
            if not isinstance(exc, DtermError):
                raise
            log.info("download %s refused: %s", request.request, exc)
            self._send(peer, Failed(request.request, exc.code, str(exc)))
            return
        finally:
            self.transfers.downloads.pop(request.request, None)
        self._audit_transfer("file-get", who, container_name, path, ok=True, size=download.sent)

    async def _get_target(self, request: GetFile) -> tuple[ContainerInfo, str, str]:
        """(container, absolute path, user) of a download."""
        if not request.session:
            container = await self._resolve(request.container, request.person)
            return container, check_path(request.path), await self._user(container, request.user)
        session = self._session_of(request.person, request.session)
        container = await self._resolve(session.container, request.person)
        here = await session.working_directory()
        path = check_path(posixpath.join(here, request.path))
        return container, path, await self._user(container, session.run_as)

    async def _fetch(self, peer: bytes, request: FetchRecording) -> None:
        """Stream a recording of this host, or of its folder of the bucket (the front
        end has checked who may)."""
        source = await self._recordings.source(check_name(request.name))
        download = Download(peer, request.request, partial(self._send, peer))
        self.transfers.downloads[request.request] = download
        try:
            await download.send(request.name, source.size, source.read)
        finally:
            source.close()
            self.transfers.downloads.pop(request.request, None)

    # --- the audit -------------------------------------------------------------------

    def _refused(
        self,
        peer: bytes,
        event: str,
        request: str,
        who: Who,
        container: str,
        path: str,
        error: DtermError,
    ) -> None:
        log.info("%s %s refused: %s", event, request, error)
        self._send(peer, Failed(request, error.code, str(error)))
        self._audit_transfer(event, who, container, path, ok=False, size=0, reason=str(error))

    def _audit_transfer(
        self, event: str, who: Who, container: str, path: str, **outcome: Any
    ) -> None:
        self._audit.record(
            event,
            person=who.person,
            address=who.address,
            host=self._host,
            container=container,
            path=path,
            run_as=who.user or None,
            **outcome,
        )
