"""PUT and GET /api/files: uploads into and downloads out of containers.

A transfer is allowed where the person may open a shell. Uploads are streamed:
the body is passed to the worker chunk by chunk as it arrives (the announced
Content-Length must be within `max_upload_bytes`); downloads are streamed back
with the worker waiting for our acks, which follow each flush to the browser, so
neither side holds more than a window of the file.

    PUT /api/files?host=H&container=C&path=/abs/dir/name     body: the file's bytes
    PUT /api/files?session=S&name=NAME   into the working directory of S's shell
    GET /api/files?host=H&container=C&path=/abs/file
    GET /api/files?session=S&name=NAME   relative to the working directory of S's shell
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any
from urllib.parse import quote

from tornado.iostream import StreamClosedError
from tornado.web import stream_request_body

from frontend_server.api import BaseHandler
from frontend_server.bridge import session_host
from frontend_server.workers import WorkerLink
from shared.errors import (
    DtermError,
    ErrorCode,
    NotFound,
    ProtocolError,
    TooLarge,
    Unavailable,
    error_from_code,
)
from shared.messages import (
    Failed,
    FileAbort,
    FileAck,
    FileData,
    FileEnd,
    FileOpened,
    FileStored,
    GetFile,
    Message,
    PutFile,
)

WORKER_TIMEOUT = 60.0  # seconds to wait for the worker's next answer in a transfer

HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.LIMIT_REACHED: 429,
    ErrorCode.UNAVAILABLE: 503,
}


class Transfer:
    """One transfer's messages from the worker, in order (a SessionListener)."""

    def __init__(self, link: WorkerLink) -> None:
        self.id = secrets.token_urlsafe(12)
        self.link = link
        self.messages: asyncio.Queue[Message | DtermError] = asyncio.Queue()
        link.listeners[self.id] = self

    def on_message(self, message: Message) -> None:
        self.messages.put_nowait(message)

    def on_host_lost(self, why: str) -> None:
        self.messages.put_nowait(Unavailable(why))

    async def next(self, *expected: type) -> Any:
        """The next message, which must be one of `expected`; a Failed is raised."""
        message = await asyncio.wait_for(self.messages.get(), WORKER_TIMEOUT)
        if isinstance(message, DtermError):
            raise message
        if isinstance(message, Failed):
            raise error_from_code(message.code, message.message)
        if not isinstance(message, expected):
            raise ProtocolError(f"the worker answered {message.TAG}")
        return message

    def close(self, abort: bool) -> None:
        self.link.listeners.pop(self.id, None)
        if abort:
            with contextlib.suppress(Unavailable):
                self.link.send(FileAbort(self.id, "the browser went away"))


async def stream_transfer(handler: BaseHandler, transfer: Transfer, size: int) -> None:
    """Pass a download's bytes on, acking each chunk once it is flushed to the browser;
    finish the response when all `size` bytes are out."""
    sent = 0
    try:
        while sent < size:
            message = await transfer.next(FileData, FileEnd)
            if isinstance(message, FileEnd):
                break
            handler.write(message.data)
            await handler.flush()
            sent += len(message.data)
            transfer.link.send(FileAck(transfer.id, sent))
    except (DtermError, StreamClosedError):
        handler.request.connection.close()  # type: ignore[union-attr]
        return
    finally:
        transfer.close(abort=sent < size)
    handler.finish()


@stream_request_body
class FilesHandler(BaseHandler):
    transfer: Transfer | None = None
    sent = 0

    async def prepare(self) -> None:
        super().prepare()
        if self._finished or self.request.method != "PUT":
            return
        try:
            await self._start_upload()
        except DtermError as exc:
            self.fail(exc)

    async def _start_upload(self) -> None:
        limit = self.services.config.max_upload_bytes
        length = self.request.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ProtocolError("send the file with a Content-Length")
        if int(length) > limit:
            raise TooLarge(f"{length} bytes is over the upload limit of {limit}")
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]
        session = self.get_query_argument("session", "")
        link, container, path = await self._target(session)
        self.transfer = Transfer(link)
        assert self.person is not None
        link.send(PutFile(self.transfer.id, self.person.name, self.client_address, container,
                          session, path, int(length)))  # fmt: skip
        await self.transfer.next(FileOpened)

    async def data_received(self, chunk: bytes) -> None:
        if self.transfer is not None:
            self.transfer.link.send(FileData(self.transfer.id, self.sent, chunk))
            self.sent += len(chunk)

    async def put(self) -> None:
        assert self.transfer is not None
        try:
            self.transfer.link.send(FileEnd(self.transfer.id, self.sent))
            stored: FileStored = await self.transfer.next(FileStored)
        except DtermError as exc:
            self.fail(exc)
            return
        finally:
            self.transfer.close(abort=False)
            self.transfer = None
        host = self.get_query_argument("host", "") or session_host(
            self.get_query_argument("session")
        )
        self.write_json({"host": host, "container": stored.container, "path": stored.path,
                         "size": stored.size})  # fmt: skip

    async def get(self) -> None:
        try:
            session = self.get_query_argument("session", "")
            link, container, path = await self._target(session)
            self.transfer = transfer = Transfer(link)
            assert self.person is not None
            link.send(GetFile(transfer.id, self.person.name, self.client_address,
                              container, session, path))  # fmt: skip
            opened: FileOpened = await transfer.next(FileOpened)
        except DtermError as exc:
            self.fail(exc)
            return
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f"attachment; filename*=UTF-8''{quote(opened.name)}")
        self.set_header("Content-Length", str(opened.size))
        await stream_transfer(self, transfer, opened.size)
        self.transfer = None

    async def _target(self, session: str) -> tuple[WorkerLink, str, str]:
        """(link, container id or "", path or file name), checked against the policy."""
        assert self.person is not None
        guard, address = self.services.guard, self.client_address
        if session:
            link = self.pool.link_for(session_host(session))
            mine = {s.session: s for s in await link.list_sessions(self.person.name)}
            if session not in mine:
                raise NotFound(f"no session {session}")
            guard.for_open(self.person, link, mine[session].container, None, None, address)
            return link, "", self.get_query_argument("name")
        link = self.pool.link_for(self.get_query_argument("host"))
        grant = guard.for_open(self.person, link, self.get_query_argument("container"), None, None,
                              address)  # fmt: skip
        return link, grant.container.id, self.get_query_argument("path")

    def fail(self, error: DtermError) -> None:
        self.write_json({"error": error.code.value, "message": str(error)},
                        HTTP_STATUS.get(error.code, 500))  # fmt: skip

    def on_connection_close(self) -> None:
        """The browser went away: stop the transfer, and wake whoever waits on it."""
        if self.transfer is not None:
            self.transfer.close(abort=True)
            self.transfer.on_host_lost("the browser went away")
            self.transfer = None
