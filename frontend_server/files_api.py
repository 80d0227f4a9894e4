"""PUT and GET /api/files: uploads into and downloads out of containers.

File transfer is its own permission: the policy's `files` (none, download, upload)
on a rule that allows the in-container user the transfer acts as; a refusal is
answered 403 and audited (`file-get`, `file-put`). That user is the session's for
the session forms; for the container forms, the `user` argument, else the
container's default user; the worker then acts as that user, so the file's own
permissions decide as in a shell.

Uploads are streamed: the body goes to the worker chunk by chunk as it arrives
(the announced Content-Length must be within `max_upload_bytes`), and the worker
acks what it has taken; reading the body pauses while more than UPLOAD_WINDOW is
unacknowledged, so a slow container slows the browser. A worker's refusal midway
is answered at once. A body that sends nothing for `upload_idle_timeout` seconds
is answered 408, audited, and the worker told to give the upload up. Downloads
are streamed back with the worker waiting for our acks, which follow each flush
to the browser; one whose size is not known ahead goes without Content-Length
(chunked), and one cut short closes the connection, so it never looks complete.

    PUT /api/files?host=H&container=C&path=/abs/dir/name[&user=U]  body: the bytes
    PUT /api/files?session=S&name=NAME   into the working directory of S's shell
    GET /api/files?host=H&container=C&path=/abs/file[&user=U]
    GET /api/files?session=S&name=NAME   relative to the working directory of S's shell
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.web import stream_request_body

from frontend_server.api import BaseHandler
from frontend_server.policy import FileRight
from frontend_server.worker_link import WorkerLink
from shared.errors import (
    DtermError,
    ErrorCode,
    NotFound,
    ProtocolError,
    TimedOut,
    TooLarge,
    Unavailable,
    error_from_code,
)
from shared.messages import (
    Failed,
    Message,
)
from shared.session_id import SessionId
from shared.transfer_messages import (
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    GetFile,
    PutFile,
)

WORKER_TIMEOUT = 60.0  # seconds to wait for the worker's next answer in a transfer
UPLOAD_WINDOW = 1 << 20
"""Upload bytes sent to the worker and not yet acked, at most (plus one chunk)."""

HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TIMEOUT: 408,
    ErrorCode.NOT_RUNNING: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.COMMAND_NOT_FOUND: 422,
    ErrorCode.START_FAILED: 422,
    ErrorCode.LIMIT_REACHED: 429,
    ErrorCode.UNAVAILABLE: 503,
}


class Transfer:
    """One transfer's messages from the worker, in order (a SessionListener).

    While an upload's body streams, the worker's acks move `acked`, and a failure
    goes to `on_failure` at once instead of waiting in the queue."""

    def __init__(self, link: WorkerLink) -> None:
        self.id = secrets.token_urlsafe(12)
        self.link = link
        self.messages: asyncio.Queue[Message | DtermError] = asyncio.Queue()
        self.acked = 0
        self.failure: DtermError | None = None
        self.on_failure: Callable[[DtermError], None] | None = None
        self._moved = asyncio.Event()
        link.listeners[self.id] = self

    def on_message(self, message: Message) -> None:
        if isinstance(message, FileAck):
            self.acked = max(self.acked, message.offset)
            self._moved.set()
        elif isinstance(message, Failed) and self.on_failure is not None:
            self.fail(error_from_code(message.code, message.message))
        else:
            self.messages.put_nowait(message)

    def on_host_lost(self, why: str) -> None:
        if self.on_failure is not None:
            self.fail(Unavailable(why))
        else:
            self.messages.put_nowait(Unavailable(why))

    def fail(self, error: DtermError) -> None:
        """The body can go no further: wake its sender and tell its handler."""
        self.failure = error
        self._moved.set()
        hook, self.on_failure = self.on_failure, None
        if hook is not None:
            hook(error)

    async def room(self, sent: int) -> None:
        """Wait until at most UPLOAD_WINDOW of the `sent` bytes are unacknowledged."""
        while sent - self.acked > UPLOAD_WINDOW and self.failure is None:
            self._moved.clear()
            await self._moved.wait()

    async def next(self, *expected: type) -> Any:
        """The next message, which must be one of `expected`; a Failed is raised."""
        try:
            message = await asyncio.wait_for(self.messages.get(), WORKER_TIMEOUT)
        except TimeoutError:
            raise Unavailable(f"the worker did not answer for {WORKER_TIMEOUT:g} s") from None
        if isinstance(message, DtermError):
            raise message
        if isinstance(message, Failed):
            raise error_from_code(message.code, message.message)
        if not isinstance(message, expected):
            raise ProtocolError(f"the worker answered {message.TAG}")
        return message

    def close(self, abort: bool, why: str = "the browser went away") -> None:
        self.link.listeners.pop(self.id, None)
        if abort:
            with contextlib.suppress(Unavailable):
                self.link.send(FileAbort(self.id, why))


async def stream_transfer(handler: BaseHandler, transfer: Transfer) -> None:
    """Pass a download's bytes on, acking each chunk once it is flushed to the browser;
    finish the response at FileEnd. Cut short, the connection is closed instead, so
    the browser sees the download fail."""
    sent, ended = 0, False
    try:
        while not ended:
            message = await transfer.next(FileData, FileEnd)
            if isinstance(message, FileEnd):
                ended = True
                break
            handler.write(message.data)
            await handler.flush()
            sent += len(message.data)
            transfer.link.send(FileAck(transfer.id, sent))
    except (DtermError, StreamClosedError):
        handler.request.connection.close()  # type: ignore[union-attr]
        return
    finally:
        transfer.close(abort=not ended)
    handler.finish()


@dataclass(frozen=True, slots=True)
class Place:
    """Where a transfer goes, as the worker is asked."""

    link: WorkerLink
    container: str
    session: str
    path: str
    user: str | None


@stream_request_body
class FilesHandler(BaseHandler):
    transfer: Transfer | None = None
    sent = 0
    place: Place | None = None
    _last_data = 0.0
    _pacing = False

    async def prepare(self) -> None:
        super().prepare()
        if self._finished or self.request.method != "PUT":
            return
        try:
            await self._start_upload()
        except DtermError as exc:
            if self.transfer is not None:
                self.transfer.close(abort=True, why=str(exc))
                self.transfer = None
            self.fail(exc)

    async def _start_upload(self) -> None:
        limit = self.services.config.max_upload_bytes
        length = self.request.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ProtocolError("send the file with a Content-Length")
        if int(length) > limit:
            raise TooLarge(f"{length} bytes is over the upload limit of {limit}")
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
        self.place = place = await self._where(FileRight.UPLOAD)
        self.transfer = Transfer(place.link)
        assert self.person is not None
        place.link.send(PutFile(
            request=self.transfer.id, person=self.person.name, address=self.client_address,
            container=place.container, session=place.session, path=place.path,
            size=int(length), user=place.user,
        ))  # fmt: skip
        await self.transfer.next(FileOpened)
        self.transfer.on_failure = self._worker_failed
        self._last_data = IOLoop.current().time()
        self._arm_idle(self.services.config.upload_idle_timeout)

    async def data_received(self, chunk: bytes) -> None:
        transfer = self.transfer
        if transfer is None or transfer.failure is not None:
            return
        try:
            transfer.link.send(FileData(transfer.id, self.sent, chunk))
        except Unavailable as exc:
            transfer.fail(exc)
            return
        self.sent += len(chunk)
        self._pacing = True
        await transfer.room(self.sent)
        self._pacing = False
        self._last_data = IOLoop.current().time()

    def _arm_idle(self, delay: float) -> None:
        IOLoop.current().call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        """A body that sends nothing for upload_idle_timeout is given up (time spent
        waiting for the worker's acks is the worker's to judge, not the browser's)."""
        if self.transfer is None or self.transfer.on_failure is None or self._finished:
            return  # answered, or the whole body has come
        limit = self.services.config.upload_idle_timeout
        quiet = IOLoop.current().time() - self._last_data
        if self._pacing or quiet < limit:
            self._arm_idle(limit if self._pacing else limit - quiet)
            return
        error = TimedOut(f"no upload data for {limit:g} s")
        self._audit_failed_upload(error)
        self.transfer.on_failure = None
        self.transfer.close(abort=True, why=str(error))
        self.transfer.fail(error)
        self.transfer = None
        self.fail(error)

    def _worker_failed(self, error: DtermError) -> None:
        """The worker gave the upload up while its body streamed (it has audited it)."""
        if self.transfer is not None:
            self.transfer.close(abort=False)
            self.transfer = None
        if not self._finished:
            self.fail(error)

    def _audit_failed_upload(self, error: DtermError) -> None:
        assert self.person is not None and self.place is not None
        self.audit.record(
            "file-put",
            user=self.person.name,
            address=self.client_address,
            host=self.place.link.host or "",
            container=self.get_query_argument("container", ""),
            session=self.place.session,
            path=self.place.path,
            ok=False,
            size=self.sent,
            reason=str(error),
        )

    async def put(self) -> None:
        transfer = self.transfer
        if transfer is None or self._finished:
            return  # already answered: refused, given up or timed out
        transfer.on_failure = None
        try:
            transfer.link.send(FileEnd(transfer.id, self.sent))
            stored: FileStored = await transfer.next(FileStored)
        except DtermError as exc:
            self.fail(exc)
            return
        finally:
            transfer.close(abort=False)
            self.transfer = None
        host = (
            self.get_query_argument("host", "")
            or SessionId.parse(self.get_query_argument("session")).host
        )
        self.write_json({"host": host, "container": stored.container, "path": stored.path,
                         "size": stored.size})  # fmt: skip

    async def get(self) -> None:
        try:
            place = await self._where(FileRight.DOWNLOAD)
            self.transfer = transfer = Transfer(place.link)
            assert self.person is not None
            place.link.send(GetFile(
                request=transfer.id, person=self.person.name, address=self.client_address,
                container=place.container, session=place.session, path=place.path,
                user=place.user,
            ))  # fmt: skip
            opened: FileOpened = await transfer.next(FileOpened)
        except DtermError as exc:
            if self.transfer is not None:
                self.transfer.close(abort=True, why=str(exc))
                self.transfer = None
            self.fail(exc)
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(opened.name)}")
        if opened.size >= 0:
            self.set_header("Content-Length", str(opened.size))
        await stream_transfer(self, transfer)
        self.transfer = None

    async def _where(self, need: FileRight) -> Place:
        """Where the transfer goes, if the policy lets this person do it there."""
        assert self.person is not None
        guard, address = self.services.guard, self.client_address
        session = self.get_query_argument("session", "")
        if session:
            if self.get_query_argument("user", None) is not None:
                raise ProtocolError("a session's files are its user's: leave out `user`")
            link = self.link_for(SessionId.parse(session).host, need.action)
            mine = {s.session: s for s in await link.list_sessions(self.person.name)}
            name = self.get_query_argument("name")
            if session not in mine:
                guard.deny(self.person, address, need.action, link.host or "", "", path=name,
                           session=session, reason="no such session of theirs")  # fmt: skip
                raise NotFound(f"no session {session}")
            shell = mine[session]
            guard.for_files(self.person, link, shell.container, shell.user, need, address, name)
            return Place(link, "", session, name, None)
        link = self.link_for(self.get_query_argument("host"), need.action)
        path = self.get_query_argument("path")
        user = self.get_query_argument("user", "") or None
        info = guard.for_files(self.person, link, self.get_query_argument("container"), user,
                               need, address, path)  # fmt: skip
        return Place(link, info.id, "", path, user)

    def fail(self, error: DtermError) -> None:
        self.write_json({"error": error.code.value, "message": str(error)},
                        HTTP_STATUS.get(error.code, 500))  # fmt: skip

    def on_connection_close(self) -> None:
        """The browser went away: stop the transfer, and wake whoever waits on it."""
        if self.transfer is not None:
            self.transfer.on_failure = None
            self.transfer.close(abort=True)
            self.transfer.fail(Unavailable("the browser went away"))
            self.transfer.on_host_lost("the browser went away")
            self.transfer = None
